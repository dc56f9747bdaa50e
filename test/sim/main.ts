/**
 * Seeded Raft simulation CLI.
 *   node --import tsx test/sim/main.ts --seeds N [--start S] [--json]
 *   node --import tsx test/sim/main.ts --seed S [--verbose]
 *   negative controls (a deliberately broken loop, must fail): --send-before-persist,
 *   --ack-before-commit, --snapshot-latest-membership (adds membership churn);
 *   --skip-check voteOrdering|appendOrdering|ack|snapshotMembership leaves a check out (checker sanity)
 *   --membership-churn, --no-reads, --slow-disk: load profiles (see SimOptions)
 */
import type { LoopFaults } from '../../storage-node/host/raft-loop.js';
import type { SimOptions } from './cluster.js';
import { addStats, emptyStats, runSeed, runSimulation, SIM_CHECKS } from './cluster.js';

function flagValue(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

function main(args: readonly string[]): number {
  const json = args.includes('--json');
  const verbose = args.includes('--verbose');
  const overrides: Omit<SimOptions, 'seed'> = {};
  const faults: LoopFaults = {};
  if (args.includes('--ack-before-commit')) faults.ackBeforeCommit = true;
  if (args.includes('--send-before-persist')) faults.sendBeforePersist = true;
  if (args.includes('--snapshot-latest-membership')) {
    faults.snapshotLatestMembership = true;
    // The fault shows only when a snapshot races a membership change.
    overrides.membershipChurn = true;
  }
  if (Object.keys(faults).length > 0) overrides.faults = faults;
  if (args.includes('--membership-churn')) overrides.membershipChurn = true;
  if (args.includes('--no-reads')) overrides.noReads = true;
  if (args.includes('--slow-disk')) overrides.slowDisk = true;
  const skipped = args.flatMap((a, i) => (a === '--skip-check' ? [args[i + 1]] : []));
  const skipChecks = SIM_CHECKS.filter((c) => skipped.includes(c));
  if (skipChecks.length !== skipped.length) {
    process.stderr.write(`--skip-check takes one of ${SIM_CHECKS.join(', ')}\n`);
    return 2;
  }
  if (skipChecks.length > 0) overrides.skipChecks = skipChecks;
  const single = flagValue(args, '--seed');
  if (single !== undefined) {
    const seed = Number(single);
    const result = runSimulation({ ...overrides, seed, trace: true, traceAll: verbose });
    if (verbose || !result.ok) for (const line of result.trace) process.stdout.write(`${line}\n`);
    process.stdout.write(`seed ${seed}: ${result.ok ? 'ok' : `FAILED: ${result.failure ?? ''}`} ${JSON.stringify(result.stats)}\n`);
    return result.ok ? 0 : 1;
  }
  const count = Number(flagValue(args, '--seeds') ?? '100');
  const start = Number(flagValue(args, '--start') ?? '1');
  // The options of this run, so a failing seed's replay line reproduces it.
  const replayFlags = args.filter((a, i) => !['--seeds', '--start', '--json'].includes(a) && !['--seeds', '--start'].includes(args[i - 1] ?? '')).map((a) => ` ${a}`).join('');
  const failing: number[] = [];
  const totals = emptyStats();
  for (let seed = start; seed < start + count; seed++) {
    const result = runSeed(seed, overrides);
    addStats(totals, result.stats);
    if (result.ok) continue;
    failing.push(seed);
    if (!json) {
      process.stdout.write(`seed ${seed} FAILED: ${result.failure ?? ''}\n`);
      for (const line of result.trace.slice(-20)) process.stdout.write(`  ${line}\n`);
      process.stdout.write(`  replay: node --import tsx test/sim/main.ts --seed ${seed} --verbose${replayFlags}\n`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify({ seeds: count, failures: failing.length, failing_seeds: failing, stats: totals })}\n`);
  else process.stdout.write(`${count} seeds, ${failing.length} failures ${JSON.stringify(totals)}\n`);
  return failing.length === 0 ? 0 : 1;
}

// The tap runner also executes every file under test/; this CLI only runs when invoked directly.
if (process.env['TAP_CHILD_ID'] === undefined) process.exitCode = main(process.argv.slice(2));
