/**
 * Property encoding: how a property value is stored in SQLite. A node's or
 * relationship's properties are one JSON object. JSON cannot tell INTEGER from
 * FLOAT, so INTEGERs are plain JSON numbers (json_extract still works on them
 * in hand-written SQL) and everything JSON would lose is a one-key object:
 * `{"f": 1}` a FLOAT, `{"f": "NaN"}` a non-finite FLOAT, `{"i": "..."}` an
 * INTEGER outside the double-safe range, `{"t": kind, "v": iso}` a temporal value.
 * Strings, booleans and lists are themselves.
 */
import { GeodeError, ErrorCode } from '../../shared/protocol/errors.js';
import { NodeValue, PathValue, RelationshipValue, TemporalValue, isMap } from '../../shared/gql/values.js';
import type { TemporalKind, Value, ValueMap } from '../../shared/gql/values.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Throws TYPE_ERROR for values a property cannot hold (maps and graph elements, also inside lists). */
export function checkStorable(value: Value, key: string): void {
  if (value === null || typeof value !== 'object' || value instanceof TemporalValue) return;
  if (Array.isArray(value)) {
    for (const item of value) checkStorable(item, key);
    return;
  }
  const what = value instanceof NodeValue ? 'node' : value instanceof RelationshipValue ? 'relationship' : value instanceof PathValue ? 'path' : isMap(value) ? 'map' : 'value';
  throw new GeodeError(ErrorCode.TYPE_ERROR, `Property '${key}' cannot hold a ${what}`, { phase: 'runtime', detail: 'InvalidPropertyType' });
}

function encodeValue(value: Value): Json {
  switch (typeof value) {
    case 'bigint':
      return value <= MAX_SAFE && value >= MIN_SAFE ? Number(value) : { i: value.toString() };
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return { f: value };
      return { f: Object.is(value, -0) ? '-0' : String(value) };
    case 'string':
    case 'boolean':
      return value;
    default:
      break;
  }
  if (value === null) return null;
  if (Array.isArray(value)) return value.map(encodeValue);
  if (value instanceof TemporalValue) return { t: value.kind, v: value.iso };
  throw new GeodeError(ErrorCode.TYPE_ERROR, 'Value cannot be stored as a property', { phase: 'runtime', detail: 'InvalidPropertyType' });
}

function decodeValue(json: Json): Value {
  switch (typeof json) {
    case 'number':
      return BigInt(json);
    case 'string':
    case 'boolean':
      return json;
    default:
      break;
  }
  if (json === null) return null;
  if (Array.isArray(json)) return json.map(decodeValue);
  const f = json['f'];
  if (f !== undefined) return typeof f === 'number' ? f : f === '-0' ? -0 : Number(f);
  const i = json['i'];
  if (typeof i === 'string') return BigInt(i);
  return new TemporalValue(json['t'] as TemporalKind, json['v'] as string);
}

/** Properties to their stored JSON text; null-valued keys are dropped. */
export function encodeProperties(props: ValueMap): string {
  const out: { [key: string]: Json } = {};
  for (const key in props) {
    const value = props[key];
    if (value === null || value === undefined) continue;
    out[key] = encodeValue(value);
  }
  return JSON.stringify(out);
}

export function decodeProperties(text: string): ValueMap {
  if (text === '{}') return {};
  const json = JSON.parse(text) as { [key: string]: Json };
  const out: ValueMap = {};
  for (const key in json) out[key] = decodeValue(json[key] as Json);
  return out;
}

/** Canonical text of a stored value (observation sets, index keys of lists). */
export function canonicalValue(value: Value): string {
  return JSON.stringify(encodeValue(value));
}

/**
 * The SQLite value a property index stores for `value`, or undefined when the
 * value is not indexed (lists, temporal values, NaN: lookups for those fall back
 * to a label scan). SQLite compares INTEGER and REAL numerically, as Cypher does;
 * booleans become BLOBs so they never equal numbers or strings.
 */
export function indexKey(value: Value): bigint | number | string | Buffer | undefined {
  switch (typeof value) {
    case 'bigint':
    case 'string':
      return value;
    case 'number':
      return Number.isNaN(value) ? undefined : value;
    case 'boolean':
      return value ? TRUE_KEY : FALSE_KEY;
    default:
      return undefined;
  }
}

const TRUE_KEY = Buffer.from([1]);
const FALSE_KEY = Buffer.from([0]);
