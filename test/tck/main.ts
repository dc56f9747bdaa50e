/**
 * CLI for the openCypher TCK: `npm run tck -- [--json] [--tier N] [--filter S]
 * [--failures] [--update-baseline]`. See test/tck/README.md.
 */
import { parseArgs } from 'node:util';
import { MissingFeaturesError, type Tier } from './lib/features.js';
import { BASELINE_PATH, categorize, regressions, readBaseline, runSuite, writeBaseline } from './lib/suite.js';

const USAGE = `usage: npm run tck -- [--json] [--tier 1|2|3] [--filter <substring>] [--failures] [--update-baseline]`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        json: { type: 'boolean', default: false },
        tier: { type: 'string' },
        filter: { type: 'string' },
        failures: { type: 'boolean', default: false },
        'update-baseline': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let tier: Tier | undefined;
  if (values.tier !== undefined) {
    if (!['1', '2', '3'].includes(values.tier)) {
      process.stderr.write(`--tier must be 1, 2 or 3\n${USAGE}\n`);
      return 2;
    }
    tier = Number(values.tier) as Tier;
  }
  if (values['update-baseline'] && (tier !== undefined || values.filter !== undefined)) {
    process.stderr.write('--update-baseline needs the full run (no --tier or --filter)\n');
    return 2;
  }

  const selection = {
    ...(tier !== undefined ? { tier } : {}),
    ...(values.filter !== undefined ? { filter: values.filter } : {}),
  };
  // Keep stdout for the JSON line alone, whatever the engine logs.
  if (values.json) console.log = (...args: unknown[]) => console.error(...args);
  const run = await runSuite(selection);
  const { results, summary } = run;

  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const failed = results.filter((r) => !r.passed);
    if (values.filter !== undefined) {
      for (const r of results) {
        process.stdout.write(`${r.passed ? 'PASS' : 'FAIL'} ${r.id}\n`);
        if (!r.passed) {
          process.stdout.write(`  reason: ${r.reason ?? ''}\n`);
          if (r.details) process.stdout.write(`${indent(r.details)}\n`);
        } else if (r.detailMismatch) {
          process.stdout.write(`  note: ${r.detailMismatch}\n`);
        }
      }
    }
    if (values.failures) {
      for (const r of failed) process.stdout.write(`${r.id} -- ${r.reason ?? ''}\n`);
    }
    for (const [name, t] of Object.entries(summary)) {
      if (t.total === 0) continue;
      const pct = ((100 * t.passed) / t.total).toFixed(1);
      process.stdout.write(`${name}: ${t.passed}/${t.total} passed (${pct}%)\n`);
    }
    if (failed.length > 0 && values.filter === undefined) {
      process.stdout.write('most common failure categories ([side] category  e.g. scenario):\n');
      for (const c of categorize(results).slice(0, 20)) {
        process.stdout.write(`  ${String(c.count).padStart(5)}  [${c.side}] ${c.category}  (e.g. ${c.example})\n`);
      }
    }
    const notes = results.filter((r) => r.detailMismatch !== undefined).length;
    if (notes > 0) process.stdout.write(`${notes} passing error scenario(s) raised a different detail (see --filter)\n`);
    const lost = regressions(readBaseline(), results).filter((r) => results.some((x) => x.id === r.id));
    if (lost.length > 0) {
      process.stdout.write(`${lost.length} baseline scenario(s) no longer pass:\n`);
      for (const r of lost) process.stdout.write(`  ${r.id} -- ${r.reason}\n`);
    }
    process.stdout.write(`${results.length} scenarios in ${(run.elapsedMs / 1000).toFixed(1)} s\n`);
  }

  if (values['update-baseline']) {
    const n = writeBaseline(results);
    process.stderr.write(`wrote ${n} passing scenario ids to ${BASELINE_PATH}\n`);
  }
  return 0;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof MissingFeaturesError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`tck: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
