import t from 'tap';
import { runSeed, runSimulation } from './cluster.js';

t.test('300 seeded cluster simulations keep every Raft safety property and lose no acknowledged write', async (t) => {
  const failing: string[] = [];
  let acked = 0;
  let elections = 0;
  let snapshots = 0;
  let confChanges = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const r = runSeed(seed, { chaosMs: 2500, healMs: 1500 });
    acked += r.stats.acked;
    elections += r.stats.elections;
    snapshots += r.stats.snapshots;
    confChanges += r.stats.confChanges;
    if (!r.ok) failing.push(`seed ${seed}: ${r.failure ?? ''}\n${r.trace.slice(-15).join('\n')}`);
  }
  t.same(failing, [], 'no seed fails');
  t.ok(acked > 300 * 100, `writes were acknowledged (${acked})`);
  t.ok(elections > 300 * 2, `leaders changed (${elections})`);
  t.ok(snapshots > 300, `followers caught up by snapshot (${snapshots})`);
  t.ok(confChanges > 150, `membership changed (${confChanges})`);
});

t.test('a seed replays exactly', async (t) => {
  const a = runSimulation({ seed: 77, trace: true, traceAll: true, chaosMs: 1000, healMs: 1000 });
  const b = runSimulation({ seed: 77, trace: true, traceAll: true, chaosMs: 1000, healMs: 1000 });
  t.ok(a.trace.length > 100);
  t.same(a.trace, b.trace);
  t.same(a.stats, b.stats);
});

t.test('the checker catches a host that acknowledges writes before they commit', async (t) => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const r = runSimulation({ seed, ackBeforeCommit: true, noReads: true, chaosMs: 2500, healMs: 1500 });
    if (!r.ok) failures.push(r.failure ?? '');
  }
  t.ok(failures.length > 0, `broken runs fail (${failures.length}/20)`);
  t.ok(failures.some((f) => /acknowledged write .* lost/.test(f)), 'as lost acknowledged writes');
});

t.test('the checker catches stale linearizable reads when acks come too early', async (t) => {
  const r = runSimulation({ seed: 1, ackBeforeCommit: true, chaosMs: 1500, healMs: 1000 });
  t.equal(r.ok, false);
  t.match(r.failure ?? '', /read .* got index/);
});
