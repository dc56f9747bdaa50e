/**
 * The contract of the graph engine, as the node API, the replication layer
 * and the TCK runner see it. The engine itself lives beside this file.
 */
import type { StatementKind } from '../../shared/gql/ast.js';
import type { Value } from '../../shared/gql/values.js';

/**
 * Everything non-deterministic a statement may use, fixed from outside so that
 * every replica executing the same statement gets the same result:
 * `now` (epoch milliseconds) feeds `datetime()`/`timestamp()`, `seed` feeds
 * `randomUUID()` and `rand()`.
 */
export interface ExecutionContext {
  now: number;
  seed: string;
}

export interface ExecuteOptions {
  /**
   * Absolute deadline in epoch milliseconds (wall clock). Past it the statement
   * fails with TIMEOUT and everything it wrote is rolled back. Checked every
   * few hundred rows' worth of work in every loop (scans, list building,
   * comprehensions, reduce, UNWIND, path expansion, aggregation, sort, string
   * scans). Used for reads and for single-node writes; replicated apply never
   * passes one.
   */
  deadline?: number;
  /** Refuse any statement that would write (WRITE on a read-only path). */
  readOnly?: boolean;
  /**
   * Deterministic work budget, in rows touched: a row read, created, updated or
   * deleted, or an index entry written, counts 1; a list element built or
   * scanned, a comprehension/reduce iteration, a path step or a sort comparison
   * counts 1/64 (ROW_WORK). Over it: WORK_LIMIT, nothing written. The count
   * depends only on the statement and the graph, so every replica stops a
   * write at the same point. Replicated writes: DEFAULT_WRITE_WORK_BUDGET (engine.ts).
   */
  workBudget?: number;
  /**
   * Memory budget in bytes (estimated, deterministic): lists, strings, maps,
   * aggregation state, DISTINCT/UNION sets, sort buffers, rows kept by updating
   * clauses, entities a write touches, and result rows. Over it: MEMORY_LIMIT,
   * nothing written. Default DEFAULT_MEMORY_BUDGET (256 MiB); values above
   * MAX_MEMORY_BUDGET (1 GiB) are clamped (see eval/budget.ts).
   */
  memoryBudget?: number;
  /**
   * Runs inside the statement's transaction just before it commits, with the
   * statement's result (only when the statement succeeded). Replication
   * records the applied log index and the request's result here, so applying
   * and recording are one transaction. If it throws, the statement rolls back.
   */
  beforeCommit?: (result: QueryResult) => void;
}

/** Counters of what a statement changed. */
export interface QueryStats {
  nodesCreated: number;
  nodesDeleted: number;
  relationshipsCreated: number;
  relationshipsDeleted: number;
  propertiesSet: number;
  labelsAdded: number;
  labelsRemoved: number;
  indexesAdded: number;
  indexesRemoved: number;
}

export interface QueryResult {
  columns: string[];
  /** One array per row, in `columns` order. */
  rows: Value[][];
  stats: QueryStats;
  kind: StatementKind;
}

/**
 * A snapshot of the graph for the TCK's side-effect counting: each set holds
 * canonical strings, so a before/after difference gives +/- counts.
 */
export interface GraphObservation {
  nodes: Set<string>;
  relationships: Set<string>;
  /** `entityKind:id:key=canonicalValue` triples. */
  properties: Set<string>;
  /** Distinct labels in use. */
  labels: Set<string>;
}
