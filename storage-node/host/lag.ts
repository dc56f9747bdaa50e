/**
 * Replication lag, in milliseconds of local time, as a node can honestly
 * know it. Pure: every input (the clock included) is passed in.
 *
 * A replica's lag is how long ago it last had applied everything the leader
 * had committed, where "what the leader had committed" is the leader's own
 * commit index as its latest append or heartbeat carried it (`leaderCommit`,
 * never the capped `commit` a lagging follower is sent). A replica knows its
 * lag only while it hears a leader: one that has heard no leader within an
 * election timeout, or never since it started (a restart, a join, a snapshot
 * install from scratch), has UNKNOWN lag, and serves no bounded read. What the
 * leader committed after its latest message (at most one heartbeat interval
 * while messages flow) is not counted; the election-timeout rule bounds how
 * stale that knowledge can get.
 *
 * Invariants: `leaderCommitSeen` never decreases (commit indexes are global
 * and monotonic across terms); `caughtUpAt` is only ever set to a time at
 * which `applied >= leaderCommitSeen` held.
 */

/** What a replica must know to tell its own lag; also what read lanes read from the shared view. */
export interface SelfLagInputs {
  leader: boolean;
  applied: number;
  /** Highest leaderCommit carried to this node by a leader's append or heartbeat. */
  leaderCommitSeen: number;
  /** Local time this node last had applied everything up to leaderCommitSeen; undefined: never. */
  caughtUpAt: number | undefined;
  /** Local time of the last append, heartbeat or snapshot chunk from a leader; undefined: none since start. */
  leaderContactAt: number | undefined;
}

/** A replica's lag in ms, or undefined when it cannot know it (see the module comment). The leader's is 0. */
export function selfLagMs(inputs: SelfLagInputs, now: number, electionTimeoutMs: number): number | undefined {
  if (inputs.leader) return 0;
  if (inputs.leaderContactAt === undefined || now - inputs.leaderContactAt > electionTimeoutMs) return undefined;
  if (inputs.caughtUpAt === undefined) return undefined;
  if (inputs.applied >= inputs.leaderCommitSeen) return 0;
  return Math.max(0, now - inputs.caughtUpAt);
}

/** The follower side: this node's own lag inputs, fed by the host loop. */
export class SelfLag implements SelfLagInputs {
  leader = false;
  applied = 0;
  leaderCommitSeen = 0;
  caughtUpAt: number | undefined = undefined;
  leaderContactAt: number | undefined = undefined;

  /** A message from the current leader arrived (append, heartbeat or snapshot chunk). */
  leaderMessage(leaderCommit: number | undefined, now: number): void {
    this.leaderContactAt = now;
    if (leaderCommit !== undefined && leaderCommit > this.leaderCommitSeen) this.leaderCommitSeen = leaderCommit;
    this.check(now);
  }

  /** The applied index moved (a batch or a snapshot was applied). */
  appliedTo(applied: number, now: number): void {
    this.applied = applied;
    this.check(now);
  }

  /** This node leads, or stopped leading. A leader is never behind itself. */
  setLeader(leader: boolean, now: number): void {
    if (leader === this.leader) return;
    this.leader = leader;
    // Stepping down: the lag is known again only once a (new) leader is heard.
    if (!leader) this.leaderContactAt = undefined;
    else this.caughtUpAt = now;
  }

  lagMs(now: number, electionTimeoutMs: number): number | undefined {
    return selfLagMs(this, now, electionTimeoutMs);
  }

  private check(now: number): void {
    if (this.applied >= this.leaderCommitSeen) this.caughtUpAt = now;
  }
}

/** What a leader knows of one member: when it last heard from it, and how far it has applied. */
interface PeerState {
  heardAt: number | undefined;
  applied: number | undefined;
  caughtUpAt: number | undefined;
}

/**
 * The leader side: each member's lag as the leader sees it, from the applied
 * index the member reports on every append and heartbeat response. A member
 * the leader has not heard from within an election timeout has unknown lag.
 */
export class PeerLag {
  private readonly peers = new Map<number, PeerState>();

  private peer(id: number): PeerState {
    let state = this.peers.get(id);
    if (state === undefined) {
      state = { heardAt: undefined, applied: undefined, caughtUpAt: undefined };
      this.peers.set(id, state);
    }
    return state;
  }

  /** Any message from `id` arrived; `applied` when it reported its applied index. */
  heard(id: number, applied: number | undefined, commit: number, now: number): void {
    const state = this.peer(id);
    state.heardAt = now;
    if (applied !== undefined && (state.applied === undefined || applied > state.applied)) state.applied = applied;
    if (state.applied !== undefined && state.applied >= commit) state.caughtUpAt = now;
  }

  /** The leader's commit moved: members already past it stay caught up. */
  committed(commit: number, now: number): void {
    for (const state of this.peers.values()) if (state.applied !== undefined && state.applied >= commit) state.caughtUpAt = now;
  }

  /** Local time of the last message from `id`. */
  heardAt(id: number): number | undefined {
    return this.peers.get(id)?.heardAt;
  }

  appliedOf(id: number): number | undefined {
    return this.peers.get(id)?.applied;
  }

  lagMs(id: number, commit: number, now: number, electionTimeoutMs: number): number | undefined {
    const state = this.peers.get(id);
    if (state === undefined || state.heardAt === undefined || now - state.heardAt > electionTimeoutMs) return undefined;
    if (state.applied === undefined || state.caughtUpAt === undefined) return undefined;
    if (state.applied >= commit) return 0;
    return Math.max(0, now - state.caughtUpAt);
  }

  forget(id: number): void {
    this.peers.delete(id);
  }
}
