// Views and gauges read from every node of a real cluster: the leader's answer
// is complete (every member's health, lag and applied index), a follower's is
// labelled partial and guesses nothing; health and quorum gauges come only
// from the leader, a follower exports only its own lag; a failover is counted
// once, by the node that took over; cluster_id is the configured one.
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import type { LaunchedNode } from '../../cli/launcher.js';
import { getJson, postJson, until } from '../helpers/http.js';

interface StatusNode {
  id: string;
  status: string;
  replication_lag: number;
  applied_index: number | null;
}
interface Status {
  cluster_id: string;
  view: string;
  leader: string | null;
  quorum_status: string;
  nodes: StatusNode[];
}

/** Every series line of one metric, as `{labels: value}`. */
function series(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(name.length, at)] = Number(line.slice(at + 1));
  }
  return out;
}

const metrics = async (node: LaunchedNode): Promise<string> => {
  const { request } = await import('undici');
  const res = await request(`${node.url}/metrics`);
  return res.body.text();
};

t.test('views, status and gauges are right wherever they are read', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-views-', { nodes: 3, clusterId: 'views-test' });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  for (let i = 0; i < 5; i++) t.equal((await postJson(`${leader.url}/v1/query`, { query: 'CREATE (:V {i: $i})', params: { i } })).status, 200);
  // Every member has reported its applied index to the leader and applied everything.
  await until('the leader to know every member caught up', async () => {
    const s = (await getJson(`${leader.url}/api/v1/cluster/status`)).body as unknown as Status;
    return s.nodes.every((n) => n.status === 'healthy' && n.replication_lag === 0 && n.applied_index !== null) ? s : undefined;
  });

  for (const node of cluster.nodes) {
    const isLeader = node === leader;
    const status = (await getJson(`${node.url}/api/v1/cluster/status`)).body as unknown as Status;
    t.equal(status.cluster_id, 'views-test', `${node.name}: the configured cluster_id`);
    t.equal(status.view, isLeader ? 'complete' : 'partial', `${node.name}: view ${status.view}`);
    const view = await postJson(`${node.url}/v1/query`, { query: 'SELECT node_id, replication_lag_ms, status FROM system.replication_status' });
    t.equal(view.status, 200);
    const rows = view.body['rows'] as { node_id: string; replication_lag_ms: number | null; status: string }[];
    const meta = view.body['meta'] as { view?: string };
    t.equal(meta.view, isLeader ? 'complete' : 'partial', `${node.name}: the view's answer says whose knowledge it is`);
    t.equal(rows.length, 3);
    if (isLeader) {
      t.ok(rows.every((r) => r.replication_lag_ms !== null && r.status === 'healthy'), 'the leader knows every member');
    } else {
      const peer = rows.find((r) => r.node_id !== node.name && r.node_id !== leader.name);
      t.match(peer, { replication_lag_ms: null, status: 'unknown' }, `${node.name} does not guess a peer it cannot see`);
      t.match(rows.find((r) => r.node_id === node.name), { status: 'healthy', replication_lag_ms: Number }, 'it knows itself');
    }
    const text = await metrics(node);
    const health = series(text, 'geode_node_health');
    const quorum = series(text, 'geode_quorum_healthy');
    const lag = series(text, 'geode_replication_lag_seconds');
    if (isLeader) {
      t.equal(Object.keys(health).length, 3, 'the leader exports every member’s health');
      t.ok(Object.values(health).every((v) => v === 1));
      t.same(Object.values(quorum), [1], 'and the quorum');
      t.equal(Object.keys(lag).length, 3, 'and every member’s lag');
    } else {
      t.same(health, {}, `${node.name} exports no health gauge`);
      t.same(quorum, {}, `${node.name} exports no quorum gauge`);
      t.same(Object.keys(lag), [`{node="${node.name}"}`], `${node.name} exports its own lag only`);
    }
  }

  // A failover is counted once, by the node that takes over.
  const failoversBefore = await Promise.all(cluster.nodes.map(async (n) => Object.values(series(await metrics(n), 'geode_failover_total'))[0] ?? 0));
  t.same(failoversBefore, [0, 0, 0], 'no failover yet (the first election is not one)');
  await leader.kill('SIGKILL');
  const next = await cluster.waitForLeader({ timeoutMs: 30_000, exclude: [leader.name] });
  const survivors = cluster.nodes.filter((n) => n !== leader);
  const counts = await until('the new leader to count the failover', async () => {
    const c = await Promise.all(survivors.map(async (n) => Object.values(series(await metrics(n), 'geode_failover_total'))[0] ?? 0));
    return c.reduce((a, b) => a + b, 0) >= 1 ? c : undefined;
  });
  t.equal(counts.reduce((a, b) => a + b, 0), 1, `counted once over all nodes (${JSON.stringify(counts)})`);
  t.equal(Object.values(series(await metrics(next), 'geode_failover_total'))[0], 1, 'by the new leader');
  // Within two election timeouts of its last message the dead member is still presumed up; then it is not.
  const after = await until('the new leader to see the dead member unreachable', async () => {
    const s = (await getJson(`${next.url}/api/v1/cluster/status`)).body as unknown as Status;
    return s.nodes.find((n) => n.id === leader.name)?.status === 'unreachable' ? s : undefined;
  }, 10_000);
  t.equal(after.quorum_status, 'degraded', 'the new leader sees two of three voters');
  t.match(after.nodes.find((n) => n.id === leader.name), { status: 'unreachable', replication_lag: -1 }, 'a dead member has no made-up lag');
});
