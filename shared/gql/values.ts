/**
 * The value model of the query language, shared by the engine (which produces
 * values), the wire (which serializes them) and the TCK runner (which compares
 * them).
 *
 * Cypher distinguishes INTEGER (64-bit) from FLOAT. JavaScript numbers cannot,
 * so an INTEGER is a `bigint` and a FLOAT is a `number`, always. A MAP is a
 * plain object whose prototype is `null` or `Object.prototype`; graph
 * elements and temporal values are class instances, told apart with
 * `instanceof`.
 */

export type Value =
  | null
  | boolean
  | bigint
  | number
  | string
  | Value[]
  | ValueMap
  | NodeValue
  | RelationshipValue
  | PathValue
  | TemporalValue;

export interface ValueMap {
  [key: string]: Value;
}

/** A node as a query returns it: a snapshot of its labels and properties. */
export class NodeValue {
  constructor(
    readonly id: number,
    readonly labels: string[],
    readonly properties: ValueMap,
  ) {}
}

/** A relationship as a query returns it. `start` and `end` are node ids. */
export class RelationshipValue {
  constructor(
    readonly id: number,
    readonly type: string,
    readonly start: number,
    readonly end: number,
    readonly properties: ValueMap,
  ) {}
}

/** A path: nodes[0], rels[0], nodes[1], ... ; `nodes.length === rels.length + 1`. */
export class PathValue {
  constructor(
    readonly nodes: NodeValue[],
    readonly relationships: RelationshipValue[],
  ) {}
}

export type TemporalKind = 'date' | 'localtime' | 'time' | 'localdatetime' | 'datetime' | 'duration';

/**
 * A temporal value. The engine owns the arithmetic; everywhere else a temporal
 * value is its kind and its ISO 8601 text (which is also its wire form).
 */
export class TemporalValue {
  constructor(
    readonly kind: TemporalKind,
    readonly iso: string,
  ) {}
  toString(): string {
    return this.iso;
  }
}

export function isMap(value: Value | undefined): value is ValueMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/** The Cypher type name of a value, as error messages and `valueType()` spell it. */
export function typeName(value: Value): string {
  if (value === null) return 'NULL';
  switch (typeof value) {
    case 'boolean':
      return 'BOOLEAN';
    case 'bigint':
      return 'INTEGER';
    case 'number':
      return 'FLOAT';
    case 'string':
      return 'STRING';
    default:
      break;
  }
  if (Array.isArray(value)) return 'LIST';
  if (value instanceof NodeValue) return 'NODE';
  if (value instanceof RelationshipValue) return 'RELATIONSHIP';
  if (value instanceof PathValue) return 'PATH';
  if (value instanceof TemporalValue) return value.kind.toUpperCase();
  return 'MAP';
}

// ---- wire form -------------------------------------------------------------

/** JSON-safe form of a value, as the HTTP API returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Serializes a value for the wire. INTEGERs inside the safe range become JSON
 * numbers; larger ones become decimal strings (documented in the API README).
 * Nodes become `{id, labels, properties}`, relationships
 * `{id, type, start, end, properties}`, paths `{nodes, relationships}`,
 * temporal values their ISO text.
 */
export function toJson(value: Value): JsonValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    default:
      break;
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof NodeValue) {
    return { id: value.id, labels: [...value.labels], properties: mapToJson(value.properties) };
  }
  if (value instanceof RelationshipValue) {
    return {
      id: value.id,
      type: value.type,
      start: value.start,
      end: value.end,
      properties: mapToJson(value.properties),
    };
  }
  if (value instanceof PathValue) {
    return {
      nodes: value.nodes.map((n) => toJson(n)),
      relationships: value.relationships.map((r) => toJson(r)),
    };
  }
  if (value instanceof TemporalValue) return value.iso;
  return mapToJson(value);
}

function mapToJson(map: ValueMap): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(map)) out[key] = toJson(map[key] ?? null);
  return out;
}

/**
 * Reads a parameter from JSON. Integral JSON numbers are INTEGERs, others are
 * FLOATs (JSON cannot tell `1.0` from `1`; send `1.5` style values for floats).
 */
export function fromJson(json: unknown): Value {
  if (json === null || json === undefined) return null;
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      return Number.isInteger(json) ? BigInt(json) : json;
    case 'bigint':
      return json;
    default:
      break;
  }
  if (Array.isArray(json)) return json.map(fromJson);
  if (typeof json === 'object') {
    const out: ValueMap = {};
    for (const [key, item] of Object.entries(json as Record<string, unknown>)) out[key] = fromJson(item);
    return out;
  }
  return null;
}
