/**
 * Seeded whole-cluster simulation of the Raft core in virtual time.
 *
 * Each simulated host owns a MemoryStorage (what is durable), a RawNode, and a
 * state machine (the list of applied write ids, durable at apply like the graph
 * database's SQLite transaction). A Ready is persisted after a simulated disk
 * delay; only then are its messages sent and its entries applied. A crash drops
 * the RawNode and any Ready not yet persisted. The network drops, delays,
 * duplicates and reorders messages and can be cut symmetrically or in one
 * direction. Everything random comes from one seeded PRNG, so a seed replays
 * exactly.
 */
import type { ConfState, Entry, Message, NodeId, Ready } from '../../storage-node/raft/index.js';
import { applyConfChange, decodeConfChange, MemoryStorage, Prng, RawNode } from '../../storage-node/raft/index.js';

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
  /** Deliberately broken host: acknowledge a write as soon as the leader accepts it (before commit). */
  ackBeforeCommit?: boolean;
  /** Deliberately broken host: send a Ready's messages before persisting it. */
  sendBeforePersist?: boolean;
  /** No linearizable reads (so a broken ack shows up as a lost write, not a stale read). */
  noReads?: boolean;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  failure?: string;
  /** Last trace lines (only with trace: true). */
  trace: string[];
  stats: { events: number; acked: number; proposed: number; elections: number; snapshots: number; crashes: number; reads: number; confChanges: number };
}

const TICK_MS = 10;
const TRACE_KEEP = 60;
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

  get size(): number {
    return this.heap.length;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

interface SimNode {
  readonly id: NodeId;
  /** The durable log, hard state and snapshot. */
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  incarnation: number;
  pending: Ready | undefined;
  /** State machine (durable at apply): write ids in applied order, the applied index, membership as applied. */
  sm: number[];
  appliedIndex: number;
  conf: ConfState;
  /** Initial members bootstrap again if they crash before persisting anything. */
  readonly bootstrapVoters: readonly NodeId[];
  decommissioned: boolean;
  /** Last (term, lastIndex, lastTerm) seen while leader, for the append-only check. */
  leaderMark: { term: number; lastIndex: number; lastTerm: number } | undefined;
}

function encodeWrite(id: number): Uint8Array {
  return encoder.encode(String(id));
}

function decodeWrite(data: Uint8Array): number {
  return Number(decoder.decode(data));
}

function encodeSm(sm: readonly number[]): Uint8Array {
  return encoder.encode(JSON.stringify(sm));
}

function decodeSm(data: Uint8Array): number[] {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (!Array.isArray(parsed)) throw new SimFailure('snapshot data is not a list');
  return parsed.map((v) => Number(v));
}

export class Cluster {
  readonly rng: Prng;
  now = 0;
  private readonly queue = new EventQueue();
  readonly nodes = new Map<NodeId, SimNode>();
  private nextNodeId: number;
  private readonly options: SimOptions;
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
  private readonly pendingWrites = new Map<string, { writeId: number; term: number }>();
  readonly acked = new Map<number, number>();
  private maxAckedIndex = 0;
  private readonly pendingReads = new Map<string, { node: NodeId; incarnation: number; minIndex: number }>();
  private nextWriteId = 1;
  private nextReadId = 1;
  stats = { events: 0, acked: 0, proposed: 0, elections: 0, snapshots: 0, crashes: 0, reads: 0, confChanges: 0 };

  constructor(options: SimOptions) {
    this.options = options;
    this.rng = new Prng(options.seed);
    const size = options.nodes ?? (this.rng.chance(0.5) ? 3 : 5);
    const voters: NodeId[] = [];
    for (let i = 1; i <= size; i++) voters.push(i);
    this.nextNodeId = size + 1;
    for (const id of voters) this.startNode(id, voters);
  }

  trace(line: string | (() => string)): void {
    if (!this.options.trace) return;
    this.traceLines.push(`${String(this.now).padStart(6)} ${typeof line === 'string' ? line : line()}`);
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
    const node: SimNode = {
      id,
      storage: new MemoryStorage(),
      raw: undefined,
      incarnation: 0,
      pending: undefined,
      sm: [],
      appliedIndex: 0,
      conf: { voters: [], learners: [] },
      bootstrapVoters,
      decommissioned: false,
      leaderMark: undefined,
    };
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: SimNode): void {
    node.incarnation++;
    node.pending = undefined;
    node.leaderMark = undefined;
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      electionTick: 10,
      heartbeatTick: 2,
      random: this.rng.fork(),
      voters: node.bootstrapVoters,
      applied: node.appliedIndex,
      maxSizePerMsg: 64,
      maxEntriesPerMsg: 8,
      maxInflight: 4,
      maxSnapshotChunkBytes: 96,
      preVote: true,
      checkQuorum: true,
    });
    const inc = node.incarnation;
    const tick = (): void => {
      if (node.raw === undefined || node.incarnation !== inc) return;
      node.raw.tick();
      this.drive(node);
      this.schedule(TICK_MS, tick);
    };
    this.schedule(1 + this.rng.int(TICK_MS), tick);
    this.trace(`n${node.id} boot inc=${inc} applied=${node.appliedIndex}`);
    this.drive(node);
  }

  crash(node: SimNode): void {
    if (node.raw === undefined) return;
    this.stats.crashes++;
    this.trace(() => `n${node.id} CRASH (unpersisted ready dropped: ${node.pending !== undefined})`);
    node.raw = undefined;
    node.pending = undefined;
    node.incarnation++;
  }

  restart(node: SimNode): void {
    if (node.raw !== undefined || node.decommissioned) return;
    this.boot(node);
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw !== undefined);
  }

  leaders(): SimNode[] {
    return this.live().filter((n) => n.raw?.raft.role === 'leader');
  }

  /** The leader with the highest term (there may be stale ones). */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.leaders()) if (best === undefined || (n.raw?.raft.term ?? 0) > (best.raw?.raft.term ?? 0)) best = n;
    return best;
  }

  // ---- host loop ----

  private drive(node: SimNode): void {
    const raw = node.raw;
    if (raw === undefined) return;
    this.checkLeader(node);
    if (node.pending !== undefined || !raw.hasReady()) return;
    const rd = raw.ready();
    node.pending = rd;
    const inc = node.incarnation;
    if (this.options.sendBeforePersist) this.sendAll(node, rd.messages);
    this.schedule(this.rng.int(4), () => {
      if (node.incarnation !== inc || node.pending !== rd) return;
      this.persistAndApply(node, rd);
    });
  }

  private persistAndApply(node: SimNode, rd: Ready): void {
    const raw = node.raw;
    if (raw === undefined) return;
    if (rd.snapshot !== undefined) {
      node.storage.applySnapshot(rd.snapshot);
      const sm = decodeSm(rd.snapshot.data);
      this.checkPrefix(node.id, sm, rd.snapshot.meta.index, 'snapshot');
      node.sm = sm;
      node.appliedIndex = rd.snapshot.meta.index;
      node.conf = rd.snapshot.meta.confState;
      this.stats.snapshots++;
      this.trace(`n${node.id} installed snapshot @${rd.snapshot.meta.index}`);
    }
    if (rd.entries.length > 0) {
      node.storage.append(rd.entries);
      this.recordEntries(node, rd.entries);
    }
    if (rd.hardState !== undefined) node.storage.setHardState(rd.hardState);
    if (!this.options.sendBeforePersist) this.sendAll(node, rd.messages);
    for (const e of rd.committedEntries) this.apply(node, e);
    for (const rs of rd.readStates) this.readDone(node, rs.index, rs.ctx);
    raw.advance(rd);
    node.pending = undefined;
    this.maybeCompact(node);
    this.drive(node);
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index <= node.appliedIndex) return;
    if (e.index !== node.appliedIndex + 1) this.fail(`n${node.id} applied ${e.index} after ${node.appliedIndex}`);
    const writeId = e.type === 'normal' && e.data.byteLength > 0 ? decodeWrite(e.data) : -1;
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
    }
    node.appliedIndex = e.index;
    if (writeId >= 0) node.sm.push(writeId);
    if (e.type === 'confChange') {
      const change = decodeConfChange(e.data);
      node.conf = applyConfChange(node.conf, change);
      if (change.type === 'removeNode') this.scheduleDecommission(change.nodeId);
    }
    if (node.sm.length !== this.canonWritesUpTo[e.index]) this.fail(`n${node.id} state machine holds ${node.sm.length} writes at ${e.index}`);
    const key = `${node.id}:${node.incarnation}:${e.index}`;
    const pending = this.pendingWrites.get(key);
    if (pending !== undefined) {
      this.pendingWrites.delete(key);
      if (pending.term === e.term && !this.options.ackBeforeCommit) this.ack(pending.writeId, e.index);
    }
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
      const lead = this.leader();
      const conf = lead?.raw?.raft.confState();
      if (conf !== undefined && (conf.voters.includes(id) || conf.learners.includes(id))) return;
      this.trace(`n${id} decommissioned`);
      node.decommissioned = true;
      this.crash(node);
    });
  }

  private sendAll(node: SimNode, messages: readonly Message[]): void {
    for (const m of messages) this.send(m);
  }

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
    if (node === undefined || node.raw === undefined) return;
    this.trace(() => `n${m.from}->n${m.to} ${m.type} t${m.term} i${m.index}/${m.logTerm} c${m.commit} n=${m.entries.length}${m.reject ? ' REJ' : ''}${m.context ? ` ctx=${m.context}` : ''}${m.chunk ? ` chunk@${m.chunk.offset}+${m.chunk.data.byteLength}${m.chunk.done ? ' done' : ''}` : ''}${m.type === 'snapResp' ? ` got=${m.rejectHint}` : ''}`);
    node.raw.step(m);
    this.drive(node);
  }

  // ---- checks ----

  private checkLeader(node: SimNode): void {
    const raft = node.raw?.raft;
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
    const log = node.raw?.raft.log;
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
      const identity = `${e.type}:${e.type === 'normal' && e.data.byteLength > 0 ? decodeWrite(e.data) : decoder.decode(e.data)}<${prevTerm ?? '?'}`;
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

  private checkPrefix(id: NodeId, sm: readonly number[], index: number, what: string): void {
    const expected = this.canonWritesUpTo[index];
    if (expected === undefined || sm.length !== expected) this.fail(`n${id} ${what} @${index} has ${sm.length} writes, expected ${expected}`);
    for (let i = 0; i < sm.length; i++) {
      if (sm[i] !== this.canonWrites[i]) this.fail(`n${id} ${what} diverges at write #${i}`);
    }
  }

  private maybeCompact(node: SimNode): void {
    const storage = node.storage;
    if (node.appliedIndex - storage.firstIndex() < 60) return;
    if (!this.rng.chance(0.3)) return;
    storage.createSnapshot(node.appliedIndex, node.conf, encodeSm(node.sm));
    storage.compact(node.appliedIndex - this.rng.int(5));
    this.trace(`n${node.id} compacted to ${storage.firstIndex() - 1}`);
  }

  // ---- clients ----

  private clientWrite(): void {
    const leaders = this.leaders();
    const target = leaders[this.rng.int(leaders.length)];
    if (target?.raw === undefined) return;
    const writeId = this.nextWriteId++;
    const result = target.raw.propose(encodeWrite(writeId));
    if (!result.accepted) return;
    this.stats.proposed++;
    this.trace(`client w${writeId} -> n${target.id} @${result.index}/t${result.term}`);
    if (this.options.ackBeforeCommit) this.ack(writeId, result.index);
    else this.pendingWrites.set(`${target.id}:${target.incarnation}:${result.index}`, { writeId, term: result.term });
    this.drive(target);
  }

  private clientRead(): void {
    const live = this.live();
    const target = live[this.rng.int(live.length)];
    if (target?.raw === undefined) return;
    const ctx = `r${this.nextReadId++}`;
    const result = target.raw.readIndex(ctx);
    if (!result.accepted) return;
    this.pendingReads.set(ctx, { node: target.id, incarnation: target.incarnation, minIndex: this.maxAckedIndex });
    this.drive(target);
  }

  private readDone(node: SimNode, index: number, ctx: string): void {
    const read = this.pendingReads.get(ctx);
    if (read === undefined || read.node !== node.id || read.incarnation !== node.incarnation) return;
    this.pendingReads.delete(ctx);
    this.stats.reads++;
    // Linearizable read: its read point covers every write acknowledged before it was asked.
    if (index < read.minIndex) this.fail(`read ${ctx} at n${node.id} got index ${index} < acked ${read.minIndex}`);
  }

  // ---- faults ----

  private injectFault(): void {
    const all = [...this.nodes.values()].filter((n) => !n.decommissioned);
    const pick = (): SimNode | undefined => all[this.rng.int(all.length)];
    const roll = this.rng.int(100);
    if (roll < 18) {
      const n = pick();
      if (n?.raw === undefined) return;
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
      for (const b of all) if (b !== l) {
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
      const l = this.leader();
      const voters = l?.raw?.raft.confState().voters ?? [];
      const to = voters[this.rng.int(voters.length)];
      if (l?.raw === undefined || to === undefined) return;
      const r = l.raw.transferLeadership(to);
      this.trace(`transfer n${l.id} -> n${to}: ${r.accepted}`);
      this.drive(l);
    } else if (roll < 84) {
      this.changeMembership();
    } else {
      this.healNetwork();
    }
  }

  private changeMembership(): void {
    const l = this.leader();
    const raw = l?.raw;
    if (l === undefined || raw === undefined) return;
    const conf = raw.raft.confState();
    const roll = this.rng.int(3);
    if (roll === 0 && conf.learners.length === 0 && conf.voters.length < 6) {
      const id = this.nextNodeId++;
      const r = raw.proposeConfChange({ type: 'addLearner', nodeId: id });
      this.trace(`conf addLearner n${id}: ${r.accepted}`);
      if (!r.accepted) return;
      this.stats.confChanges++;
      this.startNode(id, []);
    } else if (roll === 1 && conf.learners.length > 0) {
      const id = conf.learners[0] as NodeId;
      const r = raw.proposeConfChange({ type: 'addVoter', nodeId: id });
      this.trace(`conf promote n${id}: ${r.accepted}`);
      if (r.accepted) this.stats.confChanges++;
    } else if (roll === 2 && conf.voters.length > 3) {
      const id = conf.voters[this.rng.int(conf.voters.length)] as NodeId;
      const r = raw.proposeConfChange({ type: 'removeNode', nodeId: id });
      this.trace(`conf remove n${id}: ${r.accepted}`);
      if (r.accepted) this.stats.confChanges++;
    }
    this.drive(l);
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
    if (lead?.raw === undefined) this.fail('liveness: no leader after healing');
    const conf = lead.raw.raft.confState();
    const members = [...conf.voters, ...conf.learners].map((id) => this.nodes.get(id));
    const commit = lead.raw.raft.log.committed;
    for (const n of members) {
      if (n === undefined || n.raw === undefined) this.fail('liveness: a member is not running after healing');
      if (n.appliedIndex !== commit) this.fail(`liveness: n${n.id} applied ${n.appliedIndex}, leader n${lead.id} committed ${commit}`);
      this.checkPrefix(n.id, n.sm, n.appliedIndex, 'final state');
      const have = new Set(n.sm);
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
