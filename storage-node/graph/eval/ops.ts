/**
 * Operators on values: arithmetic with 64-bit INTEGER overflow checks, string
 * and list concatenation, containment, string predicates, property and
 * element access. Pure functions of values; the compiler wires them to rows.
 */
import { ErrorCode, GeodeError, typeError } from '../../../shared/protocol/errors.js';
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import {
  NodeValue,
  PathValue,
  RelationshipValue,
  TemporalValue,
  isMap,
  typeName,
} from '../../../shared/gql/values.js';
import { LIST_BYTES, SLOT_BYTES, scalarBytes } from './budget.js';
import type { StatementBudget } from './budget.js';
import { equalsValues, hasOwn } from './compare.js';
import type { EvalContext } from './index.js';
import { temporalAdd, temporalComponent, temporalSubtract, durationMultiply } from './temporal.js';

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

export function arithmeticError(message: string, detail: string): GeodeError {
  return new GeodeError(ErrorCode.ARITHMETIC_ERROR, message, { phase: 'runtime', detail });
}

export function argumentError(message: string, detail = 'InvalidArgumentValue'): GeodeError {
  return new GeodeError(ErrorCode.ARGUMENT_ERROR, message, { phase: 'runtime', detail });
}

/** Wraps an INTEGER result, failing on 64-bit overflow. */
export function checkInt(v: bigint): bigint {
  if (v > INT64_MAX || v < INT64_MIN) throw arithmeticError('integer overflow', 'IntegerOverflow');
  return v;
}

/** Java's Double.toString, which Cypher's toString() and string concatenation follow. */
export function formatFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (f === Infinity) return 'Infinity';
  if (f === -Infinity) return '-Infinity';
  if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(f);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(f);
    return s.includes('.') ? s : s + '.0';
  }
  const [mantissa = '0', exponent = '0'] = f.toExponential().split('e');
  return (mantissa.includes('.') ? mantissa : mantissa + '.0') + 'E' + exponent.replace('+', '');
}

/** String form of a scalar for concatenation and toString(). */
export function scalarToString(v: Value): string | null {
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
      return v.toString();
    case 'number':
      return formatFloat(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      if (v instanceof TemporalValue) return v.iso;
      return null;
  }
}

function badOperands(op: string, a: Value, b: Value): GeodeError {
  return typeError(`cannot apply ${op} to ${typeName(a)} and ${typeName(b)}`);
}

export function add(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt((a as bigint) + (b as bigint));
  if (ta === 'number' && tb === 'number') return (a as number) + (b as number);
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) return Number(a) + Number(b);
  if (Array.isArray(a)) return Array.isArray(b) ? a.concat(b) : [...a, b];
  if (Array.isArray(b)) return [a, ...b];
  if (ta === 'string' || tb === 'string') {
    const sa = scalarToString(a);
    const sb = scalarToString(b);
    if (sa !== null && sb !== null && !(a instanceof TemporalValue) && !(b instanceof TemporalValue)) return sa + sb;
  }
  if (a instanceof TemporalValue && b instanceof TemporalValue) return temporalAdd(a, b);
  throw badOperands('+', a, b);
}

/** Work units of a string concatenation (it allocates, and a string built by appending costs the collector). */
const CONCAT_WORK = 8;

/** A list of `a`'s and `b`'s elements (either may be a single element), charged before it is built. */
function concatLists(a: Value, b: Value, budget: StatementBudget, what: string): Value[] {
  const left = Array.isArray(a);
  const right = Array.isArray(b);
  const n = (left ? a.length : 1) + (right ? b.length : 1);
  budget.work(n);
  // The elements are shared with the operands: only the new slots (and a lone scalar operand) are new.
  budget.list(n, LIST_BYTES + n * SLOT_BYTES + (left ? 0 : scalarBytes(a)) + (right ? 0 : scalarBytes(b)), what);
  if (left) return right ? a.concat(b) : [...a, b];
  return [a, ...(b as Value[])];
}

/** `+` as queries use it: like `add`, with strings and lists charged to the statement's budget before they are built. */
export function plus(a: Value, b: Value, budget: StatementBudget): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt((a as bigint) + (b as bigint));
  if (ta === 'number' && tb === 'number') return (a as number) + (b as number);
  if (Array.isArray(a) || Array.isArray(b)) return concatLists(a, b, budget, 'list concatenation (+)');
  if (ta === 'string' || tb === 'string') {
    const sa = scalarToString(a);
    const sb = scalarToString(b);
    if (sa !== null && sb !== null && !(a instanceof TemporalValue) && !(b instanceof TemporalValue)) {
      budget.work(CONCAT_WORK);
      budget.string(sa.length + sb.length, 'string concatenation (+)');
      return sa + sb;
    }
  }
  return add(a, b);
}

export function subtract(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt((a as bigint) - (b as bigint));
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) return Number(a) - Number(b);
  if (a instanceof TemporalValue && b instanceof TemporalValue) return temporalSubtract(a, b);
  throw badOperands('-', a, b);
}

export function multiply(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') return checkInt((a as bigint) * (b as bigint));
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) return Number(a) * Number(b);
  if (a instanceof TemporalValue && (tb === 'number' || tb === 'bigint')) return durationMultiply(a, Number(b), false);
  if (b instanceof TemporalValue && (ta === 'number' || ta === 'bigint')) return durationMultiply(b, Number(a), false);
  throw badOperands('*', a, b);
}

export function divide(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') {
    if (b === 0n) throw arithmeticError('/ by zero', 'DivisionByZero');
    return checkInt((a as bigint) / (b as bigint)); // bigint division truncates toward zero, like Java
  }
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) return Number(a) / Number(b);
  if (a instanceof TemporalValue && (tb === 'number' || tb === 'bigint')) return durationMultiply(a, Number(b), true);
  throw badOperands('/', a, b);
}

export function modulo(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'bigint' && tb === 'bigint') {
    if (b === 0n) throw arithmeticError('/ by zero', 'DivisionByZero');
    return (a as bigint) % (b as bigint);
  }
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) return Number(a) % Number(b);
  throw badOperands('%', a, b);
}

export function power(a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  const ta = typeof a;
  const tb = typeof b;
  if ((ta === 'number' || ta === 'bigint') && (tb === 'number' || tb === 'bigint')) return Number(a) ** Number(b);
  throw badOperands('^', a, b);
}

export function negate(a: Value): Value {
  if (a === null) return null;
  if (typeof a === 'bigint') return checkInt(-a);
  if (typeof a === 'number') return -a;
  if (a instanceof TemporalValue && a.kind === 'duration') return durationMultiply(a, -1, false);
  throw typeError(`cannot negate ${typeName(a)}`);
}

export function unaryPlus(a: Value): Value {
  if (a === null || typeof a === 'bigint' || typeof a === 'number') return a;
  throw typeError(`cannot apply unary + to ${typeName(a)}`);
}

/** GQL `||`: string or list concatenation, charged before it is built. */
export function concat(a: Value, b: Value, budget: StatementBudget): Value {
  if (a === null || b === null) return null;
  if (typeof a === 'string' && typeof b === 'string') {
    budget.work(CONCAT_WORK);
    budget.string(a.length + b.length, 'string concatenation (||)');
    return a + b;
  }
  if (Array.isArray(a) || Array.isArray(b)) return concatLists(a, b, budget, 'list concatenation (||)');
  throw badOperands('||', a, b);
}

// ---- boolean logic ------------------------------------------------------------

export function checkBool(v: Value, op: string): boolean | null {
  if (v === null || typeof v === 'boolean') return v;
  throw typeError(`${op} expects BOOLEAN, got ${typeName(v)}`);
}

// ---- predicates ---------------------------------------------------------------

/** `x IN list`: true if some element equals x, null if none does but some comparison was unknown. */
export function inList(x: Value, list: Value, budget: StatementBudget): Value {
  if (list === null) return null;
  if (!Array.isArray(list)) throw typeError(`IN expects a LIST, got ${typeName(list)}`);
  if (list.length === 0) return false;
  budget.work(list.length);
  let unknown = false;
  for (let i = 0; i < list.length; i++) {
    const e = equalsValues(x, list[i] ?? null);
    if (e === true) return true;
    if (e === null) unknown = true;
  }
  return unknown ? null : false;
}

/** Work units of scanning a string of `length` characters (16 characters cost about one list element). */
export function textWork(length: number): number {
  return 1 + (length >> 4);
}

export function startsWith(a: Value, b: Value): Value {
  return typeof a === 'string' && typeof b === 'string' ? a.startsWith(b) : null;
}

export function endsWith(a: Value, b: Value): Value {
  return typeof a === 'string' && typeof b === 'string' ? a.endsWith(b) : null;
}

export function contains(a: Value, b: Value, budget: StatementBudget): Value {
  if (typeof a !== 'string' || typeof b !== 'string') return null;
  budget.work(textWork(a.length));
  return a.includes(b);
}

// ---- access -------------------------------------------------------------------

export function deletedEntity(): GeodeError {
  return new GeodeError(ErrorCode.ENTITY_NOT_FOUND, 'the entity was deleted in this statement', {
    phase: 'runtime',
    detail: 'DeletedEntityAccess',
  });
}

/** `obj.key` on a map, node, relationship or temporal value; null on null. */
export function propertyOf(obj: Value, key: string, ctx: EvalContext): Value {
  if (obj === null) return null;
  if (obj instanceof NodeValue || obj instanceof RelationshipValue) {
    if (ctx.isDeleted(obj)) throw deletedEntity();
    const props = obj.properties;
    return hasOwn(props, key) ? (props[key] ?? null) : null;
  }
  if (typeof obj === 'object' && !Array.isArray(obj)) {
    if (obj instanceof TemporalValue) return temporalComponent(obj, key);
    if (obj instanceof PathValue) throw typeError(`cannot read property ${key} of PATH`);
    return hasOwn(obj, key) ? (obj[key] ?? null) : null;
  }
  throw typeError(`cannot read property ${key} of ${typeName(obj)}`);
}

function mapLike(obj: Value): ValueMap | null {
  if (obj instanceof NodeValue || obj instanceof RelationshipValue) return obj.properties;
  return isMap(obj) ? obj : null;
}

/** `obj[index]`: list element (negative counts from the end) or map/entity property by string key. */
export function indexOf(obj: Value, index: Value, ctx: EvalContext): Value {
  if (obj === null) return null;
  if (Array.isArray(obj)) {
    if (index === null) return null;
    if (typeof index !== 'bigint') throw typeError(`list index must be an INTEGER, got ${typeName(index)}`);
    const n = BigInt(obj.length);
    const i = index < 0n ? index + n : index;
    if (i < 0n || i >= n) return null;
    return obj[Number(i)] ?? null;
  }
  const map = mapLike(obj);
  if (map !== null) {
    if (index === null) return null;
    if (typeof index !== 'string') {
      throw typeError(`map key must be a STRING, got ${typeName(index)}`, 'MapElementAccessByNonString');
    }
    if ((obj instanceof NodeValue || obj instanceof RelationshipValue) && ctx.isDeleted(obj)) {
      throw deletedEntity();
    }
    return hasOwn(map, index) ? (map[index] ?? null) : null;
  }
  throw typeError(`cannot index into ${typeName(obj)}`);
}

function sliceBound(v: Value, length: number): number | null {
  if (typeof v !== 'bigint') {
    if (v === null) return null;
    throw typeError(`slice bound must be an INTEGER, got ${typeName(v)}`);
  }
  const n = Number(v);
  const i = n < 0 ? n + length : n;
  return Math.max(0, Math.min(length, i));
}

/** `list[from..to]`: absent bounds default to the ends; a null bound gives null. */
export function sliceOf(obj: Value, from: Value | undefined, to: Value | undefined, budget: StatementBudget): Value {
  if (obj === null) return null;
  if (!Array.isArray(obj)) throw typeError(`cannot slice ${typeName(obj)}`);
  const len = obj.length;
  const start = from === undefined ? 0 : sliceBound(from, len);
  const end = to === undefined ? len : sliceBound(to, len);
  if (start === null || end === null) return null;
  if (start >= end) return [];
  budget.work(end - start);
  budget.alloc(LIST_BYTES + (end - start) * SLOT_BYTES, 'list slice');
  return obj.slice(start, end);
}

/** `n:A:B`: all labels present (a relationship matches its type). */
export function hasLabels(obj: Value, labels: readonly string[]): Value {
  if (obj === null) return null;
  if (obj instanceof NodeValue) {
    for (const l of labels) if (!obj.labels.includes(l)) return false;
    return true;
  }
  if (obj instanceof RelationshipValue) {
    for (const l of labels) if (obj.type !== l) return false;
    return true;
  }
  throw typeError(`cannot test labels of ${typeName(obj)}`);
}
