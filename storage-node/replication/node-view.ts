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
import type { NodeRole } from '../node.js';

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
  /** Date.now() when this node last had applied everything the leader had committed. */
  caughtUpAt: number;
}

const SERVING = 0;
const LEADER = 1;
const ROLE = 2;
const TERM = 3;
const COMMIT = 4;
const APPLIED = 5;
const LEADER_COMMIT_SEEN = 6;
const CAUGHT_UP_AT = 7;
const FIELDS = 8;

/**
 * A replica's lag behind its leader in ms: how long ago it last had applied
 * everything the leader had committed (0 on the leader, and 0 while caught up).
 */
export function replicaLagMs(leader: boolean, applied: number, leaderCommitSeen: number, caughtUpAt: number, now: number): number {
  if (leader || applied >= leaderCommitSeen) return 0;
  return now - caughtUpAt;
}

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
    f[CAUGHT_UP_AT] = view.caughtUpAt;
    Atomics.add(this.seq, 0, 1);
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
      into.caughtUpAt = f[CAUGHT_UP_AT] as number;
      if (Atomics.load(this.seq, 0) === before) return into;
    }
  }
}

/** A view of a node that does not serve yet (what a fresh buffer holds, as an object). */
export function emptyView(): NodeView {
  return { serving: false, leader: false, role: 'standby', term: 0, commit: 0, applied: 0, leaderCommitSeen: 0, caughtUpAt: 0 };
}
