/**
 * The source end of a disaster-recovery stream: one WebSocket from a
 * follower region's leader, served by any node of the region that holds the
 * asked-for entries (the primary region, or a former primary serving up to
 * the end of its epoch).
 *
 * The follower says where it is (`?epoch=&index=`); region-state.ts's
 * `planStream` says how to serve it: this node's committed log from there,
 * its graph image first when the log was compacted past that point or the
 * follower diverged, or a redirect to the region that can. Frames (JSON
 * text, image pieces binary):
 *
 * - `entries {epoch, prev, items: [[index, data|null]], commit, now}`: every
 *   source entry after `prev`, in order; `data` is the write's command text,
 *   null for an entry that changes no graph (no-op, membership, region
 *   entries, `SET CLUSTER`), which still moves the follower's position.
 * - `tick {commit, now}` every 250 ms while there is nothing to send: the
 *   source's newest position, from which the follower measures its lag.
 * - `image {epoch, index, bytes, sha256, history, diverged}`, binary pieces,
 *   `image-end`: the graph at (epoch, index).
 * - `end {epoch, at}`: this node's part of the lineage ends here (its epoch
 *   ended by a promotion); `redirect {primary, epoch, history}`: go there.
 *
 * Only what this node has applied is sent (applied entries are committed).
 * Backpressure: reading stops while the socket holds more than 8 MiB.
 */
import { createHash } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Entry, Snapshot } from '../../raft/index.js';
import { isWriteCommandText } from '../../replication/command.js';
import { isClusterSetting } from '../../replication/state-machine.js';
import { planStream } from '../../replication/region-state.js';
import type { Position, RegionState } from '../../replication/region-state.js';

export interface DrSourcePort {
  readonly name: string;
  readonly region: string;
  /** This node's region state as last applied. */
  state(): RegionState;
  applied(): number;
  firstIndex(): number;
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  snapshot(): Snapshot;
  /** Takes a fresh snapshot at the applied index (when the stored one predates this region's epoch). */
  snapshotNow(): Promise<unknown>;
  /** Resolves at the next applied batch, or after `ms`. */
  nextApplied(ms: number): Promise<void>;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export const IMAGE_PIECE_BYTES = 512 * 1024;
const TICK_MS = 250;
const MAX_BUFFERED = 8 * 1024 * 1024;
const BATCH_ENTRIES = 256;
const BATCH_BYTES = 1024 * 1024;
const decoder = new TextDecoder();

/** What a follower region applies of an entry: the write's command text, or null. */
export function streamData(entry: Entry): string | null {
  if (entry.type !== 'normal' || entry.data.byteLength === 0) return null;
  const text = decoder.decode(entry.data);
  if (!isWriteCommandText(text)) return null;
  // Cheap test first: only texts that mention CLUSTER are parsed.
  if (/CLUSTER/i.test(text)) {
    try {
      const query = (JSON.parse(text) as unknown[])[0];
      if (typeof query === 'string' && isClusterSetting(query)) return null;
    } catch {
      return null;
    }
  }
  return text;
}

export async function serveDrStream(ws: WebSocket, from: Position, port: DrSourcePort): Promise<void> {
  let open = true;
  ws.on('close', () => {
    open = false;
  });
  ws.on('error', () => {
    open = false;
  });
  const send = (frame: object): void => {
    if (open) ws.send(JSON.stringify(frame));
  };
  const drained = async (): Promise<void> => {
    while (open && ws.bufferedAmount > MAX_BUFFERED) await new Promise((r) => setTimeout(r, 10));
  };
  const commit = (): Position => {
    const state = port.state();
    return state.state === 'primary' ? { epoch: state.epoch, index: port.applied() } : state.position;
  };
  let position = from;
  try {
    while (open) {
      const state = port.state();
      const plan = planStream(state, port.region, position);
      // The follower learns the epochs (and their fork points) before entries that cross one.
      send({ t: 'history', history: state.history });
      if (plan.kind === 'redirect') {
        send({ t: 'redirect', primary: plan.primary, epoch: plan.epoch, history: state.history });
        ws.close(1000, 'redirect');
        return;
      }
      if (plan.kind === 'image') {
        const at = await sendImage(ws, port, plan.diverged, () => open, drained);
        if (at === undefined) return;
        position = at;
        continue;
      }
      // Entries of this node's own log after `after`, up to `until` when its epoch ended there.
      let next = plan.after + 1;
      const until = plan.until;
      let lastSent = Date.now();
      let switched = false;
      while (open && !switched) {
        if (next < port.firstIndex()) {
          switched = true;
          const at = await sendImage(ws, port, null, () => open, drained);
          if (at === undefined) return;
          position = at;
          break;
        }
        const hi = Math.min(port.applied(), until ?? Number.POSITIVE_INFINITY);
        if (next <= hi) {
          const entries = port.entries(next, Math.min(hi + 1, next + BATCH_ENTRIES), BATCH_BYTES);
          const items = entries.map((e) => [e.index, streamData(e)] as [number, string | null]);
          send({ t: 'entries', epoch: plan.epoch, prev: next - 1, items, commit: commit(), now: Date.now() });
          next = entries[entries.length - 1]!.index + 1;
          lastSent = Date.now();
          await drained();
          continue;
        }
        if (until !== null && next > until) {
          send({ t: 'end', epoch: plan.epoch, at: until });
          position = { epoch: plan.epoch, index: until };
          switched = true;
          break;
        }
        if (port.state().epoch !== state.epoch) {
          // A promotion happened here meanwhile: plan again from where the follower now is.
          position = { epoch: plan.epoch, index: next - 1 };
          switched = true;
          break;
        }
        if (Date.now() - lastSent >= TICK_MS) {
          send({ t: 'tick', commit: commit(), now: Date.now() });
          lastSent = Date.now();
        }
        await port.nextApplied(TICK_MS);
      }
    }
  } catch (error) {
    port.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'dr stream: source failed; the follower resumes');
    if (open) ws.close(1011, 'source error');
  }
}

/** Sends this node's graph image; answers the position it holds, or undefined when the socket closed. */
async function sendImage(ws: WebSocket, port: DrSourcePort, diverged: Position | null, isOpen: () => boolean, drained: () => Promise<void>): Promise<Position | undefined> {
  const state = port.state();
  const start = state.history.find((r) => r.epoch === state.epoch)?.start ?? 0;
  let snapshot = port.snapshot();
  // An image from before this region's epoch began has no position in it: take one now.
  if (snapshot.meta.index < Math.max(1, start) || snapshot.data.byteLength === 0) {
    await port.snapshotNow();
    snapshot = port.snapshot();
  }
  const data = snapshot.data;
  const position: Position = state.state === 'primary' ? { epoch: state.epoch, index: snapshot.meta.index } : state.position;
  const sha256 = createHash('sha256').update(data).digest('hex');
  port.logger.info({ epoch: position.epoch, index: position.index, bytes: data.byteLength }, 'dr stream: sending the graph image');
  if (!isOpen()) return undefined;
  ws.send(JSON.stringify({ t: 'image', epoch: position.epoch, index: position.index, bytes: data.byteLength, sha256, history: state.history, diverged, piece: IMAGE_PIECE_BYTES }));
  for (let offset = 0; offset < data.byteLength; offset += IMAGE_PIECE_BYTES) {
    if (!isOpen()) return undefined;
    ws.send(data.subarray(offset, Math.min(data.byteLength, offset + IMAGE_PIECE_BYTES)));
    await drained();
  }
  if (!isOpen()) return undefined;
  ws.send(JSON.stringify({ t: 'image-end' }));
  return position;
}
