/**
 * Request ids minted by Geode (the node for a write that came without one,
 * the gateway, the client library): UUID version 7 (RFC 9562), a 48-bit
 * Unix millisecond timestamp followed by 74 random bits.
 *
 * Why not version 4: every replica records each write's request id in a
 * B-tree keyed by the id (the exactly-once table). Random keys land on a
 * random leaf page each, so a batch of writes dirties a page per write and
 * the index's working set is the whole index; ids that grow with time append
 * at the right edge, one or two pages per batch. Ids stay unique and hard to
 * guess: 74 random bits per millisecond. Clients may still send any id they
 * like (any string); only its locality changes.
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
/** Random bytes drawn in bulk: one getrandom call per POOL_IDS ids. */
const pool = Buffer.allocUnsafe(10 * POOL_IDS);
let next = POOL_IDS;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function newRequestId(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const r = next++ * 10;
  const ms = now.toString(16).padStart(12, '0');
  // Version 7 in the high nibble of byte 6; the variant (0b10) in the top bits of byte 8.
  return (
    ms.slice(-12, -4) +
    '-' +
    ms.slice(-4) +
    '-' +
    HEX[0x70 | ((pool[r] as number) & 0x0f)] +
    HEX[pool[r + 1] as number] +
    '-' +
    HEX[0x80 | ((pool[r + 2] as number) & 0x3f)] +
    HEX[pool[r + 3] as number] +
    '-' +
    HEX[pool[r + 4] as number] +
    HEX[pool[r + 5] as number] +
    HEX[pool[r + 6] as number] +
    HEX[pool[r + 7] as number] +
    HEX[pool[r + 8] as number] +
    HEX[pool[r + 9] as number]
  );
}
