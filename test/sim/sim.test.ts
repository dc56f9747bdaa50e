import t from 'tap';
import type { SimOptions, SimResult } from './cluster.js';
import { addStats, emptyStats, runSeed, runSimulation } from './cluster.js';

const RUN = { chaosMs: 2500, healMs: 1500 };

/** Runs seeds 1..count with `options`; returns the failure messages. */
function failures(count: number, options: Omit<SimOptions, 'seed'>): string[] {
  const out: string[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const r: SimResult = runSimulation({ ...options, seed });
    if (!r.ok) out.push(r.failure ?? '');
  }
  return out;
}

t.test('300 seeded cluster simulations of the production loop keep every property and lose no acknowledged write', async (t) => {
  const failing: string[] = [];
  const totals = emptyStats();
  for (let seed = 1; seed <= 300; seed++) {
    const r = runSeed(seed, RUN);
    addStats(totals, r.stats);
    if (!r.ok) failing.push(`seed ${seed}: ${r.failure ?? ''}\n${r.trace.slice(-15).join('\n')}`);
  }
  t.same(failing, [], 'no seed fails');
  t.ok(totals.acked > 300 * 300, `writes were acknowledged (${totals.acked})`);
  t.ok(totals.elections > 300 * 3, `leaders changed (${totals.elections})`);
  t.ok(totals.snapshotsTaken > 300 * 30, `the loops took snapshots (${totals.snapshotsTaken})`);
  t.ok(totals.snapshotsInstalled > 300 * 3, `followers caught up by snapshot (${totals.snapshotsInstalled})`);
  t.ok(totals.confChanges > 150, `membership changed (${totals.confChanges})`);
  t.ok(totals.tornWrites > 150, `crashes tore log writes (${totals.tornWrites})`);
  t.ok(totals.commitBehindApplied > 150, `restarts found the durable commit behind the applied index (${totals.commitBehindApplied})`);
  t.ok(totals.driftMin < 0.92 && totals.driftMax > 1.08, `clocks drifted (${totals.driftMin.toFixed(3)}..${totals.driftMax.toFixed(3)})`);
});

t.test('seeds that once found bugs in the loop keep passing', async (t) => {
  // 803: a leader removing itself counted its own copy toward QUORUM SIZE (modes.ts leaderVotes).
  // 250 with a slow disk: a snapshot below what a follower had already applied moved its graph back
  // behind the applied index its loop reported (raft-loop.ts installSnapshot).
  // 481, 548 with a slow disk: an append answer of an older term, sent after a newer leader's
  // truncation was durable (safe; the ordering check judged it wrongly).
  for (const [seed, options] of [[803, {}], [250, { slowDisk: true }], [481, { slowDisk: true }], [548, { slowDisk: true }]] as const) {
    const r = runSeed(seed, options);
    t.ok(r.ok, `seed ${seed}${'slowDisk' in options ? ' --slow-disk' : ''}: ${r.failure ?? 'ok'}`);
  }
});

t.test('a seed replays exactly', async (t) => {
  const a = runSimulation({ seed: 77, trace: true, traceAll: true, chaosMs: 1000, healMs: 1000 });
  const b = runSimulation({ seed: 77, trace: true, traceAll: true, chaosMs: 1000, healMs: 1000 });
  t.ok(a.trace.length > 100);
  t.same(a.trace, b.trace);
  t.same(a.stats, b.stats);
});

t.test('the checker catches a loop that sends votes and append responses before they are durable', async (t) => {
  const found = failures(5, { ...RUN, faults: { sendBeforePersist: true } });
  t.ok(found.length > 0, `broken runs fail (${found.length}/5)`);
  t.ok(found.every((f) => /^ordering: .* (granted its vote|acknowledged)/.test(f)), `by the ordering check: ${found[0] ?? ''}`);
  const appends = failures(5, { ...RUN, faults: { sendBeforePersist: true }, skipChecks: ['voteOrdering'] });
  t.ok(
    appends.some((f) => /^ordering: .* acknowledged entries up to \d+ .* before they were durable/.test(f)),
    `with votes unchecked, by the append-response check: ${appends[0] ?? ''}`,
  );
  const counted = failures(5, { ...RUN, faults: { sendBeforePersist: true }, skipChecks: ['voteOrdering', 'appendOrdering'] });
  t.ok(
    counted.some((f) => /^acknowledgement: .* durable only on/.test(f)),
    `with both unchecked, the leader acknowledges copies that are not durable: ${counted[0] ?? ''}`,
  );
});

t.test('the checker catches a loop that acknowledges writes before they commit', async (t) => {
  const found = failures(5, { ...RUN, faults: { ackBeforeCommit: true } });
  t.ok(found.length > 0, `broken runs fail (${found.length}/5)`);
  t.ok(found.every((f) => /^acknowledgement: |acknowledged write .* lost/.test(f)), `by the acknowledgement check: ${found[0] ?? ''}`);
});

t.test('with the acknowledgement check off, early acknowledgements show up as lost writes', async (t) => {
  const found = failures(20, { ...RUN, faults: { ackBeforeCommit: true }, skipChecks: ['ack'], noReads: true });
  t.ok(found.length > 0, `broken runs fail (${found.length}/20)`);
  t.ok(found.some((f) => /acknowledged write .* lost/.test(f)), 'as lost acknowledged writes');
});

t.test('with the acknowledgement check off, early acknowledgements show up as stale linearizable reads', async (t) => {
  const r = runSimulation({ seed: 1, faults: { ackBeforeCommit: true }, skipChecks: ['ack'], chaosMs: 1500, healMs: 1000 });
  t.equal(r.ok, false);
  t.match(r.failure ?? '', /read .* got index/);
});

t.test('the checker catches snapshots stamped with the newest membership in the log', async (t) => {
  // Membership churn at every fault step, so snapshots often race a change not yet applied.
  const found = failures(10, { ...RUN, faults: { snapshotLatestMembership: true }, membershipChurn: true });
  t.ok(
    found.some((f) => /^snapshot membership: /.test(f)),
    `by the snapshot membership check (${found.filter((f) => f.startsWith('snapshot membership')).length}/10): ${found[0] ?? ''}`,
  );
  const healthy = failures(10, { ...RUN, membershipChurn: true });
  t.same(healthy, [], 'the same churn with the correct loop keeps every property');
});
