/**
 * Every example's main() against a real 3-node cluster and a real gateway.
 */
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../../cli/launcher.js';
import { launchTempCluster } from '../helpers/cluster.js';
import { parseGatewayConfig, startGateway } from '../../gateway/index.js';
import { main as bulkhead } from '../../examples/bulkhead.js';
import { main as circuitBreaker } from '../../examples/circuit-breaker.js';
import { main as connectionPool } from '../../examples/connection-pool.js';
import { main as failover } from '../../examples/failover.js';
import { HealthStatus, main as healthCheck } from '../../examples/health-check.js';
import { main as readReplicaScaling } from '../../examples/read-replica-scaling.js';
import { main as readWriteSplitting } from '../../examples/read-write-splitting.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('examples against a real cluster and gateway', { timeout: 600_000 }, async (t) => {
  const cluster = await launchTempCluster(t, 'geode-examples-', { nodes: 3 });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const followers = cluster.nodes.filter((n) => n !== leader);
  const gw = await startGateway(
    parseGatewayConfig(
      { listen: '127.0.0.1:0', session_secret: 'examples-test-session-secret', region: 'local', health_interval_ms: 250, regions: { local: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } } },
      'test',
      {},
    ),
  );
  t.teardown(() => gw.close());
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && gw.app.gateway.topology.availableLeader() === undefined) await sleep(50);
  const dead = `http://127.0.0.1:${await freePort('127.0.0.1')}`;

  await t.test('failover: the gateway answers', async (t) => {
    const rows = await failover([gw.url]);
    t.type(rows[0]?.['nodes'], 'number');
  });

  await t.test('failover: a dead first host is skipped', async (t) => {
    const rows = await failover([dead, ...cluster.nodes.map((n) => n.url)]);
    t.type(rows[0]?.['nodes'], 'number');
  });

  await t.test('read-write splitting through the gateway sees its write', async (t) => {
    const { total } = await readWriteSplitting(gw.url);
    t.ok(total >= 1, `total ${total}`);
  });

  await t.test('read-write splitting straight to a follower (write redirected to the leader) and a replica', async (t) => {
    const before = (await readWriteSplitting(gw.url)).total;
    const { total } = await readWriteSplitting(followers[0]!.url, followers[1]!.url);
    t.ok(total > before, `the replica saw the new write (${before} -> ${total})`);
  });

  await t.test('read replica scaling with client-side selection over the followers', async (t) => {
    const report = await readReplicaScaling(leader.url, followers.map((f) => f.url));
    t.ok(report.users >= 1, `users ${report.users}`);
    t.equal(report.servedBy.length, 6);
    t.ok(report.servedBy.every((n) => cluster.nodes.some((c) => c.name === n)), report.servedBy.join(','));
  });

  await t.test('read replica scaling through the gateway with SET SESSION', async (t) => {
    const report = await readReplicaScaling(gw.url);
    t.ok(report.users >= 1);
    t.ok(report.servedBy.every((n) => cluster.nodes.some((c) => c.name === n)), report.servedBy.join(','));
  });

  await t.test('circuit breaker: closed on the cluster, opens on an unreachable one', async (t) => {
    const report = await circuitBreaker(gw.url, dead);
    t.equal(report.healthyClosed, true);
    t.equal(report.unreachableOpened, true);
    t.ok(report.rejectedWhileOpen >= 1, `rejected ${report.rejectedWhileOpen}`);
    t.equal(report.fallbacks, 8);
  });

  await t.test('bulkhead: reads and writes within their own limits', async (t) => {
    const report = await bulkhead(gw.url, 8);
    t.ok(report.readRows >= 1 && report.readRows <= 10, `rows ${report.readRows}`);
    t.ok(report.peakReads >= 1 && report.peakReads <= 4, `peak reads ${report.peakReads}`);
    t.ok(report.peakWrites >= 1 && report.peakWrites <= 4, `peak writes ${report.peakWrites}`);
    t.equal(report.writesDone, 24);
  });

  await t.test('health check through the gateway', async (t) => {
    const health = await healthCheck(gw.url);
    t.equal(health.checks['database']?.status, 'pass', JSON.stringify(health.checks['database']));
    t.equal(health.checks['nodes']?.['total'], 3, JSON.stringify(health.checks['nodes']));
    // Nodes fill system.cluster_nodes from their own view of the cluster.
    t.equal(health.checks['nodes']?.['source'], 'system.cluster_nodes');
    t.type(health.checks['replication']?.['lag_ms'], 'number');
    t.not(health.status, HealthStatus.UNHEALTHY, JSON.stringify(health.checks));
  });

  await t.test('health check straight to a node', async (t) => {
    const health = await healthCheck(leader.url);
    t.equal(health.checks['nodes']?.['total'], 3, JSON.stringify(health.checks['nodes']));
    t.not(health.status, HealthStatus.UNHEALTHY, JSON.stringify(health.checks));
  });

  await t.test('connection pool over the three nodes', async (t) => {
    const { users, servedBy } = await connectionPool(cluster.nodes.map((n) => n.url));
    t.ok(users.length >= 1, `users ${users.length}`);
    t.ok(cluster.nodes.some((n) => n.name === servedBy));
  });

  await t.test('connection pool over the gateway', async (t) => {
    const { users } = await connectionPool(gw.url);
    t.ok(users.length >= 1);
  });
});
