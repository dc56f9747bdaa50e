/**
 * TCK equality of values and result tables. Each value gets a canonical key
 * such that two values are TCK-equal exactly when their keys are equal, which
 * makes bag comparison of rows a matter of counting keys.
 *
 * TCK equality: INTEGER and FLOAT never equal each other; NaN equals NaN;
 * nodes compare by label set and properties, relationships by type and
 * properties, paths element by element including each relationship's
 * direction; an expected string equals a temporal value with that ISO text.
 */
import {
  NodeValue,
  PathValue,
  RelationshipValue,
  TemporalValue,
  isMap,
  type Value,
  type ValueMap,
} from '../../../shared/gql/values.js';

export interface CompareOptions {
  /** Lists (at any depth) are compared as multisets. */
  ignoreListOrder?: boolean;
}

export function canonicalKey(value: Value, options: CompareOptions = {}): string {
  const unordered = options.ignoreListOrder === true;
  const key = (v: Value): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'boolean':
        return v ? 'true' : 'false';
      case 'bigint':
        return `i${v.toString()}`;
      case 'number':
        // -0 and 0 are the same FLOAT for the TCK.
        return Number.isNaN(v) ? 'fNaN' : `f${v === 0 ? '0' : String(v)}`;
      case 'string':
        return `s${JSON.stringify(v)}`;
      default:
        break;
    }
    if (Array.isArray(v)) {
      const items = v.map(key);
      if (unordered) items.sort();
      return `[${items.join(',')}]`;
    }
    if (v instanceof NodeValue) return nodeKey(v, key);
    if (v instanceof RelationshipValue) return relKey(v, key);
    if (v instanceof PathValue) {
      let out = `<${v.nodes[0] ? nodeKey(v.nodes[0], key) : '?'}`;
      v.relationships.forEach((rel, i) => {
        const from = v.nodes[i];
        const to = v.nodes[i + 1];
        // A self-loop reads as forward, the way the TCK writes it.
        const forward = from !== undefined && rel.start === from.id;
        const arrow = forward ? ['-', '->'] : ['<-', '-'];
        out += `${arrow[0]}${relKey(rel, key)}${arrow[1]}${to ? nodeKey(to, key) : '?'}`;
      });
      return `${out}>`;
    }
    // The TCK writes temporal results as strings of their ISO text.
    if (v instanceof TemporalValue) return `s${JSON.stringify(v.iso)}`;
    if (isMap(v)) return mapKey(v, key);
    return `?${String(v)}`;
  };
  return key(value);
}

function mapKey(map: ValueMap, key: (v: Value) => string): string {
  const keys = Object.keys(map).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${key(map[k] ?? null)}`).join(',')}}`;
}

function nodeKey(node: NodeValue, key: (v: Value) => string): string {
  const labels = [...new Set(node.labels)].sort().map((l) => JSON.stringify(l));
  return `(${labels.join(':')} ${mapKey(node.properties, key)})`;
}

function relKey(rel: RelationshipValue, key: (v: Value) => string): string {
  return `[${JSON.stringify(rel.type)} ${mapKey(rel.properties, key)}]`;
}

export function valuesEqual(expected: Value, actual: Value, options: CompareOptions = {}): boolean {
  return canonicalKey(expected, options) === canonicalKey(actual, options);
}

export interface TableExpectation {
  columns: string[];
  rows: Value[][];
  ordered: boolean;
  ignoreListOrder: boolean;
}

export interface TableActual {
  columns: string[];
  rows: Value[][];
}

/** Returns null when the actual table matches, else a one-line reason. */
export function compareTables(expected: TableExpectation, actual: TableActual): string | null {
  const options: CompareOptions = { ignoreListOrder: expected.ignoreListOrder };
  if (
    expected.columns.length !== actual.columns.length ||
    expected.columns.some((c, i) => c !== actual.columns[i])
  ) {
    return `columns differ: expected [${expected.columns.join(', ')}], got [${actual.columns.join(', ')}]`;
  }
  if (expected.rows.length !== actual.rows.length) {
    return `row count differs: expected ${expected.rows.length}, got ${actual.rows.length}`;
  }
  const rowKey = (row: Value[]): string => row.map((v) => canonicalKey(v, options)).join('|');
  if (expected.ordered) {
    for (let i = 0; i < expected.rows.length; i++) {
      const e = expected.rows[i] ?? [];
      const a = actual.rows[i] ?? [];
      if (rowKey(e) !== rowKey(a)) return `row ${i + 1} differs (in order)`;
    }
    return null;
  }
  const counts = new Map<string, number>();
  for (const row of actual.rows) {
    const k = rowKey(row);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  let missing = 0;
  for (const row of expected.rows) {
    const k = rowKey(row);
    const n = counts.get(k) ?? 0;
    if (n === 0) missing++;
    else counts.set(k, n - 1);
  }
  return missing === 0 ? null : `${missing} of ${expected.rows.length} expected rows not found (any order)`;
}
