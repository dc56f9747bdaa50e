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
import { AGGREGATE_FUNCTIONS } from './aggregates.js';
import type { EvalContext } from './index.js';
import { argumentError, checkInt, deletedEntity, formatFloat, INT64_MAX, INT64_MIN, scalarToString } from './ops.js';
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

function range(a: readonly Value[]): Value {
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
  const out: Value[] = [];
  if (step > 0n) for (let i = start; i <= end; i += step) out.push(i);
  else for (let i = start; i >= end; i += step) out.push(i);
  return out;
}

function split(a: readonly Value[]): Value {
  const s = arg(a, 0);
  const d = arg(a, 1);
  if (s === null || d === null) return null;
  const text = str('split', s);
  if (Array.isArray(d)) {
    const delims = d.map((x) => str('split', x)).filter((x) => x.length > 0);
    if (delims.length === 0) return [...text];
    const escaped = delims.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return text.split(new RegExp(escaped.join('|')));
  }
  const delim = str('split', d);
  return delim === '' ? [...text] : text.split(delim);
}

function substring(a: readonly Value[]): Value {
  const s = arg(a, 0);
  const st = arg(a, 1);
  if (s === null || st === null) return null;
  const text = str('substring', s);
  const start = Number(int('substring', st));
  if (start < 0) throw argumentError('substring() start must not be negative', 'NegativeIntegerArgument');
  if (a.length < 3) return text.substring(start);
  const l = arg(a, 2);
  if (l === null) return null;
  const len = Number(int('substring', l));
  if (len < 0) throw argumentError('substring() length must not be negative', 'NegativeIntegerArgument');
  return text.substring(start, start + len);
}

function leftRight(fn: 'left' | 'right'): FunctionDef {
  return {
    min: 2,
    max: 2,
    call: (a) => {
      const s = arg(a, 0);
      const n = arg(a, 1);
      if (s === null) return null;
      if (n === null) throw argumentError(`${fn}() length must not be null`);
      const text = str(fn, s);
      const len = Number(int(fn, n));
      if (len < 0) throw argumentError(`${fn}() length must not be negative`, 'NegativeIntegerArgument');
      return fn === 'left' ? text.substring(0, len) : text.substring(Math.max(0, text.length - len));
    },
  };
}

function trimFn(fn: string, mode: 'both' | 'left' | 'right'): FunctionDef {
  return {
    min: 1,
    max: 2,
    call: (a) => {
      const s = arg(a, 0);
      if (s === null) return null;
      const text = str(fn, s);
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

function sizeOf(fn: string, v: Value): Value {
  if (v === null) return null;
  if (typeof v === 'string') return BigInt([...v].length);
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
    return Object.keys(v.properties).filter((k) => v.properties[k] !== null && v.properties[k] !== undefined);
  }
  if (isMap(v)) return Object.keys(v);
  throw invalidArg('keys', v);
}

function propertiesOf(v: Value, ctx: EvalContext): Value {
  if (v === null) return null;
  if (v instanceof NodeValue || v instanceof RelationshipValue) {
    entityChecked(v, ctx);
    const out: ValueMap = {};
    for (const k of Object.keys(v.properties)) {
      const p = v.properties[k];
      if (p !== null && p !== undefined) out[k] = p;
    }
    return out;
  }
  if (isMap(v)) return { ...v };
  throw invalidArg('properties', v);
}

function valueTypeOf(v: Value): string {
  if (v === null) return 'NULL';
  if (Array.isArray(v)) {
    if (v.length === 0) return 'LIST<NOTHING>';
    const inner = new Set(v.map((x) => valueTypeOf(x)));
    const one = inner.size === 1 ? [...inner][0] : undefined;
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
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof PathValue)) throw invalidArg('nodes', v);
      return [...v.nodes];
    },
  },
  relationships: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!(v instanceof PathValue)) throw invalidArg('relationships', v);
      return [...v.relationships];
    },
  },
  length: { min: 1, max: 1, call: (a) => sizeOf('length', arg(a, 0)) },
  size: { min: 1, max: 1, call: (a) => sizeOf('size', arg(a, 0)) },
  char_length: string1('char_length', (s) => BigInt([...s].length)),
  character_length: string1('character_length', (s) => BigInt([...s].length)),
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
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (!Array.isArray(v)) throw invalidArg('tail', v);
      return v.slice(1);
    },
  },
  range: { min: 2, max: 3, call: range },
  reverse: {
    min: 1,
    max: 1,
    call: (a) => {
      const v = arg(a, 0);
      if (v === null) return null;
      if (typeof v === 'string') return [...v].reverse().join('');
      if (Array.isArray(v)) return [...v].reverse();
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
  valuetype: { min: 1, max: 1, call: (a) => valueTypeOf(arg(a, 0)) },

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
    call: (a) => listConvert('toBooleanList', arg(a, 0), (x) => toBooleanOrNull(x, false)),
  },
  tointegerlist: {
    min: 1,
    max: 1,
    call: (a) => listConvert('toIntegerList', arg(a, 0), (x) => toIntegerOrNull(x, false)),
  },
  tofloatlist: {
    min: 1,
    max: 1,
    call: (a) => listConvert('toFloatList', arg(a, 0), (x) => toFloatOrNull(x, false)),
  },
  tostringlist: {
    min: 1,
    max: 1,
    call: (a) => listConvert('toStringList', arg(a, 0), (x) => toStringOrNull(x, false)),
  },

  // strings
  tolower: string1('toLower', (s) => s.toLowerCase()),
  toupper: string1('toUpper', (s) => s.toUpperCase()),
  lower: string1('lower', (s) => s.toLowerCase()),
  upper: string1('upper', (s) => s.toUpperCase()),
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
    call: (a) => {
      const s = arg(a, 0);
      const f = arg(a, 1);
      const r = arg(a, 2);
      if (s === null || f === null || r === null) return null;
      return str('replace', s).split(str('replace', f)).join(str('replace', r));
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

function listConvert(fn: string, v: Value, f: (x: Value) => Value): Value {
  if (v === null) return null;
  if (!Array.isArray(v)) throw invalidArg(fn, v);
  return v.map(f);
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
