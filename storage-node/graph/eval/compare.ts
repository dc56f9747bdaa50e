/**
 * Equality, comparison, orderability and equivalence of values, as openCypher
 * defines them: `=` and `<` are ternary (null when unknown or incomparable),
 * ORDER BY uses a total order over all types, and DISTINCT / grouping use an
 * equivalence where null equals null and 1 equals 1.0.
 */
import type { SortItem } from '../../../shared/gql/ast.js';
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import { NodeValue, PathValue, RelationshipValue, TemporalValue } from '../../../shared/gql/values.js';
import { compareTemporal } from './temporal.js';

/** Only `true` passes a WHERE. */
export function truthy(v: Value): boolean {
  return v === true;
}

export function hasOwn(map: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(map, key);
}

// ---- numbers ---------------------------------------------------------------

/** Exact comparison of an INTEGER with a FLOAT (no precision loss above 2^53); NaN compares as NaN. */
function compareIntFloat(i: bigint, f: number): number {
  if (Number.isNaN(f)) return Number.NaN;
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  const whole = Math.trunc(f);
  const wi = BigInt(whole);
  if (i < wi) return -1;
  if (i > wi) return 1;
  const frac = f - whole;
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/** Numeric comparison across INTEGER/FLOAT; NaN when either side is NaN. */
export function compareNumbers(a: bigint | number, b: bigint | number): number {
  if (typeof a === 'bigint') {
    if (typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
    return compareIntFloat(a, b);
  }
  if (typeof b === 'bigint') return -compareIntFloat(b, a);
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- ternary equality ------------------------------------------------------

function isNumber(v: Value): v is bigint | number {
  const t = typeof v;
  return t === 'bigint' || t === 'number';
}

/** Ternary `=`: null when either side is null (also inside lists/maps where it decides). */
export function equalsValues(a: Value, b: Value): boolean | null {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta !== 'object' || tb !== 'object') {
    if (ta === tb) {
      if (ta === 'number') return a === b; // NaN = NaN is false
      return a === b;
    }
    if (isNumber(a) && isNumber(b)) return compareNumbers(a, b) === 0;
    return false;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return false;
    if (a.length !== b.length) return false;
    let unknown = false;
    for (let i = 0; i < a.length; i++) {
      const e = equalsValues(a[i] ?? null, b[i] ?? null);
      if (e === false) return false;
      if (e === null) unknown = true;
    }
    return unknown ? null : true;
  }
  if (a instanceof NodeValue) return b instanceof NodeValue && a.id === b.id;
  if (a instanceof RelationshipValue) return b instanceof RelationshipValue && a.id === b.id;
  if (a instanceof PathValue) {
    if (!(b instanceof PathValue) || a.nodes.length !== b.nodes.length) return false;
    for (let i = 0; i < a.nodes.length; i++) if (a.nodes[i]?.id !== b.nodes[i]?.id) return false;
    for (let i = 0; i < a.relationships.length; i++) {
      if (a.relationships[i]?.id !== b.relationships[i]?.id) return false;
    }
    return true;
  }
  if (a instanceof TemporalValue) {
    if (!(b instanceof TemporalValue) || a.kind !== b.kind) return false;
    if (a.kind === 'duration') return a.iso === b.iso;
    return compareTemporal(a, b) === 0;
  }
  if (Array.isArray(b) || b instanceof NodeValue || b instanceof RelationshipValue) return false;
  if (b instanceof PathValue || b instanceof TemporalValue) return false;
  return equalsMaps(a as ValueMap, b as ValueMap);
}

function equalsMaps(a: ValueMap, b: ValueMap): boolean | null {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!hasOwn(b, k)) return false;
  let unknown = false;
  for (const k of ka) {
    const e = equalsValues(a[k] ?? null, b[k] ?? null);
    if (e === false) return false;
    if (e === null) unknown = true;
  }
  return unknown ? null : true;
}

// ---- ternary comparison (<, <=, >, >=) ----------------------------------------

/**
 * Comparison for the inequality operators: a number (<0, 0, >0), `NaN` when a
 * NaN makes every inequality false, or null when the values are incomparable.
 */
export function compareForOperator(a: Value, b: Value): number | null {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (isNumber(a)) return isNumber(b) ? compareNumbers(a, b) : null;
  if (ta === 'string') return tb === 'string' ? (a < b ? -1 : a > b ? 1 : 0) : null;
  if (ta === 'boolean') return tb === 'boolean' ? (a === b ? 0 : a === false ? -1 : 1) : null;
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return null;
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareForOperator(a[i] ?? null, b[i] ?? null);
      if (c === null || Number.isNaN(c)) return c;
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (a instanceof TemporalValue && b instanceof TemporalValue && a.kind === b.kind && a.kind !== 'duration') {
    return compareTemporal(a, b);
  }
  return null;
}

// ---- orderability (total order for ORDER BY) ---------------------------------

const TEMPORAL_RANK: Readonly<Record<TemporalValue['kind'], number>> = {
  datetime: 5,
  localdatetime: 6,
  date: 7,
  time: 8,
  localtime: 9,
  duration: 10,
};

/** MAP < NODE < RELATIONSHIP < LIST < PATH < temporal < STRING < BOOLEAN < NUMBER < NULL. */
function rank(v: Value): number {
  if (v === null) return 14;
  switch (typeof v) {
    case 'bigint':
    case 'number':
      return 13;
    case 'boolean':
      return 12;
    case 'string':
      return 11;
    default:
      break;
  }
  if (Array.isArray(v)) return 3;
  if (v instanceof NodeValue) return 1;
  if (v instanceof RelationshipValue) return 2;
  if (v instanceof PathValue) return 4;
  if (v instanceof TemporalValue) return TEMPORAL_RANK[v.kind];
  return 0;
}

function compareOrderNumbers(a: bigint | number, b: bigint | number): number {
  const c = compareNumbers(a, b);
  if (!Number.isNaN(c)) return c;
  const an = typeof a === 'number' && Number.isNaN(a);
  const bn = typeof b === 'number' && Number.isNaN(b);
  return an === bn ? 0 : an ? 1 : -1; // NaN is the largest number
}

/** Total order for ORDER BY, min() and max(); ascending, nulls last. */
export function compareValues(a: Value, b: Value): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 14:
      return 0;
    case 13:
      return compareOrderNumbers(a as bigint | number, b as bigint | number);
    case 12:
      return a === b ? 0 : a === false ? -1 : 1;
    case 11:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 3:
      return compareLists(a as Value[], b as Value[]);
    case 1:
      return (a as NodeValue).id - (b as NodeValue).id;
    case 2:
      return (a as RelationshipValue).id - (b as RelationshipValue).id;
    case 4:
      return comparePaths(a as PathValue, b as PathValue);
    case 0:
      return compareMaps(a as ValueMap, b as ValueMap);
    default: {
      const ta = a as TemporalValue;
      const tb = b as TemporalValue;
      if (ta.kind === 'duration') return ta.iso < tb.iso ? -1 : ta.iso > tb.iso ? 1 : 0;
      const c = compareTemporal(ta, tb);
      return c !== 0 ? c : ta.iso < tb.iso ? -1 : ta.iso > tb.iso ? 1 : 0;
    }
  }
}

function compareLists(a: readonly Value[], b: readonly Value[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareValues(a[i] ?? null, b[i] ?? null);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function comparePaths(a: PathValue, b: PathValue): number {
  const n = Math.min(a.nodes.length, b.nodes.length);
  for (let i = 0; i < n; i++) {
    const c = (a.nodes[i]?.id ?? 0) - (b.nodes[i]?.id ?? 0);
    if (c !== 0) return c;
    const ra = a.relationships[i];
    const rb = b.relationships[i];
    if (ra && rb && ra.id !== rb.id) return ra.id - rb.id;
  }
  return a.nodes.length - b.nodes.length;
}

function compareMaps(a: ValueMap, b: ValueMap): number {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    const x = ka[i] ?? '';
    const y = kb[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
    const c = compareValues(a[x] ?? null, b[y] ?? null);
    if (c !== 0) return c;
  }
  return ka.length - kb.length;
}

/**
 * Compares two rows of sort keys per ORDER BY items. Without NULLS FIRST/LAST,
 * null sorts last ascending and first descending (it is the largest value).
 */
export function orderBy(
  items: readonly Pick<SortItem, 'descending' | 'nulls'>[],
  a: readonly Value[],
  b: readonly Value[],
): number {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item === undefined) continue;
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    let c: number;
    if (item.nulls !== null && (x === null || y === null)) {
      if (x === null && y === null) continue;
      c = (x === null) === (item.nulls === 'first') ? -1 : 1;
      return c;
    }
    c = compareValues(x, y);
    if (c !== 0) return item.descending ? -c : c;
  }
  return 0;
}

// ---- equivalence keys (DISTINCT, grouping, UNION) ----------------------------

/** Integral floats share their key with the equal INTEGER (1 and 1.0 group together). */
function numberKey(v: bigint | number): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isInteger(v)) return Math.abs(v) < 1e21 ? BigInt(v).toString() : String(v);
  return String(v); // NaN, Infinity, fractions
}

/** An equivalence key: equal values (null = null, 1 = 1.0, NaN = NaN, same entity id) share it. */
export function valueKey(v: Value): string {
  if (v === null) return 'z';
  switch (typeof v) {
    case 'string':
      return 's' + v;
    case 'bigint':
    case 'number':
      return 'n' + numberKey(v);
    case 'boolean':
      return v ? 'T' : 'F';
    default:
      break;
  }
  return nestedKey(v);
}

/** Keys inside containers quote strings so list/map keys stay unambiguous. */
function nestedKey(v: Value): string {
  if (v === null) return 'z';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'bigint':
    case 'number':
      return 'n' + numberKey(v);
    case 'boolean':
      return v ? 'T' : 'F';
    default:
      break;
  }
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + nestedKey(v[i] ?? null);
    return s + ']';
  }
  if (v instanceof NodeValue) return 'N' + v.id;
  if (v instanceof RelationshipValue) return 'R' + v.id;
  if (v instanceof PathValue) {
    let s = 'P' + (v.nodes[0]?.id ?? '');
    for (let i = 0; i < v.relationships.length; i++) s += '-' + v.relationships[i]?.id + '-' + v.nodes[i + 1]?.id;
    return s;
  }
  if (v instanceof TemporalValue) return 'D' + v.kind + ':' + v.iso;
  const keys = Object.keys(v).sort();
  let s = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] ?? '';
    s += (i > 0 ? ',' : '') + JSON.stringify(k) + ':' + nestedKey(v[k] ?? null);
  }
  return s + '}';
}
