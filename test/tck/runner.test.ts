import t from 'tap';
import { GeodeError } from '../../shared/protocol/errors.js';
import { NodeValue, type Value } from '../../shared/gql/values.js';
import type { GraphObservation } from '../../storage-node/graph/types.js';
import type { TckEngine, TckEngineFactory } from './lib/engine.js';
import { parseFeature, tierOf } from './lib/features.js';
import { runScenario } from './lib/runner.js';

/** A scripted engine: each query text maps to a result (and graph change) or an error. */
interface Script {
  [query: string]: { columns?: string[]; rows?: Value[][]; addNodes?: string[]; error?: unknown; hang?: boolean };
}

function scripted(script: Script): TckEngineFactory & { closed: number } {
  const factory = {
    closed: 0,
    open(): TckEngine {
      const nodes = new Set<string>();
      return {
        execute(query) {
          const entry = script[query.trim()];
          if (!entry) throw new GeodeError('SYNTAX_ERROR', `unscripted query ${query}`, { phase: 'compile' });
          if (entry.error !== undefined) throw entry.error;
          for (const n of entry.addNodes ?? []) nodes.add(n);
          return { columns: entry.columns ?? [], rows: entry.rows ?? [] };
        },
        observe(): GraphObservation {
          return { nodes: new Set(nodes), relationships: new Set(), properties: new Set(), labels: new Set() };
        },
        close() {
          factory.closed++;
        },
      };
    },
  };
  return factory;
}

const feature = (body: string): string => `Feature: Demo1 - Demo\n\n${body}`;

t.test('scenario ids are path, feature short name, scenario name, and example row', async (t) => {
  const scenarios = parseFeature(
    feature(`
  Scenario: [1] Plain
    Given an empty graph
    When executing query:
      """
      RETURN 1 AS x
      """
    Then the result should be empty

  Scenario Outline: [2] Outline <v>
    Given any graph
    When executing query:
      """
      RETURN <v> AS x
      """
    Then the result should be empty

    Examples:
      | v |
      | 1 |
      | 2 |
`),
    'clauses/match/Demo1.feature',
  );
  t.same(
    scenarios.map((s) => s.id),
    [
      'clauses/match/Demo1.feature: Demo1 [1] Plain',
      'clauses/match/Demo1.feature: Demo1 [2] Outline 1 #1',
      'clauses/match/Demo1.feature: Demo1 [2] Outline 2 #2',
    ],
  );
  t.equal(scenarios[2]?.steps[1]?.docString, 'RETURN 2 AS x');
});

t.test('tiers follow the README folder and file lists', async (t) => {
  t.equal(tierOf('clauses/create/Create1.feature'), 1);
  t.equal(tierOf('clauses/match/Match3.feature'), 1);
  t.equal(tierOf('clauses/match/Match4.feature'), 2);
  t.equal(tierOf('clauses/match/Match9.feature'), 3);
  t.equal(tierOf('clauses/match-where/MatchWhere6.feature'), 2);
  t.equal(tierOf('expressions/temporal/Temporal1.feature'), 3);
  t.equal(tierOf('clauses/with-orderBy/WithOrderBy1.feature'), 2);
});

const one = (body: string) => {
  const [s] = parseFeature(feature(body), 'x/Demo1.feature');
  if (!s) throw new Error('no scenario');
  return s;
};

t.test('a matching result with side effects passes; wrong side effects fail', async (t) => {
  const s = one(`
  Scenario: [1] Create
    Given an empty graph
    And having executed:
      """
      SETUP
      """
    When executing query:
      """
      CREATE (n:A) RETURN n
      """
    Then the result should be, in any order:
      | n    |
      | (:A) |
    And the side effects should be:
      | +nodes | 1 |
`);
  const good = scripted({
    SETUP: { addNodes: ['0'] },
    'CREATE (n:A) RETURN n': { columns: ['n'], rows: [[new NodeValue(1, ['A'], {})]], addNodes: ['1'] },
  });
  const r = runScenario(s, good);
  t.ok(r.passed, r.reason ?? "passed");
  t.equal(good.closed, 1);
  const bad = runScenario(
    s,
    scripted({ SETUP: {}, 'CREATE (n:A) RETURN n': { columns: ['n'], rows: [[new NodeValue(1, ['A'], {})]] } }),
  );
  t.notOk(bad.passed);
  t.match(bad.reason, /side effects differ: expected \+nodes 1; got none/);
});

t.test('expected errors check the code and the phase, not the detail', async (t) => {
  const s = one(`
  Scenario: [1] Fails
    Given any graph
    When executing query:
      """
      Q
      """
    Then a SyntaxError should be raised at compile time: UndefinedVariable
`);
  const withDetail = (detail: string, phase: 'compile' | 'runtime', code = 'SYNTAX_ERROR' as const) =>
    scripted({ Q: { error: new GeodeError(code, 'nope', { detail, phase }) } });
  const exact = runScenario(s, withDetail('UndefinedVariable', 'compile'));
  t.ok(exact.passed);
  t.equal(exact.detailMismatch, undefined);
  const otherDetail = runScenario(s, withDetail('VariableTypeConflict', 'compile'));
  t.ok(otherDetail.passed);
  t.match(otherDetail.detailMismatch, /expected detail UndefinedVariable/);
  const wrongPhase = runScenario(s, withDetail('UndefinedVariable', 'runtime'));
  t.notOk(wrongPhase.passed);
  t.match(wrongPhase.category, /wrong error phase/);
  const wrongCode = runScenario(s, scripted({ Q: { error: new GeodeError('TYPE_ERROR', 'x') } }));
  t.notOk(wrongCode.passed);
  t.equal(wrongCode.category, 'wrong error: expected SyntaxError, got TYPE_ERROR');
  const none = runScenario(s, scripted({ Q: { columns: ['x'], rows: [[1n]] } }));
  t.notOk(none.passed);
  t.match(none.reason, /succeeded/);
});

t.test('SemanticError accepts SYNTAX_ERROR; any time accepts either phase', async (t) => {
  const s = one(`
  Scenario: [1] Fails
    Given any graph
    When executing query:
      """
      Q
      """
    Then a SemanticError should be raised at any time: X
`);
  t.ok(runScenario(s, scripted({ Q: { error: new GeodeError('SYNTAX_ERROR', 'x', { phase: 'runtime' }) } })).passed);
  t.ok(runScenario(s, scripted({ Q: { error: new GeodeError('SEMANTIC_ERROR', 'x', { phase: 'compile' }) } })).passed);
});

t.test('parameters are parsed and passed; control queries are checked by the next Then', async (t) => {
  const s = one(`
  Scenario: [1] Params
    Given an empty graph
    And parameters are:
      | p | [1, 'a'] |
    When executing query:
      """
      RETURN $p AS p
      """
    Then the result should be, in order:
      | p        |
      | [1, 'a'] |
    And no side effects
    When executing control query:
      """
      CONTROL
      """
    Then the result should be empty
`);
  let seen: unknown;
  const factory: TckEngineFactory = {
    open: () => ({
      execute(query, params) {
        if (query === 'CONTROL') return { columns: [], rows: [] };
        seen = params['p'];
        return { columns: ['p'], rows: [[params['p'] ?? null]] };
      },
      observe: () => ({ nodes: new Set(), relationships: new Set(), properties: new Set(), labels: new Set() }),
      close: () => undefined,
    }),
  };
  const r = runScenario(s, factory);
  t.ok(r.passed, r.reason ?? "passed");
  t.same(seen, [1n, 'a']);
});

t.test('unsupported steps, failing set-up, and crashes fail only that scenario', async (t) => {
  const tree = one(`
  Scenario: [1] Tree
    Given the binary-tree-1 graph
    When executing query:
      """
      Q
      """
    Then the result should be empty
`);
  const r1 = runScenario(tree, scripted({ Q: {} }));
  t.notOk(r1.passed);
  t.equal(r1.category, 'unsupported: named graph');

  const setup = one(`
  Scenario: [1] Setup
    Given an empty graph
    And having executed:
      """
      BROKEN
      """
    When executing query:
      """
      Q
      """
    Then the result should be empty
`);
  const r2 = runScenario(setup, scripted({ Q: {} }));
  t.notOk(r2.passed);
  t.match(r2.reason, /set-up query failed: SYNTAX_ERROR/);

  const crash: TckEngineFactory = {
    open: () => {
      throw new RangeError('boom');
    },
  };
  const r3 = runScenario(setup, crash);
  t.notOk(r3.passed);
  t.match(r3.reason, /runner crash: RangeError: boom/);

  const badExpected = one(`
  Scenario: [1] Bad table
    Given any graph
    When executing query:
      """
      Q
      """
    Then the result should be, in any order:
      | x     |
      | (:A   |
`);
  const r4 = runScenario(badExpected, scripted({ Q: { columns: ['x'], rows: [[1n]] } }));
  t.notOk(r4.passed);
});

t.test('an unexpected error fails a result check with the error code', async (t) => {
  const s = one(`
  Scenario: [1] Err
    Given any graph
    When executing query:
      """
      Q
      """
    Then the result should be empty
`);
  const r = runScenario(s, scripted({ Q: { error: new GeodeError('TYPE_ERROR', 'bad type') } }));
  t.notOk(r.passed);
  t.equal(r.category, 'unexpected error: TYPE_ERROR');
  t.match(r.details, /query:\nQ/);
});
