/**
 * Per-statement budgets: memory (estimated bytes), deterministic work, and the
 * wall-clock deadline. One StatementBudget per execute(); the evaluator, the
 * executor, the pattern matcher and the transaction all charge it.
 *
 * Memory is two counters checked together against one limit:
 * - `held`: values built for the rows in flight. Every loop that produces
 *   rows or elements takes a mark (`budget.held`) when it receives an item and
 *   sets `held` back to the mark before it asks for the next one, so the values
 *   of a row that has moved on stop counting. Producers run below their
 *   consumers on the call stack, so marks nest: at any moment `held` is what
 *   the rows and expressions currently in progress have built. A long scan
 *   never accumulates.
 * - `retained`: what the statement keeps until it ends (aggregation state,
 *   DISTINCT and UNION sets, sort buffers, the rows an updating clause drains,
 *   entities a write loads or creates, result rows). Objects are counted once
 *   however many rows share them.
 * Sizes are estimates from the values alone (never the real heap, which would
 * differ between replicas), computed before allocating whenever the size is
 * known in advance. Hard caps on list and string length keep every value far
 * from V8's fatal limits whatever the configured budget.
 *
 * Work is counted in units of 1/ROW_WORK of a row touched: a row read or
 * written costs ROW_WORK, a list element built or scanned costs 1. The count
 * depends only on the statement and the graph, so every replica refuses the
 * same write at the same point. The deadline is read every
 * DEADLINE_CHECK_EVERY units.
 */
import { ErrorCode, GeodeError } from '../../../shared/protocol/errors.js';
import { NodeValue, PathValue, RelationshipValue, TemporalValue } from '../../../shared/gql/values.js';
import type { Value, ValueMap } from '../../../shared/gql/values.js';

/** Default memory budget of a statement when the caller gives none (bytes). */
export const DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024;
/**
 * Largest memory budget honoured (bytes); larger values are clamped. V8's heap
 * is about 4 GiB here and estimates can be half the real size, so a larger
 * budget could let one statement exhaust the heap, which aborts the process.
 */
export const MAX_MEMORY_BUDGET = 1024 * 1024 * 1024;
/** Longest list any operation may build (V8 aborts the process past ~1.3e8 elements). */
export const MAX_LIST_LENGTH = 1 << 26;
/** Longest string any operation may build (V8's limit is 2^29 - 24 characters). */
export const MAX_STRING_LENGTH = 1 << 28;

/** Work units of one row touched (read, created, updated, deleted, or an index entry written). */
export const ROW_WORK = 64;
/** Work units of one iteration of a list comprehension, reduce or quantifier (it evaluates expressions, a list element only copies). */
export const ITERATION_WORK = 4;
/** Work units between two reads of the wall clock (about 256 rows). */
const DEADLINE_CHECK_EVERY = 256 * ROW_WORK;

// Estimated bytes, measured on Node 20 (x64, no pointer compression) with --expose-gc.
/** One element slot of an array or one field. */
export const SLOT_BYTES = 8;
/** An array's header and growth slack. */
export const LIST_BYTES = 32;
/** A boxed BigInt (measured 26 B with its slot). */
export const BIGINT_BYTES = 24;
/** A boxed float. */
export const FLOAT_BYTES = 16;
/** A string's header; characters count 2 bytes (two-byte strings; one-byte ones cost half). */
export const STRING_BYTES = 24;
/** A concatenation node (ConsString) that a string built by appending keeps until flattened. */
export const CONS_BYTES = 32;
/** A plain object (map value) header, and one property. */
export const MAP_BYTES = 56;
export const MAP_ENTRY_BYTES = 24;
/** A row (Map): its hash table even with one entry (measured 194 B), and one more entry. */
export const ROW_BYTES = 200;
export const ROW_ENTRY_BYTES = 24;
/** A node or relationship: the object, its labels array, its properties object and identity-map entry. */
export const ENTITY_BYTES = 160;
/** A path object. */
export const PATH_BYTES = 48;
/** One entry of a Set or Map keyed by a string (the string itself counted apart). */
export const SET_ENTRY_BYTES = 48;

/** Estimated size of a string of `length` characters. */
export function stringBytes(length: number): number {
  return STRING_BYTES + 2 * length;
}

/** Bytes of a scalar that a container holding it keeps besides its slot (strings and containers are charged where they are built). */
export function scalarBytes(v: Value): number {
  switch (typeof v) {
    case 'bigint':
      return BIGINT_BYTES;
    case 'number':
      return FLOAT_BYTES;
    default:
      return 0;
  }
}

/** Cached deep sizes of large lists and maps: values are never mutated once built, so a size stays true. */
const sizes = new WeakMap<object, number>();
/** Lists and maps with fewer elements are re-walked rather than cached (weak entries cost the collector more than the walk). */
const CACHE_MIN_ELEMENTS = 32;

/** Remembers the size of a list or map just built (its estimate was computed while building it). */
export function rememberSize(value: Value[] | ValueMap, bytes: number): void {
  sizes.set(value, bytes);
}

/** Estimated bytes of `props`, the property map of a node or relationship. */
export function propertiesBytes(props: ValueMap): number {
  let bytes = MAP_BYTES;
  for (const key in props) bytes += MAP_ENTRY_BYTES + 2 * key.length + sizeOf(props[key] ?? null);
  return bytes;
}

/**
 * Estimated bytes of a value, deep. Lists and maps are walked once and cached;
 * nodes and relationships are walked each time (SET changes them in place).
 */
export function sizeOf(v: Value): number {
  switch (typeof v) {
    case 'string':
      return stringBytes(v.length);
    case 'bigint':
      return BIGINT_BYTES;
    case 'number':
      return FLOAT_BYTES;
    case 'boolean':
      return 0;
    default:
      break;
  }
  if (v === null) return 0;
  let bytes: number;
  if (Array.isArray(v)) {
    if (v.length < CACHE_MIN_ELEMENTS) {
      bytes = LIST_BYTES;
      for (let i = 0; i < v.length; i++) bytes += SLOT_BYTES + sizeOf(v[i] ?? null);
      return bytes;
    }
    const cached = sizes.get(v);
    if (cached !== undefined) return cached;
    bytes = LIST_BYTES;
    for (let i = 0; i < v.length; i++) bytes += SLOT_BYTES + sizeOf(v[i] ?? null);
  } else if (v instanceof NodeValue) {
    let labels = 0;
    for (const label of v.labels) labels += SLOT_BYTES + 2 * label.length;
    return ENTITY_BYTES + labels + propertiesBytes(v.properties);
  } else if (v instanceof RelationshipValue) {
    return ENTITY_BYTES + 2 * v.type.length + propertiesBytes(v.properties);
  } else if (v instanceof PathValue) {
    bytes = PATH_BYTES + 2 * LIST_BYTES;
    for (const node of v.nodes) bytes += SLOT_BYTES + sizeOf(node);
    for (const rel of v.relationships) bytes += SLOT_BYTES + sizeOf(rel);
    return bytes;
  } else if (v instanceof TemporalValue) {
    return MAP_BYTES + stringBytes(v.iso.length);
  } else {
    const cached = sizes.get(v);
    if (cached !== undefined) return cached;
    bytes = propertiesBytes(v);
    if (bytes < MAP_BYTES + CACHE_MIN_ELEMENTS * MAP_ENTRY_BYTES) return bytes;
  }
  sizes.set(v, bytes);
  return bytes;
}

export interface BudgetLimits {
  /** Absolute wall-clock deadline (epoch ms); reads only. */
  deadline?: number | undefined;
  /** Work budget in rows touched (or equivalent work, see ROW_WORK). */
  workBudget?: number | undefined;
  /** Memory budget in bytes; DEFAULT_MEMORY_BUDGET when absent, clamped to MAX_MEMORY_BUDGET. */
  memoryBudget?: number | undefined;
}

/** Lists, maps and entities at least this large are counted once however many rows keep them. */
const SHARED_MIN_BYTES = 1024;

function mib(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

/** The budgets of one statement. Fields are public so the hot paths touch them without calls. */
export class StatementBudget {
  /** Bytes built for the rows and expressions in progress (see the file comment for the mark discipline). */
  held = 0;
  /** Bytes kept until the statement ends. */
  retained = 0;
  readonly memoryLimit: number;
  readonly deadline: number | undefined;
  /** Work units spent; deterministic. */
  spent = 0;
  private readonly workLimit: number;
  /** The next value of `spent` at which the work limit or the deadline is checked. */
  private checkAt: number;
  /** Objects already counted in `retained` (a plain Set: the statement holds them anyway, and it is cheaper to collect than a WeakSet). */
  private counted: Set<object> | undefined;
  /**
   * Set by a statement that may write: every node and relationship it loads or
   * creates is charged once by the transaction (`retainEntity`), so rows and
   * results holding them add nothing for them.
   */
  entitiesCharged = false;

  constructor(limits: BudgetLimits = {}) {
    const memory = limits.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
    this.memoryLimit = Math.min(Math.max(0, memory), MAX_MEMORY_BUDGET);
    this.deadline = limits.deadline;
    this.workLimit = limits.workBudget === undefined ? Number.POSITIVE_INFINITY : limits.workBudget * ROW_WORK;
    this.checkAt = this.nextCheck();
  }

  private nextCheck(): number {
    const deadlineCheck = this.deadline === undefined ? Number.POSITIVE_INFINITY : this.spent + DEADLINE_CHECK_EVERY;
    return Math.min(deadlineCheck, this.workLimit + 1);
  }

  // ---- work and time -----------------------------------------------------------

  /** Counts `units` of work (1 per list element or comparable step); checks the work limit and, now and then, the deadline. */
  work(units: number): void {
    this.spent += units;
    if (this.spent >= this.checkAt) this.checkpoint();
  }

  /** Counts rows touched. */
  touch(rows = 1): void {
    this.spent += rows * ROW_WORK;
    if (this.spent >= this.checkAt) this.checkpoint();
  }

  private checkpoint(): void {
    if (this.spent > this.workLimit) {
      throw new GeodeError(
        ErrorCode.WORK_LIMIT,
        `Statement exceeded its work budget of ${this.workLimit / ROW_WORK} rows touched (or equivalent work: list elements built, path steps, sort comparisons)`,
        { phase: 'runtime' },
      );
    }
    this.checkDeadline();
    this.checkAt = this.nextCheck();
  }

  checkDeadline(): void {
    if (this.deadline !== undefined && Date.now() > this.deadline) {
      throw new GeodeError(ErrorCode.TIMEOUT, 'Query exceeded its time limit; its writes were rolled back', { phase: 'runtime' });
    }
  }

  // ---- memory ------------------------------------------------------------------

  private overMemory(bytes: number, what: string): GeodeError {
    return new GeodeError(
      ErrorCode.MEMORY_LIMIT,
      `Statement exceeded its memory budget of ${this.memoryLimit} bytes (${mib(this.memoryLimit)}): ${what} needed about ${bytes} more bytes with ${this.held + this.retained} in use`,
      { phase: 'runtime', extra: { memory_budget_bytes: this.memoryLimit } },
    );
  }

  /** A value longer than any budget allows (the hard caps that keep V8 far from its fatal limits). */
  private overCap(message: string): GeodeError {
    return new GeodeError(ErrorCode.MEMORY_LIMIT, message, { phase: 'runtime', extra: { memory_budget_bytes: this.memoryLimit } });
  }

  /** Charges a value about to be built for the rows in progress; `what` names it in the error. */
  alloc(bytes: number, what: string): void {
    const held = this.held + bytes;
    if (held + this.retained > this.memoryLimit) throw this.overMemory(bytes, what);
    this.held = held;
  }

  /** Charges a list of `length` elements and `bytes` estimated bytes before it is built. */
  list(length: number, bytes: number, what: string): void {
    if (length > MAX_LIST_LENGTH) throw this.overCap(`${what} would build a list of ${length} elements; the limit is ${MAX_LIST_LENGTH}`);
    this.alloc(bytes, what);
  }

  /** Charges a string of `length` characters before it is built. */
  string(length: number, what: string): void {
    if (length > MAX_STRING_LENGTH) throw this.overCap(`${what} would build a string of ${length} characters; the limit is ${MAX_STRING_LENGTH}`);
    this.alloc(stringBytes(length), what);
  }

  /** Charges state kept until the statement ends. */
  retain(bytes: number, what: string): void {
    const retained = this.retained + bytes;
    if (this.held + retained > this.memoryLimit) throw this.overMemory(bytes, what);
    this.retained = retained;
  }

  /** Bytes `value` adds when kept: containers and entities count once per statement, scalars every time. */
  private keptBytes(value: Value): number {
    if (typeof value === 'string') return stringBytes(value.length);
    if (value === null || typeof value !== 'object') return scalarBytes(value);
    if (this.entitiesCharged && (value instanceof NodeValue || value instanceof RelationshipValue)) return 0;
    const bytes = sizeOf(value);
    // Small values count every time they are kept: cheaper than the lookup, and sharing them costs little.
    if (bytes < SHARED_MIN_BYTES) return bytes;
    const counted = (this.counted ??= new Set());
    if (counted.has(value)) return 0;
    counted.add(value);
    return bytes;
  }

  /** Charges a value kept by an aggregate, a sort buffer or a result row (a slot plus the value, shared values once). */
  retainValue(value: Value, what: string): void {
    this.retain(SLOT_BYTES + this.keptBytes(value), what);
  }

  /**
   * Charges a row kept by a buffer (updating clauses, sort, aggregation groups).
   * A row two buffers keep counts twice (an overestimate, cheaper than a lookup per row); its values count once.
   */
  retainRow(row: Map<string, Value>, what: string): void {
    let bytes = ROW_BYTES + row.size * ROW_ENTRY_BYTES;
    for (const value of row.values()) bytes += this.keptBytes(value);
    this.retain(bytes, what);
  }

  /** Charges an entity a write keeps in its identity map (`bytes` estimated by the caller); called once per entity. */
  retainEntity(bytes: number): void {
    this.retain(bytes, 'the nodes and relationships this write touched');
  }
}

/** Sink for flattenString, so the optimizer cannot drop the read that flattens. */
let flattenSink = 0;

/**
 * Makes V8 copy a string built by appending (a tree of ConsStrings, 32 bytes
 * per append) into one flat string: reading a character flattens it.
 */
export function flattenString(s: string): void {
  flattenSink ^= s.charCodeAt(0);
}

/** Runs shorter than this are sorted with Array.prototype.sort, which cannot be interrupted but is quick at this size. */
const SORT_RUN = 4096;

/**
 * A stable sort that counts its comparisons as work (so the deadline is
 * checked between merge passes): runs of SORT_RUN elements with the built-in
 * sort, then bottom-up merges of n elements per pass.
 */
export function sortWithBudget<T>(items: T[], compare: (a: T, b: T) => number, budget: StatementBudget): T[] {
  const n = items.length;
  if (n <= SORT_RUN) {
    budget.work(n * Math.max(1, Math.ceil(Math.log2(n + 1))));
    return items.sort(compare);
  }
  let source = items;
  for (let start = 0; start < n; start += SORT_RUN) {
    const run = source.slice(start, Math.min(n, start + SORT_RUN)).sort(compare);
    for (let i = 0; i < run.length; i++) source[start + i] = run[i] as T;
    budget.work(run.length * 12);
  }
  budget.list(n, LIST_BYTES + n * SLOT_BYTES, 'ORDER BY (merge buffer)');
  let target = new Array<T>(n);
  for (let width = SORT_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        // `<= 0` takes from the left run on ties: stable.
        if (compare(source[i] as T, source[j] as T) <= 0) target[k++] = source[i++] as T;
        else target[k++] = source[j++] as T;
      }
      while (i < mid) target[k++] = source[i++] as T;
      while (j < hi) target[k++] = source[j++] as T;
      budget.work(hi - lo);
    }
    [source, target] = [target, source];
  }
  if (source !== items) for (let i = 0; i < n; i++) items[i] = source[i] as T;
  return items;
}
