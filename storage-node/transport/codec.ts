/**
 * Binary frames for Raft messages between peers.
 *
 * Layout: u32 header length, the header as UTF-8 JSON (every scalar field of
 * the message, and per entry its index, term, type and byte length), then the
 * raw bytes of every entry's data and of the snapshot chunk, back to back.
 * Payloads are never base64'd or copied into the JSON, so a 1 MiB append
 * costs one memcpy on each side.
 */
import { entryTypeCode, entryTypeOf } from '../raft/messages.js';
import type { Entry, Message, MessageType, SnapshotMeta } from '../raft/messages.js';

interface FrameHeader {
  t: MessageType;
  f: number;
  to: number;
  term: number;
  lt: number;
  i: number;
  c: number;
  r: boolean;
  rh: number;
  ctx: string;
  tr: boolean;
  /** Entries: [index, term, type (0 normal, 1 confChange), byte length]. */
  e: [number, number, number, number][];
  s?: SnapshotMeta;
  /** Snapshot chunk: offset, done, byte length. */
  ch?: [number, boolean, number];
  lts?: number;
  /** leaderCommit, applied: absent when unset. */
  lc?: number;
  ap?: number;
}

export function encodeMessage(m: Message): Buffer {
  const header: FrameHeader = {
    t: m.type,
    f: m.from,
    to: m.to,
    term: m.term,
    lt: m.logTerm,
    i: m.index,
    c: m.commit,
    r: m.reject,
    rh: m.rejectHint,
    ctx: m.context,
    tr: m.transfer,
    e: m.entries.map((e) => [e.index, e.term, entryTypeCode(e.type), e.data.byteLength]),
  };
  if (m.snapshot !== undefined) header.s = m.snapshot;
  if (m.chunk !== undefined) header.ch = [m.chunk.offset, m.chunk.done, m.chunk.data.byteLength];
  if (m.leaderTime !== undefined) header.lts = m.leaderTime;
  if (m.leaderCommit !== undefined) header.lc = m.leaderCommit;
  if (m.applied !== undefined) header.ap = m.applied;
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const parts: Uint8Array[] = [Buffer.alloc(4), json];
  (parts[0] as Buffer).writeUInt32BE(json.byteLength, 0);
  for (const e of m.entries) parts.push(e.data);
  if (m.chunk !== undefined) parts.push(m.chunk.data);
  return Buffer.concat(parts);
}

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

export function decodeMessage(frame: Buffer): Message {
  if (frame.byteLength < 4) throw new FrameError('frame shorter than its length prefix');
  const headerLength = frame.readUInt32BE(0);
  if (4 + headerLength > frame.byteLength) throw new FrameError('header length past the end of the frame');
  let header: FrameHeader;
  try {
    header = JSON.parse(frame.subarray(4, 4 + headerLength).toString('utf8')) as FrameHeader;
  } catch {
    throw new FrameError('frame header is not JSON');
  }
  if (typeof header.t !== 'string' || !Array.isArray(header.e)) throw new FrameError('frame header misses fields');
  // The payloads are copied out in one piece, so a retained entry never pins the socket's buffer, and a
  // batch of entries is one allocation; each entry's data is a view into that copy.
  const payload = new Uint8Array(frame.subarray(4 + headerLength));
  let offset = 0;
  const take = (length: number): Uint8Array => {
    if (!(length >= 0) || offset + length > payload.byteLength) throw new FrameError('payload past the end of the frame');
    const bytes = payload.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };
  const entries: Entry[] = header.e.map(([index, term, type, length]) => ({
    index,
    term,
    type: entryTypeOf(type),
    data: take(length),
  }));
  const m: Message = {
    type: header.t,
    from: header.f,
    to: header.to,
    term: header.term,
    logTerm: header.lt,
    index: header.i,
    entries,
    commit: header.c,
    reject: header.r,
    rejectHint: header.rh,
    context: header.ctx,
    transfer: header.tr,
  };
  if (header.s !== undefined) m.snapshot = header.s;
  if (header.ch !== undefined) m.chunk = { offset: header.ch[0], done: header.ch[1], data: take(header.ch[2]) };
  if (header.lts !== undefined) m.leaderTime = header.lts;
  if (typeof header.lc === 'number') m.leaderCommit = header.lc;
  if (typeof header.ap === 'number') m.applied = header.ap;
  return m;
}
