/**
 * `geode backup verify --from URL`: the seed's "Backup Verification" steps
 * against an archive, each reported with what it found:
 *
 * 1. files exist: the manifest, and every base, page and segment it names,
 *    each with its `.sha256`;
 * 2. checksums match: every object's SHA-256 equals its sidecar's and the
 *    manifest's (a mismatch names the object);
 * 3. the manifest has no gap: segments follow each other index by index
 *    (breaks the archiver recorded are reported, and count as problems: a
 *    restore cannot reach the instants inside them), and the oldest base is
 *    followed by the chain;
 * 4. a trial restore of the latest state into a temporary directory opens,
 *    passes SQLite's integrity_check, and counts the nodes and reads a sample
 *    (`MATCH (n) RETURN count(n)`, `MATCH (n) RETURN n LIMIT 1`); with
 *    `sampleLabel` (the seed checks `User`), a node of that label must exist.
 *
 * Every problem is collected (not only the first); `ok` is true only when
 * there is none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GraphEngine } from '../graph/engine.js';
import { toJson } from '../../shared/gql/values.js';
import type { JsonValue } from '../../shared/gql/values.js';
import { isGeodeError } from '../../shared/protocol/errors.js';
import { openDestination } from './destination.js';
import type { Destination } from './destination.js';
import { chainProblems, formatBytes, restorePoints, segmentKey, sha256Hex, sidecarKey, MANIFEST_KEY, parseSidecar } from './format.js';
import type { Manifest, PageRef, SegmentRecord } from './format.js';
import { allSegments, readManifest, restore } from './restore.js';
import type { RestorePoints } from '../../shared/protocol/backup.js';

export interface VerifyCheck {
  step: 'files' | 'checksums' | 'chain' | 'restore';
  ok: boolean;
  summary: string;
  problems: string[];
}

export interface VerifyReport {
  ok: boolean;
  destination: string;
  checks: VerifyCheck[];
  /** Every problem, each naming its object. */
  problems: string[];
  objects: number;
  bytes: number;
  restore_points: RestorePoints | null;
  trial: { index: number; time: string | null; nodes: number; sample: JsonValue | null; labels: Record<string, number> } | null;
}

export interface VerifyOptions {
  from: string;
  /** A label the restored graph must hold (the seed's check is `User`). */
  sampleLabel?: string;
  onProgress?: (done: number, total: number, bytes: number) => void;
}

export async function verifyBackup(options: VerifyOptions): Promise<VerifyReport> {
  const destination = await openDestination(options.from);
  const report: VerifyReport = { ok: false, destination: options.from, checks: [], problems: [], objects: 0, bytes: 0, restore_points: null, trial: null };
  const add = (check: VerifyCheck): void => {
    report.checks.push(check);
    report.problems.push(...check.problems);
  };
  try {
    let manifest: Manifest;
    let staleSidecar = false;
    try {
      ({ manifest, staleSidecar } = await readManifest(destination));
    } catch (error) {
      add({ step: 'files', ok: false, summary: `${MANIFEST_KEY} could not be read`, problems: [describe(error)] });
      return report;
    }
    // Pages first: they name the segments.
    const pages: PageRef[] = [];
    const collect = (refs: readonly PageRef[]): void => void pages.push(...refs);
    collect(manifest.volumes);
    collect(manifest.ledgers);
    let segments: SegmentRecord[] = [];
    const listProblems: string[] = [];
    try {
      segments = await allSegments(destination, manifest);
    } catch (error) {
      listProblems.push(describe(error));
    }
    const objects: { key: string; sha256: string; bytes: number }[] = [
      ...manifest.bases.map((b) => ({ key: b.key, sha256: b.sha256, bytes: b.bytes })),
      ...segments.map((s) => ({ key: segmentKey(s.first, s.last), sha256: s.sha256, bytes: s.bytes })),
    ];
    // Level-1 pages inside volumes are checked while listing (readPage); the manifest's own references here.
    for (const p of pages) objects.push({ key: p.key, sha256: p.sha256, bytes: p.bytes });
    report.objects = objects.length + 1;
    const missing: string[] = [...listProblems];
    const mismatched: string[] = [];
    let done = 0;
    for (const object of objects) {
      const body = await destination.get(object.key).catch((error: unknown) => {
        missing.push(`${object.key}: ${describe(error)}`);
        return undefined;
      });
      const sidecar = await destination.get(sidecarKey(object.key)).catch(() => undefined);
      if (body === undefined) missing.push(`${object.key} is missing`);
      if (sidecar === undefined) missing.push(`${sidecarKey(object.key)} is missing`);
      if (body !== undefined) {
        report.bytes += body.byteLength;
        const actual = sha256Hex(body);
        if (actual !== object.sha256) mismatched.push(`${object.key}: checksum mismatch (manifest ${object.sha256.slice(0, 16)}..., object ${actual.slice(0, 16)}...)${body.byteLength !== object.bytes ? `, ${body.byteLength} bytes where ${object.bytes} were stored (truncated?)` : ''}`);
        if (sidecar !== undefined && parseSidecar(sidecar.toString('utf8')) !== actual) mismatched.push(`${object.key}: does not match ${sidecarKey(object.key)}`);
      }
      options.onProgress?.(++done, objects.length, report.bytes);
    }
    add({ step: 'files', ok: missing.length === 0, summary: `${objects.length + 1} objects named by the manifest (${manifest.bases.length} bases, ${segments.length} segments, ${pages.length} pages, the manifest)`, problems: missing });
    // Not a problem for a restore: the manifest's own checksum holds (restore.ts readManifest).
    const note = staleSidecar ? `; ${sidecarKey(MANIFEST_KEY)} names an earlier manifest (its writer stopped between the two writes; the manifest's own checksum holds, and the next archiving session rewrites it)` : '';
    add({ step: 'checksums', ok: mismatched.length === 0, summary: `${objects.length - missing.length} checksums compared (${formatBytes(report.bytes)})${note}`, problems: mismatched });
    const chain = chainProblems(manifest, segments);
    for (const b of manifest.breaks) chain.push(`break: entries ${b.after + 1}..${b.resume - 1} were never archived (${b.reason})`);
    report.restore_points = restorePoints(manifest, segments);
    const last = segments[segments.length - 1];
    add({ step: 'chain', ok: chain.length === 0, summary: last === undefined ? 'no segment archived yet' : `entries ${segments[0]?.first}..${last.last} in ${segments.length} segments`, problems: chain });
    add(await trialRestore(options, destination, report));
    report.ok = report.problems.length === 0;
    return report;
  } finally {
    destination.close();
  }
}

async function trialRestore(options: VerifyOptions, destination: Destination, report: VerifyReport): Promise<VerifyCheck> {
  const dir = await mkdtemp(join(tmpdir(), 'geode-verify-'));
  try {
    const restored = await restore({ from: options.from, dataDir: join(dir, 'data'), nodes: ['node1'], destination });
    const path = join(restored.nodes[0]!.data_dir, 'graph.db');
    const db = new Database(path, { readonly: true });
    let integrity: string;
    try {
      integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? 'no answer';
    } finally {
      db.close();
    }
    const engine = GraphEngine.open(path);
    try {
      const context = { now: Date.now(), seed: 'verify' };
      const count = Number(engine.execute('MATCH (n) RETURN count(n) AS count', Object.create(null), context).rows[0]?.[0] ?? 0);
      const sampleRow = engine.execute('MATCH (n) RETURN n LIMIT 1', Object.create(null), context).rows[0];
      const labels: Record<string, number> = {};
      for (const row of engine.execute('MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS count', Object.create(null), context).rows) labels[String(row[0])] = Number(row[1]);
      report.trial = { index: restored.index, time: restored.time, nodes: count, sample: sampleRow === undefined ? null : toJson(sampleRow[0] ?? null), labels };
      const problems: string[] = [];
      if (integrity !== 'ok') problems.push(`the restored graph fails integrity_check: ${integrity}`);
      if (count === 0) problems.push('the restored graph holds no nodes');
      if (options.sampleLabel !== undefined && (labels[options.sampleLabel] ?? 0) === 0) problems.push(`the restored graph holds no node labelled ${options.sampleLabel}`);
      return { step: 'restore', ok: problems.length === 0, summary: `restored index ${restored.index} (${restored.time ?? 'no entry time'}) from ${restored.base.key} and ${restored.segments} segments: ${count} nodes, integrity_check ${integrity}`, problems };
    } finally {
      engine.close();
    }
  } catch (error) {
    return { step: 'restore', ok: false, summary: 'the trial restore failed', problems: [describe(error)] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function describe(error: unknown): string {
  if (isGeodeError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}
