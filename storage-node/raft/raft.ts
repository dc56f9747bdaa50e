/**
 * The Raft state machine. step(m) dispatches on role to stepLeader,
 * stepCandidate or stepFollower; outputs accumulate in `msgs` and
 * `readStates` and are drained by RawNode. No IO, no clock, no ambient
 * randomness: time is tick(), randomness is the injected PRNG.
 */
import type { ConfChange } from './confchange.js';
import { applyConfChange, checkConfChange, decodeConfChange, encodeConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import type { ConfState, Entry, Message, NodeId, ReadState, Role, Snapshot, SnapshotMeta } from './messages.js';
import { message, NO_NODE } from './messages.js';
import type { Random } from './prng.js';
import type { Progress } from './progress.js';
import { hasQuorum } from './quorum.js';
import type { Storage } from './storage.js';
import { ProgressTracker } from './tracker.js';

export interface RaftConfig {
  /** This member's id (> 0). */
  id: NodeId;
  storage: Storage;
  /** Followers start an election after a randomized timeout in [electionTick, 2*electionTick) ticks. */
  electionTick: number;
  /** The leader sends heartbeats every heartbeatTick ticks (< electionTick). */
  heartbeatTick: number;
  /** Seeded randomness for election timeouts. */
  random: Random;
  /** Initial membership; used only to bootstrap empty storage. A joining member passes none and learns it from the leader. */
  voters?: readonly NodeId[];
  learners?: readonly NodeId[];
  /** The host's last applied index on restart (entries up to it are not handed out again). */
  applied?: number;
  /** Bytes of entries per append message (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Entries per append message. Default 1024. */
  maxEntriesPerMsg?: number;
  /** Unacknowledged appends per follower in replicate state. Default 256. */
  maxInflight?: number;
  /**
   * Coalesce small appends (default true). While an append to a follower is
   * unacknowledged, entries proposed meanwhile wait for its answer and then go
   * out as one append, unless they fill a whole message (maxEntriesPerMsg or
   * maxSizePerMsg): a busy leader sends a few large appends instead of one per
   * batch of proposals, which saves a message, a frame decode and a reply per
   * batch on every follower. Full appends, as when a follower catches up,
   * still pipeline up to maxInflight. The price is at most one round trip of
   * added latency for an entry proposed while an append is in flight; the
   * follower's own disk write, which it would have waited behind anyway, hides
   * most of it. A new commit index rides on the next append; with no entries
   * waiting it goes out at once as an empty append, as without coalescing. A
   * heartbeat answer sends whatever waits, so a lost append costs at most one
   * heartbeat interval.
   */
  coalesceAppends?: boolean;
  /** Bytes of committed entries per Ready. Default unlimited. */
  maxCommittedSizePerReady?: number;
  /** Bytes per InstallSnapshot chunk. Default 1 MiB. */
  maxSnapshotChunkBytes?: number;
  /** Ask for votes without raising the term first, so a rejoining partitioned member does not disrupt. */
  preVote?: boolean;
  /** The leader steps down when it has not heard from a quorum within an election timeout; followers honour a lease. */
  checkQuorum?: boolean;
}

export type RejectReason = 'notLeader' | 'transferring' | 'confChangePending' | 'invalidConfChange' | 'removed';

/** A request the core would not take, as a value; the host maps it to a GeodeError (NOT_LEADER, ...). */
export interface Rejected {
  readonly accepted: false;
  readonly reason: RejectReason;
  /** The leader this member knows of, NO_NODE if none. */
  readonly leaderHint: NodeId;
  readonly detail?: string;
}

export type ProposeResult = { readonly accepted: true; readonly index: number; readonly term: number } | Rejected;
export type RequestResult = { readonly accepted: true } | Rejected;

interface PendingRead {
  readonly index: number;
  readonly from: NodeId;
  readonly ctx: string;
  readonly acks: Set<NodeId>;
}

interface IncomingSnapshot {
  readonly meta: SnapshotMeta;
  readonly parts: Uint8Array[];
  received: number;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NO_NODE;
  lead: NodeId = NO_NODE;
  role: Role = 'follower';
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** The leader appended entries not yet broadcast: sent together at the next Ready (batching). */
  needsBroadcast = false;
  leadTransferee: NodeId = NO_NODE;
  /** Index of the latest conf change in the log; a new one waits until this is committed. */
  pendingConfIndex = 0;

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private randomizedElectionTimeout = 0;
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  private readonly random: Random;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxEntriesPerMsg: number;
  private readonly coalesceAppends: boolean;
  private readonly maxSnapshotChunkBytes: number;
  /** Configurations by log index, ascending; the last one is in force. */
  private confLog: Array<{ index: number; conf: ConfState }> = [];
  private readQueue: PendingRead[] = [];
  /** Reads asked before this leader committed an entry of its term; answered once it has. */
  private readsAwaitingCommit: Array<{ from: NodeId; ctx: string }> = [];
  private incoming: IncomingSnapshot | undefined;

  constructor(config: RaftConfig) {
    if (config.id <= 0) throw new Error('raft: id must be > 0');
    if (config.heartbeatTick <= 0 || config.electionTick <= config.heartbeatTick) {
      throw new Error('raft: need 0 < heartbeatTick < electionTick');
    }
    this.id = config.id;
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.random = config.random;
    this.preVote = config.preVote ?? false;
    this.checkQuorum = config.checkQuorum ?? false;
    this.maxSizePerMsg = config.maxSizePerMsg ?? 1024 * 1024;
    this.maxEntriesPerMsg = config.maxEntriesPerMsg ?? 1024;
    this.coalesceAppends = config.coalesceAppends ?? true;
    this.maxSnapshotChunkBytes = config.maxSnapshotChunkBytes ?? 1024 * 1024;
    this.log = new RaftLog(config.storage);
    this.tracker = new ProgressTracker(config.maxInflight ?? 256);

    const storage = config.storage;
    const { hardState, confState } = storage.initialState();
    // The storage's conf state is as of its snapshot; later conf changes are replayed from the log.
    const base = storage.snapshot().meta.index;
    const replayFrom = Math.max(base + 1, this.log.firstIndex());
    this.confLog = [{ index: base, conf: confState }];
    this.tracker.setConf(confState, this.log.lastIndex() + 1);
    this.onAppended(replayFrom, this.log.slice(replayFrom, this.log.lastIndex() + 1, Infinity) ?? []);

    const fresh = storage.lastIndex() === 0 && storage.snapshot().meta.index === 0 && hardState.term === 0;
    const initialVoters = config.voters ?? [];
    if (fresh && initialVoters.length > 0) {
      this.bootstrap(initialVoters, config.learners ?? []);
    } else {
      this.term = hardState.term;
      this.vote = hardState.vote;
      if (hardState.commit > 0) this.commitTo(hardState.commit);
    }
    if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, NO_NODE);
  }

  /** Writes the initial membership as committed conf-change entries of term 1, identically on every initial member. */
  private bootstrap(voters: readonly NodeId[], learners: readonly NodeId[]): void {
    const changes: ConfChange[] = [
      ...[...voters].sort((a, b) => a - b).map((nodeId): ConfChange => ({ type: 'addVoter', nodeId })),
      ...[...learners].sort((a, b) => a - b).map((nodeId): ConfChange => ({ type: 'addLearner', nodeId })),
    ];
    const ents: Entry[] = changes.map((c, i) => ({ term: 1, index: i + 1, type: 'confChange', data: encodeConfChange(c) }));
    this.log.append(ents);
    this.onAppended(1, ents);
    this.term = 1;
    this.commitTo(ents.length);
  }

  // ---- configuration ----

  confState(): ConfState {
    return (this.confLog[this.confLog.length - 1] as { conf: ConfState }).conf;
  }

  /** Keeps the configuration history in step with the log after entries from `fromIndex` were (re)written. */
  private onAppended(fromIndex: number, ents: readonly Entry[]): void {
    const before = this.confState();
    while (this.confLog.length > 1 && (this.confLog[this.confLog.length - 1] as { index: number }).index >= fromIndex) {
      this.confLog.pop();
    }
    for (const e of ents) {
      if (e.type !== 'confChange' || e.index < fromIndex) continue;
      this.confLog.push({ index: e.index, conf: applyConfChange(this.confState(), decodeConfChange(e.data)) });
      this.pendingConfIndex = Math.max(this.pendingConfIndex, e.index);
    }
    if (this.confState() !== before) this.switchConf();
  }

  private switchConf(): void {
    this.tracker.setConf(this.confState(), this.log.lastIndex() + 1);
    if (this.role !== 'leader') return;
    if (this.leadTransferee !== NO_NODE && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = NO_NODE;
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) self.maybeUpdate(this.log.stableLastIndex());
    this.needsBroadcast = true;
    if (this.maybeCommit()) this.bcastAppend();
  }

  private commitTo(index: number): void {
    this.log.commitTo(index);
    // Entries at or below commit can no longer be truncated: forget superseded configurations.
    while (this.confLog.length > 1 && (this.confLog[1] as { index: number }).index <= this.log.committed) this.confLog.shift();
  }

  promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  // ---- role changes ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.random.int(this.electionTimeout);
    this.leadTransferee = NO_NODE;
    this.tracker.resetVotes();
    this.readQueue = [];
    this.readsAwaitingCommit = [];
    this.needsBroadcast = false;
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      pr.becomeProbe();
      pr.match = 0;
      pr.next = last + 1;
      pr.recentActive = false;
      if (id === this.id) {
        pr.match = this.log.stableLastIndex();
        pr.recentActive = true;
      }
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    // Keeps term and vote: a pre-election changes nothing durable.
    this.tracker.resetVotes();
    this.lead = NO_NODE;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // An empty entry of the new term: commits everything before it, and gates reads and conf changes.
    this.appendEntries([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]);
    this.pendingConfIndex = this.log.lastIndex();
  }

  // ---- inputs ----

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, NO_NODE);
          return;
        }
        for (const [id, pr] of this.tracker.progress) pr.recentActive = id === this.id;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = NO_NODE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      // As etcd does: the newest pending read rides every heartbeat, so a lost round costs one interval, not the read's timeout.
      this.bcastHeartbeat(this.readQueue[this.readQueue.length - 1]?.ctx ?? '');
    }
  }

  /**
   * The host saw the leader's process go away (its connection closed and a
   * reconnect was refused). Instead of waiting out the election timeout, this
   * member forgets the leader, dropping its lease, and campaigns within one
   * or two ticks (jittered, so two members who both noticed rarely split the
   * vote). Pre-vote keeps this safe: a member that still hears the leader
   * refuses, so a false alarm costs no term change.
   */
  reportLeaderDown(id: NodeId): void {
    if (this.role === 'leader' || this.lead !== id || id === NO_NODE) return;
    this.lead = NO_NODE;
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - 1 - this.random.int(2));
  }

  /** Starts an election now (as if the election timeout fired). */
  campaign(): void {
    this.hup(false);
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.log.unstable.snapshot !== undefined) return;
    if (this.preVote && !transfer) this.runElection('preVote', false);
    else this.runElection('vote', transfer);
  }

  private runElection(kind: 'preVote' | 'vote', transfer: boolean): void {
    let term: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    const result = this.tracker.tallyVotes();
    if (result === 'won') {
      if (kind === 'preVote') this.runElection('vote', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      this.send(
        message({ type: kind, from: this.id, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), transfer }),
      );
    }
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntry('normal', data);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    if (this.role === 'leader' && this.pendingConfIndex > this.log.committed) {
      return this.rejected('confChangePending');
    }
    const invalid = checkConfChange(this.confState(), change);
    if (invalid !== undefined) return this.rejected('invalidConfChange', invalid);
    return this.proposeEntry('confChange', encodeConfChange(change));
  }

  private proposeEntry(type: Entry['type'], data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return this.rejected('notLeader');
    if (this.leadTransferee !== NO_NODE) return this.rejected('transferring');
    if (!this.tracker.progress.has(this.id)) return this.rejected('removed');
    this.appendEntries([{ term: 0, index: 0, type, data }]);
    return { accepted: true, index: this.log.lastIndex(), term: this.term };
  }

  private rejected(reason: RejectReason, detail?: string): Rejected {
    return detail === undefined
      ? { accepted: false, reason, leaderHint: this.lead }
      : { accepted: false, reason, leaderHint: this.lead, detail };
  }

  /** Asks for a linearizable read point; the answer arrives as a ReadState carrying `ctx`. */
  readIndex(ctx: string): RequestResult {
    if (this.role === 'leader') {
      this.handleReadRequest(this.id, ctx);
      return { accepted: true };
    }
    if (this.lead === NO_NODE) return this.rejected('notLeader');
    this.send(message({ type: 'readIndex', from: this.id, to: this.lead, context: ctx }));
    return { accepted: true };
  }

  transferLeadership(to: NodeId): RequestResult {
    if (this.role !== 'leader') return this.rejected('notLeader');
    if (!this.tracker.isVoter(to)) return this.rejected('invalidConfChange', 'transferee is not a voter');
    if (to === this.id) return { accepted: true };
    if (this.leadTransferee === to) return { accepted: true };
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.tracker.progress.get(to);
    if (pr !== undefined && pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true, true);
    return { accepted: true };
  }

  step(m: Message): void {
    if (m.term === 0) {
      // Unversioned requests (a forwarded readIndex) skip the term checks.
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const inLease = this.checkQuorum && this.lead !== NO_NODE && this.electionElapsed < this.electionTimeout;
        // A member that heard from its leader within the election timeout ignores disruptions.
        if (!m.transfer && inLease) return;
      }
      if (m.type === 'preVote') {
        // Never change term on a pre-vote request.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term is raised when the pre-election is won.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // Tell a stale leader about the newer term so it steps down.
        this.send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term }));
      } else if (m.type === 'preVote') {
        this.send(message({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      const canVote =
        this.vote === m.from ||
        (this.vote === NO_NODE && this.lead === NO_NODE) ||
        (m.type === 'preVote' && m.term > this.term);
      const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
      if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
        this.send(message({ type: respType, from: this.id, to: m.from, term: m.term }));
        if (m.type === 'vote') {
          this.electionElapsed = 0;
          this.vote = m.from;
        }
      } else {
        this.send(message({ type: respType, from: this.id, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  // ---- leader ----

  private stepLeader(m: Message): void {
    if (m.type === 'readIndex') {
      this.handleReadRequest(m.from, m.context);
      return;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.state === 'snapshot') this.retrySnapshot(m.from, pr);
        // Even an empty append: if earlier appends were lost, its rejection sends the follower back to probing.
        else if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true, true);
        if (m.context !== '') this.ackRead(m.from, m.context);
        return;
      case 'snapResp':
        pr.recentActive = true;
        if (pr.state === 'snapshot' && pr.transfer !== undefined && pr.transfer.snapshot.meta.index === m.index) {
          const transfer = pr.transfer;
          const received = m.rejectHint;
          if (received > transfer.acked) {
            transfer.acked = received;
            transfer.sent = Math.max(transfer.sent, received);
            transfer.idleHeartbeats = 0;
          } else if (received < transfer.acked) {
            // The follower lost its partial copy (restart): start over from what it has.
            transfer.acked = received;
            transfer.sent = received;
            transfer.doneSent = false;
          } else {
            return;
          }
          this.sendSnapshotChunks(m.from, pr);
        }
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, false);
      }
      return;
    }
    const wasProbeAtMatch = pr.state === 'probe' && pr.match === m.index;
    if (!pr.maybeUpdate(m.index) && !wasProbeAtMatch) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) {
      this.bcastAppend();
    }
    if (this.role !== 'leader') return;
    while (this.sendAppend(m.from, false)) {
      // Fill the in-flight window.
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  /** Advances commit to what a majority of voters stored, counting only entries of the current term. */
  maybeCommit(): boolean {
    const index = this.tracker.committed();
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false;
    this.commitTo(index);
    const awaiting = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const r of awaiting) this.handleReadRequest(r.from, r.ctx);
    // A leader no longer in the configuration leaves once its removal is committed.
    if (!this.tracker.isVoter(this.id) && this.pendingConfIndex <= this.log.committed) {
      this.becomeFollower(this.term, NO_NODE);
    }
    return true;
  }

  /** Called once the host has persisted entries up to `stableIndex`: the leader's own copy counts toward commit. */
  onPersisted(): void {
    if (this.role !== 'leader') return;
    const self = this.tracker.progress.get(this.id);
    if (self === undefined) return;
    if (self.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) this.bcastAppend();
  }

  private appendEntries(proto: readonly Entry[]): void {
    let index = this.log.lastIndex();
    const ents = proto.map((e): Entry => ({ term: this.term, index: ++index, type: e.type, data: e.data }));
    const from = (ents[0] as Entry).index;
    this.log.append(ents);
    this.onAppended(from, ents);
    this.needsBroadcast = true;
  }

  /** Sends everything proposed since the last call in one append per follower. */
  flush(): void {
    if (!this.needsBroadcast) return;
    this.needsBroadcast = false;
    if (this.role === 'leader') this.bcastAppend();
  }

  private bcastAppend(): void {
    if (this.role !== 'leader') return;
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(ctx: string): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.send(message({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, context: ctx, leaderCommit: this.log.committed }));
    }
  }

  /**
   * Sends the next append (or starts a snapshot) to `to`; false when nothing was sent.
   * `force` skips the coalescing of small appends (see RaftConfig.coalesceAppends).
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean, force = false): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const hi = Math.min(this.log.lastIndex() + 1, pr.next + this.maxEntriesPerMsg);
    const ents = prevTerm === undefined ? undefined : this.log.slice(pr.next, hi, this.maxSizePerMsg);
    if (
      ents !== undefined &&
      ents.length > 0 &&
      !force &&
      this.coalesceAppends &&
      pr.state === 'replicate' &&
      pr.inflights.count() > 0 &&
      ents.length < this.maxEntriesPerMsg &&
      pr.next + ents.length === hi
    ) {
      // A small append while another is unacknowledged: it waits for that answer (or fills up).
      return false;
    }
    if (prevTerm === undefined || ents === undefined) {
      if (!pr.recentActive) return false;
      const snap = this.log.snapshot();
      if (snap.meta.index === 0) return false;
      pr.becomeSnapshot(snap);
      this.sendSnapshotChunks(to, pr);
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      message({ type: 'app', from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed, leaderCommit: this.log.committed }),
    );
    pr.sentEntries(ents.length > 0 ? (ents[ents.length - 1] as Entry).index : undefined);
    return true;
  }

  /** Sends snapshot chunks after the last one sent, keeping at most maxInflight unacknowledged. */
  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const transfer = pr.transfer;
    if (transfer === undefined) return;
    const { data, meta } = transfer.snapshot;
    const total = data.byteLength;
    const window = pr.inflights.capacity * this.maxSnapshotChunkBytes;
    while (!transfer.doneSent && (transfer.sent === transfer.acked || transfer.sent - transfer.acked < window)) {
      const offset = transfer.sent;
      const end = Math.min(total, offset + this.maxSnapshotChunkBytes);
      const chunk = { offset, data: data.subarray(offset, end), done: end >= total };
      this.send(message({ type: 'snap', from: this.id, to, term: this.term, snapshot: meta, chunk }));
      transfer.sent = end;
      transfer.doneSent = chunk.done;
    }
  }

  /** Heartbeat answered but the transfer made no progress for a while: chunks were lost, resend from the acked point. */
  private retrySnapshot(to: NodeId, pr: Progress): void {
    const transfer = pr.transfer;
    if (transfer === undefined) return;
    if (++transfer.idleHeartbeats < 2) return;
    transfer.idleHeartbeats = 0;
    transfer.sent = transfer.acked;
    transfer.doneSent = false;
    this.sendSnapshotChunks(to, pr);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(message({ type: 'timeoutNow', from: this.id, to, term: this.term }));
  }

  private handleReadRequest(from: NodeId, ctx: string): void {
    if (this.log.term(this.log.committed) !== this.term) {
      // Until an entry of this term commits, our commit index may trail the real one.
      this.readsAwaitingCommit.push({ from, ctx });
      return;
    }
    const read: PendingRead = { index: this.log.committed, from, ctx, acks: new Set([this.id]) };
    if (hasQuorum(this.tracker.voters, read.acks)) {
      this.answerRead(read);
      return;
    }
    if (this.readQueue.some((r) => r.ctx === ctx)) return;
    this.readQueue.push(read);
    this.bcastHeartbeat(ctx);
  }

  private ackRead(from: NodeId, ctx: string): void {
    const at = this.readQueue.findIndex((r) => r.ctx === ctx);
    const read = this.readQueue[at];
    if (read === undefined) return;
    read.acks.add(from);
    if (!hasQuorum(this.tracker.voters, read.acks)) return;
    // Leadership confirmed after every earlier request was queued: they are all answered.
    for (const r of this.readQueue.splice(0, at + 1)) this.answerRead(r);
  }

  private answerRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ index: read.index, ctx: read.ctx });
    else this.send(message({ type: 'readIndexResp', from: this.id, to: read.from, term: this.term, index: read.index, context: read.ctx }));
  }

  // ---- candidate ----

  private stepCandidate(m: Message): void {
    const respType = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      default:
        break;
    }
    if (m.type !== respType) return;
    this.tracker.recordVote(m.from, !m.reject);
    const result = this.tracker.tallyVotes();
    if (result === 'won') {
      if (this.role === 'preCandidate') this.runElection('vote', false);
      else {
        this.becomeLeader();
        this.flush();
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NO_NODE);
    }
  }

  // ---- follower ----

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        this.hup(true);
        return;
      case 'readIndex':
        // Forward a read that reached us to the leader we know.
        if (this.lead !== NO_NODE) this.send({ ...m, to: this.lead, term: 0 });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, ctx: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: this.log.committed }));
      return;
    }
    const result = this.log.maybeAppend(m.index, m.logTerm, m.entries);
    if (result !== undefined) {
      if (result.appendedFrom > 0) {
        const from = result.appendedFrom;
        this.onAppended(from, m.entries.filter((e) => e.index >= from));
      }
      this.commitTo(Math.min(m.commit, result.lastNew));
      this.send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: result.lastNew }));
      return;
    }
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      message({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const meta = m.snapshot;
    const chunk = m.chunk;
    if (meta === undefined || chunk === undefined) return;
    const ack = (received: number): void =>
      this.send(message({ type: 'snapResp', from: this.id, to: m.from, term: this.term, index: meta.index, rejectHint: received }));
    if (chunk.offset === 0) {
      this.incoming = { meta, parts: [], received: 0 };
    }
    const inc = this.incoming;
    if (inc === undefined || inc.meta.index !== meta.index || inc.meta.term !== meta.term) {
      ack(0);
      return;
    }
    if (chunk.offset !== inc.received) {
      ack(inc.received);
      return;
    }
    inc.parts.push(chunk.data.slice());
    inc.received += chunk.data.byteLength;
    if (!chunk.done) {
      ack(inc.received);
      return;
    }
    this.incoming = undefined;
    const data = new Uint8Array(inc.received);
    let at = 0;
    for (const part of inc.parts) {
      data.set(part, at);
      at += part.byteLength;
    }
    ack(inc.received);
    const index = this.restore({ meta, data }) ? this.log.lastIndex() : this.log.committed;
    this.send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term, index }));
  }

  /** Installs a snapshot from the leader unless our log already holds it; true when installed. */
  private restore(snap: Snapshot): boolean {
    const { index, term } = snap.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      this.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.confLog = [{ index, conf: snap.meta.confState }];
    this.switchConf();
    return true;
  }

  private send(m: Message): void {
    // Responses to (pre)votes carry their own term; local-forwarded messages get ours.
    if (m.term === 0 && m.type !== 'readIndex') m.term = this.term;
    this.msgs.push(m);
  }
}
