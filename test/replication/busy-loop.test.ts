// The thread that drives Raft never runs a query: a multi-second read and a
// multi-second write on the leader must not cost it its leadership.
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { getJson, postJson } from '../helpers/http.js';

t.test('long statements on the leader cause no election', async (t) => {
  // Election timeout 1 s (default 300 ms): the statements take seconds, so a Raft thread that ran them
  // would still miss many timeouts, but a sub-second stall of a loaded CI machine (every thread of
  // every node waiting on the disk or the CPU at once) is not what this test is about.
  const cluster = await launchTempCluster(t, 'geode-busy-', { nodes: 3, electionTimeoutMs: 1000 });
  const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
  const before = (await getJson(`${leader.url}/api/v1/cluster/status`)).body as { term: number; leader: string };
  const started = Date.now();
  const [read, write] = await Promise.all([
    postJson(`${leader.url}/v1/query`, { query: 'UNWIND range(1, 4000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS c', timeout_ms: 120_000 }, {}, 125_000),
    postJson(`${leader.url}/v1/query`, { query: 'UNWIND range(1, 150000) AS x CREATE (:Bulk {x: x})', timeout_ms: 120_000 }, {}, 125_000),
  ]);
  const tookMs = Date.now() - started;
  t.equal(read.status, 200, 'the long read completes');
  t.equal(write.status, 200, 'the long write completes');
  t.comment(`statements took ${tookMs} ms`);
  const after = (await getJson(`${leader.url}/api/v1/cluster/status`)).body as { term: number; leader: string };
  t.equal(after.term, before.term, 'no election happened (term unchanged)');
  t.equal(after.leader, before.leader, 'the same node still leads');
  // What the nodes said about the election (they log every role change at warn).
  if (after.term !== before.term) for (const n of cluster.nodes) t.comment(`${n.name}:\n${n.output().slice(-6000)}`);
});
