// A follower that falls behind past log compaction catches up by snapshot.
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { getJson, postJson, until } from '../helpers/http.js';

t.test('a follower restarted after the log was compacted past it installs a snapshot and converges', async (t) => {
  // Snapshot every 300 entries; the leader keeps 1,000 behind each snapshot, so 2,500 missed entries force a snapshot.
  const cluster = await launchTempCluster(t, 'geode-snap-', { nodes: 3, snapshotEntries: 300, logLevel: 'info' });
  const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
  const follower = cluster.nodes.find((n) => n.name !== leader.name);
  if (follower === undefined) throw new Error('no follower');
  await follower.kill('SIGKILL');
  for (let batch = 0; batch < 25; batch++) {
    const writes = Array.from({ length: 100 }, (_, i) =>
      postJson(`${leader.url}/v1/query`, { query: 'CREATE (:Item {n: $n})', params: { n: batch * 100 + i }, timeout_ms: 20_000 }, {}, 25_000),
    );
    for (const res of await Promise.all(writes)) if (res.status !== 200) t.fail(`write failed: ${JSON.stringify(res.body)}`);
  }
  const status = (await getJson(`${leader.url}/api/v1/cluster/status`)).body as { commit_index: number };
  await follower.start();
  const res = await postJson(`${follower.url}/v1/query`, { query: 'MATCH (i:Item) RETURN count(i) AS c', after_index: status.commit_index, timeout_ms: 60_000 }, {}, 65_000);
  t.equal(res.status, 200, `the restarted follower answers once caught up (${res.status === 200 ? 'ok' : JSON.stringify(res.body)})`);
  t.same(res.body['rows'], [{ c: 2500 }], 'it holds every write it missed');
  await until('the snapshot install to be logged', () => (/installing snapshot from leader/.test(follower.output()) ? true : undefined), 10_000);
  t.pass('caught up by snapshot, not by replaying the log');
});
