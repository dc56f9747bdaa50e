/**
 * The TCK ratchet: every scenario listed in baseline.txt must still pass.
 * Tier numbers are reported as comments; `npm run tck` gives details.
 */
import t from 'tap';
import { readBaseline, regressions, runSuite, type SuiteRun } from './lib/suite.js';

t.test('openCypher TCK: baseline scenarios still pass', async (t) => {
  let run: SuiteRun;
  try {
    run = await runSuite();
  } catch (err) {
    // Missing features directory or missing engine: the TCK is required, so say why and fail.
    t.fail(err instanceof Error ? err.message : String(err));
    return;
  }
  for (const [tier, s] of Object.entries(run.summary)) {
    t.comment(`${tier}: ${s.passed}/${s.total} passed`);
  }
  t.comment(`${run.results.length} scenarios in ${(run.elapsedMs / 1000).toFixed(1)} s`);

  const baseline = readBaseline();
  t.test('the baseline is not empty once the engine runs', async (t) => {
    t.ok(baseline.length > 0, 'test/tck/baseline.txt lists passing scenarios (npm run tck -- --update-baseline)');
  });

  const lost = regressions(baseline, run.results);
  for (const r of lost) t.fail(`no longer passes: ${r.id} -- ${r.reason}`);
  if (lost.length === 0) t.pass(`all ${baseline.length} baseline scenarios pass`);
});
