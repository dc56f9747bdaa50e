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
   * fails with TIMEOUT and everything it wrote is rolled back. Used for reads
   * and for single-node writes; replicated apply never passes one.
   */
  deadline?: number;
  /** Refuse any statement that would write (WRITE on a read-only path). */
  readOnly?: boolean;
  /** Deterministic work budget: rows touched per statement before WORK_LIMIT. */
  workBudget?: number;
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
