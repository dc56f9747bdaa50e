/**
 * Real processes: what the gateway says about the cluster, over a 3-node
 * loopback cluster whose nodes are configured with a `cluster_id`:
 * - `system.*` views are read on the leader, the only node that knows every
 *   member's lag and health;
 * - `GET /api/v1/cluster/status` has the seed's shape, with the nodes'
 *   cluster_id, plus what the gateway observes of each node;
 * - every error answer to a write carries its request_id: the node's errors
 *   and the gateway's own (bulkhead full, no leader within write_hold_ms),
 *   minted by the gateway when the client sent none.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  body: { rows?: Record<string, unknown>[]; meta?: { node?: string; view?: string }; error?: { code: string; message: string; detail?: string; request_id?: string } };
}

async function query(gw: RunningGateway, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${gw.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const CLUSTER_ID = `views-${process.pid}`;
/** The shape of the request ids the gateway mints (UUID version 7). */
const MINTED = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('cluster views, status and request ids through the gateway', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-gw-views-', { nodes: 3 });
  // The launcher writes no cluster_id: add one to every node's config and restart them all with it.
  await Promise.all(cluster.nodes.map((n) => n.kill('SIGTERM')));
  for (const node of cluster.nodes) {
    const config = parse(readFileSync(node.configPath, 'utf8')) as Record<string, Record<string, unknown>>;
    (config[node.name] as Record<string, unknown>)['cluster_id'] = CLUSTER_ID;
    writeFileSync(node.configPath, stringify(config));
  }
  await Promise.all(cluster.nodes.map((n) => n.start()));
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const gateway = async (extra: Record<string, unknown> = {}): Promise<RunningGateway> => {
    const gw = await startGateway(
      parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'cluster-views-secret', region: 'one', health_interval_ms: 250, regions: { one: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } }, ...extra }, 'test', {}),
    );
    t.teardown(() => gw.close());
    const core = gw.app.gateway;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (core.topology.availableLeader() === undefined || core.service.candidates().filter((c) => !c.leader && c.healthy).length < 2)) await sleep(50);
    return gw;
  };
  const gw = await gateway();
  // The nodes were just restarted: wait until the leader itself has heard every member (its view is
  // what the system views show), not only until the gateway sees them healthy.
  const heardAll = Date.now() + 30_000;
  while (Date.now() < heardAll) {
    const status = (await (await fetch(`${leader.url}/api/v1/cluster/status`)).json()) as { nodes: Array<{ status: string; replication_lag: number }> };
    if (status.nodes.every((n) => n.status === 'healthy' && n.replication_lag >= 0)) break;
    await sleep(100);
  }

  await t.test('system views are read on the leader, with every member’s lag', async (t) => {
    const servedBy = new Set<string>();
    const views = new Set<string>();
    const unknown: string[] = [];
    for (let i = 0; i < 12; i++) {
      const answer = await query(gw, { query: i % 2 === 0 ? 'SELECT * FROM system.replication_status' : 'SELECT * FROM system.cluster_nodes' });
      t.equal(answer.status, 200, JSON.stringify(answer.body.error));
      servedBy.add(answer.body.meta?.node ?? '?');
      views.add(answer.body.meta?.view ?? '?');
      for (const row of answer.body.rows ?? []) {
        if (row['status'] === 'unknown' || (i % 2 === 0 && row['replication_lag_ms'] === null)) unknown.push(`${String(row['node_id'])}: ${JSON.stringify(row)}`);
      }
    }
    t.same([...servedBy], [leader.name], 'every answer came from the leader');
    t.same([...views], ['complete'], 'and says its view is complete');
    t.same(unknown, [], 'no member is unknown or without a lag');
  });

  await t.test("GET /api/v1/cluster/status: the seed's shape with the nodes' cluster_id, and what the gateway sees", async (t) => {
    let status: Record<string, unknown> = {};
    const deadline = Date.now() + 30_000;
    do {
      status = (await (await fetch(`${gw.url}/api/v1/cluster/status`)).json()) as Record<string, unknown>;
      if (status['quorum_status'] === 'healthy') break;
      await sleep(100);
    } while (Date.now() < deadline);
    t.equal(status['cluster_id'], CLUSTER_ID, 'cluster_id is the one the nodes are configured with');
    t.equal(status['quorum_status'], 'healthy');
    t.equal(status['leader'], leader.name);
    t.ok(typeof status['term'] === 'number' && status['term'] > 0, 'term');
    const nodes = status['nodes'] as Record<string, unknown>[];
    t.same(nodes.map((n) => n['id']).sort(), cluster.nodes.map((n) => n.name).sort(), 'one entry per node');
    for (const node of nodes) {
      const name = String(node['id']);
      t.equal(node['role'], name === leader.name ? 'primary' : 'standby', `${name}: role`);
      t.equal(node['status'], 'healthy', `${name}: status`);
      t.type(node['replication_lag'], 'number', `${name}: replication_lag`);
      t.equal(node['url'], cluster.nodes.find((n) => n.name === name)?.url, `${name}: url`);
      t.equal(node['region'], 'one', `${name}: region`);
      t.type(node['applied_index'], 'number', `${name}: applied_index`);
      t.equal(node['breaker'], 'closed', `${name}: breaker`);
      t.equal(node['in_rotation'], true, `${name}: in rotation`);
      t.equal(node['out_of_rotation'], null, `${name}: no reason to be out`);
    }
  });

  await t.test('every error answer to a write carries its request_id', async (t) => {
    const failing = 'CREATE (n:Rid {v: range(1, 10, 0)})';
    const minted = await query(gw, { query: failing });
    t.equal(minted.body.error?.code, 'ARGUMENT_ERROR', minted.body.error?.message ?? '');
    t.match(minted.body.error?.request_id, MINTED, "the node's error carries the id the gateway minted");
    const given = await query(gw, { query: failing, request_id: 'client-chosen-id-1' });
    t.equal(given.body.error?.request_id, 'client-chosen-id-1', "and the client's own id when it sent one");

    // The gateway's own errors: every node stopped, so no leader can take a write.
    const held = await gateway({ write_hold_ms: 3000, write_concurrency: 1 });
    t.teardown(() => {
      for (const node of cluster.nodes) node.resume();
    });
    for (const node of cluster.nodes) await node.pause();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && held.app.gateway.topology.availableLeader() !== undefined) await sleep(50);
    t.equal(held.app.gateway.topology.availableLeader(), undefined, 'health checks took the leader out');
    const waiting = query(held, { query: 'CREATE (:Rid {v: 1})' });
    await sleep(300);
    const overloaded = await query(held, { query: 'CREATE (:Rid {v: 2})' });
    t.equal(overloaded.status, 503);
    t.equal(overloaded.body.error?.code, 'OVERLOADED', overloaded.body.error?.message ?? '');
    t.match(overloaded.body.error?.request_id, MINTED, 'the write bulkhead’s refusal carries a minted id');
    const noLeader = await waiting;
    t.equal(noLeader.status, 503);
    t.equal(noLeader.body.error?.code, 'NO_QUORUM', noLeader.body.error?.message ?? '');
    t.match(noLeader.body.error?.request_id, MINTED, 'no leader within write_hold_ms: the answer carries the id');
    const ownId = await query(held, { query: 'CREATE (:Rid {v: 3})', request_id: 'client-chosen-id-2' });
    t.equal(ownId.body.error?.request_id, 'client-chosen-id-2', `the gateway's own error keeps the client's id: ${JSON.stringify(ownId.body)}`);
    for (const node of cluster.nodes) node.resume();
  });
});
