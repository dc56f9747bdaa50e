// Kill -9 the leader in the middle of a stream of writes: every acknowledged
// write must be present afterwards on every node, and the checksums agree.
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import type { LaunchedCluster, LaunchedNode } from '../../cli/launcher.js';
import { getJson, postJson, sleep, until } from '../helpers/http.js';

interface Status {
  leader: string | null;
  leader_url: string | null;
  term: number;
  commit_index: number;
  applied_index: number;
}

async function leaderUrl(cluster: LaunchedCluster): Promise<string | undefined> {
  for (const node of cluster.nodes) {
    if (!node.running) continue;
    try {
      const status = (await getJson(`${node.url}/api/v1/cluster/status`, {}, 1000)).body as unknown as Status;
      if (status.leader_url !== null && cluster.nodes.some((n) => n.running && n.url === status.leader_url)) return status.leader_url;
    } catch {
      // try the next node
    }
  }
  return undefined;
}

/** Writes one key, retrying with the same request id across leader changes, until acknowledged or `deadline`. */
async function writeKey(cluster: LaunchedCluster, key: number, deadline: number): Promise<boolean> {
  const requestId = `w-${key}`;
  while (Date.now() < deadline) {
    const url = await leaderUrl(cluster);
    if (url === undefined) {
      await sleep(20);
      continue;
    }
    try {
      const res = await postJson(`${url}/v1/query`, { query: 'CREATE (:Acked {k: $k})', params: { k: key }, request_id: requestId, timeout_ms: 3000 }, {}, 5000);
      if (res.status === 200) return true;
    } catch {
      // connection refused or reset: the leader died; find the next one
    }
    await sleep(20);
  }
  return false;
}

t.test('SIGKILL of the leader during a write stream loses no acknowledged write', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-kill-', { nodes: 3 });
  const first: LaunchedNode = await cluster.waitForLeader({ timeoutMs: 30_000 });
  const acked: number[] = [];
  let next = 0;
  let stop = false;
  const writers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const key = next++;
      if (await writeKey(cluster, key, Date.now() + 15_000)) acked.push(key);
    }
  });
  await until('some writes before the kill', () => (acked.length >= 50 ? true : undefined), 30_000);
  await first.kill('SIGKILL');
  const second = await cluster.waitForLeader({ timeoutMs: 30_000, exclude: [first.name] });
  t.not(second.name, first.name, 'a new leader was elected');
  // Nodes log changes of leadership; losing the leader is a warning that names it.
  const lost = (n: LaunchedNode): boolean => n.output().includes(`"previous_leader":"${first.name}","msg":"raft: lost the leader"`);
  t.ok(cluster.nodes.some((n) => n !== first && lost(n)), `a survivor logged that it lost ${first.name}`);
  const ackedAtKill = acked.length;
  await until('writes after the failover', () => (acked.length >= ackedAtKill + 50 ? true : undefined), 30_000);
  stop = true;
  await Promise.all(writers);

  await first.start();
  const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
  const commit = ((await getJson(`${leader.url}/api/v1/cluster/status`)).body as unknown as Status).commit_index;
  for (const node of cluster.nodes) {
    const res = await postJson(`${node.url}/v1/query`, {
      query: 'MATCH (a:Acked) RETURN a.k AS k',
      after_index: commit,
      timeout_ms: 30_000,
    }, {}, 35_000);
    t.equal(res.status, 200, `${node.name} answers`);
    const keys = (res.body['rows'] as { k: number }[]).map((r) => r.k);
    const present = new Set(keys);
    const missing = acked.filter((k) => !present.has(k));
    t.same(missing, [], `${node.name} holds every acknowledged write (${acked.length})`);
    t.equal(keys.length, present.size, `${node.name} applied each request once`);
  }
  // verify-data: compare checksums once every node reports the same applied index.
  const sums = await until('all nodes at one applied index', async () => {
    const all = await Promise.all(
      cluster.nodes.map(async (node) => (await getJson(`${node.url}/api/v1/admin/checksum`, { authorization: `Bearer ${cluster.adminToken}` })).body),
    );
    return new Set(all.map((s) => s['applied_index'])).size === 1 ? all : undefined;
  }, 30_000, 200);
  t.equal(new Set(sums.map((s) => s['checksum'])).size, 1, 'verify-data: checksums agree');
});
