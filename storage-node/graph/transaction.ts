/**
 * The graph as one statement sees it: an identity map (one live NodeValue or
 * RelationshipValue per entity, mutated in place on SET/REMOVE so every row
 * and the evaluator see the change), write-through to SQLite, property index
 * maintenance, pending ALTER GRAPH defaults, deletion bookkeeping, id
 * allocation (written by the engine at commit) and the statement's budget
 * (rows touched, entities kept). One instance per execute(); discarded after.
 *
 * A write keeps every entity it touches (SET must be seen by every row, and
 * changes are written back at the end), each charged to the memory budget. A
 * read only needs entities while rows hold them: its identity map is a cache,
 * emptied whenever it holds READ_CACHE_BYTES, so a scan of millions of nodes
 * does not keep them all.
 */
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { NodeValue, RelationshipValue } from '../../shared/gql/values.js';
import type { Value, ValueMap } from '../../shared/gql/values.js';
import type { QueryStats } from './types.js';
import { ENTITY_BYTES, LIST_BYTES, ROW_WORK, SLOT_BYTES } from './eval/budget.js';
import type { StatementBudget } from './eval/budget.js';
import { checkStorable, decodeProperties, encodeProperties, indexKey } from './encoding.js';
import { SCAN_PAGE } from './store.js';
import type { ExpandRow, GraphStore, NodeRow, RelRow } from './store.js';
import type { SchemaState } from './schema.js';

export type Direction = 'out' | 'in' | 'both';

/** Rows a relationship write touches: its row and its two adjacency index entries. */
const REL_ROWS = 3;

/** Estimated bytes of entities a read keeps in its identity map before emptying it. */
const READ_CACHE_BYTES = 16 * 1024 * 1024;

/** Estimated bytes of an entity loaded from `propsJson` (decoded properties take about twice the JSON's length). */
function loadedBytes(propsJson: string, labelsJson: string): number {
  return ENTITY_BYTES + 2 * (propsJson.length + labelsJson.length);
}

/** Work of encoding or decoding property JSON of `length` characters (beyond the row it belongs to). */
function jsonWork(length: number): number {
  return length >> 6;
}

export function emptyStats(): QueryStats {
  return {
    nodesCreated: 0,
    nodesDeleted: 0,
    relationshipsCreated: 0,
    relationshipsDeleted: 0,
    propertiesSet: 0,
    labelsAdded: 0,
    labelsRemoved: 0,
    indexesAdded: 0,
    indexesRemoved: 0,
  };
}


/** Parsed label lists by their stored JSON: few distinct label sets exist, so most loads skip JSON.parse. */
const labelCache = new Map<string, readonly string[]>();

function parseLabels(json: string): string[] {
  let cached = labelCache.get(json);
  if (cached === undefined) {
    cached = JSON.parse(json) as string[];
    if (labelCache.size < 10_000) labelCache.set(json, cached);
  }
  return cached.slice();
}

class WriteState {
  readonly deletedNodes = new Set<number>();
  readonly deletedRels = new Set<number>();
  /** Nodes deleted without DETACH: checked for remaining relationships when the statement ends. */
  readonly undetachedDeletes: NodeValue[] = [];
  readonly dirtyNodes = new Set<NodeValue>();
  readonly dirtyRels = new Set<RelationshipValue>();
}

const NO_WRITES = new WriteState();

/** Thrown by a read running as one statement when it needs a second: run it again in a transaction. */
export const NEEDS_SNAPSHOT = new Error('this read needs more than one SQLite statement: run it in a transaction');

export class GraphTransaction {
  readonly nodes = new Map<number, NodeValue>();
  readonly rels = new Map<number, RelationshipValue>();
  readonly stats: QueryStats = emptyStats();
  /** Write-side bookkeeping, allocated on the first write so reads stay allocation-light. */
  private writes: WriteState | undefined;
  /** Estimated bytes in the identity maps of a read (see READ_CACHE_BYTES). */
  private cachedBytes = 0;
  /**
   * Set while a read runs outside a transaction on the bet that it needs one SQLite statement (a point
   * lookup): a single statement is a consistent snapshot on its own. A second one would not share its
   * snapshot, so it throws NEEDS_SNAPSHOT and the engine runs the read again in a transaction.
   */
  singleStatement = false;
  private statements = 0;

  /**
   * `keepEntities`: the statement may write, so every entity it loads stays in the identity map
   * (charged to the budget); otherwise the map is a bounded cache.
   */
  constructor(
    readonly store: GraphStore,
    readonly schema: SchemaState,
    readonly budget: StatementBudget,
    private readonly keepEntities: boolean,
  ) {
    budget.entitiesCharged = keepEntities;
  }

  /** Counts rows touched against the work budget (and, every few hundred rows, the deadline). */
  touch(rows = 1): void {
    this.budget.touch(rows);
  }

  checkDeadline(): void {
    this.budget.checkDeadline();
  }

  /** Accounts for an entity just loaded into the identity map. */
  private loaded(bytes: number): void {
    if (this.keepEntities) {
      this.budget.retainEntity(bytes);
      return;
    }
    // Rows and lists (a node's relationships, say) may hold it after the cache lets go: it counts as held until they move on.
    this.budget.alloc(bytes, 'the nodes and relationships being read');
    this.cachedBytes += bytes;
    if (this.cachedBytes > READ_CACHE_BYTES) {
      // A read never changes an entity, so a later load of the same id may build a new object.
      this.nodes.clear();
      this.rels.clear();
      this.cachedBytes = 0;
    }
  }

  /** Called before every SQLite read this transaction runs. */
  private beforeRead(): void {
    if (this.singleStatement && this.statements++ > 0) throw NEEDS_SNAPSHOT;
  }

  private get w(): WriteState {
    return (this.writes ??= new WriteState());
  }

  /** Read-only view of the write state (a shared empty one before the first write). */
  private get r(): WriteState {
    return this.writes ?? NO_WRITES;
  }

  // ---- reading ---------------------------------------------------------------

  nodeFromRow(row: NodeRow): NodeValue {
    return this.node(row[0], row[1], row[2]);
  }

  private node(id: number, labelsJson: string, propsJson: string): NodeValue {
    let node = this.nodes.get(id);
    if (node === undefined) {
      const labels = parseLabels(labelsJson);
      const props = decodeProperties(propsJson);
      if (this.schema.pendingDefaults.size > 0) this.schema.applyPendingDefaults(id, labels, props);
      node = new NodeValue(id, labels, props);
      this.nodes.set(id, node);
      this.budget.work(jsonWork(propsJson.length));
      this.loaded(loadedBytes(propsJson, labelsJson));
    }
    return node;
  }

  relFromRow(row: RelRow): RelationshipValue {
    const id = row[0];
    let rel = this.rels.get(id);
    if (rel === undefined) {
      rel = new RelationshipValue(id, row[1], row[2], row[3], decodeProperties(row[4]));
      this.rels.set(id, rel);
      this.budget.work(jsonWork(row[4].length));
      this.loaded(loadedBytes(row[4], row[1]));
    }
    return rel;
  }

  nodeById(id: number): NodeValue | null {
    const known = this.nodes.get(id);
    if (known !== undefined) return this.r.deletedNodes.has(id) ? null : known;
    this.beforeRead();
    const row = this.store.nodeById.get(id);
    return row === undefined ? null : this.nodeFromRow(row);
  }

  /** A relationship's endpoint, even when that node was deleted earlier in this statement. */
  endpoint(id: number): NodeValue | null {
    return this.nodes.get(id) ?? this.nodeById(id);
  }

  *allNodes(): Generator<NodeValue> {
    let after = 0;
    for (;;) {
      this.beforeRead();
      const page = this.store.nodesAfter.all(after, SCAN_PAGE);
      for (const row of page) {
        // A node a read loads counts while its row is in flight (see loaded()).
        const mark = this.budget.held;
        this.touch();
        yield this.nodeFromRow(row);
        this.budget.held = mark;
      }
      if (page.length < SCAN_PAGE) return;
      after = (page[page.length - 1] as NodeRow)[0];
    }
  }

  *nodesByLabel(label: string): Generator<NodeValue> {
    let after = 0;
    for (;;) {
      this.beforeRead();
      const page = this.store.nodesByLabelAfter.all(label, after, SCAN_PAGE);
      for (const row of page) {
        // A node a read loads counts while its row is in flight (see loaded()).
        const mark = this.budget.held;
        this.touch();
        yield this.nodeFromRow(row);
        this.budget.held = mark;
      }
      if (page.length < SCAN_PAGE) return;
      after = (page[page.length - 1] as NodeRow)[0];
    }
  }

  *allRelationships(): Generator<RelationshipValue> {
    let after = 0;
    for (;;) {
      this.beforeRead();
      const page = this.store.relsAfter.all(after, SCAN_PAGE);
      for (const row of page) yield this.relFromRow(row);
      if (page.length < SCAN_PAGE) return;
      after = (page[page.length - 1] as RelRow)[0];
    }
  }

  /**
   * Nodes with `label` whose `property` equals `value`, through a ready index;
   * undefined when no ready index covers (label, property) or the value is not indexable.
   */
  seek(label: string, property: string, value: Value): NodeValue[] | undefined {
    const index = this.schema.readyIndex(label, property);
    if (index === undefined) return undefined;
    if (value === null) return [];
    const key = indexKey(value);
    if (key === undefined) return undefined;
    this.beforeRead();
    const rows = this.store.nodesByIndexValue.all(index.id, key);
    const out: NodeValue[] = [];
    for (const row of rows) {
      this.touch();
      out.push(this.nodeFromRow(row));
    }
    return out;
  }

  /** Relationships at `node` in `direction`, restricted to `types` when non-empty. A self-loop appears once. */
  relationshipsOf(node: NodeValue, direction: Direction, types: readonly string[]): RelationshipValue[] {
    const out: RelationshipValue[] = [];
    this.budget.alloc(LIST_BYTES, 'relationships of a node');
    const store = this.store;
    const id = node.id;
    if (types.length === 0) {
      if (direction !== 'in') {
        this.beforeRead();
        this.collectRels(store.relsOut.all(id), false, out);
      }
      if (direction !== 'out') {
        this.beforeRead();
        this.collectRels(store.relsIn.all(id), direction === 'both', out);
      }
    } else {
      for (const type of types) {
        if (direction !== 'in') {
          this.beforeRead();
          this.collectRels(store.relsOutTyped.all(id, type), false, out);
        }
        if (direction !== 'out') {
          this.beforeRead();
          this.collectRels(store.relsInTyped.all(id, type), direction === 'both', out);
        }
      }
    }
    return out;
  }

  /**
   * Relationships at `node` with the node at their far end, in one SQL call per
   * direction and type. Fills `rels` and `others` in step; a self-loop appears once.
   */
  expand(node: NodeValue, direction: Direction, types: readonly string[], rels: RelationshipValue[], others: NodeValue[]): void {
    const store = this.store;
    const id = node.id;
    if (types.length === 0) {
      if (direction !== 'in') {
        this.beforeRead();
        this.collectExpanded(store.expandOut.all(id), id, true, null, false, rels, others);
      }
      if (direction !== 'out') {
        this.beforeRead();
        this.collectExpanded(store.expandIn.all(id), id, false, null, direction === 'both', rels, others);
      }
    } else {
      for (const type of types) {
        if (direction !== 'in') {
          this.beforeRead();
          this.collectExpanded(store.expandOutTyped.all(id, type), id, true, type, false, rels, others);
        }
        if (direction !== 'out') {
          this.beforeRead();
          this.collectExpanded(store.expandInTyped.all(id, type), id, false, type, direction === 'both', rels, others);
        }
      }
    }
  }

  private collectExpanded(
    rows: ExpandRow[],
    nearId: number,
    outgoing: boolean,
    type: string | null,
    skipLoops: boolean,
    rels: RelationshipValue[],
    others: NodeValue[],
  ): void {
    for (const row of rows) {
      const farId = row[1];
      if (skipLoops && farId === nearId) continue;
      this.touch();
      this.budget.alloc(2 * SLOT_BYTES, 'relationships of a node');
      const relId = row[0];
      let rel = this.rels.get(relId);
      if (rel === undefined) {
        const start = outgoing ? nearId : farId;
        const end = outgoing ? farId : nearId;
        rel = new RelationshipValue(relId, type ?? (row[5] as string), start, end, decodeProperties(row[2]));
        this.rels.set(relId, rel);
        this.budget.work(jsonWork(row[2].length));
        this.loaded(loadedBytes(row[2], rel.type));
      }
      rels.push(rel);
      others.push(this.node(farId, row[3], row[4]));
    }
  }

  private collectRels(rows: RelRow[], skipLoops: boolean, out: RelationshipValue[]): void {
    for (const row of rows) {
      if (skipLoops && row[2] === row[3]) continue;
      this.touch();
      this.budget.alloc(SLOT_BYTES, 'relationships of a node');
      out.push(this.relFromRow(row));
    }
  }

  isDeleted(entity: NodeValue | RelationshipValue): boolean {
    if (this.writes === undefined) return false;
    return entity instanceof NodeValue ? this.writes.deletedNodes.has(entity.id) : this.writes.deletedRels.has(entity.id);
  }

  // ---- writing ---------------------------------------------------------------

  /** Creates a node; `labelsJson` is JSON.stringify(labels) when the caller has it precomputed. */
  createNode(labels: readonly string[], props: ValueMap, labelsJson?: string): NodeValue {
    const id = this.store.nextNodeId++;
    const clean = this.storableCopy(props);
    const uniqueLabels = labelsJson !== undefined ? [...labels] : [...new Set(labels)];
    const encoded = encodeProperties(clean);
    this.store.insertNode.run(id, labelsJson ?? JSON.stringify(uniqueLabels), encoded);
    for (const label of uniqueLabels) this.store.insertLabel.run(label, id);
    this.stats.labelsAdded += uniqueLabels.length;
    const node = new NodeValue(id, uniqueLabels, clean);
    this.nodes.set(id, node);
    this.budget.retainEntity(loadedBytes(encoded, labelsJson ?? '[]') + uniqueLabels.length * 16);
    if (this.schema.indexesByLabel.size > 0) {
      for (const label of uniqueLabels) this.indexNode(node, label, true);
    }
    this.stats.nodesCreated++;
    // The node row, one row per label and the property JSON (index entries count in indexNode).
    this.budget.work((1 + uniqueLabels.length) * ROW_WORK + jsonWork(encoded.length));
    return node;
  }

  /** The non-null entries of `props`, checked storable. */
  private storableCopy(props: ValueMap): ValueMap {
    const clean: ValueMap = {};
    let count = 0;
    for (const key in props) {
      const value = props[key];
      if (value === null || value === undefined) continue;
      if (typeof value === 'object') checkStorable(value, key);
      clean[key] = value;
      count++;
    }
    this.stats.propertiesSet += count;
    return clean;
  }

  createRelationship(type: string, start: NodeValue, end: NodeValue, props: ValueMap): RelationshipValue {
    if (this.r.deletedNodes.has(start.id) || this.r.deletedNodes.has(end.id)) {
      throw new GeodeError(ErrorCode.ENTITY_NOT_FOUND, 'Cannot create a relationship to a deleted node', { phase: 'runtime', detail: 'DeletedEntityAccess' });
    }
    const id = this.store.nextRelId++;
    const clean = this.storableCopy(props);
    const encoded = encodeProperties(clean);
    this.store.insertRel.run(id, type, start.id, end.id, encoded);
    const rel = new RelationshipValue(id, type, start.id, end.id, clean);
    this.rels.set(id, rel);
    this.budget.retainEntity(loadedBytes(encoded, type));
    this.stats.relationshipsCreated++;
    this.budget.work(REL_ROWS * ROW_WORK + jsonWork(encoded.length));
    return rel;
  }

  private assertLive(entity: NodeValue | RelationshipValue): void {
    if (this.isDeleted(entity)) {
      throw new GeodeError(ErrorCode.ENTITY_NOT_FOUND, `The ${entity instanceof NodeValue ? 'node' : 'relationship'} was deleted earlier in this statement`, {
        phase: 'runtime',
        detail: 'DeletedEntityAccess',
      });
    }
  }

  /** Sets one property; null removes it. */
  setProperty(entity: NodeValue | RelationshipValue, key: string, value: Value): void {
    this.assertLive(entity);
    const props = entity.properties;
    const old = props[key] ?? null;
    if (value === null) {
      if (old === null) return;
      delete props[key];
    } else {
      checkStorable(value, key);
      props[key] = value;
      this.stats.propertiesSet++;
      // The entity now keeps the value (shared values count once).
      this.budget.retainValue(value, 'SET property values');
    }
    // The change and its share of re-encoding the entity at the end.
    this.touch(2);
    if (entity instanceof NodeValue) {
      this.w.dirtyNodes.add(entity);
      if (this.schema.indexesByLabel.size > 0) this.reindexProperty(entity, key, old, value);
    } else {
      this.w.dirtyRels.add(entity);
    }
  }

  /** `n = {map}`: replaces all properties. */
  replaceProperties(entity: NodeValue | RelationshipValue, map: ValueMap): void {
    this.assertLive(entity);
    for (const key of Object.keys(entity.properties)) {
      if (!(key in map) || map[key] === null) this.setProperty(entity, key, null);
    }
    for (const key in map) this.setProperty(entity, key, map[key] ?? null);
  }

  addLabel(node: NodeValue, label: string): void {
    this.assertLive(node);
    if (node.labels.includes(label)) return;
    node.labels.push(label);
    this.store.insertLabel.run(label, node.id);
    this.w.dirtyNodes.add(node);
    this.stats.labelsAdded++;
    this.touch();
    this.indexNode(node, label, true);
  }

  removeLabel(node: NodeValue, label: string): void {
    this.assertLive(node);
    const at = node.labels.indexOf(label);
    if (at < 0) return;
    node.labels.splice(at, 1);
    this.store.deleteLabel.run(label, node.id);
    this.w.dirtyNodes.add(node);
    this.stats.labelsRemoved++;
    this.touch();
    this.indexNode(node, label, false);
  }

  deleteRelationship(rel: RelationshipValue): void {
    if (this.w.deletedRels.has(rel.id)) return;
    this.store.deleteRel.run(rel.id);
    this.w.deletedRels.add(rel.id);
    this.w.dirtyRels.delete(rel);
    this.stats.relationshipsDeleted++;
    // The row and its two adjacency index entries.
    this.touch(REL_ROWS);
  }

  deleteNode(node: NodeValue, detach: boolean): void {
    if (this.w.deletedNodes.has(node.id)) return;
    if (detach) {
      this.touch();
      for (const [relId] of this.store.relIdsOfNode.all(node.id, node.id)) {
        const rel = this.rels.get(relId) ?? this.relFromRow(this.store.relById.get(relId) as RelRow);
        this.deleteRelationship(rel);
      }
    } else {
      this.w.undetachedDeletes.push(node);
    }
    for (const label of node.labels) {
      this.store.deleteLabel.run(label, node.id);
      this.indexNode(node, label, false);
    }
    this.store.deleteNode.run(node.id);
    this.w.deletedNodes.add(node.id);
    this.w.dirtyNodes.delete(node);
    this.stats.nodesDeleted++;
    this.touch(1 + node.labels.length);
  }

  private indexNode(node: NodeValue, label: string, add: boolean): void {
    const indexes = this.schema.indexesByLabel.get(label);
    if (indexes === undefined) return;
    for (const index of indexes) {
      const key = indexKey(node.properties[index.property] ?? null);
      if (key === undefined || node.properties[index.property] === null) continue;
      this.touch();
      if (add) this.store.insertIndexEntry.run(index.id, key, node.id);
      else this.store.deleteIndexEntry.run(index.id, key, node.id);
    }
  }

  private reindexProperty(node: NodeValue, property: string, old: Value, value: Value): void {
    for (const label of node.labels) {
      const indexes = this.schema.indexesByLabel.get(label);
      if (indexes === undefined) continue;
      for (const index of indexes) {
        if (index.property !== property) continue;
        const oldKey = old === null ? undefined : indexKey(old);
        if (oldKey !== undefined) this.store.deleteIndexEntry.run(index.id, oldKey, node.id);
        const newKey = value === null ? undefined : indexKey(value);
        if (newKey !== undefined) this.store.insertIndexEntry.run(index.id, newKey, node.id);
        this.touch(2);
      }
    }
  }

  /** Writes back changed properties and labels and checks deferred DELETE constraints. */
  finish(): void {
    for (const node of this.r.dirtyNodes) {
      const encoded = encodeProperties(node.properties);
      // Two row updates (properties, labels).
      this.budget.work(2 * ROW_WORK + jsonWork(encoded.length));
      this.store.updateNodeProps.run(encoded, node.id);
      this.store.updateNodeLabels.run(JSON.stringify(node.labels), node.id);
    }
    for (const rel of this.r.dirtyRels) {
      const encoded = encodeProperties(rel.properties);
      this.budget.work(ROW_WORK + jsonWork(encoded.length));
      this.store.updateRelProps.run(encoded, rel.id);
    }
    for (const node of this.r.undetachedDeletes) {
      if (this.store.relsOfNodeExist.get(node.id, node.id) !== undefined) {
        throw new GeodeError(ErrorCode.CONSTRAINT_VIOLATION, `Cannot delete node ${node.id}: it still has relationships (use DETACH DELETE)`, {
          phase: 'runtime',
          detail: 'DeleteConnectedNode',
        });
      }
    }
  }
}
