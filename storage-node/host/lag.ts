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
 * "Heard" means when the leader SENT what it said, not when it arrived: a
 * replica resumed after a pause (SIGSTOP, a long GC, a stalled VM) or a link
 * that heals after a partition delivers a backlog of old heartbeats, and
 * taking their arrival as fresh contact once let a resumed replica answer a
 * bounded read from long before the bound. So each message's age is
 * estimated from the leader's clock stamp (`leaderTime`): per sender, the
 * smallest (arrival - stamp) seen over the last few seconds is the clock
 * offset plus the quickest delivery, and a message that took longer than
 * that is dated back by the difference. The first message of a sender
 * only sets its baseline, and messages that arrive while this node's own
 * loop was stalled (its ticks stopped) count as no contact at all: neither
 * can be dated.
 *
 * Invariants: `leaderCommitSeen` never decreases (commit indexes are global
 * and monotonic across terms); `caughtUpAt` and `leaderContactAt` are never
 * later than the local time the information they stand for was sent;
 * `caughtUpAt` is only set to a time at which `applied >= leaderCommitSeen`
 * held for what was known then.
 */

/** What a replica must know to tell its own lag; also what read lanes read from the shared view. */
export interface SelfLagInputs {
  leader: boolean;
  applied: number;
  /** Highest leaderCommit carried to this node by a leader's append or heartbeat. */
  leaderCommitSeen: number;
  /** Local time (as of when it was sent) of the newest leader information this node had fully applied; undefined: never. */
  caughtUpAt: number | undefined;
  /** Local time at which the leader sent the newest message this node could date; undefined: none since start. */
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

/** How long a sender's delivery baseline is remembered: clocks drift and routes change, so old minima expire. */
const BASELINE_WINDOW_MS = 5_000;

/**
 * The smallest (arrival - sender's stamp) of one sender over the last one to two windows: two
 * buckets, the current and the previous, so the minimum follows drift without keeping every sample.
 */
class DeliveryBaseline {
  private current = Infinity;
  private previous = Infinity;
  private bucketStart: number;

  constructor(now: number) {
    this.bucketStart = now;
  }

  /** Takes a sample; answers the baseline before it (Infinity when there was none). */
  observe(sample: number, now: number): number {
    if (now - this.bucketStart >= BASELINE_WINDOW_MS) {
      // Two windows of silence forget everything: the baseline must be learned again.
      this.previous = now - this.bucketStart >= 2 * BASELINE_WINDOW_MS ? Infinity : this.current;
      this.current = Infinity;
      this.bucketStart = now;
    }
    const before = Math.min(this.current, this.previous);
    if (sample < this.current) this.current = sample;
    return before;
  }
}

/** The follower side: this node's own lag inputs, fed by the host loop. */
export class SelfLag implements SelfLagInputs {
  leader = false;
  applied = 0;
  leaderCommitSeen = 0;
  caughtUpAt: number | undefined = undefined;
  leaderContactAt: number | undefined = undefined;
  private readonly baselines = new Map<number, DeliveryBaseline>();

  /**
   * A message from the current leader arrived (append, heartbeat or snapshot chunk). `sentAt` is the
   * sender's clock stamp (undefined from a sender that stamps none: its arrival is taken as fresh);
   * `stalled`: this node's loop has just been stalled, so the message may be a backlog.
   */
  leaderMessage(from: number, leaderCommit: number | undefined, sentAt: number | undefined, now: number, stalled: boolean): void {
    if (leaderCommit !== undefined && leaderCommit > this.leaderCommitSeen) this.leaderCommitSeen = leaderCommit;
    const sentLocal = this.dateMessage(from, sentAt, now);
    if (sentLocal === undefined || stalled) return;
    if (this.leaderContactAt === undefined || sentLocal > this.leaderContactAt) this.leaderContactAt = sentLocal;
    this.check();
  }

  /** The local time a message was sent, estimated (see the module comment); undefined: cannot be dated. */
  private dateMessage(from: number, sentAt: number | undefined, now: number): number | undefined {
    if (sentAt === undefined) return now;
    let baseline = this.baselines.get(from);
    if (baseline === undefined) {
      baseline = new DeliveryBaseline(now);
      this.baselines.set(from, baseline);
    }
    const sample = now - sentAt;
    const before = baseline.observe(sample, now);
    if (before === Infinity) return undefined;
    // Slower than the quickest delivery seen: it waited somewhere (a queue, a paused process) that long.
    return sentAt + Math.min(before, sample);
  }

  /** The applied index moved (a batch or a snapshot was applied). */
  appliedTo(applied: number): void {
    this.applied = applied;
    this.check();
  }

  /** This node leads, or stopped leading. A leader is never behind itself. */
  setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    // Stepping down: the lag is known again only once a (new) leader is heard.
    if (!leader) this.leaderContactAt = undefined;
  }

  lagMs(now: number, electionTimeoutMs: number): number | undefined {
    return selfLagMs(this, now, electionTimeoutMs);
  }

  private check(): void {
    // Caught up with everything the leader had committed as of its newest dated message.
    if (this.applied >= this.leaderCommitSeen && this.leaderContactAt !== undefined) this.caughtUpAt = this.leaderContactAt;
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
