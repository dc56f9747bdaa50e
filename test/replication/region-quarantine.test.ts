/**
 * A former primary that kept writing through a partition (manual failover): the other region is
 * promoted with `force` while the two are cut apart; the old primary, its own epoch still confirmed
 * by rounds that cannot reach anyone, takes writes the new primary never gets. When the partition
 * heals it learns the new epoch and is fenced (421, no writes); asked to rejoin, it takes the new
 * primary's image, and the writes it accepted after the fork are set aside in a quarantine file and
 * in its region state, never merged: both regions then hold exactly the new primary's rows.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployment, launchTempRegions, leaderStatus, rowIds, writeRow } from '../helpers/regions.js';
import { postJson, until } from '../helpers/http.js';

t.setTimeout(150_000);

function findFiles(dir: string, name: RegExp): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findFiles(path, name));
    else if (name.test(entry.name)) found.push(path);
  }
  return found;
}

t.test('writes a partitioned former primary took after the fork are quarantined on rejoin, never merged', async (t) => {
  const regions = await launchTempRegions(t, 'geode-quarantine-', {
    deployment: deployment([
      { name: 'east', role: 'primary', nodeCount: 1 },
      { name: 'west', role: 'secondary', nodeCount: 1 },
    ]),
    wanLatencyMs: 0,
  });
  await regions.waitForLeaders({ timeoutMs: 60_000 });
  const east = regions.region('east').cluster.nodes[0]!;
  const west = regions.region('west').cluster.nodes[0]!;
  const admin = { authorization: `Bearer ${regions.adminToken}` };
  for (let id = 0; id < 10; id++) t.ok((await writeRow([east], id)) !== undefined, `row ${id} acknowledged`);
  await until('west caught up', async () => {
    const s = await leaderStatus([west]);
    return s?.behind_entries === 0 && s.lag_ms === 0 ? true : undefined;
  });

  regions.partition('east', 'west', true);
  const forced = await postJson(`${west.url}/api/v1/admin/regions/promote`, { region: 'west', force: true }, admin, 60_000);
  t.equal(forced.status, 200, `forced promotion of west across the partition: ${JSON.stringify(forced.body)}`);
  t.match(forced.body, { epoch: 2, planned: false, lost_entries_estimate: 0 });
  for (let id = 100; id < 105; id++) t.ok((await writeRow([east], id, 5_000)) !== undefined, `east, cut off and unaware, still takes row ${id}`);
  for (let id = 200; id < 203; id++) t.ok((await writeRow([west], id, 5_000)) !== undefined, `west, the new primary, takes row ${id}`);

  regions.partition('east', 'west', false);
  const fenced = await until('east learns epoch 2 and is fenced', async () => {
    const s = await leaderStatus([east]);
    return s?.epoch === 2 && s.state === 'fenced' ? s : undefined;
  }, 30_000, 100);
  t.equal(fenced.primary_region, 'west');
  const refused = await postJson(`${east.url}/v1/query`, { query: 'CREATE (:Row {id: -1})' });
  t.match(refused, { status: 421, body: { error: { code: 'NOT_PRIMARY_REGION', primary_region: 'west', epoch: 2 } } }, 'a fenced former primary refuses writes');

  const rejoined = await postJson(`${east.url}/api/v1/admin/regions/rejoin`, { region: 'east' }, admin, 30_000);
  t.equal(rejoined.status, 200, `rejoin: ${JSON.stringify(rejoined.body)}`);
  const after = await until('east took west\'s image and set its writes aside', async () => {
    const s = await leaderStatus([east]);
    return s !== undefined && s.quarantined.length > 0 && s.state === 'follower' && s.behind_entries === 0 ? s : undefined;
  }, 60_000, 200);
  t.match(after.quarantined[0], { epoch: 1, writes: 5 }, 'the five diverged writes are recorded as set aside');
  const files = findFiles(regions.region('east').dataDir, /^epoch-1-from-.*\.jsonl$/);
  t.equal(files.length, 1, 'one quarantine file in the former primary\'s data dir');
  const lines = readFileSync(files[0]!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { params?: { id?: number } });
  t.same(lines.map((l) => l.params?.id).filter((id) => id !== undefined).sort((a, b) => a! - b!), [100, 101, 102, 103, 104], 'it lists exactly the writes east took after the fork');
  const expected = [...Array.from({ length: 10 }, (_, i) => i), 200, 201, 202];
  t.same(await rowIds(west), expected, 'the new primary holds its own history');
  t.same(await rowIds(east), expected, 'the former primary now holds the same rows: its diverged writes were not merged');
});
