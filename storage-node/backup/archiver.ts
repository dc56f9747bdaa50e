/**
 * The archiver: what the leader's backup worker does (backup-worker.ts), off
 * the thread that drives Raft. The main thread (backup-host.ts) decides when;
 * this module does the IO: it reads the manifest, stores segments and bases
 * with their `.sha256` beside them, keeps the manifest up to date and applies
 * retention.
 *
 * Continuity across failover: the destination is the source of truth. A
 * leader that starts archiving reads the manifest and continues with the
 * entry after the last archived one, with the clock the manifest recorded
 * for it, so the chain has no gap and no duplicate. Every manifest write is
 * conditional on the version read (destination.ts): a deposed leader that
 * still writes loses, re-reads, and the host stops it once it sees it no
 * longer leads. A manifest of another lineage (another cluster, a restored
 * copy) is refused, never adopted.
 *
 * Order of writes, so a reader never finds the manifest naming what is not
 * there: an object, then its sidecar, then (for a page) the page and its
 * sidecar, then the manifest, then its sidecar. Retention writes the smaller
 * manifest first and deletes afterwards. A crash between leaves only objects
 * no manifest names (harmless; the next writer of the same range replaces
 * them with identical bytes, since committed entries and their clocks never
 * change).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { BackupConfig } from '../../shared/protocol/backup.js';
import type { Entry } from '../raft/messages.js';
import { openDestination } from './destination.js';
import type { Destination } from './destination.js';
import {
  MANIFEST_KEY,
  manifestText,
  addSegment,
  archivePosition,
  baseKey,
  emptyManifest,
  lastArchived,
  parseManifest,
  parsePage,
  planRetention,
  restorePoints,
  segmentKey,
  encodeSegment,
  segmentsFrom,
  sha256Hex,
  sidecarKey,
  sidecarText,
  stampEntries,
  corrupt,
} from './format.js';
import type { BaseRecord, Manifest, PageRef, SegmentRecord } from './format.js';
import type { RestorePoints } from '../../shared/protocol/backup.js';

/** Bases are large and written in the background: a faster level, at some cost in size. */
const BASE_GZIP_LEVEL = 3;
/**
 * Segments are compressed on every second of writes: the fastest level (see bench:backup's
 * archive_cpu_us_per_entry), and synchronously, on the backup worker's own thread. An async gzip
 * runs on the process's libuv pool at normal priority; on the worker it runs at the worker's lowered
 * priority (backup-worker.ts), and a segment is small (a second of writes, at most 4,096 entries).
 */
const SEGMENT_GZIP_LEVEL = 1;

export interface Session {
  config: BackupConfig;
  clusterId: string;
  node: string;
  term: number;
}

export interface Position {
  /** The next index to archive, and the clock after the entry before it. */
  next: number;
  clock: number;
}

export interface ActivateResult {
  /** Undefined: the archive has no base yet (or cannot go on), a base must come first. */
  position: Position | undefined;
  lastBase: { index: number; time: number; at: number } | undefined;
}

export interface Stored {
  bytes: number;
  at: number;
}

export class Archiver {
  private destination: Destination | undefined;
  private manifest: Manifest | undefined;
  private version: string | null = null;
  private session: Session | undefined;
  private position: Position | undefined;
  /** Entries before `gapFrom` were compacted away before they could be archived: the next base records the break. */
  private gapFrom: number | undefined;
  /** Manifest changes run one at a time (a base and segments may be in flight together). */
  private queue: Promise<unknown> = Promise.resolve();
  bytesTotal = 0;

  /** Reads the manifest of the session's destination (creating none yet) and says where archiving goes on. */
  async activate(session: Session): Promise<ActivateResult> {
    return this.serialized(async () => {
      if (this.destination === undefined || this.destination.url !== session.config.destination) {
        this.destination?.close();
        this.destination = undefined;
        this.destination = await openDestination(session.config.destination);
      }
      this.session = session;
      this.gapFrom = undefined;
      const found = await this.destination.getVersioned(MANIFEST_KEY);
      if (found === undefined) {
        this.manifest = emptyManifest(session.clusterId, session.config.lineage, { node: session.node, term: session.term }, new Date());
        this.version = null;
      } else {
        const manifest = parseManifest(found.body.toString('utf8'));
        if (manifest.lineage !== session.config.lineage) {
          throw new GeodeError(
            ErrorCode.BACKUP_DESTINATION,
            `backup destination ${session.config.destination} holds another backup chain (cluster ${manifest.cluster_id}, lineage ${manifest.lineage}; this cluster's is ${session.config.lineage}): configure an empty destination`,
            { detail: 'ForeignArchive' },
          );
        }
        this.manifest = manifest;
        this.version = found.version;
      }
      this.position = archivePosition(this.manifest);
      const base = this.manifest.bases[this.manifest.bases.length - 1];
      return { position: this.position, lastBase: base === undefined ? undefined : { index: base.index, time: base.time, at: Date.parse(base.created_at) } };
    });
  }

  deactivate(): void {
    this.session = undefined;
    this.manifest = undefined;
    this.position = undefined;
    this.destination?.close();
    this.destination = undefined;
  }

  private active(): { session: Session; destination: Destination; manifest: Manifest } {
    if (this.session === undefined || this.destination === undefined || this.manifest === undefined) throw new GeodeError(ErrorCode.OVERLOADED, 'the archiver is not active on this node');
    return { session: this.session, destination: this.destination, manifest: this.manifest };
  }

  /** The host found the entries from `next` compacted away: the next base restarts the chain after a recorded break. */
  markGap(): void {
    if (this.position !== undefined) this.gapFrom = this.position.next;
  }

  /** Stores `entries` (committed, starting at the archive position) as one segment. */
  async segment(entries: readonly Entry[]): Promise<{ last: number; time: number } & Stored> {
    const { session, destination } = this.active();
    const position = this.position;
    const first = entries[0];
    if (position === undefined || first === undefined || first.index !== position.next) {
      throw new GeodeError(ErrorCode.INTERNAL, `segment starts at ${first?.index ?? 'nothing'}, the archive continues at ${position?.next ?? 'a base'}`);
    }
    const stamped = stampEntries(entries, position.clock);
    const last = stamped[stamped.length - 1]!;
    const body = gzipSync(encodeSegment(session.clusterId, session.config.lineage, stamped), { level: SEGMENT_GZIP_LEVEL });
    const key = segmentKey(first.index, last.index);
    const digest = sha256Hex(body);
    await destination.put(key, body);
    await destination.put(sidecarKey(key), sidecarText(key, digest));
    const record: SegmentRecord = { first: first.index, last: last.index, first_time: stamped[0]!.time, last_time: last.time, entries: stamped.length, bytes: body.byteLength, sha256: digest };
    let written = body.byteLength;
    await this.serialized(async () => {
      const { manifest } = this.active();
      const { manifest: next, pages } = addSegment(manifest, record);
      for (const page of pages) {
        await destination.put(page.ref.key, page.body);
        await destination.put(sidecarKey(page.ref.key), sidecarText(page.ref.key, page.ref.sha256));
        written += page.ref.bytes;
      }
      written += await this.writeManifest(next);
    });
    this.position = { next: last.index + 1, clock: last.time };
    this.bytesTotal += written;
    return { last: last.index, time: last.time, bytes: written, at: Date.now() };
  }

  /**
   * Stores the SQLite image at `imagePath` (written by the apply worker) as a base: gzip streamed to
   * a temporary file beside it while its digest is computed, then uploaded. The image's own
   * bookkeeping says which index and commit time it holds.
   */
  async base(imagePath: string): Promise<{ index: number; time: number; key: string } & Stored> {
    const { session, destination } = this.active();
    const { index, time } = readImagePosition(imagePath);
    const raw = (await stat(imagePath)).size;
    const packed = `${imagePath}.gz`;
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      await pipeline(
        createReadStream(imagePath),
        createGzip({ level: BASE_GZIP_LEVEL }),
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            bytes += chunk.byteLength;
            done(null, chunk);
          },
        }),
        createWriteStream(packed),
      );
      const digest = hash.digest('hex');
      const key = baseKey(index);
      await destination.putFile(key, packed);
      await destination.put(sidecarKey(key), sidecarText(key, digest));
      const record: BaseRecord = { key, index, time, bytes, raw_bytes: raw, sha256: digest, created_at: new Date().toISOString(), node: session.node };
      let written = bytes;
      await this.serialized(async () => {
        const { manifest } = this.active();
        const next: Manifest = { ...manifest, bases: [...manifest.bases.filter((b) => b.index !== index), record].sort((a, b) => a.index - b.index) };
        const position = this.position;
        if (position === undefined || this.gapFrom !== undefined) {
          // The chain (re)starts after this base; a hole before it is recorded as a break.
          const before = lastArchived(manifest);
          if (this.gapFrom !== undefined && before !== undefined && index + 1 > before.index + 1) {
            next.breaks = [...manifest.breaks, { after: before.index, resume: index + 1, after_time: before.time, resume_time: time, reason: 'the log was compacted past the last archived entry before it could be archived', at: new Date().toISOString() }];
          }
          this.position = { next: index + 1, clock: time };
          this.gapFrom = undefined;
        }
        written += await this.writeManifest(next);
      });
      this.bytesTotal += written;
      return { index, time, key, bytes: written, at: Date.now() };
    } finally {
      await rm(packed, { force: true });
    }
  }

  /**
   * Deletes what has left the retention window (format.ts planRetention); the objects deleted.
   * `retentionMs` comes with the call: the setting may have changed since this session began.
   */
  async retain(now: number, retentionMs: number): Promise<number> {
    const { destination } = this.active();
    return this.serialized(async () => {
      const { manifest } = this.active();
      const plan = planRetention(manifest, now, retentionMs);
      if (plan === undefined) return 0;
      const objects = [...plan.objects];
      // Whole pages go: list what is below them first.
      const read = (ref: PageRef) => readPage(destination, ref);
      for (const page of plan.pages) {
        const below = await segmentsFrom({ ...manifest, volumes: page.level === 2 ? [page] : [], ledgers: page.level === 1 ? [page] : [], segments: [] }, async (ref) => {
          objects.push(ref.key);
          return read(ref);
        });
        for (const s of below) objects.push(segmentKey(s.first, s.last));
      }
      await this.writeManifest(plan.manifest);
      await destination.delete(objects.flatMap((key) => [key, sidecarKey(key)]));
      return objects.length;
    });
  }

  /** Restore points of the archive as this archiver knows it. */
  async restorePoints(): Promise<RestorePoints> {
    const { destination, manifest } = this.active();
    return restorePoints(manifest, await segmentsFrom(manifest, (ref) => readPage(destination, ref)));
  }

  /** Stores the manifest if nobody else changed it since it was read; its bytes. */
  private async writeManifest(next: Manifest): Promise<number> {
    const { session, destination } = this.active();
    const stamped: Manifest = { ...next, generation: next.generation + 1, updated_at: new Date().toISOString(), writer: { node: session.node, term: session.term } };
    const body = manifestText(stamped);
    const version = await destination.putIfVersion(MANIFEST_KEY, body, this.version);
    if (version === 'conflict') {
      // Another writer (a leader of a later term, or one not yet aware it was deposed) changed it.
      this.session = undefined;
      throw new GeodeError(ErrorCode.BACKUP_DESTINATION, `${MANIFEST_KEY} at ${destination.url} was changed by another writer; archiving resumes from what it says`, { detail: 'ManifestConflict' });
    }
    await destination.put(sidecarKey(MANIFEST_KEY), sidecarText(MANIFEST_KEY, sha256Hex(body)));
    this.manifest = stamped;
    this.version = version;
    return Buffer.byteLength(body);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** A page read from the destination and checked against the checksum its reference holds. */
export async function readPage(destination: Destination, ref: PageRef): Promise<(SegmentRecord | PageRef)[]> {
  const body = await destination.get(ref.key);
  if (body === undefined) throw corrupt(`page ${ref.key} is missing`, ref.key);
  if (sha256Hex(body) !== ref.sha256) throw corrupt(`page ${ref.key} does not match its checksum in the manifest`, ref.key);
  return parsePage(body.toString('utf8'), ref);
}

/** The applied index and entry clock a graph image holds (state-machine.ts `raft_applied`). */
export function readImagePosition(path: string): { index: number; time: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT idx, clock FROM raft_applied WHERE id = 1').safeIntegers(false).get() as { idx: number; clock: number } | undefined;
    return { index: row?.idx ?? 0, time: row?.clock ?? 0 };
  } finally {
    db.close();
  }
}
