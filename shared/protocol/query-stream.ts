/**
 * The query stream: `GET /v1/stream` on a storage node, a WebSocket that
 * carries many `POST /v1/query` exchanges at once. Gateways send their reads
 * (over read lanes) and their writes (over the node's own stream, see below)
 * on it: a few connections per node, every request tagged with an id, and all
 * requests (or answers) that are ready in the same turn of the event loop
 * packed into one binary frame. Against one HTTP exchange per query this
 * saves each side the HTTP parse and, under load, most of the syscalls.
 *
 * Semantics are exactly those of `POST /v1/query`: the same body schema, the
 * same answer and error JSON, the same HTTP status code carried in the frame.
 * Like that route it needs no credentials.
 *
 * Lanes: `GET /v1/stream?lane=K` asks for read lane K. A node with lanes
 * answers `307` with the `ws://` URL of one of its read workers' own streams
 * (same frames, same semantics; the reads it can answer never touch the
 * thread that drives Raft); a node without lanes serves the stream itself.
 * Without `lane` the node never redirects.
 *
 * Frames (all integers big-endian):
 *   request frame:  ( u32 id | u32 length | length bytes of JSON body )*
 *   answer frame:   ( u32 id | u16 status | u32 length | length bytes of JSON body )*
 * Answers to one frame's requests may arrive in any order and any frames.
 */

export const QUERY_STREAM_PATH = '/v1/stream';

/** Largest frame either side accepts (a batch of bodies each up to the node's body limit). */
export const QUERY_STREAM_MAX_FRAME = 64 * 1024 * 1024;

export interface StreamItem {
  id: number;
  /** HTTP status of an answer; absent in a request. */
  status?: number;
  /** The JSON text. */
  body: string;
}

/** Packs requests (status absent) or answers (status present) into one frame. */
export function encodeFrame(items: readonly StreamItem[], answers: boolean): Buffer {
  const header = answers ? 10 : 8;
  let total = 0;
  const lengths = new Array<number>(items.length);
  for (let i = 0; i < items.length; i++) {
    const n = Buffer.byteLength((items[i] as StreamItem).body, 'utf8');
    lengths[i] = n;
    total += header + n;
  }
  const frame = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as StreamItem;
    const n = lengths[i] as number;
    frame.writeUInt32BE(item.id >>> 0, at);
    if (answers) {
      frame.writeUInt16BE((item.status ?? 500) & 0xffff, at + 4);
      frame.writeUInt32BE(n, at + 6);
    } else {
      frame.writeUInt32BE(n, at + 4);
    }
    at += header;
    frame.write(item.body, at, n, 'utf8');
    at += n;
  }
  return frame;
}

/** Unpacks a frame; throws RangeError on a frame that does not parse (truncated or overlong item). */
export function decodeFrame(frame: Buffer, answers: boolean): StreamItem[] {
  const header = answers ? 10 : 8;
  const items: StreamItem[] = [];
  let at = 0;
  while (at < frame.length) {
    if (frame.length - at < header) throw new RangeError('query stream: truncated item header');
    const id = frame.readUInt32BE(at);
    const status = answers ? frame.readUInt16BE(at + 4) : undefined;
    const n = frame.readUInt32BE(at + (answers ? 6 : 4));
    at += header;
    if (frame.length - at < n) throw new RangeError('query stream: item longer than its frame');
    const body = frame.toString('utf8', at, at + n);
    at += n;
    items.push(status === undefined ? { id, body } : { id, status, body });
  }
  return items;
}
