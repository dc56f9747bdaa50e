/**
 * A synchronous in-memory network for unit tests of the Raft core (etcd's
 * `network` in raft_test.go, in spirit): hosts persist each Ready into a
 * MemoryStorage at once, messages are queued and delivered in order unless a
 * link is cut or a filter drops them.
 */
import type { Entry, Message, NodeId, RaftConfig, ReadState } from '../../storage-node/raft/index.js';
import { MemoryStorage, Prng, RawNode } from '../../storage-node/raft/index.js';

export interface TestHost {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode;
  /** Committed entries applied, in order (reset to empty by a snapshot install). */
  applied: Entry[];
  appliedIndex: number;
  readStates: ReadState[];
  snapshotsInstalled: number;
}

export type NetworkConfig = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

export class TestNetwork {
  readonly hosts = new Map<NodeId, TestHost>();
  readonly queue: Message[] = [];
  /** Every message delivered, in order. */
  readonly delivered: Message[] = [];
  private readonly cutLinks = new Set<string>();
  /** Return true to drop a message. */
  dropIf: ((m: Message) => boolean) | undefined;
  private readonly rng: Prng;

  constructor(
    voters: readonly NodeId[],
    readonly config: NetworkConfig = {},
    seed = 1,
    learners: readonly NodeId[] = [],
  ) {
    this.rng = new Prng(seed);
    for (const id of [...voters, ...learners]) this.addHost(id, voters, learners);
  }

  addHost(id: NodeId, voters: readonly NodeId[] = [], learners: readonly NodeId[] = []): TestHost {
    const storage = new MemoryStorage();
    const host: TestHost = {
      id,
      storage,
      raw: this.makeRaw(id, storage, voters, learners, 0),
      applied: [],
      appliedIndex: 0,
      readStates: [],
      snapshotsInstalled: 0,
    };
    this.hosts.set(id, host);
    return host;
  }

  private makeRaw(id: NodeId, storage: MemoryStorage, voters: readonly NodeId[], learners: readonly NodeId[], applied: number): RawNode {
    return new RawNode({
      electionTick: 10,
      heartbeatTick: 1,
      preVote: false,
      checkQuorum: false,
      ...this.config,
      id,
      storage,
      random: this.rng.fork(),
      voters,
      learners,
      applied,
    });
  }

  /** Simulates a crash and restart from what was persisted. */
  restart(id: NodeId): void {
    const host = this.host(id);
    host.raw = this.makeRaw(id, host.storage, [], [], host.appliedIndex);
  }

  host(id: NodeId): TestHost {
    const host = this.hosts.get(id);
    if (host === undefined) throw new Error(`no host ${id}`);
    return host;
  }

  raft(id: NodeId): RawNode['raft'] {
    return this.host(id).raw.raft;
  }

  cut(a: NodeId, b: NodeId): void {
    this.cutLinks.add(`${a}>${b}`);
    this.cutLinks.add(`${b}>${a}`);
  }

  uncut(a: NodeId, b: NodeId): void {
    this.cutLinks.delete(`${a}>${b}`);
    this.cutLinks.delete(`${b}>${a}`);
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cutLinks.add(`${from}>${to}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.hosts.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.cutLinks.clear();
  }

  /** Handles one Ready of `host` as a host would: persist, send, apply, advance. */
  private handleReady(host: TestHost): void {
    const rd = host.raw.ready();
    if (rd.snapshot !== undefined) {
      host.storage.applySnapshot(rd.snapshot);
      host.applied = [];
      host.appliedIndex = rd.snapshot.meta.index;
      host.snapshotsInstalled++;
    }
    host.storage.append(rd.entries);
    if (rd.hardState !== undefined) host.storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    for (const e of rd.committedEntries) {
      host.applied.push(e);
      host.appliedIndex = e.index;
    }
    host.readStates.push(...rd.readStates);
    host.raw.advance(rd);
  }

  /** Processes Readies and delivers messages until nothing moves. */
  stabilize(maxSteps = 100_000): void {
    for (let steps = 0; steps < maxSteps; steps++) {
      let moved = false;
      for (const host of this.hosts.values()) {
        while (host.raw.hasReady()) {
          this.handleReady(host);
          moved = true;
        }
      }
      const m = this.queue.shift();
      if (m !== undefined) {
        moved = true;
        this.deliver(m);
      }
      if (!moved) return;
    }
    throw new Error('network did not stabilize');
  }

  private deliver(m: Message): void {
    if (this.cutLinks.has(`${m.from}>${m.to}`)) return;
    if (this.dropIf?.(m)) return;
    const host = this.hosts.get(m.to);
    if (host === undefined) return;
    this.delivered.push(m);
    host.raw.step(m);
  }

  /** Ticks every host `n` times, stabilizing after each round. */
  tick(n = 1, only?: readonly NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const host of this.hosts.values()) if (only === undefined || only.includes(host.id)) host.raw.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.host(id).raw.campaign();
    this.stabilize();
  }

  /** Ticks until some node is leader; returns it. */
  electLeader(maxTicks = 200): NodeId {
    for (let i = 0; i < maxTicks; i++) {
      const lead = this.leader();
      if (lead !== undefined) return lead;
      this.tick();
    }
    throw new Error('no leader elected');
  }

  /** The leader with the highest term among hosts that believe they lead. */
  leader(): NodeId | undefined {
    let best: TestHost | undefined;
    for (const h of this.hosts.values()) {
      if (h.raw.raft.role === 'leader' && (best === undefined || h.raw.raft.term > best.raw.raft.term)) best = h;
    }
    return best?.id;
  }

  propose(id: NodeId, text: string): ReturnType<RawNode['propose']> {
    const result = this.host(id).raw.propose(new TextEncoder().encode(text));
    this.stabilize();
    return result;
  }

  /** The full log of a host (stable and unstable), for property checks. */
  logOf(id: NodeId): Entry[] {
    const log = this.raft(id).log;
    return log.slice(log.firstIndex(), log.lastIndex() + 1, Infinity) ?? [];
  }

  appliedText(id: NodeId): string[] {
    return this.host(id).applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0).map((e) => new TextDecoder().decode(e.data));
  }
}
