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
 * Writer thread: opened with `writer: 'thread'` (what a storage node does),
 * the SQLite writes and their fsync run on a worker thread of their own
 * (log-worker.ts), so the thread that drives Raft never waits on the disk:
 * `persist()` then returns a promise, and the host sends the messages that
 * must follow the write and calls `advance()` only when it resolves.
 * Everything proposed or received meanwhile waits in the core's unstable tail
 * and goes into the next batch, which is group commit at the disk's own pace.
 * The mirror learns a batch only once it is durable. Without it (tests, the
 * simulation) the same writes run synchronously on the caller's thread.
 *
 * Snapshot images live in files of their own beside the log file
 * (`<log>.snap-<index>`), and the log's `snapshot` row only names the current
 * one (index, term, membership, file, size). A snapshot the node takes itself
 * is adopted where the state machine wrote it: the host makes the file
 * durable and the writer thread renames it into place, so neither thread
 * copies the image. Storing the bytes in the log's SQLite file instead cost,
 * for a 65 MB graph, 0.8 s of the writer thread (the BLOB written through
 * the WAL and fsynced), during which no Raft entry could be made durable, on
 * every node at once (they snapshot at the same index). The file is durable
 * before the row that names it commits; the file a newer row replaces is
 * deleted after that commit, and image files that no row names (a crash
 * between the two) are deleted on open. Logs written before this keep their
 * image in the row's `data` and still load.
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
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { entryTypeCode, entryTypeOf } from '../raft/messages.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/messages.js';
import { MemoryStorage } from '../raft/storage.js';
import type { InitialState, Storage } from '../raft/storage.js';
import { startTsWorker, WorkerClient } from '../replication/worker-rpc.js';
import { packEntries } from '../replication/packed-entries.js';
import type { PackedEntries } from '../replication/packed-entries.js';

export interface DurableLogOptions {
  /** `full` (default) fsyncs every commit; `off` is for tests that do not test durability. */
  sync?: 'full' | 'off';
  /** Called once per entry dropped on open because it failed its checksum. */
  onTornEntry?: (index: number) => void;
  /** `thread`: writes and fsyncs run on a worker thread and persist() returns a promise (see above). */
  writer?: 'caller' | 'thread';
  /** The writer thread died: the log can no longer make anything durable. */
  onWriterExit?: (error: Error) => void;
}

export interface LogWorkerData {
  path: string;
  sync: 'full' | 'off';
}

/** What one Ready asks the host to make durable before it sends messages. */
export interface PersistBatch {
  hardState?: HardState | undefined;
  entries: readonly Entry[];
  snapshot?: Snapshot | undefined;
}

/** A PersistBatch as posted to the writer thread: entries packed into one buffer (packed-entries.ts). */
export interface PostedBatch {
  hardState?: HardState | undefined;
  entries: PackedEntries;
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
  /** The image itself in logs written before images had files of their own; empty otherwise. */
  data: Buffer;
  /** The image's file name, in the log file's directory; null for an inline image. */
  file: string | null;
  bytes: number | null;
}

/** What the writer thread needs to record a snapshot whose image is already in a file (see snapshotAndCompact). */
export interface SnapshotFile {
  /** Where the image is now; the log moves it next to itself. */
  path: string;
  bytes: number;
}

/** Dead log rows deleted per write transaction after a compaction (LogFile.trim). */
const TRIM_SLICE = 1000;

/** fsync a file or directory by path. */
function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

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

function snapshotMeta(row: SnapshotRow): Snapshot['meta'] {
  return { index: row.idx, term: row.term, confState: JSON.parse(row.conf) as ConfState };
}

/**
 * The SQLite side of the log: the file, its statements and the writes. Used
 * by DurableLog on the caller's thread, or by the log worker on its own.
 */
export class LogFile {
  private readonly insertEntry: Statement<[number, number, number, Uint8Array, number]>;
  private readonly deleteFrom: Statement<[number]>;
  /** [compaction point, how many] the oldest rows at or below the compaction point. */
  private readonly trimDead: Statement<[number, number]>;
  /** The compaction point: rows at or below it are dead and are deleted a slice per write (see writeBatch). */
  private deadUpTo = 0;
  /** Dead rows may remain (false once a trim slice came back short). */
  private trimming = false;
  private readonly writeMeta: Statement<[string, string]>;
  private readonly writeSnapshot: Statement<[number, number, string, string, number]>;
  private readonly readSnapshotFile: Statement<[], string | null>;
  private readonly writeTx: (batch: PersistBatch) => void;
  private readonly compactTx: (snapshot: Snapshot['meta'], file: string, bytes: number, compactTo: number, compactTerm: number) => void;

  constructor(
    private readonly path: string,
    private readonly sync: 'full' | 'off' = 'full',
  ) {
    const db = (this.db = new Database(path));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync === 'off' ? 'OFF' : 'FULL'}`);
    db.exec(`
      CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, conf TEXT NOT NULL, data BLOB NOT NULL);
    `);
    const columns = new Set((db.prepare('PRAGMA table_info(snapshot)').all() as { name: string }[]).map((c) => c.name));
    if (!columns.has('file')) db.exec('ALTER TABLE snapshot ADD COLUMN file TEXT; ALTER TABLE snapshot ADD COLUMN bytes INTEGER;');
    this.insertEntry = db.prepare('INSERT OR REPLACE INTO entries (idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?)');
    this.deleteFrom = db.prepare('DELETE FROM entries WHERE idx >= ?');
    this.trimDead = db.prepare('DELETE FROM entries WHERE idx IN (SELECT idx FROM entries WHERE idx <= ? ORDER BY idx LIMIT ?)');
    this.writeMeta = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
    this.writeSnapshot = db.prepare("INSERT OR REPLACE INTO snapshot (id, idx, term, conf, data, file, bytes) VALUES (1, ?, ?, ?, x'', ?, ?)");
    this.readSnapshotFile = db.prepare('SELECT file FROM snapshot WHERE id = 1').pluck() as Statement<[], string | null>;
    this.writeTx = db.transaction((batch: PersistBatch) => this.writeBatch(batch));
    this.compactTx = db.transaction((meta: Snapshot['meta'], file: string, bytes: number, compactTo: number, compactTerm: number) => {
      this.writeSnapshot.run(meta.index, meta.term, JSON.stringify(meta.confState), file, bytes);
      this.writeMeta.run('compacted', JSON.stringify({ index: compactTo, term: compactTerm }));
    });
    const compacted = this.readMeta<{ index: number; term: number }>('compacted');
    if (compacted !== undefined) {
      this.deadUpTo = compacted.index;
      this.trimming = true;
    }
  }

  private readonly db: SqliteDatabase;

  /** One transaction, one fsync (plus the image file's, for a batch that carries a snapshot). */
  write(batch: PersistBatch): void {
    if (batch.snapshot === undefined) {
      this.writeTx(batch);
      return;
    }
    const previous = this.currentImage();
    this.writeImage(batch.snapshot);
    this.writeTx(batch);
    this.deadUpTo = batch.snapshot.meta.index;
    this.dropImage(previous, this.imageName(batch.snapshot.meta.index));
  }

  /**
   * Records a snapshot whose image is the file at `image.path` (made durable by the caller), moved
   * next to the log, and moves the compaction point to `compactTo`, in one transaction; the rows
   * behind the point go a slice per later write (trim).
   */
  compact(meta: Snapshot['meta'], image: SnapshotFile, compactTo: number, compactTerm: number): void {
    const previous = this.currentImage();
    const name = this.imageName(meta.index);
    renameSync(image.path, join(dirname(this.path), name));
    if (this.sync === 'full') syncPath(dirname(this.path));
    this.compactTx(meta, name, image.bytes, compactTo, compactTerm);
    // Only once committed: rows up to here are dead from now on (a rolled-back compaction leaves them live).
    this.deadUpTo = compactTo;
    this.trimming = true;
    this.dropImage(previous, name);
  }

  private imageName(index: number): string {
    return `${basename(this.path)}.snap-${index}`;
  }

  private currentImage(): string | null {
    return this.readSnapshotFile.get() ?? null;
  }

  /** Writes a received snapshot's image to its file, durably, before the row that will name it. */
  private writeImage(snapshot: Snapshot): void {
    const path = join(dirname(this.path), this.imageName(snapshot.meta.index));
    const temp = `${path}.part`;
    const fd = openSync(temp, 'w');
    try {
      let at = 0;
      while (at < snapshot.data.byteLength) at += writeSync(fd, snapshot.data, at);
      if (this.sync === 'full') fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    if (this.sync === 'full') syncPath(dirname(this.path));
  }

  /** The image a newer row replaced, once that row is committed. */
  private dropImage(previous: string | null, current: string): void {
    if (previous !== null && previous !== current) rmSync(join(dirname(this.path), previous), { force: true });
  }

  close(): void {
    this.db.close();
  }

  private writeBatch(batch: PersistBatch): void {
    if (batch.snapshot !== undefined) {
      const meta = batch.snapshot.meta;
      this.writeSnapshot.run(meta.index, meta.term, JSON.stringify(meta.confState), this.imageName(meta.index), batch.snapshot.data.byteLength);
      // An installed snapshot replaces the whole log.
      this.deleteFrom.run(0);
      this.writeMeta.run('compacted', JSON.stringify({ index: meta.index, term: meta.term }));
    }
    if (this.trimming) this.trim();
    const first = batch.entries[0];
    if (first !== undefined) {
      // A new entry at `first.index` invalidates any conflicting tail from there on.
      this.deleteFrom.run(first.index);
      for (const e of batch.entries) {
        const code = entryTypeCode(e.type);
        this.insertEntry.run(e.index, e.term, code, e.data, entryChecksum(e.index, e.term, code, e.data));
      }
    }
    if (batch.hardState !== undefined) this.writeMeta.run('hard_state', JSON.stringify(batch.hardState));
  }

  /**
   * Reads the log back into `memory`: the snapshot, the entries after the
   * compaction point up to the first torn or misplaced one (the rest is
   * deleted), and the hard state.
   */
  load(memory: MemoryStorage, onTornEntry?: (index: number) => void): void {
    const snapRow = this.db.prepare('SELECT idx, term, conf, data, file, bytes FROM snapshot WHERE id = 1').get() as SnapshotRow | undefined;
    const compacted = this.readMeta<{ index: number; term: number }>('compacted') ?? { index: 0, term: 0 };
    this.dropStrayImages(snapRow?.file ?? null);
    // The mirror starts right after the compaction point, which may lie before the snapshot (kept tail).
    const snapshot = snapRow === undefined ? undefined : { meta: snapshotMeta(snapRow), data: this.readImage(snapRow) };
    if (snapshot !== undefined && snapshot.meta.index === compacted.index) {
      memory.applySnapshot(snapshot);
    } else if (compacted.index > 0) {
      // A placeholder that only fixes where the mirror starts; the real snapshot is recorded below.
      memory.applySnapshot({ meta: { index: compacted.index, term: compacted.term, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) });
    }
    const rows = this.db.prepare('SELECT idx, term, type, data, crc FROM entries WHERE idx > ? ORDER BY idx').all(compacted.index) as EntryRow[];
    const good: Entry[] = [];
    let expected = memory.firstIndex();
    for (const row of rows) {
      if (row.idx !== expected || entryChecksum(row.idx, row.term, row.type, row.data) !== row.crc) break;
      good.push({ index: row.idx, term: row.term, type: entryTypeOf(row.type), data: new Uint8Array(row.data) });
      expected++;
    }
    if (good.length < rows.length) {
      for (const row of rows.slice(good.length)) onTornEntry?.(row.idx);
      this.deleteFrom.run(expected);
    }
    memory.append(good);
    if (snapshot !== undefined && snapshot.meta.index > compacted.index) {
      memory.createSnapshot(snapshot.meta.index, snapshot.meta.confState, snapshot.data);
    }
    const hs = this.readMeta<HardState>('hard_state');
    if (hs !== undefined) {
      // A commit index past a dropped tail would claim entries that no longer exist here.
      memory.setHardState({ ...hs, commit: Math.min(hs.commit, memory.lastIndex()) });
    }
  }

  /**
   * Deletes one slice of the rows that compaction left dead (at or below the compaction point),
   * inside the caller's write transaction. Compaction itself only moves the point: deleting the
   * ~100,000 rows a snapshot frees in one go held the writer thread (and so every log write) for
   * about 0.3 s. Dead rows are invisible meanwhile, since load() reads only what follows the point.
   */
  private trim(): void {
    this.trimming = this.trimDead.run(this.deadUpTo, TRIM_SLICE).changes === TRIM_SLICE;
  }

  /** A snapshot row's image: its file (which must be whole), or the bytes stored inline by older logs. */
  private readImage(row: SnapshotRow): Uint8Array {
    if (row.file === null) return new Uint8Array(row.data);
    const path = join(dirname(this.path), row.file);
    if (!existsSync(path)) throw new Error(`the Raft log's snapshot image ${path} is missing; the entries it replaced are gone, so this node cannot start from its data`);
    const data = readFileSync(path);
    if (row.bytes !== null && data.byteLength !== row.bytes) {
      throw new Error(`the Raft log's snapshot image ${path} has ${data.byteLength} bytes, the log recorded ${row.bytes}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Image files that no row names: left by a crash between writing an image and committing its row, or before deleting the one replaced. */
  private dropStrayImages(current: string | null): void {
    const prefix = `${basename(this.path)}.snap-`;
    for (const name of readdirSync(dirname(this.path))) {
      if (name.startsWith(prefix) && name !== current) rmSync(join(dirname(this.path), name), { force: true });
    }
  }

  private readMeta<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT key, value FROM meta WHERE key = ?').get(key) as MetaRow | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as T);
  }
}

/**
 * Running totals of one kind of batched work, for metrics: the log's disk writes here
 * (`geode_raft_log_*`), the node's applies (`geode_apply_*`).
 */
export interface BatchTotals {
  /** Batches done: for the log, committed write transactions, one fsync each. */
  batches: number;
  /** Entries they carried; entries / batches is the batch size. */
  entries: number;
  /** Seconds spent in them, measured where the work runs. */
  seconds: number;
}

export class DurableLog implements Storage {
  readonly stats: BatchTotals = { batches: 0, entries: 0, seconds: 0 };
  /** The mirror's commit index is ahead of the one on disk (see persist()). */
  private commitUnsaved = false;
  /** Writes in flight on the writer thread (at most one persist at a time by contract). */
  private busy = false;

  private constructor(
    private readonly path: string,
    private readonly sync: 'full' | 'off',
    private readonly memory: MemoryStorage,
    private readonly file: LogFile | undefined,
    private readonly writer: WorkerClient | undefined,
  ) {}

  /**
   * Opens (creating if needed) the log at `path` and reads it into memory.
   * With `writer: 'thread'` later writes run on a worker thread.
   */
  static open(path: string, options: DurableLogOptions = {}): DurableLog {
    const file = new LogFile(path, options.sync);
    const memory = new MemoryStorage();
    file.load(memory, options.onTornEntry);
    const sync = options.sync ?? 'full';
    if (options.writer !== 'thread') return new DurableLog(path, sync, memory, file, undefined);
    file.close();
    const worker = startTsWorker(new URL('./log-worker.ts', import.meta.url), { path, sync } satisfies LogWorkerData);
    const client = new WorkerClient(worker, (err) => options.onWriterExit?.(err), { post: 'now' });
    return new DurableLog(path, sync, memory, undefined, client);
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

  /**
   * Makes one Ready's snapshot, entries and hard state durable with a single
   * commit (one fsync). Returns undefined when the batch is durable on return
   * (written on this thread, or nothing needed the disk), else a promise that
   * resolves once the writer thread has committed it; the next persist may
   * only start after that.
   */
  persist(batch: PersistBatch): Promise<void> | undefined {
    if (batch.entries.length === 0 && batch.hardState === undefined && batch.snapshot === undefined) return undefined;
    if (this.busy) throw new Error('DurableLog.persist() called while a write is in flight');
    const hs = batch.hardState;
    const durable = this.memory.hardStateNow();
    if (batch.entries.length === 0 && batch.snapshot === undefined && hs !== undefined && hs.term === durable.term && hs.vote === durable.vote) {
      // Only the commit index moved. Raft never needs it durable (a restarted node relearns it from the
      // leader), so it waits for the next batch that writes anyway instead of costing an fsync of its own.
      this.memory.setHardState(hs);
      this.commitUnsaved = true;
      return undefined;
    }
    if (hs === undefined && this.commitUnsaved) batch = { ...batch, hardState: durable };
    this.commitUnsaved = false;
    if (this.writer === undefined) {
      const started = performance.now();
      (this.file as LogFile).write(batch);
      this.count(batch, (performance.now() - started) / 1000);
      this.learn(batch);
      return undefined;
    }
    this.busy = true;
    const toWrite: PersistBatch = batch;
    const posted: PostedBatch = { hardState: batch.hardState, snapshot: batch.snapshot, entries: packEntries(batch.entries) };
    return this.writer.call<number>('write', posted).then((seconds) => {
      this.busy = false;
      this.count(toWrite, seconds);
      this.learn(toWrite);
    });
  }

  private count(batch: PersistBatch, seconds: number): void {
    this.stats.batches++;
    this.stats.entries += batch.entries.length;
    this.stats.seconds += seconds;
  }

  /** The mirror takes a batch once it is durable. */
  private learn(batch: PersistBatch): void {
    if (batch.snapshot !== undefined) this.memory.applySnapshot(batch.snapshot);
    if (batch.entries.length > 0) this.memory.append(batch.entries);
    if (batch.hardState !== undefined) this.memory.setHardState(batch.hardState);
  }

  /**
   * Records a snapshot of the state machine taken at `index` and drops the
   * entries it covers except the last `keepEntries`, so slightly lagging
   * followers still catch up from the log instead of a snapshot.
   * `imagePath`: a file in the log's file system holding exactly `data`; the
   * log makes it durable (off this thread) and moves it next to itself. The
   * caller must not touch it afterwards. Without it the log writes `data` to
   * a file of its own first.
   */
  async snapshotAndCompact(index: number, confState: ConfState, data: Uint8Array, keepEntries = 0, imagePath?: string): Promise<Snapshot> {
    const term = this.memory.term(index);
    if (term === undefined) throw new RangeError(`snapshot index ${index} is not in the log`);
    const snap: Snapshot = { meta: { index, term, confState }, data };
    const compactTo = Math.max(this.memory.firstIndex() - 1, index - keepEntries);
    const compactTerm = this.memory.term(compactTo) ?? 0;
    // Without a file holding the image, write one: the log records images only as files.
    const image: SnapshotFile = { path: imagePath ?? `${this.path}.snap-new`, bytes: data.byteLength };
    if (imagePath === undefined) await writeFile(image.path, data);
    if (this.sync === 'full') {
      const handle = await open(image.path, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    if (this.writer === undefined) (this.file as LogFile).compact(snap.meta, image, compactTo, compactTerm);
    else await this.writer.call('compact', { meta: snap.meta, image, compactTo, compactTerm });
    // The log may have moved on meanwhile (a snapshot installed from the leader): never go backwards.
    if (this.memory.snapshot().meta.index < index) this.memory.createSnapshot(index, confState, data);
    if (this.memory.firstIndex() - 1 < compactTo && compactTo <= this.memory.lastIndex()) this.memory.compact(compactTo);
    return snap;
  }

  async close(): Promise<void> {
    if (this.writer === undefined) {
      this.file?.close();
      return;
    }
    await this.writer.call('close').catch(() => undefined);
    await this.writer.terminate();
  }
}
