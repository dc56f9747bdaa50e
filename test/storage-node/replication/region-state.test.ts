import t from 'tap';
import { applyRegionCommand, covers, epochOfOwnEntry, initialRegionState, planStream } from '../../../storage-node/replication/region-state.js';
import type { RegionState } from '../../../storage-node/replication/region-state.js';
import type { RegionCommand } from '../../../storage-node/replication/command.js';

const east = { self: 'east', initialPrimary: 'east' };
const west = { self: 'west', initialPrimary: 'east' };
const apac = { self: 'apac', initialPrimary: 'east' };
const epoch = (n: number, primary: string, fork: { epoch: number; index: number } | null, start: number | null = null): RegionCommand => ({ kind: 'region', epoch: n, primary, fork, start });

t.test('a deployment starts at epoch 1 with the configured primary; followers at position (1, 0)', async (t) => {
  t.match(initialRegionState(east), { epoch: 1, primary: 'east', state: 'primary', position: { epoch: 1, index: 0 } });
  t.match(initialRegionState(west), { epoch: 1, primary: 'east', state: 'follower', position: { epoch: 1, index: 0 } });
});

t.test('planned handover: the primary ends its epoch at the fence entry and becomes a follower; the target becomes primary at its own index', async (t) => {
  // east applied up to 40 (its position is its applied index); the fence entry is at 41.
  const eastBefore: RegionState = { ...initialRegionState(east), position: { epoch: 1, index: 40 } };
  const fenced = applyRegionCommand(eastBefore, east, epoch(2, 'west', null), 41);
  t.match(fenced, { epoch: 2, primary: 'west', state: 'follower', position: { epoch: 1, index: 41 } });
  t.same(fenced.history[1], { epoch: 2, primary: 'west', fork: { epoch: 1, index: 41 }, start: null });
  // west applied the stream up to (1, 41) and takes epoch 2 at its local index 77.
  const westBefore: RegionState = { ...initialRegionState(west), position: { epoch: 1, index: 41 } };
  const promoted = applyRegionCommand(westBefore, west, epoch(2, 'west', { epoch: 1, index: 41 }), 77);
  t.match(promoted, { epoch: 2, primary: 'west', state: 'primary', position: { epoch: 2, index: 77 } });
  t.same(promoted.history[1], { epoch: 2, primary: 'west', fork: { epoch: 1, index: 41 }, start: 77 });
  // The old primary later learns where epoch 2 began.
  const learned = applyRegionCommand(fenced, east, epoch(2, 'west', { epoch: 1, index: 41 }, 77), 42);
  t.equal(learned.history[1]?.start, 77);
  t.equal(learned.state, 'follower', 'learning the start changes nothing else');
  t.same(applyRegionCommand(promoted, west, epoch(1, 'east', null), 78), promoted, 'an older epoch changes nothing');
});

t.test("a write's epoch is the one it was applied in, not the region's current one", async (t) => {
  // east writes at epoch 1 from its start; a handover at its local index 41 ends that epoch.
  const eastBefore: RegionState = { ...initialRegionState(east), position: { epoch: 1, index: 40 } };
  t.equal(epochOfOwnEntry(eastBefore, 'east', 40), 1);
  const handedOver = applyRegionCommand(eastBefore, east, epoch(2, 'west', null), 41);
  t.equal(handedOver.epoch, 2, 'east is at epoch 2 now');
  t.equal(epochOfOwnEntry(handedOver, 'east', 40), 1, 'a write applied before the handover was written at epoch 1');
  t.equal(epochOfOwnEntry(handedOver, 'east', 42), undefined, 'past the fence east writes at no epoch');
  // west becomes primary at epoch 2 at its local index 77: its writes after that are epoch 2's.
  const westBefore: RegionState = { ...initialRegionState(west), position: { epoch: 1, index: 41 } };
  const promoted = applyRegionCommand(westBefore, west, epoch(2, 'west', { epoch: 1, index: 41 }, null), 77);
  t.equal(epochOfOwnEntry(promoted, 'west', 80), 2);
  t.equal(epochOfOwnEntry(promoted, 'west', 50), undefined, 'before its promotion west wrote nothing of its own');
  // The former primary promoted again at epoch 3 (its local index 120).
  const back = applyRegionCommand(handedOver, east, epoch(3, 'east', { epoch: 2, index: 90 }, null), 120);
  t.same([epochOfOwnEntry(back, 'east', 121), epochOfOwnEntry(back, 'east', 30), epochOfOwnEntry(back, 'east', 100)], [3, 1, undefined]);
});

t.test('forced promotion: a primary that accepted writes past the fork is fenced; one that did not just follows', async (t) => {
  const eastAt60: RegionState = { ...initialRegionState(east), position: { epoch: 1, index: 60 } };
  const diverged = applyRegionCommand(eastAt60, east, epoch(2, 'west', { epoch: 1, index: 50 }, 90), 61);
  t.match(diverged, { state: 'fenced', epoch: 2, primary: 'west', position: { epoch: 1, index: 60 } });
  const eastAt50: RegionState = { ...initialRegionState(east), position: { epoch: 1, index: 50 } };
  t.match(applyRegionCommand(eastAt50, east, epoch(2, 'west', { epoch: 1, index: 50 }, 90), 51), { state: 'follower' });
  const rejoined = applyRegionCommand(diverged, east, { ...epoch(2, 'west', null), rejoin: true }, 62);
  t.equal(rejoined.state, 'follower', 'asked to rejoin, a fenced region follows again');
  t.same(applyRegionCommand(eastAt50, east, { ...epoch(1, 'east', null), rejoin: true }, 52), eastAt50, 'rejoin means nothing to a region that is not fenced');
});

t.test('positions cover across epochs only up to the fork', async (t) => {
  const history = [
    { epoch: 1, primary: 'east', fork: null, start: 0 },
    { epoch: 2, primary: 'west', fork: { epoch: 1, index: 50 }, start: 90 },
  ];
  t.ok(covers({ epoch: 2, index: 95 }, history, { epoch: 1, index: 50 }), 'the fork point itself is held');
  t.ok(covers({ epoch: 2, index: 95 }, history, { epoch: 1, index: 10 }));
  t.notOk(covers({ epoch: 2, index: 95 }, history, { epoch: 1, index: 51 }), 'a write after the fork is not in this lineage');
  t.ok(covers({ epoch: 2, index: 95 }, history, { epoch: 2, index: 95 }));
  t.notOk(covers({ epoch: 2, index: 95 }, history, { epoch: 2, index: 96 }));
  t.notOk(covers({ epoch: 1, index: 50 }, history, { epoch: 2, index: 91 }), 'a newer epoch is not held yet');
});

t.test('planStream: entries, end of an epoch, continuation through a fork, images and redirects', async (t) => {
  const eastPrimary: RegionState = { ...initialRegionState(east), position: { epoch: 1, index: 100 } };
  t.same(planStream(eastPrimary, 'east', { epoch: 1, index: 0 }), { kind: 'entries', epoch: 1, after: 0, until: null }, 'a fresh follower streams from the start');
  t.same(planStream(eastPrimary, 'east', { epoch: 1, index: 70 }), { kind: 'entries', epoch: 1, after: 70, until: null });
  // After a planned handover at 41: east serves up to 41, then redirects.
  const history = [
    { epoch: 1, primary: 'east', fork: null, start: 0 },
    { epoch: 2, primary: 'west', fork: { epoch: 1, index: 41 }, start: 77 },
  ];
  const eastFollower: RegionState = { epoch: 2, primary: 'west', state: 'follower', position: { epoch: 1, index: 41 }, history, quarantined: [] };
  t.same(planStream(eastFollower, 'east', { epoch: 1, index: 30 }), { kind: 'entries', epoch: 1, after: 30, until: 41 });
  t.same(planStream(eastFollower, 'east', { epoch: 1, index: 41 }), { kind: 'redirect', primary: 'west', epoch: 2 });
  const westPrimary: RegionState = { epoch: 2, primary: 'west', state: 'primary', position: { epoch: 2, index: 120 }, history, quarantined: [] };
  t.same(planStream(westPrimary, 'west', { epoch: 1, index: 41 }), { kind: 'entries', epoch: 2, after: 77, until: null }, 'exactly at the fork: continue where epoch 2 began');
  t.same(planStream(westPrimary, 'west', { epoch: 1, index: 20 }), { kind: 'image', diverged: null }, 'behind the fork: only an image');
  t.same(planStream(westPrimary, 'west', { epoch: 1, index: 45 }), { kind: 'image', diverged: { epoch: 1, index: 41 } }, 'past the fork: diverged');
  t.same(planStream(westPrimary, 'west', { epoch: 2, index: 100 }), { kind: 'entries', epoch: 2, after: 100, until: null });
  const apacFollower: RegionState = { epoch: 2, primary: 'west', state: 'follower', position: { epoch: 2, index: 100 }, history, quarantined: [] };
  t.same(planStream(apacFollower, 'apac', { epoch: 2, index: 100 }), { kind: 'redirect', primary: 'west', epoch: 2 }, 'a follower region serves nobody');
  t.same(planStream({ ...westPrimary }, 'west', { epoch: 7, index: 1 }), { kind: 'image', diverged: null }, 'an epoch never heard of: an image');
  void apac;
});
