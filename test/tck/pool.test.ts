import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseFeature } from './lib/features.js';
import { runInPool } from './lib/pool.js';

process.env['TCK_ENGINE_MODULE'] = fileURLToPath(new URL('./lib/fixtures/fake-engine.ts', import.meta.url));

const scenario = (n: number, query: string): string => `
  Scenario: [${n}] Runs ${query}
    Given any graph
    When executing query:
      """
      ${query}
      """
    Then the result should be, in any order:
      | x |
      | 1 |
`;

t.test('a hanging or dying scenario fails alone; the rest of the run completes', async (t) => {
  const scenarios = parseFeature(
    `Feature: Pool1 - Pool\n${scenario(1, 'RETURN 1')}${scenario(2, 'HANG')}${scenario(3, 'CRASH')}${scenario(4, 'RETURN 1')}${scenario(5, 'RETURN 1')}`,
    'x/Pool1.feature',
  );
  const seen: string[] = [];
  const results = await runInPool(scenarios, { workers: 2, hangMs: 1500, onResult: (r) => seen.push(r.id) });
  t.same(
    results.map((r) => [r.passed, r.category ?? 'ok']),
    [
      [true, 'ok'],
      [false, 'hang'],
      [false, 'runner crash'],
      [true, 'ok'],
      [true, 'ok'],
    ],
  );
  t.equal(seen.length, 5);
  t.match(results[2]?.reason, /worker died/);
});
