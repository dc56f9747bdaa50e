/**
 * A storage node: a short facade that wires the parts together.
 *
 * - host/raft-loop.ts drives the Raft core (Ready handling, apply order,
 *   acknowledgements, snapshots); the seeded simulation runs the same loop.
 * - The Raft log lives on its writer thread (log/), committed entries are
 *   applied by the apply worker (replication/apply-worker.ts), reads run on
 *   the read pool (host/read-pool.ts): the thread that drives Raft never
 *   waits on a disk and never runs a query, so neither a long statement nor
 *   a slow fsync delays a heartbeat.
 * - host/lag.ts says how far behind this node is (unknown when no leader was
 *   heard within an election timeout), host/cluster-status.ts what it knows
 *   of the cluster, host/member-book.ts where the members are.
 *
 * A client's write is acknowledged according to the replication mode
 * (replication/modes.ts); its result comes from the leader's apply. Every
 * error a write answers carries its `request_id`, so it can be retried
 * safely; the replicated request table applies a retried id once.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { DurableLog } from './log/durable-log.js';
import type { BatchTotals } from './log/durable-log.js';
import { emptyStats } from './graph/transaction.js';
import { NO_NODE } from './raft/index.js';
import type { ConfChange, Entry, Status } from './raft/index.js';
import { RAFT_STREAM_PATH, Transport } from './transport/transport.js';
import type { TransportLogger } from './transport/transport.js';
import { encodeCommand } from './replication/command.js';
import { DEFAULT_REPLICATION, validateSetting } from './replication/modes.js';
import type { ReplicationSettings } from './replication/modes.js';
import { raftIdOf } from './replication/members.js';
import { DEFAULT_STATEMENT_MEMORY_BYTES } from './replication/budgets.js';
import type { MemberSpec } from './replication/members.js';
import type { ApplyOutcome, SerializedResult, WireResult } from './replication/state-machine.js';
import { packEntries } from './replication/packed-entries.js';
import type { AppliedBatch } from './replication/apply-worker.js';
import { startTsWorker, WorkerClient } from './replication/worker-rpc.js';
import { RaftLoop, loopLog } from './host/raft-loop.js';
import type { LoopLog, WriteDone } from './host/raft-loop.js';
import { ReadPool } from './host/read-pool.js';
import { SharedNodeView } from './host/node-view.js';
import { MemberBook } from './host/member-book.js';
import { AppliedWaiters } from './host/applied-waiters.js';
import { clusterStatus, roleOf, systemViews } from './host/cluster-status.js';
import { RegionHost } from './host/region/region-host.js';
import type { DrSourceBinding } from './host/region/region-host.js';
import type { RegionState } from './replication/region-state.js';
import { epochOfOwnEntry } from './replication/region-state.js';
import type { PromoteResult, RegionStatus } from '../shared/protocol/region.js';
import { ErrorCode, GeodeError, errorFromWire } from '../shared/protocol/errors.js';
import type { ClusterStatus, NodeRole, QueryMeta } from '../shared/protocol/cluster.js';
import type { ConsistencyLevel } from '../shared/protocol/query.js';
import { newRequestId } from '../shared/protocol/request-id.js';
import type { ClusterSetStatement } from '../shared/gql/ast.js';
import type { NodeRegions } from '../shared/config/regions.js';
import { BackupHost } from './backup/backup-host.js';
import type { BackupMetricsView, BackupPort } from './backup/backup-host.js';
import type { BackupState } from './replication/backup-state.js';
import type { BackupConfigureRequest, BackupConfigureResponse, BackupListResponse, BackupNowResponse, BackupStatus } from '../shared/protocol/backup.js';

export type { ClusterStatus, NodeRole, NodeStatusEntry } from '../shared/protocol/cluster.js';
export type Consistency = ConsistencyLevel;
export type ResultMeta = QueryMeta;
export { DEFAULT_SNAPSHOT_ENTRIES } from './host/raft-loop.js';

export { DEFAULT_STATEMENT_MEMORY_BYTES } from './replication/budgets.js';

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
  /**
   * The deployment's regions and this node's own (shared/config/regions.ts): each region is its own
   * Raft group, follower regions pull the primary's log over the DR stream (host/region/). Absent:
   * a single-region deployment, always the write region at epoch 1.
   */
  regions?: NodeRegions;
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
  /** The region epoch of `afterIndex` (a causal token's position in the primary's log); absent: this region's own log. */
  afterEpoch?: number | undefined;
  timeoutMs: number;
  /** The statement reads the `system.*` views, which this node fills from its view of the cluster. */
  systemView?: boolean;
}

const emptyResult = (): WireResult => ({ columns: [], rows: [], stats: emptyStats(), kind: 'write' });

/** A read worker's heap: room for a few statements at their memory budget, and never below 1 GiB. */
const readWorkerHeapMb = (budget: number): number => Math.max(1024, Math.ceil((4 * budget) / (1024 * 1024)));

export class StorageNode extends EventEmitter {
  readonly name: string;
  readonly id: number;
  readonly clusterId: string;
  private readonly members: MemberBook;
  private readonly log: DurableLog;
  private loop!: RaftLoop<ApplyOutcome, AppliedBatch>;
  private transport: Transport | undefined;
  private applyWorker!: WorkerClient;
  private reads: ReadPool | undefined;
  /** Multi-region deployments only (host/region/). */
  private region: RegionHost | undefined;
  /** Backups (backup/backup-host.ts): the leader archives to the replicated setting's destination. */
  private backup: BackupHost | undefined;
  /** This group's region state when there are no regions: always the primary at epoch 1. */
  private regionState: RegionState | undefined;
  /** What read lanes need to answer on their own (host/node-view.ts). */
  private readonly view = new SharedNodeView();
  private readonly waiters = new AppliedWaiters();
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
  private readonly memoryBudget: number;
  private tickTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly baseSettings: ReplicationSettings;
  private settings: ReplicationSettings;
  private lastLagSignature = '';
  /** Cumulative apply work, for metrics: calls to the apply worker, entries they carried, seconds they took there. */
  readonly applyStats: BatchTotals = { batches: 0, entries: 0, seconds: 0 };
  /**
   * Leader changes this node took over: counted once, by the new leader, when its log shows an
   * earlier leader (an entry of a term after the bootstrap's). Summed over nodes, every failover once.
   */
  failovers = 0;

  constructor(private readonly options: StorageNodeOptions) {
    super();
    this.setMaxListeners(0);
    this.name = options.name;
    this.id = raftIdOf(options.name);
    this.clusterId = options.clusterId ?? 'geode';
    mkdirSync(options.dataDir, { recursive: true });
    this.members = new MemberBook(options.members, join(options.dataDir, 'members.json'));
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
    this.memoryBudget = options.statementMemoryBytes ?? DEFAULT_STATEMENT_MEMORY_BYTES;
    this.baseSettings = { ...DEFAULT_REPLICATION, ...options.replication };
    this.settings = this.baseSettings;
  }

  async start(): Promise<void> {
    const regions = this.options.regions;
    const identity = regions === undefined ? undefined : { self: regions.self, initialPrimary: regions.regions.find((r) => r.role === 'primary')?.name ?? regions.self };
    this.applyWorker = new WorkerClient(
      startTsWorker(new URL('./replication/apply-worker.ts', import.meta.url), { graphPath: this.graphPath, ...(identity !== undefined ? { region: identity } : {}) }),
      (err) => this.fatal('apply worker died', err),
      { post: 'now' },
    );
    let info = await this.applyWorker.call<{ applied: number; settings: Partial<ReplicationSettings>; region: RegionState; backup: BackupState }>('info');
    const stored = this.log.snapshot();
    if (info.applied < stored.meta.index) {
      // A crash between persisting a received snapshot and installing it: the log no longer holds those entries.
      info = await this.restoreImage(stored.data);
      this.options.logger.info({ index: stored.meta.index }, 'installed the stored snapshot on start');
    }
    this.setReplicated(info.settings);
    this.reads = new ReadPool({
      graphPath: this.graphPath,
      workers: this.options.readWorkers ?? 2,
      memoryBudget: this.memoryBudget,
      heapLimitMb: readWorkerHeapMb(this.memoryBudget),
      // Lanes answer from the shared view, which knows nothing of regions: a regional node serves reads on its main port.
      ...(this.options.readLanes !== undefined && regions === undefined ? { lanes: { host: this.options.readLanes.host, view: this.view.buffer, node: this.name } } : {}),
      logger: this.options.logger,
    });
    await this.reads.ready();

    // Only voters bootstrap the membership. A learner, listed in every config (the seed's async_replicas)
    // or joining a running cluster, starts with an empty log and takes the membership from the leader's.
    const voters: number[] = [];
    const learners: number[] = [];
    if (this.members.named(this.name)?.learner !== true) {
      for (const m of this.members.all()) (m.learner === true ? learners : voters).push(raftIdOf(m.name));
    }
    this.loop = new RaftLoop<ApplyOutcome, AppliedBatch>(
      {
        id: this.id,
        raft: { electionTick: this.options.electionTicks ?? 6, heartbeatTick: this.options.heartbeatTicks ?? 2, voters, learners, preVote: true, checkQuorum: true, maxInflight: 256, maxSizePerMsg: 1024 * 1024 },
        seed: randomBytes(4).readUInt32LE(0),
        applied: info.applied,
        ...(this.options.snapshotEntries !== undefined ? { snapshotEntries: this.options.snapshotEntries } : {}),
        keepEntries: this.options.keepEntries ?? 1000,
        electionTimeoutMs: this.electionTimeoutMs,
        tickMs: this.tickMs,
        settings: () => this.settings,
      },
      {
        log: logPort(this.log, (index, keep) => this.backup?.keepEntries(index, keep) ?? keep),
        send: (messages) => this.transport?.send(messages),
        stateMachine: {
          apply: (entries, wantOutcomes, done) => {
            this.applyWorker.call<AppliedBatch>('apply', { entries: packEntries(entries), outcomes: wantOutcomes }).then((batch) => {
              this.applyStats.batches++;
              this.applyStats.entries += entries.length;
              this.applyStats.seconds += batch.seconds;
              done(null, batch);
            }, done);
          },
          restore: (snapshot, done) => {
            this.options.logger.info({ index: snapshot.meta.index, bytes: snapshot.data.byteLength }, 'installing snapshot from leader');
            this.restoreImage(snapshot.data).then((restored) => {
              this.setReplicated(restored.settings);
              this.regionApplied(restored.region, false);
              this.backup?.applied(restored.backup);
              this.reads?.broadcast('reopen');
              done(null, restored.applied);
            }, done);
          },
          snapshot: (done) => {
            const path = join(this.options.dataDir, 'snapshot-out.db');
            this.applyWorker
              .call<number>('snapshot', { path })
              // Read off this thread; the log then adopts the file itself as the snapshot's image (no copy written).
              .then(async (index) => {
                const image = await readFile(path);
                // A view, not a copy: the image can be hundreds of megabytes, and this is the thread that drives Raft.
                return { index, data: new Uint8Array(image.buffer, image.byteOffset, image.byteLength), path };
              })
              .then((image) => done(null, image), done);
          },
        },
        now: Date.now,
        defer: setImmediate,
      },
      {
        onStatus: (previous, status) => this.onStatus(previous, status),
        onApplied: (batch) => {
          if (batch.imageInstalled === true) this.reads?.broadcast('reopen');
          else if (batch.schemaChanged) this.reads?.broadcast('refresh');
          if (batch.schemaChanged) this.setReplicated(batch.settings);
          if (batch.region !== undefined || this.region !== undefined) this.regionApplied(batch.region, batch.regionGap === true);
          if (batch.backup !== undefined) this.backup?.applied(batch.backup);
        },
        onConfChangeAppended: (entry) => this.learnMember(entry),
        onProgress: () => {
          this.waiters.advance(this.loop.applied);
          this.publishView();
        },
        onSnapshot: (index, bytes) => this.options.logger.info({ index, bytes }, 'snapshot taken; log compacted'),
        onSnapshotFailed: (error) => this.options.logger.error({ err: String(error) }, 'snapshot failed'),
        onFatal: (what, error) => this.fatal(what, error),
      },
    );
    const peers = new Map<number, string>();
    for (const m of this.members.all()) if (m.name !== this.name) peers.set(raftIdOf(m.name), m.url);
    this.transport = new Transport({
      selfId: this.id,
      secret: this.options.clusterSecret,
      peers,
      logger: this.options.logger,
      onMessage: (m) => this.loop.receive(m),
      // A leader whose process died is replaced at once, not after a full election timeout.
      onPeerDown: (id) => this.loop.peerDown(id),
    });
    this.regionState = info.region;
    if (regions !== undefined) {
      this.region = new RegionHost(regions, info.region, this.regionPort());
      this.region.start();
    }
    this.backup = new BackupHost(this.backupPort(), info.backup);
    this.backup.start();
    this.tickTimer = setInterval(() => this.loop.tick(), this.tickMs);
    this.lagTimer = setInterval(() => this.publishLagIfChanged(), 100);
    this.waiters.advance(info.applied);
    this.running = true;
    this.publishView();
    this.loop.scheduleDrain();
  }

  /**
   * Writes a snapshot image where the apply worker restores it from (off this thread: an image can be
   * hundreds of megabytes), and restores it. The loop posts nothing else to the apply worker meanwhile.
   */
  private async restoreImage(data: Uint8Array): Promise<{ applied: number; settings: Partial<ReplicationSettings>; region: RegionState; backup: BackupState }> {
    const path = join(this.options.dataDir, 'snapshot-in.db');
    await writeFile(path, data);
    return this.applyWorker.call('restore', { path });
  }

  // ---- backups (backup/) ----------------------------------------------------------

  /** What the backup host needs of this node. */
  private backupPort(): BackupPort {
    return {
      name: this.name,
      clusterId: this.clusterId,
      dataDir: this.options.dataDir,
      isLeader: () => this.started && this.loop.isLeader,
      leaderName: () => (this.leaderExtra()['leader_id'] as string | null) ?? null,
      term: () => this.loop.status.term,
      commitIndex: () => this.loop.status.commit,
      appliedIndex: () => this.loop.applied,
      firstIndex: () => this.log.firstIndex(),
      entries: (lo, hi, maxBytes) => this.log.entries(lo, hi, maxBytes),
      isWriteRegion: () => this.region === undefined || this.region.current().state === 'primary',
      snapshotTo: (path) => this.applyWorker.call<number>('snapshot', { path }),
      propose: (data) => this.started && this.loop.isLeader && this.loop.propose(data, { requestId: null, returnsRows: false }, () => undefined).accepted,
      proposeAndWait: (data, timeoutMs) => this.proposeInternal(data, timeoutMs),
      logger: this.options.logger,
    };
  }

  backupStatus(): BackupStatus | undefined {
    return this.backup?.status();
  }

  backupMetrics(): BackupMetricsView | undefined {
    return this.backup?.metrics();
  }

  configureBackup(request: BackupConfigureRequest): Promise<BackupConfigureResponse> {
    if (!this.started || this.backup === undefined) return Promise.reject(this.unavailable());
    if (!this.loop.isLeader) return Promise.reject(this.notLeader());
    return this.backup.configure(request);
  }

  backupNow(timeoutMs: number): Promise<BackupNowResponse> {
    if (!this.started || this.backup === undefined) return Promise.reject(this.unavailable());
    if (!this.loop.isLeader) return Promise.reject(this.notLeader());
    return this.backup.backupNow(timeoutMs);
  }

  backupList(): Promise<BackupListResponse> {
    if (!this.started || this.backup === undefined) return Promise.reject(this.unavailable());
    if (!this.loop.isLeader) return Promise.reject(this.notLeader());
    return this.backup.list();
  }

  // ---- regions -------------------------------------------------------------------

  private regionApplied(next: RegionState | undefined, gap: boolean): void {
    if (next !== undefined) this.regionState = next;
    this.region?.applied(next, gap);
  }

  /** What the region host needs of this node (host/region/region-host.ts). */
  private regionPort() {
    return {
      name: this.name,
      dataDir: this.options.dataDir,
      clusterSecret: this.options.clusterSecret,
      isLeader: () => this.started && this.loop.isLeader,
      leaderUrl: () => (this.leaderExtra()['leader_url'] as string | null) ?? null,
      applied: () => this.loop.applied,
      firstIndex: () => this.log.firstIndex(),
      lastIndex: () => this.log.lastIndex(),
      entries: (lo: number, hi: number, maxBytes: number) => this.log.entries(lo, Math.min(hi, this.log.lastIndex() + 1), maxBytes),
      snapshot: () => this.log.snapshot(),
      snapshotNow: () => this.snapshotNow(),
      proposeAndWait: (data: Uint8Array, timeoutMs: number) => this.proposeInternal(data, timeoutMs),
      propose: (data: Uint8Array) => this.started && this.loop.isLeader && this.loop.propose(data, { requestId: null, returnsRows: false }, () => undefined).accepted,
      logger: this.options.logger,
    };
  }

  /** Proposes a region entry and resolves with its index once this node applied it. */
  private proposeInternal(data: Uint8Array, timeoutMs: number): Promise<number> {
    if (!this.started || !this.loop.isLeader) return Promise.reject(this.notLeader());
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const proposed = this.loop.propose(data, { requestId: null, returnsRows: true }, (done: WriteDone<ApplyOutcome>) => {
        clearTimeout(timer);
        if (!done.ok) reject(done.reason === 'overwritten' ? this.notLeader() : this.unavailable());
        else resolve(done.index);
      });
      if (!proposed.accepted) {
        reject(this.notLeader());
        return;
      }
      timer = setTimeout(() => {
        this.loop.abandonWrite(proposed.index);
        reject(new GeodeError(ErrorCode.TIMEOUT, `region entry at index ${proposed.index} not applied within ${timeoutMs} ms`, { retryable: true }));
      }, timeoutMs);
    });
  }

  /** `GET /api/v1/region/status`: this node's region (a single-region deployment answers as the primary at epoch 1). */
  regionStatus(polledBy?: string): RegionStatus {
    if (!this.running) throw this.unavailable();
    if (this.region !== undefined) return this.region.status(polledBy);
    const state = this.regionState;
    return {
      region: this.members.named(this.name)?.region ?? 'default',
      role: 'primary',
      state: 'primary',
      epoch: state?.epoch ?? 1,
      primary_region: this.members.named(this.name)?.region ?? 'default',
      position: { epoch: state?.epoch ?? 1, index: this.loop.applied },
      source_commit: null,
      behind_entries: 0,
      lag_ms: 0,
      replication_lag_max_ms: null,
      over_lag_max: false,
      serve_reads: true,
      write_priority: null,
      stream: null,
      node: this.name,
      leader: this.loop.isLeader,
      leader_url: (this.leaderExtra()['leader_url'] as string | null) ?? null,
      history: state?.history ?? [],
      quarantined: state?.quarantined ?? [],
      regions: [],
      vote: null,
      lag_at_contact_ms: 0,
      primary_unreachable_ms: null,
    };
  }

  /** `POST /api/v1/admin/regions/promote` on a node of the target region (its leader runs it). */
  async promoteRegion(target: string, force: boolean, timeoutMs: number): Promise<PromoteResult> {
    const region = this.region;
    if (region === undefined) throw new GeodeError(ErrorCode.BAD_REQUEST, 'this deployment has no regions configured', { detail: 'NoRegions' });
    if (target !== region.regionName) {
      const peer = region.status().regions.find((r) => r.name === target);
      if (peer === undefined) throw new GeodeError(ErrorCode.NOT_FOUND, `no region named ${target}`, { detail: 'UnknownRegion' });
      throw new GeodeError(ErrorCode.NOT_LEADER, `this node is in region ${region.regionName}; send the promotion to region ${target}'s leader`, { extra: { leader_url: peer.leader_url, region: target } });
    }
    return region.promote(force, timeoutMs);
  }

  /** `POST /api/v1/admin/regions/rejoin` on a node of a fenced former primary. */
  async rejoinRegion(target: string, timeoutMs: number): Promise<unknown> {
    const region = this.region;
    if (region === undefined) throw new GeodeError(ErrorCode.BAD_REQUEST, 'this deployment has no regions configured', { detail: 'NoRegions' });
    if (target !== region.regionName) {
      const peer = region.status().regions.find((r) => r.name === target);
      if (peer === undefined) throw new GeodeError(ErrorCode.NOT_FOUND, `no region named ${target}`, { detail: 'UnknownRegion' });
      throw new GeodeError(ErrorCode.NOT_LEADER, `this node is in region ${region.regionName}; send the rejoin to region ${target}'s leader`, { extra: { leader_url: peer.leader_url, region: target } });
    }
    return region.rejoin(timeoutMs);
  }

  /** `POST /v1/dr/vote`: a candidate region asks this one for its vote (automatic failover; DR token). */
  voteFromPeer(authorization: string | undefined, body: unknown): Promise<unknown> {
    if (this.region === undefined) return Promise.reject(new GeodeError(ErrorCode.NOT_FOUND, 'this deployment has no regions configured', { detail: 'NoRegions' }));
    return this.region.voteFromPeer(authorization, body);
  }

  /** `POST /v1/dr/epoch`: another region tells this one of an epoch (DR token). */
  epochFromPeer(authorization: string | undefined, body: unknown): Promise<unknown> {
    if (this.region === undefined) return Promise.reject(new GeodeError(ErrorCode.NOT_FOUND, 'this deployment has no regions configured', { detail: 'NoRegions' }));
    return this.region.epochFromPeer(authorization, body);
  }

  // ---- state -------------------------------------------------------------------

  /** True once start() has finished and until stop(). */
  get started(): boolean {
    return this.running && !this.stopped;
  }

  get isLeader(): boolean {
    return this.running && this.loop.isLeader;
  }

  get appliedIndex(): number {
    return this.running ? this.loop.applied : 0;
  }

  get replicationSettings(): ReplicationSettings {
    return this.settings;
  }

  /** Cumulative disk writes of the Raft log (see DurableLog.stats), for metrics. */
  get logStats(): BatchTotals {
    return this.log.stats;
  }

  /** Workers the read pool's watchdog had to stop (a statement overran its deadline by far). */
  get readWorkersStopped(): number {
    return this.reads?.stoppedWorkers ?? 0;
  }

  /** This node's own lag behind the leader in ms; undefined when it cannot know (host/lag.ts). */
  selfLagMs(): number | undefined {
    return this.running ? this.loop.selfLagMs() : undefined;
  }

  private role(): NodeRole {
    const role = roleOf(this.loop.status, this.id, this.id);
    return role === 'unknown' ? 'standby' : role;
  }

  /**
   * A read's meta, or with `written` a write's: the write's epoch is the one it was applied in
   * (region-state.ts epochOfOwnEntry), which is not the current one when a handover applied after it.
   */
  meta(index: number, written = false): ResultMeta {
    const meta: ResultMeta = { node: this.name, role: this.role(), term: this.loop.status.term, index, applied_index: this.loop.applied };
    if (this.region !== undefined) {
      const state = this.region.current();
      meta.epoch = (written ? epochOfOwnEntry(state, this.region.regionName, index) : undefined) ?? state.epoch;
    }
    return meta;
  }

  clusterStatus(): ClusterStatus {
    if (!this.running) throw new GeodeError(ErrorCode.OVERLOADED, 'node is starting');
    const loop = this.loop;
    const status = clusterStatus({
      clusterId: this.clusterId,
      selfId: this.id,
      selfName: this.name,
      raft: loop.status,
      applied: loop.applied,
      lastIndex: this.log.lastIndex(),
      member: (id) => this.members.byRaftId(id),
      lagOf: (id) => loop.peerLagMs(id),
      heardAt: (id) => loop.peers.heardAt(id),
      appliedOf: (id) => loop.peers.appliedOf(id),
      now: Date.now(),
      electionTimeoutMs: this.electionTimeoutMs,
      settings: this.settings,
    });
    if (this.backup !== undefined) status.backup = this.backup.status();
    return status;
  }

  /** Rows of `system.replication_status` and `system.cluster_nodes` from this node's view (complete on the leader). */
  systemViews(): Record<string, Record<string, unknown>[]> {
    const views = systemViews(this.clusterStatus());
    const region = this.regionStatus();
    views['region_status'] = [
      { region: region.region, role: region.role, state: region.state, epoch: region.epoch, primary_region: region.primary_region, position_epoch: region.position.epoch, position_index: region.position.index, lag_ms: region.lag_ms, replication_lag_max_ms: region.replication_lag_max_ms, over_lag_max: region.over_lag_max, reachable: true, local: true },
      ...region.regions.map((r) => ({ region: r.name, role: r.role, state: r.state, epoch: r.epoch, primary_region: r.primary_region, position_epoch: r.position?.epoch ?? null, position_index: r.position?.index ?? null, lag_ms: r.lag_ms, replication_lag_max_ms: null, over_lag_max: null, reachable: r.reachable, local: false })),
    ];
    return views;
  }

  private onStatus(previous: Status, status: Status): void {
    if (status.role === 'leader' && previous.role !== 'leader' && this.hadEarlierLeader(status)) this.failovers++;
    this.logLeadership(previous, status);
    this.region?.refresh();
    this.emitChange('leader');
  }

  /** The entry before this leader's first one is of a term after the bootstrap's (term 1): a leader came before. */
  private hadEarlierLeader(status: Status): boolean {
    const log = this.loop.raw.raft.log;
    let index = status.lastIndex;
    while (index > 0 && log.term(index) === status.term) index--;
    return (log.term(index) ?? this.log.snapshot().meta.term) > 1;
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

  /**
   * Publishes what read lanes need (host/node-view.ts) after every drain of the loop, every
   * applied batch, and on start and stop: wherever role, term, indexes and lag inputs change.
   */
  private publishView(): void {
    if (this.options.readLanes === undefined || !this.running) return;
    const loop = this.loop;
    const lag = loop.selfLag;
    this.view.publish({
      serving: this.started,
      leader: loop.isLeader,
      role: this.role(),
      term: loop.status.term,
      commit: loop.status.commit,
      applied: loop.applied,
      leaderCommitSeen: lag.leaderCommitSeen,
      caughtUpAt: lag.caughtUpAt,
      leaderContactAt: lag.leaderContactAt,
      electionTimeoutMs: this.electionTimeoutMs,
    });
  }

  private setReplicated(settings: Partial<ReplicationSettings>): void {
    const next = { ...this.baseSettings, ...settings };
    if (next.mode !== this.settings.mode || next.quorumSize !== this.settings.quorumSize || next.syncReplicas !== this.settings.syncReplicas) {
      this.settings = next;
      if (this.running) this.emitChange('settings');
    }
  }

  /**
   * Upgrade handler for the Raft stream on the node's HTTP server; false when
   * the path is not the Raft stream. Before start() a peer's attempt is
   * refused and it retries with backoff.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (this.region !== undefined && this.region.handleUpgrade(request, socket, head, (): DrSourceBinding | undefined => (this.started ? { ok: true } : undefined))) return true;
    if (this.transport === undefined || this.stopped) {
      if ((request.url ?? '').startsWith(RAFT_STREAM_PATH)) {
        socket.destroy();
        return true;
      }
      return false;
    }
    return this.transport.handleUpgrade(request, socket, head);
  }

  /** Ports of the read lanes that listen now, in worker order (empty without lanes). */
  readLanePorts(): number[] {
    return this.reads?.lanePorts() ?? [];
  }

  /** Hands every read lane's channel (now and after a worker is replaced) to `attach` (api/read-lanes.ts). */
  attachReadLanes(attach: (channel: MessagePort) => void): void {
    this.reads?.attachLanes(attach);
  }

  // ---- writes ---------------------------------------------------------------

  private leaderExtra(): Record<string, unknown> {
    const leader = this.running ? this.loop.status.leader : NO_NODE;
    const member = leader === NO_NODE ? undefined : this.members.byRaftId(leader);
    return { leader_id: member?.name ?? null, leader_url: member?.url ?? null };
  }

  private notLeader(): GeodeError {
    const extra = this.leaderExtra();
    const message = extra['leader_id'] === null ? 'no leader is elected at the moment; retry shortly' : `not the leader; the leader is ${String(extra['leader_id'])}`;
    return new GeodeError(ErrorCode.NOT_LEADER, message, { extra });
  }

  private unavailable(): GeodeError {
    return new GeodeError(ErrorCode.OVERLOADED, this.stopped ? 'node is shutting down' : 'node is starting');
  }

  /** Every error a write answers names its request id, so the client can retry it safely. */
  write(request: WriteRequest): Promise<{ result: WireResult; meta: ResultMeta }> {
    const requestId = request.requestId ?? newRequestId(Date.now());
    return this.propose(request, requestId).catch((error: unknown) => {
      throw (error instanceof GeodeError ? error : new GeodeError(ErrorCode.INTERNAL, 'internal error')).withExtra({ request_id: requestId });
    });
  }

  private propose(request: WriteRequest, requestId: string): Promise<{ result: WireResult; meta: ResultMeta }> {
    if (!this.started) return Promise.reject(this.unavailable());
    // A region that does not write says so on every node (no point in finding its leader); the epoch
    // confirmation is the leader's to check.
    const elsewhere = this.region?.writeRefusal(request.clusterSetting !== undefined, 'region');
    if (elsewhere !== undefined) return Promise.reject(elsewhere);
    if (!this.loop.isLeader) return Promise.reject(this.notLeader());
    const refusal = this.region?.writeRefusal(request.clusterSetting !== undefined, 'epoch');
    if (refusal !== undefined) return Promise.reject(refusal);
    if (request.clusterSetting !== undefined) {
      const problem = validateSetting(request.clusterSetting.setting, request.clusterSetting.value, this.loop.status.confState.voters.length);
      if (problem !== undefined) return Promise.reject(new GeodeError(ErrorCode.BAD_REQUEST, problem, { detail: 'InvalidClusterSetting' }));
    }
    const data = encodeCommand({
      kind: 'query',
      query: request.query,
      params: request.params,
      now: Date.now(),
      seed: this.nextSeed(),
      requestId,
      fresh: request.requestId === undefined,
      memoryBudget: this.memoryBudget,
    });
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const proposed = this.loop.propose(data, { requestId, returnsRows: request.returnsRows }, (done: WriteDone<ApplyOutcome>) => {
        clearTimeout(timer);
        if (!done.ok) {
          reject(
            done.reason === 'overwritten'
              ? new GeodeError(ErrorCode.NOT_LEADER, 'leadership changed before the write committed; retry with the same request_id', { extra: this.leaderExtra() })
              : new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down; retry with the same request_id'),
          );
          return;
        }
        const outcome = done.outcome;
        const meta: ResultMeta = { ...this.meta(done.index, true), request_id: requestId, applied: outcome !== undefined };
        // The write's commit time: what a point-in-time restore (backup/) compares --timestamp with.
        if (outcome?.ok === true && outcome.requestId !== null && outcome.at !== undefined) meta.committed_at = outcome.at;
        if (outcome === undefined) resolve({ result: emptyResult(), meta });
        else if (!outcome.ok) reject(errorFromWire(outcome.error));
        else resolve({ result: outcome.result ?? emptyResult(), meta });
      });
      if (!proposed.accepted) {
        reject(proposed.reason === 'transferring' ? new GeodeError(ErrorCode.NOT_LEADER, 'leadership is being transferred; retry shortly', { extra: this.leaderExtra() }) : this.notLeader());
        return;
      }
      timer = setTimeout(() => {
        this.loop.abandonWrite(proposed.index);
        reject(
          new GeodeError(ErrorCode.TIMEOUT, `write not acknowledged within ${request.timeoutMs} ms; its outcome is unknown, retry with the same request_id`, {
            extra: { index: proposed.index },
            retryable: true,
          }),
        );
      }, request.timeoutMs);
    });
  }

  // ---- reads ----------------------------------------------------------------

  async read(request: ReadRequest): Promise<{ result: SerializedResult; meta: ResultMeta }> {
    if (!this.started || this.reads === undefined) throw this.unavailable();
    const deadline = Date.now() + request.timeoutMs;
    const region = this.region;
    if (region !== undefined) {
      const state = region.current();
      if ((request.consistency === 'linearizable' || request.consistency === 'leader') && state.state !== 'primary') {
        throw new GeodeError(ErrorCode.NOT_PRIMARY_REGION, `region ${region.regionName} is not the primary; ${request.consistency} reads go to region ${state.primary}`, { extra: { region: region.regionName, primary_region: state.primary, epoch: state.epoch } });
      }
      if (!region.servesReads && request.systemView !== true) {
        throw new GeodeError(ErrorCode.REPLICA_LAGGING, `region ${region.regionName} is a ${region.regions.regions.find((r) => r.name === region.regionName)?.role ?? 'disaster_recovery'} region and serves no reads (serve_reads: false)`, { detail: 'RegionServesNoReads' });
      }
    }
    switch (request.consistency) {
      case 'linearizable': {
        if (!this.loop.isLeader) throw this.notLeader();
        await this.waiters.wait(await this.readIndex(request.timeoutMs), deadline);
        break;
      }
      case 'leader':
        if (!this.loop.isLeader) throw this.notLeader();
        break;
      case 'bounded': {
        const bound = request.maxLagMs ?? 0;
        const lag = this.loop.selfLagMs();
        // In a follower region the bound covers the region's lag behind the primary too.
        const regional = region?.boundedRefusal(lag, bound);
        if (regional !== undefined) throw regional;
        if (lag === undefined || lag > bound) {
          const why = lag === undefined ? `has not heard from a leader within ${this.electionTimeoutMs} ms (or since it started), so its lag is unknown` : `lags ${lag} ms behind the leader, over the bound of ${bound} ms`;
          throw new GeodeError(ErrorCode.REPLICA_LAGGING, `replica ${this.name} ${why}`, { extra: { lag_ms: lag ?? null, max_lag_ms: bound, ...this.leaderExtra() } });
        }
        break;
      }
      case 'any':
        break;
    }
    if (request.afterIndex !== undefined) {
      const state = region?.current();
      if (region !== undefined && state !== undefined && request.afterEpoch !== undefined && (state.state !== 'primary' || request.afterEpoch !== state.epoch)) {
        // A position in the primary's log: this region serves once it applied it (an older epoch's through the fork points).
        await region.waitPosition({ epoch: request.afterEpoch, index: request.afterIndex }, deadline);
      } else if (request.afterIndex > this.loop.applied) await this.waiters.wait(request.afterIndex, deadline);
    }
    let views: Record<string, Record<string, unknown>[]> | undefined;
    if (request.systemView === true) views = this.systemViews();
    const result = await this.reads.read({ query: request.query, params: request.params, now: Date.now(), seed: this.nextSeed(), deadline, ...(views !== undefined ? { views } : {}) });
    const meta: ResultMeta = { ...this.meta(this.loop.status.commit), lag_ms: this.loop.selfLagMs() ?? null };
    if (region !== undefined) {
      meta.position = region.current().position;
      // In a follower region, freshness is against the primary: the region's lag plus this replica's own.
      if (region.current().state !== 'primary') {
        const regionLag = region.lagMs();
        meta.lag_ms = regionLag === undefined || meta.lag_ms === null || meta.lag_ms === undefined ? null : Math.round(regionLag + meta.lag_ms);
      }
    }
    if (views !== undefined) meta.view = this.loop.isLeader ? 'complete' : 'partial';
    return { result, meta };
  }

  private nextSeed(): string {
    this.seedCounter++;
    return `${this.seedPrefix}${this.seedCounter.toString(16)}`;
  }

  private readIndex(timeoutMs: number): Promise<number> {
    const ctx = randomBytes(8).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.loop.abandonRead(ctx);
        reject(new GeodeError(ErrorCode.NO_QUORUM, 'leadership could not be confirmed by a quorum in time', { extra: this.leaderExtra() }));
      }, timeoutMs);
      const accepted = this.loop.readIndex(ctx, (done) => {
        clearTimeout(timer);
        if (done.ok) resolve(done.index);
        else reject(done.reason === 'notLeader' ? this.notLeader() : this.unavailable());
      });
      if (!accepted) {
        clearTimeout(timer);
        reject(this.notLeader());
      }
    });
  }

  /** Resolves once the applied index reaches `index`; TIMEOUT at the deadline. */
  waitApplied(index: number, deadline: number): Promise<void> {
    return this.waiters.wait(index, deadline);
  }

  // ---- admin ----------------------------------------------------------------

  /** Hands leadership to `target` (a member name); resolves when it leads or rejects after two election timeouts. */
  async transferLeadership(target: string): Promise<void> {
    const member = this.members.named(target);
    if (member === undefined) throw new GeodeError(ErrorCode.NOT_FOUND, `no member named ${target}`, { detail: 'UnknownNode' });
    if (member.learner === true) throw new GeodeError(ErrorCode.BAD_REQUEST, `${target} is a learner and cannot lead`);
    if (!this.started || !this.loop.isLeader) throw this.notLeader();
    const id = raftIdOf(target);
    if (id === this.id) return;
    if (!this.loop.transferLeadership(id).accepted) throw this.notLeader();
    const until = Date.now() + this.electionTimeoutMs * 4;
    while (Date.now() < until) {
      if (this.loop.status.leader === id) return;
      await new Promise((r) => setTimeout(r, this.tickMs));
    }
    throw new GeodeError(ErrorCode.TIMEOUT, `leadership did not move to ${target} in time`);
  }

  /** Graph checksum at the current applied index (after pending online schema work). */
  async checksum(): Promise<{ applied: number; checksum: string; position?: { epoch: number; index: number } }> {
    return this.applyWorker.call('checksum');
  }

  /** Takes a snapshot of the graph at the applied index and compacts the log behind it. */
  snapshotNow(): Promise<{ index: number; bytes: number }> {
    if (!this.started) return Promise.reject(this.unavailable());
    if (this.loop.snapshotInProgress) return Promise.reject(new GeodeError(ErrorCode.OVERLOADED, 'a snapshot is already being taken'));
    return new Promise((resolve, reject) => this.loop.snapshot((error, taken) => (error !== undefined && error !== null ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(taken ?? { index: 0, bytes: 0 }))));
  }

  // ---- membership -----------------------------------------------------------

  /** Learns a member's address from a conf-change entry as it is appended (the leader replicates to it at once). */
  private learnMember(entry: Entry): void {
    const learned = this.members.learn(entry);
    if (learned !== undefined && learned.name !== this.name) this.transport?.setPeer(raftIdOf(learned.name), learned.url);
  }

  private proposeMembership(change: ConfChange, timeoutMs = 10_000): Promise<{ index: number }> {
    if (!this.started || !this.loop.isLeader) return Promise.reject(this.notLeader());
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const proposed = this.loop.proposeConfChange(change, (done) => {
        clearTimeout(timer);
        if (done.ok) resolve({ index: done.index });
        else reject(done.reason === 'overwritten' ? this.notLeader() : this.unavailable());
      });
      if (!proposed.accepted) {
        if (proposed.reason === 'confChangePending') reject(new GeodeError(ErrorCode.OVERLOADED, 'another membership change is in progress; retry when it commits'));
        else if (proposed.reason === 'invalidConfChange') reject(new GeodeError(ErrorCode.BAD_REQUEST, `membership change refused: ${proposed.detail ?? 'invalid'}`));
        else reject(this.notLeader());
        return;
      }
      timer = setTimeout(() => {
        this.loop.abandonWrite(proposed.index);
        reject(new GeodeError(ErrorCode.TIMEOUT, `membership change at index ${proposed.index} not applied within ${timeoutMs} ms`, { extra: { index: proposed.index }, retryable: true }));
      }, timeoutMs);
    });
  }

  private isMember(id: number): boolean {
    const conf = this.loop.status.confState;
    return conf.voters.includes(id) || conf.learners.includes(id);
  }

  /** Adds a member as a learner (async replica) or a voter. A new voter should join as a learner first and be promoted once caught up. */
  async addMember(spec: MemberSpec): Promise<{ index: number }> {
    const id = raftIdOf(spec.name);
    if (this.running && this.isMember(id)) throw new GeodeError(ErrorCode.BAD_REQUEST, `${spec.name} is already a member`);
    const learner = spec.learner !== false;
    const member: MemberSpec = { name: spec.name, url: spec.url, learner, ...(spec.region !== undefined ? { region: spec.region } : {}) };
    // The leader replicates to the new member as soon as the change is appended, so it needs the address first.
    this.members.add(member);
    this.transport?.setPeer(id, spec.url);
    return this.proposeMembership({ type: learner ? 'addLearner' : 'addVoter', nodeId: id, context: JSON.stringify(member) });
  }

  async removeMember(name: string): Promise<{ index: number }> {
    const id = raftIdOf(name);
    if (!this.running || !this.isMember(id)) throw new GeodeError(ErrorCode.NOT_FOUND, `no member named ${name}`, { detail: 'UnknownNode' });
    if (id === this.id) throw new GeodeError(ErrorCode.BAD_REQUEST, 'transfer leadership away before removing the leader');
    const result = await this.proposeMembership({ type: 'removeNode', nodeId: id });
    this.transport?.removePeer(id);
    this.loop.peers.forget(id);
    this.members.remove(name);
    this.members.save();
    return result;
  }

  /** Promotes a caught-up learner to voter. */
  async promoteLearner(name: string): Promise<{ index: number }> {
    const id = raftIdOf(name);
    if (!this.running || !this.loop.status.confState.learners.includes(id)) throw new GeodeError(ErrorCode.BAD_REQUEST, `${name} is not a learner`);
    if (!this.loop.isLeader) throw this.notLeader();
    const status = this.loop.status;
    const match = status.progress.get(id)?.match ?? 0;
    // Promoting a learner far behind would make it a voter that cannot ack, shrinking the margin for failures.
    if (match + 1000 < status.commit) {
      throw new GeodeError(ErrorCode.OVERLOADED, `${name} is ${status.commit - match} entries behind; promote once it has caught up`);
    }
    const member = this.members.named(name);
    const context = member === undefined ? undefined : JSON.stringify({ ...member, learner: false });
    return this.proposeMembership({ type: 'addVoter', nodeId: id, ...(context !== undefined ? { context } : {}) });
  }

  // ---- lifecycle --------------------------------------------------------------

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

  async stop(options: { transfer: boolean } = { transfer: true }): Promise<void> {
    if (this.stopped) return;
    if (options.transfer && this.running && this.loop.isLeader && this.loop.status.confState.voters.length > 1) {
      // Hand over before leaving, so a rolling restart loses no write and waits for no election.
      const status = this.loop.status;
      const best = [...status.progress.entries()].filter(([id]) => id !== this.id && status.confState.voters.includes(id)).sort((a, b) => b[1].match - a[1].match)[0];
      const name = best === undefined ? null : this.members.nameOf(best[0]);
      if (name !== null) await this.transferLeadership(name).catch((err: unknown) => this.options.logger.warn({ err: String(err) }, 'leadership transfer on shutdown failed'));
    }
    this.stopped = true;
    this.region?.stop();
    const backupStopped = this.backup?.stop();
    this.publishView();
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    if (this.lagTimer !== undefined) clearInterval(this.lagTimer);
    if (this.running) this.loop.stop();
    this.waiters.failAll(new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down'));
    this.transport?.close();
    await Promise.all([this.applyWorker?.terminate(), this.reads?.close(), this.log.close(), backupStopped]);
  }
}

/**
 * The durable log behind the loop's callback port (its writes run on the log's writer thread).
 * `keep` may keep more entries behind a snapshot than the loop asks (the backup archive's, see backup/).
 */
function logPort(log: DurableLog, keep: (index: number, keepEntries: number) => number): LoopLog {
  return loopLog(log, {
    persist: (batch, done) => {
      const written = log.persist(batch);
      if (written === undefined) return true;
      written.then(() => done(), done);
      return false;
    },
    compact: (meta, data, keepEntries, imagePath, done) => {
      log.snapshotAndCompact(meta.index, meta.confState, data, keep(meta.index, keepEntries), imagePath).then(() => done(), done);
    },
  });
}
