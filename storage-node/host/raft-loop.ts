/**
 * The host loop around the pure Raft core, shared by the storage node and
 * the seeded simulation (test/sim), so the simulation checks the ordering
 * production runs. Everything outside the core comes in through ports
 * (log, transport, state machine, clock, scheduler), all callback-based, so
 * the simulation drives them deterministically in virtual time.
 *
 * Ordering (the rules every port relies on):
 * - A Ready's leader messages (appends, heartbeats, snapshot chunks,
 *   TimeoutNow) go out at once: a leader counts its own copy toward commit
 *   only once persisted, so followers' fsyncs overlap its own (Raft thesis
 *   10.2.1). Every other message (votes, append and heartbeat responses)
 *   vouches for this node's durable state and goes out only after the
 *   Ready's hard state, entries and snapshot are durable.
 * - While one log write is in flight, leader messages still go out; the rest
 *   waits in the core and forms the next batch (group commit).
 * - Committed entries go to the state machine in log order, one call in
 *   flight (what commits meanwhile joins the next call). A snapshot received
 *   from the leader is installed after it is durable, as a call of its own
 *   after the one in flight and before any entry after it; so the port may
 *   take its time (write the image off the loop's thread) before it starts.
 * - A write is acknowledged by the replication mode's rule (modes.ts) over
 *   the leader's durable index, followers' match indexes and the leader's
 *   own apply; an entry overwritten by another leader fails as such.
 * - Snapshots record the membership applied at their index (membership.ts),
 *   never the newest one in the log.
 */
import { RawNode, Prng } from '../raft/index.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, RaftConfig, Ready, Snapshot, Status, Storage } from '../raft/index.js';
import { isAcknowledged } from '../replication/modes.js';
import type { ReplicationSettings } from '../replication/modes.js';
import { AppliedMembership } from './membership.js';
import { PeerLag, SelfLag } from './lag.js';

/** One Ready's durable part. */
export interface PersistBatch {
  hardState?: HardState | undefined;
  entries: readonly Entry[];
  snapshot?: Snapshot | undefined;
}

/** The durable Raft log (storage-node/log, or the simulation's disk). Its Storage view holds only what is durable. */
export interface LoopLog extends Storage {
  /** Starts making `batch` durable; true when it is durable on return, else `done` is called once it is. One write at a time. */
  persist(batch: PersistBatch, done: (error?: unknown) => void): boolean;
  /** Records a snapshot at `meta.index` (its image `data`, or the file at `imagePath`) and compacts the log behind it, keeping `keepEntries`. */
  compact(meta: Snapshot['meta'], data: Uint8Array, keepEntries: number, imagePath: string | undefined, done: (error?: unknown) => void): void;
}

/** A LoopLog over a read-only Storage (the durable part) and the two writes. */
export function loopLog(storage: Storage, writes: Pick<LoopLog, 'persist' | 'compact'>): LoopLog {
  return {
    initialState: () => storage.initialState(),
    entries: (lo, hi, maxBytes) => storage.entries(lo, hi, maxBytes),
    term: (index) => storage.term(index),
    firstIndex: () => storage.firstIndex(),
    lastIndex: () => storage.lastIndex(),
    snapshot: () => storage.snapshot(),
    ...writes,
  };
}

/** What every apply outcome carries, so the loop can match it to the write that proposed it. */
export interface ApplyAck {
  index: number;
  term: number;
  requestId: string | null;
}

export interface AppliedBatchBase<O extends ApplyAck> {
  /** The applied index after the batch. */
  applied: number;
  /** One per applied entry when asked for (a leader with writes waiting), else possibly empty. */
  outcomes: readonly O[];
}

/** The replicated state machine, behind a FIFO of calls: each call's effects follow those of the calls before it. */
export interface LoopStateMachine<O extends ApplyAck, B extends AppliedBatchBase<O>> {
  apply(entries: readonly Entry[], wantOutcomes: boolean, done: (error: unknown, batch?: B) => void): void;
  restore(snapshot: Snapshot, done: (error: unknown, applied?: number) => void): void;
  /** A consistent image at some applied index (the index the image holds). */
  snapshot(done: (error: unknown, image?: { index: number; data: Uint8Array; path?: string }) => void): void;
}

export interface LoopPorts<O extends ApplyAck, B extends AppliedBatchBase<O>> {
  log: LoopLog;
  send(messages: readonly Message[]): void;
  stateMachine: LoopStateMachine<O, B>;
  /** Local wall clock in ms (leader time stamps, lag). */
  now(): number;
  /** Runs `fn` soon, after what is already queued (setImmediate in production). */
  defer(fn: () => void): void;
}

export interface LoopHooks<O extends ApplyAck, B extends AppliedBatchBase<O>> {
  /** Role, leader, term or membership changed. */
  onStatus?(previous: Status, status: Status): void;
  /** A batch of committed entries was applied. */
  onApplied?(batch: B): void;
  /** A snapshot from the leader was installed (the applied index jumped). */
  onRestored?(applied: number): void;
  /** A configuration change entry was appended (addresses of new members must be known before replicating to them). */
  onConfChangeAppended?(entry: Entry): void;
  /** The end of a drain or an apply: indexes, role or lag inputs may have moved. */
  onProgress?(): void;
  /** A snapshot was taken and the log compacted behind it. */
  onSnapshot?(index: number, bytes: number): void;
  onSnapshotFailed?(error: unknown): void;
  /** The node cannot go on safely (log or state machine failed). */
  onFatal(what: string, error: unknown): void;
}

/**
 * Deliberately broken orderings, each re-creating a bug the simulation must
 * catch (its negative controls). Never set outside test/sim.
 */
export interface LoopFaults {
  /** Send every message of a Ready before it is durable (votes and append responses included). */
  sendBeforePersist?: boolean;
  /** Acknowledge a write as soon as the leader accepts it, before it commits. */
  ackBeforeCommit?: boolean;
  /** Stamp snapshots with the newest membership in the log instead of the one applied at their index. */
  snapshotLatestMembership?: boolean;
}

export interface LoopOptions {
  id: NodeId;
  raft: Omit<RaftConfig, 'id' | 'storage' | 'random' | 'applied'>;
  /** Seed of the core's PRNG (election jitter). */
  seed: number;
  /** The state machine's applied index at start. */
  applied: number;
  /** Applied entries between snapshots; default 100,000 (etcd's --snapshot-count). */
  snapshotEntries?: number;
  /** Entries kept behind a snapshot, so slightly lagging followers catch up without one. */
  keepEntries?: number;
  /** Entries per state-machine call at most: a node catching up applies in bounded transactions. */
  maxApplyBatch?: number;
  electionTimeoutMs: number;
  /** How often the host calls tick(), in ms. */
  tickMs: number;
  settings: () => ReplicationSettings;
  faults?: LoopFaults;
}

export type WriteDone<O> = { ok: true; index: number; term: number; outcome: O | undefined } | { ok: false; reason: 'overwritten' | 'stopped'; index: number };
export type ReadIndexDone = { ok: true; index: number } | { ok: false; reason: 'notLeader' | 'stopped' };

interface PendingWrite<O> {
  index: number;
  term: number;
  /** A membership change is done once applied here, whatever the replication mode. */
  kind: 'write' | 'membership';
  requestId: string | null;
  returnsRows: boolean;
  outcome: O | undefined;
  applied: boolean;
  done: (result: WriteDone<O>) => void;
}

/** Messages only a leader sends; none of them vouches for the sender's own durable state. */
export const LEADER_MESSAGES: ReadonlySet<Message['type']> = new Set(['app', 'heartbeat', 'snap', 'timeoutNow']);

export const DEFAULT_SNAPSHOT_ENTRIES = 100_000;

/** Ticks missed in a row that mean the loop was stalled (a paused process, a long GC): what arrives next may be old. */
const STALLED_TICKS = 3;

export class RaftLoop<O extends ApplyAck, B extends AppliedBatchBase<O>> {
  readonly raw: RawNode;
  readonly selfLag = new SelfLag();
  readonly peers = new PeerLag();
  private statusNow: Status;
  private appliedIndex: number;
  private readonly membership: AppliedMembership;
  private persisting = false;
  private drainScheduled = false;
  private applyQueue: Entry[] = [];
  /** A snapshot from the leader to install once the state-machine call in flight returns. */
  private pendingRestore: Snapshot | undefined;
  /** The highest index handed to the state machine (applied or queued): it will hold at least this much, in order. */
  private dispatchedIndex: number;
  private applying = false;
  private snapshotting = false;
  private stopped = false;
  /** Local time of the last tick: a long gap means this loop was stalled (lag.ts dates nothing then). */
  private lastTickAt: number | undefined;
  private readonly pending = new Map<number, PendingWrite<O>>();
  private readonly readWaiters = new Map<string, (result: ReadIndexDone) => void>();
  private readonly faults: LoopFaults;

  constructor(
    private readonly options: LoopOptions,
    private readonly ports: LoopPorts<O, B>,
    private readonly hooks: LoopHooks<O, B>,
  ) {
    this.faults = options.faults ?? {};
    const log = ports.log;
    this.appliedIndex = options.applied;
    this.dispatchedIndex = options.applied;
    this.raw = new RawNode({
      ...options.raft,
      id: options.id,
      storage: log,
      random: new Prng(options.seed),
      // The commit index on disk may trail what was applied (commit-only changes need no fsync); entries
      // between them are handed out again once the leader repeats the commit, and the state machine skips them.
      applied: Math.min(options.applied, log.lastIndex(), log.initialState().hardState.commit),
    });
    const snap = log.snapshot().meta;
    this.membership = new AppliedMembership(snap.confState, snap.index);
    // Changes between the stored snapshot and the applied index were applied before this start.
    const upTo = Math.min(options.applied, log.lastIndex());
    if (upTo > snap.index) this.membership.committed(log.entries(Math.max(snap.index + 1, log.firstIndex()), upTo + 1, Infinity));
    this.statusNow = this.raw.status();
    this.selfLag.appliedTo(this.appliedIndex);
  }

  // ---- inputs ----------------------------------------------------------------

  tick(): void {
    if (this.stopped) return;
    this.lastTickAt = this.ports.now();
    this.raw.tick();
    this.scheduleDrain();
  }

  receive(m: Message): void {
    if (this.stopped) return;
    const now = this.ports.now();
    this.peers.heard(m.from, m.applied, this.statusNow.commit, now);
    if ((m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') && m.term >= this.statusNow.term) {
      // Ticks stopped for a while: this loop was stalled, and what arrives now may have waited all that time.
      const stalled = this.lastTickAt !== undefined && now - this.lastTickAt > STALLED_TICKS * this.options.tickMs;
      this.selfLag.leaderMessage(m.from, m.leaderCommit, m.leaderTime, now, stalled);
    }
    this.raw.step(m);
    this.scheduleDrain();
  }

  /** The transport saw `id`'s process go away: campaign at once if it led. */
  peerDown(id: NodeId): void {
    if (this.stopped) return;
    this.raw.reportLeaderDown(id);
    this.scheduleDrain();
  }

  /**
   * Proposes a write; `done` is called once the replication mode acknowledges it (or it fails).
   * Rejections (not the leader, transferring, removed) are returned at once.
   */
  propose(data: Uint8Array, write: { requestId: string | null; returnsRows: boolean }, done: (result: WriteDone<O>) => void): ReturnType<RawNode['propose']> {
    const proposed = this.raw.propose(data);
    if (!proposed.accepted) return proposed;
    if (this.faults.ackBeforeCommit === true) {
      done({ ok: true, index: proposed.index, term: proposed.term, outcome: undefined });
    } else {
      this.pending.set(proposed.index, { index: proposed.index, term: proposed.term, kind: 'write', requestId: write.requestId, returnsRows: write.returnsRows, outcome: undefined, applied: false, done });
    }
    this.scheduleDrain();
    return proposed;
  }

  /** Proposes a membership change; `done` once it is applied here. */
  proposeConfChange(change: ConfChange, done: (result: WriteDone<O>) => void): ReturnType<RawNode['proposeConfChange']> {
    const proposed = this.raw.proposeConfChange(change);
    if (!proposed.accepted) return proposed;
    this.pending.set(proposed.index, { index: proposed.index, term: proposed.term, kind: 'membership', requestId: null, returnsRows: true, outcome: undefined, applied: false, done });
    this.scheduleDrain();
    return proposed;
  }

  /** Gives up waiting for a write (its timeout); the write itself may still commit. */
  abandonWrite(index: number): void {
    this.pending.delete(index);
  }

  /** Asks for a linearizable read point; `done` with the index to wait for once leadership is confirmed. */
  readIndex(ctx: string, done: (result: ReadIndexDone) => void): boolean {
    const accepted = this.raw.readIndex(ctx);
    if (!accepted.accepted) return false;
    this.readWaiters.set(ctx, done);
    this.scheduleDrain();
    return true;
  }

  abandonRead(ctx: string): void {
    this.readWaiters.delete(ctx);
  }

  transferLeadership(to: NodeId): ReturnType<RawNode['transferLeadership']> {
    const result = this.raw.transferLeadership(to);
    this.scheduleDrain();
    return result;
  }

  // ---- state -------------------------------------------------------------------

  get status(): Status {
    return this.statusNow;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  get isLeader(): boolean {
    return this.statusNow.role === 'leader';
  }

  /** This node's lag behind the leader in ms; undefined when it cannot know (lag.ts). */
  selfLagMs(): number | undefined {
    return this.selfLag.lagMs(this.ports.now(), this.options.electionTimeoutMs);
  }

  /** A member's lag as this node, leading, sees it; undefined when unknown or not leading. */
  peerLagMs(id: NodeId): number | undefined {
    if (id === this.options.id) return this.selfLagMs();
    if (!this.isLeader) return undefined;
    return this.peers.lagMs(id, this.statusNow.commit, this.ports.now(), this.options.electionTimeoutMs);
  }

  /** The configuration in force at an applied index. */
  membershipAt(index: number): ConfState {
    return this.membership.at(index);
  }

  get snapshotInProgress(): boolean {
    return this.snapshotting;
  }

  // ---- the loop ------------------------------------------------------------------

  scheduleDrain(): void {
    if (this.drainScheduled || this.stopped) return;
    this.drainScheduled = true;
    // Deferred, not immediate: proposals and messages that arrive meanwhile join the same batch (group commit).
    this.ports.defer(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.stopped) return;
    if (this.persisting) {
      // The previous Ready's write is in flight: appends and heartbeats still go out at once.
      const early = this.raw.takeMessages(LEADER_MESSAGES);
      if (early.length > 0) this.sendMessages(early);
      return;
    }
    while (this.raw.hasReady()) {
      const rd = this.raw.ready();
      const durable = this.beforePersist(rd);
      if (!durable) break;
      this.afterPersist(rd);
      this.raw.advance(rd);
    }
    this.refreshStatus();
    this.checkAcks();
    this.hooks.onProgress?.();
  }

  /** What need not wait for the disk, then the write itself; true when the Ready is durable on return. */
  private beforePersist(rd: Ready): boolean {
    const early = this.faults.sendBeforePersist === true ? rd.messages : rd.messages.filter((m) => LEADER_MESSAGES.has(m.type));
    if (early.length > 0) this.sendMessages(early);
    // Raft uses the latest configuration in the log, committed or not: learn a new member's address on append.
    for (const e of rd.entries) if (e.type === 'confChange') this.hooks.onConfChangeAppended?.(e);
    // Committed entries are durable on a majority already (the state machine skips what it applied before
    // a crash). With a snapshot to install, entries after it must follow the restore.
    if (rd.snapshot === undefined) this.dispatchCommitted(rd.committedEntries);
    for (const rs of rd.readStates) {
      const waiter = this.readWaiters.get(rs.ctx);
      if (waiter === undefined) continue;
      this.readWaiters.delete(rs.ctx);
      waiter({ ok: true, index: rs.index });
    }
    const durable = this.ports.log.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot }, (error) => {
      this.persisting = false;
      if (this.stopped) return;
      if (error !== undefined) {
        this.fatal('raft log write failed', error);
        return;
      }
      this.afterPersist(rd);
      this.raw.advance(rd);
      this.drain();
    });
    if (!durable) this.persisting = true;
    return durable;
  }

  /** What must follow the disk write: messages vouching for durable state, and a received snapshot. */
  private afterPersist(rd: Ready): void {
    if (rd.snapshot !== undefined) {
      this.installSnapshot(rd.snapshot);
      this.dispatchCommitted(rd.committedEntries);
    }
    if (this.faults.sendBeforePersist === true) return;
    const late = rd.messages.filter((m) => !LEADER_MESSAGES.has(m.type));
    if (late.length > 0) this.sendMessages(late);
  }

  private sendMessages(messages: readonly Message[]): void {
    const now = this.ports.now();
    for (const m of messages) {
      // The leader's clock, so a follower can tell how old what it hears is (lag.ts).
      if (LEADER_MESSAGES.has(m.type)) m.leaderTime = now;
      // The leader learns how far each member has applied (status, lag) from its answers.
      else if (m.type === 'appResp' || m.type === 'heartbeatResp') m.applied = this.appliedIndex;
    }
    this.ports.send(messages);
  }

  // ---- apply ----------------------------------------------------------------------

  /** Committed entries join the queue; one state-machine call at a time carries what has queued (its batch grows with the load). */
  private dispatchCommitted(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.membership.committed(entries);
    for (const e of entries) this.applyQueue.push(e);
    const last = entries[entries.length - 1] as Entry;
    if (last.index > this.dispatchedIndex) this.dispatchedIndex = last.index;
    this.applyNext();
  }

  private applyNext(): void {
    if (this.stopped || this.applying) return;
    if (this.pendingRestore !== undefined) {
      this.startRestore(this.pendingRestore);
      return;
    }
    if (this.applyQueue.length === 0) return;
    const max = this.options.maxApplyBatch ?? 1024;
    const entries = this.applyQueue.length <= max ? this.applyQueue : this.applyQueue.slice(0, max);
    this.applyQueue = entries === this.applyQueue ? [] : this.applyQueue.slice(max);
    this.applying = true;
    // Outcomes matter only to writes waiting here (a leader's); a follower's apply sends none back.
    this.ports.stateMachine.apply(entries, this.pending.size > 0, (error, batch) => {
      this.applying = false;
      if (this.stopped) return;
      if (error !== undefined && error !== null) {
        // The batch rolled back and its entries left the queue: going on would skip them for good. Stop;
        // on restart the log hands them over again. (A statement's own failure is an outcome, not this.)
        this.fatal('apply failed', error);
        return;
      }
      if (batch === undefined) return;
      this.onApplied(batch);
      this.applyNext();
    });
  }

  private onApplied(batch: B): void {
    if (batch.applied > this.appliedIndex) this.appliedIndex = batch.applied;
    for (const outcome of batch.outcomes) {
      const pending = this.pending.get(outcome.index);
      if (pending === undefined) continue;
      if (outcome.term !== pending.term || outcome.requestId !== pending.requestId) {
        // Our entry was overwritten by another leader's: it will never apply.
        this.finish(pending, { ok: false, reason: 'overwritten', index: pending.index });
        continue;
      }
      pending.outcome = outcome;
      pending.applied = true;
    }
    this.hooks.onApplied?.(batch);
    this.afterApplied();
  }

  private installSnapshot(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    this.membership.restored(snapshot.meta.confState, index);
    if (index <= this.dispatchedIndex) {
      // The state machine holds (or is about to, in order) every committed entry up to the snapshot: a
      // follower can apply past its durable log and lose that log write in a crash, and a restore would
      // move its graph back behind what this loop reported applied. It skips what the leader sends again.
      return;
    }
    // Entries still waiting for the state machine are covered by the snapshot (it would skip them).
    this.applyQueue = this.applyQueue.filter((e) => e.index > index);
    this.dispatchedIndex = index;
    // The restore is a state-machine call like an apply: after the one in flight, before any entry after it.
    this.pendingRestore = snapshot;
    this.applyNext();
  }

  private startRestore(snapshot: Snapshot): void {
    this.pendingRestore = undefined;
    this.applying = true;
    this.ports.stateMachine.restore(snapshot, (error, applied) => {
      this.applying = false;
      if (this.stopped) return;
      if (error !== undefined && error !== null) {
        this.fatal('snapshot restore failed', error);
        return;
      }
      if (applied !== undefined && applied > this.appliedIndex) this.appliedIndex = applied;
      this.hooks.onRestored?.(this.appliedIndex);
      this.afterApplied();
      this.applyNext();
    });
  }

  private afterApplied(): void {
    this.selfLag.appliedTo(this.appliedIndex);
    this.checkAcks();
    this.maybeSnapshot();
    this.hooks.onProgress?.();
  }

  // ---- acknowledgements ---------------------------------------------------------------

  private checkAcks(): void {
    if (this.pending.size === 0) return;
    const status = this.statusNow;
    const leader = status.role === 'leader';
    const followerMatches = leader ? status.confState.voters.filter((v) => v !== this.options.id).map((v) => status.progress.get(v)?.match ?? 0) : [];
    // A leader that appended its own removal is no longer a voter: its copy counts toward nothing.
    const leaderVotes = status.confState.voters.includes(this.options.id);
    const leaderDurable = this.ports.log.lastIndex();
    const settings = this.options.settings();
    for (const pending of [...this.pending.values()]) {
      let done: boolean;
      if (pending.kind === 'membership') {
        done = pending.applied;
      } else if (leader && pending.term === status.term) {
        done = isAcknowledged(settings, { index: pending.index, leaderDurable, followerMatches, applied: pending.applied, needsResult: pending.returnsRows, leaderVotes });
      } else {
        // No longer leading: an applied entry of our term is committed by a majority, which is what we can still vouch for.
        done = pending.applied;
      }
      if (done) this.finish(pending, { ok: true, index: pending.index, term: pending.term, outcome: pending.outcome });
    }
  }

  private finish(pending: PendingWrite<O>, result: WriteDone<O>): void {
    if (this.pending.get(pending.index) !== pending) return;
    this.pending.delete(pending.index);
    pending.done(result);
  }

  // ---- status -----------------------------------------------------------------------

  private refreshStatus(): void {
    const previous = this.statusNow;
    const status = this.raw.status();
    this.statusNow = status;
    const now = this.ports.now();
    this.selfLag.setLeader(status.role === 'leader');
    if (status.role === 'leader' && status.commit !== previous.commit) this.peers.committed(status.commit, now);
    const changed =
      status.leader !== previous.leader ||
      status.term !== previous.term ||
      status.role !== previous.role ||
      status.confState.voters.join(',') !== previous.confState.voters.join(',') ||
      status.confState.learners.join(',') !== previous.confState.learners.join(',');
    if (!changed) return;
    if (previous.role === 'leader' && status.role !== 'leader') {
      for (const [ctx, waiter] of this.readWaiters) {
        this.readWaiters.delete(ctx);
        waiter({ ok: false, reason: 'notLeader' });
      }
    }
    this.hooks.onStatus?.(previous, status);
  }

  // ---- snapshots ----------------------------------------------------------------------

  private maybeSnapshot(): void {
    const every = this.options.snapshotEntries ?? DEFAULT_SNAPSHOT_ENTRIES;
    if (this.snapshotting || this.stopped || this.appliedIndex - this.ports.log.snapshot().meta.index < every) return;
    // A failed snapshot is tried again after the next apply; the log is only kept longer meanwhile.
    this.snapshot((error) => {
      if (error !== undefined && error !== null) this.hooks.onSnapshotFailed?.(error);
    });
  }

  /** Takes a snapshot at the state machine's applied index and compacts the log behind it. */
  snapshot(done: (error: unknown, taken?: { index: number; bytes: number }) => void): void {
    if (this.snapshotting) {
      done(new Error('a snapshot is already being taken'));
      return;
    }
    this.snapshotting = true;
    this.ports.stateMachine.snapshot((error, image) => {
      if (this.stopped) {
        this.snapshotting = false;
        return;
      }
      const log = this.ports.log;
      if (error !== undefined && error !== null) {
        this.snapshotting = false;
        done(error);
        return;
      }
      if (image === undefined || image.index <= log.snapshot().meta.index || image.index > log.lastIndex()) {
        this.snapshotting = false;
        done(undefined, { index: log.snapshot().meta.index, bytes: 0 });
        return;
      }
      const term = log.term(image.index);
      if (term === undefined) {
        this.snapshotting = false;
        done(undefined, { index: log.snapshot().meta.index, bytes: 0 });
        return;
      }
      const conf = this.faults.snapshotLatestMembership === true ? this.raw.raft.confState() : this.membership.at(image.index);
      log.compact({ index: image.index, term, confState: conf }, image.data, this.options.keepEntries ?? 1000, image.path, (compactError) => {
        this.snapshotting = false;
        if (compactError !== undefined && compactError !== null) {
          done(compactError);
          return;
        }
        this.membership.compacted(image.index);
        this.hooks.onSnapshot?.(image.index, image.data.byteLength);
        done(undefined, { index: image.index, bytes: image.data.byteLength });
      });
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------

  private fatal(what: string, error: unknown): void {
    if (this.stopped) return;
    this.hooks.onFatal(what, error);
  }

  /** Stops the loop: pending writes and reads fail with `stopped`; ports' late callbacks are ignored. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const pending of [...this.pending.values()]) this.finish(pending, { ok: false, reason: 'stopped', index: pending.index });
    for (const [ctx, waiter] of this.readWaiters) {
      this.readWaiters.delete(ctx);
      waiter({ ok: false, reason: 'stopped' });
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
