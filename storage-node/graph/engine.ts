/**
 * The graph engine facade: parse (cached), plan (cached), execute one
 * statement atomically in one SQLite transaction, and the online schema work.
 * Everything non-deterministic comes from the ExecutionContext, so replicas
 * applying the same statement to the same state produce the same writes.
 */
import { LRUCache } from 'lru-cache';
import { ErrorCode, GeodeError, isGeodeError } from '../../shared/protocol/errors.js';
import { NodeValue, PathValue, RelationshipValue, isMap } from '../../shared/gql/values.js';
import type { Value, ValueMap } from '../../shared/gql/values.js';
import { classify, collectParameters, parse } from '../../shared/gql/index.js';
import type { Expr, PatternPart, QueryStatement, Statement, StatementKind, SystemSelectStatement } from '../../shared/gql/index.js';
import { StatementBudget, compileExpression } from './eval/index.js';
import type { CompiledExpr, EvalContext, PatternHost, Row } from './eval/index.js';
import { LIST_BYTES, SLOT_BYTES } from './eval/budget.js';
import type { ExecuteOptions, ExecutionContext, GraphObservation, QueryResult } from './types.js';
import { canonicalValue, decodeProperties, encodeProperties } from './encoding.js';
import { compileQuery, explainPlan, runQuery } from './executor.js';
import type { Execution, QueryPlan } from './executor.js';
import { PatternMatcher } from './patterns.js';
import { SeededRandom } from './prng.js';
import { SchemaState } from './schema.js';
import { GraphStore } from './store.js';
import { GraphTransaction, NEEDS_SNAPSHOT } from './transaction.js';

export { DEFAULT_MEMORY_BUDGET, MAX_MEMORY_BUDGET } from './eval/budget.js';

/**
 * Recommended work budget (ExecuteOptions.workBudget, rows touched or
 * equivalent) for replicated writes, which run with no deadline. Measured on
 * the 2-core dev machine (load average 1-3): seventeen write shapes run to
 * this budget took 0.28-1.45 s (slowest: SET of two indexed properties on
 * every node, 1.45 s; CREATE of relationships over a cartesian product,
 * 1.37 s; appending to a string in reduce, 1.27 s; unbounded var-length paths,
 * 0.82 s). A 10k-row `UNWIND $rows AS r CREATE (...)` with two indexes fits in
 * a fifth of it (test/storage-node/graph/budgets.test.ts).
 */
export const DEFAULT_WRITE_WORK_BUDGET = 500_000;

export interface GraphEngineOptions {
  /** Parsed statements and plans kept per query text. */
  planCacheSize?: number;
  /** Rows of the read-only system views, by view name (`replication_status`, `cluster_nodes`, `region_status`). */
  systemViews?: () => Record<string, ValueMap[]>;
}

interface Prepared {
  stmt: Statement;
  kind: StatementKind;
  parameters: string[];
  plan: QueryPlan | null;
  /** A read of this text once needed more than one SQLite statement: it always runs in a transaction. */
  multiStatement: boolean;
}

const DEFAULT_VIEWS = (): Record<string, ValueMap[]> => ({
  cluster_nodes: [{ node_id: 'local', role: 'standalone', status: 'healthy', replication_lag_ms: 0n }],
  replication_status: [],
  region_status: [],
});

/** Copies a value so that the caller may keep it after the statement's live entities change. */
function snapshot(value: Value): Value {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(snapshot);
  if (value instanceof NodeValue) return new NodeValue(value.id, [...value.labels], { ...value.properties });
  if (value instanceof RelationshipValue) return new RelationshipValue(value.id, value.type, value.start, value.end, { ...value.properties });
  if (value instanceof PathValue) {
    return new PathValue(
      value.nodes.map((n) => snapshot(n) as NodeValue),
      value.relationships.map((r) => snapshot(r) as RelationshipValue),
    );
  }
  if (isMap(value)) {
    const out: ValueMap = {};
    for (const key in value) out[key] = snapshot(value[key] ?? null);
    return out;
  }
  return value;
}

/** Compiled pattern predicates and subqueries, per AST node (the AST lives as long as its cached plan). */
interface PatternCaches {
  matchers: WeakMap<PatternPart[], PatternMatcher>;
  wheres: WeakMap<Expr, CompiledExpr>;
  subqueries: WeakMap<QueryStatement, QueryPlan>;
}

/**
 * The evaluator's view of one statement: parameters, the fixed clock, seeded
 * randomness, deletion checks, and pattern predicates / subqueries run
 * against this statement's transaction. A class, so that a statement
 * allocates one object and no closures.
 */
class StatementContext implements EvalContext, PatternHost {
  readonly patterns: PatternHost = this;
  readonly now: number;
  private rng: SeededRandom | undefined;

  readonly budget: StatementBudget;

  constructor(
    private readonly tx: GraphTransaction,
    readonly params: ValueMap,
    private readonly context: ExecutionContext,
    private readonly caches: PatternCaches,
  ) {
    this.now = context.now;
    this.budget = tx.budget;
  }

  random(): number {
    return (this.rng ??= new SeededRandom(this.context.seed)).next();
  }

  randomUUID(): string {
    return (this.rng ??= new SeededRandom(this.context.seed)).uuid();
  }

  isDeleted(entity: NodeValue | RelationshipValue): boolean {
    return this.tx.isDeleted(entity);
  }

  nodeById(id: number): NodeValue | null {
    return this.tx.endpoint(id);
  }

  *matchPattern(parts: PatternPart[], where: Expr | null, row: Row, ctx: EvalContext): Generator<Row> {
    let matcher = this.caches.matchers.get(parts);
    if (matcher === undefined) {
      matcher = new PatternMatcher(parts);
      this.caches.matchers.set(parts, matcher);
    }
    let filter: CompiledExpr | undefined;
    if (where !== null) {
      filter = this.caches.wheres.get(where);
      if (filter === undefined) {
        filter = compileExpression(where);
        this.caches.wheres.set(where, filter);
      }
    }
    const ex: Execution = { tx: this.tx, ctx };
    const budget = this.budget;
    for (const extended of matcher.match(row, ex)) {
      const mark = budget.held;
      if (filter === undefined || filter(extended, ctx) === true) yield extended;
      budget.held = mark;
    }
  }

  runSubquery(query: QueryStatement, row: Row, ctx: EvalContext): Iterable<Row> {
    let plan = this.caches.subqueries.get(query);
    if (plan === undefined) {
      plan = compileQuery(query, new Set(row.keys()));
      this.caches.subqueries.set(query, plan);
    }
    return runQuery(plan, { tx: this.tx, ctx }, row);
  }
}

export class GraphEngine {
  private readonly cache: LRUCache<string, Prepared>;
  private readonly patternCaches: PatternCaches = {
    matchers: new WeakMap(),
    wheres: new WeakMap(),
    subqueries: new WeakMap(),
  };
  private inTransaction = false;

  private constructor(
    private readonly store: GraphStore,
    private readonly schema: SchemaState,
    private readonly options: GraphEngineOptions,
  ) {
    this.cache = new LRUCache({ max: options.planCacheSize ?? 1000 });
  }

  static open(path: string, options: GraphEngineOptions = {}): GraphEngine {
    const store = new GraphStore(path);
    return new GraphEngine(store, new SchemaState(store), options);
  }

  /** The underlying database, for tests and benchmarks that compare against hand-written SQL. */
  get database(): GraphStore['db'] {
    return this.store.db;
  }

  private prepare(query: string): Prepared {
    const cached = this.cache.get(query);
    if (cached !== undefined) return cached;
    const stmt = parse(query);
    const prepared: Prepared = {
      stmt,
      kind: classify(stmt),
      parameters: [...collectParameters(stmt)],
      plan: stmt.kind === 'Query' ? compileQuery(stmt) : null,
      multiStatement: false,
    };
    this.cache.set(query, prepared);
    return prepared;
  }

  /** Operator names of the plan the query would run with now (index use depends on ready indexes). */
  explain(query: string): string[] {
    const prepared = this.prepare(query);
    if (prepared.plan === null) return [prepared.stmt.kind];
    const tx = new GraphTransaction(this.store, this.schema, new StatementBudget(), false);
    return explainPlan(prepared.plan, tx);
  }

  execute(query: string, params: ValueMap, context: ExecutionContext, options: ExecuteOptions = {}): QueryResult {
    const prepared = this.prepare(query);
    const { stmt, kind } = prepared;
    if (stmt.kind === 'SessionSet') {
      throw new GeodeError(ErrorCode.UNSUPPORTED, 'session settings are answered by the gateway', { phase: 'compile' });
    }
    if (options.readOnly === true && kind !== 'read' && kind !== 'admin') {
      throw new GeodeError(ErrorCode.UNSUPPORTED, 'This path is read-only; the statement would write', { phase: 'compile', detail: 'WriteOnReadOnlyPath' });
    }
    for (const name of prepared.parameters) {
      if (!Object.hasOwn(params, name)) {
        throw new GeodeError(ErrorCode.PARAMETER_MISSING, `Expected parameter $${name}`, { phase: 'runtime', detail: 'MissingParameter' });
      }
    }
    if (this.inTransaction) throw new GeodeError(ErrorCode.INTERNAL, 'execute() re-entered during a statement');
    // Inside a caller's transaction (replication applies a batch of entries in one), a statement is a savepoint.
    const nested = this.store.db.inTransaction;
    // A read that needs one SQLite statement (a point lookup) needs no transaction around it: that statement
    // is a consistent snapshot by itself, and BEGIN plus COMMIT cost about a third of such a read. The bet
    // is checked: a second statement throws NEEDS_SNAPSHOT, and the read runs again in a transaction, as
    // every later read of the same text does (reads change nothing, so running one twice is harmless).
    if (kind === 'read' && stmt.kind === 'Query' && !prepared.multiStatement && !nested) {
      try {
        return this.run(prepared, params, context, options, 'single');
      } catch (err) {
        if (err !== NEEDS_SNAPSHOT) throw err;
        prepared.multiStatement = true;
      }
    }
    return this.run(prepared, params, context, options, nested ? 'savepoint' : 'transaction');
  }

  private run(prepared: Prepared, params: ValueMap, context: ExecutionContext, options: ExecuteOptions, scope: 'single' | 'savepoint' | 'transaction'): QueryResult {
    const { stmt, kind } = prepared;
    const budget = new StatementBudget({ deadline: options.deadline, workBudget: options.workBudget, memoryBudget: options.memoryBudget });
    const tx = new GraphTransaction(this.store, this.schema, budget, kind !== 'read');
    tx.singleStatement = scope === 'single';
    const ctx = new StatementContext(tx, params, context, this.patternCaches);
    const ex: Execution = { tx, ctx };
    this.inTransaction = true;
    const nested = scope === 'savepoint';
    const counters = this.store.counterMark();
    if (nested) this.store.savepoint.run();
    else if (scope === 'transaction') this.store.begin.run();
    try {
      let columns: string[] = [];
      let rows: Value[][] = [];
      switch (stmt.kind) {
        case 'Query': {
          const plan = prepared.plan as QueryPlan;
          columns = plan.columns;
          for (const row of runQuery(plan, ex)) {
            const out: Value[] = new Array<Value>(columns.length);
            // Result rows are kept (and copied by snapshot) until the caller has them.
            budget.retain(LIST_BYTES + columns.length * SLOT_BYTES, 'result rows');
            for (let i = 0; i < columns.length; i++) {
              const value = row.get(columns[i] as string) ?? null;
              budget.retainValue(value, 'result rows');
              out[i] = value;
            }
            rows.push(out);
          }
          if (options.deadline !== undefined) tx.checkDeadline();
          tx.finish();
          for (const row of rows) for (let i = 0; i < row.length; i++) row[i] = snapshot(row[i] ?? null);
          break;
        }
        case 'CreateIndex':
          this.schema.createIndex(stmt, tx.stats);
          break;
        case 'DropIndex':
          this.schema.dropIndex(stmt, tx.stats);
          break;
        case 'AlterGraphAddProperty':
          this.schema.addProperty(stmt, compileExpression(stmt.defaultValue)(new Map(), ctx), tx.stats);
          break;
        case 'ClusterSet': {
          const value = typeof stmt.value === 'number' ? BigInt(Math.trunc(stmt.value)) : stmt.value;
          this.store.db
            .prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value')
            .run(stmt.setting, encodeProperties({ v: value }));
          break;
        }
        case 'SystemSelect':
          ({ columns, rows } = this.systemSelect(stmt, ex));
          break;
      }
      const result: QueryResult = { columns, rows, stats: tx.stats, kind };
      options.beforeCommit?.(result);
      if (nested) this.store.releaseSavepoint.run();
      else if (scope === 'transaction') {
        // A statement on its own writes the id counters it moved; inside a batch the batch does (inBatch).
        this.store.saveCounters();
        this.store.commit.run();
      }
      return result;
    } catch (err) {
      // A read that bet on one statement and needs more: nothing to undo, the caller runs it again.
      if (err === NEEDS_SNAPSHOT) throw err;
      if (nested) {
        this.store.rollbackToSavepoint.run();
        this.store.releaseSavepoint.run();
      }
      else if (this.store.db.inTransaction) this.store.rollback.run();
      // Inside a batch nothing was written: give the statement's ids back. On its own, re-read what the rollback left.
      if (nested) this.store.restoreCounters(counters);
      else this.store.loadCounters();
      this.schema.reload();
      if (isGeodeError(err)) throw err;
      if (err instanceof RangeError && /call stack/i.test(err.message)) {
        throw new GeodeError(ErrorCode.WORK_LIMIT, 'Query recursion too deep', { phase: 'runtime' });
      }
      // V8's own size limits, should a value slip past the estimates: the statement is over budget, not a bug.
      if (err instanceof RangeError && /invalid (string|array) length|maximum size exceeded/i.test(err.message)) {
        throw new GeodeError(ErrorCode.MEMORY_LIMIT, `Statement exceeded the engine's size limits: ${err.message}`, { phase: 'runtime' });
      }
      throw new GeodeError(ErrorCode.INTERNAL, err instanceof Error ? err.message : String(err), { phase: 'runtime' });
    } finally {
      this.inTransaction = false;
    }
  }

  private systemSelect(stmt: SystemSelectStatement, ex: Execution): { columns: string[]; rows: Value[][] } {
    const views = (this.options.systemViews ?? DEFAULT_VIEWS)();
    const source = views[stmt.view] ?? (this.options.systemViews !== undefined ? DEFAULT_VIEWS()[stmt.view] : undefined);
    if (source === undefined) {
      throw new GeodeError(ErrorCode.NOT_FOUND, `Unknown system view system.${stmt.view}`, { phase: 'compile', detail: 'UnknownSystemView' });
    }
    const where = stmt.where === null ? null : compileExpression(stmt.where);
    const input: Row[] = [];
    const names: string[] = [];
    for (const record of source) {
      const row: Row = new Map(Object.entries(record));
      for (const key of row.keys()) if (!names.includes(key)) names.push(key);
      if (where === null || where(row, ex.ctx) === true) input.push(row);
    }
    if (stmt.items === null) {
      return { columns: names, rows: input.map((row) => names.map((n) => snapshot(row.get(n) ?? null))) };
    }
    const plan = compileQuery(
      {
        kind: 'Query',
        pos: stmt.pos,
        unionAll: [],
        parts: [
          {
            pos: stmt.pos,
            clauses: [
              { kind: 'Return', pos: stmt.pos, projection: { distinct: false, star: false, items: stmt.items, orderBy: [], skip: null, limit: null } },
            ],
          },
        ],
      },
      new Set(names),
    );
    const rows: Value[][] = [];
    const { clauses } = plan.parts[0] as QueryPlan['parts'][number];
    let stream: Iterable<Row> = input;
    for (const clause of clauses) stream = clause.run(stream, ex);
    for (const row of stream) rows.push(plan.columns.map((c) => snapshot(row.get(c) ?? null)));
    return { columns: plan.columns, rows };
  }

  /** Canonical sets of the whole graph, for side-effect counting (TCK). */
  observe(): GraphObservation {
    const nodes = new Set<string>();
    const relationships = new Set<string>();
    const properties = new Set<string>();
    const labels = new Set<string>();
    const db = this.store.db;
    for (const [id, labelText, props] of db.prepare('SELECT id, labels, props FROM nodes').raw(true).safeIntegers(false).iterate() as Iterable<
      [number, string, string]
    >) {
      nodes.add(String(id));
      for (const label of JSON.parse(labelText) as string[]) labels.add(label);
      const decoded = decodeProperties(props);
      for (const key in decoded) properties.add(`node:${id}:${key}=${canonicalValue(decoded[key] ?? null)}`);
    }
    for (const [id, type, start, end, props] of db
      .prepare('SELECT id, type, start_id, end_id, props FROM rels')
      .raw(true)
      .safeIntegers(false)
      .iterate() as Iterable<[number, string, number, number, string]>) {
      relationships.add(`${id}:${type}:${start}:${end}`);
      const decoded = decodeProperties(props);
      for (const key in decoded) properties.add(`relationship:${id}:${key}=${canonicalValue(decoded[key] ?? null)}`);
    }
    return { nodes, relationships, properties, labels };
  }

  /** One bounded slice of online schema work in its own transaction; true while more remains. */
  backgroundStep(maxRows = 1000): boolean {
    if (!this.schema.hasPendingWork()) return false;
    const run = this.store.db.transaction(() => this.schema.step(Math.max(1, maxRows)));
    try {
      return run();
    } catch (err) {
      this.schema.reload();
      throw err;
    }
  }

  /** A cluster setting written by `SET CLUSTER ...`, or null when never set. */
  getSetting(name: string): Value {
    const row = this.store.db.prepare('SELECT value FROM settings WHERE name = ?').pluck().get(name) as string | undefined;
    return row === undefined ? null : (decodeProperties(row)['v'] ?? null);
  }

  /**
   * Runs `body` in one SQLite transaction in which every execute() is a
   * savepoint, as replication applies a batch of entries. The id counters are
   * written once, at the batch's end, rather than by every statement that
   * created something; a statement rolled back to its savepoint gives its ids
   * back in memory. If `body` throws, everything rolls back (call
   * refreshSchema() to re-read the counters).
   */
  inBatch(body: () => void): void {
    this.store.db.transaction(() => {
      body();
      this.store.saveCounters();
    })();
  }

  /**
   * Re-reads schema state (indexes, property defaults, id counters) written by
   * another connection to the same file: read replicas call this after the
   * apply loop changed the schema.
   */
  refreshSchema(): void {
    this.schema.reload();
    this.store.loadCounters();
    this.cache.clear();
  }

  close(): void {
    this.cache.clear();
    this.store.close();
  }
}
