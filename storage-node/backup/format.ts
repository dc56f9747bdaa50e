/**
 * What an archive holds, and the pure rules over it: object names, the
 * segment encoding, the manifest and its checks (no gap, no overlap), restore
 * points and what retention may delete. No IO here (tested alone); the
 * archiver, restore and verify do the reading and writing.
 *
 * Layout of a destination (every object has `<key>.sha256` beside it, in
 * `sha256sum` format, so `sha256sum -c` checks a downloaded copy):
 *
 *   manifest.json                      the manifest (below), rewritten after every change
 *   bases/<index>.db.gz                a base snapshot: the graph at <index> (SQLite online backup, gzip)
 *   segments/<first>-<last>.seg.gz     committed log entries first..last (gzip of a header and records)
 *   ledgers/L1-<first>-<last>.json     a closed page of FANOUT segment records
 *   ledgers/L2-<first>-<last>.json     a closed page of FANOUT L1 page references
 *
 * Indexes are zero-padded to 20 digits, so names sort as numbers do.
 *
 * The manifest ties everything together: the cluster id and lineage, every
 * base (index, commit time, size, checksum), the log as segment records
 * (index and time ranges, entry count, size, checksum) and the breaks in it.
 * Segments are closed every second under load, so a flat list would grow by
 * 86,400 records a day and the manifest with it; instead the open tail holds
 * at most FANOUT segment records, full tails are written out as L1 pages
 * (whose references the manifest keeps, at most FANOUT of them), and full
 * runs of those as L2 pages (one reference per 65,536 segments, about 18 h
 * at one segment a second). The manifest stays under ~100 KB whatever the
 * retention, and each page's checksum sits in the reference to it, so the
 * manifest vouches for every object below it.
 *
 * A segment is a JSON header line naming the cluster, lineage and range, so
 * a segment read alone still says what it is, then one binary record per
 * entry: index, commit time, term, type and the entry's own bytes
 * (encodeSegment). The commit time is the entry clock
 * (replication/state-machine.ts): max(entry's leader `now`, previous clock),
 * computed here exactly as apply computes it.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { decodeCommand } from '../replication/command.js';
import type { Command } from '../replication/command.js';
import type { Entry } from '../raft/messages.js';
import { entryTypeCode, entryTypeOf } from '../raft/messages.js';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { BaseSummary, RestorePoints } from '../../shared/protocol/backup.js';

export const MANIFEST_KEY = 'manifest.json';
export const MANIFEST_FORMAT = 'geode-backup/1';
export const SEGMENT_FORMAT = 'geode-backup-segment/2';
/** The first segment format (JSON lines), still read. */
export const SEGMENT_FORMAT_TEXT = 'geode-backup-segment/1';
/** Records per page (and per open tail) of the manifest's tree. */
export const FANOUT = 256;

export interface SegmentRecord {
  first: number;
  last: number;
  /** Commit times (ms) of the first and last entry. */
  first_time: number;
  last_time: number;
  entries: number;
  bytes: number;
  sha256: string;
}

/** A closed page: level 1 lists segment records, level 2 lists level-1 page references. */
export interface PageRef {
  level: 1 | 2;
  key: string;
  first: number;
  last: number;
  first_time: number;
  last_time: number;
  /** Segments below this page. */
  segments: number;
  bytes: number;
  sha256: string;
}

export interface BaseRecord {
  key: string;
  /** The graph holds every entry through `index`; `time` is that entry's commit time (ms). */
  index: number;
  time: number;
  /** Compressed (stored) and raw (SQLite file) sizes. */
  bytes: number;
  raw_bytes: number;
  sha256: string;
  created_at: string;
  node: string;
}

/** A hole in the archived log: entries after `after` up to `resume - 1` are not in it. */
export interface BreakRecord {
  after: number;
  resume: number;
  after_time: number;
  resume_time: number;
  reason: string;
  at: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  cluster_id: string;
  lineage: string;
  created_at: string;
  updated_at: string;
  /** Grows by one with every write: a writer that read generation N may only write N + 1. */
  generation: number;
  writer: { node: string; term: number };
  /** SHA-256 of the manifest's JSON without this field (manifestText); absent in manifests written before it. */
  checksum?: string;
  bases: BaseRecord[];
  /** Level-2 page references, oldest first. */
  volumes: PageRef[];
  /** Open level-1 page references (after the last volume), at most FANOUT. */
  ledgers: PageRef[];
  /** Open segment records (after the last ledger), at most FANOUT. */
  segments: SegmentRecord[];
  breaks: BreakRecord[];
}

export interface ArchivedEntry extends Entry {
  /** Commit time (the entry clock), ms. */
  time: number;
}

export interface SegmentHeader {
  format: typeof SEGMENT_FORMAT | typeof SEGMENT_FORMAT_TEXT;
  cluster_id: string;
  lineage: string;
  first: number;
  last: number;
  first_time: number;
  last_time: number;
  entries: number;
}

const pad = (n: number): string => String(n).padStart(20, '0');
export const segmentKey = (first: number, last: number): string => `segments/${pad(first)}-${pad(last)}.seg.gz`;
export const baseKey = (index: number): string => `bases/${pad(index)}.db.gz`;
export const pageKey = (level: 1 | 2, first: number, last: number): string => `ledgers/L${level}-${pad(first)}-${pad(last)}.json`;
export const sidecarKey = (key: string): string => `${key}.sha256`;

/** `sha256sum` format: `<hex>  <file name>`. */
export function sidecarText(key: string, sha256: string): string {
  return `${sha256}  ${basename(key)}\n`;
}

/** The digest a sidecar names, or undefined when it is not one. */
export function parseSidecar(text: string): string | undefined {
  const match = /^([0-9a-f]{64})\b/.exec(text.trim());
  return match?.[1];
}

/** `1.5 MiB`: sizes in reports. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function corrupt(message: string, object?: string): GeodeError {
  return new GeodeError(ErrorCode.BACKUP_CORRUPT, message, object === undefined ? {} : { extra: { object } });
}

// ---- the entry clock ---------------------------------------------------------------------

/**
 * The leader time an entry carries, as apply counts it: a write's `now`, the latest `now` among a
 * DR stream entry's items; nothing (-Infinity) for the rest.
 */
export function entryNow(entry: Entry): number {
  if (entry.type !== 'normal' || entry.data.byteLength === 0) return -Infinity;
  const quick = writeNow(entry.data);
  if (quick !== undefined) return quick;
  let command: Command;
  try {
    command = decodeCommand(entry.data);
  } catch {
    return -Infinity;
  }
  if (command.kind === 'query') return command.now;
  if (command.kind === 'dr') {
    let latest = -Infinity;
    for (const [, data] of command.items) {
      if (data === null) continue;
      try {
        const source = decodeCommand(new TextEncoder().encode(data));
        if (source.kind === 'query' && source.now > latest) latest = source.now;
      } catch {
        // Apply skips it too.
      }
    }
    return latest;
  }
  return -Infinity;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * A write's `now` read from the end of its bytes, without parsing the statement and parameters in
 * front of it. A write entry is what encodeCommand (replication/command.ts) writes, the JSON text of
 * `[query, params, now, seed, requestId, fresh?, budget?]`, so read backwards it is: up to two
 * numbers, two strings, then `now`. Archiving stamps every entry, and a JSON.parse of each cost
 * as much as encoding and compressing it together. Anything that does not end in exactly that
 * shape (region entries, DR items, anything else) answers undefined, and the caller decodes in full.
 * Bytes are UTF-8: a quote or backslash byte never occurs inside a multi-byte character.
 */
export function writeNow(data: Uint8Array): number | undefined {
  if (data[0] !== 0x5b || data[1] !== QUOTE || data[data.length - 1] !== 0x5d) return undefined;
  let i = data.length - 2;
  // fresh and budget: at most two numbers after the request id.
  for (let extra = 0; data[i] !== QUOTE; extra++) {
    if (extra === 2) return undefined;
    const start = numberStart(data, i);
    if (start === i + 1 || data[start - 1] !== COMMA) return undefined;
    i = start - 2;
  }
  // requestId, then seed: strings.
  for (let field = 0; field < 2; field++) {
    if (data[i] !== QUOTE) return undefined;
    const open = openingQuote(data, i);
    if (open <= 1 || data[open - 1] !== COMMA) return undefined;
    i = open - 2;
  }
  const start = numberStart(data, i);
  if (start === i + 1 || data[start - 1] !== COMMA || i - start > 30) return undefined;
  // A whole number of milliseconds, the usual case, is read digit by digit.
  if (data[start] !== 0x30 || start === i) {
    let value = 0;
    let k = start;
    for (; k <= i; k++) {
      const c = data[k] as number;
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
    }
    if (k > i && Number.isSafeInteger(value)) return value;
  }
  let text = '';
  for (let k = start; k <= i; k++) text += String.fromCharCode(data[k] as number);
  // JSON's numbers only: what JSON.stringify wrote.
  return /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? Number(text) : undefined;
}

/** Where the run of number characters ending at `end` starts (end + 1 when there is none). */
function numberStart(data: Uint8Array, end: number): number {
  let k = end;
  for (;;) {
    const c = data[k];
    if (c === undefined || !((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45)) return k + 1;
    k--;
  }
}

/** The opening quote of the JSON string whose closing quote is at `close`, or -1. */
function openingQuote(data: Uint8Array, close: number): number {
  if (escaped(data, close)) return -1;
  let from = close - 1;
  while (from >= 0) {
    const quote = data.lastIndexOf(QUOTE, from);
    if (quote < 0) return -1;
    // Inside a string every quote is escaped.
    if (!escaped(data, quote)) return quote;
    from = quote - 1;
  }
  return -1;
}

/** Is the character at `at` escaped (an odd run of backslashes before it)? */
function escaped(data: Uint8Array, at: number): boolean {
  let slashes = 0;
  for (let k = at - 1; k >= 0 && data[k] === BACKSLASH; k--) slashes++;
  return slashes % 2 === 1;
}

/** Commit times of consecutive entries, starting from the clock after the entry before the first. */
export function stampEntries(entries: readonly Entry[], clockBefore: number): ArchivedEntry[] {
  let clock = clockBefore;
  return entries.map((e) => {
    const now = entryNow(e);
    if (now > clock) clock = now;
    // A literal, not a spread: a spread of each entry cost as much as decoding it.
    return { index: e.index, term: e.term, type: e.type, data: e.data, time: clock };
  });
}

// ---- segments ----------------------------------------------------------------------------

/** Bytes before each entry's data in a segment: index f64, commit time f64, term u32, type u8, length u32. */
const RECORD_HEAD = 25;

/**
 * A segment's uncompressed bytes (the caller gzips them): one JSON header line, then one binary
 * record per entry, little-endian: index (f64), commit time (f64), term (u32), type (u8), data
 * length (u32), data. The data is the entry's own bytes, copied once: a text form (JSON with the
 * data in base64) cost three times as much to write and compressed worse.
 */
export function encodeSegment(clusterId: string, lineage: string, entries: readonly ArchivedEntry[]): Buffer {
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('a segment needs at least one entry');
  const header: SegmentHeader = { format: SEGMENT_FORMAT, cluster_id: clusterId, lineage, first: first.index, last: last.index, first_time: first.time, last_time: last.time, entries: entries.length };
  const head = Buffer.from(`${JSON.stringify(header)}\n`);
  let size = head.byteLength;
  for (const e of entries) size += RECORD_HEAD + e.data.byteLength;
  const out = Buffer.allocUnsafe(size);
  head.copy(out, 0);
  let at = head.byteLength;
  for (const e of entries) {
    out.writeDoubleLE(e.index, at);
    out.writeDoubleLE(e.time, at + 8);
    out.writeUInt32LE(e.term, at + 16);
    out.writeUInt8(entryTypeCode(e.type), at + 20);
    out.writeUInt32LE(e.data.byteLength, at + 21);
    out.set(e.data, at + RECORD_HEAD);
    at += RECORD_HEAD + e.data.byteLength;
  }
  return out;
}

/** Reads a segment back, checking it against its record: anything off is BACKUP_CORRUPT naming `key`. */
export function parseSegment(bytes: Buffer, key: string, expected?: { first: number; last: number }): { header: SegmentHeader; entries: ArchivedEntry[] } {
  const newline = bytes.indexOf(0x0a);
  let header: SegmentHeader;
  try {
    header = JSON.parse(bytes.toString('utf8', 0, newline < 0 ? bytes.byteLength : newline)) as SegmentHeader;
  } catch {
    throw corrupt(`segment ${key}: unreadable header`, key);
  }
  if (header === null || typeof header !== 'object') throw corrupt(`segment ${key}: unreadable header`, key);
  if (header.format === SEGMENT_FORMAT_TEXT) return parseTextSegment(bytes.toString('utf8'), key, header, expected);
  if (header.format !== SEGMENT_FORMAT) throw corrupt(`segment ${key}: not a ${SEGMENT_FORMAT} segment`, key);
  checkRange(header, key, expected);
  const entries: ArchivedEntry[] = [];
  let at = newline + 1;
  let previousTime = -Infinity;
  while (at < bytes.byteLength) {
    if (at + RECORD_HEAD > bytes.byteLength) throw truncated(key, entries.length, header);
    const index = bytes.readDoubleLE(at);
    const time = bytes.readDoubleLE(at + 8);
    const term = bytes.readUInt32LE(at + 16);
    const type = bytes.readUInt8(at + 20);
    const length = bytes.readUInt32LE(at + 21);
    if (at + RECORD_HEAD + length > bytes.byteLength) throw truncated(key, entries.length, header);
    if (index !== header.first + entries.length || !(time >= previousTime) || entries.length >= header.entries) {
      throw corrupt(`segment ${key}: entry ${entries.length + 1} is out of order or malformed`, key);
    }
    entries.push({ index, term, type: entryTypeOf(type), data: bytes.subarray(at + RECORD_HEAD, at + RECORD_HEAD + length), time });
    previousTime = time;
    at += RECORD_HEAD + length;
  }
  if (entries.length !== header.entries) throw truncated(key, entries.length, header);
  return { header, entries };
}

function checkRange(header: SegmentHeader, key: string, expected: { first: number; last: number } | undefined): void {
  if (expected !== undefined && (header.first !== expected.first || header.last !== expected.last)) {
    throw corrupt(`segment ${key}: holds ${header.first}..${header.last}, the manifest says ${expected.first}..${expected.last}`, key);
  }
  if (!Number.isSafeInteger(header.entries) || header.entries !== header.last - header.first + 1) {
    throw corrupt(`segment ${key}: its header says ${String(header.entries)} entries for ${header.first}..${header.last}`, key);
  }
}

function truncated(key: string, found: number, header: SegmentHeader): GeodeError {
  return corrupt(`segment ${key}: ${found} entries, its header says ${header.entries} (${header.first}..${header.last}); it is truncated or damaged`, key);
}

/**
 * The first segment format, JSON lines `[index, term, type, commit_time_ms, data_base64]` after the
 * header: still read, so an archive written before the binary records restores.
 */
function parseTextSegment(text: string, key: string, header: SegmentHeader, expected: { first: number; last: number } | undefined): { header: SegmentHeader; entries: ArchivedEntry[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  checkRange(header, key, expected);
  if (lines.length - 1 !== header.entries) throw truncated(key, lines.length - 1, header);
  const entries: ArchivedEntry[] = [];
  let expectedIndex = header.first;
  let previousTime = -Infinity;
  for (let i = 1; i < lines.length; i++) {
    let fields: unknown;
    try {
      fields = JSON.parse(lines[i] as string);
    } catch {
      throw corrupt(`segment ${key}: line ${i + 1} is not JSON`, key);
    }
    const [index, term, type, time, data] = Array.isArray(fields) ? (fields as unknown[]) : [];
    if (index !== expectedIndex || typeof term !== 'number' || typeof type !== 'number' || typeof time !== 'number' || typeof data !== 'string' || time < previousTime) {
      throw corrupt(`segment ${key}: entry at line ${i + 1} is out of order or malformed`, key);
    }
    const bytes = Buffer.from(data, 'base64');
    entries.push({ index, term, type: entryTypeOf(type), data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), time });
    previousTime = time;
    expectedIndex++;
  }
  return { header, entries };
}

// ---- the manifest ------------------------------------------------------------------------

export function emptyManifest(clusterId: string, lineage: string, writer: Manifest['writer'], now: Date): Manifest {
  const at = now.toISOString();
  return { format: MANIFEST_FORMAT, cluster_id: clusterId, lineage, created_at: at, updated_at: at, generation: 0, writer, bases: [], volumes: [], ledgers: [], segments: [], breaks: [] };
}

/**
 * The manifest's text, carrying its own checksum: `checksum` is the SHA-256 of the same JSON
 * without that field. The sidecar beside it serves `sha256sum -c`, but the two are separate
 * writes, and a writer that stops between them (a leader killed, a node shut down) leaves a sidecar
 * naming the previous manifest until the next write. The embedded checksum lets a restore, which
 * matters most exactly when the cluster is gone, still trust the manifest then.
 */
export function manifestText(manifest: Manifest): string {
  const { checksum: _old, ...content } = manifest;
  return `${JSON.stringify({ ...content, checksum: sha256Hex(JSON.stringify(content, null, 1)) }, null, 1)}\n`;
}

/** Does the manifest's embedded checksum hold? `absent` for a manifest written without one. */
export function manifestChecksum(parsed: Partial<Manifest>): 'ok' | 'absent' | 'mismatch' {
  const { checksum, ...content } = parsed;
  if (checksum === undefined) return 'absent';
  return typeof checksum === 'string' && checksum === sha256Hex(JSON.stringify(content, null, 1)) ? 'ok' : 'mismatch';
}

export function parseManifest(text: string): Manifest {
  let parsed: Partial<Manifest>;
  try {
    parsed = JSON.parse(text) as Partial<Manifest>;
  } catch {
    throw corrupt(`${MANIFEST_KEY} is not JSON`, MANIFEST_KEY);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw corrupt(`${MANIFEST_KEY} is not a manifest`, MANIFEST_KEY);
  if (manifestChecksum(parsed) === 'mismatch') throw corrupt(`${MANIFEST_KEY} does not match its own checksum: it is corrupt`, MANIFEST_KEY);
  if (parsed.format !== MANIFEST_FORMAT) throw corrupt(`${MANIFEST_KEY}: format ${String(parsed.format)}, expected ${MANIFEST_FORMAT}`, MANIFEST_KEY);
  for (const key of ['bases', 'volumes', 'ledgers', 'segments', 'breaks'] as const) {
    if (!Array.isArray(parsed[key])) throw corrupt(`${MANIFEST_KEY}: ${key} is missing`, MANIFEST_KEY);
  }
  if (typeof parsed.cluster_id !== 'string' || typeof parsed.lineage !== 'string' || typeof parsed.generation !== 'number') throw corrupt(`${MANIFEST_KEY}: cluster_id, lineage or generation is missing`, MANIFEST_KEY);
  return parsed as Manifest;
}

/** The last archived entry (index and commit time), from the newest record; undefined when no segment was archived. */
export function lastArchived(m: Manifest): { index: number; time: number } | undefined {
  const tail = m.segments[m.segments.length - 1] ?? m.ledgers[m.ledgers.length - 1] ?? m.volumes[m.volumes.length - 1];
  return tail === undefined ? undefined : { index: tail.last, time: tail.last_time };
}

/** Where the archived log goes on: the entry after the last segment, or after the newest base when no segment follows it. */
export function archivePosition(m: Manifest): { next: number; clock: number } | undefined {
  const last = lastArchived(m);
  const base = m.bases[m.bases.length - 1];
  const brk = m.breaks[m.breaks.length - 1];
  if (brk !== undefined && (last === undefined || last.index < brk.resume)) return base !== undefined && base.index + 1 >= brk.resume ? { next: base.index + 1, clock: base.time } : undefined;
  if (last !== undefined) return { next: last.index + 1, clock: last.time };
  if (base !== undefined) return { next: base.index + 1, clock: base.time };
  return undefined;
}

/** Appends a segment record; the pages that fill up (at most one per level) are returned for the caller to store first. */
export function addSegment(m: Manifest, record: SegmentRecord): { manifest: Manifest; pages: { ref: PageRef; body: string }[] } {
  const next: Manifest = { ...m, segments: [...m.segments, record] };
  const pages: { ref: PageRef; body: string }[] = [];
  if (next.segments.length >= FANOUT) {
    const page = closePage(1, next.segments);
    pages.push(page);
    next.segments = [];
    next.ledgers = [...next.ledgers, page.ref];
    if (next.ledgers.length >= FANOUT) {
      const volume = closePage(2, next.ledgers);
      pages.push(volume);
      next.ledgers = [];
      next.volumes = [...next.volumes, volume.ref];
    }
  }
  return { manifest: next, pages };
}

/** The body of a page and its reference (with the body's size and checksum). */
function closePage(level: 1 | 2, records: readonly (SegmentRecord | PageRef)[]): { ref: PageRef; body: string } {
  const first = records[0] as SegmentRecord | PageRef;
  const last = records[records.length - 1] as SegmentRecord | PageRef;
  const body = `${JSON.stringify({ format: MANIFEST_FORMAT, level, records })}\n`;
  const segments = records.reduce((n, r) => n + ('segments' in r ? r.segments : 1), 0);
  return { ref: { level, key: pageKey(level, first.first, last.last), first: first.first, last: last.last, first_time: first.first_time, last_time: last.last_time, segments, bytes: Buffer.byteLength(body), sha256: sha256Hex(body) }, body };
}

/** Records of a stored page, checked against its reference. */
export function parsePage(text: string, ref: PageRef): (SegmentRecord | PageRef)[] {
  let parsed: { level?: unknown; records?: unknown };
  try {
    parsed = JSON.parse(text) as { level?: unknown; records?: unknown };
  } catch {
    throw corrupt(`page ${ref.key} is not JSON`, ref.key);
  }
  if (parsed.level !== ref.level || !Array.isArray(parsed.records) || parsed.records.length === 0) throw corrupt(`page ${ref.key} is not a level-${ref.level} page`, ref.key);
  const records = parsed.records as (SegmentRecord | PageRef)[];
  if (records[0]?.first !== ref.first || records[records.length - 1]?.last !== ref.last) throw corrupt(`page ${ref.key} does not cover ${ref.first}..${ref.last}`, ref.key);
  return records;
}

/** Reads pages on demand (the caller checks each against its reference's checksum). */
export type PageReader = (ref: PageRef) => Promise<(SegmentRecord | PageRef)[]>;

/**
 * Every segment record at or after index `from` (and, when `until` is given, up to the first whose
 * entries start after that commit time), in log order, reading only the pages that hold some.
 */
export async function segmentsFrom(m: Manifest, read: PageReader, from = 0, until = Infinity): Promise<SegmentRecord[]> {
  const out: SegmentRecord[] = [];
  const visit = async (records: readonly (SegmentRecord | PageRef)[]): Promise<boolean> => {
    for (const r of records) {
      if (r.last < from) continue;
      if (r.first_time > until) return false;
      if ('level' in r) {
        if (!(await visit(await read(r)))) return false;
      } else out.push(r);
    }
    return true;
  };
  if (await visit(m.volumes)) if (await visit(m.ledgers)) await visit(m.segments);
  return out;
}

/** Problems in a chain of segment records (gaps and overlaps not explained by a break), as text. */
export function chainProblems(m: Manifest, segments: readonly SegmentRecord[]): string[] {
  const problems: string[] = [];
  const resumes = new Map(m.breaks.map((b) => [b.resume, b]));
  for (let i = 1; i < segments.length; i++) {
    const before = segments[i - 1] as SegmentRecord;
    const s = segments[i] as SegmentRecord;
    if (s.first === before.last + 1) continue;
    if (s.first <= before.last) problems.push(`overlap: ${segmentKey(s.first, s.last)} starts at ${s.first}, but ${segmentKey(before.first, before.last)} already holds up to ${before.last}`);
    else if (!resumes.has(s.first)) problems.push(`gap: entries ${before.last + 1}..${s.first - 1} are in no segment (between ${segmentKey(before.first, before.last)} and ${segmentKey(s.first, s.last)})`);
  }
  for (const s of segments) {
    if (s.entries !== s.last - s.first + 1) problems.push(`${segmentKey(s.first, s.last)}: records ${s.entries} entries for ${s.last - s.first + 1} indexes`);
  }
  const first = segments[0];
  const oldest = m.bases[0];
  if (oldest !== undefined && first !== undefined && first.first > oldest.index + 1 && !resumes.has(first.first)) {
    problems.push(`gap: the oldest base ${oldest.key} holds up to ${oldest.index}, but the first segment starts at ${first.first}`);
  }
  return problems;
}

/** The runs of the chain: continuous index ranges, split at breaks. */
function runs(segments: readonly SegmentRecord[]): { first: number; last: number; first_time: number; last_time: number }[] {
  const out: { first: number; last: number; first_time: number; last_time: number }[] = [];
  for (const s of segments) {
    const run = out[out.length - 1];
    if (run !== undefined && s.first === run.last + 1) {
      run.last = s.last;
      run.last_time = s.last_time;
    } else out.push({ first: s.first, last: s.last, first_time: s.first_time, last_time: s.last_time });
  }
  return out;
}

export interface RestorePlan {
  base: BaseRecord;
  /** Segments to replay, in order (their entries after base.index, up to the target). */
  segments: SegmentRecord[];
  /** Replay entries whose commit time is at most this (Infinity: all of them). */
  until: number;
  /** The last index the restored state holds at most. */
  lastIndex: number;
}

/**
 * How to restore the state at `at` (ms; undefined: everything archived): the newest base at or before
 * it whose run of segments reaches it, and the segments after it. An instant the archive cannot reach
 * exactly (before the oldest base, inside a break, at or after the last archived commit) is refused
 * with BAD_REQUEST naming the restorable windows.
 */
export function planRestore(m: Manifest, segments: readonly SegmentRecord[], at: number | undefined): RestorePlan {
  const chainRuns = runs(segments);
  // Each base belongs to the run that continues right after it (or ends at it).
  const usable = m.bases
    .map((base) => ({ base, run: chainRuns.find((r) => r.first - 1 <= base.index && base.index <= r.last) ?? (chainRuns.length === 0 || base.index > (chainRuns[chainRuns.length - 1]?.last ?? -1) ? { first: base.index + 1, last: base.index, first_time: base.time, last_time: base.time } : undefined) }))
    .filter((b): b is { base: BaseRecord; run: { first: number; last: number; first_time: number; last_time: number } } => b.run !== undefined);
  if (usable.length === 0) throw new GeodeError(ErrorCode.BAD_REQUEST, 'the archive holds no base snapshot to restore from', { detail: 'NoRestorePoint' });
  let chosen: { base: BaseRecord; run: { last: number; last_time: number } } | undefined;
  if (at === undefined) {
    // The latest state: the run that reaches furthest, from its newest base.
    const furthest = Math.max(...usable.map((u) => u.run.last));
    chosen = usable.filter((u) => u.run.last === furthest).sort((a, b) => b.base.index - a.base.index)[0];
  } else {
    const candidates = usable.filter((u) => u.base.time <= at && at < u.run.last_time);
    // At exactly a base's own time with nothing after it, that base is the state.
    const exact = usable.filter((u) => u.base.time === at && u.run.last === u.base.index);
    chosen = [...candidates, ...exact].sort((a, b) => b.base.index - a.base.index)[0];
    if (chosen === undefined) {
      const windows = restoreWindows(m, segments).map((w) => `${new Date(w.from).toISOString()} .. ${new Date(w.to).toISOString()} (exclusive)`);
      throw new GeodeError(ErrorCode.BAD_REQUEST, `no exact restore point at ${new Date(at).toISOString()}: the archive can restore instants in ${windows.length === 0 ? 'no window' : windows.join(', ')}; without --timestamp it restores everything archived`, { detail: 'TimestampOutOfRange', extra: { windows } });
    }
  }
  if (chosen === undefined) throw new GeodeError(ErrorCode.BAD_REQUEST, 'the archive holds no restore point', { detail: 'NoRestorePoint' });
  const { base, run } = chosen;
  const until = at ?? Infinity;
  const needed = segments.filter((s) => s.last > base.index && s.first <= run.last && s.first_time <= until);
  return { base, segments: needed, until, lastIndex: run.last };
}

/** Restorable spans [from, to): from each run's oldest usable base to the run's last commit time. */
export function restoreWindows(m: Manifest, segments: readonly SegmentRecord[]): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  for (const run of runs(segments)) {
    const bases = m.bases.filter((b) => run.first - 1 <= b.index && b.index <= run.last);
    if (bases.length === 0) continue;
    out.push({ from: Math.min(...bases.map((b) => b.time)), to: run.last_time });
  }
  return out;
}

export function baseSummary(b: BaseRecord): BaseSummary {
  return { index: b.index, time: new Date(b.time).toISOString(), bytes: b.bytes, key: b.key };
}

/** `geode backup list`: what the archive can restore. */
export function restorePoints(m: Manifest, segments: readonly SegmentRecord[]): RestorePoints {
  const windows = restoreWindows(m, segments);
  const last = segments[segments.length - 1];
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    cluster_id: m.cluster_id,
    lineage: m.lineage,
    earliest: windows.length === 0 ? (m.bases[0] === undefined ? null : iso(m.bases[0].time)) : iso(Math.min(...windows.map((w) => w.from))),
    latest: last === undefined ? (m.bases.length === 0 ? null : iso(Math.max(...m.bases.map((b) => b.time)))) : iso(last.last_time),
    first_index: segments[0]?.first ?? m.bases[0]?.index ?? null,
    last_index: last?.last ?? m.bases[m.bases.length - 1]?.index ?? null,
    bases: m.bases.map(baseSummary),
    segments: segments.length,
    breaks: m.breaks.map((b) => ({ after: b.after, resume: b.resume, from: iso(b.after_time), to: iso(b.resume_time), reason: b.reason })),
    windows: windows.map((w) => ({ from: iso(w.from), to: iso(w.to) })),
  };
}

export interface RetentionPlan {
  manifest: Manifest;
  /** Objects to delete once the new manifest is stored (each with its sidecar). */
  objects: string[];
  /** Pages whose contents must be read to know their objects (and which are deleted too). */
  pages: PageRef[];
}

/**
 * What retention may drop at `now`: everything before the newest base at or before the window start
 * (`now - retention`), since a restore to any instant inside the window starts from that base or a
 * later one. Pages go whole (a page that reaches past the kept base stays, segments and all).
 */
export function planRetention(m: Manifest, now: number, retentionMs: number): RetentionPlan | undefined {
  const windowStart = now - retentionMs;
  const keep = [...m.bases].filter((b) => b.time <= windowStart).sort((a, b) => b.index - a.index)[0];
  if (keep === undefined) return undefined;
  const cut = keep.index;
  const objects: string[] = [];
  const pages: PageRef[] = [];
  const bases = m.bases.filter((b) => {
    if (b.index >= cut) return true;
    objects.push(b.key);
    return false;
  });
  const volumes = m.volumes.filter((p) => {
    if (p.last > cut) return true;
    pages.push(p);
    return false;
  });
  const ledgers = m.ledgers.filter((p) => {
    if (p.last > cut) return true;
    pages.push(p);
    return false;
  });
  const segments = m.segments.filter((s) => {
    if (s.last > cut) return true;
    objects.push(segmentKey(s.first, s.last));
    return false;
  });
  // A break the kept base covers (it resumes right after it, or before) no longer matters.
  const breaks = m.breaks.filter((b) => b.resume > cut + 1);
  if (objects.length === 0 && pages.length === 0 && breaks.length === m.breaks.length) return undefined;
  return { manifest: { ...m, bases, volumes, ledgers, segments, breaks }, objects, pages };
}
