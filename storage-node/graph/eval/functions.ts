/**
 * Scalar functions, looked up by lower-cased name. Each takes its already
 * evaluated arguments; arity is checked once at compile time.
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
import './linear-regexp.js';
import { AGGREGATE_FUNCTIONS } from './aggregates.js';
import { BIGINT_BYTES, LIST_BYTES, MAP_BYTES, MAP_ENTRY_BYTES, SLOT_BYTES, STRING_BYTES, scalarBytes } from './budget.js';
import type { StatementBudget } from './budget.js';
import type { EvalContext } from './index.js';
import { argumentError, checkInt, deletedEntity, formatFloat, INT64_MAX, INT64_MIN, scalarToString, textWork } from './ops.js';
import { TEMPORAL_FUNCTIONS } from './temporal.js';

export type ScalarFunction = (args: readonly Value[], ctx: EvalContext) => Value;

export interface FunctionDef {
  min: number;
  /** Infinity for variadic functions. */
  max: number;
  call: ScalarFunction;
}

// ---- argument checks --------------------------------------------------------

function invalidArg(fn: string, v: Value, detail = 'InvalidArgumentType'): GeodeError {
  return typeError(`${fn}() does not accept ${typeName(v)}`, detail);
}

function arg(args: readonly Value[], i: number): Value {
  return args[i] ?? null;
}

function num(fn: string, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw invalidArg(fn, v);
}

function str(fn: string, v: Value): string {
  if (typeof v === 'string') return v;
  throw invalidArg(fn, v);
}

function int(fn: string, v: Value): bigint {
  if (typeof v === 'bigint') return v;
  throw invalidArg(fn, v);
}

/** A float function of one numeric argument; null in, null out. */
function math1(fn: string, f: (x: number) => number): FunctionDef {
  return { min: 1, max: 1, call: (a) => (a[0] === null || a[0] === undefined ? null : f(num(fn, a[0]))) };
}

function string1(fn: string, f: (s: string) => Value): FunctionDef {
  return { min: 1, max: 1, call: (a) => (a[0] === null || a[0] === undefined ? null : f(str(fn, a[0]))) };
}

/** A string function whose result is at most as long as its input: charged (and its scan counted) before it runs. */
function stringTransform(fn: string, f: (s: string) => string): FunctionDef {
  return {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      if (a[0] === null || a[0] === undefined) return null;
      const text = str(fn, a[0]);
      ctx.budget.work(textWork(text.length));
      ctx.budget.string(text.length, `${fn}()`);
      return f(text);
    },
  };
}

/** Charges a list of `length` elements (slots only: the elements exist already) before it is built. */
function chargeCopy(budget: StatementBudget, length: number, what: string): void {
  budget.work(length);
  budget.list(length, LIST_BYTES + length * SLOT_BYTES, what);
}

/** Charges a list of `count` new strings holding `chars` characters in all, before it is built. */
function chargeStrings(budget: StatementBudget, count: number, chars: number, what: string): void {
  budget.work(count);
  budget.list(count, LIST_BYTES + count * (SLOT_BYTES + STRING_BYTES) + 2 * chars, what);
}

/** Code points of `text` (a surrogate pair is one), without building an array. */
export function codePointLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Non-overlapping occurrences of `needle` (non-empty) in `text`. */
function occurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) count++;
  return count;
}

function entityChecked(v: NodeValue | RelationshipValue, ctx: EvalContext): void {
  if (ctx.isDeleted(v)) throw deletedEntity();
}

// ---- conversions ----------------------------------------------------------------

const JAVA_DOUBLE = /^[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)$/;
const JAVA_LONG = /^[+-]?\d+$/;

function parseFloatJava(s: string): number | null {
  const t = s.trim();
  if (!JAVA_DOUBLE.test(t)) return null;
  return Number(t.replace(/[fFdD]$/, ''));
}

function toIntegerOrNull(v: Value, strict: boolean): Value {
  if (v === null) return null;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return null;
    const i = BigInt(Math.trunc(v));
    if (i > INT64_MAX || i < INT64_MIN) {
      if (strict) throw argumentError(`${v} does not fit an INTEGER`, 'NumberOutOfRange');
      return null;
    }
    return i;
  }
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'string') {
    const t = v.trim();
    if (JAVA_LONG.test(t)) {
      const i = BigInt(t);
      return i > INT64_MAX || i < INT64_MIN ? null : i;
    }
    const f = parseFloatJava(t);
    return f === null ? null : toIntegerOrNull(f, false);
  }
  if (strict) throw invalidArg('toInteger', v, 'InvalidArgumentValue');
  return null;
}

function toFloatOrNull(v: Value, strict: boolean): Value {
  if (v === null) return null;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return parseFloatJava(v);
  if (strict) throw invalidArg('toFloat', v, 'InvalidArgumentValue');
  return null;
}

function toBooleanOrNull(v: Value, strict: boolean): Value {
  if (v === null) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    return t === 'true' ? true : t === 'false' ? false : null;
  }
  if (strict) throw invalidArg('toBoolean', v, 'InvalidArgumentValue');
  return null;
}

function toStringOrNull(v: Value, strict: boolean): Value {
  if (v === null) return null;
  const text = scalarToString(v);
  if (text !== null) return text;
  if (strict) throw invalidArg('toString', v, 'InvalidArgumentValue');
  return null;
}

// ---- rounding -------------------------------------------------------------------

function roundHalfUp(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

function roundWithMode(x: number, mode: string): number {
  const frac = Math.abs(x) - Math.floor(Math.abs(x));
  const s = Math.sign(x);
  const a = Math.abs(x);
  switch (mode) {
    case 'UP':
      return s * Math.ceil(a);
    case 'DOWN':
      return s * Math.floor(a);
    case 'CEILING':
      return Math.ceil(x);
    case 'FLOOR':
      return Math.floor(x);
    case 'HALF_DOWN':
      return frac > 0.5 ? s * Math.ceil(a) : s * Math.floor(a);
    case 'HALF_EVEN': {
      if (frac !== 0.5) return roundHalfUp(x);
      const f = Math.floor(a);
      return s * (f % 2 === 0 ? f : f + 1);
    }
    case 'HALF_UP':
      return roundHalfUp(x);
    default:
      throw argumentError(`unknown rounding mode ${mode}`);
  }
}

function round(a: readonly Value[]): Value {
  const x = arg(a, 0);
  if (x === null) return null;
  const v = num('round', x);
  if (a.length === 1) return Math.floor(v + 0.5); // Java Math.round: half up towards positive infinity
  const p = arg(a, 1);
  if (p === null) return null;
  const precision = Number(int('round', p));
  const modeArg = a.length > 2 ? arg(a, 2) : 'HALF_UP';
  if (modeArg === null) return null;
  const mode = str('round', modeArg).toUpperCase();
  const factor = 10 ** precision;
  // Scale through the decimal text to avoid 1.005 * 100 = 100.49999
  const scaled = Number(`${v}e${precision}`);
  const r = roundWithMode(Number.isFinite(scaled) ? scaled : v * factor, mode) / factor;
  return Number.isNaN(r) ? v : r;
}

// ---- list helpers ---------------------------------------------------------------

function range(a: readonly Value[], ctx: EvalContext): Value {
  const bad = (v: Value): GeodeError =>
    new GeodeError(ErrorCode.ARGUMENT_ERROR, `range() expects INTEGER arguments, got ${typeName(v)}`, {
      phase: 'runtime',
      detail: 'InvalidArgumentType',
    });
  const s = arg(a, 0);
  const e = arg(a, 1);
  const st = a.length > 2 ? arg(a, 2) : 1n;
  for (const v of [s, e, st]) if (v !== null && typeof v !== 'bigint') throw bad(v);
  if (s === null || e === null || st === null) return null;
  const start = s as bigint;
  const end = e as bigint;
  const step = st as bigint;
  if (step === 0n) throw argumentError('range() step must not be 0', 'NumberOutOfRange');
  // The length is known before anything is built: refuse a list over budget before allocating it.
  const span = step > 0n ? end - start : start - end;
  const count = span < 0n ? 0n : span / (step > 0n ? step : -step) + 1n;
  const length = count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
  const budget = ctx.budget;
  budget.list(length, LIST_BYTES + length * (SLOT_BYTES + BIGINT_BYTES), 'range()');
  const out: Value[] = [];
  let i = start;
  // Built in chunks, each counted as work, so the deadline is read while a long range is built.
  for (let done = 0; done < length; ) {
    const chunk = Math.min(RANGE_CHUNK, length - done);
    budget.work(chunk);
    for (let k = 0; k < chunk; k++, i += step) out.push(i);
    done += chunk;
  }
  return out;
}

/** Elements of range() built between two work checks. */
const RANGE_CHUNK = 4096;

function split(a: readonly Value[], ctx: EvalContext): Value {
  const s = arg(a, 0);
  const d = arg(a, 1);
  if (s === null || d === null) return null;
  const text = str('split', s);
  const budget = ctx.budget;
  // Parts are counted first (a scan, no allocation), so the list is charged before it is built.
  budget.work(textWork(text.length));
  if (Array.isArray(d)) {
    const delims = d.map((x) => str('split', x)).filter((x) => x.length > 0);
    if (delims.length === 0) {
      chargeStrings(budget, codePointLength(text), text.length, 'split()');
      return [...text];
    }
    const escaped = delims.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const pattern = new RegExp(escaped.join('|'), 'g');
    let parts = 1;
    while (pattern.exec(text) !== null) parts++;
    chargeStrings(budget, parts, text.length, 'split()');
    return text.split(new RegExp(escaped.join('|')));
  }
  const delim = str('split', d);
  if (delim === '') {
    chargeStrings(budget, codePointLength(text), text.length, 'split()');
    return [...text];
  }
  chargeStrings(budget, occurrences(text, delim) + 1, text.length, 'split()');
  return text.split(delim);
}

function substring(a: readonly Value[], ctx: EvalContext): Value {
  const s = arg(a, 0);
  const st = arg(a, 1);
  if (s === null || st === null) return null;
  const text = str('substring', s);
  const start = Number(int('substring', st));
  if (start < 0) throw argumentError('substring() start must not be negative', 'NegativeIntegerArgument');
  if (a.length < 3) {
    ctx.budget.string(Math.max(0, text.length - start), 'substring()');
    return text.substring(start);
  }
  const l = arg(a, 2);
  if (l === null) return null;
  const len = Number(int('substring', l));
  if (len < 0) throw argumentError('substring() length must not be negative', 'NegativeIntegerArgument');
  ctx.budget.string(Math.max(0, Math.min(len, text.length - start)), 'substring()');
  return text.substring(start, start + len);
}

function leftRight(fn: 'left' | 'right'): FunctionDef {
  return {
    min: 2,
    max: 2,
    call: (a, ctx) => {
      const s = arg(a, 0);
      const n = arg(a, 1);
      if (s === null) return null;
      if (n === null) throw argumentError(`${fn}() length must not be null`);
      const text = str(fn, s);
      const len = Number(int(fn, n));
      if (len < 0) throw argumentError(`${fn}() length must not be negative`, 'NegativeIntegerArgument');
      ctx.budget.string(Math.min(len, text.length), `${fn}()`);
      return fn === 'left' ? text.substring(0, len) : text.substring(Math.max(0, text.length - len));
    },
  };
}

function trimFn(fn: string, mode: 'both' | 'left' | 'right'): FunctionDef {
  return {
    min: 1,
    max: 2,
    call: (a, ctx) => {
      const s = arg(a, 0);
      if (s === null) return null;
      const text = str(fn, s);
      ctx.budget.work(textWork(text.length));
      ctx.budget.string(text.length, `${fn}()`);
      if (a.length < 2) return mode === 'both' ? text.trim() : mode === 'left' ? text.trimStart() : text.trimEnd();
      const c = arg(a, 1);
      if (c === null) return null;
      const chars = str(fn, c);
      let i = 0;
      let j = text.length;
      if (mode !== 'right') while (i < j && chars.includes(text.charAt(i))) i++;
      if (mode !== 'left') while (j > i && chars.includes(text.charAt(j - 1))) j--;
      return text.substring(i, j);
    },
  };
}

function sizeOf(fn: string, v: Value, ctx: EvalContext): Value {
  if (v === null) return null;
  if (typeof v === 'string') {
    ctx.budget.work(textWork(v.length));
    return BigInt(codePointLength(v));
  }
  if (Array.isArray(v)) return BigInt(v.length);
  if (v instanceof PathValue && fn === 'length') return BigInt(v.relationships.length);
  throw invalidArg(fn, v);
}

// ---- graph functions --------------------------------------------------------------

function nodeOrRel(fn: string, v: Value): NodeValue | RelationshipValue {
  if (v instanceof NodeValue || v instanceof RelationshipValue) return v;
  throw invalidArg(fn, v, 'InvalidArgumentValue');
}

function keysOf(v: Value, ctx: EvalContext): Value {
  if (v === null) return null;
  if (v instanceof NodeValue || v instanceof RelationshipValue) {
    entityChecked(v, ctx);
    const keys = Object.keys(v.properties).filter((k) => v.properties[k] !== null && v.properties[k] !== undefined);
    chargeStrings(ctx.budget, keys.length, 0, 'keys()');
    return keys;
  }
  if (isMap(v)) {
    const keys = Object.keys(v);
    chargeStrings(ctx.budget, keys.length, 0, 'keys()');
    return keys;
  }
  throw invalidArg('keys', v);
}

function propertiesOf(v: Value, ctx: EvalContext): Value {
  if (v === null) return null;
  if (v instanceof NodeValue || v instanceof RelationshipValue) {
    entityChecked(v, ctx);
    const keys = Object.keys(v.properties);
    ctx.budget.work(keys.length);
    ctx.budget.alloc(MAP_BYTES + keys.length * MAP_ENTRY_BYTES, 'properties()');
    const out: ValueMap = {};
    for (const k of keys) {
      const p = v.properties[k];
      if (p !== null && p !== undefined) out[k] = p;
    }
    return out;
  }
  if (isMap(v)) {
    const keys = Object.keys(v);
    ctx.budget.work(keys.length);
    ctx.budget.alloc(MAP_BYTES + keys.length * MAP_ENTRY_BYTES, 'properties()');
    return { ...v };
  }
  throw invalidArg('properties', v);
}

function valueTypeOf(v: Value, budget: StatementBudget): string {
  if (v === null) return 'NULL';
  if (Array.isArray(v)) {
    if (v.length === 0) return 'LIST<NOTHING>';
    budget.work(v.length);
    let one: string | undefined;
    for (const x of v) {
      const t = valueTypeOf(x, budget);
      if (one === undefined) one = t;
      else if (one !== t) return 'LIST<ANY>';
    }
    return `LIST<${one ?? 'ANY'}>`;
  }
  const n = typeName(v);
  switch (n) {
    case 'DATETIME':
      return 'ZONED DATETIME';
    case 'LOCALDATETIME':
      return 'LOCAL DATETIME';
    case 'TIME':
      return 'ZONED TIME';
    case 'LOCALTIME':
      return 'LOCAL TIME';
    case 'PATH':
    case 'NODE':
    case 'RELATIONSHIP':
    case 'MAP':
    case 'DATE':
    case 'DURATION':
      return n;
    default:
      return `${n} NOT NULL`;
  }
}

// ---- the table ----------------------------------------------------------------------

const table: Record<string, FunctionDef> = {
  id: {
    min: 1,
    max: 1,
    call: (a) => (arg(a, 0) === null ? null : BigInt(nodeOrRel('id', arg(a, 0)).id)),
  },
  elementid: {
    min: 1,
    max: 1,
    call: (a) => (arg(a, 0) === null ? null : String(nodeOrRel('elementId', arg(a, 0)).id)),
  },
  labels: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof NodeValue)) throw invalidArg('labels', v, 'InvalidArgumentValue');
      entityChecked(v, ctx);
      chargeCopy(ctx.budget, v.labels.length, 'labels()');
      return [...v.labels];
    },
  },
  type: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof RelationshipValue)) throw invalidArg('type', v, 'InvalidArgumentValue');
      return v.type;
    },
  },
  keys: { min: 1, max: 1, call: (a, ctx) => keysOf(arg(a, 0), ctx) },
  properties: { min: 1, max: 1, call: (a, ctx) => propertiesOf(arg(a, 0), ctx) },
  startnode: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof RelationshipValue)) throw invalidArg('startNode', v, 'InvalidArgumentValue');
      return ctx.nodeById(v.start);
    },
  },
  endnode: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof RelationshipValue)) throw invalidArg('endNode', v, 'InvalidArgumentValue');
      return ctx.nodeById(v.end);
    },
  },
  nodes: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof PathValue)) throw invalidArg('nodes', v);
      chargeCopy(ctx.budget, v.nodes.length, 'nodes()');
      return [...v.nodes];
    },
  },
  relationships: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof PathValue)) throw invalidArg('relationships', v);
      chargeCopy(ctx.budget, v.relationships.length, 'relationships()');
      return [...v.relationships];
    },
  },
  length: { min: 1, max: 1, call: (a, ctx) => sizeOf('length', arg(a, 0), ctx) },
  size: { min: 1, max: 1, call: (a, ctx) => sizeOf('size', arg(a, 0), ctx) },
  char_length: { min: 1, max: 1, call: (a, ctx) => (arg(a, 0) === null ? null : sizeOf('char_length', str('char_length', arg(a, 0)), ctx)) },
  character_length: { min: 1, max: 1, call: (a, ctx) => (arg(a, 0) === null ? null : sizeOf('character_length', str('character_length', arg(a, 0)), ctx)) },
  head: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!Array.isArray(v)) throw invalidArg('head', v);
      return v[0] ?? null;
    },
  },
  last: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!Array.isArray(v)) throw invalidArg('last', v);
      return v[v.length - 1] ?? null;
    },
  },
  tail: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!Array.isArray(v)) throw invalidArg('tail', v);
      chargeCopy(ctx.budget, Math.max(0, v.length - 1), 'tail()');
      return v.slice(1);
    },
  },
  range: { min: 2, max: 3, call: range },
  reverse: {
    min: 1,
    max: 1,
    call: (a, ctx) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (typeof v === 'string') {
        chargeCopy(ctx.budget, codePointLength(v), 'reverse()');
        ctx.budget.string(v.length, 'reverse()');
        return [...v].reverse().join('');
      }
      if (Array.isArray(v)) {
        chargeCopy(ctx.budget, v.length, 'reverse()');
        return [...v].reverse();
      }
      throw invalidArg('reverse', v);
    },
  },
  coalesce: {
    min: 1,
    max: Infinity,
    call: (a) => {
      for (const v of a) if (v !== null) return v;
      return null;
    },
  },
  exists: { min: 1, max: 1, call: (a) => arg(a, 0) !== null },
  isempty: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (typeof v === 'string' || Array.isArray(v)) return v.length === 0;
      if (isMap(v)) return Object.keys(v).length === 0;
      throw invalidArg('isEmpty', v);
    },
  },
  isnan: {
    min: 1,
    max: 1,
    call: (a) => (arg(a, 0) === null ? null : Number.isNaN(num('isNaN', arg(a, 0)))),
  },
  valuetype: { min: 1, max: 1, call: (a, ctx) => valueTypeOf(arg(a, 0), ctx.budget) },

  // conversions
  tostring: { min: 1, max: 1, call: (a) => toStringOrNull(arg(a, 0), true) },
  tostringornull: { min: 1, max: 1, call: (a) => toStringOrNull(arg(a, 0), false) },
  tointeger: { min: 1, max: 1, call: (a) => toIntegerOrNull(arg(a, 0), true) },
  tointegerornull: { min: 1, max: 1, call: (a) => toIntegerOrNull(arg(a, 0), false) },
  tofloat: { min: 1, max: 1, call: (a) => toFloatOrNull(arg(a, 0), true) },
  tofloatornull: { min: 1, max: 1, call: (a) => toFloatOrNull(arg(a, 0), false) },
  toboolean: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (typeof v === 'number') throw invalidArg('toBoolean', v, 'InvalidArgumentValue');
      return toBooleanOrNull(v, true);
    },
  },
  tobooleanornull: { min: 1, max: 1, call: (a) => toBooleanOrNull(arg(a, 0), false) },
  tobooleanlist: {
    min: 1,
    max: 1,
    call: (a, ctx) => listConvert('toBooleanList', arg(a, 0), ctx, (x) => toBooleanOrNull(x, false)),
  },
  tointegerlist: {
    min: 1,
    max: 1,
    call: (a, ctx) => listConvert('toIntegerList', arg(a, 0), ctx, (x) => toIntegerOrNull(x, false)),
  },
  tofloatlist: {
    min: 1,
    max: 1,
    call: (a, ctx) => listConvert('toFloatList', arg(a, 0), ctx, (x) => toFloatOrNull(x, false)),
  },
  tostringlist: {
    min: 1,
    max: 1,
    call: (a, ctx) => listConvert('toStringList', arg(a, 0), ctx, (x) => toStringOrNull(x, false)),
  },

  // strings
  tolower: stringTransform('toLower', (s) => s.toLowerCase()),
  toupper: stringTransform('toUpper', (s) => s.toUpperCase()),
  lower: stringTransform('lower', (s) => s.toLowerCase()),
  upper: stringTransform('upper', (s) => s.toUpperCase()),
  trim: trimFn('trim', 'both'),
  btrim: trimFn('btrim', 'both'),
  ltrim: trimFn('ltrim', 'left'),
  rtrim: trimFn('rtrim', 'right'),
  substring: { min: 2, max: 3, call: substring },
  left: leftRight('left'),
  right: leftRight('right'),
  replace: {
    min: 3,
    max: 3,
    call: (a, ctx) => {
      const s = arg(a, 0);
      const f = arg(a, 1);
      const r = arg(a, 2);
      if (s === null || f === null || r === null) return null;
      const text = str('replace', s);
      const find = str('replace', f);
      const by = str('replace', r);
      // The result's length is computed before it is built: parts times the replacement.
      ctx.budget.work(textWork(text.length));
      const parts = find === '' ? text.length : occurrences(text, find) + 1;
      const length = text.length - (parts - 1) * find.length + Math.max(0, parts - 1) * by.length;
      chargeStrings(ctx.budget, parts, text.length, 'replace()');
      ctx.budget.string(length, 'replace()');
      return text.split(find).join(by);
    },
  },
  split: { min: 2, max: 2, call: split },

  // numbers
  abs: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (typeof v === 'bigint') return checkInt(v < 0n ? -v : v);
      return Math.abs(num('abs', v));
    },
  },
  ceil: math1('ceil', Math.ceil),
  floor: math1('floor', Math.floor),
  round: { min: 1, max: 3, call: round },
  sign: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (typeof v === 'bigint') return v > 0n ? 1n : v < 0n ? -1n : 0n;
      const x = num('sign', v);
      return Number.isNaN(x) ? 0n : BigInt(Math.sign(x));
    },
  },
  sqrt: math1('sqrt', Math.sqrt),
  cbrt: math1('cbrt', Math.cbrt),
  exp: math1('exp', Math.exp),
  log: math1('log', Math.log),
  log10: math1('log10', Math.log10),
  e: { min: 0, max: 0, call: () => Math.E },
  pi: { min: 0, max: 0, call: () => Math.PI },
  sin: math1('sin', Math.sin),
  cos: math1('cos', Math.cos),
  tan: math1('tan', Math.tan),
  cot: math1('cot', (x) => 1 / Math.tan(x)),
  asin: math1('asin', Math.asin),
  acos: math1('acos', Math.acos),
  atan: math1('atan', Math.atan),
  atan2: {
    min: 2,
    max: 2,
    call: (a) =>
      arg(a, 0) === null || arg(a, 1) === null ? null : Math.atan2(num('atan2', arg(a, 0)), num('atan2', arg(a, 1))),
  },
  degrees: math1('degrees', (x) => (x * 180) / Math.PI),
  radians: math1('radians', (x) => (x * Math.PI) / 180),
  haversin: math1('haversin', (x) => (1 - Math.cos(x)) / 2),
  sinh: math1('sinh', Math.sinh),
  cosh: math1('cosh', Math.cosh),
  tanh: math1('tanh', Math.tanh),
  rand: { min: 0, max: 0, call: (_a, ctx) => ctx.random() },
  randomuuid: { min: 0, max: 0, call: (_a, ctx) => ctx.randomUUID() },
  timestamp: { min: 0, max: 0, call: (_a, ctx) => BigInt(Math.trunc(ctx.now)) },
};

function listConvert(fn: string, v: Value, ctx: EvalContext, f: (x: Value) => Value): Value {
  if (v === null) return null;
  if (!Array.isArray(v)) throw invalidArg(fn, v);
  chargeCopy(ctx.budget, v.length, `${fn}()`);
  let converted = 0;
  const out = v.map((x) => {
    const y = f(x);
    converted += scalarBytes(y) + (typeof y === 'string' && y !== x ? STRING_BYTES + 2 * y.length : 0);
    return y;
  });
  ctx.budget.alloc(converted, `${fn}()`);
  return out;
}

const FUNCTIONS = new Map<string, FunctionDef>([...Object.entries(table), ...TEMPORAL_FUNCTIONS]);

/** The scalar function named `lowerName`, or undefined. */
export function lookupFunction(lowerName: string): FunctionDef | undefined {
  return FUNCTIONS.get(lowerName);
}

/** Whether `lowerName` names a scalar or aggregate function this evaluator knows (for UnknownFunction checks). */
export function isKnownFunction(lowerName: string): boolean {
  return FUNCTIONS.has(lowerName) || AGGREGATE_FUNCTIONS.has(lowerName);
}
