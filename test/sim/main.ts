/**
 * Seeded Raft simulation CLI.
 *   node --import tsx test/sim/main.ts --seeds N [--start S] [--json]
 *   node --import tsx test/sim/main.ts --seed S [--verbose]
 *   flags for checker sanity: --ack-before-commit, --send-before-persist
 */
import type { SimOptions } from './cluster.js';
import { runSeed, runSimulation } from './cluster.js';

function flagValue(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

function main(args: readonly string[]): number {
  const json = args.includes('--json');
  const verbose = args.includes('--verbose');
  const overrides: Omit<SimOptions, 'seed'> = {};
  if (args.includes('--ack-before-commit')) overrides.ackBeforeCommit = true;
  if (args.includes('--send-before-persist')) overrides.sendBeforePersist = true;
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
  const failing: number[] = [];
  for (let seed = start; seed < start + count; seed++) {
    const result = runSeed(seed, overrides);
    if (result.ok) continue;
    failing.push(seed);
    if (!json) {
      process.stdout.write(`seed ${seed} FAILED: ${result.failure ?? ''}\n`);
      for (const line of result.trace.slice(-20)) process.stdout.write(`  ${line}\n`);
      process.stdout.write(`  replay: node --import tsx test/sim/main.ts --seed ${seed} --verbose\n`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify({ seeds: count, failures: failing.length, failing_seeds: failing })}\n`);
  else process.stdout.write(`${count} seeds, ${failing.length} failures\n`);
  return failing.length === 0 ? 0 : 1;
}

// The tap runner also executes every file under test/; this CLI only runs when invoked directly.
if (process.env['TAP_CHILD_ID'] === undefined) process.exitCode = main(process.argv.slice(2));
