/**
 * The gateway's live picture of the cluster. Per node: a watch stream
 * (pushes on every change), status polling, and active /healthz checks that
 * measure round-trip time.
 *
 * Polling runs every `pollIntervalMs` whether or not the stream is open. The
 * stream makes changes arrive at once; the poll bounds how long a wrong
 * picture can last when a push is missed. Pushes can be missed: a node
 * paused (SIGSTOP) and resumed pushes only what changes after it resumes,
 * and a poll answer computed before a push can arrive after it and
 * overwrite it. Without the poll such a stale lag or applied index stayed
 * until the node's lag next crossed a 50 ms step, which on a quiet
 * cluster may be never, and a lag-bounded session routed around a healthy
 * replica for good. The cost is one status request per node per interval.
 *
 * Leader rule: a claim (status or response meta) carrying an older term than
 * the newest seen is ignored; a newer term replaces the leader, even with
 * "unknown" when the claim names none.
 *
 * Identity: a node is its URL until its status names it; from then on its
 * Raft member name decides. A member list naming a known member under
 * another address (peers configured as 127.0.0.1, the gateway given
 * localhost or a DNS name) adds no second view, and a discovered view found
 * to duplicate a known member is dropped, so reads are not spread over one
 * node twice and the status lists each node once.
 *
 * Events: 'leader' (leader: NodeView | undefined, term), 'change' (anything
 * routing cares about: health, lag, role), 'forget' (url of a dropped
 * duplicate view).
 */
import { EventEmitter } from 'node:events';
import { normalizeNodeUrl } from '../config.js';
import type { RegionConfig } from '../config.js';
import type { NodePools } from '../pools.js';
import type { NodeView } from './node-view.js';
import { nextRtt } from './node-view.js';
import { parseStatus } from './status.js';
import type { StatusSnapshot } from './status.js';
import { WatchClient } from './watch-client.js';

export interface TopologyOptions {
  regions: readonly RegionConfig[];
  pools: NodePools;
  healthIntervalMs: number;
  pollIntervalMs: number;
  /** Health check bound; a slower answer counts as a failure. */
  healthTimeoutMs?: number;
  /** Consecutive failed checks before a node is marked unhealthy (a refused connection counts at once). */
  unhealthyAfter?: number;
}

export const UNASSIGNED_REGION = 'unassigned';

/** What `waitForLeaderOf` needs: a topology that emits 'change' and 'leader' and can be asked for news. */
export interface LeaderSource extends EventEmitter {
  availableLeader(): NodeView | undefined;
  refresh(): void;
}

/**
 * Resolves with `source`'s available leader, or undefined after `timeoutMs`: checked on each
 * 'change' and 'leader', with the nodes asked again every 100 ms meanwhile.
 */
export function waitForLeaderOf(source: LeaderSource, timeoutMs: number): Promise<NodeView | undefined> {
  const now = source.availableLeader();
  if (now !== undefined || timeoutMs <= 0) return Promise.resolve(now);
  source.refresh();
  return new Promise((resolve) => {
    const check = (): void => {
      const leader = source.availableLeader();
      if (leader !== undefined) finish(leader);
    };
    const poke = setInterval(() => source.refresh(), 100);
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (leader: NodeView | undefined): void => {
      clearTimeout(timer);
      clearInterval(poke);
      source.off('change', check);
      source.off('leader', check);
      resolve(leader);
    };
    source.on('change', check);
    source.on('leader', check);
  });
}

interface NodeRuntime {
  view: NodeView;
  watch: WatchClient | undefined;
  failures: number;
  lastPoll: number;
  checking: boolean;
}

export class Topology extends EventEmitter {
  private readonly nodes = new Map<string, NodeRuntime>();
  private leaderUrl: string | undefined;
  /** The last leader we knew, kept across "unknown" gaps so a failover is counted once. */
  private lastLeaderUrl: string | undefined;
  private term_ = 0;
  private failovers_ = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = 0;
  private started = false;
  private closed = false;
  private lastQuorumStatus = 'unknown';
  private lastBackup: Record<string, unknown> | undefined;
  /** Each node's configured `cluster_id`, by URL, as its last status said. */
  private readonly clusterIds = new Map<string, string>();

  constructor(private readonly options: TopologyOptions) {
    super();
    this.setMaxListeners(0);
    for (const region of options.regions) for (const url of region.nodes) this.ensure(url, region.name, true);
  }

  get term(): number {
    return this.term_;
  }

  /** Leader changes seen since start. */
  get failovers(): number {
    return this.failovers_;
  }

  get quorumStatus(): string {
    return this.lastQuorumStatus;
  }

  /**
   * The backup block of the leader's last status (the setting, who archives, how far, the last
   * failure): only the leader archives, so only its word is kept. Undefined until a leader said.
   */
  get backup(): Record<string, unknown> | undefined {
    return this.lastBackup;
  }

  /** The cluster's name as the nodes are configured: the leader's word, else any node's; undefined until a status said. */
  get clusterId(): string | undefined {
    const leader = this.leaderUrl === undefined ? undefined : this.clusterIds.get(this.leaderUrl);
    if (leader !== undefined) return leader;
    for (const id of this.clusterIds.values()) return id;
    return undefined;
  }

  /** Every distinct `cluster_id` the nodes report: more than one means the gateway was given nodes of different clusters. */
  clusterIdsSeen(): string[] {
    return [...new Set(this.clusterIds.values())];
  }

  /**
   * How recent a sign of life must be for a node to count as alive: three health intervals (at least
   * 1 s), so that one slow or lost check does not make a live node look dead.
   */
  get livenessWindowMs(): number {
    return Math.max(1000, 3 * this.options.healthIntervalMs);
  }

  /** The node passes health checks and showed a sign of life within the liveness window (`heardAt`: a later sign the caller saw, performance.now()). */
  isAlive(url: string, heardAt = Number.NEGATIVE_INFINITY): boolean {
    const view = this.nodes.get(url)?.view;
    if (view === undefined || !view.healthy) return false;
    return performance.now() - Math.max(view.lastSeenAt, heardAt) <= this.livenessWindowMs;
  }

  /** The node answered something: a sign of life. */
  markSeen(url: string): void {
    const view = this.nodes.get(url)?.view;
    if (view !== undefined) view.lastSeenAt = performance.now();
  }

  /** Runs a health check of `url` now (unless one is in flight); a pass updates its lastSeenAt. */
  checkNow(url: string): void {
    const runtime = this.nodes.get(url);
    if (runtime !== undefined && this.started) void this.check(runtime);
  }

  views(): NodeView[] {
    return [...this.nodes.values()].map((n) => n.view);
  }

  view(url: string): NodeView | undefined {
    return this.nodes.get(url)?.view;
  }

  /** The leader as last trusted, healthy or not. */
  leader(): NodeView | undefined {
    return this.leaderUrl === undefined ? undefined : this.nodes.get(this.leaderUrl)?.view;
  }

  /** A leader that can take a request now. */
  availableLeader(): NodeView | undefined {
    const leader = this.leader();
    return leader !== undefined && leader.healthy ? leader : undefined;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const runtime of this.nodes.values()) this.startNode(runtime);
    const tick = Math.max(10, Math.min(this.options.healthIntervalMs, this.options.pollIntervalMs));
    this.timer = setInterval(() => this.tick(), tick);
    this.timer.unref();
    this.tick();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const runtime of this.nodes.values()) runtime.watch?.close();
    this.removeAllListeners();
  }

  /** Resolves with an available leader, or undefined after `timeoutMs`. */
  waitForLeader(timeoutMs: number): Promise<NodeView | undefined> {
    return waitForLeaderOf(this, timeoutMs);
  }

  /** Polls every node's status now (at most every 50 ms): used while a leader is missing. */
  refresh(): void {
    const now = Date.now();
    if (now - this.lastRefresh < 50 || this.closed) return;
    this.lastRefresh = now;
    for (const runtime of this.nodes.values()) void this.poll(runtime);
  }

  /** A node answered a request: its meta may carry a newer term, or a leader claim. */
  observeMeta(url: string, meta: { node?: unknown; role?: unknown; term?: unknown; applied_index?: unknown }): void {
    const runtime = this.nodes.get(url);
    if (runtime === undefined) return;
    const term = typeof meta.term === 'number' ? meta.term : undefined;
    if (typeof meta.node === 'string') runtime.view.name = meta.node;
    if (typeof meta.applied_index === 'number' && meta.applied_index > runtime.view.appliedIndex) runtime.view.appliedIndex = meta.applied_index;
    if (term === undefined) return;
    if (term > runtime.view.term) runtime.view.term = term;
    if (meta.role === 'primary') this.claimLeader(url, term);
    else if (term > this.term_) this.claimLeader(undefined, term);
  }

  /** A request to `url` failed at the connection level: mark it down until a health check passes. */
  markDown(url: string): void {
    const runtime = this.nodes.get(url);
    if (runtime === undefined || !runtime.view.healthy) return;
    runtime.view.healthy = false;
    runtime.failures = Math.max(runtime.failures, 1);
    this.emit('change');
  }

  /** The node behind a URL learned from a NOT_LEADER hint or a member list. */
  ensure(rawUrl: string, region: string, configured = false): NodeRuntime | undefined {
    const url = normalizeNodeUrl(rawUrl);
    if (url === undefined) return undefined;
    let runtime = this.nodes.get(url);
    if (runtime !== undefined) return runtime;
    runtime = {
      view: {
        url,
        name: undefined,
        region,
        role: 'unknown',
        // Innocent until a check fails: routing needs candidates before the first check returns.
        healthy: true,
        failedChecks: 0,
        lastSeenAt: Number.NEGATIVE_INFINITY,
        leaderViewLagMs: undefined,
        ownLagMs: undefined,
        appliedIndex: 0,
        term: 0,
        rttMs: undefined,
        inflight: 0,
        watching: false,
        configured,
      },
      watch: undefined,
      failures: 0,
      lastPoll: 0,
      checking: false,
    };
    this.nodes.set(url, runtime);
    if (this.started) this.startNode(runtime);
    return runtime;
  }

  private startNode(runtime: NodeRuntime): void {
    if (runtime.watch !== undefined || this.closed) return;
    runtime.watch = new WatchClient({
      url: runtime.view.url,
      onStatus: (status) => this.applyStatus(runtime.view.url, status),
      onOpenChange: (open) => {
        runtime.view.watching = open;
      },
    });
    runtime.watch.start();
  }

  private tick(): void {
    const now = Date.now();
    for (const runtime of this.nodes.values()) {
      void this.check(runtime);
      if (now - runtime.lastPoll >= this.options.pollIntervalMs) void this.poll(runtime);
    }
  }

  private async check(runtime: NodeRuntime): Promise<void> {
    if (runtime.checking || this.closed) return;
    runtime.checking = true;
    const started = performance.now();
    const timeout = this.options.healthTimeoutMs ?? Math.max(1000, this.options.healthIntervalMs * 2);
    let ok = false;
    let refused = false;
    try {
      const response = await this.options.pools.get(runtime.view.url).request({
        path: '/healthz',
        method: 'GET',
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
      await response.body.dump();
      ok = response.statusCode === 200;
    } catch (error) {
      refused = (error as { code?: unknown }).code === 'ECONNREFUSED';
    } finally {
      runtime.checking = false;
    }
    if (this.closed) return;
    const view = runtime.view;
    if (ok) {
      const now = performance.now();
      view.rttMs = nextRtt(view.rttMs, now - started);
      view.lastSeenAt = now;
      runtime.failures = 0;
      view.failedChecks = 0;
      if (!view.healthy) {
        view.healthy = true;
        this.emit('change');
        void this.poll(runtime);
      }
      return;
    }
    runtime.failures++;
    view.failedChecks = runtime.failures;
    if (view.healthy && (refused || runtime.failures >= (this.options.unhealthyAfter ?? 2))) {
      view.healthy = false;
      // A paused node keeps its socket open but silent: drop it so the stream reconnects when it is back.
      runtime.watch?.reset();
      this.emit('change');
    }
  }

  private async poll(runtime: NodeRuntime): Promise<void> {
    runtime.lastPoll = Date.now();
    try {
      const response = await this.options.pools.get(runtime.view.url).request({
        path: '/api/v1/cluster/status',
        method: 'GET',
        headersTimeout: 2000,
        bodyTimeout: 2000,
        signal: AbortSignal.timeout(2000),
      });
      if (response.statusCode !== 200) {
        await response.body.dump();
        return;
      }
      this.applyStatus(runtime.view.url, await response.body.json());
    } catch {
      // Health checks decide whether the node is down.
    }
  }

  /** Folds one node's status into the views. */
  applyStatus(url: string, body: unknown): void {
    const status = parseStatus(body);
    const runtime = this.nodes.get(url);
    if (status === undefined || runtime === undefined || this.closed) return;
    const view = runtime.view;
    view.name = status.node;
    if (this.dropDuplicatesOf(runtime)) return;
    view.lastSeenAt = performance.now();
    if (status.clusterId !== undefined) this.clusterIds.set(url, status.clusterId);
    if (status.term > view.term) view.term = status.term;
    view.appliedIndex = Math.max(view.appliedIndex, status.appliedIndex);
    for (const member of status.members) {
      const memberUrl = member.url !== undefined ? normalizeNodeUrl(member.url) : undefined;
      const known = member.id === status.node ? runtime : ((memberUrl !== undefined ? this.nodes.get(memberUrl) : undefined) ?? this.byName(member.id));
      const target = known ?? (memberUrl !== undefined ? this.ensure(memberUrl, member.region ?? UNASSIGNED_REGION) : undefined);
      if (target === undefined) continue;
      target.view.name = member.id;
      if (member.id === status.node) {
        target.view.role = member.role;
        target.view.ownLagMs = member.lagMs;
      }
    }
    this.claimLeaderFromStatus(status);
    if (status.leader === status.node && status.term >= this.term_) this.applyLeaderView(status);
    this.emit('change');
  }

  private byName(name: string): NodeRuntime | undefined {
    for (const runtime of this.nodes.values()) if (runtime.view.name === name) return runtime;
    return undefined;
  }

  /**
   * `runtime` just learned its member name. Another view of the same member that was only discovered
   * (not configured) is dropped; if `runtime` is itself the discovered one and a configured view of
   * the member exists, `runtime` is dropped instead. True when `runtime` was dropped.
   */
  private dropDuplicatesOf(runtime: NodeRuntime): boolean {
    for (const other of [...this.nodes.values()]) {
      if (other === runtime || other.view.name !== runtime.view.name) continue;
      if (!runtime.view.configured && other.view.configured) {
        this.forget(runtime, other);
        return true;
      }
      if (!other.view.configured) this.forget(other, runtime);
    }
    return false;
  }

  private forget(duplicate: NodeRuntime, keep: NodeRuntime): void {
    const url = duplicate.view.url;
    duplicate.watch?.close();
    this.nodes.delete(url);
    this.clusterIds.delete(url);
    if (this.leaderUrl === url) this.leaderUrl = keep.view.url;
    if (this.lastLeaderUrl === url) this.lastLeaderUrl = keep.view.url;
    this.emit('forget', url);
    this.emit('change');
  }

  private claimLeaderFromStatus(status: StatusSnapshot): void {
    let leaderUrl: string | undefined;
    if (status.leader !== null) {
      leaderUrl = this.byName(status.leader)?.view.url ?? (status.leaderUrl !== null ? this.ensure(status.leaderUrl, UNASSIGNED_REGION)?.view.url : undefined);
    }
    this.claimLeader(leaderUrl, status.term);
  }

  /** The leader's status holds the only trustworthy view of every follower's lag and role. */
  private applyLeaderView(status: StatusSnapshot): void {
    this.lastQuorumStatus = status.quorumStatus;
    if (status.backup !== undefined) this.lastBackup = status.backup;
    for (const member of status.members) {
      const runtime = this.byName(member.id);
      if (runtime === undefined) continue;
      runtime.view.leaderViewLagMs = member.id === status.node ? 0 : member.lagMs;
      // The leader reports each member's applied index from its answers: routing then knows who has applied a read's after_index.
      if (member.appliedIndex !== undefined && member.appliedIndex > runtime.view.appliedIndex) runtime.view.appliedIndex = member.appliedIndex;
      if (member.id !== status.node && member.role !== 'unknown') runtime.view.role = member.role;
    }
  }

  private claimLeader(url: string | undefined, term: number): void {
    if (term < this.term_) return;
    if (term === this.term_ && (url === undefined || url === this.leaderUrl)) return;
    const previous = this.leaderUrl;
    const newerTerm = term > this.term_;
    this.term_ = term;
    // Same term: only fill in an unknown leader (one leader per term).
    if (!newerTerm && previous !== undefined && url !== previous) {
      // Two claims for one term cannot both be true; keep ours and let the next status settle it.
      return;
    }
    this.leaderUrl = url;
    if (url !== undefined) {
      const view = this.nodes.get(url)?.view;
      if (view !== undefined) view.role = 'primary';
      for (const other of this.nodes.values()) if (other.view.url !== url && other.view.role === 'primary') other.view.role = 'standby';
    }
    if (url !== undefined) {
      if (this.lastLeaderUrl !== undefined && url !== this.lastLeaderUrl) this.failovers_++;
      this.lastLeaderUrl = url;
    }
    if (url !== previous) this.emit('leader', this.leader(), term);
  }
}
