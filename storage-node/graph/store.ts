/**
 * The SQLite layout of the graph and the prepared statements over it. Nothing
 * here knows about queries: the transaction layer (transaction.ts) turns rows
 * into NodeValue/RelationshipValue objects and keeps indexes in step.
 *
 * Layout:
 * - `nodes(id, labels, props)`: labels a JSON array, props JSON (encoding.ts).
 * - `node_labels(label, node_id)` WITHOUT ROWID: the label index.
 * - `rels(id, type, start_id, end_id, props)` with adjacency indexes on
 *   (start_id, type) and (end_id, type).
 * - `property_indexes` + `index_entries(index_id, value, node_id)` WITHOUT ROWID:
 *   each property index is a clustered B-tree keyed by (index, value, node).
 * - `property_defaults`: defaults added by ALTER GRAPH ADD PROPERTY and their backfill cursor.
 * - `settings(name, value)`: cluster settings; `counters`: id allocation.
 */
import Database from 'better-sqlite3';
import type { Statement as SqlStatement, Database as SqlDatabase } from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, labels TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_labels (label TEXT NOT NULL, node_id INTEGER NOT NULL, PRIMARY KEY (label, node_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rels (id INTEGER PRIMARY KEY, type TEXT NOT NULL, start_id INTEGER NOT NULL, end_id INTEGER NOT NULL, props TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rels_by_start ON rels (start_id, type);
CREATE INDEX IF NOT EXISTS rels_by_end ON rels (end_id, type);
CREATE TABLE IF NOT EXISTS property_indexes (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, label TEXT NOT NULL, property TEXT NOT NULL,
  ready INTEGER NOT NULL, cursor INTEGER NOT NULL, UNIQUE (label, property));
CREATE TABLE IF NOT EXISTS index_entries (index_id INTEGER NOT NULL, value NOT NULL, node_id INTEGER NOT NULL,
  PRIMARY KEY (index_id, value, node_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS property_defaults (
  label TEXT NOT NULL, property TEXT NOT NULL, value_type TEXT NOT NULL, value TEXT NOT NULL,
  cursor INTEGER NOT NULL, max_node_id INTEGER NOT NULL, done INTEGER NOT NULL, PRIMARY KEY (label, property));
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** A stored node row: [id, labels JSON, props JSON]. */
export type NodeRow = [number, string, string];
/** A stored relationship row: [id, type, start, end, props JSON]. */
export type RelRow = [number, string, number, number, string];
/**
 * A relationship joined with the node at its far end: [rel id, far node id, rel props,
 * far labels, far props, type]; the type column is only selected when the query is not by type.
 */
export type ExpandRow = [number, number, string, string, string, string?];

export interface IndexDef {
  id: number;
  name: string;
  label: string;
  property: string;
  ready: boolean;
  cursor: number;
}

export interface DefaultDef {
  label: string;
  property: string;
  valueType: string;
  /** Encoded JSON of the default (encodeProperties form of `{v: value}`). */
  value: string;
  cursor: number;
  maxNodeId: number;
  done: boolean;
}

/** Rows a scan fetches per SQLite call: big enough to amortize, small enough for LIMIT to stop early. */
export const SCAN_PAGE = 256;

export class GraphStore {
  readonly db: SqlDatabase;
  nextNodeId = 1;
  nextRelId = 1;
  /** The counters' values as last read from or written to the database, so a save writes only what moved. */
  private savedNodeId = 1;
  private savedRelId = 1;

  readonly begin: SqlStatement;
  readonly savepoint: SqlStatement;
  readonly releaseSavepoint: SqlStatement;
  readonly rollbackToSavepoint: SqlStatement;
  readonly commit: SqlStatement;
  readonly rollback: SqlStatement;

  readonly nodeById: SqlStatement<[number], NodeRow>;
  readonly nodesAfter: SqlStatement<[number, number], NodeRow>;
  readonly nodesByLabelAfter: SqlStatement<[string, number, number], NodeRow>;
  readonly nodesByIndexValue: SqlStatement<[number, unknown], NodeRow>;
  readonly insertNode: SqlStatement<[number, string, string]>;
  readonly updateNodeProps: SqlStatement<[string, number]>;
  readonly updateNodeLabels: SqlStatement<[string, number]>;
  readonly deleteNode: SqlStatement<[number]>;
  readonly insertLabel: SqlStatement<[string, number]>;
  readonly deleteLabel: SqlStatement<[string, number]>;
  readonly labelInUse: SqlStatement<[string], [number]>;

  readonly relById: SqlStatement<[number], RelRow>;
  readonly relsAfter: SqlStatement<[number, number], RelRow>;
  readonly relsOut: SqlStatement<[number], RelRow>;
  readonly relsIn: SqlStatement<[number], RelRow>;
  readonly relsOutTyped: SqlStatement<[number, string], RelRow>;
  readonly relsInTyped: SqlStatement<[number, string], RelRow>;
  readonly expandOut: SqlStatement<[number], ExpandRow>;
  readonly expandIn: SqlStatement<[number], ExpandRow>;
  readonly expandOutTyped: SqlStatement<[number, string], ExpandRow>;
  readonly expandInTyped: SqlStatement<[number, string], ExpandRow>;
  readonly relsOfNodeExist: SqlStatement<[number, number], [number]>;
  readonly relIdsOfNode: SqlStatement<[number, number], [number]>;
  readonly insertRel: SqlStatement<[number, string, number, number, string]>;
  readonly updateRelProps: SqlStatement<[string, number]>;
  readonly deleteRel: SqlStatement<[number]>;

  readonly insertIndexEntry: SqlStatement<[number, unknown, number]>;
  readonly deleteIndexEntry: SqlStatement<[number, unknown, number]>;
  readonly saveCounter: SqlStatement<[string, number]>;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.defaultSafeIntegers(true);
    if (path !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);

    const rows = <P extends unknown[], R>(sql: string): SqlStatement<P, R> =>
      (this.db.prepare(sql) as SqlStatement<P, R>).raw(true).safeIntegers(false);
    const run = <P extends unknown[]>(sql: string): SqlStatement<P> => this.db.prepare(sql) as SqlStatement<P>;

    this.begin = this.db.prepare('BEGIN');
    this.commit = this.db.prepare('COMMIT');
    this.rollback = this.db.prepare('ROLLBACK');
    // A statement inside a caller's transaction (a replicated batch) is a savepoint; prepared once, not parsed per statement.
    this.savepoint = this.db.prepare('SAVEPOINT geode_statement');
    this.releaseSavepoint = this.db.prepare('RELEASE geode_statement');
    this.rollbackToSavepoint = this.db.prepare('ROLLBACK TO geode_statement');

    this.nodeById = rows('SELECT id, labels, props FROM nodes WHERE id = ?');
    this.nodesAfter = rows('SELECT id, labels, props FROM nodes WHERE id > ? ORDER BY id LIMIT ?');
    this.nodesByLabelAfter = rows(
      'SELECT n.id, n.labels, n.props FROM node_labels l JOIN nodes n ON n.id = l.node_id WHERE l.label = ? AND l.node_id > ? ORDER BY l.node_id LIMIT ?',
    );
    this.nodesByIndexValue = rows(
      'SELECT n.id, n.labels, n.props FROM index_entries e JOIN nodes n ON n.id = e.node_id WHERE e.index_id = ? AND e.value = ?',
    );
    this.insertNode = run('INSERT INTO nodes (id, labels, props) VALUES (?, ?, ?)');
    this.updateNodeProps = run('UPDATE nodes SET props = ? WHERE id = ?');
    this.updateNodeLabels = run('UPDATE nodes SET labels = ? WHERE id = ?');
    this.deleteNode = run('DELETE FROM nodes WHERE id = ?');
    this.insertLabel = run('INSERT OR IGNORE INTO node_labels (label, node_id) VALUES (?, ?)');
    this.deleteLabel = run('DELETE FROM node_labels WHERE label = ? AND node_id = ?');
    this.labelInUse = rows('SELECT 1 FROM node_labels WHERE label = ? LIMIT 1');

    this.relById = rows('SELECT id, type, start_id, end_id, props FROM rels WHERE id = ?');
    this.relsAfter = rows('SELECT id, type, start_id, end_id, props FROM rels WHERE id > ? ORDER BY id LIMIT ?');
    this.relsOut = rows('SELECT id, type, start_id, end_id, props FROM rels WHERE start_id = ? ORDER BY id');
    this.relsIn = rows('SELECT id, type, start_id, end_id, props FROM rels WHERE end_id = ? ORDER BY id');
    this.relsOutTyped = rows('SELECT id, type, start_id, end_id, props FROM rels WHERE start_id = ? AND type = ? ORDER BY id');
    this.relsInTyped = rows('SELECT id, type, start_id, end_id, props FROM rels WHERE end_id = ? AND type = ? ORDER BY id');
    // Few columns on purpose: every selected TEXT becomes a JS string per row.
    const expand = (near: string, far: string, typed: boolean): string =>
      `SELECT r.id, r.${far}, r.props, n.labels, n.props${typed ? '' : ', r.type'} FROM rels r JOIN nodes n ON n.id = r.${far}
       WHERE r.${near} = ?${typed ? ' AND r.type = ?' : ''} ORDER BY r.id`;
    this.expandOut = rows(expand('start_id', 'end_id', false));
    this.expandIn = rows(expand('end_id', 'start_id', false));
    this.expandOutTyped = rows(expand('start_id', 'end_id', true));
    this.expandInTyped = rows(expand('end_id', 'start_id', true));
    this.relsOfNodeExist = rows(
      'SELECT 1 WHERE EXISTS (SELECT 1 FROM rels WHERE start_id = ?) OR EXISTS (SELECT 1 FROM rels WHERE end_id = ?)',
    );
    this.relIdsOfNode = rows('SELECT id FROM rels WHERE start_id = ? UNION SELECT id FROM rels WHERE end_id = ? ORDER BY 1');
    this.insertRel = run('INSERT INTO rels (id, type, start_id, end_id, props) VALUES (?, ?, ?, ?, ?)');
    this.updateRelProps = run('UPDATE rels SET props = ? WHERE id = ?');
    this.deleteRel = run('DELETE FROM rels WHERE id = ?');

    this.insertIndexEntry = run('INSERT OR IGNORE INTO index_entries (index_id, value, node_id) VALUES (?, ?, ?)');
    this.deleteIndexEntry = run('DELETE FROM index_entries WHERE index_id = ? AND value = ? AND node_id = ?');
    this.saveCounter = run('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');

    this.loadCounters();
  }

  loadCounters(): void {
    const counters = this.db.prepare('SELECT name, value FROM counters').raw(true).safeIntegers(false).all() as [string, number][];
    this.nextNodeId = 1;
    this.nextRelId = 1;
    for (const [name, value] of counters) {
      if (name === 'node') this.nextNodeId = value;
      if (name === 'rel') this.nextRelId = value;
    }
    this.savedNodeId = this.nextNodeId;
    this.savedRelId = this.nextRelId;
  }

  /** The counters before a statement, so a statement rolled back to its savepoint can give its ids back. */
  counterMark(): [number, number] {
    return [this.nextNodeId, this.nextRelId];
  }

  /** Rolls the in-memory counters back to a mark (a statement inside a batch writes none; see GraphEngine.inBatch). */
  restoreCounters(mark: [number, number]): void {
    [this.nextNodeId, this.nextRelId] = mark;
  }

  saveCounters(): void {
    if (this.nextNodeId !== this.savedNodeId) this.saveCounter.run('node', (this.savedNodeId = this.nextNodeId));
    if (this.nextRelId !== this.savedRelId) this.saveCounter.run('rel', (this.savedRelId = this.nextRelId));
  }

  loadIndexes(): IndexDef[] {
    const rows = this.db
      .prepare('SELECT id, name, label, property, ready, cursor FROM property_indexes ORDER BY id')
      .raw(true)
      .safeIntegers(false)
      .all() as [number, string, string, string, number, number][];
    return rows.map(([id, name, label, property, ready, cursor]) => ({ id, name, label, property, ready: ready === 1, cursor }));
  }

  loadDefaults(): DefaultDef[] {
    const rows = this.db
      .prepare('SELECT label, property, value_type, value, cursor, max_node_id, done FROM property_defaults')
      .raw(true)
      .safeIntegers(false)
      .all() as [string, string, string, string, number, number, number][];
    return rows.map(([label, property, valueType, value, cursor, maxNodeId, done]) => ({
      label,
      property,
      valueType,
      value,
      cursor,
      maxNodeId,
      done: done === 1,
    }));
  }

  close(): void {
    this.db.close();
  }
}
