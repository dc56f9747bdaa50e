/**
 * A storage node: the host loop around the pure Raft core.
 *
 * Every tick (and whenever a message, proposal or read arrives) the loop
 * drains Raft's Ready batches: send the leader's appends and heartbeats, hand
 * committed entries to the apply worker, resolve ReadIndex reads, and start
 * the write of hard state and entries on the log's writer thread (one fsync);
 * when that write is durable, send the messages that vouch for it (append and
 * vote responses) and advance. While a write is in flight the loop keeps
 * serving: messages and proposals that arrive meanwhile wait in the core and
 * form the next batch (group commit at the disk's pace), and appends and
 * heartbeats still go out. The Raft thread thus never waits on a disk and
 * never runs a query: applying is done in order by the apply worker, reads by
 * a pool of read workers, so neither a long statement nor a slow fsync
 * delays a heartbeat.
 *
 * A client's write is acknowledged according to the replication mode
 * (replication/modes.ts); its result comes from the leader's apply. A write
 * whose log entry is overwritten after a leader change fails with NOT_LEADER
 * and can be retried with the same request id: the replicated request table
 * makes it apply once.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DurableLog } from './log/durable-log.js';
import type { BatchTotals } from './log/durable-log.js';
import { emptyStats } from './graph/transaction.js';
import { RawNode, Prng, NO_NODE, decodeConfChange } from './raft/index.js';
import type { Entry, Message, Ready, Status } from './raft/index.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { RAFT_STREAM_PATH, Transport } from './transport/transport.js';
import type { TransportLogger } from './transport/transport.js';
import { encodeCommand } from './replication/command.js';
import { DEFAULT_REPLICATION, isAcknowledged, majority, validateSetting } from './replication/modes.js';
import type { ReplicationSettings } from './replication/modes.js';
import { MemberDirectory, raftIdOf } from './replication/members.js';
import type { MemberSpec } from './replication/members.js';
import type { ApplyOutcome, EntryToApply, SerializedResult, WireResult } from './replication/state-machine.js';
import { packEntries } from './replication/packed-entries.js';
import type { AppliedBatch } from './replication/apply-worker.js';
import type { ReadCall, ReadWorkerData } from './replication/read-worker.js';
import { SharedNodeView, replicaLagMs } from './replication/node-view.js';
import type { LaneToMain } from './api/read-lane.js';
import { startTsWorker, WorkerCallError, WorkerClient } from './replication/worker-rpc.js';
import { ErrorCode, GeodeError } from '../shared/protocol/errors.js';
import type { ErrorBody } from '../shared/protocol/errors.js';
import { newRequestId } from '../shared/protocol/request-id.js';
import type { ClusterSetStatement } from '../shared/gql/ast.js';

export type Consistency = 'linearizable' | 'leader' | 'bounded' | 'any';

export interface StorageNodeOptions {
  name: string;
  dataDir: string;
  /** Every member of the group, this node included. */
  members: MemberSpec[];
  clusterSecret: string;
  clusterId?: string;
  /** Replication settings used until a `SET CLUSTER ...` statement overrides them. */
  replication?: Partial<ReplicationSettings>;
  /** Raft tick length; heartbeat = heartbeatTicks ticks, election timeout in [electionTicks, 2*electionTicks) ticks. */
  tickMs?: number;
  heartbeatTicks?: number;
  electionTicks?: number;
  /**
   * Applied entries between snapshots (log compaction); default DEFAULT_SNAPSHOT_ENTRIES. A snapshot
   * copies the whole graph, so its cost grows with the graph while the log it frees does not: taken
   * too often it dominates a busy node's work (at 10,000 it cost a write benchmark a tenth of its
   * throughput and doubled its p99). 100,000 is also etcd's default `--snapshot-count`. The price is
   * memory: the log's mirror holds up to this many entries (plus `keepEntries`) between snapshots.
   */
  snapshotEntries?: number;
  /** Entries kept in the log behind a snapshot, so slightly lagging followers catch up without one. */
  keepEntries?: number;
  readWorkers?: number;
  /**
   * Give each read worker a read lane (api/read-lane.ts): its own query stream on a system-chosen port
   * of this host (the node's listen host). Absent: no lanes; every read goes through the main thread.
   */
  readLanes?: { host: string };
  /** `off` skips fsync (benchmarks of non-durable setups only). */
  sync?: 'full' | 'off';
  /**
   * Per-statement memory budget in bytes (the config's `query_memory_limit`): reads on this node use it,
   * and as leader it is stamped into each write's log entry so every replica applies the write under the
   * same budget. Default DEFAULT_STATEMENT_MEMORY_BYTES.
   */
  statementMemoryBytes?: number;
  logger: TransportLogger & { error(obj: object, msg: string): void; debug?(obj: object, msg: string): void };
}

export interface WriteRequest {
  query: string;
  params: Record<string, unknown>;
  requestId?: string | undefined;
  timeoutMs: number;
  /** The statement returns rows, so every mode waits for apply. */
  returnsRows: boolean;
  /** For `SET CLUSTER ...`: validated against the membership before proposing. */
  clusterSetting?: ClusterSetStatement | undefined;
}

export interface ReadRequest {
  query: string;
  params: Record<string, unknown>;
  consistency: Consistency;
  maxLagMs?: number | undefined;
  afterIndex?: number | undefined;
  timeoutMs: number;
  /** The statement reads the `system.*` views, which this node fills from its view of the cluster. */
  systemView?: boolean;
}

export interface ResultMeta {
  node: string;
  role: NodeRole;
  term: number;
  index: number;
  applied_index: number;
  /** False when the mode answered before the entry was applied (asynchronous / semi-synchronous writes without rows). */
  applied?: boolean;
  request_id?: string;
}

export type NodeRole = 'primary' | 'standby' | 'learner' | 'candidate';

export interface NodeStatusEntry {
  id: string;
  role: NodeRole | 'unknown';
  status: 'healthy' | 'unreachable' | 'unknown';
  replication_lag: number;
  applied_index: number | null;
  match_index: number | null;
  region: string | null;
  url: string;
  voter: boolean;
}

export interface ClusterStatus {
  cluster_id: string;
  node: string;
  nodes: NodeStatusEntry[];
  quorum_status: 'healthy' | 'degraded' | 'lost';
  term: number;
  leader: string | null;
  leader_url: string | null;
  commit_index: number;
  applied_index: number;
  replication: { mode: string; quorum_size: number; sync_replicas: number };
}

interface PendingWrite {
  index: number;
  term: number;
  requestId: string;
  returnsRows: boolean;
  outcome: ApplyOutcome | undefined;
  resolve: (value: { result: WireResult; meta: ResultMeta }) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface IndexWaiter {
  index: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Reads of one turn that share a message to one read worker (see pickReadWorker). */
const READ_BATCH = 8;
/** Entries per apply call at most: a node catching up applies in bounded transactions. */
const MAX_APPLY_BATCH = 1024;

/** Per-statement memory budget unless the config says otherwise (see StorageNodeOptions.statementMemoryBytes). */
export const DEFAULT_STATEMENT_MEMORY_BYTES = 256 * 1024 * 1024;

/** Applied entries between two snapshots unless the config says otherwise (see StorageNodeOptions.snapshotEntries). */
export const DEFAULT_SNAPSHOT_ENTRIES = 100_000;

const emptyResult = (): WireResult => ({ columns: [], rows: [], stats: emptyStats(), kind: 'write' });

function geodeErrorFrom(body: ErrorBody['error']): GeodeError {
  const { code, message, position, detail, phase, ...extra } = body;
  return new GeodeError(code, message, {
    ...(position !== undefined ? { position } : {}),
    ...(detail !== undefined ? { detail } : {}),
    ...(phase !== undefined ? { phase } : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
  });
}

/** Errors thrown inside a worker come back as WorkerCallError; turn them into GeodeErrors again. */
function fromWorkerError(err: unknown): Error {
  if (err instanceof WorkerCallError && typeof err.body.code === 'string') {
    return geodeErrorFrom(err.body as ErrorBody['error']);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export class StorageNode extends EventEmitter {
  readonly name: string;
  readonly id: number;
  readonly clusterId: string;
  private readonly members: MemberDirectory;
  private readonly membersPath: string;
  private readonly log: DurableLog;
  private raft!: RawNode;
  private transport: Transport | undefined;
  private applyWorker!: WorkerClient;
  private readWorkers: WorkerClient[] = [];
  /** Per read worker (same positions): its lane's channel and, once it listens, port. */
  private lanes: ({ channel: MessagePort; port: number | undefined } | undefined)[] = [];
  private laneAttach: ((channel: MessagePort) => void) | undefined;
  /** What read lanes need to answer on their own; see publishView(). */
  private readonly view = new SharedNodeView();
  /**
   * Statement seeds (randomUUID(), rand()): a random prefix drawn once per process plus a counter, so
   * every statement gets its own stream without a call into the CSPRNG on the hot path. The seed is
   * mixed into a PRNG state (graph/prng.ts); it fixes randomness for replay, it is not a secret.
   */
  private readonly seedPrefix = randomBytes(8).toString('hex');
  private seedCounter = 0;
  private readonly graphPath: string;
  private readonly tickMs: number;
  private readonly electionTimeoutMs: number;
  private tickTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private drainScheduled = false;
  /** A Ready's log write is in flight on the writer thread; the next Ready waits for it. */
  private persisting = false;
  private running = false;
  private stopped = false;

  private baseSettings: ReplicationSettings;
  private replicated: Partial<ReplicationSettings> = {};
  private settings: ReplicationSettings;

  private applied = 0;
  /** Committed entries not yet handed to the apply worker (see dispatchCommitted). */
  private applyQueue: EntryToApply[] = [];
  /** An apply call is in flight. */
  private applying = false;
  /** Cumulative apply work, for metrics: calls to the apply worker, entries they carried, seconds they took there. */
  readonly applyStats: BatchTotals = { batches: 0, entries: 0, seconds: 0 };
  private readonly pending = new Map<number, PendingWrite>();
  private appliedWaiters: IndexWaiter[] = [];
  private readonly readIndexWaiters = new Map<string, { resolve: (index: number) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private status_: Status;
  private lastLeader = NO_NODE;
  /** Local clock (ms) of the last message from each peer. */
  private readonly lastHeard = new Map<number, number>();
  /** Leader view: local time each follower last held everything committed. */
  private readonly caughtUpAt = new Map<number, number>();
  /** Follower view: highest commit index the leader told us, and when we last had applied all of it. */
  private leaderCommitSeen = 0;
  private selfCaughtUpAt = Date.now();
  private snapshotting = false;
  private lastLagSignature = '';

  failovers = 0;

  constructor(private readonly options: StorageNodeOptions) {
    super();
    this.setMaxListeners(0);
    this.name = options.name;
    this.id = raftIdOf(options.name);
    this.clusterId = options.clusterId ?? 'geode';
    mkdirSync(options.dataDir, { recursive: true });
    this.membersPath = join(options.dataDir, 'members.json');
    // Members added at run time are remembered here; the config's members are the starting point.
    this.members = new MemberDirectory([...options.members, ...this.loadAddedMembers()]);
    if (this.members.named(options.name) === undefined) throw new Error(`node ${options.name} is not among the members`);
    this.graphPath = join(options.dataDir, 'graph.db');
    this.log = DurableLog.open(join(options.dataDir, 'raft.db'), {
      sync: options.sync ?? 'full',
      writer: 'thread',
      onTornEntry: (index) => options.logger.warn({ index }, 'raft log: dropped torn entry'),
      onWriterExit: (err) => this.fatal('raft log writer thread died', err),
    });
    this.tickMs = options.tickMs ?? 50;
    this.electionTimeoutMs = this.tickMs * (options.electionTicks ?? 6);
    this.baseSettings = { ...DEFAULT_REPLICATION, ...options.replication };
    this.settings = this.baseSettings;
    // Until start() the node reports itself as a follower that knows no leader.
    this.status_ = { id: this.id, term: 0, vote: NO_NODE, commit: 0, applied: 0, lastIndex: 0, leader: NO_NODE, role: 'follower', confState: { voters: [], learners: [] }, progress: new Map() };
  }

  async start(): Promise<void> {
    this.applyWorker = new WorkerClient(startTsWorker(new URL('./replication/apply-worker.ts', import.meta.url), { graphPath: this.graphPath }), (err) => this.fatal('apply worker died', err), { post: 'now' });
    let info = await this.applyWorker.call<{ applied: number; settings: Partial<ReplicationSettings> }>('info');
    const snapshot = this.log.snapshot();
    if (info.applied < snapshot.meta.index) {
      // A crash between persisting a received snapshot and installing it: the log no longer holds those entries, so install it now.
      const path = join(this.options.dataDir, 'snapshot-in.db');
      writeFileSync(path, snapshot.data);
      info = await this.applyWorker.call('restore', { path });
      this.options.logger.info({ index: snapshot.meta.index }, 'installed the stored snapshot on start');
    }
    this.applied = info.applied;
    this.replicated = info.settings;
    this.settings = { ...this.baseSettings, ...this.replicated };
    const readCount = Math.max(1, this.options.readWorkers ?? 2);
    for (let i = 0; i < readCount; i++) this.readWorkers.push(this.startReadWorker(i));
    await Promise.all(this.readWorkers.map((w) => w.call('refresh')));

    const voters: number[] = [];
    const learners: number[] = [];
    // Only voters bootstrap the membership. A learner, whether listed in every node's config (the seed's
    // async_replicas) or joining a running cluster, starts with an empty log and takes the membership from
    // the leader's: bootstrapping its own view would commit entries that disagree with the cluster's log.
    if (this.members.named(this.name)?.learner !== true) {
      for (const m of this.members.all()) (m.learner === true ? learners : voters).push(raftIdOf(m.name));
    }
    this.raft = new RawNode({
      id: this.id,
      storage: this.log,
      electionTick: this.options.electionTicks ?? 6,
      heartbeatTick: this.options.heartbeatTicks ?? 2,
      random: new Prng(randomBytes(4).readUInt32LE(0)),
      voters,
      learners,
      // The commit index on disk may trail what was applied (commit-only changes are not fsynced); entries
      // between them are handed out again once the leader repeats the commit, and the state machine skips them.
      applied: Math.min(this.applied, this.log.lastIndex(), this.log.hardState().commit),
      preVote: true,
      checkQuorum: true,
      maxInflight: 256,
      maxSizePerMsg: 1024 * 1024,
    });
    this.status_ = this.raft.status();
    const peers = new Map<number, string>();
    for (const m of this.members.all()) if (m.name !== this.name) peers.set(raftIdOf(m.name), m.url);
    this.transport = new Transport({
      selfId: this.id,
      secret: this.options.clusterSecret,
      peers,
      logger: this.options.logger,
      onMessage: (m) => this.receive(m),
      // A leader whose process died is replaced at once, not after a full election timeout.
      onPeerDown: (id) => {
        this.raft.reportLeaderDown(id);
        this.scheduleDrain();
      },
    });
    this.tickTimer = setInterval(() => {
      this.raft.tick();
      this.scheduleDrain();
    }, this.tickMs);
    this.lagTimer = setInterval(() => this.publishLagIfChanged(), 100);
    this.running = true;
    this.publishView();
    this.scheduleDrain();
  }

  private startReadWorker(position: number): WorkerClient {
    const data: ReadWorkerData = { graphPath: this.graphPath };
    const transfer: MessagePort[] = [];
    this.lanes[position]?.channel.close();
    this.lanes[position] = undefined;
    if (this.options.readLanes !== undefined) {
      const { port1, port2 } = new MessageChannel();
      const lane: { channel: MessagePort; port: number | undefined } = { channel: port1, port: undefined };
      port1.on('message', (message: LaneToMain) => {
        if (message.kind === 'listening') lane.port = message.port;
        else if (message.kind === 'error' && lane.port === undefined) this.options.logger.error({ err: message.message }, 'read lane failed to start');
      });
      port1.unref();
      this.lanes[position] = lane;
      this.laneAttach?.(port1);
      data.lane = { host: this.options.readLanes.host, view: this.view.buffer, channel: port2, node: this.name };
      transfer.push(port2);
    }
    const worker = startTsWorker(new URL('./replication/read-worker.ts', import.meta.url), data, { transferList: transfer });
    return new WorkerClient(worker, (err) => {
      if (this.stopped) return;
      this.options.logger.error({ err: err.message }, 'read worker died; replacing it');
      const index = this.readWorkers.findIndex((w) => !w.alive);
      if (index >= 0) this.readWorkers[index] = this.startReadWorker(index);
    });
  }

  /** Ports of the read lanes that listen now, in worker order (empty without lanes). */
  readLanePorts(): number[] {
    const ports: number[] = [];
    this.lanes.forEach((lane, i) => {
      if (lane?.port !== undefined && this.readWorkers[i]?.alive === true) ports.push(lane.port);
    });
    return ports;
  }

  /**
   * Hands every read lane's channel (now and after a worker is replaced) to `attach`, which answers
   * the reads a lane forwards and takes its metrics (api/read-lanes.ts).
   */
  attachReadLanes(attach: (channel: MessagePort) => void): void {
    if (this.laneAttach === attach) return;
    this.laneAttach = attach;
    for (const lane of this.lanes) if (lane !== undefined) attach(lane.channel);
  }

  /**
   * Publishes what read lanes need (node-view.ts): after every drain of the Raft loop, after every
   * applied batch, and on start and stop, which is everywhere role, term, commit, applied index and
   * the lag inputs change.
   */
  private publishView(): void {
    if (this.options.readLanes === undefined) return;
    const role = this.roleOf(this.id);
    this.view.publish({
      serving: this.started,
      leader: this.isLeader,
      role: role === 'unknown' ? 'standby' : role,
      term: this.status_.term,
      commit: this.status_.commit,
      applied: this.applied,
      leaderCommitSeen: this.leaderCommitSeen,
      caughtUpAt: this.selfCaughtUpAt,
    });
  }

  /**
   * Upgrade handler for the Raft stream on the node's HTTP server; false when
   * the path is not the Raft stream. Before start() a peer's attempt is
   * refused and it retries with backoff.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (this.transport === undefined || this.stopped) {
      if ((request.url ?? '').startsWith(RAFT_STREAM_PATH)) {
        socket.destroy();
        return true;
      }
      return false;
    }
    return this.transport.handleUpgrade(request, socket, head);
  }

  // ---- the loop --------------------------------------------------------------

  private receive(m: Message): void {
    if (this.stopped) return;
    this.lastHeard.set(m.from, Date.now());
    if ((m.type === 'app' || m.type === 'heartbeat') && m.term >= this.status_.term) {
      if (m.commit > this.leaderCommitSeen) this.leaderCommitSeen = m.commit;
      this.noteSelfCaughtUp();
    }
    this.raft.step(m);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.stopped) return;
    this.drainScheduled = true;
    // setImmediate, not a microtask: proposals and messages that arrive meanwhile join the same batch (group commit).
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.stopped) return;
    if (this.persisting) {
      // The previous Ready's disk write is in flight on the log's writer thread: appends and heartbeats
      // still go out at once, everything else waits for the write and joins the next batch.
      const early = this.raft.takeMessages(LEADER_MESSAGES);
      if (early.length > 0) this.sendMessages(early);
      return;
    }
    while (this.raft.hasReady()) {
      const rd = this.raft.ready();
      const written = this.beforePersist(rd);
      if (written !== undefined) {
        this.persisting = true;
        written.then(
          () => {
            this.persisting = false;
            if (this.stopped) return;
            this.afterPersist(rd);
            this.raft.advance(rd);
            this.drain();
          },
          (err: unknown) => this.fatal('raft log write failed', err),
        );
        break;
      }
      this.afterPersist(rd);
      this.raft.advance(rd);
    }
    this.refreshStatus();
    this.checkAcks();
    this.publishView();
  }

  /**
   * The part of a Ready that need not wait for its disk write: leader messages
   * (a leader counts itself toward commit only once persisted, so followers'
   * fsyncs overlap its own; Raft thesis 10.2.1), addresses of new members,
   * committed entries (durable on a majority already; the state machine skips
   * what it applied before should this node crash and replay) and read
   * states. Then it starts the write; the promise is undefined when the
   * write is already done or nothing needed the disk.
   */
  private beforePersist(rd: Ready): Promise<void> | undefined {
    const early = rd.messages.filter((m) => LEADER_MESSAGES.has(m.type));
    if (early.length > 0) this.sendMessages(early);
    // Raft uses the latest configuration in the log, committed or not, so learn a new member's address on append.
    for (const e of rd.entries) if (e.type === 'confChange') this.learnMember(e);
    // With a snapshot to install, entries after it must reach the apply worker after the restore.
    if (rd.snapshot === undefined) this.dispatchCommitted(rd);
    for (const rs of rd.readStates) {
      const waiter = this.readIndexWaiters.get(rs.ctx);
      if (waiter === undefined) continue;
      this.readIndexWaiters.delete(rs.ctx);
      clearTimeout(waiter.timer);
      waiter.resolve(rs.index);
    }
    return this.log.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
  }

  /** What must follow the disk write: messages that vouch for our durable state, and a received snapshot. */
  private afterPersist(rd: Ready): void {
    if (rd.snapshot !== undefined) {
      this.installSnapshot(rd.snapshot.data, rd.snapshot.meta.index);
      this.dispatchCommitted(rd);
    }
    const late = rd.messages.filter((m) => !LEADER_MESSAGES.has(m.type));
    if (late.length > 0) this.sendMessages(late);
  }

  /**
   * Hands committed entries to the apply worker, one call at a time: entries
   * committed while a call is in flight wait and go together in the next one,
   * so the batch (one SQLite transaction, one hand-off each way) grows with
   * the load, as the log's group commit does. An idle worker gets entries at
   * once, and queued entries would have waited behind the call in flight
   * anyway, so this adds no latency.
   */
  private dispatchCommitted(rd: Ready): void {
    if (rd.committedEntries.length === 0) return;
    for (const e of rd.committedEntries) this.applyQueue.push(e);
    if (!this.applying) this.applyNext();
  }

  private applyNext(): void {
    if (this.applyQueue.length === 0 || this.stopped) return;
    const entries = this.applyQueue.length <= MAX_APPLY_BATCH ? this.applyQueue : this.applyQueue.slice(0, MAX_APPLY_BATCH);
    this.applyQueue = entries === this.applyQueue ? [] : this.applyQueue.slice(MAX_APPLY_BATCH);
    this.applying = true;
    // Outcomes matter only to writes waiting here (a leader's); a follower's apply sends none back.
    this.applyWorker.call<AppliedBatch>('apply', { entries: packEntries(entries), outcomes: this.pending.size > 0 }).then(
      (batch) => {
        this.applying = false;
        this.applyStats.batches++;
        this.applyStats.entries += entries.length;
        this.applyStats.seconds += batch.seconds;
        this.onApplied(batch);
        this.applyNext();
      },
      (err: unknown) => {
        this.applying = false;
        // The batch rolled back and its entries have left the queue: going on would apply the entries after
        // them and skip these for good. Stop instead; on restart the log hands them over again. (A statement's
        // own failure is an outcome, not an error: this is the database failing, a full disk for one.)
        // On shutdown the worker is terminated with calls in flight: not a failure worth reporting.
        this.fatal('apply failed', err);
      },
    );
  }

  /**
   * The node cannot go on safely (its log cannot be written, its entries cannot be applied): stop,
   * and let the supervisor restart it. Emits `fatal` for the host process to exit.
   */
  private fatal(what: string, err: unknown): void {
    if (this.stopped) return;
    this.options.logger.error({ err: err instanceof Error ? err.message : String(err) }, `${what}; stopping the node`);
    process.exitCode = 1;
    void this.stop({ transfer: false });
    // The host closes what else keeps the process up (the API server), so the process exits and is restarted.
    this.emit('fatal', what);
  }

  private sendMessages(messages: readonly Message[]): void {
    const now = Date.now();
    for (const m of messages) if (m.type === 'app' || m.type === 'heartbeat') m.leaderTime = now;
    this.transport?.send(messages);
  }

  private installSnapshot(data: Uint8Array, index: number): void {
    // Entries still waiting for the apply worker are covered by the snapshot (the state machine would skip them).
    this.applyQueue = this.applyQueue.filter((e) => e.index > index);
    const path = join(this.options.dataDir, 'snapshot-in.db');
    writeFileSync(path, data);
    this.options.logger.info({ index, bytes: data.byteLength }, 'installing snapshot from leader');
    this.applyWorker.call<{ applied: number; settings: Partial<ReplicationSettings> }>('restore', { path }).then(
      (restored) => {
        this.applied = restored.applied;
        this.setReplicated(restored.settings);
        for (const w of this.readWorkers) void w.call('reopen').catch(() => undefined);
        this.afterApplied();
      },
      (err: unknown) => this.options.logger.error({ err: String(err) }, 'snapshot restore failed'),
    );
  }

  private onApplied(batch: AppliedBatch): void {
    if (batch.applied > this.applied) this.applied = batch.applied;
    if (batch.schemaChanged) {
      for (const w of this.readWorkers) void w.call('refresh').catch(() => undefined);
      this.setReplicated(batch.settings);
    }
    for (const outcome of batch.outcomes) {
      const pending = this.pending.get(outcome.index);
      if (pending === undefined) continue;
      if (outcome.term !== pending.term || outcome.requestId !== pending.requestId) {
        // Our entry was overwritten by another leader's: it will never apply.
        this.finishPending(pending, new GeodeError(ErrorCode.NOT_LEADER, 'leadership changed before the write committed; retry with the same request_id', { extra: this.leaderExtra() }));
        continue;
      }
      pending.outcome = outcome;
    }
    this.afterApplied();
  }

  private afterApplied(): void {
    this.noteSelfCaughtUp();
    this.publishView();
    this.checkAcks();
    if (this.appliedWaiters.length > 0) {
      const still: IndexWaiter[] = [];
      for (const w of this.appliedWaiters) {
        if (w.index <= this.applied) {
          clearTimeout(w.timer);
          w.resolve();
        } else still.push(w);
      }
      this.appliedWaiters = still;
    }
    this.maybeSnapshot();
  }

  private setReplicated(settings: Partial<ReplicationSettings>): void {
    this.replicated = settings;
    const next = { ...this.baseSettings, ...settings };
    if (next.mode !== this.settings.mode || next.quorumSize !== this.settings.quorumSize || next.syncReplicas !== this.settings.syncReplicas) {
      this.settings = next;
      this.emitChange('settings');
    }
  }

  private noteSelfCaughtUp(): void {
    if (this.applied >= this.leaderCommitSeen) this.selfCaughtUpAt = Date.now();
  }

  private refreshStatus(): void {
    const previous = this.status_;
    const status = this.raft.status();
    this.status_ = status;
    if (status.role === 'leader') {
      const now = Date.now();
      for (const [id, pr] of status.progress) {
        if (id === this.id) continue;
        if (pr.match >= status.commit || !this.caughtUpAt.has(id)) this.caughtUpAt.set(id, now);
      }
    }
    const leaderChanged = status.leader !== previous.leader;
    if (leaderChanged && status.leader !== NO_NODE) {
      if (this.lastLeader !== NO_NODE && this.lastLeader !== status.leader) this.failovers++;
      this.lastLeader = status.leader;
    }
    if (status.role !== previous.role || status.leader !== previous.leader) this.logLeadership(previous, status);
    if (leaderChanged || status.term !== previous.term || status.role !== previous.role || !sameMembers(status, previous)) {
      if (previous.role === 'leader' && status.role !== 'leader') this.failReadIndexWaiters();
      this.emitChange('leader');
    }
  }

  /**
   * Elections are rare and each costs clients a pause, so every change of role or leader is
   * logged. Warnings: this node stops leading, or a follower loses the leader it had (heartbeats
   * stopped, its process or link went down, or leadership was handed over). Info: campaigning,
   * winning, and following a leader after having none (start-up, the end of an election).
   */
  private logLeadership(previous: Status, status: Status): void {
    const name = (id: number): string | null => (id === NO_NODE ? null : (this.members.byRaftId(id)?.name ?? String(id)));
    const fields = { term: status.term, role: status.role, leader: name(status.leader) };
    const roleChanged = status.role !== previous.role;
    const leaderChanged = status.leader !== previous.leader;
    const { logger } = this.options;
    if (roleChanged && previous.role === 'leader') logger.warn(fields, 'raft: no longer the leader');
    else if (leaderChanged && previous.leader !== NO_NODE && previous.leader !== this.id) {
      logger.warn({ ...fields, previous_leader: name(previous.leader) }, status.leader === NO_NODE ? 'raft: lost the leader' : 'raft: the leader changed');
    }
    if (roleChanged && previous.role === 'follower' && (status.role === 'preCandidate' || status.role === 'candidate')) logger.info(fields, 'raft: campaigning');
    else if (roleChanged && status.role === 'leader') logger.info(fields, 'raft: elected leader');
    else if (leaderChanged && previous.leader === NO_NODE && status.leader !== NO_NODE && status.leader !== this.id) logger.info(fields, 'raft: following a leader');
  }

  // ---- writes ---------------------------------------------------------------

  get isLeader(): boolean {
    return this.status_.role === 'leader';
  }

  private leaderExtra(): Record<string, unknown> {
    const leader = this.status_.leader;
    const member = leader === NO_NODE ? undefined : this.members.byRaftId(leader);
    return { leader_id: member?.name ?? null, leader_url: member?.url ?? null };
  }

  private notLeader(): GeodeError {
    const extra = this.leaderExtra();
    const message = extra['leader_id'] === null ? 'no leader is elected at the moment; retry shortly' : `not the leader; the leader is ${String(extra['leader_id'])}`;
    return new GeodeError(ErrorCode.NOT_LEADER, message, { extra });
  }

  /** True once start() has finished and until stop(). */
  get started(): boolean {
    return this.running && !this.stopped;
  }

  write(request: WriteRequest): Promise<{ result: WireResult; meta: ResultMeta }> {
    if (!this.started) return Promise.reject(new GeodeError(ErrorCode.OVERLOADED, this.stopped ? 'node is shutting down' : 'node is starting'));
    if (!this.isLeader) return Promise.reject(this.notLeader());
    if (request.clusterSetting !== undefined) {
      const problem = validateSetting(request.clusterSetting.setting, request.clusterSetting.value, this.status_.confState.voters.length);
      if (problem !== undefined) return Promise.reject(new GeodeError(ErrorCode.BAD_REQUEST, problem, { detail: 'InvalidClusterSetting' }));
    }
    const now = Date.now();
    const requestId = request.requestId ?? newRequestId(now);
    const data = encodeCommand({ kind: 'query', query: request.query, params: request.params, now, seed: this.nextSeed(), requestId, fresh: request.requestId === undefined });
    const proposed = this.raft.propose(data);
    if (!proposed.accepted) {
      if (proposed.reason === 'transferring') {
        return Promise.reject(new GeodeError(ErrorCode.NOT_LEADER, 'leadership is being transferred; retry shortly', { extra: this.leaderExtra() }));
      }
      return Promise.reject(this.notLeader());
    }
    this.scheduleDrain();
    return new Promise((resolve, reject) => {
      const pending: PendingWrite = {
        index: proposed.index,
        term: proposed.term,
        requestId,
        returnsRows: request.returnsRows,
        outcome: undefined,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.finishPending(
            pending,
            new GeodeError(ErrorCode.TIMEOUT, `write not acknowledged within ${request.timeoutMs} ms; its outcome is unknown, retry with the same request_id`, {
              extra: { request_id: requestId, index: proposed.index },
            }),
          );
        }, request.timeoutMs),
      };
      this.pending.set(proposed.index, pending);
    });
  }

  private finishPending(pending: PendingWrite, error: Error | undefined): void {
    if (this.pending.get(pending.index) !== pending) return;
    this.pending.delete(pending.index);
    clearTimeout(pending.timer);
    if (error !== undefined) {
      pending.reject(error);
      return;
    }
    const outcome = pending.outcome;
    const meta = { ...this.meta(pending.index), request_id: pending.requestId, applied: outcome !== undefined };
    if (outcome === undefined) {
      pending.resolve({ result: emptyResult(), meta });
    } else if (!outcome.ok) {
      pending.reject(geodeErrorFrom(outcome.error));
    } else {
      pending.resolve({ result: outcome.result ?? emptyResult(), meta });
    }
  }

  private checkAcks(): void {
    if (this.pending.size === 0) return;
    const status = this.status_;
    const leader = status.role === 'leader';
    const followerMatches = leader ? status.confState.voters.filter((v) => v !== this.id).map((v) => status.progress.get(v)?.match ?? 0) : [];
    const leaderDurable = this.log.lastIndex();
    for (const pending of [...this.pending.values()]) {
      const applied = pending.outcome !== undefined;
      let done: boolean;
      if (leader && pending.term === status.term) {
        done = isAcknowledged(this.settings, { index: pending.index, leaderDurable, followerMatches, applied, needsResult: pending.returnsRows });
      } else {
        // No longer leading: an applied entry of our term is committed by a majority, which is what we can still vouch for.
        done = applied;
      }
      if (done) this.finishPending(pending, undefined);
    }
  }

  // ---- reads ----------------------------------------------------------------

  async read(request: ReadRequest): Promise<{ result: SerializedResult; meta: ResultMeta }> {
    if (!this.started) throw new GeodeError(ErrorCode.OVERLOADED, this.stopped ? 'node is shutting down' : 'node is starting');
    const deadline = Date.now() + request.timeoutMs;
    switch (request.consistency) {
      case 'linearizable': {
        if (!this.isLeader) throw this.notLeader();
        const index = await this.readIndex(request.timeoutMs);
        await this.waitApplied(index, deadline);
        break;
      }
      case 'leader':
        if (!this.isLeader) throw this.notLeader();
        break;
      case 'bounded': {
        const bound = request.maxLagMs ?? 0;
        const lag = this.selfLagMs();
        if (lag > bound) {
          throw new GeodeError(ErrorCode.REPLICA_LAGGING, `replica ${this.name} lags ${lag} ms behind the leader, over the bound of ${bound} ms`, {
            extra: { lag_ms: lag, max_lag_ms: bound, ...this.leaderExtra() },
          });
        }
        break;
      }
      case 'any':
        break;
    }
    if (request.afterIndex !== undefined && request.afterIndex > this.applied) await this.waitApplied(request.afterIndex, deadline);
    const worker = this.pickReadWorker();
    const call: ReadCall = { query: request.query, params: request.params, now: Date.now(), seed: this.nextSeed(), deadline };
    if (request.systemView === true) call.views = this.systemViews();
    try {
      const result = await worker.call<SerializedResult>('read', call);
      return { result, meta: this.meta(this.status_.commit) };
    } catch (err) {
      throw fromWorkerError(err);
    }
  }

  private nextSeed(): string {
    this.seedCounter++;
    return `${this.seedPrefix}${this.seedCounter.toString(16)}`;
  }

  /**
   * The worker for a read: one that already has calls queued this turn while it has fewer than
   * READ_BATCH (they go in one message, so a frame of reads from the query stream costs one thread
   * hand-off instead of one per worker), else the one with the fewest calls outstanding.
   */
  private pickReadWorker(): WorkerClient {
    for (const w of this.readWorkers) if (w.alive && w.queued > 0 && w.queued < READ_BATCH) return w;
    let best = this.readWorkers[0] as WorkerClient;
    for (const w of this.readWorkers) if (w.alive && (w.inflight < best.inflight || !best.alive)) best = w;
    return best;
  }

  private readIndex(timeoutMs: number): Promise<number> {
    const ctx = randomBytes(8).toString('hex');
    const accepted = this.raft.readIndex(ctx);
    if (!accepted.accepted) return Promise.reject(this.notLeader());
    this.scheduleDrain();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readIndexWaiters.delete(ctx);
        reject(new GeodeError(ErrorCode.NO_QUORUM, 'leadership could not be confirmed by a quorum in time', { extra: this.leaderExtra() }));
      }, timeoutMs);
      this.readIndexWaiters.set(ctx, { resolve, reject, timer });
    });
  }

  private failReadIndexWaiters(): void {
    for (const [ctx, waiter] of this.readIndexWaiters) {
      clearTimeout(waiter.timer);
      waiter.reject(this.notLeader());
      this.readIndexWaiters.delete(ctx);
    }
  }

  /** Resolves once the applied index reaches `index`; TIMEOUT at the deadline. */
  waitApplied(index: number, deadline: number): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: IndexWaiter = {
        index,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.appliedWaiters = this.appliedWaiters.filter((w) => w !== waiter);
          reject(new GeodeError(ErrorCode.TIMEOUT, `applied index ${this.applied} did not reach ${index} in time`, { detail: 'AfterIndexNotReached', extra: { applied_index: this.applied } }));
        }, Math.max(0, deadline - Date.now())),
      };
      this.appliedWaiters.push(waiter);
    });
  }

  // ---- status ---------------------------------------------------------------

  /** Cumulative disk writes of the Raft log (see DurableLog.stats), for metrics. */
  get logStats(): BatchTotals {
    return this.log.stats;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get replicationSettings(): ReplicationSettings {
    return this.settings;
  }

  private roleOf(id: number): NodeRole | 'unknown' {
    const s = this.status_;
    if (s.confState.learners.includes(id)) return 'learner';
    if (id === s.leader) return 'primary';
    if (id === this.id) return s.role === 'candidate' || s.role === 'preCandidate' ? 'candidate' : 'standby';
    return s.confState.voters.includes(id) ? 'standby' : 'unknown';
  }

  meta(index: number): ResultMeta {
    const role = this.roleOf(this.id);
    return { node: this.name, role: role === 'unknown' ? 'standby' : role, term: this.status_.term, index, applied_index: this.applied };
  }

  /** This node's own lag behind the leader in ms: how long since it last had applied everything the leader had committed. */
  selfLagMs(): number {
    return replicaLagMs(this.isLeader, this.applied, this.leaderCommitSeen, this.selfCaughtUpAt, Date.now());
  }

  clusterStatus(): ClusterStatus {
    if (!this.running) throw new GeodeError(ErrorCode.OVERLOADED, 'node is starting');
    const s = this.status_;
    const now = Date.now();
    const leader = s.role === 'leader';
    const ids = [...new Set([...s.confState.voters, ...s.confState.learners])];
    const nodes: NodeStatusEntry[] = ids.map((id) => {
      const member = this.members.byRaftId(id);
      const self = id === this.id;
      const heard = this.lastHeard.get(id);
      const reachable = self || (heard !== undefined && now - heard < this.electionTimeoutMs * 2);
      const pr = s.progress.get(id);
      let lag: number;
      if (self) lag = this.selfLagMs();
      else if (leader && pr !== undefined) lag = pr.match >= s.commit ? 0 : now - (this.caughtUpAt.get(id) ?? now);
      else lag = id === s.leader ? 0 : -1;
      return {
        id: member?.name ?? String(id),
        role: this.roleOf(id),
        status: self || reachable ? 'healthy' : leader || id === s.leader ? 'unreachable' : 'unknown',
        replication_lag: lag,
        applied_index: self ? this.applied : null,
        match_index: pr?.match ?? (self ? this.log.lastIndex() : null),
        region: member?.region ?? null,
        url: member?.url ?? '',
        voter: s.confState.voters.includes(id),
      };
    });
    const healthyVoters = nodes.filter((n) => n.voter && n.status === 'healthy').length;
    const voters = s.confState.voters.length;
    let quorum: ClusterStatus['quorum_status'];
    if (s.leader === NO_NODE) quorum = 'lost';
    else if (!leader) quorum = 'healthy';
    else quorum = healthyVoters === voters ? 'healthy' : healthyVoters >= majority(voters) ? 'degraded' : 'lost';
    const leaderMember = s.leader === NO_NODE ? undefined : this.members.byRaftId(s.leader);
    return {
      cluster_id: this.clusterId,
      node: this.name,
      nodes,
      quorum_status: quorum,
      term: s.term,
      leader: leaderMember?.name ?? null,
      leader_url: leaderMember?.url ?? null,
      commit_index: s.commit,
      applied_index: this.applied,
      replication: { mode: this.settings.mode, quorum_size: this.settings.quorumSize, sync_replicas: this.settings.syncReplicas },
    };
  }

  /**
   * Rows of `system.replication_status` (one per member: lag, indexes) and
   * `system.cluster_nodes` (one per member: role, health, address), from
   * this node's view; the leader's view is the complete one.
   */
  systemViews(): Record<string, Record<string, unknown>[]> {
    const status = this.clusterStatus();
    return {
      replication_status: status.nodes.map((n) => ({
        node_id: n.id,
        role: n.role,
        replication_lag_ms: n.replication_lag < 0 ? null : n.replication_lag,
        applied_index: n.applied_index,
        match_index: n.match_index,
        status: n.status,
      })),
      cluster_nodes: status.nodes.map((n) => ({
        node_id: n.id,
        role: n.role,
        status: n.status,
        url: n.url,
        region: n.region,
        voter: n.voter,
        is_leader: n.id === status.leader,
      })),
    };
  }

  private emitChange(reason: string): void {
    this.emit('change', reason);
  }

  private publishLagIfChanged(): void {
    const status = this.clusterStatus();
    // Round to 50 ms so a steady stream of writes does not push an event every tick.
    const signature = status.nodes.map((n) => `${n.id}:${n.status}:${Math.round(n.replication_lag / 50)}`).join(',');
    if (signature !== this.lastLagSignature) {
      this.lastLagSignature = signature;
      this.emitChange('lag');
    }
  }

  // ---- admin ----------------------------------------------------------------

  /** Hands leadership to `target` (a member name); resolves when it leads or rejects after two election timeouts. */
  async transferLeadership(target: string): Promise<void> {
    const member = this.members.named(target);
    if (member === undefined) throw new GeodeError(ErrorCode.NOT_FOUND, `no member named ${target}`, { detail: 'UnknownNode' });
    if (member.learner === true) throw new GeodeError(ErrorCode.BAD_REQUEST, `${target} is a learner and cannot lead`);
    if (!this.isLeader) throw this.notLeader();
    const id = raftIdOf(target);
    if (id === this.id) return;
    const result = this.raft.transferLeadership(id);
    if (!result.accepted) throw this.notLeader();
    this.scheduleDrain();
    const until = Date.now() + this.electionTimeoutMs * 4;
    while (Date.now() < until) {
      if (this.status_.leader === id) return;
      await new Promise((r) => setTimeout(r, this.tickMs));
    }
    throw new GeodeError(ErrorCode.TIMEOUT, `leadership did not move to ${target} in time`);
  }

  /** Graph checksum at the current applied index (after pending online schema work). */
  async checksum(): Promise<{ applied: number; checksum: string }> {
    return this.applyWorker.call('checksum');
  }

  private maybeSnapshot(): void {
    const every = this.options.snapshotEntries ?? DEFAULT_SNAPSHOT_ENTRIES;
    if (this.snapshotting || this.applied - this.log.snapshot().meta.index < every) return;
    void this.snapshotNow().catch((err: unknown) => this.options.logger.error({ err: String(err) }, 'snapshot failed'));
  }

  /** Takes a snapshot of the graph at the applied index and compacts the log behind it. */
  async snapshotNow(): Promise<{ index: number; bytes: number }> {
    if (this.snapshotting) throw new GeodeError(ErrorCode.OVERLOADED, 'a snapshot is already being taken');
    this.snapshotting = true;
    try {
      const path = join(this.options.dataDir, 'snapshot-out.db');
      const index = await this.applyWorker.call<number>('snapshot', { path });
      if (index <= this.log.snapshot().meta.index || index > this.log.lastIndex()) return { index: this.log.snapshot().meta.index, bytes: 0 };
      // Read off this thread; the log then adopts the file itself as the snapshot's image (no copy written).
      const data = await readFile(path);
      await this.log.snapshotAndCompact(index, this.status_.confState, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.options.keepEntries ?? 1000, path);
      this.options.logger.info({ index, bytes: data.byteLength }, 'snapshot taken; log compacted');
      return { index, bytes: data.byteLength };
    } finally {
      this.snapshotting = false;
    }
  }

  // ---- membership -----------------------------------------------------------

  private loadAddedMembers(): MemberSpec[] {
    if (!existsSync(this.membersPath)) return [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.membersPath, 'utf8'));
      return Array.isArray(parsed) ? (parsed as MemberSpec[]).filter((m) => typeof m?.name === 'string' && typeof m?.url === 'string') : [];
    } catch {
      return [];
    }
  }

  private saveMembers(): void {
    const tmp = `${this.membersPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.members.all()));
    renameSync(tmp, this.membersPath);
  }

  /** Reads the member spec a conf change carries and wires the transport to it (idempotent). */
  private learnMember(entry: Entry): void {
    let change;
    try {
      change = decodeConfChange(entry.data);
    } catch {
      return;
    }
    if (change.context === undefined || change.type === 'removeNode') return;
    let spec: MemberSpec;
    try {
      spec = JSON.parse(change.context) as MemberSpec;
    } catch {
      return;
    }
    if (typeof spec.name !== 'string' || typeof spec.url !== 'string' || raftIdOf(spec.name) !== change.nodeId) return;
    const known = this.members.named(spec.name);
    const learner = change.type === 'addLearner';
    if (known !== undefined && known.url === spec.url && (known.learner === true) === learner) return;
    this.members.add({ ...spec, learner });
    if (spec.name !== this.name) this.transport?.setPeer(change.nodeId, spec.url);
    this.saveMembers();
  }

  private async proposeMembership(change: { type: 'addVoter' | 'addLearner' | 'removeNode'; nodeId: number; context?: string }, timeoutMs = 10_000): Promise<{ index: number }> {
    if (!this.isLeader) throw this.notLeader();
    const proposed = this.raft.proposeConfChange(change);
    if (!proposed.accepted) {
      if (proposed.reason === 'confChangePending') throw new GeodeError(ErrorCode.OVERLOADED, 'another membership change is in progress; retry when it commits');
      if (proposed.reason === 'invalidConfChange') throw new GeodeError(ErrorCode.BAD_REQUEST, `membership change refused: ${proposed.detail ?? 'invalid'}`);
      throw this.notLeader();
    }
    this.scheduleDrain();
    await this.waitApplied(proposed.index, Date.now() + timeoutMs);
    return { index: proposed.index };
  }

  /** Adds a member as a learner (async replica) or a voter. A new voter should join as a learner first and be promoted once caught up. */
  async addMember(spec: MemberSpec): Promise<{ index: number }> {
    const id = raftIdOf(spec.name);
    if (this.status_.confState.voters.includes(id) || this.status_.confState.learners.includes(id)) {
      throw new GeodeError(ErrorCode.BAD_REQUEST, `${spec.name} is already a member`);
    }
    const learner = spec.learner !== false;
    const member: MemberSpec = { name: spec.name, url: spec.url, learner, ...(spec.region !== undefined ? { region: spec.region } : {}) };
    // The leader replicates to the new member as soon as the change is appended, so it needs the address first.
    this.members.add(member);
    this.transport?.setPeer(id, spec.url);
    return this.proposeMembership({ type: learner ? 'addLearner' : 'addVoter', nodeId: id, context: JSON.stringify(member) });
  }

  async removeMember(name: string): Promise<{ index: number }> {
    const id = raftIdOf(name);
    if (!this.status_.confState.voters.includes(id) && !this.status_.confState.learners.includes(id)) {
      throw new GeodeError(ErrorCode.NOT_FOUND, `no member named ${name}`, { detail: 'UnknownNode' });
    }
    if (id === this.id) throw new GeodeError(ErrorCode.BAD_REQUEST, 'transfer leadership away before removing the leader');
    const result = await this.proposeMembership({ type: 'removeNode', nodeId: id });
    this.transport?.removePeer(id);
    this.members.remove(name);
    this.saveMembers();
    return result;
  }

  /** Promotes a caught-up learner to voter. */
  async promoteLearner(name: string): Promise<{ index: number }> {
    const id = raftIdOf(name);
    if (!this.status_.confState.learners.includes(id)) throw new GeodeError(ErrorCode.BAD_REQUEST, `${name} is not a learner`);
    if (!this.isLeader) throw this.notLeader();
    const match = this.status_.progress.get(id)?.match ?? 0;
    // Promoting a learner far behind would make it a voter that cannot ack, shrinking the margin for failures.
    if (match + 1000 < this.status_.commit) {
      throw new GeodeError(ErrorCode.OVERLOADED, `${name} is ${this.status_.commit - match} entries behind; promote once it has caught up`);
    }
    const member = this.members.named(name);
    const context = member === undefined ? undefined : JSON.stringify({ ...member, learner: false });
    return this.proposeMembership({ type: 'addVoter', nodeId: id, ...(context !== undefined ? { context } : {}) });
  }

  async stop(options: { transfer: boolean } = { transfer: true }): Promise<void> {
    if (this.stopped) return;
    if (options.transfer && this.isLeader && this.status_.confState.voters.length > 1) {
      // Hand over before leaving, so a rolling restart loses no write and waits for no election.
      const candidates = [...this.status_.progress.entries()]
        .filter(([id]) => id !== this.id && this.status_.confState.voters.includes(id))
        .sort((a, b) => b[1].match - a[1].match);
      const best = candidates[0];
      const name = best === undefined ? null : this.members.nameOf(best[0]);
      if (name !== null) await this.transferLeadership(name).catch((err: unknown) => this.options.logger.warn({ err: String(err) }, 'leadership transfer on shutdown failed'));
    }
    this.stopped = true;
    this.publishView();
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    if (this.lagTimer !== undefined) clearInterval(this.lagTimer);
    for (const p of [...this.pending.values()]) this.finishPending(p, new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down; retry with the same request_id'));
    for (const w of this.appliedWaiters) {
      clearTimeout(w.timer);
      w.reject(new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down'));
    }
    this.appliedWaiters = [];
    this.failReadIndexWaiters();
    this.transport?.close();
    await Promise.all([this.applyWorker?.terminate(), ...this.readWorkers.map((w) => w.terminate()), this.log.close()]);
    for (const lane of this.lanes) lane?.channel.close();
  }
}

/** Messages only a leader sends; none of them vouches for the sender's own durable state. */
const LEADER_MESSAGES: ReadonlySet<Message['type']> = new Set(['app', 'heartbeat', 'snap', 'timeoutNow']);

function sameMembers(a: Status, b: Status): boolean {
  return a.confState.voters.join(',') === b.confState.voters.join(',') && a.confState.learners.join(',') === b.confState.learners.join(',');
}
