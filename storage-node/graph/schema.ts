/**
 * Schema statements and their online work: property indexes (CREATE/DROP
 * INDEX, built in batches by backgroundStep when `WITH MODE online`) and
 * property defaults (ALTER GRAPH ADD PROPERTY, backfilled in batches when the
 * migration strategy is online; until a node is backfilled, loading it injects
 * the default, so the change is visible atomically).
 */
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { typeName } from '../../shared/gql/values.js';
import type { Value, ValueMap } from '../../shared/gql/values.js';
import type { AlterGraphAddPropertyStatement, CreateIndexStatement, DropIndexStatement } from '../../shared/gql/ast.js';
import { checkStorable, decodeProperties, encodeProperties, indexKey } from './encoding.js';
import type { DefaultDef, GraphStore, IndexDef, NodeRow } from './store.js';
import type { QueryStats } from './types.js';

/** Type names ALTER GRAPH accepts, mapped to the value type name they require. */
const TYPE_ALIASES: Record<string, string> = {
  BOOLEAN: 'BOOLEAN',
  BOOL: 'BOOLEAN',
  INTEGER: 'INTEGER',
  INT: 'INTEGER',
  INT64: 'INTEGER',
  FLOAT: 'FLOAT',
  FLOAT64: 'FLOAT',
  DOUBLE: 'FLOAT',
  STRING: 'STRING',
  TEXT: 'STRING',
  LIST: 'LIST',
  DATE: 'DATE',
  DATETIME: 'DATETIME',
  LOCALDATETIME: 'LOCALDATETIME',
  TIME: 'TIME',
  LOCALTIME: 'LOCALTIME',
  DURATION: 'DURATION',
};

export interface PendingDefault extends DefaultDef {
  decoded: Value;
}

export class SchemaState {
  indexes: IndexDef[] = [];
  /** All indexes (building or ready) by label: the write path maintains every one. */
  indexesByLabel = new Map<string, IndexDef[]>();
  /** Defaults whose backfill has not finished, by label. */
  pendingDefaults = new Map<string, PendingDefault[]>();
  private readonly defaultsPending = new Set<string>();

  constructor(private readonly store: GraphStore) {
    this.reload();
  }

  /** Re-reads the schema from SQLite (after open and after a rollback). */
  reload(): void {
    this.indexes = this.store.loadIndexes();
    this.indexesByLabel = new Map();
    for (const index of this.indexes) {
      const list = this.indexesByLabel.get(index.label) ?? [];
      list.push(index);
      this.indexesByLabel.set(index.label, list);
    }
    this.pendingDefaults = new Map();
    this.defaultsPending.clear();
    for (const def of this.store.loadDefaults()) {
      if (def.done) continue;
      const pending: PendingDefault = { ...def, decoded: decodeProperties(def.value)['v'] ?? null };
      const list = this.pendingDefaults.get(def.label) ?? [];
      list.push(pending);
      this.pendingDefaults.set(def.label, list);
      this.defaultsPending.add(`${def.label}\u0000${def.property}`);
    }
  }

  /** A complete index on (label, property) that the planner may use; not while a default is still being backfilled. */
  readyIndex(label: string, property: string): IndexDef | undefined {
    const list = this.indexesByLabel.get(label);
    if (list === undefined) return undefined;
    for (const index of list) {
      if (index.property === property && index.ready) {
        return this.defaultsPending.size > 0 && this.defaultsPending.has(`${label}\u0000${property}`) ? undefined : index;
      }
    }
    return undefined;
  }

  applyPendingDefaults(id: number, labels: readonly string[], props: ValueMap): void {
    for (const label of labels) {
      const list = this.pendingDefaults.get(label);
      if (list === undefined) continue;
      for (const def of list) {
        if (id > def.cursor && id <= def.maxNodeId && props[def.property] === undefined) props[def.property] = def.decoded;
      }
    }
  }

  // ---- statements ------------------------------------------------------------

  createIndex(stmt: CreateIndexStatement, stats: QueryStats): void {
    const property = stmt.properties[0];
    if (property === undefined || stmt.properties.length > 1) {
      throw new GeodeError(ErrorCode.UNSUPPORTED, 'Only single-property indexes are supported', { phase: 'compile' });
    }
    const existing = this.indexes.find((i) => i.label === stmt.label && i.property === property);
    const name = stmt.name ?? `index_${stmt.label}_${property}`;
    if (existing !== undefined || this.indexes.some((i) => i.name === name)) {
      if (stmt.ifNotExists || (existing !== undefined && stmt.name === null)) return;
      throw new GeodeError(ErrorCode.CONSTRAINT_VIOLATION, `An index named '${name}' or on :${stmt.label}(${property}) already exists`, {
        phase: 'runtime',
        detail: 'IndexAlreadyExists',
      });
    }
    const db = this.store.db;
    const info = db
      .prepare('INSERT INTO property_indexes (name, label, property, ready, cursor) VALUES (?, ?, ?, ?, 0)')
      .run(name, stmt.label, property, stmt.online ? 0 : 1);
    const id = Number(info.lastInsertRowid);
    if (!stmt.online) {
      while (this.buildIndexBatch(id, stmt.label, property, 0, Number.MAX_SAFE_INTEGER) !== null) {
        /* one batch covers everything */
      }
    }
    stats.indexesAdded++;
    this.reload();
  }

  dropIndex(stmt: DropIndexStatement, stats: QueryStats): void {
    const index =
      stmt.name !== null
        ? this.indexes.find((i) => i.name === stmt.name)
        : this.indexes.find((i) => i.label === stmt.label && i.property === stmt.properties[0]);
    if (index === undefined) {
      if (stmt.ifExists) return;
      throw new GeodeError(ErrorCode.CONSTRAINT_VIOLATION, 'No such index', { phase: 'runtime', detail: 'IndexNotFound' });
    }
    this.store.db.prepare('DELETE FROM index_entries WHERE index_id = ?').run(index.id);
    this.store.db.prepare('DELETE FROM property_indexes WHERE id = ?').run(index.id);
    stats.indexesRemoved++;
    this.reload();
  }

  addProperty(stmt: AlterGraphAddPropertyStatement, value: Value, stats: QueryStats): void {
    const required = TYPE_ALIASES[stmt.valueType];
    if (required === undefined) {
      throw new GeodeError(ErrorCode.UNSUPPORTED, `Unknown property type ${stmt.valueType}`, { phase: 'compile' });
    }
    if (value === null || typeName(value) !== required) {
      throw new GeodeError(ErrorCode.TYPE_ERROR, `Default for ${stmt.label}.${stmt.property} must be ${required}, got ${typeName(value)}`, {
        phase: 'runtime',
        detail: 'InvalidArgumentType',
      });
    }
    checkStorable(value, stmt.property);
    const maxRow = this.store.db.prepare('SELECT COALESCE(MAX(id), 0) FROM nodes').pluck().safeIntegers(false).get() as number;
    this.store.db
      .prepare(
        `INSERT INTO property_defaults (label, property, value_type, value, cursor, max_node_id, done) VALUES (?, ?, ?, ?, 0, ?, 0)
         ON CONFLICT (label, property) DO UPDATE SET value_type = excluded.value_type, value = excluded.value,
           cursor = 0, max_node_id = excluded.max_node_id, done = 0`,
      )
      .run(stmt.label, stmt.property, required, encodeProperties({ v: value }), maxRow);
    this.reload();
    if (!stmt.online) {
      while (this.backfillBatch(stmt.label, stmt.property, Number.MAX_SAFE_INTEGER, stats)) {
        /* one batch covers everything */
      }
    }
  }

  // ---- online work -------------------------------------------------------------

  /** Whether backgroundStep has anything to do. */
  hasPendingWork(): boolean {
    return this.pendingDefaults.size > 0 || this.indexes.some((i) => !i.ready);
  }

  /** One bounded slice of online work, inside the caller's transaction. Returns true while more remains. */
  step(maxRows: number): boolean {
    const building = this.indexes.find((i) => !i.ready);
    if (building !== undefined) {
      this.buildIndexBatch(building.id, building.label, building.property, building.cursor, maxRows);
    } else {
      const first = this.pendingDefaults.values().next();
      if (!first.done) {
        const def = first.value[0];
        if (def !== undefined) this.backfillBatch(def.label, def.property, maxRows, null);
      }
    }
    this.reload();
    return this.hasPendingWork();
  }

  /** Indexes nodes of `label` after `cursor`; returns the new cursor, or null when the index is complete. */
  private buildIndexBatch(indexId: number, label: string, property: string, cursor: number, maxRows: number): number | null {
    const db = this.store.db;
    const rows = db
      .prepare('SELECT n.id, n.labels, n.props FROM node_labels l JOIN nodes n ON n.id = l.node_id WHERE l.label = ? AND l.node_id > ? ORDER BY l.node_id LIMIT ?')
      .raw(true)
      .safeIntegers(false)
      .all(label, cursor, maxRows) as NodeRow[];
    for (const row of rows) {
      const props = decodeProperties(row[2]);
      this.applyPendingDefaults(row[0], [label], props);
      const value = props[property] ?? null;
      const key = value === null ? undefined : indexKey(value);
      if (key !== undefined) this.store.insertIndexEntry.run(indexId, key, row[0]);
    }
    const last = rows[rows.length - 1];
    if (rows.length < maxRows || last === undefined) {
      db.prepare('UPDATE property_indexes SET ready = 1, cursor = ? WHERE id = ?').run(last?.[0] ?? cursor, indexId);
      return null;
    }
    db.prepare('UPDATE property_indexes SET cursor = ? WHERE id = ?').run(last[0], indexId);
    return last[0];
  }

  /** Writes the default into up to maxRows nodes lacking it; returns true while more remain. */
  private backfillBatch(label: string, property: string, maxRows: number, stats: QueryStats | null): boolean {
    const def = this.pendingDefaults.get(label)?.find((d) => d.property === property);
    if (def === undefined) return false;
    const db = this.store.db;
    const rows = db
      .prepare(
        'SELECT n.id, n.labels, n.props FROM node_labels l JOIN nodes n ON n.id = l.node_id WHERE l.label = ? AND l.node_id > ? AND l.node_id <= ? ORDER BY l.node_id LIMIT ?',
      )
      .raw(true)
      .safeIntegers(false)
      .all(label, def.cursor, def.maxNodeId, maxRows) as NodeRow[];
    const indexes = (this.indexesByLabel.get(label) ?? []).filter((i) => i.property === property);
    for (const row of rows) {
      const props = decodeProperties(row[2]);
      if (props[property] !== undefined) continue;
      props[property] = def.decoded;
      this.store.updateNodeProps.run(encodeProperties(props), row[0]);
      if (stats !== null) stats.propertiesSet++;
      const key = indexKey(def.decoded);
      if (key !== undefined) for (const index of indexes) this.store.insertIndexEntry.run(index.id, key, row[0]);
    }
    const last = rows[rows.length - 1];
    const finished = rows.length < maxRows || last === undefined;
    db.prepare('UPDATE property_defaults SET cursor = ?, done = ? WHERE label = ? AND property = ?').run(
      finished ? def.maxNodeId : (last as NodeRow)[0],
      finished ? 1 : 0,
      label,
      property,
    );
    def.cursor = finished ? def.maxNodeId : (last as NodeRow)[0];
    if (finished) this.reload();
    return !finished;
  }
}
