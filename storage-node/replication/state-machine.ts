/**
 * The replicated state machine: the graph database plus the bookkeeping that
 * makes applying the Raft log exactly-once.
 *
 * - `raft_applied`: the last applied log index, written in the SAME SQLite
 *   transaction as the statements it covers: a batch of committed entries is
 *   one transaction (each statement a savepoint in it, its result recorded
 *   through the engine's `beforeCommit` hook), and the index is written once
 *   at the batch's end, so a crash can neither apply an entry twice nor skip
 *   one. A statement that fails deterministically rolls back to its savepoint
 *   and its failure is recorded like a result.
 * - `request_results`: the first result of every request id, kept for
 *   REQUEST_TTL_MS of leader time, so a write retried after a failover (the
 *   same request id proposed again) returns its first result instead of
 *   applying twice. Expiry is logical and uses the entry's own `now`, never
 *   the local clock: a row counts only while `expires_at >= now` of the entry
 *   that looks it up, so every replica gives the same answer at the same
 *   index. Expired rows are deleted physically in bounded slices once per
 *   batch; batch boundaries differ between replicas, which changes only when
 *   dead rows disappear, never an outcome. Rows are keyed by the log index
 *   that recorded them, with a unique index on the request id: appends at the
 *   right edge of both B-trees (ids the leader mints are time-ordered, see
 *   shared/protocol/request-id.ts), and expiry walks the oldest rows first
 *   without an index of its own.
 * - The exactly-once lookup is skipped for an id the leader minted for the
 *   entry itself (`fresh`): no earlier entry can carry it.
 * - The entry clock is monotonic: an entry's `now` is the leader's clock,
 *   and leaders' clocks differ, so apply uses max(entry's now, the clock of
 *   the entry before), kept in `raft_applied.clock` in the same transaction.
 *   Every replica applies the same sequence, so every replica computes the
 *   same clock; `datetime()`, `timestamp()` and request-id expiry never go
 *   backwards across a failover.
 * - Dedup window: a request id is remembered for REQUEST_TTL_MS (10 minutes)
 *   of that clock after the entry that first carried it. A retry within the
 *   window returns the first outcome; a retry after it is applied again.
 *   Clients retry within seconds (their deadline), so the window is generous.
 *
 * - `backup_state`: the replicated backup setting and how far the archiving
 *   leader has stored the log (backup-state.ts, storage-node/backup/), written
 *   in the batch's transaction like the applied index. A write's outcome
 *   carries its entry clock (`at`), which is its commit time in the archive.
 *
 * Runs inside the apply worker (apply-worker.ts); nothing here may run on the
 * thread that drives Raft.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { GraphEngine } from '../graph/engine.js';
import type { QueryResult, QueryStats } from '../graph/types.js';
import { fromJson, toJson } from '../../shared/gql/values.js';
import type { JsonValue, ValueMap } from '../../shared/gql/values.js';
import { ErrorCode, GeodeError, isGeodeError } from '../../shared/protocol/errors.js';
import type { ErrorBody } from '../../shared/protocol/errors.js';
import type { Entry } from '../raft/messages.js';
import { decodeCommand, decodeCommandText } from './command.js';
import type { DrCommand, DrChunkCommand, DrImageCommand, QueryCommand } from './command.js';
import { applyRegionCommand, initialRegionState } from './region-state.js';
import type { RegionIdentity, RegionState } from './region-state.js';
import { applyBackupCommand, parseBackupState } from './backup-state.js';
import type { BackupState } from './backup-state.js';
import { classify, parse } from '../../shared/gql/index.js';
import { REPLICATION_MODES } from './modes.js';
import { APPLY_WORK_BUDGET, DEFAULT_STATEMENT_MEMORY_BYTES } from './budgets.js';
import type { ReplicationMode, ReplicationSettings } from './modes.js';

/** How long a request id's first result is remembered, in leader milliseconds. */
export const REQUEST_TTL_MS = 10 * 60 * 1000;
/** Expired request rows removed per applied entry: bounded work, identical on every replica. */
const EXPIRE_BATCH = 64;
/** Pages (4 KiB) a snapshot copy takes per event-loop turn: a few milliseconds each, so an apply waits at most that long. */
const SNAPSHOT_PAGES_PER_STEP = 256;

/**
 * A read's result as a read worker returns it: the answer's `"columns":…,"rows":…,"stats":…` members
 * already serialized (without braces; the node adds `meta`). A string crosses the thread boundary as
 * one copy, where rows as objects cost a structured clone and then a JSON serialization on the main
 * thread, the thread that drives Raft.
 */
export interface SerializedResult {
  kind: QueryResult['kind'];
  json: string;
}

/** A statement result in wire form: rows keyed by column, values JSON-safe. */
export interface WireResult {
  columns: string[];
  rows: Record<string, JsonValue>[];
  stats: QueryStats;
  kind: QueryResult['kind'];
}

export type ApplyOutcome =
  /** `at`: the write's commit time, its entry clock (the first entry's, for a duplicate); absent in outcomes recorded before it was kept. */
  | { index: number; term: number; requestId: string; ok: true; result: WireResult; duplicate: boolean; at?: number }
  | { index: number; term: number; requestId: string; ok: false; error: ErrorBody['error'] }
  | { index: number; term: number; requestId: null; ok: true; result: null; duplicate: false };

/** A committed log entry as apply sees it: the Raft entry itself. */
export type EntryToApply = Entry;

export function toWireRows(columns: string[], rows: QueryResult['rows']): Record<string, JsonValue>[] {
  return rows.map((row) => {
    // No prototype, so a column named `__proto__` is data like any other.
    const out = Object.create(null) as Record<string, JsonValue>;
    for (let i = 0; i < columns.length; i++) out[columns[i] as string] = toJson(row[i] ?? null);
    return out;
  });
}

export function errorOf(err: unknown): ErrorBody['error'] {
  if (isGeodeError(err)) return err.toJSON().error;
  return { code: ErrorCode.INTERNAL, message: err instanceof Error ? err.message : String(err) };
}

interface BookkeepingStatements {
  setApplied: Statement<[number, number, number]>;
  findRequest: Statement<[string, number], { outcome: string }>;
  oldestExpiry: Statement<[], number>;
  /** [how many of the oldest rows to look at, now] */
  expireRequests: Statement<[number, number]>;
  recordRequest: Statement<[string, number, number, string]>;
  setRegion: Statement<[string]>;
  setBackup: Statement<[string]>;
}

/** Items one stream entry may carry (the DR follower batches at most this many). */
export const DR_ITEMS_MAX = 1024;

/** The region of a deployment without regions: always the primary, at epoch 1. */
export const SINGLE_REGION = 'default';

export class GraphStateMachine {
  private engine: GraphEngine;
  private applied = 0;
  /** The entry clock: the largest `now` of any entry applied so far (see the module comment). */
  private clock = 0;
  private sql!: BookkeepingStatements;
  /** The replicated region state (region-state.ts); on the primary, `position` is derived from the applied index. */
  private region!: RegionState;
  private regionDirty = false;
  /** A stream entry arrived with a gap before it (its `prev` past this region's position): the stream must resume. */
  private regionGap = false;
  private readonly identity: RegionIdentity;
  private imageInstalled = false;
  /** The replicated backup setting and archived position (backup-state.ts). */
  private backup!: BackupState;
  private backupDirty = false;
  /** Counts changes of the backup state, so the apply worker reports it only when it changed. */
  backupVersion = 0;

  constructor(
    private readonly path: string,
    identity?: RegionIdentity,
  ) {
    this.identity = identity ?? { self: SINGLE_REGION, initialPrimary: SINGLE_REGION };
    this.engine = this.open();
  }

  /** The region state after the last applied entry (a copy). */
  regionState(): RegionState {
    const r = this.region;
    const position = r.state === 'primary' ? { epoch: r.epoch, index: Math.max(this.applied, r.position.epoch === r.epoch ? r.position.index : 0) } : { ...r.position };
    return { ...r, position, history: r.history.map((h) => ({ ...h })), quarantined: [...r.quarantined] };
  }

  /** The backup setting and archived position after the last applied entry. */
  backupState(): BackupState {
    return this.backup;
  }

  /** Whether a stream entry with a gap was refused since the last call (and clears it). */
  takeRegionGap(): boolean {
    const gap = this.regionGap;
    this.regionGap = false;
    return gap;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** The replicated entry clock after the last applied entry. */
  get entryClock(): number {
    return this.clock;
  }

  /** The engine, for reads served by the apply worker itself in tests. */
  get graph(): GraphEngine {
    return this.engine;
  }

  private open(): GraphEngine {
    const engine = GraphEngine.open(this.path);
    const db = engine.database;
    migrateRequestResults(db);
    db.exec(`
      CREATE TABLE IF NOT EXISTS raft_applied (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, clock INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS request_results (idx INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, expires_at INTEGER NOT NULL, outcome TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS region_state (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS backup_state (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
    `);
    this.backup = parseBackupState(db.prepare('SELECT body FROM backup_state WHERE id = 1').pluck().get() as string | undefined);
    this.backupDirty = false;
    this.backupVersion++;
    const stored = db.prepare('SELECT body FROM region_state WHERE id = 1').pluck().get() as string | undefined;
    this.region = stored === undefined ? initialRegionState(this.identity) : (JSON.parse(stored) as RegionState);
    this.regionDirty = false;
    this.regionVersion++;
    // Databases written before the entry clock was kept have no clock column yet.
    const columns = db.prepare('PRAGMA table_info(raft_applied)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'clock')) db.exec('ALTER TABLE raft_applied ADD COLUMN clock INTEGER NOT NULL DEFAULT 0');
    const row = db.prepare('SELECT idx, clock FROM raft_applied WHERE id = 1').safeIntegers(false).get() as { idx: number; clock: number } | undefined;
    this.applied = row?.idx ?? 0;
    this.clock = row?.clock ?? 0;
    this.sql = {
      setApplied: db.prepare('INSERT OR REPLACE INTO raft_applied (id, idx, term, clock) VALUES (1, ?, ?, ?)'),
      findRequest: db.prepare('SELECT outcome FROM request_results WHERE request_id = ? AND expires_at >= ?'),
      oldestExpiry: db.prepare('SELECT expires_at FROM request_results ORDER BY idx LIMIT 1').pluck().safeIntegers(false) as Statement<[], number>,
      // The oldest rows (by log index) that have expired; a younger row expiring earlier (leaders' clocks differ) waits its turn.
      expireRequests: db.prepare('DELETE FROM request_results WHERE idx IN (SELECT idx FROM request_results ORDER BY idx LIMIT ?) AND expires_at < ?'),
      // REPLACE: a logically expired row of the same id may still be there.
      recordRequest: db.prepare('INSERT OR REPLACE INTO request_results (request_id, idx, expires_at, outcome) VALUES (?, ?, ?, ?)'),
      setRegion: db.prepare('INSERT OR REPLACE INTO region_state (id, body) VALUES (1, ?)'),
      setBackup: db.prepare('INSERT OR REPLACE INTO backup_state (id, body) VALUES (1, ?)'),
    };
    return engine;
  }

  /**
   * Replication settings set by `SET CLUSTER ...` so far (replicated state);
   * a setting never set is absent, and the node falls back to its config.
   */
  settings(): Partial<ReplicationSettings> {
    const out: Partial<ReplicationSettings> = {};
    const mode = this.engine.getSetting('replication_mode');
    const quorum = this.engine.getSetting('quorum_size');
    const sync = this.engine.getSetting('sync_replicas');
    if (typeof mode === 'string' && REPLICATION_MODES.includes(mode as ReplicationMode)) out.mode = mode as ReplicationMode;
    if (typeof quorum === 'bigint') out.quorumSize = Number(quorum);
    if (typeof sync === 'bigint') out.syncReplicas = Number(sync);
    return out;
  }

  /**
   * Applies committed entries in order, all in ONE SQLite transaction (each
   * statement a savepoint inside it), so a batch costs one commit; entries at
   * or below the applied index are skipped (replay after restart). A crash
   * before the commit loses the whole batch, index included, and the log
   * hands it over again.
   */
  apply(entries: readonly EntryToApply[]): ApplyOutcome[] {
    const outcomes: ApplyOutcome[] = [];
    let from = 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.index <= this.applied || !isImageEntry(entry)) continue;
      // A graph image replaces the database: what comes before it commits first, what comes after applies to the image.
      if (i > from) outcomes.push(...this.applyBatch(entries.slice(from, i)));
      outcomes.push(this.applyImage(entry));
      from = i + 1;
    }
    if (from < entries.length) outcomes.push(...this.applyBatch(from === 0 ? entries : entries.slice(from)));
    return outcomes;
  }

  private applyBatch(entries: readonly EntryToApply[]): ApplyOutcome[] {
    const outcomes: ApplyOutcome[] = [];
    const start = this.applied;
    const startClock = this.clock;
    const startRegion = this.region;
    const startBackup = this.backup;
    try {
      this.engine.inBatch(() => {
        let last: EntryToApply | undefined;
        let latestNow = -Infinity;
        for (const entry of entries) {
          if (entry.index <= this.applied) continue;
          const { outcome, now } = this.applyOne(entry);
          outcomes.push(outcome);
          if (now > latestNow) latestNow = now;
          last = entry;
        }
        if (last === undefined) return;
        if (latestNow > -Infinity) {
          // Usually the oldest row is still alive and one row read says so.
          const oldest = this.sql.oldestExpiry.get();
          if (oldest !== undefined && oldest < latestNow) this.sql.expireRequests.run(EXPIRE_BATCH * outcomes.length, latestNow);
        }
        if (this.regionDirty) {
          this.sql.setRegion.run(JSON.stringify(this.region));
          this.regionDirty = false;
        }
        if (this.backupDirty) {
          this.sql.setBackup.run(JSON.stringify(this.backup));
          this.backupDirty = false;
        }
        this.sql.setApplied.run(last.index, last.term, this.clock);
      });
    } catch (err) {
      this.applied = start;
      this.clock = startClock;
      this.region = startRegion;
      this.regionDirty = false;
      if (this.backup !== startBackup) this.backupVersion++;
      this.backup = startBackup;
      this.backupDirty = false;
      // The batch rolled back: id counters and schema caches must match the database again.
      this.engine.refreshSchema();
      throw err;
    }
    return outcomes;
  }

  /** Applies one entry inside the batch's transaction; `now` is its leader time (-Infinity for a no-op). */
  private applyOne(entry: EntryToApply): { outcome: ApplyOutcome; now: number } {
    const command = entry.type === 'normal' ? decodeCommand(entry.data) : { kind: 'noop' as const };
    this.applied = entry.index;
    const none = (): ApplyOutcome => ({ index: entry.index, term: entry.term, requestId: null, ok: true, result: null, duplicate: false });
    switch (command.kind) {
      case 'noop':
        return { outcome: none(), now: -Infinity };
      case 'region':
        this.setRegion(applyRegionCommand(this.region, this.identity, command, entry.index));
        return { outcome: none(), now: -Infinity };
      case 'dr':
        return { outcome: none(), now: this.applyStream(command, entry.index) };
      case 'drchunk':
        this.writeChunk(command);
        return { outcome: none(), now: -Infinity };
      case 'drimage':
        // Only reached inside a batch when the image was refused before (see applyImage).
        return { outcome: none(), now: -Infinity };
      case 'backup': {
        const next = applyBackupCommand(this.backup, command);
        if (next !== this.backup) {
          this.backup = next;
          this.backupDirty = true;
          this.backupVersion++;
        }
        return { outcome: none(), now: -Infinity };
      }
      case 'query':
        break;
    }
    if (this.region.state !== 'primary' && !isClusterSetting(command.query)) {
      // The fence: a write proposed by a leader that had not yet learned of a promotion is refused here, on every replica alike.
      const error = new GeodeError(ErrorCode.NOT_PRIMARY_REGION, `region ${this.identity.self} is not the write region at epoch ${this.region.epoch}; the primary region is ${this.region.primary}`, {
        extra: { region: this.identity.self, primary_region: this.region.primary, epoch: this.region.epoch },
      }).toJSON().error;
      return { outcome: { index: entry.index, term: entry.term, requestId: command.requestId, ok: false, error }, now: -Infinity };
    }
    return this.applyQuery(command, entry.index, entry.index, entry.term);
  }

  /**
   * A write as the primary applied it: the exactly-once lookup, the statement, its recorded outcome.
   * `key` orders the recorded outcome (the log index; negative for stream items, see applyStream).
   */
  private applyQuery(command: QueryCommand, key: number, index: number, term: number): { outcome: ApplyOutcome; now: number } {
    if (command.now > this.clock) this.clock = command.now;
    const now = this.clock;
    const previous = command.fresh === true ? undefined : this.sql.findRequest.get(command.requestId, now);
    if (previous !== undefined) {
      // A retry of a request already applied: answer with the first outcome, change nothing else.
      const first = JSON.parse(previous.outcome) as { ok: true; result: WireResult; at?: number } | { ok: false; error: ErrorBody['error'] };
      const outcome: ApplyOutcome = first.ok
        ? { index, term, requestId: command.requestId, ok: true, result: first.result, duplicate: true, ...(first.at !== undefined ? { at: first.at } : {}) }
        : { index, term, requestId: command.requestId, ok: false, error: first.error };
      return { outcome, now };
    }
    const record = (stored: string): void => {
      this.sql.recordRequest.run(command.requestId, key, now + REQUEST_TTL_MS, stored);
    };
    try {
      const result = this.execute(command, now, record);
      return { outcome: { index, term, requestId: command.requestId, ok: true, result, duplicate: false, at: now }, now };
    } catch (err) {
      // The statement's savepoint rolled back; its failure is remembered like a result.
      const error = errorOf(err);
      record(JSON.stringify({ ok: false, error }));
      return { outcome: { index, term, requestId: command.requestId, ok: false, error }, now };
    }
  }

  private setRegion(next: RegionState): void {
    if (next === this.region) return;
    this.region = next;
    this.regionDirty = true;
    this.regionVersion++;
  }

  /** Counts changes of the region state (not of a primary's derived position), so callers can tell when to read it again. */
  regionVersion = 0;

  /**
   * Source entries from the DR stream, each applied as the primary applied it (its request-id key is
   * kept, so a retry after a promotion still applies once). Items at or before the position were
   * applied already (a stream resumed after a disconnect resends them) and are skipped; an item whose
   * predecessor is past the position would leave a hole, so it and the rest are refused and the stream
   * resumes from the position. A region that is primary applies no stream entry.
   */
  private applyStream(command: DrCommand, localIndex: number): number {
    let region = this.region;
    if (region.state === 'primary') return -Infinity;
    if (command.epoch > region.position.epoch) {
      // The source crossed a fork point: the position moves to where the next epoch began, if this is exactly that point.
      const moved = crossFork(region, command.epoch);
      if (moved === undefined) {
        this.regionGap = true;
        return -Infinity;
      }
      region = { ...region, position: moved };
    }
    if (command.epoch !== region.position.epoch) return -Infinity;
    let position = region.position.index;
    let prev = command.prev;
    let latest = -Infinity;
    let offset = 0;
    for (const [index, data] of command.items) {
      offset++;
      const before = prev;
      prev = index;
      if (index <= position) continue;
      if (before !== position) {
        this.regionGap = true;
        break;
      }
      if (data !== null) {
        const source = decodeCommandText(data);
        if (source.kind === 'query') {
          // The source's own statement outcome (an error included) is replayed, not judged again.
          // Outcomes of stream items are keyed apart from this group's own log indexes: negative, unique per (entry, item).
          const { now } = this.applyQuery(source, -(localIndex * DR_ITEMS_MAX + offset), localIndex, 0);
          if (now > latest) latest = now;
        }
      }
      position = index;
    }
    if (position !== region.position.index || region !== this.region) this.setRegion({ ...region, position: { epoch: command.epoch, index: position } });
    return latest;
  }

  private stagingPath(transfer: string): string {
    return `${this.path}.dr-${transfer.replace(/[^A-Za-z0-9_-]/g, '_')}.part`;
  }

  /** Positional write, so a piece applied again after a crash writes the same bytes at the same place. */
  private writeChunk(command: DrChunkCommand): void {
    const fd = openSync(this.stagingPath(command.transfer), existsSync(this.stagingPath(command.transfer)) ? 'r+' : 'w');
    try {
      const bytes = Buffer.from(command.data, 'base64');
      writeSync(fd, bytes, 0, bytes.byteLength, command.seq * command.chunkBytes);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Replaces the graph with an image that crossed the DR stream: checked against its digest, then
   * installed, and this group's own bookkeeping (applied index, entry clock, region state) written over
   * the source's copy of it. A corrupt or incomplete image is refused on every replica alike (they
   * applied the same pieces) and the stream starts the transfer again.
   */
  private applyImage(entry: EntryToApply): ApplyOutcome {
    const command = decodeCommand(entry.data) as DrImageCommand;
    const staging = this.stagingPath(command.transfer);
    const none: ApplyOutcome = { index: entry.index, term: entry.term, requestId: null, ok: true, result: null, duplicate: false };
    let image: Buffer | undefined;
    try {
      image = existsSync(staging) ? readFileSync(staging) : undefined;
    } catch {
      image = undefined;
    }
    const digest = image === undefined ? '' : createHash('sha256').update(image).digest('hex');
    if (image === undefined || image.byteLength !== command.bytes || digest !== command.sha256) {
      rmSync(staging, { force: true });
      this.regionGap = true;
      // Nothing else changes: only the index moves past this entry.
      this.applyBatch([{ ...entry, type: 'normal', data: new Uint8Array(0) }]);
      return none;
    }
    const keep = { region: this.region, clock: this.clock, backup: this.backup };
    this.restoreFrom(staging);
    // The image is the source region's graph: this group's own backup setting stays.
    this.backup = keep.backup;
    this.backupVersion++;
    const history = command.history.map((h) => ({ ...h }));
    const last = history[history.length - 1];
    const epoch = Math.max(keep.region.epoch, last?.epoch ?? command.epoch);
    const quarantined = command.quarantine === undefined ? keep.region.quarantined : [...keep.region.quarantined, command.quarantine];
    this.region = {
      epoch,
      primary: epoch === keep.region.epoch ? keep.region.primary : (last?.primary ?? keep.region.primary),
      state: keep.region.state === 'primary' ? 'primary' : 'follower',
      position: { epoch: command.epoch, index: command.index },
      history: epoch === keep.region.epoch && keep.region.history.length > history.length ? keep.region.history : history,
      quarantined,
    };
    this.regionDirty = true;
    this.regionVersion++;
    this.clock = Math.max(this.clock, keep.clock);
    this.engine.inBatch(() => {
      this.sql.setRegion.run(JSON.stringify(this.region));
      this.regionDirty = false;
      this.sql.setBackup.run(JSON.stringify(this.backup));
      this.sql.setApplied.run(entry.index, entry.term, this.clock);
    });
    this.applied = entry.index;
    this.imageInstalled = true;
    return none;
  }

  /** Whether an image replaced the graph since the last call (readers must reopen it); clears it. */
  takeImageInstalled(): boolean {
    const installed = this.imageInstalled;
    this.imageInstalled = false;
    return installed;
  }

  private execute(command: QueryCommand, now: number, record: (stored: string) => void): WireResult {
    const params: ValueMap = Object.create(null) as ValueMap;
    for (const [name, json] of Object.entries(command.params)) params[name] = fromJson(json);
    let wire: WireResult | undefined;
    this.engine.execute(command.query, params, { now, seed: command.seed }, {
      workBudget: APPLY_WORK_BUDGET,
      memoryBudget: command.memoryBudget ?? DEFAULT_STATEMENT_MEMORY_BYTES,
      beforeCommit: (result) => {
        wire = toWire(result);
        record(JSON.stringify({ ok: true, result: wire, at: now }));
      },
    });
    if (wire === undefined) throw new GeodeError(ErrorCode.INTERNAL, 'statement committed without reporting its result');
    return wire;
  }

  /**
   * Writes a consistent copy of the graph to `path` and answers the applied index it holds.
   *
   * SQLite's online backup, a slice of pages per event-loop turn: batches applied meanwhile
   * (through this same connection, which SQLite carries into the copy as it goes) run between
   * slices, so the copy ends at whatever index is applied when it completes, read back from the
   * copy itself. `VACUUM INTO` made the copy in one call, which held up every apply for its whole
   * length (about 0.5 s for a 65 MB graph), and with them every client's acknowledgement.
   */
  async snapshotTo(path: string): Promise<number> {
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    await this.engine.database.backup(path, { progress: () => SNAPSHOT_PAGES_PER_STEP });
    // The copy carries the source's WAL mode; back to a rollback journal, it is one self-contained
    // file (no -wal or -shm beside it) that can be moved, sent and restored as it is.
    const image = new Database(path);
    try {
      image.pragma('journal_mode = DELETE');
      const row = image.prepare('SELECT idx FROM raft_applied WHERE id = 1').safeIntegers(false).get() as { idx: number } | undefined;
      return row?.idx ?? 0;
    } finally {
      image.close();
    }
  }

  /**
   * Replaces the graph with a snapshot image file; the applied index becomes the image's.
   * Synchronous, so it keeps its place among the apply calls around it. A snapshot copy still
   * running then fails (its source is closed) and the node takes the next one later.
   */
  restoreFrom(imagePath: string): number {
    this.engine.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(this.path + suffix, { force: true });
    renameSync(imagePath, this.path);
    this.engine = this.open();
    return this.applied;
  }

  /** A digest of the whole graph (nodes, relationships, properties, labels), for `geode cluster verify-data`. */
  checksum(): string {
    const observed = this.engine.observe();
    const hash = createHash('sha256');
    for (const set of [observed.nodes, observed.relationships, observed.properties, observed.labels]) {
      for (const item of [...set].sort()) hash.update(item).update('\n');
      hash.update('--\n');
    }
    return hash.digest('hex');
  }

  runBackground(maxRows: number): boolean {
    return this.engine.backgroundStep(maxRows);
  }

  close(): void {
    this.engine.close();
  }

  static exists(path: string): boolean {
    return existsSync(path);
  }
}

/**
 * Databases written before request results were keyed by log index had
 * `request_results(request_id TEXT PRIMARY KEY, ...)` plus an index on
 * `expires_at`: three B-trees per write, one of them ordered by a random key.
 * They are rebuilt once, in one transaction, into the current layout.
 */
function migrateRequestResults(db: SqliteDatabase): void {
  const columns = db.prepare('PRAGMA table_info(request_results)').safeIntegers(false).all() as { name: string; pk: number }[];
  const requestId = columns.find((c) => c.name === 'request_id');
  if (requestId === undefined || requestId.pk !== 1) return;
  db.transaction(() => {
    db.exec(`
      DROP INDEX IF EXISTS request_results_expiry;
      ALTER TABLE request_results RENAME TO request_results_old;
      CREATE TABLE request_results (idx INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, expires_at INTEGER NOT NULL, outcome TEXT NOT NULL);
      INSERT INTO request_results (idx, request_id, expires_at, outcome) SELECT idx, request_id, expires_at, outcome FROM request_results_old ORDER BY idx;
      DROP TABLE request_results_old;
    `);
  })();
}

function toWire(result: QueryResult): WireResult {
  return { columns: result.columns, rows: toWireRows(result.columns, result.rows), stats: result.stats, kind: result.kind };
}

/** `{"k":"drimage"` at the start of an entry: an image entry, found without parsing every entry. */
const IMAGE_PREFIX = new TextEncoder().encode('{"k":"drimage"');

function isImageEntry(entry: EntryToApply): boolean {
  if (entry.type !== 'normal' || entry.data.byteLength < IMAGE_PREFIX.byteLength) return false;
  for (let i = 0; i < IMAGE_PREFIX.byteLength; i++) if (entry.data[i] !== IMAGE_PREFIX[i]) return false;
  return true;
}

/**
 * `SET CLUSTER ...` configures this region's own group (its replication mode), so a follower region
 * applies it although it takes no other write of its own; it never crosses the DR stream.
 */
export function isClusterSetting(query: string): boolean {
  if (!/\bCLUSTER\b/i.test(query)) return false;
  try {
    return classify(parse(query)) === 'cluster';
  } catch {
    return false;
  }
}

/** The position at the start of `epoch`, reached from the region's position through the fork points; undefined when it is not on that path. */
function crossFork(region: RegionState, epoch: number): { epoch: number; index: number } | undefined {
  let position = region.position;
  while (position.epoch < epoch) {
    const next = region.history.find((r) => r.epoch === position.epoch + 1);
    if (next === undefined || next.fork === null || next.start === null) return undefined;
    if (next.fork.epoch !== position.epoch || next.fork.index !== position.index) return undefined;
    position = { epoch: next.epoch, index: next.start };
  }
  return position.epoch === epoch ? position : undefined;
}
