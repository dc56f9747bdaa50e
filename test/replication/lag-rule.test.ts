// The lag rule with real processes: a bounded read on a replica answers only
// when the replica has applied everything the leader had committed within the
// bound; a replica that was paused (SIGSTOP) or has just restarted does not
// know its lag until it hears the leader again, and refuses with 503
// REPLICA_LAGGING instead of answering stale data. `any` still serves.
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import type { LaunchedNode } from '../../cli/launcher.js';
import { getJson, postJson, sleep, until } from '../helpers/http.js';
import { NodeStream } from '../../gateway/node-stream.js';

const ROWS = 50;
const ROUNDS = 5;

interface Answer {
  status: number;
  body: { rows?: { c?: number }[]; error?: { code: string }; meta?: { lag_ms?: number | null } };
}

t.test('a paused or restarted follower never answers a bounded read with data older than the bound', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-lag-', { nodes: 3, stdio: 'pipe' });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const follower = cluster.nodes.find((n) => n !== leader) as LaunchedNode;
  const write = async (round: number, i: number): Promise<void> => {
    const res = await postJson(`${leader.url}/v1/query`, { query: 'CREATE (:Row {round: $round, i: $i})', params: { round, i }, timeout_ms: 10_000 }, {}, 15_000);
    if (res.status !== 200) throw new Error(`write failed: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const count = { query: 'MATCH (r:Row) RETURN count(r) AS c', consistency: 'bounded', max_lag_ms: 100, timeout_ms: 5_000 };
  // The same read over a read lane of the follower (the path gateways take): lanes must follow the rule too.
  const lane = new NodeStream(follower.url, 1);
  t.teardown(() => lane.close());
  const laneEndpoint = await until('the read lane to open', () => lane.endpoints()[0]);
  t.notMatch(laneEndpoint, new RegExp(`:${follower.port}/`), 'the stream sits on a read lane, not the node port');

  const stale: string[] = [];
  let refused = 0;
  let answered = 0;
  const judge = (what: string, answer: Answer, expected: number): void => {
    if (answer.status === 503 && answer.body.error?.code === 'REPLICA_LAGGING') refused++;
    else if (answer.status === 200 && answer.body.rows?.[0]?.c === expected) answered++;
    else stale.push(`${what}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)} (expected ${expected} rows)`);
  };
  await until('the follower to serve bounded reads', async () => ((await postJson(`${follower.url}/v1/query`, count)).status === 200 ? true : undefined), 30_000);

  let expected = 0;
  for (let round = 0; round < ROUNDS; round++) {
    await follower.pause();
    for (let i = 0; i < ROWS; i++) await write(round, i);
    expected += ROWS;
    // Sent while the follower is stopped: the request waits in its socket beside the leader's heartbeats.
    const direct = postJson(`${follower.url}/v1/query`, count, {}, 30_000);
    const viaLane = lane.ready ? lane.request(JSON.stringify(count), 30_000) : undefined;
    await sleep(400);
    follower.resume();
    judge(`round ${round} direct`, (await direct) as Answer, expected);
    if (viaLane !== undefined) {
      const answer = await viaLane.catch((e: unknown) => ({ status: 0, text: JSON.stringify({ error: { code: String(e) } }) }));
      judge(`round ${round} lane`, { status: answer.status, body: JSON.parse(answer.text) as Answer['body'] }, expected);
    }
    // Once caught up it answers again, with everything.
    const caughtUp = await until('the follower to catch up', async () => {
      const res = await postJson(`${follower.url}/v1/query`, count);
      return res.status === 200 ? (res as Answer) : undefined;
    });
    judge(`round ${round} after catching up`, caughtUp, expected);
  }
  t.same(stale, [], 'no bounded read answered with data older than its bound');
  t.comment(`paused: ${refused} refused, ${answered} answered in full`);

  // A restarted follower: it knows no leader yet, so its lag is unknown until it hears one.
  await follower.kill('SIGKILL');
  for (let i = 0; i < ROWS; i++) await write(ROUNDS, i);
  expected += ROWS;
  await follower.start();
  const first = (await postJson(`${follower.url}/v1/query`, count)) as Answer;
  judge('right after restart', first, expected);
  const any = await postJson(`${follower.url}/v1/query`, { query: 'MATCH (r:Row) RETURN count(r) AS c', consistency: 'any' });
  t.equal(any.status, 200, '`any` serves whatever the lag');
  const settled = await until('the restarted follower to catch up', async () => {
    const res = (await postJson(`${follower.url}/v1/query`, count)) as Answer;
    return res.status === 200 ? res : undefined;
  });
  judge('restarted, caught up', settled, expected);
  t.same(stale, [], 'a restarted follower answered no stale bounded read either');
  t.match(settled.body.meta, { lag_ms: Number }, 'a read answer says how fresh it is');
  const status = (await getJson(`${leader.url}/api/v1/cluster/status`)).body as { nodes: { id: string; replication_lag: number; applied_index: number | null }[] };
  const seen = status.nodes.find((n) => n.id === follower.name);
  t.ok(seen !== undefined && seen.replication_lag >= 0 && seen.applied_index !== null, "the leader knows the follower's lag and applied index");
});
