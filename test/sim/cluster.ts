/**
 * Seeded whole-cluster simulation in virtual time, running the production
 * host loop (storage-node/host/raft-loop.ts) unchanged on every node.
 *
 * Each simulated node is a RaftLoop over simulation ports:
 * - log: a simulated disk. Its Storage view (a MemoryStorage) holds only what
 *   is durable; writes (persist, compact) go through one FIFO, each taking a
 *   seeded time. A crash tears the write in progress at a random record (a WAL
 *   cut at its tail: snapshot, then entries, then hard state) and loses the
 *   rest. Commit-only hard states are not written, as in DurableLog.
 * - send: the network (drop, duplicate, delay, reorder, symmetric and one-way
 *   partitions, leader isolation).
 * - stateMachine: a FIFO of apply/restore/snapshot calls, each taking a seeded
 *   time, durable when it completes (the graph's SQLite transaction).
 * - now(): a clock with a seeded rate and offset; ticks fire at that rate.
 * - defer(): the event queue at the current virtual time.
 * A crash abandons the loop (every callback of a dead incarnation is
 * ignored); a restart builds a new RaftLoop over the durable disk and state
 * machine. Everything random comes from one seeded PRNG, so a seed replays
 * exactly.
 */
import { RaftLoop, loopLog } from '../../storage-node/host/raft-loop.js';
import type { AppliedBatchBase, ApplyAck, LoopFaults, LoopLog, LoopPorts, LoopStateMachine, PersistBatch, WriteDone } from '../../storage-node/host/raft-loop.js';
import type { ConfState, Entry, HardState, Message, NodeId, Snapshot } from '../../storage-node/raft/index.js';
import { applyConfChange, decodeConfChange, emptyConfState, emptyHardState, majority, MemoryStorage, Prng } from '../../storage-node/raft/index.js';
import type { ReplicationSettings } from '../../storage-node/replication/modes.js';

/** Checks a checker-sanity test may turn off, to show that a later check catches the same fault. */
export type SimCheck = 'voteOrdering' | 'appendOrdering' | 'ack' | 'snapshotMembership';

export const SIM_CHECKS: readonly SimCheck[] = ['voteOrdering', 'appendOrdering', 'ack', 'snapshotMembership'];

export interface SimOptions {
  seed: number;
  /** Initial voters; default 3 or 5 chosen by the seed. */
  nodes?: number;
  /** Virtual milliseconds of faults and load. */
  chaosMs?: number;
  /** Virtual milliseconds after healing everything, before the final checks. */
  healMs?: number;
  /** Keep a trace of events (costs time; used to print a failing seed's tail). */
  trace?: boolean;
  /** With trace: keep every line, not just the tail. */
  traceAll?: boolean;
  /** Deliberately broken loop orderings (negative controls): passed to every RaftLoop. */
  faults?: LoopFaults;
  /** Checks left out (checker sanity only). */
  skipChecks?: readonly SimCheck[];
  /** No linearizable reads (so a broken ack shows up as a lost write, not a stale read). */
  noReads?: boolean;
  /** A membership change attempted at every fault step (so snapshots often race a change). */
  membershipChurn?: boolean;
  /**
   * Slow log writes, large appends, and loop snapshots every 10 entries keeping none: followers'
   * state machines run ahead of their own logs, so a crash leaves them applied past what is durable.
   */
  slowDisk?: boolean;
}

export interface SimStats {
  events: number;
  proposed: number;
  acked: number;
  elections: number;
  crashes: number;
  reads: number;
  confChanges: number;
  /** Snapshots recorded by the loops (compact). */
  snapshotsTaken: number;
  /** Snapshots from a leader installed into a state machine. */
  snapshotsInstalled: number;
  /** Restarts that found a leader's snapshot durable in the log but not yet installed (the node's start installs it). */
  storedSnapshotsInstalled: number;
  /** Leader snapshots installed over a state machine that had applied past them (it goes back, then re-applies). */
  restoresBehindApplied: number;
  /** Crashes that caught a log write in progress. */
  tornWrites: number;
  /** Restarts whose durable commit index trailed the state machine's applied index. */
  commitBehindApplied: number;
  /** Slowest and fastest clock rate among the nodes. */
  driftMin: number;
  driftMax: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failure?: string;
  /** Last trace lines (only with trace: true). */
  trace: string[];
  stats: SimStats;
}

export function emptyStats(): SimStats {
  return { events: 0, proposed: 0, acked: 0, elections: 0, crashes: 0, reads: 0, confChanges: 0, snapshotsTaken: 0, snapshotsInstalled: 0, storedSnapshotsInstalled: 0, restoresBehindApplied: 0, tornWrites: 0, commitBehindApplied: 0, driftMin: 1, driftMax: 1 };
}

/** Adds a run's stats into `total` (counts summed, the drift range widened). */
export function addStats(total: SimStats, run: SimStats): void {
  for (const key of Object.keys(total) as (keyof SimStats)[]) {
    if (key === 'driftMin') total.driftMin = Math.min(total.driftMin, run.driftMin);
    else if (key === 'driftMax') total.driftMax = Math.max(total.driftMax, run.driftMax);
    else total[key] += run[key];
  }
}

type Batch = AppliedBatchBase<ApplyAck>;
type Loop = RaftLoop<ApplyAck, Batch>;

const TICK_MS = 10;
const ELECTION_TICKS = 10;
/** Small, so the loop itself snapshots several times a run and lagging followers get chunked InstallSnapshot. */
const SNAPSHOT_ENTRIES = 40;
const SLOW_DISK_SNAPSHOT_ENTRIES = 10;
const TRACE_KEEP = 60;
/** The default mode: an acknowledged write is durable on a majority of voters and applied on the leader. */
const SYNCHRONOUS: ReplicationSettings = { mode: 'synchronous', quorumSize: 0, syncReplicas: 1 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

class SimFailure extends Error {}

interface ScheduledEvent {
  time: number;
  seq: number;
  run: () => void;
}

/** A binary min-heap of events ordered by (time, seq): ties replay in scheduling order. */
class EventQueue {
  private readonly heap: ScheduledEvent[] = [];
  private seq = 0;

  push(time: number, run: () => void): void {
    const ev = { time, seq: this.seq++, run };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(ev, h[p] as ScheduledEvent)) break;
      h[i] = h[p] as ScheduledEvent;
      i = p;
    }
    h[i] = ev;
  }

  pop(): ScheduledEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mv = last;
      if (l < h.length && before(h[l] as ScheduledEvent, mv)) {
        m = l;
        mv = h[l] as ScheduledEvent;
      }
      if (r < h.length && before(h[r] as ScheduledEvent, mv)) {
        m = r;
        mv = h[r] as ScheduledEvent;
      }
      if (m === i) break;
      h[i] = mv;
      i = m;
    }
    h[i] = last;
    return top;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * One device working through calls in order, each finishing a seeded time
 * after the one before (the log's writer thread, the apply worker). A crash
 * abandons it: what has not finished never does.
 */
class Device<T> {
  private readonly calls: T[] = [];
  private busy = false;
  private dead = false;

  get abandoned(): boolean {
    return this.dead;
  }

  constructor(
    private readonly schedule: (delay: number, run: () => void) => void,
    private readonly duration: (call: T) => number,
    private readonly perform: (call: T) => void,
  ) {}

  push(call: T): void {
    if (this.dead) return;
    this.calls.push(call);
    if (!this.busy) this.next();
  }

  /** Stops the device; returns the calls not finished, the one in progress first. */
  abandon(): T[] {
    this.dead = true;
    return this.calls.splice(0);
  }

  private next(): void {
    const head = this.calls[0];
    if (head === undefined) return;
    this.busy = true;
    this.schedule(this.duration(head), () => {
      if (this.dead) return;
      const call = this.calls.shift() as T;
      // Calls pushed from inside perform (the loop's next write or apply) queue behind; busy keeps them from starting twice.
      this.perform(call);
      this.busy = false;
      if (!this.dead) this.next();
    });
  }
}

type DiskWrite =
  | { kind: 'persist'; batch: PersistBatch; done: (error?: unknown) => void }
  | { kind: 'compact'; meta: Snapshot['meta']; data: Uint8Array; keepEntries: number; done: (error?: unknown) => void };

type StateMachineCall =
  | { kind: 'apply'; entries: readonly Entry[]; wantOutcomes: boolean; done: (error: unknown, batch?: Batch) => void }
  | { kind: 'restore'; snapshot: Snapshot; done: (error: unknown, applied?: number) => void }
  | { kind: 'snapshot'; done: (error: unknown, image?: { index: number; data: Uint8Array }) => void };

interface WaitingRead {
  ctx: string;
  index: number;
  /** The highest index acknowledged to a client before the read was asked. */
  minIndex: number;
}

interface SimNode {
  readonly id: NodeId;
  /** What is durable on the node's disk: the loop's Storage view. */
  readonly storage: MemoryStorage;
  /** The hard state really on disk (the view's commit may run ahead: commit-only changes are not written). */
  writtenHardState: HardState;
  commitUnsaved: boolean;
  /** The state machine, durable at apply: write ids in applied order and the applied index. */
  sm: { writes: number[]; applied: number };
  loop: Loop | undefined;
  incarnation: number;
  /** The running incarnation's log writer and apply worker (a crash abandons them). */
  disk: Device<DiskWrite> | undefined;
  stateMachine: Device<StateMachineCall> | undefined;
  readonly clock: { rate: number; offset: number };
  /** Initial members bootstrap again if they crash before persisting anything. */
  readonly bootstrapVoters: readonly NodeId[];
  decommissioned: boolean;
  /** Last (term, lastIndex, lastTerm) seen while leader, for the append-only check. */
  leaderMark: { term: number; lastIndex: number; lastTerm: number } | undefined;
  /** Appends delivered to this incarnation: `${term}:${last index}` -> the term they carried there. */
  appendTerms: Map<string, number>;
  /** ReadIndex answers waiting for the loop's applied index. */
  reads: WaitingRead[];
}

function encodeWrite(id: number): Uint8Array {
  return encoder.encode(String(id));
}

function writeIdOf(e: Entry): number {
  return e.type === 'normal' && e.data.byteLength > 0 ? Number(decoder.decode(e.data)) : -1;
}

function encodeSm(writes: readonly number[]): Uint8Array {
  return encoder.encode(JSON.stringify(writes));
}

function decodeSm(data: Uint8Array): number[] {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (!Array.isArray(parsed)) throw new SimFailure('snapshot data is not a list');
  return parsed.map((v) => Number(v));
}

function sameConf(a: ConfState, b: ConfState): boolean {
  const key = (c: ConfState): string => `${[...c.voters].sort((x, y) => x - y).join(',')}|${[...c.learners].sort((x, y) => x - y).join(',')}`;
  return key(a) === key(b);
}

function showConf(c: ConfState): string {
  return `voters [${c.voters.join(',')}] learners [${c.learners.join(',')}]`;
}

export class Cluster {
  readonly rng: Prng;
  now = 0;
  private readonly queue = new EventQueue();
  readonly nodes = new Map<NodeId, SimNode>();
  private nextNodeId: number;
  private readonly options: SimOptions;
  private readonly skip: ReadonlySet<SimCheck>;
  private readonly traceLines: string[] = [];
  /** Directed links that are cut: `${from}>${to}`. */
  private readonly cut = new Set<string>();
  dropRate = 0;
  dupRate = 0;
  maxDelay = 8;
  chaos = true;
  clients = true;

  // Checker state.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index:term) -> identity of the entry and the term of its predecessor. */
  private readonly entryIdentity = new Map<string, string>();
  /** Canonical applied sequence: term and write id (-1 for non-writes) per index, 1-based. */
  private readonly canonTerm: number[] = [0];
  private readonly canonWrite: number[] = [0];
  /** Number of writes in canonical entries 1..i. */
  private readonly canonWritesUpTo: number[] = [0];
  private readonly canonWrites: number[] = [];
  /** The configuration after each conf-change entry of the canonical sequence, by index (bootstrap's 1..n included). */
  private readonly canonConf: { index: number; conf: ConfState }[] = [{ index: 0, conf: emptyConfState }];
  readonly acked = new Map<number, number>();
  private maxAckedIndex = 0;
  private nextWriteId = 1;
  private nextReadId = 1;
  stats: SimStats = emptyStats();

  constructor(options: SimOptions) {
    this.options = options;
    this.skip = new Set(options.skipChecks ?? []);
    this.rng = new Prng(options.seed);
    const size = options.nodes ?? (this.rng.chance(0.5) ? 3 : 5);
    const voters: NodeId[] = [];
    for (let i = 1; i <= size; i++) voters.push(i);
    this.nextNodeId = size + 1;
    for (const id of voters) this.startNode(id, voters);
  }

  trace(line: string | (() => string)): void {
    if (!this.options.trace) return;
    this.traceLines.push(`${this.now.toFixed(1).padStart(8)} ${typeof line === 'string' ? line : line()}`);
    if (!this.options.traceAll && this.traceLines.length > TRACE_KEEP * 4) this.traceLines.splice(0, this.traceLines.length - TRACE_KEEP);
  }

  traceTail(): string[] {
    return this.options.traceAll ? this.traceLines.slice() : this.traceLines.slice(-TRACE_KEEP);
  }

  fail(message: string): never {
    this.trace(`FAIL ${message}`);
    throw new SimFailure(message);
  }

  schedule(delay: number, run: () => void): void {
    this.queue.push(this.now + delay, run);
  }

  // ---- nodes ----

  private startNode(id: NodeId, bootstrapVoters: readonly NodeId[]): SimNode {
    const rate = 0.9 + this.rng.next() * 0.2;
    this.stats.driftMin = Math.min(this.stats.driftMin, rate);
    this.stats.driftMax = Math.max(this.stats.driftMax, rate);
    const node: SimNode = {
      id,
      storage: new MemoryStorage(),
      writtenHardState: emptyHardState,
      commitUnsaved: false,
      sm: { writes: [], applied: 0 },
      loop: undefined,
      incarnation: 0,
      disk: undefined,
      stateMachine: undefined,
      clock: { rate, offset: this.rng.int(100_000) },
      bootstrapVoters,
      decommissioned: false,
      leaderMark: undefined,
      appendTerms: new Map(),
      reads: [],
    };
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private device<T>(duration: (call: T) => number, perform: (call: T) => void): Device<T> {
    return new Device<T>((delay, run) => this.schedule(delay, run), duration, perform);
  }

  private boot(node: SimNode): void {
    node.incarnation++;
    const inc = node.incarnation;
    node.leaderMark = undefined;
    node.appendTerms = new Map();
    node.reads = [];
    // A slow fsync now and then holds a whole batch (and the group commit behind it).
    const disk = this.device<DiskWrite>(
      (w) => (w.kind === 'compact' ? 1 + this.rng.int(6) : this.options.slowDisk ? 5 + this.rng.int(40) : this.rng.chance(0.05) ? 5 + this.rng.int(25) : this.rng.int(4)),
      (w) => this.performWrite(node, w),
    );
    const stateMachine = this.device<StateMachineCall>(
      () => (this.rng.chance(0.05) ? 5 + this.rng.int(20) : this.rng.int(3)),
      (call) => this.performCall(node, call),
    );
    node.disk = disk;
    node.stateMachine = stateMachine;
    const alive = (): boolean => node.incarnation === inc;
    const ports: LoopPorts<ApplyAck, Batch> = {
      log: this.logPort(node, disk),
      send: (messages) => {
        if (!alive()) return;
        for (const m of messages) {
          this.checkSend(node, m);
          this.send(m);
        }
      },
      stateMachine: this.stateMachinePort(stateMachine),
      now: () => node.clock.offset + this.now * node.clock.rate,
      defer: (fn) =>
        this.schedule(0, () => {
          if (alive()) fn();
        }),
    };
    const stored = node.storage.snapshot();
    if (node.sm.applied < stored.meta.index) {
      // As the storage node's start: a crash between persisting a leader's snapshot and installing it.
      const writes = decodeSm(stored.data);
      this.checkPrefix(node.id, writes, stored.meta.index, 'stored snapshot');
      this.trace(`n${node.id} installs the stored snapshot @${stored.meta.index} on start (state machine was at ${node.sm.applied})`);
      node.sm = { writes, applied: stored.meta.index };
      this.stats.storedSnapshotsInstalled++;
    }
    const hardState = node.storage.initialState().hardState;
    if (hardState.commit < node.sm.applied) this.stats.commitBehindApplied++;
    node.loop = new RaftLoop<ApplyAck, Batch>(
      {
        id: node.id,
        raft: {
          electionTick: ELECTION_TICKS,
          heartbeatTick: 2,
          voters: node.bootstrapVoters,
          maxSizePerMsg: this.options.slowDisk ? 4096 : 64,
          maxEntriesPerMsg: this.options.slowDisk ? 256 : 8,
          maxInflight: 4,
          maxSnapshotChunkBytes: 96,
          preVote: true,
          checkQuorum: true,
        },
        seed: this.rng.int(0x100000000),
        applied: node.sm.applied,
        snapshotEntries: this.options.slowDisk ? SLOW_DISK_SNAPSHOT_ENTRIES : SNAPSHOT_ENTRIES,
        keepEntries: this.options.slowDisk ? 0 : this.rng.int(8),
        maxApplyBatch: 16,
        electionTimeoutMs: ELECTION_TICKS * TICK_MS,
        // In the node's own clock: its ticks fire every TICK_MS of local time, whatever its drift.
        tickMs: TICK_MS,
        settings: () => SYNCHRONOUS,
        ...(this.options.faults !== undefined ? { faults: this.options.faults } : {}),
      },
      ports,
      {
        onProgress: () => {
          if (!alive()) return;
          this.checkLeader(node);
          this.serveReads(node);
        },
        onSnapshot: (index) => {
          this.stats.snapshotsTaken++;
          this.trace(`n${node.id} snapshot taken @${index}, log from ${node.storage.firstIndex()}`);
        },
        onSnapshotFailed: (error) => this.trace(`n${node.id} snapshot failed: ${String(error)}`),
        onRestored: (applied) => this.trace(`n${node.id} restored snapshot, loop applied ${applied}`),
        onFatal: (what, error) => this.fail(`n${node.id} fatal: ${what}: ${String(error)}`),
      },
    );
    const period = TICK_MS / node.clock.rate;
    const tick = (): void => {
      if (!alive()) return;
      node.loop?.tick();
      this.schedule(period, tick);
    };
    this.schedule(this.rng.next() * period, tick);
    this.trace(`n${node.id} boot inc=${inc} applied=${node.sm.applied} durable last=${node.storage.lastIndex()} commit=${hardState.commit} t${hardState.term}`);
    node.loop.scheduleDrain();
  }

  crash(node: SimNode): void {
    if (node.loop === undefined) return;
    this.stats.crashes++;
    // Abandoned, not stopped: a crash runs no shutdown code.
    node.loop = undefined;
    node.incarnation++;
    node.stateMachine?.abandon();
    const unfinished = node.disk?.abandon() ?? [];
    const head = unfinished[0];
    let torn = 'nothing in flight';
    if (head?.kind === 'persist') {
      this.stats.tornWrites++;
      torn = this.tearWrite(node, head.batch);
    } else if (head?.kind === 'compact') {
      const kept = this.rng.chance(0.5);
      if (kept) this.compactDisk(node, head.meta, head.data, head.keepEntries);
      torn = `compaction @${head.meta.index} ${kept ? 'durable' : 'lost'}`;
    }
    // Commit-only hard states were never written.
    node.storage.setHardState(node.writtenHardState);
    node.commitUnsaved = false;
    this.trace(`n${node.id} CRASH (${torn}; ${Math.max(0, unfinished.length - 1)} queued writes lost)`);
  }

  /** A WAL torn at its tail: a prefix of (snapshot, entries..., hard state) reached the disk. */
  private tearWrite(node: SimNode, batch: PersistBatch): string {
    const records = (batch.snapshot !== undefined ? 1 : 0) + batch.entries.length + (batch.hardState !== undefined ? 1 : 0);
    const written = this.rng.int(records + 1);
    let left = written;
    const snapshot = batch.snapshot !== undefined && left > 0 ? batch.snapshot : undefined;
    if (snapshot !== undefined) left--;
    const entries = batch.entries.slice(0, Math.min(left, batch.entries.length));
    left -= entries.length;
    const hardState = left > 0 ? batch.hardState : undefined;
    this.writeDisk(node, { hardState, entries, snapshot });
    return `torn write: ${written} of ${records} records durable`;
  }

  restart(node: SimNode): void {
    if (node.loop !== undefined || node.decommissioned) return;
    this.boot(node);
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.loop !== undefined);
  }

  leaders(): SimNode[] {
    return this.live().filter((n) => n.loop?.raw.raft.role === 'leader');
  }

  /** The leader with the highest term (there may be stale ones). */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.leaders()) if (best === undefined || (n.loop?.raw.raft.term ?? 0) > (best.loop?.raw.raft.term ?? 0)) best = n;
    return best;
  }

  // ---- the simulated disk (LoopLog) ----

  /** Writes go to `disk`, this incarnation's writer: after a crash it takes nothing more. */
  private logPort(node: SimNode, disk: Device<DiskWrite>): LoopLog {
    const s = node.storage;
    return loopLog(s, {
      persist: (batch, done) => {
        if (disk.abandoned) return false;
        const hs = batch.hardState;
        if (batch.entries.length === 0 && batch.snapshot === undefined) {
          if (hs === undefined) return true;
          const durable = s.hardStateNow();
          if (hs.term === durable.term && hs.vote === durable.vote) {
            // As DurableLog: only the commit moved, which a restart relearns from the leader, so no write.
            s.setHardState(hs);
            node.commitUnsaved = true;
            return true;
          }
        }
        const hardState = hs ?? (node.commitUnsaved ? s.hardStateNow() : undefined);
        node.commitUnsaved = false;
        disk.push({ kind: 'persist', batch: { hardState, entries: batch.entries, snapshot: batch.snapshot }, done });
        return false;
      },
      compact: (meta, data, keepEntries, _imagePath, done) => {
        if (disk.abandoned) return;
        this.checkSnapshotMembership(node, meta);
        disk.push({ kind: 'compact', meta, data, keepEntries, done });
      },
    });
  }

  private performWrite(node: SimNode, w: DiskWrite): void {
    if (w.kind === 'persist') {
      this.writeDisk(node, w.batch);
      w.done();
      return;
    }
    const error = this.compactDisk(node, w.meta, w.data, w.keepEntries);
    w.done(error);
  }

  private writeDisk(node: SimNode, batch: PersistBatch): void {
    const s = node.storage;
    if (batch.snapshot !== undefined) s.applySnapshot(batch.snapshot);
    if (batch.entries.length > 0) {
      this.recordEntries(node, batch.entries);
      s.append(batch.entries);
    }
    if (batch.hardState !== undefined) {
      s.setHardState(batch.hardState);
      node.writtenHardState = batch.hardState;
    }
  }

  /** As DurableLog.snapshotAndCompact: never backwards (a leader's snapshot may have been installed meanwhile). */
  private compactDisk(node: SimNode, meta: Snapshot['meta'], data: Uint8Array, keepEntries: number): Error | undefined {
    const s = node.storage;
    if (s.snapshot().meta.index >= meta.index) return undefined;
    if (s.term(meta.index) !== meta.term) return new Error(`snapshot @${meta.index}/t${meta.term} no longer matches the log`);
    s.createSnapshot(meta.index, meta.confState, data);
    const compactTo = Math.max(s.firstIndex() - 1, meta.index - keepEntries);
    if (compactTo > s.firstIndex() - 1 && compactTo <= s.lastIndex()) s.compact(compactTo);
    return undefined;
  }

  // ---- the state machine ----

  /** Calls go to `device`, this incarnation's apply worker: after a crash it takes nothing more. */
  private stateMachinePort(device: Device<StateMachineCall>): LoopStateMachine<ApplyAck, Batch> {
    return {
      apply: (entries, wantOutcomes, done) => device.push({ kind: 'apply', entries, wantOutcomes, done }),
      restore: (snapshot, done) => device.push({ kind: 'restore', snapshot, done }),
      snapshot: (done) => device.push({ kind: 'snapshot', done }),
    };
  }

  private performCall(node: SimNode, call: StateMachineCall): void {
    this.runCall(node, call);
    // What the loop reports applied is what reads wait for (the node's applied-waiters): the state machine must hold it.
    const loop = node.loop;
    if (loop !== undefined && loop.applied > node.sm.applied) {
      this.fail(`applied index: n${node.id}'s loop reports applied ${loop.applied} while its state machine is at ${node.sm.applied}; a read waiting for ${loop.applied} would be served from an older state`);
    }
  }

  private runCall(node: SimNode, call: StateMachineCall): void {
    switch (call.kind) {
      case 'apply': {
        const outcomes: ApplyAck[] = [];
        for (const e of call.entries) {
          if (e.index <= node.sm.applied) continue; // applied before a crash: the graph skips it
          this.apply(node, e);
          if (call.wantOutcomes) {
            const writeId = writeIdOf(e);
            outcomes.push({ index: e.index, term: e.term, requestId: writeId >= 0 ? String(writeId) : null });
          }
        }
        call.done(null, { applied: node.sm.applied, outcomes });
        return;
      }
      case 'restore': {
        const { meta, data } = call.snapshot;
        const writes = decodeSm(data);
        this.checkPrefix(node.id, writes, meta.index, 'snapshot');
        this.trace(`n${node.id} installed snapshot @${meta.index} (state machine was at ${node.sm.applied})`);
        if (meta.index < node.sm.applied) this.stats.restoresBehindApplied++;
        node.sm = { writes, applied: meta.index };
        this.stats.snapshotsInstalled++;
        call.done(null, meta.index);
        return;
      }
      case 'snapshot':
        call.done(null, { index: node.sm.applied, data: encodeSm(node.sm.writes) });
        return;
    }
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index !== node.sm.applied + 1) this.fail(`n${node.id} applied ${e.index} after ${node.sm.applied}`);
    const writeId = writeIdOf(e);
    // State machine safety: every member applies the same entry at each index.
    if (e.index < this.canonTerm.length) {
      if (this.canonTerm[e.index] !== e.term || this.canonWrite[e.index] !== writeId) {
        this.fail(`state machine safety: n${node.id} applied ${e.index}/t${e.term}/w${writeId}, others t${this.canonTerm[e.index]}/w${this.canonWrite[e.index]}`);
      }
    } else {
      this.canonTerm.push(e.term);
      this.canonWrite.push(writeId);
      if (writeId >= 0) this.canonWrites.push(writeId);
      this.canonWritesUpTo.push(this.canonWrites.length);
      if (e.type === 'confChange') {
        const latest = (this.canonConf[this.canonConf.length - 1] as { conf: ConfState }).conf;
        this.canonConf.push({ index: e.index, conf: applyConfChange(latest, decodeConfChange(e.data)) });
      }
    }
    node.sm.applied = e.index;
    if (writeId >= 0) node.sm.writes.push(writeId);
    if (e.type === 'confChange') {
      const change = decodeConfChange(e.data);
      if (change.type === 'removeNode') this.scheduleDecommission(change.nodeId);
    }
    if (node.sm.writes.length !== this.canonWritesUpTo[e.index]) this.fail(`n${node.id} state machine holds ${node.sm.writes.length} writes at ${e.index}`);
  }

  private ack(writeId: number, index: number): void {
    this.acked.set(writeId, index);
    this.stats.acked++;
    if (index > this.maxAckedIndex) this.maxAckedIndex = index;
  }

  private scheduleDecommission(id: NodeId): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.decommissioned) return;
    this.schedule(100, () => {
      if (node.decommissioned) return;
      // Still a member again (re-added)? Keep it.
      const conf = this.leader()?.loop?.raw.raft.confState();
      if (conf !== undefined && (conf.voters.includes(id) || conf.learners.includes(id))) return;
      this.trace(`n${id} decommissioned`);
      node.decommissioned = true;
      this.crash(node);
    });
  }

  // ---- network ----

  private send(m: Message): void {
    if (this.rng.chance(this.dropRate)) return;
    const copies = this.rng.chance(this.dupRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      // Mostly short delays; occasionally a long one, which reorders.
      const delay = 1 + (this.rng.chance(0.05) ? this.rng.int(this.maxDelay * 6) : this.rng.int(this.maxDelay));
      this.schedule(delay, () => this.deliver(m));
    }
  }

  private deliver(m: Message): void {
    if (this.cut.has(`${m.from}>${m.to}`)) return;
    const node = this.nodes.get(m.to);
    if (node?.loop === undefined) return;
    this.trace(() => `n${m.from}->n${m.to} ${m.type} t${m.term} i${m.index}/${m.logTerm} c${m.commit} n=${m.entries.length}${m.reject ? ' REJ' : ''}${m.context ? ` ctx=${m.context}` : ''}${m.chunk ? ` chunk@${m.chunk.offset}+${m.chunk.data.byteLength}${m.chunk.done ? ' done' : ''}` : ''}${m.type === 'snapResp' ? ` got=${m.rejectHint}` : ''}`);
    if (m.type === 'app') {
      const last = m.entries[m.entries.length - 1];
      if (node.appendTerms.size > 4096) node.appendTerms.clear();
      node.appendTerms.set(`${m.term}:${m.index + m.entries.length}`, last === undefined ? m.logTerm : last.term);
    }
    node.loop.receive(m);
  }

  // ---- checks ----

  /** What a vote or an append response vouches for must already be on the sender's disk (production ordering). */
  private checkSend(node: SimNode, m: Message): void {
    if (m.reject) return;
    if (m.type === 'voteResp' && !this.skip.has('voteOrdering')) {
      const hs = node.writtenHardState;
      // A later term on disk is fine (it forbids voting again in this one); the same term must record this vote.
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.fail(`ordering: n${node.id} granted its vote to n${m.to} in term ${m.term} before it was durable (disk: term ${hs.term}, vote n${hs.vote}); a vote goes out only after the hard state is persisted`);
      }
    } else if (m.type === 'appResp' && !this.skip.has('appendOrdering') && m.term >= node.writtenHardState.term) {
      // An answer of an older term than the one now on disk (generated before a newer leader truncated
      // what it acknowledges, sent once that truncation was durable) vouches for nothing a leader of the
      // newer term can use, and the old leader cannot reach a majority with it: the newer leader's
      // voters never held those entries and, having voted, refuse the old term's appends (Raft §5.4.1).
      const s = node.storage;
      if (s.lastIndex() < m.index) {
        this.fail(`ordering: n${node.id} acknowledged entries up to ${m.index} (t${m.term}) to n${m.to} before they were durable (disk holds up to ${s.lastIndex()}); an append response goes out only after the entries are persisted`);
      }
      const expected = node.appendTerms.get(`${m.term}:${m.index}`);
      const onDisk = s.term(m.index);
      if (expected !== undefined && onDisk !== undefined && onDisk !== expected) {
        this.fail(`ordering: n${node.id} acknowledged ${m.index} of the t${m.term} leader's append (entry term ${expected}) while its disk holds term ${onDisk} there; an append response goes out only after the entries are persisted`);
      }
    }
  }

  /** Acknowledgement: durable on a majority of the leader's voters and applied on the leader (replication/modes.ts, synchronous). */
  private checkAck(node: SimNode, writeId: number, index: number, term: number): void {
    if (this.skip.has('ack')) return;
    const loop = node.loop;
    if (loop === undefined) this.fail(`acknowledgement: w${writeId} acknowledged by n${node.id}, which is not running`);
    const status = loop.status;
    if (status.role === 'leader' && status.term === term) {
      const voters = status.confState.voters;
      const holders = voters.filter((v) => this.durableOn(v, index, term));
      if (holders.length < majority(voters.length)) {
        this.fail(`acknowledgement: w${writeId} @${index}/t${term} acknowledged by leader n${node.id} while durable only on [${holders.join(',')}] of voters [${voters.join(',')}]`);
      }
    }
    // Otherwise the loop no longer leads and vouches only for an applied entry of its term, which a majority committed.
    if (node.sm.applied < index || this.canonTerm[index] !== term) {
      this.fail(`acknowledgement: w${writeId} @${index}/t${term} acknowledged by n${node.id} before it was applied there (state machine at ${node.sm.applied}, canonical t${this.canonTerm[index] ?? '-'})`);
    }
  }

  private durableOn(id: NodeId, index: number, term: number): boolean {
    const s = this.nodes.get(id)?.storage;
    if (s === undefined) return false;
    const t = s.term(index);
    if (t !== undefined) return t === term;
    // Compacted behind a snapshot: durable as part of the image (snapshots hold only committed entries).
    return s.snapshot().meta.index >= index && this.canonTerm[index] === term;
  }

  /** A snapshot records the membership of the canonical applied sequence at its index, never a newer one from the log. */
  private checkSnapshotMembership(node: SimNode, meta: Snapshot['meta']): void {
    if (this.skip.has('snapshotMembership')) return;
    const expected = this.canonConfAt(meta.index);
    if (!sameConf(meta.confState, expected)) {
      this.fail(`snapshot membership: n${node.id} recorded a snapshot @${meta.index} with ${showConf(meta.confState)}, but the configuration applied at ${meta.index} is ${showConf(expected)}`);
    }
  }

  private canonConfAt(index: number): ConfState {
    let conf = emptyConfState;
    for (const c of this.canonConf) {
      if (c.index > index) break;
      conf = c.conf;
    }
    return conf;
  }

  private checkLeader(node: SimNode): void {
    const raft = node.loop?.raw.raft;
    if (raft === undefined || raft.role !== 'leader') return;
    const term = raft.term;
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) {
      this.leaderOfTerm.set(term, node.id);
      this.stats.elections++;
      this.trace(`n${node.id} LEADER t${term} last=${raft.log.lastIndex()}`);
      this.checkLeaderCompleteness(node);
    } else if (known !== node.id) {
      this.fail(`election safety: n${known} and n${node.id} both leaders of term ${term}`);
    }
    // Leader append-only: within its term a leader's log only grows.
    const lastIndex = raft.log.lastIndex();
    const lastTerm = raft.log.lastTerm();
    const mark = node.leaderMark;
    if (mark !== undefined && mark.term === term) {
      const t = raft.log.term(mark.lastIndex);
      if (lastIndex < mark.lastIndex || (t !== undefined && t !== mark.lastTerm)) {
        this.fail(`leader append-only: n${node.id} t${term} lost entry ${mark.lastIndex}`);
      }
    }
    node.leaderMark = { term, lastIndex, lastTerm };
  }

  private checkLeaderCompleteness(node: SimNode): void {
    const log = node.loop?.raw.raft.log;
    if (log === undefined) return;
    const committedKnown = this.canonTerm.length - 1;
    if (log.lastIndex() < committedKnown) this.fail(`leader completeness: n${node.id} last ${log.lastIndex()} < committed ${committedKnown}`);
    for (let i = Math.max(1, log.firstIndex()); i <= committedKnown; i++) {
      if (log.term(i) !== this.canonTerm[i]) this.fail(`leader completeness: n${node.id} has t${log.term(i)} at ${i}, committed t${this.canonTerm[i]}`);
    }
  }

  /** Log matching: an (index, term) pair names one entry with one predecessor term, everywhere, forever. */
  private recordEntries(node: SimNode, entries: readonly Entry[]): void {
    let prevTerm = node.storage.term((entries[0] as Entry).index - 1);
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const identity = `${e.type}:${e.type === 'normal' ? writeIdOf(e) : decoder.decode(e.data)}<${prevTerm ?? '?'}`;
      const known = this.entryIdentity.get(key);
      if (known === undefined) this.entryIdentity.set(key, identity);
      else if (known !== identity) {
        // A compacted predecessor is unknown ('?'): compare the entry itself only.
        const [a, pa] = known.split('<');
        const [b, pb] = identity.split('<');
        if (a !== b || (pa !== '?' && pb !== '?' && pa !== pb)) this.fail(`log matching: n${node.id} has ${key}=${identity}, elsewhere ${known}`);
      }
      prevTerm = e.term;
    }
  }

  private checkPrefix(id: NodeId, writes: readonly number[], index: number, what: string): void {
    const expected = this.canonWritesUpTo[index];
    if (expected === undefined || writes.length !== expected) this.fail(`n${id} ${what} @${index} has ${writes.length} writes, expected ${expected}`);
    for (let i = 0; i < writes.length; i++) {
      if (writes[i] !== this.canonWrites[i]) this.fail(`n${id} ${what} diverges at write #${i}`);
    }
  }

  // ---- clients ----

  private clientWrite(): void {
    const leaders = this.leaders();
    const target = leaders[this.rng.int(leaders.length)];
    const loop = target?.loop;
    if (target === undefined || loop === undefined) return;
    const writeId = this.nextWriteId++;
    const inc = target.incarnation;
    const result = loop.propose(encodeWrite(writeId), { requestId: String(writeId), returnsRows: false }, (done) => this.writeDone(target, inc, writeId, done));
    if (!result.accepted) return;
    this.stats.proposed++;
    this.trace(`client w${writeId} -> n${target.id} @${result.index}/t${result.term}`);
  }

  private writeDone(node: SimNode, inc: number, writeId: number, result: WriteDone<ApplyAck>): void {
    if (node.incarnation !== inc) return;
    if (!result.ok) {
      this.trace(`client w${writeId} @${result.index}: ${result.reason}`);
      return;
    }
    this.checkAck(node, writeId, result.index, result.term);
    this.trace(`client w${writeId} acknowledged @${result.index}/t${result.term} by n${node.id}`);
    this.ack(writeId, result.index);
  }

  private clientRead(): void {
    const live = this.live();
    const target = live[this.rng.int(live.length)];
    const loop = target?.loop;
    if (target === undefined || loop === undefined) return;
    const ctx = `r${this.nextReadId++}`;
    const inc = target.incarnation;
    const minIndex = this.maxAckedIndex;
    loop.readIndex(ctx, (result) => {
      if (target.incarnation !== inc || !result.ok) return;
      // Linearizable read: its read point covers every write acknowledged before it was asked.
      if (result.index < minIndex) this.fail(`read ${ctx} at n${target.id} got index ${result.index} < acked ${minIndex}`);
      target.reads.push({ ctx, index: result.index, minIndex });
      this.serveReads(target);
    });
  }

  /** Serves reads whose index the loop reports applied (as the node's applied-waiters do) from the state machine itself. */
  private serveReads(node: SimNode): void {
    const loop = node.loop;
    if (loop === undefined || node.reads.length === 0) return;
    const waiting: WaitingRead[] = [];
    for (const r of node.reads) {
      if (r.index > loop.applied) {
        waiting.push(r);
        continue;
      }
      this.stats.reads++;
      if (node.sm.applied < r.index) {
        this.fail(`linearizable read: ${r.ctx} served at n${node.id} (loop applied ${loop.applied} >= read index ${r.index}) from a state machine at ${node.sm.applied}`);
      }
    }
    node.reads = waiting;
  }

  // ---- faults ----

  private injectFault(): void {
    if (this.options.membershipChurn) this.changeMembership();
    const all = [...this.nodes.values()].filter((n) => !n.decommissioned);
    const pick = (): SimNode | undefined => all[this.rng.int(all.length)];
    const roll = this.rng.int(100);
    if (roll < 18) {
      const n = pick();
      if (n?.loop === undefined) return;
      this.crash(n);
      this.schedule(30 + this.rng.int(400), () => this.restart(n));
    } else if (roll < 23) {
      // Crash the leader specifically: the interesting case for acknowledged writes.
      const l = this.leader();
      if (l === undefined) return;
      this.crash(l);
      this.schedule(30 + this.rng.int(400), () => this.restart(l));
    } else if (roll < 38) {
      // Symmetric partition into two random sides.
      const side = new Set(all.filter(() => this.rng.chance(0.5)).map((n) => n.id));
      for (const a of all) for (const b of all) if (side.has(a.id) !== side.has(b.id)) this.cut.add(`${a.id}>${b.id}`);
      this.trace(`partition {${[...side].join(',')}} | rest`);
      this.schedule(100 + this.rng.int(600), () => this.healNetwork());
    } else if (roll < 48) {
      // Asymmetric: one direction of some links.
      const a = pick();
      const b = pick();
      if (a === undefined || b === undefined || a === b) return;
      this.cut.add(`${a.id}>${b.id}`);
      this.trace(`cut n${a.id}>n${b.id}`);
      this.schedule(100 + this.rng.int(600), () => this.cut.delete(`${a.id}>${b.id}`));
    } else if (roll < 56) {
      // Isolate the leader.
      const l = this.leader();
      if (l === undefined) return;
      for (const b of all) {
        if (b === l) continue;
        this.cut.add(`${l.id}>${b.id}`);
        this.cut.add(`${b.id}>${l.id}`);
      }
      this.trace(`isolate leader n${l.id}`);
      this.schedule(100 + this.rng.int(600), () => this.healNetwork());
    } else if (roll < 64) {
      this.dropRate = [0, 0.02, 0.1, 0.3][this.rng.int(4)] ?? 0;
      this.dupRate = [0, 0.05, 0.2][this.rng.int(3)] ?? 0;
      this.trace(`network drop=${this.dropRate} dup=${this.dupRate}`);
    } else if (roll < 72) {
      const loop = this.leader()?.loop;
      const voters = loop?.raw.raft.confState().voters ?? [];
      const to = voters[this.rng.int(voters.length)];
      if (loop === undefined || to === undefined) return;
      const r = loop.transferLeadership(to);
      this.trace(`transfer -> n${to}: ${r.accepted}`);
    } else if (roll < 84) {
      this.changeMembership();
    } else {
      this.healNetwork();
    }
  }

  private changeMembership(): void {
    const loop = this.leader()?.loop;
    if (loop === undefined) return;
    const conf = loop.raw.raft.confState();
    const done = (what: string) => (result: WriteDone<ApplyAck>) => this.trace(`conf ${what} ${result.ok ? `applied @${result.index}` : result.reason}`);
    const roll = this.rng.int(3);
    if (roll === 0 && conf.learners.length === 0 && conf.voters.length < 6) {
      const id = this.nextNodeId++;
      const r = loop.proposeConfChange({ type: 'addLearner', nodeId: id }, done(`addLearner n${id}`));
      this.trace(`conf addLearner n${id}: ${r.accepted}`);
      if (!r.accepted) return;
      this.stats.confChanges++;
      this.startNode(id, []);
    } else if (roll === 1 && conf.learners.length > 0) {
      const id = conf.learners[0] as NodeId;
      const r = loop.proposeConfChange({ type: 'addVoter', nodeId: id }, done(`promote n${id}`));
      this.trace(`conf promote n${id}: ${r.accepted}`);
      if (r.accepted) this.stats.confChanges++;
    } else if (roll === 2 && conf.voters.length > 3) {
      const id = conf.voters[this.rng.int(conf.voters.length)] as NodeId;
      const r = loop.proposeConfChange({ type: 'removeNode', nodeId: id }, done(`remove n${id}`));
      this.trace(`conf remove n${id}: ${r.accepted}`);
      if (r.accepted) this.stats.confChanges++;
    }
  }

  healNetwork(): void {
    this.cut.clear();
    this.trace('heal network');
  }

  // ---- run ----

  run(): SimResult {
    const chaosMs = this.options.chaosMs ?? 3000;
    const healMs = this.options.healMs ?? 2000;
    try {
      const chaosLoop = (): void => {
        if (!this.chaos) return;
        this.injectFault();
        this.schedule(40 + this.rng.int(200), chaosLoop);
      };
      this.schedule(200, chaosLoop);
      const writeLoop = (): void => {
        if (!this.clients) return;
        this.clientWrite();
        this.schedule(2 + this.rng.int(8), writeLoop);
      };
      this.schedule(50, writeLoop);
      const readLoop = (): void => {
        if (!this.clients || this.options.noReads) return;
        this.clientRead();
        this.schedule(10 + this.rng.int(40), readLoop);
      };
      this.schedule(50, readLoop);
      this.schedule(chaosMs, () => {
        this.chaos = false;
        this.healNetwork();
        this.dropRate = 0;
        this.dupRate = 0;
        for (const n of this.nodes.values()) this.restart(n);
      });
      this.schedule(chaosMs + healMs / 2, () => {
        this.clients = false;
      });
      const end = chaosMs + healMs;
      for (;;) {
        const ev = this.queue.pop();
        if (ev === undefined || ev.time > end) break;
        this.now = ev.time;
        this.stats.events++;
        ev.run();
      }
      this.finalChecks();
      return { seed: this.options.seed, ok: true, trace: this.traceTail(), stats: this.stats };
    } catch (err) {
      if (!(err instanceof SimFailure)) {
        const message = err instanceof Error ? `exception: ${err.message}` : 'exception';
        this.trace(`FAIL ${message}`);
        return { seed: this.options.seed, ok: false, failure: message, trace: this.traceTail(), stats: this.stats };
      }
      return { seed: this.options.seed, ok: false, failure: err.message, trace: this.traceTail(), stats: this.stats };
    }
  }

  private finalChecks(): void {
    const lead = this.leader();
    const raft = lead?.loop?.raw.raft;
    if (lead === undefined || raft === undefined) this.fail('liveness: no leader after healing');
    const conf = raft.confState();
    const members = [...conf.voters, ...conf.learners].map((id) => this.nodes.get(id));
    const commit = raft.log.committed;
    for (const n of members) {
      if (n?.loop === undefined) this.fail('liveness: a member is not running after healing');
      if (n.sm.applied !== commit) this.fail(`liveness: n${n.id} applied ${n.sm.applied}, leader n${lead.id} committed ${commit}`);
      if (n.loop.applied !== n.sm.applied) this.fail(`liveness: n${n.id}'s loop reports applied ${n.loop.applied}, its state machine is at ${n.sm.applied}`);
      this.checkPrefix(n.id, n.sm.writes, n.sm.applied, 'final state');
      const have = new Set(n.sm.writes);
      for (const [writeId, index] of this.acked) {
        if (!have.has(writeId)) this.fail(`acknowledged write w${writeId} (@${index}) lost on n${n.id}`);
      }
    }
  }
}

export function runSimulation(options: SimOptions): SimResult {
  return new Cluster(options).run();
}

/** Runs a seed fast; on failure replays it with tracing so the report carries the trace tail. */
export function runSeed(seed: number, overrides: Omit<SimOptions, 'seed'> = {}): SimResult {
  const result = runSimulation({ ...overrides, seed });
  if (result.ok || overrides.trace) return result;
  return runSimulation({ ...overrides, seed, trace: true });
}
