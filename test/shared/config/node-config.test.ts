import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadNodeConfig, parseNodeConfig } from '../../../shared/config/index.js';

/** The seed's three-node layout, verbatim. */
const SEED_THREE_NODES = `
# Primary node
node1:
  role: primary
  listen: 0.0.0.0:3141
  cluster_peers:
    - node2:3141
    - node3:3141
  replication_mode: synchronous
  quorum_size: 2

# Standby nodes
node2:
  role: standby
  listen: 0.0.0.0:3141
  cluster_peers:
    - node1:3141
    - node3:3141
  replication_mode: synchronous

node3:
  role: standby
  listen: 0.0.0.0:3141
  cluster_peers:
    - node1:3141
    - node2:3141
  replication_mode: synchronous
`;

function issuesOf(text: string, nodeId?: string): string[] {
  try {
    parseNodeConfig(text, nodeId === undefined ? {} : { nodeId });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('config was accepted');
}

t.test('a single seed-style node entry is read with defaults for the rest', async (t) => {
  const text = SEED_THREE_NODES.split('# Standby nodes')[0] ?? '';
  const config = parseNodeConfig(text);
  t.same(config, {
    id: 'node1',
    role: 'primary',
    listen: { host: '0.0.0.0', port: 3141 },
    clusterPeers: [
      { host: 'node2', port: 3141 },
      { host: 'node3', port: 3141 },
    ],
    replicationMode: 'synchronous',
    quorumSize: 2,
    dataDir: 'data/node1',
    heartbeatMs: 100,
    electionTimeoutMs: 300,
  });
});

t.test('the seed file with three nodes yields the node asked for', async (t) => {
  t.equal(parseNodeConfig(SEED_THREE_NODES, { nodeId: 'node2' }).role, 'standby');
  t.same(parseNodeConfig(SEED_THREE_NODES, { nodeId: 'node3' }).clusterPeers, [
    { host: 'node1', port: 3141 },
    { host: 'node2', port: 3141 },
  ]);
});

t.test('a file with several nodes and no choice is refused, listing the ids', async (t) => {
  t.match(issuesOf(SEED_THREE_NODES), [/node1, node2, node3/]);
  t.match(issuesOf(SEED_THREE_NODES, 'node9'), [/node node9 is not defined/]);
});

t.test('our own keys are accepted and typed', async (t) => {
  const config = parseNodeConfig(`
node1:
  role: primary
  listen: 127.0.0.1:0
  data_dir: /var/lib/geode/node1
  region: us-east-1
  cluster_secret: 0123456789abcdef0123
  admin_token: fedcba9876543210fedc
  heartbeat_ms: 50
  election_timeout_ms: 250
  replication_mode: semi_synchronous
  sync_replicas: 0
  async_replicas: 2
`);
  t.same(config, {
    id: 'node1',
    role: 'primary',
    listen: { host: '127.0.0.1', port: 0 },
    clusterPeers: [],
    replicationMode: 'semi_synchronous',
    syncReplicas: 0,
    asyncReplicas: 2,
    dataDir: '/var/lib/geode/node1',
    region: 'us-east-1',
    clusterSecret: '0123456789abcdef0123',
    adminToken: 'fedcba9876543210fedc',
    heartbeatMs: 50,
    electionTimeoutMs: 250,
  });
});

t.test('the flat form with an id key is accepted', async (t) => {
  const config = parseNodeConfig('id: n-7\nlisten: "[::1]:4000"\ncluster_peers: ["10.0.0.2:3141"]\n');
  t.equal(config.id, 'n-7');
  t.same(config.listen, { host: '::1', port: 4000 });
  t.same(config.clusterPeers, [{ host: '10.0.0.2', port: 3141 }]);
});

t.test('an unknown key is refused, naming its path', async (t) => {
  t.same(issuesOf('node1:\n  listen: 0.0.0.0:3141\n  replcation_mode: synchronous\n'), ['node1.replcation_mode: unknown key']);
  t.same(issuesOf('id: node1\nlisten: 0.0.0.0:3141\nquorum: 2\n'), ['quorum: unknown key']);
});

t.test('bad values are refused, each naming its key', async (t) => {
  const issues = issuesOf(`
node1:
  role: leader
  listen: 3141
  cluster_peers: [node2, "node3:99999"]
  replication_mode: sync
  quorum_size: 0
  heartbeat_ms: fast
  cluster_secret: short
`);
  t.same(issues, [
    'node1.role: expected one of primary, standby, learner',
    'node1.listen: expected host:port',
    'node1.cluster_peers[0]: expected host:port',
    'node1.cluster_peers[1]: expected host:port',
    'node1.replication_mode: expected one of synchronous, semi_synchronous, asynchronous',
    'node1.quorum_size: expected an integer >= 1',
    'node1.heartbeat_ms: expected an integer >= 1',
    'node1.cluster_secret: expected a string of at least 16 characters',
  ]);
});

t.test('settings that contradict each other are refused', async (t) => {
  t.same(issuesOf('node1:\n  listen: a:1\n  cluster_peers: [b:1]\n  quorum_size: 3\n  sync_replicas: 2\n'), [
    'node1.quorum_size: 3 exceeds the cluster size 2 (this node and its peers)',
    'node1.sync_replicas: 2 exceeds the number of peers 1',
  ]);
  t.same(issuesOf('id: n\nlisten: a:1\nheartbeat_ms: 200\nelection_timeout_ms: 300\n'), [
    'election_timeout_ms: must be at least twice heartbeat_ms (200)',
  ]);
});

t.test('a missing listen address, a bad node id and malformed YAML are refused', async (t) => {
  t.same(issuesOf('node1:\n  role: primary\n'), ['node1.listen: required (host:port)']);
  t.match(issuesOf('"bad id!":\n  listen: a:1\n'), [/^bad id!: not a valid node id/]);
  t.match(issuesOf('node1:\n  listen: a:1\n  listen: b:2\n'), [/^YAML: .*unique/i]);
  t.match(issuesOf('- just\n- a list\n'), [/^top level: expected a mapping/]);
  t.match(issuesOf(''), [/top level|no node/]);
});

t.test('loadNodeConfig resolves a relative data_dir against the file and names the file in errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geode-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'node.yaml');
  writeFileSync(good, 'node1:\n  listen: 127.0.0.1:0\n  data_dir: state\n');
  t.equal(loadNodeConfig(good).dataDir, join(dir, 'state'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'node1:\n  listen: nowhere\n');
  t.throws(() => loadNodeConfig(bad), { name: 'ConfigError', message: /bad\.yaml[\s\S]*node1\.listen: expected host:port/ });
  t.throws(() => loadNodeConfig(join(dir, 'missing.yaml')), { name: 'ConfigError', message: /cannot read file/ });
});
