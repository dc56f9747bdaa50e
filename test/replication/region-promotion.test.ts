/**
 * Promotion between two regional groups of real processes, behind one gateway.
 *
 * - Planned: `promote-region west` while clients write through the gateway. No acknowledged write is
 *   lost or applied twice (linearizable read through the gateway afterwards), and writes go on in west.
 * - Forced: the new primary (west) is SIGSTOPped; east is promoted with `force`; writes through the
 *   gateway resume in east. West, resumed, takes no write at its old epoch, tried directly against its
 *   node: it answers EPOCH_UNCONFIRMED until it has asked the other region, then NOT_PRIMARY_REGION.
 */
import t from 'tap';
import { launchEastWest, leaderStatus, regionStatus } from '../helpers/regions.js';
import { postJson, sleep, until } from '../helpers/http.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';

t.setTimeout(180_000);

t.test('planned and forced promotion: no acknowledged write lost, and a former primary takes no write at its old epoch', async (t) => {
  const { regions, east, west } = await launchEastWest(t, 'geode-promote-');
  const gw = await startGateway(
    parseGatewayConfig(
      {
        listen: '127.0.0.1:0',
        session_secret: 'promotion-test-secret-0123456789',
        admin_token: regions.adminToken,
        region: 'east',
        health_interval_ms: 250,
        regions: {
          east: { lat: 39.0, lon: -77.5, role: 'primary', nodes: [east.url] },
          west: { lat: 45.5, lon: -122.7, role: 'secondary', nodes: [west.url] },
        },
      },
      'test',
      {},
    ),
  );
  t.teardown(() => gw.close());
  const admin = { authorization: `Bearer ${regions.adminToken}` };
  const query = (body: Record<string, unknown>) => postJson(`${gw.url}/v1/query`, body, {}, 15_000);
  await until('the gateway takes a write', async () => ((await query({ query: 'CREATE (:Warmup)' })).status === 200 ? true : undefined), 30_000, 100);

  // Writers through the gateway, each write with its own request id; ids of acknowledged writes are kept.
  const acknowledged = new Set<number>();
  const refused: string[] = [];
  let next = 0;
  let writing = true;
  const writers = Array.from({ length: 4 }, async () => {
    while (writing) {
      const id = next++;
      const answer = await query({ query: 'CREATE (:Row {id: $id})', params: { id }, request_id: `row-${id}` }).catch(() => undefined);
      if (answer?.status === 200) acknowledged.add(id);
      else refused.push(`${answer?.status ?? 'no answer'} ${JSON.stringify(answer?.body['error'] ?? null).slice(0, 300)}`);
    }
  });

  t.teardown(() => {
    writing = false;
  });
  await until('some writes acknowledged before the promotion', () => (acknowledged.size >= 20 ? true : undefined), 30_000, 20);
  const promoted = await postJson(`${gw.url}/api/v1/admin/regions/promote`, { region: 'west' }, admin, 60_000);
  t.equal(promoted.status, 200, `planned promotion answered ${JSON.stringify(promoted.body)}`);
  t.match(promoted.body, { region: 'west', epoch: 2, previous_primary: 'east', planned: true, lost_entries_estimate: 0 });
  const atPromotion = acknowledged.size;
  await until('writes acknowledged after the promotion, in west', () => (acknowledged.size >= atPromotion + 20 ? true : undefined), 30_000, 20).catch((error: unknown) => {
    writing = false;
    throw new Error(`${String(error)}; refusals: ${refused.slice(-3).join(' | ')}`);
  });
  writing = false;
  await Promise.all(writers);

  const read = await query({ query: 'MATCH (r:Row) RETURN r.id AS id', consistency: 'linearizable' });
  t.equal(read.status, 200, 'a linearizable read after the promotion');
  t.match(read.body, { meta: { node: west.name } }, 'served by the new primary region');
  const ids = (read.body['rows'] as Array<{ id: number }>).map((r) => r.id);
  const missing = [...acknowledged].filter((id) => !ids.includes(id));
  t.same(missing, [], `every acknowledged write survived the planned promotion (${acknowledged.size} acknowledged; ${refused.length} refused or unanswered)`);
  t.equal(new Set(ids).size, ids.length, 'no write applied twice');
  const direct = await postJson(`${east.url}/v1/query`, { query: 'CREATE (:Row {id: -1})' });
  t.match(direct.body, { error: { code: 'NOT_PRIMARY_REGION', primary_region: 'west', epoch: 2 } }, 'the old primary refuses writes, naming the new one');

  // Forced: the primary region (west) stops answering; east is promoted with what it has.
  await until('east has applied everything west committed', async () => {
    const e = await regionStatus(east);
    const w = await regionStatus(west);
    return e !== undefined && w !== undefined && e.position.index === w.position.index && e.position.epoch === w.position.epoch ? true : undefined;
  }, 30_000, 100);
  await west.pause();
  const forced = await postJson(`${gw.url}/api/v1/admin/regions/promote`, { region: 'east', force: true }, admin, 60_000);
  t.equal(forced.status, 200, `forced promotion answered ${JSON.stringify(forced.body)}`);
  t.match(forced.body, { region: 'east', epoch: 3, previous_primary: 'west', planned: false });
  t.type(forced.body['lost_entries_estimate'], 'number', 'with a loss estimate from replication positions');
  const resumed = await until('a write through the gateway in the new primary region', async () => {
    const answer = await query({ query: 'CREATE (:Row {id: $id})', params: { id: 100_000 }, request_id: 'after-force' });
    return answer.status === 200 ? answer : undefined;
  }, 30_000, 100);
  t.match(resumed.body, { meta: { node: east.name, epoch: 3 } }, 'writes resume in east at epoch 3');

  west.resume();
  // Straight at the resumed node, as fast as it answers: never a write at its old epoch.
  const codes = new Set<string>();
  let accepted = 0;
  const end = Date.now() + 3_000;
  while (Date.now() < end) {
    const answer = await postJson(`${west.url}/v1/query`, { query: 'CREATE (:Row {id: -2})' }, {}, 5_000).catch(() => undefined);
    if (answer === undefined) continue;
    if (answer.status === 200) accepted++;
    else codes.add(String((answer.body['error'] as Record<string, unknown> | undefined)?.['code']));
  }
  t.equal(accepted, 0, `the resumed former primary accepted no write (refusals: ${[...codes].join(', ')})`);
  t.ok(codes.has('NOT_PRIMARY_REGION'), 'it learned of the new epoch and names the new primary');
  const status = await until('west follows east at epoch 3', async () => {
    const s = await leaderStatus([west]);
    return s !== undefined && s.epoch === 3 && s.state === 'follower' ? s : undefined;
  }, 30_000, 100);
  t.equal(status.primary_region, 'east');
});
