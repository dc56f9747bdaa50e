/**
 * The durable Raft log: entries, hard state and the latest snapshot in their
 * own SQLite file (WAL mode, synchronous=FULL), separate from the graph
 * database. Reads are served from an in-memory mirror (the core's
 * MemoryStorage), so `term()` and `entries()` never touch the disk; writes
 * go to SQLite first and reach the mirror only once committed.
 *
 * Group commit: `persist()` takes everything one Ready asks to make durable
 * (snapshot, entries, hard state) and writes it in ONE transaction, which is
 * one fsync however many entries the batch holds.
 *
 * Torn tails: SQLite's WAL frames are checksummed, so a write torn by a
 * crash is discarded by SQLite itself on the next open. On top of that every
 * entry row carries a CRC-32 of (index, term, type, data); on open the log is
 * checked and cut at the first entry that fails its checksum or breaks index
 * contiguity, and everything after it is dropped. Dropping a suffix is safe
 * in Raft only for entries this node never acknowledged, which is the case
 * for a torn write: the acknowledgement is sent after the fsync returns.
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { crc32 } from 'node:zlib';
import type { ConfState, Entry, EntryType, HardState, Snapshot } from '../raft/messages.js';
import { MemoryStorage } from '../raft/storage.js';
import type { InitialState, Storage } from '../raft/storage.js';

export interface DurableLogOptions {
  /** `full` (default) fsyncs every commit; `off` is for tests that do not test durability. */
  sync?: 'full' | 'off';
  /** Called once per entry dropped on open because it failed its checksum. */
  onTornEntry?: (index: number) => void;
}

/** What one Ready asks the host to make durable before it sends messages. */
export interface PersistBatch {
  hardState?: HardState | undefined;
  entries: readonly Entry[];
  snapshot?: Snapshot | undefined;
}

interface EntryRow {
  idx: number;
  term: number;
  type: number;
  data: Buffer;
  crc: number;
}

interface MetaRow {
  key: string;
  value: string;
}

interface SnapshotRow {
  idx: number;
  term: number;
  conf: string;
  data: Buffer;
}

const TYPE_CODE: Readonly<Record<EntryType, number>> = { normal: 0, confChange: 1 };
const typeOf = (code: number): EntryType => (code === 1 ? 'confChange' : 'normal');

/** CRC-32 over the entry's identity and payload, so a row moved or rewritten in part fails too. */
export function entryChecksum(index: number, term: number, type: number, data: Uint8Array): number {
  const header = Buffer.allocUnsafe(17);
  header.writeDoubleLE(index, 0);
  header.writeDoubleLE(term, 8);
  header.writeUInt8(type, 16);
  const headerCrc = crc32(header);
  // zlib.crc32 returns 0 for an empty Buffer that SQLite hands back (no backing store), ignoring the seed: skip empty payloads.
  return data.byteLength === 0 ? headerCrc : crc32(data, headerCrc);
}

function toSnapshot(row: SnapshotRow): Snapshot {
  return {
    meta: { index: row.idx, term: row.term, confState: JSON.parse(row.conf) as ConfState },
    data: new Uint8Array(row.data),
  };
}

export class DurableLog implements Storage {
  private readonly memory = new MemoryStorage();
  /** The mirror's commit index is ahead of the one on disk (see persist()). */
  private commitUnsaved = false;
  private readonly insertEntry: Statement<[number, number, number, Uint8Array, number]>;
  private readonly deleteFrom: Statement<[number]>;
  private readonly deleteUpTo: Statement<[number]>;
  private readonly writeMeta: Statement<[string, string]>;
  private readonly writeSnapshot: Statement<[number, number, string, Uint8Array]>;
  private readonly persistTx: (batch: PersistBatch) => void;

  private constructor(private readonly db: SqliteDatabase, options: DurableLogOptions) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'off' ? 'OFF' : 'FULL'}`);
    db.exec(`
      CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, conf TEXT NOT NULL, data BLOB NOT NULL);
    `);
    this.insertEntry = db.prepare('INSERT OR REPLACE INTO entries (idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?)');
    this.deleteFrom = db.prepare('DELETE FROM entries WHERE idx >= ?');
    this.deleteUpTo = db.prepare('DELETE FROM entries WHERE idx <= ?');
    this.writeMeta = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    this.writeSnapshot = db.prepare('INSERT OR REPLACE INTO snapshot (id, idx, term, conf, data) VALUES (1, ?, ?, ?, ?)');
    this.persistTx = db.transaction((batch: PersistBatch) => this.writeBatch(batch));
    this.load(options);
  }

  static open(path: string, options: DurableLogOptions = {}): DurableLog {
    return new DurableLog(new Database(path), options);
  }

  // ---- Storage (reads come from the mirror) ----------------------------------

  initialState(): InitialState {
    return this.memory.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.memory.entries(lo, hi, maxBytes);
  }
  term(index: number): number | undefined {
    return this.memory.term(index);
  }
  firstIndex(): number {
    return this.memory.firstIndex();
  }
  lastIndex(): number {
    return this.memory.lastIndex();
  }
  snapshot(): Snapshot {
    return this.memory.snapshot();
  }
  hardState(): HardState {
    return this.memory.hardStateNow();
  }

  // ---- writes ---------------------------------------------------------------

  /** Makes one Ready's snapshot, entries and hard state durable with a single commit (one fsync). */
  persist(batch: PersistBatch): void {
    if (batch.entries.length === 0 && batch.hardState === undefined && batch.snapshot === undefined) return;
    const hs = batch.hardState;
    const durable = this.memory.hardStateNow();
    if (batch.entries.length === 0 && batch.snapshot === undefined && hs !== undefined && hs.term === durable.term && hs.vote === durable.vote) {
      // Only the commit index moved. Raft never needs it durable (a restarted node relearns it from the
      // leader), so it waits for the next batch that writes anyway instead of costing an fsync of its own.
      this.memory.setHardState(hs);
      this.commitUnsaved = true;
      return;
    }
    if (hs === undefined && this.commitUnsaved) batch = { ...batch, hardState: durable };
    this.commitUnsaved = false;
    this.persistTx(batch);
    if (batch.snapshot !== undefined) this.memory.applySnapshot(batch.snapshot);
    if (batch.entries.length > 0) this.memory.append(batch.entries);
    if (batch.hardState !== undefined) this.memory.setHardState(batch.hardState);
  }

  /**
   * Records a snapshot of the state machine taken at `index` and drops the
   * entries it covers except the last `keepEntries`, so slightly lagging
   * followers still catch up from the log instead of a snapshot.
   */
  snapshotAndCompact(index: number, confState: ConfState, data: Uint8Array, keepEntries = 0): Snapshot {
    const term = this.memory.term(index);
    if (term === undefined) throw new RangeError(`snapshot index ${index} is not in the log`);
    const snap: Snapshot = { meta: { index, term, confState }, data };
    const compactTo = Math.max(this.memory.firstIndex() - 1, index - keepEntries);
    const compactTerm = this.memory.term(compactTo) ?? 0;
    this.db.transaction(() => {
      this.writeSnapshot.run(index, term, JSON.stringify(confState), data);
      this.deleteUpTo.run(compactTo);
      this.writeMeta.run('compacted', JSON.stringify({ index: compactTo, term: compactTerm }));
    })();
    this.memory.createSnapshot(index, confState, data);
    this.memory.compact(compactTo);
    return snap;
  }

  close(): void {
    this.db.close();
  }

  private writeBatch(batch: PersistBatch): void {
    if (batch.snapshot !== undefined) {
      const meta = batch.snapshot.meta;
      this.writeSnapshot.run(meta.index, meta.term, JSON.stringify(meta.confState), batch.snapshot.data);
      // An installed snapshot replaces the whole log.
      this.deleteFrom.run(0);
      this.writeMeta.run('compacted', JSON.stringify({ index: meta.index, term: meta.term }));
    }
    const first = batch.entries[0];
    if (first !== undefined) {
      // A new entry at `first.index` invalidates any conflicting tail from there on.
      this.deleteFrom.run(first.index);
      for (const e of batch.entries) {
        const code = TYPE_CODE[e.type];
        this.insertEntry.run(e.index, e.term, code, e.data, entryChecksum(e.index, e.term, code, e.data));
      }
    }
    if (batch.hardState !== undefined) this.writeMeta.run('hard_state', JSON.stringify(batch.hardState));
  }

  private load(options: DurableLogOptions): void {
    const snapRow = this.db.prepare('SELECT idx, term, conf, data FROM snapshot WHERE id = 1').get() as SnapshotRow | undefined;
    const compacted = this.readMeta<{ index: number; term: number }>('compacted') ?? { index: 0, term: 0 };
    // The mirror starts right after the compaction point, which may lie before the snapshot (kept tail).
    const snapshot = snapRow === undefined ? undefined : toSnapshot(snapRow);
    if (snapshot !== undefined && snapshot.meta.index === compacted.index) {
      this.memory.applySnapshot(snapshot);
    } else if (compacted.index > 0) {
      // A placeholder that only fixes where the mirror starts; the real snapshot is recorded below.
      this.memory.applySnapshot({ meta: { index: compacted.index, term: compacted.term, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) });
    }
    const rows = this.db.prepare('SELECT idx, term, type, data, crc FROM entries WHERE idx > ? ORDER BY idx').all(compacted.index) as EntryRow[];
    const good: Entry[] = [];
    let expected = this.memory.firstIndex();
    for (const row of rows) {
      if (row.idx !== expected || entryChecksum(row.idx, row.term, row.type, row.data) !== row.crc) break;
      good.push({ index: row.idx, term: row.term, type: typeOf(row.type), data: new Uint8Array(row.data) });
      expected++;
    }
    if (good.length < rows.length) {
      for (const row of rows.slice(good.length)) options.onTornEntry?.(row.idx);
      this.deleteFrom.run(expected);
    }
    this.memory.append(good);
    if (snapshot !== undefined && snapshot.meta.index > compacted.index) {
      this.memory.createSnapshot(snapshot.meta.index, snapshot.meta.confState, snapshot.data);
    }
    const hs = this.readMeta<HardState>('hard_state');
    if (hs !== undefined) {
      // A commit index past a dropped tail would claim entries that no longer exist here.
      this.memory.setHardState({ ...hs, commit: Math.min(hs.commit, this.memory.lastIndex()) });
    }
  }

  private readMeta<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT key, value FROM meta WHERE key = ?').get(key) as MetaRow | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as T);
  }
}
