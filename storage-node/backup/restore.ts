/**
 * Point-in-time restore: the data directories of a NEW cluster holding
 * exactly the committed state at an instant T (every entry whose commit time
 * is at most T, and none after), or everything archived without T.
 *
 * 1. The manifest is read and checked (its sidecar, its pages' checksums).
 * 2. The newest base at or before T whose chain reaches T is chosen
 *    (format.ts planRestore); instants the archive cannot reach exactly are
 *    refused, naming the windows it can.
 * 3. The base is streamed through its checksum and gunzip into a graph file.
 * 4. Segment entries after the base are replayed in log order with the
 *    replicated state machine's own deterministic apply (GraphStateMachine),
 *    up to the last one committed at or before T. Each object is checked
 *    against the manifest's checksum and its `.sha256`, and each entry's index
 *    must follow the one before: a missing, corrupt, truncated or gapped
 *    object stops the restore with BACKUP_CORRUPT naming it.
 * 5. The backup setting is cleared from the restored graph (a restored copy
 *    must not archive into its source's chain; configure it afresh), and each
 *    node directory gets:
 *    - `graph.db`: the restored graph (its applied index A inside);
 *    - `raft.db`: a Raft log whose snapshot is that graph at index A, term 1,
 *      with the new cluster's voters as its membership, and hard state
 *      (term 1, no vote, commit A). Entries the new cluster writes come after
 *      A, so apply never skips one, and a member that later needs a snapshot
 *      gets this image (hard-linked: one inode for every node, as an image
 *      is only ever read, then unlinked). This is how a node that installed a snapshot looks
 *      after a restart (storage-node/log/README.md), which StorageNode.start()
 *      already handles.
 *
 * A target directory that exists and is not empty is refused: a restore
 * never writes into a live (or any other) data directory.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { GraphStateMachine } from '../replication/state-machine.js';
import { raftIdOf } from '../replication/members.js';
import { LogFile } from '../log/durable-log.js';
import { openDestination } from './destination.js';
import type { Destination } from './destination.js';
import { readPage } from './archiver.js';
import { MANIFEST_KEY, corrupt, manifestChecksum, parseManifest, parseSegment, parseSidecar, planRestore, segmentKey, segmentsFrom, sha256Hex, sidecarKey } from './format.js';
import type { BaseRecord, Manifest, SegmentRecord } from './format.js';

const gunzipAsync = promisify(gunzip);
/** Entries applied per state-machine batch (one SQLite transaction each). */
const REPLAY_BATCH = 2_000;
/** Segments fetched ahead of the replay. */
const PREFETCH = 4;

export interface RestoreProgress {
  phase: 'manifest' | 'base' | 'segments' | 'nodes' | 'done';
  objects: number;
  objectsTotal: number;
  bytes: number;
  bytesTotal: number;
}

export interface RestoreOptions {
  from: string;
  /** ms since the epoch; undefined: everything archived. */
  at?: number | undefined;
  dataDir: string;
  /** Node names; each gets `<dataDir>/<name>/`. */
  nodes: string[];
  onProgress?: (progress: RestoreProgress) => void;
  /** The destination already open (verify); otherwise opened from `from`. */
  destination?: Destination;
}

export interface RestoreResult {
  cluster_id: string;
  lineage: string;
  /** The last index the restored state holds, and that entry's commit time. */
  index: number;
  time: string | null;
  target: string | null;
  base: { key: string; index: number; time: string };
  entries_replayed: number;
  segments: number;
  bytes: number;
  nodes: { name: string; data_dir: string }[];
}

/**
 * The manifest and its sidecar, read until they agree (the archiver may be rewriting both right
 * now). When they keep disagreeing but the manifest's own checksum holds (format.ts manifestText),
 * its writer stopped between the two writes: the manifest is trusted and `staleSidecar` says so
 * (`verify` reports it; the next archiving session rewrites both). A manifest written before it
 * carried a checksum needs its sidecar.
 */
export async function readManifest(destination: Destination): Promise<{ manifest: Manifest; bytes: number; staleSidecar: boolean }> {
  let problem = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const body = await destination.get(MANIFEST_KEY);
    if (body === undefined) throw corrupt(`${destination.url} holds no ${MANIFEST_KEY}: nothing was archived there`, MANIFEST_KEY);
    const manifest = parseManifest(body.toString('utf8'));
    const sidecar = await destination.get(sidecarKey(MANIFEST_KEY));
    if (sidecar !== undefined && parseSidecar(sidecar.toString('utf8')) === sha256Hex(body)) return { manifest, bytes: body.byteLength, staleSidecar: false };
    problem = sidecar === undefined ? `${sidecarKey(MANIFEST_KEY)} is missing` : `${MANIFEST_KEY} does not match ${sidecarKey(MANIFEST_KEY)}`;
    if (attempt === 4 && manifestChecksum(manifest) === 'ok') return { manifest, bytes: body.byteLength, staleSidecar: true };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw corrupt(problem, MANIFEST_KEY);
}

/** An object's bytes, checked against the digest the manifest holds and against its sidecar. */
export async function fetchChecked(destination: Destination, key: string, digest: string): Promise<Buffer> {
  const body = await destination.get(key);
  if (body === undefined) throw corrupt(`${key} is missing from ${destination.url}`, key);
  const actual = sha256Hex(body);
  if (actual !== digest) throw corrupt(`${key} does not match its checksum (manifest ${digest.slice(0, 16)}..., object ${actual.slice(0, 16)}...): it is corrupt or truncated`, key);
  await checkSidecar(destination, key, digest);
  return body;
}

async function checkSidecar(destination: Destination, key: string, digest: string): Promise<void> {
  const sidecar = await destination.get(sidecarKey(key));
  if (sidecar === undefined) throw corrupt(`${sidecarKey(key)} is missing`, sidecarKey(key));
  if (parseSidecar(sidecar.toString('utf8')) !== digest) throw corrupt(`${sidecarKey(key)} does not name ${key}'s checksum`, sidecarKey(key));
}

/** Every segment record of the archive, its pages checked on the way. */
export function allSegments(destination: Destination, manifest: Manifest): Promise<SegmentRecord[]> {
  return segmentsFrom(manifest, (ref) => readPage(destination, ref));
}

/** Refuses a target that exists and holds anything. */
export async function ensureEmptyDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (names.length > 0) {
    const live = names.some((n) => n === 'dev.json' || n === 'raft.db' || n === 'graph.db' || /^node\d+$/.test(n));
    throw new GeodeError(ErrorCode.BAD_REQUEST, `${dir} is not empty${live ? ' (it holds node data)' : ''}: a restore writes only into a new or empty directory, never over existing data`, { detail: 'TargetNotEmpty' });
  }
}

export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  if (options.nodes.length === 0) throw new GeodeError(ErrorCode.BAD_REQUEST, 'a restore needs at least one node');
  await ensureEmptyDir(options.dataDir);
  const destination = options.destination ?? (await openDestination(options.from));
  const progress: RestoreProgress = { phase: 'manifest', objects: 0, objectsTotal: 1, bytes: 0, bytesTotal: 0 };
  const report = (): void => options.onProgress?.({ ...progress });
  const work = join(options.dataDir, '.restore');
  let done = false;
  try {
    report();
    const { manifest, bytes: manifestBytes } = await readManifest(destination);
    const segments = await allSegments(destination, manifest);
    const plan = planRestore(manifest, segments, options.at);
    progress.objects = 1;
    progress.bytes = manifestBytes;
    progress.objectsTotal = 1 + 1 + plan.segments.length;
    progress.bytesTotal = manifestBytes + plan.base.bytes + plan.segments.reduce((n, s) => n + s.bytes, 0);
    progress.phase = 'base';
    report();
    await mkdir(work, { recursive: true });
    const graphPath = join(work, 'graph.db');
    await downloadBase(destination, plan.base, graphPath, (n) => {
      progress.bytes += n;
      report();
    });
    progress.objects++;
    progress.phase = 'segments';
    report();
    const machine = new GraphStateMachine(graphPath);
    let replayed = 0;
    let lastTime: number | null = plan.base.time;
    try {
      if (machine.appliedIndex !== plan.base.index) throw corrupt(`base ${plan.base.key} holds index ${machine.appliedIndex}, the manifest says ${plan.base.index}`, plan.base.key);
      const fetches = plan.segments.map((s, i) => (i < PREFETCH ? fetchSegment(destination, s) : undefined));
      let batch: Parameters<GraphStateMachine['apply']>[0][number][] = [];
      let expected = plan.base.index + 1;
      let finished = false;
      const flush = (): void => {
        if (batch.length === 0) return;
        machine.apply(batch);
        batch = [];
      };
      for (let i = 0; i < plan.segments.length && !finished; i++) {
        const record = plan.segments[i] as SegmentRecord;
        const next = plan.segments[i + PREFETCH];
        if (next !== undefined) fetches[i + PREFETCH] = fetchSegment(destination, next);
        const entries = await (fetches[i] as Promise<ReturnType<typeof parseSegment>['entries']>);
        fetches[i] = undefined;
        for (const entry of entries) {
          if (entry.index < expected) continue;
          if (entry.index > plan.lastIndex || entry.time > plan.until) {
            finished = true;
            break;
          }
          if (entry.index !== expected) throw corrupt(`the archive has no entry ${expected}: ${segmentKey(record.first, record.last)} continues at ${entry.index}`, segmentKey(record.first, record.last));
          batch.push(entry);
          lastTime = entry.time;
          expected++;
          replayed++;
          if (batch.length >= REPLAY_BATCH) flush();
        }
        progress.objects++;
        progress.bytes += record.bytes;
        report();
      }
      flush();
      if (options.at === undefined && expected - 1 < plan.lastIndex) throw corrupt(`the archive ends at ${expected - 1}, the manifest says ${plan.lastIndex}`, MANIFEST_KEY);
    } finally {
      machine.close();
    }
    const index = plan.base.index + replayed;
    finishImage(graphPath);
    progress.phase = 'nodes';
    report();
    const voters = options.nodes.map((n) => raftIdOf(n));
    const nodes: RestoreResult['nodes'] = [];
    for (const name of options.nodes) {
      const dir = join(options.dataDir, name);
      await mkdir(dir, { recursive: true });
      // graph.db is written in place by its node: a copy each (a reflink where the file system has them).
      await copyFile(graphPath, join(dir, 'graph.db'), fsConstants.COPYFILE_FICLONE);
      // The snapshot image is only ever read, replaced by a new file and unlinked: one inode serves every node.
      const image = join(dir, 'raft.db.snap-new');
      await link(graphPath, image).catch(() => copyFile(graphPath, image, fsConstants.COPYFILE_FICLONE));
      const log = new LogFile(join(dir, 'raft.db'));
      try {
        log.compact({ index, term: 1, confState: { voters, learners: [] } }, { path: image, bytes: (await stat(image)).size }, index, 1);
        log.write({ hardState: { term: 1, vote: 0, commit: index }, entries: [] });
      } finally {
        log.close();
      }
      nodes.push({ name, data_dir: dir });
    }
    progress.phase = 'done';
    report();
    done = true;
    return {
      cluster_id: manifest.cluster_id,
      lineage: manifest.lineage,
      index,
      time: lastTime === null ? null : new Date(lastTime).toISOString(),
      target: options.at === undefined ? null : new Date(options.at).toISOString(),
      base: { key: plan.base.key, index: plan.base.index, time: new Date(plan.base.time).toISOString() },
      entries_replayed: replayed,
      segments: plan.segments.length,
      bytes: progress.bytes,
      nodes,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
    if (!done) {
      // Nothing half-made is left behind: the directory was empty (or absent) before.
      for (const name of options.nodes) await rm(join(options.dataDir, name), { recursive: true, force: true });
    }
    if (options.destination === undefined) destination.close();
  }
}

/** Fetched ahead of use: a failure surfaces when the replay reaches it (never as an unhandled rejection). */
function fetchSegment(destination: Destination, record: SegmentRecord): Promise<ReturnType<typeof parseSegment>['entries']> {
  const fetching = fetchSegmentNow(destination, record);
  fetching.catch(() => undefined);
  return fetching;
}

async function fetchSegmentNow(destination: Destination, record: SegmentRecord): Promise<ReturnType<typeof parseSegment>['entries']> {
  const key = segmentKey(record.first, record.last);
  const body = await fetchChecked(destination, key, record.sha256);
  let bytes: Buffer;
  try {
    bytes = await gunzipAsync(body);
  } catch (error) {
    throw corrupt(`${key} does not decompress (${error instanceof Error ? error.message : String(error)}): it is truncated or damaged`, key);
  }
  return parseSegment(bytes, key, record).entries;
}

/** The base streamed through its checksum and gunzip into `path`; checked before anything uses it. */
async function downloadBase(destination: Destination, base: BaseRecord, path: string, onBytes: (n: number) => void): Promise<void> {
  const found = await destination.getStream(base.key);
  if (found === undefined) throw corrupt(`${base.key} is missing from ${destination.url}`, base.key);
  const hash = createHash('sha256');
  const partial = `${path}.part`;
  try {
    await pipeline(
      found.stream,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          onBytes(chunk.byteLength);
          callback(null, chunk);
        },
      }),
      createGunzip(),
      createWriteStream(partial),
    );
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof GeodeError) throw error;
    throw corrupt(`${base.key} does not decompress (${error instanceof Error ? error.message : String(error)}): it is truncated or damaged`, base.key);
  }
  const digest = hash.digest('hex');
  if (digest !== base.sha256) {
    await rm(partial, { force: true });
    throw corrupt(`${base.key} does not match its checksum (manifest ${base.sha256.slice(0, 16)}..., object ${digest.slice(0, 16)}...): it is corrupt or truncated`, base.key);
  }
  await checkSidecar(destination, base.key, base.sha256);
  await rename(partial, path);
}

/**
 * The restored graph as a node starts from it: no backup setting (a copy must not archive into its
 * source's chain), one self-contained file (rollback journal, like a snapshot image). Its bytes are
 * vouched for by the checksums of everything it was made from; `geode backup verify` also runs
 * SQLite's integrity_check on a trial restore (here it would cost 40% of a 1M-node restore).
 */
function finishImage(path: string): void {
  const db = new Database(path);
  try {
    db.exec('DELETE FROM backup_state');
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
}
