/**
 * Executes TCK scenarios against a fresh engine each and judges the outcome.
 * A crash inside one scenario is that scenario's failure, never the run's.
 */
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import type { GraphObservation } from '../../../storage-node/graph/types.js';
import { compareTables } from './compare.js';
import type { TckEngine, TckEngineFactory } from './engine.js';
import type { TckScenario, TckStep, Tier } from './features.js';
import { formatTckValue, parseTckValue } from './values.js';

/** Fixed clock for every query: 2024-01-01T00:00:00Z. */
export const TCK_NOW = Date.UTC(2024, 0, 1);
export const TCK_SEED = 'tck';
/** Per-query wall-clock budget; the engine rolls back and throws TIMEOUT past it. */
export const QUERY_BUDGET_MS = 30_000;

export interface ScenarioResult {
  id: string;
  tier: Tier;
  passed: boolean;
  /** One line: why it failed. */
  reason?: string;
  /** A coarse bucket of the reason, for summaries. */
  category?: string;
  /** Who most likely owns the failure: compile-time errors and parse failures are the front end's. */
  side?: FailureSide;
  /** Multi-line diagnostics: query, expected, actual. */
  details?: string;
  /** An error detail that differed from the TCK's (diagnostics only; not a failure). */
  detailMismatch?: string;
}

/** TCK error type -> the GeodeError codes that satisfy it. */
export const ERROR_CODES: Readonly<Record<string, readonly string[]>> = {
  SyntaxError: ['SYNTAX_ERROR'],
  SemanticError: ['SEMANTIC_ERROR', 'SYNTAX_ERROR'],
  TypeError: ['TYPE_ERROR'],
  ArgumentError: ['ARGUMENT_ERROR'],
  EntityNotFound: ['ENTITY_NOT_FOUND'],
  ParameterMissing: ['PARAMETER_MISSING'],
  ConstraintVerificationFailed: ['CONSTRAINT_VIOLATION'],
  ProcedureError: ['PROCEDURE_ERROR'],
};

const SIDE_EFFECT_KEYS = [
  '+nodes',
  '-nodes',
  '+relationships',
  '-relationships',
  '+properties',
  '-properties',
  '+labels',
  '-labels',
] as const;
type SideEffects = Record<(typeof SIDE_EFFECT_KEYS)[number], number>;

export type FailureSide = 'front end' | 'engine' | 'unsupported' | 'runner';

class ScenarioFailure extends Error {
  constructor(
    readonly category: string,
    reason: string,
    readonly details?: string,
    readonly side: FailureSide = category.startsWith('unsupported')
      ? 'unsupported'
      : category.startsWith('runner')
        ? 'runner'
        : 'engine',
  ) {
    super(reason);
  }
}

/** An error raised at compile time (by parse()) is the front end's doing. */
function sideOf(e: ErrorInfo): FailureSide {
  return e.phase === 'compile' ? 'front end' : 'engine';
}

function errorCategory(e: ErrorInfo): string {
  return e.detail !== undefined ? `${e.code}/${e.detail}` : e.code;
}

interface ErrorInfo {
  code: string;
  message: string;
  detail: string | undefined;
  phase: string | undefined;
}

function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; detail?: unknown; phase?: unknown };
    return {
      code: typeof e.code === 'string' ? e.code : `JS:${e.name}`,
      message: e.message,
      detail: typeof e.detail === 'string' ? e.detail : undefined,
      phase: typeof e.phase === 'string' ? e.phase : undefined,
    };
  }
  return { code: 'JS:thrown', message: String(err), detail: undefined, phase: undefined };
}

function describeError(e: ErrorInfo): string {
  const extra = [e.detail, e.phase].filter((x) => x !== undefined).join(', ');
  return `${e.code}${extra ? ` (${extra})` : ''}: ${firstLine(e.message)}`;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

function formatRows(columns: string[], rows: Value[][]): string {
  const lines = [`  | ${columns.join(' | ')} |`];
  for (const row of rows.slice(0, 50)) lines.push(`  | ${row.map(formatTckValue).join(' | ')} |`);
  if (rows.length > 50) lines.push(`  ... ${rows.length - 50} more rows`);
  return lines.join('\n');
}

function diffObservations(before: GraphObservation, after: GraphObservation): SideEffects {
  const added = (a: Set<string>, b: Set<string>): number => {
    let n = 0;
    for (const x of b) if (!a.has(x)) n++;
    return n;
  };
  return {
    '+nodes': added(before.nodes, after.nodes),
    '-nodes': added(after.nodes, before.nodes),
    '+relationships': added(before.relationships, after.relationships),
    '-relationships': added(after.relationships, before.relationships),
    '+properties': added(before.properties, after.properties),
    '-properties': added(after.properties, before.properties),
    '+labels': added(before.labels, after.labels),
    '-labels': added(after.labels, before.labels),
  };
}

function formatSideEffects(effects: SideEffects): string {
  const nonzero = SIDE_EFFECT_KEYS.filter((k) => effects[k] !== 0).map((k) => `${k} ${effects[k]}`);
  return nonzero.length > 0 ? nonzero.join(', ') : 'none';
}

interface Outcome {
  query: string;
  result?: { columns: string[]; rows: Value[][] };
  error?: ErrorInfo;
}

class ScenarioRun {
  private params: ValueMap = {};
  private last: Outcome | undefined;
  private sideEffects: SideEffects | undefined;
  private detailMismatch: string | undefined;

  constructor(
    private readonly engine: TckEngine,
    private readonly now: () => number,
  ) {}

  private execute(query: string): { columns: string[]; rows: Value[][] } {
    return this.engine.execute(
      query,
      this.params,
      { now: TCK_NOW, seed: TCK_SEED },
      { deadline: this.now() + QUERY_BUDGET_MS },
    );
  }

  private run(query: string): Outcome {
    try {
      return { query, result: this.execute(query) };
    } catch (err) {
      return { query, error: errorInfo(err) };
    }
  }

  step(step: TckStep): void {
    const text = step.text;
    if (text === 'an empty graph' || text === 'any graph') return;
    if (/^the \S+ graph$/.test(text)) {
      throw new ScenarioFailure('unsupported: named graph', `unsupported step: Given ${text}`);
    }
    if (text.startsWith('there exists a procedure')) {
      throw new ScenarioFailure('unsupported: test procedure', `unsupported step: ${text}`);
    }
    if (text === 'having executed:') return this.setup(step.docString ?? '');
    if (text === 'parameters are:') return this.parameters(step.table ?? []);
    if (text === 'executing query:') return this.query(step.docString ?? '');
    if (text === 'executing control query:') {
      this.last = this.run(step.docString ?? '');
      return;
    }
    const resultStep = /^the result should be(?:, in (any order|order))?(?: \(ignoring element order for lists\))?:$/.exec(
      text,
    );
    if (resultStep) {
      return this.expectTable(step.table ?? [], resultStep[1] === 'order', text.includes('ignoring element order'));
    }
    if (text === 'the result should be empty') return this.expectEmpty();
    const errorStep = /^an? (\w+) should be raised at (compile time|runtime|any time): ?(.*)$/.exec(text);
    if (errorStep) return this.expectError(errorStep[1] ?? '', errorStep[2] ?? '', errorStep[3] ?? '');
    if (text === 'the side effects should be:') return this.expectSideEffects(step.table ?? []);
    if (text === 'no side effects') return this.expectSideEffects([]);
    throw new ScenarioFailure('runner: unknown step', `unknown step: ${text}`);
  }

  private setup(query: string): void {
    const outcome = this.run(query);
    if (outcome.error) {
      throw new ScenarioFailure(
        `setup failed: ${errorCategory(outcome.error)}`,
        `set-up query failed: ${describeError(outcome.error)}`,
        `set-up query:\n${query}`,
        sideOf(outcome.error),
      );
    }
  }

  private parameters(table: string[][]): void {
    for (const row of table) {
      const [name, text] = row;
      if (name === undefined || text === undefined) continue;
      this.params[name] = parseTckValue(text);
    }
  }

  private query(query: string): void {
    const before = this.engine.observe();
    this.last = this.run(query);
    this.sideEffects = diffObservations(before, this.engine.observe());
  }

  private requireResult(): { outcome: Outcome; result: { columns: string[]; rows: Value[][] } } {
    const outcome = this.last;
    if (!outcome) throw new ScenarioFailure('runner: no query', 'result checked before any query ran');
    if (outcome.error || !outcome.result) {
      const e = outcome.error ?? errorInfo(new Error('no result'));
      throw new ScenarioFailure(
        `unexpected error: ${errorCategory(e)}`,
        `query failed: ${describeError(e)}`,
        `query:\n${outcome.query}\nerror: ${describeError(e)}`,
        sideOf(e),
      );
    }
    return { outcome, result: outcome.result };
  }

  private expectTable(table: string[][], ordered: boolean, ignoreListOrder: boolean): void {
    const { outcome, result } = this.requireResult();
    const [header = [], ...body] = table;
    const rows = body.map((r) => r.map(parseTckValue));
    const mismatch = compareTables({ columns: header, rows, ordered, ignoreListOrder }, result);
    if (mismatch !== null) {
      const category = mismatch.startsWith('columns')
        ? 'result: columns'
        : mismatch.startsWith('row count')
          ? 'result: row count'
          : 'result: values';
      throw new ScenarioFailure(
        category,
        mismatch,
        `query:\n${outcome.query}\nexpected${ordered ? ' (in order)' : ''}:\n${formatRows(header, rows)}\nactual:\n${formatRows(result.columns, result.rows)}`,
      );
    }
  }

  private expectEmpty(): void {
    const { outcome, result } = this.requireResult();
    if (result.rows.length > 0) {
      throw new ScenarioFailure(
        'result: row count',
        `expected no rows, got ${result.rows.length}`,
        `query:\n${outcome.query}\nactual:\n${formatRows(result.columns, result.rows)}`,
      );
    }
  }

  private expectError(type: string, phase: string, detail: string): void {
    const outcome = this.last;
    if (!outcome) throw new ScenarioFailure('runner: no query', 'error checked before any query ran');
    const expected = `${type} at ${phase}${detail ? `: ${detail}` : ''}`;
    const codes = ERROR_CODES[type];
    if (!codes) throw new ScenarioFailure('runner: unknown error type', `unknown TCK error type ${type}`);
    if (!outcome.error) {
      const rows = outcome.result?.rows.length ?? 0;
      throw new ScenarioFailure(
        `missing error: ${type} at ${phase}`,
        `expected ${expected}, but the query succeeded (${rows} rows)`,
        `query:\n${outcome.query}${outcome.result ? `\nactual:\n${formatRows(outcome.result.columns, outcome.result.rows)}` : ''}`,
        phase === 'compile time' ? 'front end' : 'engine',
      );
    }
    const e = outcome.error;
    if (!codes.includes(e.code)) {
      throw new ScenarioFailure(
        `wrong error: expected ${type}, got ${e.code}`,
        `expected ${expected}, got ${describeError(e)}`,
        `query:\n${outcome.query}`,
        phase === 'compile time' || e.phase === 'compile' ? 'front end' : 'engine',
      );
    }
    const wantPhase = phase === 'compile time' ? 'compile' : phase === 'runtime' ? 'runtime' : undefined;
    if (wantPhase !== undefined && e.phase !== undefined && e.phase !== wantPhase) {
      throw new ScenarioFailure(
        `wrong error phase: ${type} expected at ${phase}`,
        `expected ${expected}, got ${describeError(e)}`,
        `query:\n${outcome.query}`,
        'front end',
      );
    }
    if (detail && detail !== '*' && e.detail !== detail) this.detailMismatch = `expected detail ${detail}, got ${e.detail ?? 'none'}`;
  }

  private expectSideEffects(table: string[][]): void {
    const actual = this.sideEffects;
    if (!actual) throw new ScenarioFailure('runner: no query', 'side effects checked before any query ran');
    const expected: SideEffects = Object.fromEntries(SIDE_EFFECT_KEYS.map((k) => [k, 0])) as SideEffects;
    for (const [key, count] of table) {
      if (key === undefined || !(SIDE_EFFECT_KEYS as readonly string[]).includes(key)) {
        throw new ScenarioFailure('runner: bad side effects table', `unknown side effect key ${String(key)}`);
      }
      expected[key as keyof SideEffects] = Number(count);
    }
    const wrong = SIDE_EFFECT_KEYS.filter((k) => expected[k] !== actual[k]);
    if (wrong.length > 0) {
      throw new ScenarioFailure(
        `side effects: ${wrong.join(' ')}`,
        `side effects differ: expected ${formatSideEffects(expected)}; got ${formatSideEffects(actual)}`,
        `query:\n${this.last?.query ?? ''}`,
      );
    }
  }

  finish(): string | undefined {
    return this.detailMismatch;
  }
}

/** Runs one scenario on a fresh in-memory engine. Never throws. */
export function runScenario(
  scenario: TckScenario,
  factory: TckEngineFactory,
  now: () => number = Date.now,
): ScenarioResult {
  const base = { id: scenario.id, tier: scenario.tier };
  let engine: TckEngine | undefined;
  try {
    engine = factory.open(':memory:');
    const run = new ScenarioRun(engine, now);
    for (const step of scenario.steps) run.step(step);
    const detailMismatch = run.finish();
    return detailMismatch !== undefined ? { ...base, passed: true, detailMismatch } : { ...base, passed: true };
  } catch (err) {
    if (err instanceof ScenarioFailure) {
      const result: ScenarioResult = {
        ...base,
        passed: false,
        reason: err.message,
        category: err.category,
        side: err.side,
      };
      if (err.details !== undefined) result.details = err.details;
      return result;
    }
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return {
      ...base,
      passed: false,
      reason: `runner crash: ${firstLine(message)}`,
      category: 'runner crash',
      side: 'runner',
      details: err instanceof Error && err.stack ? err.stack : message,
    };
  } finally {
    try {
      engine?.close();
    } catch {
      // A failing close must not turn a verdict into a crash.
    }
  }
}
