/**
 * Automatic failover with three one-node regions (`failover_policy: automatic`, `failover_after: 2s`):
 * the primary region is SIGSTOPped; the region with the best write_priority is promoted by a majority
 * of regions (itself and the third region's vote), the third follows it, and the former primary,
 * resumed, accepts no write at its old epoch and follows the new primary.
 */
import t from 'tap';
import { deployment, launchTempRegions, leaderStatus, writeRow } from '../helpers/regions.js';
import { postJson, until } from '../helpers/http.js';

t.setTimeout(150_000);

t.test('a majority of regions replaces a paused primary region, and the old one is fenced when it returns', async (t) => {
  const spec = deployment([
    { name: 'us', role: 'primary', nodeCount: 1, writePriority: 1 },
    { name: 'eu', role: 'secondary', nodeCount: 1, writePriority: 2, replicationLagMaxMs: 1_000 },
    { name: 'ap', role: 'secondary', nodeCount: 1, writePriority: 3, replicationLagMaxMs: 1_000 },
  ]);
  spec.routing = { ...spec.routing, failoverPolicy: 'automatic', failoverAfterMs: 2_000, healthCheckIntervalMs: 250 };
  const regions = await launchTempRegions(t, 'geode-auto-', { deployment: spec });
  await regions.waitForLeaders({ timeoutMs: 60_000 });
  const [us, eu, ap] = ['us', 'eu', 'ap'].map((r) => regions.region(r).cluster.nodes[0]!) as [typeof regions.nodes[0], typeof regions.nodes[0], typeof regions.nodes[0]];
  for (let id = 0; id < 20; id++) t.ok((await writeRow([us], id)) !== undefined, `write ${id} acknowledged by the primary`);
  await until('both follower regions caught up', async () => {
    const [e, a] = [await leaderStatus([eu]), await leaderStatus([ap])];
    return e?.lag_ms === 0 && a?.lag_ms === 0 && e.position.index === a.position.index && e.behind_entries === 0 ? true : undefined;
  }, 30_000, 100);

  await us.pause();
  const promoted = await until('eu becomes the primary at epoch 2', async () => {
    const s = await leaderStatus([eu]);
    return s?.state === 'primary' && s.epoch === 2 ? s : undefined;
  }, 60_000, 200);
  t.match(promoted.history[1], { epoch: 2, primary: 'eu' }, 'eu, the best write_priority within its lag bound');
  t.match(promoted.vote, { epoch: 2, candidate: 'eu' }, 'eu recorded its vote for itself');
  const third = await until('ap follows eu', async () => {
    const s = await leaderStatus([ap]);
    return s?.epoch === 2 && s.primary_region === 'eu' ? s : undefined;
  }, 30_000, 200);
  t.match(third.vote, { epoch: 2, candidate: 'eu' }, 'ap voted for eu: a majority of three regions');
  t.ok((await writeRow([eu], 1_000)) !== undefined, 'writes go on in eu');

  us.resume();
  let accepted = 0;
  const codes = new Set<string>();
  const end = Date.now() + 3_000;
  while (Date.now() < end) {
    const answer = await postJson(`${us.url}/v1/query`, { query: 'CREATE (:Row {id: -1})' }, {}, 5_000).catch(() => undefined);
    if (answer === undefined) continue;
    if (answer.status === 200) accepted++;
    else codes.add(String((answer.body['error'] as Record<string, unknown> | undefined)?.['code']));
  }
  t.equal(accepted, 0, `the former primary took no write at its old epoch (refusals: ${[...codes].join(', ')})`);
  const back = await until('us follows eu at epoch 2', async () => {
    const s = await leaderStatus([us]);
    return s?.epoch === 2 && s.primary_region === 'eu' && s.state !== 'primary' ? s : undefined;
  }, 30_000, 200);
  t.equal(back.primary_region, 'eu');
});
