import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadNodeConfig, parseByteSize, parseNodeConfig, raftTiming } from '../../../shared/config/index.js';

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

const SECRET = '0123456789abcdef0123';

function issuesOf(text: string, nodeId?: string, options: { clusterSecret?: string } = {}): string[] {
  try {
    parseNodeConfig(text, { ...(nodeId === undefined ? {} : { nodeId }), ...options });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('config was accepted');
}

t.test('with --id, only the chosen section must be valid', async (t) => {
  const text = `${SEED_THREE_NODES}\nnode4:\n  listen: nowhere\n`;
  t.equal(parseNodeConfig(text, { nodeId: 'node2', clusterSecret: SECRET }).id, 'node2');
  t.same(issuesOf(text, 'node4', { clusterSecret: SECRET }), ['node4.listen: expected host:port']);
});

t.test('a single seed-style node entry is read with defaults for the rest', async (t) => {
  const text = SEED_THREE_NODES.split('# Standby nodes')[0] ?? '';
  const config = parseNodeConfig(text, { clusterSecret: SECRET });
  t.same(config, {
    id: 'node1',
    role: 'primary',
    listen: { host: '0.0.0.0', port: 3141 },
    advertise: 'http://127.0.0.1:3141',
    clusterPeers: [
      { name: 'node2', host: 'node2', port: 3141 },
      { name: 'node3', host: 'node3', port: 3141 },
    ],
    learners: [],
    members: [
      { name: 'node1', url: 'http://127.0.0.1:3141', learner: false },
      { name: 'node2', url: 'http://node2:3141', learner: false },
      { name: 'node3', url: 'http://node3:3141', learner: false },
    ],
    replicationMode: 'synchronous',
    quorumSize: 2,
    dataDir: 'data/node1',
    clusterSecret: SECRET,
    heartbeatMs: 100,
    electionTimeoutMs: 300,
    readLanes: true,
    clusterId: 'geode',
    queryMemoryLimitBytes: 256 * 1024 * 1024,
  });
});

t.test('the seed file with three nodes yields the node asked for', async (t) => {
  t.equal(parseNodeConfig(SEED_THREE_NODES, { nodeId: 'node2', clusterSecret: SECRET }).role, 'standby');
  t.same(parseNodeConfig(SEED_THREE_NODES, { nodeId: 'node3', clusterSecret: SECRET }).clusterPeers, [
    { name: 'node1', host: 'node1', port: 3141 },
    { name: 'node2', host: 'node2', port: 3141 },
  ]);
});

t.test('peers need a cluster secret, from the file or the fallback (GEODE_CLUSTER_SECRET)', async (t) => {
  t.same(issuesOf(SEED_THREE_NODES, 'node1'), ['node1.cluster_secret: required when cluster_peers is set (or set GEODE_CLUSTER_SECRET)']);
  t.equal(parseNodeConfig(`${SEED_THREE_NODES}`.replace('quorum_size: 2', `quorum_size: 2\n  cluster_secret: ${SECRET}`), { nodeId: 'node1' }).clusterSecret, SECRET);
  t.equal(parseNodeConfig('node1:\n  listen: 127.0.0.1:0\n').clusterSecret, undefined, 'a lone node needs none');
});

t.test('named peers and advertise describe a loopback cluster', async (t) => {
  const config = parseNodeConfig(`
node2:
  listen: 0.0.0.0:3152
  advertise: http://10.1.2.3:3152/
  cluster_peers: [node1@127.0.0.1:3151, "node3@[::1]:3153"]
  cluster_secret: ${SECRET}
  async_replicas: [node3]
  snapshot_entries: 500
`);
  t.same(config.members, [
    { name: 'node2', url: 'http://10.1.2.3:3152', learner: false },
    { name: 'node1', url: 'http://127.0.0.1:3151', learner: false },
    { name: 'node3', url: 'http://[::1]:3153', learner: true },
  ]);
  t.same(config.learners, ['node3']);
  t.equal(config.snapshotEntries, 500);
  t.same(issuesOf(`n1:\n  listen: a:1\n  advertise: ftp://x\n  cluster_peers: ["bad name@b:1", n1@c:2, x@d:3, x@e:4]\n  cluster_secret: ${SECRET}\n`), [
    'n1.cluster_peers[0]: expected host:port or name@host:port',
    'n1.cluster_peers[1]: names this node (n1) itself',
    'n1.cluster_peers[3]: member x is listed twice',
    'n1.advertise: expected a URL like http://host:port',
  ]);
});

t.test('async_replicas as names must be members and leave a voter', async (t) => {
  t.same(issuesOf(`a:\n  listen: a:1\n  cluster_peers: [b:1]\n  cluster_secret: ${SECRET}\n  async_replicas: [c]\n`), [
    'a.async_replicas[0]: expected the name of a member (a, b)',
  ]);
  t.same(issuesOf(`a:\n  listen: a:1\n  cluster_peers: [b:1]\n  cluster_secret: ${SECRET}\n  async_replicas: [a, b]\n`), [
    'a.async_replicas: at least one member must be a voter',
  ]);
  t.same(issuesOf(`a:\n  role: primary\n  listen: a:1\n  cluster_peers: [b:1]\n  cluster_secret: ${SECRET}\n  async_replicas: [a]\n`), [
    'a.role: primary, but this node is listed in async_replicas (a learner cannot lead)',
  ]);
  const learner = parseNodeConfig(`a:\n  role: learner\n  listen: a:1\n  cluster_peers: [b:1, c:1]\n  cluster_secret: ${SECRET}\n`);
  t.same(learner.learners, ['a'], 'role: learner makes this node a learner');
});

t.test("the seed's five-node cluster section: counts map to the last members in name order", async (t) => {
  const five = `
cluster:
  nodes: 5
  quorum_size: 3
  replication_factor: 3
  sync_replicas: 2
  async_replicas: 2
  cluster_secret: ${SECRET}
  availability_zones: [us-east-1a, us-east-1b, us-east-1c]
${[1, 2, 3, 4, 5]
  .map((i) => `node${i}:\n  listen: 127.0.0.1:${3150 + i}\n  cluster_peers: [${[1, 2, 3, 4, 5].filter((j) => j !== i).map((j) => `node${j}@127.0.0.1:${3150 + j}`).join(', ')}]\n`)
  .join('')}`;
  for (const id of ['node1', 'node4']) {
    const config = parseNodeConfig(five, { nodeId: id });
    t.same(config.learners, ['node4', 'node5'], `${id} derives the same learners`);
    t.equal(config.quorumSize, 3);
    t.equal(config.syncReplicas, 2);
    t.equal(config.clusterSecret, SECRET);
  }
  t.same(issuesOf(five.replace('nodes: 5', 'nodes: 4'), 'node1'), ['cluster.nodes: 4, but node1 lists 5 members (itself and 4 cluster_peers)']);
  t.same(issuesOf(five.replace('quorum_size: 3', 'quorum_size: 4'), 'node2'), [
    'node2.quorum_size: 4 exceeds the 3 voting members (this node and its peers, less async_replicas)',
  ]);
  t.same(issuesOf(five.replace('replication_factor: 3', 'replication_factr: 3').replace('sync_replicas: 2', 'sync_replicas: -1'), 'node1'), [
    'cluster.replication_factr: unknown key',
    'cluster.sync_replicas: expected an integer >= 0',
  ]);
  t.same(issuesOf(five.replace('async_replicas: 2', 'async_replicas: 5'), 'node1'), ['node1.async_replicas: 5 learners leave no voter among the 5 members']);
});

t.test('raft timing derives from heartbeat_ms and election_timeout_ms', async (t) => {
  t.same(raftTiming({ heartbeatMs: 100, electionTimeoutMs: 300 }), { tickMs: 50, heartbeatTicks: 2, electionTicks: 6 });
  t.same(raftTiming({ heartbeatMs: 50, electionTimeoutMs: 1000 }), { tickMs: 25, heartbeatTicks: 2, electionTicks: 40 });
});

t.test('a file with several nodes and no choice is refused, listing the ids', async (t) => {
  t.match(issuesOf(SEED_THREE_NODES, undefined, { clusterSecret: SECRET }), [/node1, node2, node3/]);
  t.match(issuesOf(SEED_THREE_NODES, 'node9', { clusterSecret: SECRET }), [/node node9 is not defined/]);
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
  async_replicas: 0
  read_lanes: false
  cluster_id: orders-prod.eu_1
  query_memory_limit: 512MiB
`);
  t.same(config, {
    id: 'node1',
    role: 'primary',
    listen: { host: '127.0.0.1', port: 0 },
    advertise: 'http://127.0.0.1:0',
    clusterPeers: [],
    learners: [],
    members: [{ name: 'node1', url: 'http://127.0.0.1:0', learner: false, region: 'us-east-1' }],
    replicationMode: 'semi_synchronous',
    syncReplicas: 0,
    dataDir: '/var/lib/geode/node1',
    region: 'us-east-1',
    clusterSecret: '0123456789abcdef0123',
    adminToken: 'fedcba9876543210fedc',
    heartbeatMs: 50,
    electionTimeoutMs: 250,
    readLanes: false,
    clusterId: 'orders-prod.eu_1',
    queryMemoryLimitBytes: 512 * 1024 * 1024,
  });
});

t.test('the flat form with an id key is accepted', async (t) => {
  const config = parseNodeConfig('id: n-7\nlisten: "[::1]:4000"\ncluster_peers: ["10.0.0.2:3141"]\n', { clusterSecret: SECRET });
  t.equal(config.id, 'n-7');
  t.same(config.listen, { host: '::1', port: 4000 });
  t.equal(config.advertise, 'http://[::1]:4000');
  t.same(config.clusterPeers, [{ name: '10.0.0.2', host: '10.0.0.2', port: 3141 }]);
});

t.test('query_memory_limit takes a size with a binary unit or a byte count, strictly', async (t) => {
  const MiB = 1024 * 1024;
  const valid: [string | number, number][] = [
    [268435456, 256 * MiB],
    ['268435456', 256 * MiB],
    ['256MB', 256 * MiB],
    ['256MiB', 256 * MiB],
    ['256mb', 256 * MiB],
    ['256 M', 256 * MiB],
    ['1GiB', 1024 * MiB],
    ['1.5G', 1536 * MiB],
    ['2048KB', 2 * MiB],
    ['1TiB', 1024 * 1024 * MiB],
    ['4096b', 4096],
  ];
  for (const [text, bytes] of valid) t.equal(parseByteSize(text), bytes, `${JSON.stringify(text)} is ${bytes} bytes`);
  for (const text of ['', 'MB', '-1MB', '1.5', '1.5B', '12 apples', '1GiB of RAM', '1 GiBs', '0x100000', '1e9', '1PB', '99999999999999T']) {
    t.equal(parseByteSize(text), undefined, `${JSON.stringify(text)} is refused`);
  }
  for (const number of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2]) t.equal(parseByteSize(number), undefined, `${number} is refused`);

  const node = (value: string): string => `node1:\n  listen: 127.0.0.1:0\n  query_memory_limit: ${value}\n`;
  t.equal(parseNodeConfig(node('1GiB')).queryMemoryLimitBytes, 1024 * MiB);
  t.equal(parseNodeConfig(node('1MiB')).queryMemoryLimitBytes, MiB, 'the minimum itself is accepted');
  t.same(issuesOf(node('1048575')), ['node1.query_memory_limit: 1048575 is below the minimum of 1MiB']);
  t.same(issuesOf(node('512KB')), ['node1.query_memory_limit: 512KB is below the minimum of 1MiB']);
  t.same(issuesOf(node('lots')), ['node1.query_memory_limit: expected a size such as 256MB, 1GiB or a byte count']);
  t.same(issuesOf(node('[1, GB]')), ['node1.query_memory_limit: expected a size such as 256MB, 1GiB or a byte count']);
});

t.test('cluster_id defaults to geode and takes a short name of a safe charset', async (t) => {
  const node = (value: string): string => `node1:\n  listen: 127.0.0.1:0\n  cluster_id: ${value}\n`;
  t.equal(parseNodeConfig('node1:\n  listen: 127.0.0.1:0\n').clusterId, 'geode');
  t.equal(parseNodeConfig(node('cluster_abc123')).clusterId, 'cluster_abc123', "the seed's example id");
  t.equal(parseNodeConfig(node('a'.repeat(63))).clusterId, 'a'.repeat(63));
  const refused = "node1.cluster_id: expected a cluster id (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 63)";
  for (const value of ['""', 'a'.repeat(64), '-leading-dash', '"has space"', 'slash/name', '"Ünïcode"', '42', 'true']) {
    t.same(issuesOf(node(value)), [refused], `${value} is refused`);
  }
});

t.test("cluster_id and query_memory_limit in the seed's cluster section apply to every node; a node's own value wins", async (t) => {
  const text = (cluster: string, node2 = ''): string =>
    `cluster:\n  nodes: 2\n  cluster_secret: ${SECRET}\n${cluster}` +
    `node1:\n  listen: 127.0.0.1:3151\n  cluster_peers: [node2@127.0.0.1:3152]\n` +
    `node2:\n  listen: 127.0.0.1:3152\n  cluster_peers: [node1@127.0.0.1:3151]\n${node2}`;
  const shared = text('  cluster_id: payments\n  query_memory_limit: 64MB\n  read_lanes: false\n');
  for (const id of ['node1', 'node2']) {
    const config = parseNodeConfig(shared, { nodeId: id });
    t.equal(config.clusterId, 'payments', `${id} takes the cluster's id`);
    t.equal(config.queryMemoryLimitBytes, 64 * 1024 * 1024, `${id} takes the cluster's budget`);
    t.equal(config.readLanes, false, `${id} takes the cluster's read_lanes`);
  }
  const own = parseNodeConfig(text('  query_memory_limit: 64MB\n', '  query_memory_limit: 2GB\n'), { nodeId: 'node2' });
  t.equal(own.queryMemoryLimitBytes, 2 * 1024 * 1024 * 1024, "node2's own value wins");
  t.same(issuesOf(text('  cluster_id: "no spaces"\n  query_memory_limit: 10KB\n  read_lanes: maybe\n'), 'node1'), [
    'cluster.read_lanes: expected true or false',
    "cluster.cluster_id: expected a cluster id (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 63)",
    'cluster.query_memory_limit: 10KB is below the minimum of 1MiB',
  ]);
});

t.test('read_lanes takes only true or false', async (t) => {
  t.same(issuesOf('node1:\n  listen: 0.0.0.0:3141\n  read_lanes: "yes"\n'), ['node1.read_lanes: expected true or false']);
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
  cluster_id: "my cluster"
  query_memory_limit: 12 apples
`);
  t.same(issues, [
    'node1.role: expected one of primary, standby, learner',
    'node1.listen: expected host:port',
    'node1.cluster_peers[0]: expected host:port or name@host:port',
    'node1.cluster_peers[1]: expected host:port or name@host:port',
    'node1.replication_mode: expected one of synchronous, semi_synchronous, asynchronous',
    'node1.quorum_size: expected an integer >= 1',
    'node1.heartbeat_ms: expected a duration such as 100ms, 5s or 1m, or a whole number of milliseconds',
    'node1.cluster_secret: expected a string of at least 16 characters',
    "node1.cluster_id: expected a cluster id (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 63)",
    'node1.query_memory_limit: expected a size such as 256MB, 1GiB or a byte count',
  ]);
});

t.test('settings that contradict each other are refused', async (t) => {
  t.same(issuesOf('node1:\n  listen: a:1\n  cluster_peers: [b:1]\n  quorum_size: 3\n  sync_replicas: 2\n', undefined, { clusterSecret: SECRET }), [
    'node1.quorum_size: 3 exceeds the 2 voting members (this node and its peers, less async_replicas)',
    'node1.sync_replicas: 2 exceeds the 1 voting peers',
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
