/**
 * Log entries in the form they cross a thread boundary: the payloads of a
 * whole batch back to back in ONE buffer, and per entry its index, term,
 * type and length in one flat number array.
 *
 * Why: a batch posted as entry objects is structured-cloned with one
 * ArrayBuffer per entry, and every one of those is a separate allocation
 * with its own backing store on the receiving side (and work for V8's
 * array-buffer sweeper later). A batch goes to the log writer and to the
 * apply worker on every node, every few milliseconds under load; packed,
 * it costs one copy and one allocation whatever the batch size. Unpacking
 * makes views into the received buffer, not copies.
 */
import { entryTypeCode, entryTypeOf } from '../raft/messages.js';
import type { Entry } from '../raft/messages.js';

export interface PackedEntries {
  /** [index, term, type (entryTypeCode), byte length] per entry, flattened. */
  meta: number[];
  /** Every entry's data, in order. */
  data: Uint8Array;
}

const FIELDS = 4;

export function packEntries(entries: readonly Entry[]): PackedEntries {
  let total = 0;
  for (const e of entries) total += e.data.byteLength;
  const data = new Uint8Array(total);
  const meta: number[] = new Array<number>(entries.length * FIELDS);
  let offset = 0;
  let m = 0;
  for (const e of entries) {
    data.set(e.data, offset);
    offset += e.data.byteLength;
    meta[m++] = e.index;
    meta[m++] = e.term;
    meta[m++] = entryTypeCode(e.type);
    meta[m++] = e.data.byteLength;
  }
  return { meta, data };
}

/** The entries of a packed batch; their data are views into `packed.data`. */
export function unpackEntries(packed: PackedEntries): Entry[] {
  const { meta, data } = packed;
  if (meta.length % FIELDS !== 0) throw new RangeError('packed entries: metadata is not a whole number of entries');
  const out: Entry[] = new Array<Entry>(meta.length / FIELDS);
  let offset = 0;
  for (let m = 0, i = 0; m < meta.length; m += FIELDS, i++) {
    const length = meta[m + 3] as number;
    if (offset + length > data.byteLength) throw new RangeError('packed entries: payload shorter than its metadata says');
    out[i] = { index: meta[m] as number, term: meta[m + 1] as number, type: entryTypeOf(meta[m + 2] as number), data: data.subarray(offset, offset + length) };
    offset += length;
  }
  if (offset !== data.byteLength) throw new RangeError('packed entries: payload longer than its metadata says');
  return out;
}
