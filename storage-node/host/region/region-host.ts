/**
 * A node's part in a multi-region deployment (DESIGN.md, Regions): it holds
 * the region state its group applied, and on the group's leader it runs
 * what a region does as a whole:
 *
 * - **Polling the other regions** every `confirmMs`: their epoch, state,
 *   position, lag and leader. A higher epoch seen anywhere is proposed into
 *   this group at once (a former primary fences itself that way).
 * - **Epoch confirmation** (the primary region's leader): a write is taken
 *   only while a poll round that started at most CONFIRM_WINDOW ago reached
 *   every region it could without finding a higher epoch. A region whose
 *   processes were paused (SIGSTOP, a VM pause) therefore refuses writes
 *   with EPOCH_UNCONFIRMED from the moment it resumes until it has asked the
 *   others, and learns of a promotion made meanwhile before it writes
 *   again. A region cut off from all others keeps writing (rounds end by
 *   timeout); that is the price of manual promotion, and why a forced
 *   promotion reports what may diverge, and the returning region's
 *   entries after the fork are set aside (dr-follower.ts).
 * - **The DR stream**: pulling the primary's log when this region follows
 *   (dr-follower.ts), serving it to follower regions on any node
 *   (dr-source.ts).
 * - **Promotion** (`promote`) on the target region's leader: planned (the
 *   primary stops writes at a fence entry, the target applies up to it, then
 *   takes the next epoch: nothing acknowledged is lost) or forced (the
 *   target takes the next epoch with what it has; the loss estimate is the
 *   primary's last reported commit minus the target's position: positions,
 *   not clocks). Every region reachable is told the new epoch.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ErrorCode, GeodeError } from '../../../shared/protocol/errors.js';
import type { PeerRegionStatus, PromoteResult, RegionStatus } from '../../../shared/protocol/region.js';
import type { NodeRegions, RegionSpec } from '../../../shared/config/regions.js';
import { encodeRegionCommand } from '../../replication/command.js';
import type { RegionCommand } from '../../replication/command.js';
import { covers } from '../../replication/region-state.js';
import type { EpochRecord, Position, RegionState } from '../../replication/region-state.js';
import type { Entry, Snapshot } from '../../raft/index.js';
import { DrFollower } from './dr-follower.js';
import { chooseCandidate, majorityOf, voteRefusal } from './auto-failover.js';
import type { CandidateView, VoteRequest } from './auto-failover.js';
import { serveDrStream } from './dr-source.js';

export const DR_STREAM_PATH = '/v1/dr/stream';
export const DR_EPOCH_PATH = '/v1/dr/epoch';
export const DR_VOTE_PATH = '/v1/dr/vote';
/** How long a primary's epoch confirmation lasts: a few poll rounds (plus one round's timeout, see confirmWindowMs). */
const CONFIRM_ROUNDS = 4;

export interface RegionHostPort {
  readonly name: string;
  readonly dataDir: string;
  readonly clusterSecret: string;
  isLeader(): boolean;
  leaderUrl(): string | null;
  applied(): number;
  firstIndex(): number;
  lastIndex(): number;
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  snapshot(): Snapshot;
  snapshotNow(): Promise<unknown>;
  /** Proposes a region entry and resolves once this node applied it (NOT_LEADER, TIMEOUT otherwise). */
  proposeAndWait(data: Uint8Array, timeoutMs: number): Promise<number>;
  /** Proposes without waiting; false when not accepted. */
  propose(data: Uint8Array): boolean;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** The DR routes' bearer token: derived from the cluster secret the deployment's regions share. */
export function drToken(secret: string): string {
  return createHmac('sha256', secret).update('geode-dr-stream-v1').digest('hex');
}

function tokenOk(header: string | undefined, expected: string): boolean {
  const given = header?.startsWith('Bearer ') === true ? header.slice(7) : '';
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

interface PeerRuntime {
  spec: RegionSpec;
  status: PeerRegionStatus;
  /** Index into spec.nodes of the node to ask first (the leader when known). */
  preferred: string | undefined;
  /** The region's last answer in full (its own history, for adopting a newer epoch). */
  last: RegionStatus | undefined;
}

export class RegionHost {
  private state: RegionState;
  private readonly self: RegionSpec;
  private readonly peers = new Map<string, PeerRuntime>();
  private readonly follower: DrFollower;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly token: string;
  private readonly confirmMs: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** Start time of the last poll round that completed without finding a higher epoch (performance.now()). */
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private readonly appliedListeners = new Set<() => void>();
  private proposingEpoch: string | undefined;
  private stopped = false;

  constructor(
    readonly regions: NodeRegions,
    initial: RegionState,
    private readonly port: RegionHostPort,
  ) {
    this.state = initial;
    const self = regions.regions.find((r) => r.name === regions.self);
    if (self === undefined) throw new Error(`region ${regions.self} is not among the configured regions`);
    this.self = self;
    for (const spec of regions.regions) {
      if (spec.name === regions.self) continue;
      this.peers.set(spec.name, {
        spec,
        preferred: undefined,
        last: undefined,
        status: { name: spec.name, role: spec.role, state: 'unknown', epoch: null, primary_region: null, position: null, lag_ms: null, reachable: false, leader_url: null, seen_at: null },
      });
    }
    // Epoch confirmation is what writes wait on after a pause: poll often (the rounds are small).
    this.confirmMs = Math.max(50, Math.min(regions.routing.healthCheckIntervalMs, 250));
    this.token = drToken(port.clusterSecret);
    this.follower = new DrFollower({
      name: port.name,
      region: regions.self,
      dataDir: port.dataDir,
      token: this.token,
      state: () => this.state,
      sourceUrls: (primary) => this.sourceUrls(primary),
      isLeader: () => port.isLeader(),
      propose: (data) => port.propose(data),
      entries: (lo, hi) => port.entries(lo, hi, 64 * 1024 * 1024),
      firstIndex: () => port.firstIndex(),
      lastIndex: () => port.lastIndex(),
      logger: port.logger,
    });
    this.follower.onEpoch = (record) => this.adoptEpoch(record);
  }

  /** A poll of one region gives up after this long (all its nodes are asked at once). */
  private get roundTimeoutMs(): number {
    return Math.max(200, 2 * this.confirmMs);
  }

  /**
   * How long a completed round's confirmation lasts: CONFIRM_ROUNDS intervals plus one round's
   * timeout, so a region that stopped answering (a hung DR region) never lets it lapse between rounds.
   */
  private get confirmWindowMs(): number {
    return CONFIRM_ROUNDS * this.confirmMs + this.roundTimeoutMs;
  }

  get regionName(): string {
    return this.regions.self;
  }

  /** The region state as last applied (a primary's position is its applied index). */
  current(): RegionState {
    const s = this.state;
    if (s.state !== 'primary') return s;
    const applied = this.port.applied();
    return s.position.index >= applied ? s : { ...s, position: { epoch: s.epoch, index: applied } };
  }

  start(): void {
    this.pollTimer = setInterval(() => void this.poll(), this.confirmMs);
    this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.follower.stop();
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  /** After every applied batch (and a snapshot install): the new state, if it changed. */
  applied(next: RegionState | undefined, gap: boolean): void {
    if (next !== undefined) {
      const before = this.state;
      this.state = next;
      if (before.epoch !== next.epoch || before.state !== next.state) {
        this.port.logger.warn({ epoch: next.epoch, primary: next.primary, state: next.state, position: next.position }, `region ${this.regions.self}: epoch ${next.epoch}, ${next.state}`);
        // A new epoch: the stream must follow the new primary, and a new primary confirms from scratch.
        if (next.state === 'primary') this.confirmedAt = performance.now();
        this.follower.restart();
      }
    }
    this.follower.applied(gap);
    this.refresh();
    for (const listener of [...this.appliedListeners]) listener();
  }

  /** Leadership changed: the stream runs on the leader of a follower region only. */
  refresh(): void {
    if (this.stopped) return;
    const leader = this.port.isLeader();
    // A new leader confirms its epoch at once rather than at the next tick: writes wait on it.
    if (leader && !this.wasLeader) void this.poll();
    this.wasLeader = leader;
    if (leader && this.state.state === 'follower') this.follower.start();
    else this.follower.stop();
  }

  private wasLeader = false;

  // ---- writes and reads ---------------------------------------------------------

  /** Why this node must not take a write now, or undefined. Cluster settings are this region's own business. */
  writeRefusal(clusterSetting: boolean, check: 'region' | 'epoch' = 'epoch'): GeodeError | undefined {
    if (clusterSetting) return undefined;
    const s = this.state;
    if (check === 'region') {
      if (s.state === 'primary') return undefined;
      const primary = this.peers.get(s.primary);
      return new GeodeError(ErrorCode.NOT_PRIMARY_REGION, `region ${this.regions.self} is ${s.state === 'fenced' ? 'a fenced former primary' : 'not the write region'} at epoch ${s.epoch}; writes go to region ${s.primary}`, {
        extra: { region: this.regions.self, primary_region: s.primary, epoch: s.epoch, primary_urls: primary?.spec.nodes ?? [], primary_leader_url: primary?.status.leader_url ?? null },
      });
    }
    if (s.state !== 'primary') return this.writeRefusal(clusterSetting, 'region');
    if (this.peers.size > 0 && performance.now() - this.confirmedAt > this.confirmWindowMs) {
      void this.poll();
      return new GeodeError(ErrorCode.EPOCH_UNCONFIRMED, `region ${this.regions.self} has not confirmed its epoch ${s.epoch} with the other regions within ${this.confirmWindowMs} ms (it was paused, or its leader is new); retry shortly`, {
        extra: { region: this.regions.self, epoch: s.epoch },
      });
    }
    return undefined;
  }

  /** Whether this region serves reads at all (disaster_recovery regions only when configured to). */
  get servesReads(): boolean {
    return this.self.serveReads;
  }

  /** Resolves once this region has applied the primary's position `target` (a causal token); TIMEOUT at the deadline. */
  waitPosition(target: Position, deadline: number): Promise<void> {
    const done = (): boolean => {
      const s = this.current();
      if (covers(s.position, s.history, target)) return true;
      // A target of an epoch this region went past beyond its fork was lost in a forced promotion: waiting cannot help.
      return target.epoch < s.position.epoch && !covers(s.position, s.history, target);
    };
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        const s = this.current();
        reject(new GeodeError(ErrorCode.TIMEOUT, `region ${this.regions.self} had not applied position (${target.epoch}, ${target.index}) of the primary by the deadline; it is at (${s.position.epoch}, ${s.position.index})`, { extra: { position: s.position } }));
      }, Math.max(0, deadline - Date.now()));
      const cleanup = (): void => {
        clearTimeout(timer);
        this.appliedListeners.delete(listener);
      };
      this.appliedListeners.add(listener);
    });
  }

  /**
   * Region lag in ms: 0 on the primary; on a follower region's leader from the stream; on its other
   * nodes, what their leader last said (asked every poll interval) plus the time since, unknown once that
   * answer is older than a second.
   */
  lagMs(): number | undefined {
    if (this.state.state === 'primary') return 0;
    if (this.port.isLeader()) return this.follower.lagMs();
    const heard = this.leaderLag;
    if (heard === undefined || heard.lagMs === null) return undefined;
    const age = performance.now() - heard.at;
    return age > 1_000 ? undefined : heard.lagMs + age;
  }

  private leaderLag: { lagMs: number | null; at: number } | undefined;

  /** On a follower region's other nodes: the region lag as their leader knows it. */
  private async askLeaderLag(): Promise<void> {
    const url = this.port.leaderUrl();
    if (url === null || this.state.state === 'primary') return;
    const at = performance.now();
    try {
      const response = await fetch(`${url}/api/v1/region/status`, { signal: AbortSignal.timeout(Math.max(200, this.confirmMs * 2)) });
      if (!response.ok) return;
      const answer = (await response.json()) as RegionStatus;
      if (answer.leader && answer.region === this.regions.self) this.leaderLag = { lagMs: answer.lag_ms, at };
    } catch {
      // Unknown until the next answer.
    }
  }

  /** Why a bounded read must not be served here, or undefined: the region's lag on top of this node's own. */
  boundedRefusal(selfLagMs: number | undefined, boundMs: number): GeodeError | undefined {
    if (this.state.state === 'primary') return undefined;
    const region = this.lagMs();
    const max = this.self.replicationLagMaxMs;
    const total = region === undefined || selfLagMs === undefined ? undefined : region + selfLagMs;
    if (total !== undefined && total <= boundMs && (max === undefined || region! <= max)) return undefined;
    const why =
      region === undefined
        ? `cannot tell how far region ${this.regions.self} is behind the primary region ${this.state.primary} (no recent word from the stream)`
        : max !== undefined && region > max
          ? `region ${this.regions.self} is ${Math.round(region)} ms behind the primary, over its replication_lag_max of ${max} ms`
          : `region ${this.regions.self} is ${Math.round(region)} ms behind the primary and this replica ${selfLagMs ?? '?'} ms behind its leader, over the bound of ${boundMs} ms`;
    return new GeodeError(ErrorCode.REPLICA_LAGGING, why, { extra: { region: this.regions.self, region_lag_ms: region ?? null, lag_ms: total ?? null, max_lag_ms: boundMs } });
  }

  private overLagMax = false;

  /** The alarm: logged once when the region's lag crosses replication_lag_max, and once when it is back under. */
  private checkLagAlarm(): void {
    const max = this.self.replicationLagMaxMs;
    if (max === undefined || this.state.state === 'primary' || !this.port.isLeader()) return;
    const lag = this.follower.lagMs();
    const over = lag === undefined || lag > max;
    if (over === this.overLagMax) return;
    this.overLagMax = over;
    if (over) this.port.logger.warn({ region: this.regions.self, lag_ms: lag ?? null, replication_lag_max_ms: max }, `region ${this.regions.self} is over its replication_lag_max: it serves no bounded read until it is back under`);
    else this.port.logger.info({ region: this.regions.self, lag_ms: lag, replication_lag_max_ms: max }, `region ${this.regions.self} is back within its replication_lag_max`);
  }

  // ---- status -------------------------------------------------------------------

  /** When each region's leader last polled this node (its `?from=`), performance.now(): forced promotion waits out its confirmation. */
  private readonly polledAt = new Map<string, number>();

  status(polledBy?: string): RegionStatus {
    if (polledBy !== undefined && this.peers.has(polledBy)) this.polledAt.set(polledBy, performance.now());
    const s = this.current();
    const lag = this.lagMs();
    const max = this.self.replicationLagMaxMs ?? null;
    const primary = s.state === 'primary';
    return {
      region: this.regions.self,
      role: this.self.role,
      state: s.state,
      epoch: s.epoch,
      primary_region: s.primary,
      position: s.position,
      source_commit: primary ? null : (this.follower.sourceCommit ?? null),
      behind_entries: primary ? 0 : (this.follower.behindEntries() ?? null),
      lag_ms: lag ?? null,
      replication_lag_max_ms: max,
      over_lag_max: !primary && (lag === undefined || (max !== null && lag > max)),
      serve_reads: this.self.serveReads,
      write_priority: this.self.writePriority ?? null,
      stream: primary ? null : this.follower.status(),
      node: this.port.name,
      leader: this.port.isLeader(),
      leader_url: this.port.leaderUrl(),
      history: s.history,
      quarantined: s.quarantined,
      regions: [...this.peers.values()].map((p) => p.status),
      vote: s.vote ?? null,
      lag_at_contact_ms: primary ? 0 : (this.port.isLeader() ? (this.follower.lagAtContactMs() ?? null) : null),
      primary_unreachable_ms: primary || !this.port.isLeader() ? null : (this.primaryUnreachableMs() ?? null),
    };
  }

  // ---- automatic failover (auto-failover.ts) ---------------------------------------------

  /** When this node (as its region's leader) last reached the primary region: a poll answer or a stream frame (performance.now()). */
  private primaryReachedAt = performance.now();
  private electing = false;
  private nextElectionAt = 0;

  private get automatic(): boolean {
    return this.regions.routing.failoverPolicy === 'automatic' && this.regions.regions.length >= 3;
  }

  /** How long the primary has been out of reach, ms; undefined while it is reached (within two poll rounds). */
  private primaryUnreachableMs(): number | undefined {
    const streamAt = this.follower.lastContactAt;
    const streamAgo = streamAt === undefined ? Number.POSITIVE_INFINITY : Date.now() - streamAt;
    const ago = Math.min(performance.now() - this.primaryReachedAt, streamAgo);
    return ago <= 2 * this.confirmMs + 500 ? undefined : ago;
  }

  private voterState() {
    const s = this.current();
    return {
      epoch: s.epoch,
      votedFor: s.vote,
      primaryUnreachableMs: this.primaryUnreachableMs(),
      failoverAfterMs: this.regions.routing.failoverAfterMs,
      position: s.position,
      primary: s.state === 'primary',
      self: this.regions.self,
    };
  }

  /** `POST /v1/dr/vote` from a candidate region. The vote is recorded in this group before it is granted. */
  async voteFromPeer(authorization: string | undefined, body: unknown): Promise<{ region: string; granted: boolean; reason: string | null }> {
    if (!tokenOk(authorization, this.token)) throw new GeodeError(ErrorCode.UNAUTHORIZED, "the DR routes need the deployment's DR token");
    const request = parseVote(body);
    if (request === undefined) throw new GeodeError(ErrorCode.BAD_REQUEST, 'body must be {epoch, candidate, position: {epoch, index}}');
    if (!this.port.isLeader()) throw new GeodeError(ErrorCode.NOT_LEADER, `not the leader of region ${this.regions.self}`, { extra: { leader_url: this.port.leaderUrl() } });
    const refusal = voteRefusal(this.voterState(), request);
    if (refusal !== undefined) return { region: this.regions.self, granted: false, reason: refusal };
    await this.recordVote(request);
    // Recorded only if no other vote for that epoch got there first.
    const granted = this.state.vote?.epoch === request.epoch && this.state.vote.candidate === request.candidate;
    return { region: this.regions.self, granted, reason: granted ? null : `region ${this.regions.self} voted for ${this.state.vote?.candidate ?? '?'} at epoch ${request.epoch}` };
  }

  private async recordVote(request: VoteRequest): Promise<void> {
    const s = this.state;
    if (s.vote?.epoch === request.epoch && s.vote.candidate === request.candidate) return;
    await this.port.proposeAndWait(encodeRegionCommand({ kind: 'region', epoch: s.epoch, primary: s.primary, fork: null, start: null, vote: { epoch: request.epoch, candidate: request.candidate } }), 5_000);
  }

  /** After each poll round on a follower region's leader: start an election when the primary has been gone long enough. */
  private maybeElect(): void {
    if (!this.automatic || this.electing || this.state.state !== 'follower' || !this.port.isLeader()) return;
    const unreachable = this.primaryUnreachableMs();
    if (unreachable === undefined || unreachable < this.regions.routing.failoverAfterMs || performance.now() < this.nextElectionAt) return;
    const s = this.current();
    const views: CandidateView[] = [
      { name: this.regions.self, writePriority: this.self.writePriority, reachable: true, lagMs: this.follower.lagAtContactMs(), lagMaxMs: this.self.replicationLagMaxMs, position: s.position, primary: false },
      ...[...this.peers.values()].map((p) => ({
        name: p.spec.name,
        writePriority: p.spec.writePriority,
        reachable: p.status.reachable,
        lagMs: p.last?.lag_at_contact_ms ?? undefined,
        lagMaxMs: p.spec.replicationLagMaxMs,
        position: p.status.position ?? undefined,
        primary: p.spec.name === s.primary,
      })),
    ];
    if (chooseCandidate(views) !== this.regions.self) return;
    this.electing = true;
    void this.elect().finally(() => {
      this.electing = false;
      // A failed attempt waits before the next, so candidates do not hammer the voters.
      this.nextElectionAt = performance.now() + this.regions.routing.failoverAfterMs / 2;
    });
  }

  private async elect(): Promise<void> {
    const s = this.current();
    const request: VoteRequest = { epoch: s.epoch + 1, candidate: this.regions.self, position: s.position };
    const needed = majorityOf(this.regions.regions.length);
    this.port.logger.warn({ epoch: request.epoch, unreachable_ms: this.primaryUnreachableMs(), needed }, `region ${this.regions.self}: primary ${s.primary} unreachable; asking the regions for their votes`);
    try {
      await this.recordVote(request);
    } catch (error) {
      this.port.logger.warn({ err: String(error) }, 'automatic failover: could not record the vote of this region for itself');
      return;
    }
    if (this.state.vote?.candidate !== this.regions.self) return;
    let votes = 1;
    const reasons: string[] = [];
    await Promise.all(
      [...this.peers.values()].map(async (peer) => {
        const answer = await this.callRegion<{ granted?: boolean; reason?: string | null }>(peer, DR_VOTE_PATH, request, Date.now() + 2_000);
        if (answer?.granted === true) votes++;
        else reasons.push(`${peer.spec.name}: ${answer?.reason ?? 'no answer'}`);
      }),
    );
    if (votes < needed) {
      this.port.logger.warn({ votes, needed, reasons }, 'automatic failover: no majority of regions; staying a follower');
      return;
    }
    this.port.logger.warn({ votes, needed }, `automatic failover: a majority of regions chose ${this.regions.self}`);
    await this.promote(true, 60_000).catch((error: unknown) => this.port.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'automatic failover: promotion failed'));
  }

  // ---- the DR routes --------------------------------------------------------------

  /** Upgrade handler of the DR stream; false when the path is another one. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, source: () => DrSourceBinding | undefined): boolean {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname !== DR_STREAM_PATH) return false;
    const binding = source();
    if (binding === undefined || !tokenOk(request.headers.authorization, this.token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return true;
    }
    const epoch = Number(url.searchParams.get('epoch'));
    const index = Number(url.searchParams.get('index'));
    if (!Number.isSafeInteger(epoch) || !Number.isSafeInteger(index) || epoch < 0 || index < 0) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return true;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      void serveDrStream(ws, { epoch, index }, {
        name: this.port.name,
        region: this.regions.self,
        state: () => this.current(),
        applied: () => this.port.applied(),
        firstIndex: () => this.port.firstIndex(),
        entries: (lo, hi, max) => this.port.entries(lo, hi, max),
        snapshot: () => this.port.snapshot(),
        snapshotNow: () => this.port.snapshotNow(),
        nextApplied: (ms) => this.nextApplied(ms),
        logger: this.port.logger,
      });
    });
    return true;
  }

  /** `POST /v1/dr/epoch` from another region: learn (or, on the primary, end) an epoch. */
  async epochFromPeer(authorization: string | undefined, body: unknown): Promise<{ region: string; state: RegionState['state']; epoch: number; position: Position }> {
    if (!tokenOk(authorization, this.token)) throw new GeodeError(ErrorCode.UNAUTHORIZED, 'the DR routes need the deployment\'s DR token');
    const record = parseEpochRecord(body);
    if (record === undefined) throw new GeodeError(ErrorCode.BAD_REQUEST, 'body must be {epoch, primary, fork, start}');
    await this.proposeEpoch(record, 10_000);
    const s = this.current();
    return { region: this.regions.self, state: s.state, epoch: s.epoch, position: s.position };
  }

  private nextApplied(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.appliedListeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.appliedListeners.add(done);
    });
  }

  /** Proposes an epoch record into this group unless it is old news; resolves once applied. */
  private async proposeEpoch(record: EpochRecord, timeoutMs: number): Promise<void> {
    const s = this.state;
    const known = s.history.find((r) => r.epoch === record.epoch);
    if (record.epoch < s.epoch) return;
    if (known !== undefined && known.primary === record.primary && (known.start !== null || record.start === null) && (known.fork !== null || record.fork === null)) return;
    if (!this.port.isLeader()) throw new GeodeError(ErrorCode.NOT_LEADER, `not the leader of region ${this.regions.self}`, { extra: { leader_url: this.port.leaderUrl() } });
    const command: RegionCommand = { kind: 'region', epoch: record.epoch, primary: record.primary, fork: record.fork, start: record.start };
    await this.port.proposeAndWait(encodeRegionCommand(command), timeoutMs);
  }

  /** A newer epoch seen on a peer or the stream: propose it here (once at a time). */
  private adoptEpoch(record: EpochRecord): void {
    const key = `${record.epoch}:${record.primary}:${record.start ?? ''}`;
    if (this.proposingEpoch === key || !this.port.isLeader()) return;
    this.proposingEpoch = key;
    this.proposeEpoch(record, 10_000)
      .catch((error: unknown) => this.port.logger.warn({ err: error instanceof Error ? error.message : String(error), epoch: record.epoch }, 'region: could not record a newer epoch'))
      .finally(() => {
        if (this.proposingEpoch === key) this.proposingEpoch = undefined;
      });
  }

  // ---- polling the other regions ------------------------------------------------------

  private async poll(): Promise<void> {
    if (this.stopped) return;
    if (!this.port.isLeader()) {
      void this.askLeaderLag();
      return;
    }
    this.checkLagAlarm();
    if (this.polling) return;
    this.polling = true;
    const started = performance.now();
    let higher = false;
    let answered = 0;
    try {
      await Promise.all(
        [...this.peers.values()].map(async (peer) => {
          const answer = await this.ask(peer);
          if (answer === undefined) return;
          answered++;
          if (peer.spec.name === this.state.primary) this.primaryReachedAt = Math.max(this.primaryReachedAt, started);
          // A region that voted for a coming epoch no longer vouches for this one.
          if (answer.vote !== null && answer.vote !== undefined && answer.vote.epoch > this.state.epoch) higher = true;
          if (answer.epoch > this.state.epoch) {
            higher = true;
            const record = answer.history.find((r) => r.epoch === answer.epoch);
            if (record !== undefined) this.adoptEpoch(record);
          } else if (answer.epoch === this.state.epoch) {
            // Same epoch: learn where it began if this region did not know (a planned handover's old primary).
            const mine = this.state.history.find((r) => r.epoch === answer.epoch);
            const theirs = answer.history.find((r) => r.epoch === answer.epoch);
            if (mine !== undefined && theirs !== undefined && mine.start === null && theirs.start !== null) this.adoptEpoch({ ...mine, start: theirs.start, fork: mine.fork ?? theirs.fork });
          }
        }),
      );
      // Automatic mode: only a round that reached a majority of regions confirms (a primary cut off from them stops writing).
      const enough = !this.automatic || answered + 1 >= majorityOf(this.regions.regions.length);
      if (!higher && enough) this.confirmedAt = Math.max(this.confirmedAt, started);
    } finally {
      this.polling = false;
    }
    this.maybeElect();
  }

  /**
   * One region's status: every node of it asked at once (a round must not take a timeout per node: a
   * hung region would then hold up the primary's epoch confirmation), the leader's answer preferred,
   * else the one with the highest epoch; undefined when none answers within two poll intervals.
   */
  private async ask(peer: PeerRuntime): Promise<RegionStatus | undefined> {
    const answers = await Promise.all(
      peer.spec.nodes.map(async (url) => {
        try {
          const response = await fetch(`${url}/api/v1/region/status?from=${encodeURIComponent(this.regions.self)}`, { signal: AbortSignal.timeout(this.roundTimeoutMs) });
          return response.ok ? { url, answer: (await response.json()) as RegionStatus } : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    let best: { url: string; answer: RegionStatus } | undefined;
    for (const a of answers) {
      if (a === undefined) continue;
      if (best === undefined || (a.answer.leader && !best.answer.leader) || (a.answer.leader === best.answer.leader && a.answer.epoch > best.answer.epoch)) best = a;
    }
    if (best === undefined) {
      peer.status = { ...peer.status, reachable: false, lag_ms: null };
      return undefined;
    }
    const { url, answer } = best;
    peer.last = answer;
    if (answer.leader) peer.preferred = url;
    peer.status = {
      name: peer.spec.name,
      role: peer.spec.role,
      state: answer.state,
      epoch: answer.epoch,
      primary_region: answer.primary_region,
      position: answer.position,
      lag_ms: answer.lag_ms,
      reachable: true,
      leader_url: answer.leader ? url : answer.leader_url,
      seen_at: Date.now(),
    };
    return answer;
  }

  /** The primary region's node URLs, its leader first when a poll said who leads. */
  private sourceUrls(primary: string): string[] {
    const peer = this.peers.get(primary);
    if (peer === undefined) return [];
    const leader = peer.preferred;
    return leader !== undefined ? [leader, ...peer.spec.nodes.filter((u) => u !== leader)] : [...peer.spec.nodes];
  }

  // ---- promotion ----------------------------------------------------------------------

  /**
   * Makes this region the primary at epoch + 1 (run on this region's leader). Planned: the primary
   * fences itself at an entry of its log and this region applies up to it first. Forced: with what
   * this region has; the answer estimates the loss from replication positions.
   */
  promote(force: boolean, timeoutMs: number): Promise<PromoteResult> {
    // A retried request (a client's retry, a proxy's) joins the promotion under way or gets its answer again.
    if (this.promoting !== undefined) return this.promoting;
    const last = this.lastPromotion;
    if (last !== undefined && this.state.state === 'primary' && this.state.epoch === last.epoch) return Promise.resolve(last);
    this.promoting = this.runPromotion(force, timeoutMs).then(
      (result) => {
        this.promoting = undefined;
        this.lastPromotion = result;
        return result;
      },
      (error: unknown) => {
        this.promoting = undefined;
        throw error;
      },
    );
    return this.promoting;
  }

  private promoting: Promise<PromoteResult> | undefined;
  private lastPromotion: PromoteResult | undefined;

  private async runPromotion(force: boolean, timeoutMs: number): Promise<PromoteResult> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    this.port.logger.info({ force, timeout_ms: timeoutMs }, `region ${this.regions.self}: promotion requested`);
    if (!this.port.isLeader()) throw new GeodeError(ErrorCode.NOT_LEADER, `not the leader of region ${this.regions.self}`, { extra: { leader_url: this.port.leaderUrl() } });
    const s = this.state;
    if (s.state === 'primary') throw new GeodeError(ErrorCode.BAD_REQUEST, `region ${this.regions.self} is already the primary at epoch ${s.epoch}`, { detail: 'AlreadyPrimary' });
    if (s.state === 'fenced') throw new GeodeError(ErrorCode.BAD_REQUEST, `region ${this.regions.self} is a fenced former primary; rejoin it first (geode cluster rejoin-region ${this.regions.self})`, { detail: 'RegionFenced' });
    const previous = s.primary;
    const epoch = s.epoch + 1;
    let fork: Position;
    let lost = 0;
    let basis: PromoteResult['estimate_basis'] = 'exact';
    if (!force) {
      const oldPrimary = this.peers.get(previous);
      if (oldPrimary === undefined) throw new GeodeError(ErrorCode.INTERNAL, `primary region ${previous} is not configured`);
      // 1. The primary stops writes: the fence entry ends its epoch.
      const fenced = await this.tellRegion(oldPrimary, { epoch, primary: this.regions.self, fork: null, start: null }, deadline);
      if (fenced === undefined) {
        throw new GeodeError(ErrorCode.NO_QUORUM, `primary region ${previous} did not answer; a planned promotion needs it. Use --force to promote with what region ${this.regions.self} has`, { detail: 'PrimaryUnreachable' });
      }
      fork = fenced.position;
      // 2. This region applies everything up to the fence.
      this.follower.restart();
      await this.waitPosition(fork, deadline).catch(() => {
        throw new GeodeError(ErrorCode.TIMEOUT, `region ${this.regions.self} did not catch up to (${fork.epoch}, ${fork.index}) in time; the old primary no longer takes writes; retry the promotion or use --force`, { detail: 'CatchUpTimeout' });
      });
    } else {
      fork = this.current().position;
      const reported = this.follower.sourceCommit ?? maxPosition([...this.peers.values()].map((p) => (p.spec.name === previous ? p.status.position : null)));
      if (reported !== undefined && reported !== null && reported.epoch === fork.epoch) {
        lost = Math.max(0, reported.index - fork.index);
        basis = 'last_reported_commit';
      } else {
        basis = 'unknown';
      }
      this.follower.stop();
      await this.outwaitConfirmation(previous, deadline);
    }
    // 3. This region takes the next epoch.
    await this.proposeEpoch({ epoch, primary: this.regions.self, fork, start: null }, Math.max(1_000, deadline - Date.now()));
    this.confirmedAt = performance.now();
    const record = this.state.history.find((r) => r.epoch === epoch);
    // 4. Every region that answers learns it now; the others when they next poll.
    await Promise.all([...this.peers.values()].map((peer) => this.tellRegion(peer, record ?? { epoch, primary: this.regions.self, fork, start: null }, Date.now() + 2_000)));
    this.port.logger.warn({ epoch, previous_primary: previous, fork, forced: force, lost_entries_estimate: lost }, `region ${this.regions.self} promoted to primary`);
    return { region: this.regions.self, epoch, previous_primary: previous, planned: !force, fork, lost_entries_estimate: lost, estimate_basis: basis, took_ms: Date.now() - started };
  }

  /**
   * A forced promotion must not leave the old primary able to write at its epoch once it comes back.
   * A primary writes only within CONFIRM_ROUNDS poll intervals of starting a round that completed, and
   * every round that started before it went silent polled this region (or timed out after its last poll
   * here began). Waiting until (CONFIRM_ROUNDS + 1) intervals plus a margin have passed since its last
   * poll reached this node means that, paused or not, it must confirm again before its next write, and
   * that round finds the new epoch. (Polls reach the region's leader, which runs the promotion.)
   */
  private async outwaitConfirmation(primary: string, deadline: number): Promise<void> {
    const last = this.polledAt.get(primary);
    if (last === undefined) return;
    const until = last + this.confirmWindowMs + this.confirmMs + 250;
    const wait = until - performance.now();
    if (wait <= 0) return;
    if (Date.now() + wait > deadline) throw new GeodeError(ErrorCode.TIMEOUT, `region ${primary} polled this region ${Math.round(performance.now() - last)} ms ago; a forced promotion waits ${Math.round(wait)} ms more for its epoch confirmation to lapse`, { detail: 'PrimaryRecentlyAlive' });
    this.port.logger.info({ primary, wait_ms: Math.round(wait) }, 'forced promotion: waiting out the old primary\'s epoch confirmation');
    await new Promise((r) => setTimeout(r, wait));
  }

  /** A fenced former primary follows again; its diverged entries are set aside when the new primary's image arrives. */
  async rejoin(timeoutMs: number): Promise<{ region: string; state: RegionState['state']; epoch: number; primary_region: string }> {
    if (!this.port.isLeader()) throw new GeodeError(ErrorCode.NOT_LEADER, `not the leader of region ${this.regions.self}`, { extra: { leader_url: this.port.leaderUrl() } });
    const s = this.state;
    if (s.state !== 'fenced') throw new GeodeError(ErrorCode.BAD_REQUEST, `region ${this.regions.self} is ${s.state}, not fenced; nothing to rejoin`, { detail: 'NotFenced' });
    await this.port.proposeAndWait(encodeRegionCommand({ kind: 'region', epoch: s.epoch, primary: s.primary, fork: null, start: null, rejoin: true }), timeoutMs);
    return { region: this.regions.self, state: this.state.state, epoch: this.state.epoch, primary_region: this.state.primary };
  }

  /** Sends an epoch record to a region's leader; its answer, or undefined when unreachable. */
  private async tellRegion(peer: PeerRuntime, record: EpochRecord, deadline: number): Promise<{ position: Position; state: string; epoch: number } | undefined> {
    const answer = await this.callRegion<{ position?: Position; state?: string; epoch?: number }>(peer, DR_EPOCH_PATH, record, deadline);
    return answer?.position === undefined ? undefined : { position: answer.position, state: answer.state ?? '', epoch: answer.epoch ?? 0 };
  }

  /** POSTs to a DR route of a region's leader (following NOT_LEADER to the leader it names); the answer, or undefined when none came. */
  private async callRegion<T>(peer: PeerRuntime, path: string, payload: unknown, deadline: number): Promise<T | undefined> {
    const tried = new Set<string>();
    let queue = peer.preferred !== undefined ? [peer.preferred, ...peer.spec.nodes] : [...peer.spec.nodes];
    while (queue.length > 0 && Date.now() < deadline) {
      const url = queue.shift()!;
      if (tried.has(url)) continue;
      tried.add(url);
      try {
        const response = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
          body: JSON.stringify(payload),
          signal: AbortSignal.timeout(Math.max(500, Math.min(10_000, deadline - Date.now()))),
        });
        const body = (await response.json()) as T & { error?: { code: string; leader_url?: string | null } };
        if (response.ok) return body;
        const leader = body.error?.leader_url;
        if (body.error?.code === 'NOT_LEADER' && typeof leader === 'string') queue = [leader, ...queue];
      } catch {
        // The next node of that region.
      }
    }
    return undefined;
  }
}

export interface DrSourceBinding {
  ok: true;
}

function parseEpochRecord(body: unknown): EpochRecord | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const o = body as Record<string, unknown>;
  const position = (v: unknown): Position | null | undefined => {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'object') return undefined;
    const p = v as Record<string, unknown>;
    return Number.isSafeInteger(p['epoch']) && Number.isSafeInteger(p['index']) ? { epoch: p['epoch'] as number, index: p['index'] as number } : undefined;
  };
  const fork = position(o['fork']);
  const start = o['start'] === null || o['start'] === undefined ? null : Number.isSafeInteger(o['start']) ? (o['start'] as number) : undefined;
  if (!Number.isSafeInteger(o['epoch']) || (o['epoch'] as number) < 1 || typeof o['primary'] !== 'string' || fork === undefined || start === undefined) return undefined;
  return { epoch: o['epoch'] as number, primary: o['primary'], fork, start };
}

function parseVote(body: unknown): VoteRequest | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const o = body as Record<string, unknown>;
  const p = o['position'] as Record<string, unknown> | undefined;
  if (!Number.isSafeInteger(o['epoch']) || typeof o['candidate'] !== 'string' || p === undefined || p === null || typeof p !== 'object') return undefined;
  if (!Number.isSafeInteger(p['epoch']) || !Number.isSafeInteger(p['index'])) return undefined;
  return { epoch: o['epoch'] as number, candidate: o['candidate'], position: { epoch: p['epoch'] as number, index: p['index'] as number } };
}

function maxPosition(positions: Array<Position | null>): Position | undefined {
  let best: Position | undefined;
  for (const p of positions) if (p !== null && (best === undefined || p.epoch > best.epoch || (p.epoch === best.epoch && p.index > best.index))) best = p;
  return best;
}

