/**
 * The synchronous API the host drives: feed it ticks, messages and requests;
 * take a Ready, persist its state and entries, send its messages, apply its
 * committed entries, then call advance(). Call advance() before the next ready().
 */
import type { ConfChange } from './confchange.js';
import type { ConfState, HardState, Message, NodeId, Ready, Role, SoftState } from './messages.js';
import type { ProposeResult, RaftConfig, RequestResult } from './raft.js';
import { Raft } from './raft.js';

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly leader: NodeId;
  readonly role: Role;
  readonly confState: ConfState;
  /** The leader's view of each member (empty on followers). */
  readonly progress: ReadonlyMap<NodeId, { readonly match: number; readonly next: number; readonly state: string }>;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RawNode {
  /** The state machine itself, exposed read-mostly for tests and checkers. */
  readonly raft: Raft;
  private readonly maxCommittedSize: number;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding = false;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.maxCommittedSize = config.maxCommittedSizePerReady ?? Infinity;
    this.prevSoft = this.softState();
    const initial = config.storage.initialState().hardState;
    this.prevHard = initial;
  }

  tick(): void {
    this.raft.tick();
  }

  campaign(): void {
    this.raft.campaign();
  }

  /** See Raft.reportLeaderDown: the host's failure detector saw `id`'s process go away. */
  reportLeaderDown(id: NodeId): void {
    this.raft.reportLeaderDown(id);
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose(data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(change);
  }

  readIndex(ctx: string): RequestResult {
    return this.raft.readIndex(ctx);
  }

  transferLeadership(to: NodeId): RequestResult {
    return this.raft.transferLeadership(to);
  }

  softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  status(): Status {
    const progress = new Map<NodeId, { match: number; next: number; state: string }>();
    if (this.raft.role === 'leader') {
      for (const [id, pr] of this.raft.tracker.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
    }
    return {
      id: this.raft.id,
      term: this.raft.term,
      vote: this.raft.vote,
      commit: this.raft.log.committed,
      applied: this.raft.log.applied,
      lastIndex: this.raft.log.lastIndex(),
      leader: this.raft.lead,
      role: this.raft.role,
      confState: this.raft.confState(),
      progress,
    };
  }

  hasReady(): boolean {
    const r = this.raft;
    r.flush();
    const soft = this.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) return true;
    if (!sameHardState(this.hardState(), this.prevHard)) return true;
    const u = r.log.unstable;
    if (u.snapshot !== undefined || u.entries.length > 0) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return r.log.hasNextCommittedEntries();
  }

  ready(): Ready {
    if (this.outstanding) throw new Error('raft: ready() called before advance() of the previous Ready');
    const r = this.raft;
    r.flush();
    const soft = this.softState();
    const hard = this.hardState();
    const u = r.log.unstable;
    const rd: {
      -readonly [K in keyof Ready]: Ready[K];
    } = {
      entries: u.entries.slice(),
      messages: r.msgs,
      committedEntries: r.log.nextCommittedEntries(this.maxCommittedSize),
      readStates: r.readStates,
    };
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) rd.softState = soft;
    if (!sameHardState(hard, this.prevHard)) rd.hardState = hard;
    if (u.snapshot !== undefined) rd.snapshot = u.snapshot;
    this.prevSoft = soft;
    this.prevHard = hard;
    r.msgs = [];
    r.readStates = [];
    this.outstanding = true;
    return rd;
  }

  /**
   * Removes and returns the queued outgoing messages of the given types
   * without producing a Ready. A leader may send appends and heartbeats before
   * its own log write is durable (Raft thesis 10.2.1), so a host whose disk
   * write of the previous Ready is still in flight sends those at once
   * instead of holding heartbeats behind the disk.
   */
  takeMessages(types: ReadonlySet<Message['type']>): Message[] {
    const r = this.raft;
    r.flush();
    if (r.msgs.length === 0) return [];
    const out: Message[] = [];
    const keep: Message[] = [];
    for (const m of r.msgs) (types.has(m.type) ? out : keep).push(m);
    r.msgs = keep;
    return out;
  }

  /** The host has persisted and applied `rd`. */
  advance(rd: Ready): void {
    const r = this.raft;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) r.log.stableTo(last.index, last.term);
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      r.log.appliedTo(rd.snapshot.meta.index);
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) r.log.appliedTo(lastApplied.index);
    this.outstanding = false;
    r.onPersisted();
  }
}
