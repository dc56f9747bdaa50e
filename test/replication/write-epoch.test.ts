/**
 * A write's answer names the epoch it was applied in (region-state.ts epochOfOwnEntry), also when a
 * planned handover applies right after it. Writers hammer the primary's node directly while it hands
 * over to the other region, and back again: every acknowledged write must carry the epoch of the
 * region that wrote it. Before the fix, a few writes of each handover came back with the NEW epoch
 * from the OLD primary (19 of about 5,000 in a measured run); a gateway then took the old primary
 * for the new epoch's write region and sent writes there for the rest of the epoch.
 */
import t from 'tap';
import { launchEastWest } from '../helpers/regions.js';
import { postJson, sleep, until } from '../helpers/http.js';
import type { LaunchedNode } from '../../cli/launcher.js';

t.setTimeout(120_000);

t.test('every write acknowledged across a planned handover names the epoch its region wrote it in', async (t) => {
  const { regions, east, west } = await launchEastWest(t, 'geode-write-epoch-');
  const admin = { authorization: `Bearer ${regions.adminToken}` };

  /** 16 writers straight to `primary`'s node while `target` is promoted; the epochs its acknowledgements named. */
  const handover = async (primary: LaunchedNode, target: { node: LaunchedNode; region: string }, epochBefore: number): Promise<Map<number, number>> => {
    const epochs = new Map<number, number>();
    let writing = true;
    let id = 0;
    const writers = Array.from({ length: 16 }, async () => {
      while (writing) {
        const answer = await postJson(`${primary.url}/v1/query`, { query: 'CREATE (:W {id: $id})', params: { id: id++ } }, {}, 10_000).catch(() => undefined);
        if (answer?.status !== 200) continue;
        const epoch = (answer.body['meta'] as { epoch?: number } | undefined)?.epoch ?? -1;
        epochs.set(epoch, (epochs.get(epoch) ?? 0) + 1);
      }
    });
    await until(`writes acknowledged by ${primary.name}`, () => ((epochs.get(epochBefore) ?? 0) >= 200 ? true : undefined), 30_000, 20);
    const promoted = await postJson(`${target.node.url}/api/v1/admin/regions/promote`, { region: target.region }, admin, 60_000);
    t.equal(promoted.status, 200, `promotion to ${target.region} answered ${JSON.stringify(promoted.body).slice(0, 300)}`);
    await sleep(500);
    writing = false;
    await Promise.all(writers);
    return epochs;
  };

  const first = await handover(east, { node: west, region: 'west' }, 1);
  t.same([...first.keys()], [1], `east's acknowledgements named epoch 1 only: ${JSON.stringify([...first])}`);
  // West now writes at epoch 2; back to east, which takes epoch 3.
  await until('west takes writes', async () => ((await postJson(`${west.url}/v1/query`, { query: 'CREATE (:W {id: -1})' })).status === 200 ? true : undefined), 30_000, 100);
  const second = await handover(west, { node: east, region: 'east' }, 2);
  t.same([...second.keys()], [2], `west's acknowledgements named epoch 2 only: ${JSON.stringify([...second])}`);
});
