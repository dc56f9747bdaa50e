import { parse } from 'yaml';
import t from 'tap';
import {
  ConfigError,
  DEFAULT_FAILOVER_AFTER_MS,
  DEFAULT_REGION_HEALTH_CHECK_MS,
  durationMs,
  formatDurationMs,
  parseDurationMs,
  parseNodeConfig,
  parseRegions,
  regionsToYaml,
} from '../../../shared/config/index.js';
import type { RegionDeployment } from '../../../shared/config/index.js';

/** The seed's "Geographic Distribution" YAML, verbatim (../shared/seed/high-availability.txt). */
const SEED_REGIONS = `
regions:
  us-east-1:
    nodes: 3
    role: primary_cluster
  us-west-2:
    nodes: 3
    role: disaster_recovery
    replication_mode: async
`;

/** The seed's "Multi-Region Deployments" YAML, verbatim (trailing spaces included). */
const SEED_GLOBAL = `
global_deployment:
  regions:
    us-east-1:
      nodes: 3
      role: primary
      write_priority: 1
    eu-west-1:
      nodes: 3
      role: secondary
      write_priority: 2
      replication_lag_max: 100ms
    ap-southeast-1:
      nodes: 2
      role: read_replica
      replication_mode: async
  
  routing:
    strategy: geographic_proximity
    failover_policy: automatic
    health_check_interval: 5s
`;

function parsed(text: string): { deployment: RegionDeployment | undefined; issues: string[] } {
  const issues: string[] = [];
  const deployment = parseRegions(parse(text) as unknown, '', issues);
  return { deployment, issues };
}

t.test("the seed's regions: form parses as written", async (t) => {
  const { deployment, issues } = parsed(SEED_REGIONS);
  t.same(issues, []);
  t.same(deployment, {
    regions: [
      { name: 'us-east-1', role: 'primary', nodes: [], nodeCount: 3, replicationMode: 'async', serveReads: true },
      { name: 'us-west-2', role: 'disaster_recovery', nodes: [], nodeCount: 3, replicationMode: 'async', serveReads: false },
    ],
    routing: { strategy: 'geographic_proximity', failoverPolicy: 'manual', healthCheckIntervalMs: DEFAULT_REGION_HEALTH_CHECK_MS, failoverAfterMs: DEFAULT_FAILOVER_AFTER_MS },
  });
});

t.test("the seed's global_deployment: form parses as written", async (t) => {
  const { deployment, issues } = parsed(SEED_GLOBAL);
  t.same(issues, []);
  t.same(deployment, {
    regions: [
      { name: 'us-east-1', role: 'primary', nodes: [], nodeCount: 3, replicationMode: 'async', serveReads: true, writePriority: 1 },
      { name: 'eu-west-1', role: 'secondary', nodes: [], nodeCount: 3, replicationMode: 'async', serveReads: true, writePriority: 2, replicationLagMaxMs: 100 },
      { name: 'ap-southeast-1', role: 'read_replica', nodes: [], nodeCount: 2, replicationMode: 'async', serveReads: true },
    ],
    // failover_after not given: two health-check intervals, at least the 10 s default.
    routing: { strategy: 'geographic_proximity', failoverPolicy: 'automatic', healthCheckIntervalMs: 5_000, failoverAfterMs: 10_000 },
  });
});

t.test('node URLs, locations, serve_reads and failover_after are read; URLs are normalized', async (t) => {
  const { deployment, issues } = parsed(`
global_deployment:
  regions:
    us-east-1: {nodes: ["http://127.0.0.1:3151/", "http://127.0.0.1:3152"], role: primary, lat: 38.9, lon: -77.4}
    us-west-2: {nodes: ["https://dr.example.com:8443"], role: disaster_recovery, serve_reads: true, replication_lag_max: 2s}
  routing: {strategy: round_robin, failover_policy: manual, health_check_interval: 250, failover_after: 1m}
`);
  t.same(issues, []);
  t.same(deployment?.regions[0], { name: 'us-east-1', role: 'primary', nodes: ['http://127.0.0.1:3151', 'http://127.0.0.1:3152'], nodeCount: 2, replicationMode: 'async', serveReads: true, lat: 38.9, lon: -77.4 });
  t.same(deployment?.regions[1], { name: 'us-west-2', role: 'disaster_recovery', nodes: ['https://dr.example.com:8443'], nodeCount: 1, replicationMode: 'async', serveReads: true, replicationLagMaxMs: 2_000 });
  t.same(deployment?.routing, { strategy: 'round_robin', failoverPolicy: 'manual', healthCheckIntervalMs: 250, failoverAfterMs: 60_000 });
});

t.test('no regions declared is no deployment, and no problem', async (t) => {
  t.same(parsed('listen: 127.0.0.1:3151\n'), { deployment: undefined, issues: [] });
});

t.test('every problem is reported at once, each with its key path', async (t) => {
  const { deployment, issues } = parsed(`
global_deployment:
  regions:
    us_east_1: {nodes: 0, role: primary}
    eu-west-1: {nodes: [http://127.0.0.1:1, "ftp://x:1", "http://127.0.0.1:1/path", http://127.0.0.1:1], role: primary, replication_mode: sync}
    ap-southeast-1: {role: leader, write_priority: -1, replication_lag_max: fast, serve_reads: maybe, lat: 91, colour: blue}
    sa-east-1: {nodes: [http://127.0.0.1:1], replication_lag_max: -5ms, lat: 1}
  routing: {strategy: nearest, failover_policy: sometimes, health_check_interval: 1ms, failover_after: soon, extra: 1}
  weather: sunny
`);
  t.equal(deployment, undefined);
  t.same(issues, [
    'global_deployment.weather: unknown key',
    "global_deployment.regions.us_east_1: not a valid region name (letters, digits and '-', not at either end; at most 63)",
    'global_deployment.regions.us_east_1.nodes: expected a node count (an integer >= 1) or a non-empty list of node URLs (http://host:port)',
    'global_deployment.regions.eu-west-1.nodes[1]: expected a node URL like http://host:port',
    'global_deployment.regions.eu-west-1.nodes[2]: expected a node URL like http://host:port',
    'global_deployment.regions.eu-west-1.nodes[3]: http://127.0.0.1:1 is listed twice',
    "global_deployment.regions.eu-west-1.replication_mode: expected async (regions follow the primary asynchronously; synchronous replication happens inside each region's Raft group)",
    'global_deployment.regions.ap-southeast-1.colour: unknown key',
    'global_deployment.regions.ap-southeast-1.nodes: required, a node count or a list of node URLs (http://host:port)',
    'global_deployment.regions.ap-southeast-1.role: expected one of primary, primary_cluster, secondary, read_replica, disaster_recovery',
    'global_deployment.regions.ap-southeast-1.write_priority: expected an integer >= 0 (lower is preferred)',
    'global_deployment.regions.ap-southeast-1.replication_lag_max: expected a duration such as 100ms, 5s or 1m, or a whole number of milliseconds',
    'global_deployment.regions.ap-southeast-1.serve_reads: expected true or false',
    'global_deployment.regions.ap-southeast-1.lat: expected a number in [-90, 90]',
    'global_deployment.regions.ap-southeast-1: lat and lon go together (give both or neither)',
    'global_deployment.regions.sa-east-1.replication_lag_max: expected a duration such as 100ms, 5s or 1m, or a whole number of milliseconds',
    'global_deployment.regions.sa-east-1: lat and lon go together (give both or neither)',
    'global_deployment.regions.sa-east-1.nodes[0]: http://127.0.0.1:1 is listed twice (also in eu-west-1)',
    'global_deployment.regions: 2 primary regions (us_east_1, eu-west-1); exactly one is required',
    'global_deployment.routing.extra: unknown key',
    'global_deployment.routing.strategy: expected one of geographic_proximity, round_robin, least_connections',
    'global_deployment.routing.failover_policy: expected one of automatic, manual',
    'global_deployment.routing.health_check_interval: 1ms is below the minimum of 10ms',
    'global_deployment.routing.failover_after: expected a duration such as 100ms, 5s or 1m, or a whole number of milliseconds',
  ]);
});

t.test('exactly one primary; one form at a time; failover_after covers a health check', async (t) => {
  t.same(parsed('regions:\n  a: {nodes: 1, role: secondary}\n  b: {nodes: 1}\n').issues, ['regions: no primary region (role: primary or primary_cluster); exactly one is required']);
  t.same(parsed('regions:\n  a: {nodes: 1, role: primary}\nglobal_deployment: {}\n').issues, ['global_deployment: give either regions: or global_deployment:, not both']);
  t.same(parsed('global_deployment:\n  routing: {}\n').issues, ['global_deployment.regions: required, a mapping of region name to {nodes, role, ...}']);
  t.same(parsed('regions: {}\n').issues, ['regions: expected a mapping of region name to {nodes, role, ...}']);
  t.same(parsed('regions:\n  a: 3\n').issues, ['regions.a: expected a mapping {nodes, role, ...}', 'regions: no primary region (role: primary or primary_cluster); exactly one is required']);
  t.same(parsed('global_deployment:\n  regions: {a: {nodes: 1, role: primary}}\n  routing: {health_check_interval: 5s, failover_after: 2s}\n').issues, [
    'global_deployment.routing.failover_after: 2s is shorter than health_check_interval (5000 ms)',
  ]);
  const nested: string[] = [];
  t.equal(parseRegions({ regions: { a: { nodes: 'three', role: 'primary' } } }, 'node1', nested), undefined);
  t.same(nested, ['node1.regions.a.nodes: expected a node count (an integer >= 1) or a non-empty list of node URLs (http://host:port)'], 'the key path starts at `at`');
  const top: string[] = [];
  parseRegions(['a list'], '', top);
  t.same(top, ['(top level): expected a mapping']);
});

t.test('regionsToYaml writes what parseRegions reads back, in the seed form that carries the routing', async (t) => {
  for (const text of [SEED_REGIONS, SEED_GLOBAL]) {
    const { deployment } = parsed(text);
    const written = regionsToYaml(deployment!);
    const issues: string[] = [];
    t.same(parseRegions(written, '', issues), deployment);
    t.same(issues, []);
  }
  t.ok('regions' in regionsToYaml(parsed(SEED_REGIONS).deployment!), 'default routing: the regions: form');
  const global = regionsToYaml(parsed(SEED_GLOBAL).deployment!) as { global_deployment: { routing: unknown; regions: Record<string, unknown> } };
  t.same(global.global_deployment.routing, { strategy: 'geographic_proximity', failover_policy: 'automatic', health_check_interval: '5s', failover_after: '10s' });
  t.same(global.global_deployment.regions['eu-west-1'], { nodes: 3, role: 'secondary', replication_mode: 'async', write_priority: 2, replication_lag_max: '100ms' });
});

t.test('durations: ms strings, plain numbers as milliseconds, nothing else', async (t) => {
  t.equal(durationMs('100ms'), 100);
  t.equal(durationMs('5s'), 5_000);
  t.equal(durationMs('1.5s'), 1_500);
  t.equal(durationMs('2m'), 120_000, 'm is minutes');
  t.equal(durationMs('30d'), 30 * 86_400_000);
  t.equal(durationMs(' 250 '), 250, 'a bare number in a string is ms');
  t.equal(durationMs(40), 40);
  t.equal(durationMs(0), 0);
  for (const bad of ['fast', '', '-5ms', '1.5ms', '1e3', '5 sec ago', -1, 1.5, Number.NaN, Infinity, true, null, [], {}]) {
    t.equal(durationMs(bad), undefined, `${JSON.stringify(bad) ?? String(bad)} is not a duration`);
  }
  const issues: string[] = [];
  t.equal(parseDurationMs(undefined, 'x', issues), undefined);
  t.equal(parseDurationMs('10s', 'x', issues, { min: 1, max: 60_000 }), 10_000);
  t.equal(parseDurationMs('2m', 'x.y', issues, { max: 60_000 }), undefined);
  t.equal(parseDurationMs('0ms', 'z', issues, { min: 1 }), undefined);
  t.same(issues, ['x.y: 2m is above the maximum of 60s', 'z: 0ms is below the minimum of 1ms']);
  t.equal(formatDurationMs(100), '100ms');
  t.equal(formatDurationMs(5_000), '5s');
  t.equal(formatDurationMs(0), '0ms');
});

const SECRET = '0123456789abcdef0123';

function nodeIssues(text: string, nodeId?: string): string[] {
  try {
    parseNodeConfig(text, { clusterSecret: SECRET, ...(nodeId === undefined ? {} : { nodeId }) });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error('config was accepted');
}

const REGIONAL_NODES = `
regions:
  us-east-1:
    nodes: [http://127.0.0.1:3151, http://127.0.0.1:3152]
    role: primary_cluster
  us-west-2:
    nodes: [http://127.0.0.1:3161]
    role: disaster_recovery
    replication_mode: async
node1:
  region: us-east-1
  listen: 127.0.0.1:3151
  cluster_peers: [node2@127.0.0.1:3152]
node2:
  region: us-east-1
  listen: 127.0.0.1:3152
  cluster_peers: [node1@127.0.0.1:3151]
`;

t.test('a node config takes region: and the file-wide regions: (the seed form) as NodeRegions', async (t) => {
  const config = parseNodeConfig(REGIONAL_NODES, { nodeId: 'node2', clusterSecret: SECRET });
  t.equal(config.region, 'us-east-1');
  t.same(config.regions, {
    self: 'us-east-1',
    regions: [
      { name: 'us-east-1', role: 'primary', nodes: ['http://127.0.0.1:3151', 'http://127.0.0.1:3152'], nodeCount: 2, replicationMode: 'async', serveReads: true },
      { name: 'us-west-2', role: 'disaster_recovery', nodes: ['http://127.0.0.1:3161'], nodeCount: 1, replicationMode: 'async', serveReads: false },
    ],
    routing: { strategy: 'geographic_proximity', failoverPolicy: 'manual', healthCheckIntervalMs: DEFAULT_REGION_HEALTH_CHECK_MS, failoverAfterMs: DEFAULT_FAILOVER_AFTER_MS },
  });
  t.same(config.members.map((m) => [m.name, m.region]), [['node2', 'us-east-1'], ['node1', 'us-east-1']], 'the Raft group is the region');
});

t.test("a flat node config with its own global_deployment:, and duration strings on _ms keys", async (t) => {
  const config = parseNodeConfig(`
id: eu1
region: eu-west-1
listen: 127.0.0.1:3154
heartbeat_ms: 50ms
election_timeout_ms: 0.5s
global_deployment:
  regions:
    us-east-1: {nodes: [http://127.0.0.1:3151], role: primary, write_priority: 1}
    eu-west-1: {nodes: [http://127.0.0.1:3154], role: secondary, write_priority: 2, replication_lag_max: 100ms}
  routing: {failover_policy: automatic, health_check_interval: 5s}
`);
  t.equal(config.heartbeatMs, 50);
  t.equal(config.electionTimeoutMs, 500);
  t.equal(config.regions?.self, 'eu-west-1');
  t.equal(config.regions?.regions[1]?.replicationLagMaxMs, 100);
  t.same(config.regions?.routing, { strategy: 'geographic_proximity', failoverPolicy: 'automatic', healthCheckIntervalMs: 5_000, failoverAfterMs: 10_000 });
});

t.test('without regions a node reads exactly as before: region is a free label', async (t) => {
  const config = parseNodeConfig('id: n1\nlisten: 127.0.0.1:3151\nregion: somewhere_else\n');
  t.equal(config.region, 'somewhere_else');
  t.equal(config.regions, undefined);
  t.notOk('regions' in config);
  t.same(config.members, [{ name: 'n1', url: 'http://127.0.0.1:3151', learner: false, region: 'somewhere_else' }]);
});

t.test('a node with regions: its region must be one of them, and every region must give URLs', async (t) => {
  t.same(nodeIssues(REGIONAL_NODES.replace('region: us-east-1\n  listen: 127.0.0.1:3152', 'region: mars\n  listen: 127.0.0.1:3152'), 'node2'), [
    'node2.region: mars is not one of the regions (us-east-1, us-west-2)',
  ]);
  t.same(nodeIssues(REGIONAL_NODES.replace('  region: us-east-1\n  listen: 127.0.0.1:3151\n', '  listen: 127.0.0.1:3151\n'), 'node1'), [
    "node1.region: required with regions: the name of this node's region (us-east-1, us-west-2)",
  ]);
  t.same(nodeIssues(`id: n1\nlisten: a:1\nregion: a\n${SEED_REGIONS.replace('us-east-1', 'a')}`), [
    "regions.a.nodes: a node needs the URLs of every region's nodes (a list of http://host:port), not a count",
    "regions.us-west-2.nodes: a node needs the URLs of every region's nodes (a list of http://host:port), not a count",
  ]);
  t.same(nodeIssues(`node1:\n  listen: a:1\n  region: us-east-1\n  heartbeat_ms: weekly\n${SEED_GLOBAL.replace(/^/gm, '  ')}`), [
    'node1.heartbeat_ms: expected a duration such as 100ms, 5s or 1m, or a whole number of milliseconds',
    "node1.global_deployment.regions.us-east-1.nodes: a node needs the URLs of every region's nodes (a list of http://host:port), not a count",
    "node1.global_deployment.regions.eu-west-1.nodes: a node needs the URLs of every region's nodes (a list of http://host:port), not a count",
    "node1.global_deployment.regions.ap-southeast-1.nodes: a node needs the URLs of every region's nodes (a list of http://host:port), not a count",
  ]);
  // A bad file-wide declaration is reported once, not once per node.
  t.same(nodeIssues(REGIONAL_NODES.replace('role: primary_cluster', 'role: boss')), [
    'regions.us-east-1.role: expected one of primary, primary_cluster, secondary, read_replica, disaster_recovery',
    'regions: no primary region (role: primary or primary_cluster); exactly one is required',
  ]);
});

t.test('durations in the cluster: section too', async (t) => {
  const config = parseNodeConfig('cluster:\n  heartbeat_ms: 20ms\n  election_timeout_ms: 1s\nnode1:\n  listen: a:1\n');
  t.equal(config.heartbeatMs, 20);
  t.equal(config.electionTimeoutMs, 1_000);
  t.same(nodeIssues('cluster:\n  heartbeat_ms: 1ms\nnode1:\n  listen: a:1\n'), ['cluster.heartbeat_ms: 1ms is below the minimum of 2ms']);
});
