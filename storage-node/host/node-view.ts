/**
 * What a read lane (read-lane.ts) must know of the node to answer a read on
 * its own, without a round trip to the main thread: whether the node serves,
 * its role, term, commit and applied indexes, and the inputs of its
 * replication lag. The main thread publishes it into a SharedArrayBuffer
 * whenever any of it may have changed; read workers read it per query.
 *
 * A sequence lock keeps a reader from seeing half of one update and half of
 * the next: the writer makes the sequence odd, writes, and makes it even
 * again; a reader retries while the sequence is odd or changed under it.
 * There is one writer (the main thread), so writers never race.
 */
import type { NodeRole } from '../../shared/protocol/cluster.js';
import { selfLagMs } from '../host/lag.js';

/** The roles a view can hold, by their code in the buffer. */
const ROLES: readonly NodeRole[] = ['primary', 'standby', 'learner', 'candidate'];

export interface NodeView {
  /** Started and not stopping: reads may be answered. */
  serving: boolean;
  leader: boolean;
  role: NodeRole;
  term: number;
  commit: number;
  applied: number;
  /** The highest commit index a leader's append or heartbeat has carried to this node. */
  leaderCommitSeen: number;
  /** Date.now() when this node last had applied everything the leader had committed; undefined: never. */
  caughtUpAt: number | undefined;
  /** Date.now() of the last message from a leader; undefined: none since start. */
  leaderContactAt: number | undefined;
  /** Past this long without a leader's message, this node's lag is unknown (host/lag.ts). */
  electionTimeoutMs: number;
}

const SERVING = 0;
const LEADER = 1;
const ROLE = 2;
const TERM = 3;
const COMMIT = 4;
const APPLIED = 5;
const LEADER_COMMIT_SEEN = 6;
const CAUGHT_UP_AT = 7;
const LEADER_CONTACT_AT = 8;
const ELECTION_TIMEOUT_MS = 9;
const FIELDS = 10;

/** A view's replication lag in ms, by the same rule as the main thread's (host/lag.ts); undefined: unknown. */
export function viewLagMs(view: NodeView, now: number): number | undefined {
  return selfLagMs(view, now, view.electionTimeoutMs);
}

/** Times that may be unknown travel as NaN. */
const timeIn = (t: number | undefined): number => (t === undefined ? Number.NaN : t);
const timeOut = (t: number | undefined): number | undefined => (t === undefined || Number.isNaN(t) ? undefined : t);

export class SharedNodeView {
  readonly buffer: SharedArrayBuffer;
  private readonly seq: Int32Array;
  private readonly fields: Float64Array;

  /** A new view (main thread), or one over a buffer the main thread shared (worker). */
  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(8 + 8 * FIELDS);
    this.seq = new Int32Array(this.buffer, 0, 1);
    this.fields = new Float64Array(this.buffer, 8, FIELDS);
  }

  publish(view: NodeView): void {
    const f = this.fields;
    Atomics.add(this.seq, 0, 1);
    f[SERVING] = view.serving ? 1 : 0;
    f[LEADER] = view.leader ? 1 : 0;
    f[ROLE] = ROLES.indexOf(view.role);
    f[TERM] = view.term;
    f[COMMIT] = view.commit;
    f[APPLIED] = view.applied;
    f[LEADER_COMMIT_SEEN] = view.leaderCommitSeen;
    f[CAUGHT_UP_AT] = timeIn(view.caughtUpAt);
    f[LEADER_CONTACT_AT] = timeIn(view.leaderContactAt);
    f[ELECTION_TIMEOUT_MS] = view.electionTimeoutMs;
    Atomics.add(this.seq, 0, 1);
    // Wakes lanes waiting for an index to be applied (changed()).
    Atomics.notify(this.seq, 0);
  }

  /** The update count: changed(sequence, ...) resolves once a later update is published. */
  sequence(): number {
    return Atomics.load(this.seq, 0);
  }

  /** Resolves when an update after `sequence` is published, or after `timeoutMs`. Never blocks the caller's thread. */
  async changed(sequence: number, timeoutMs: number): Promise<void> {
    const waited = Atomics.waitAsync(this.seq, 0, sequence, Math.max(0, timeoutMs));
    if (!waited.async) return;
    // A timer of our own as well: V8's wait is no event-loop handle, so alone it neither keeps a thread
    // alive nor is sure to wake one that is idle in the loop.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([waited.value, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))))]);
    clearTimeout(timer);
  }

  /** Fills `into` with one consistent update and returns it. */
  read(into: NodeView): NodeView {
    const f = this.fields;
    for (;;) {
      const before = Atomics.load(this.seq, 0);
      if ((before & 1) === 1) continue;
      into.serving = f[SERVING] === 1;
      into.leader = f[LEADER] === 1;
      into.role = ROLES[f[ROLE] as number] ?? 'standby';
      into.term = f[TERM] as number;
      into.commit = f[COMMIT] as number;
      into.applied = f[APPLIED] as number;
      into.leaderCommitSeen = f[LEADER_COMMIT_SEEN] as number;
      into.caughtUpAt = timeOut(f[CAUGHT_UP_AT]);
      into.leaderContactAt = timeOut(f[LEADER_CONTACT_AT]);
      into.electionTimeoutMs = f[ELECTION_TIMEOUT_MS] as number;
      if (Atomics.load(this.seq, 0) === before) return into;
    }
  }
}

/** A view of a node that does not serve yet (what a fresh buffer holds, as an object). */
export function emptyView(): NodeView {
  return { serving: false, leader: false, role: 'standby', term: 0, commit: 0, applied: 0, leaderCommitSeen: 0, caughtUpAt: undefined, leaderContactAt: undefined, electionTimeoutMs: 0 };
}
