/**
 * The gateway's topology of the whole deployment: the one face the query
 * service, the node client, the status route and the metrics see, whether
 * the nodes form one Raft group or one group per region.
 *
 * **One group** (every deployment without regions, and every gateway until
 * the nodes say otherwise): one Topology over every configured node, leader
 * by term across all of them, exactly as before regions existed; the
 * configured regions are labels for read routing.
 *
 * **Regional groups.** Each region is its own Raft group, with its own
 * leader, terms and log indexes, so terms of different regions mean nothing
 * to each other and one Topology over every node would crown whichever
 * region's leader has the highest term. Once a node's region status lists
 * other regions (`GET /api/v1/region/status`, `regions` non-empty; or a write
 * is refused with NOT_PRIMARY_REGION, which only regional nodes answer), the
 * single Topology is replaced by one per region (its configured nodes, plus
 * the members its statuses name), and from then on:
 *   - the write leader is the leader of the primary region's group, the
 *     primary being the one named at the highest region epoch seen
 *     (region-book.ts);
 *   - a region the gateway was not configured with is learned from the
 *     other regions' statuses (their `regions[].leader_url`) and gets a group
 *     of its own, seeded with that leader;
 *   - each configured region is known by the name its nodes report: a
 *     gateway that calls a region `us-east` whose nodes say `us-east-1`
 *     files their word under its own name (and the status shows both).
 *
 * Region statuses are polled every health-check interval, one node per
 * region: its group's leader when known (only the leader's status is
 * complete), else the leader the region last named, else its nodes in
 * turn. A single-group deployment gets one such request per interval, to
 * one of its nodes (a follower before the leader), from FIRST_PROBE_AFTER_MS
 * after start, which is how the gateway notices regions when nothing else
 * told it; a node without the route (404) changes nothing. An answer only a
 * regional node gives (a source position in `meta`, an epoch past 1,
 * NOT_PRIMARY_REGION) splits the groups at once; an epoch of 1 or
 * EPOCH_UNCONFIRMED asks the regions at once.
 *
 * Events: 'leader' (a group's leader changed, or the primary region did),
 * 'change' (anything routing cares about), 'forget' (url of a node view a
 * group dropped as a duplicate).
 */
import { EventEmitter } from 'node:events';
import { normalizeNodeUrl } from '../config.js';
import type { RegionConfig } from '../config.js';
import type { NodePools } from '../pools.js';
import type { Position, RegionRole } from '../../shared/protocol/region.js';
import type { NodeView } from './node-view.js';
import { OPEN_GATE, RegionBook, parseRegionStatus } from './region-book.js';
import type { RegionGate, RegionRow, RegionSnapshot } from './region-book.js';
import { Topology, UNASSIGNED_REGION, waitForLeaderOf } from './topology.js';
import type { TopologyOptions } from './topology.js';

export const REGION_STATUS_PATH = '/api/v1/region/status';

export interface RegionalTopologyOptions extends TopologyOptions {
  /** The clock region statuses are dated by (ms, monotonic); default performance.now. */
  now?: () => number;
}

/** One region as routing sees it (regional deployments). */
export interface RegionView {
  /** The gateway's name for it (configured, or learned). */
  name: string;
  /** The name its nodes report, when they said. */
  reportedAs: string | undefined;
  /** The configuration's entry (a learned region: role from its status, no location). */
  config: RegionConfig;
  /** Configured in the gateway, or learned from another region's status. */
  learned: boolean;
  views: NodeView[];
  /** The region group's leader, as last trusted (healthy or not). */
  leader: NodeView | undefined;
  term: number;
  quorumStatus: string;
  clusterId: string | undefined;
  /** The write region at the current epoch. */
  primary: boolean;
  gate: RegionGate;
  /** Behind the primary in ms (0: the primary), null when unknown. */
  lagMs: number | null;
  /** The last source position the region reported. */
  position: Position | undefined;
  row: RegionRow;
}

interface RegionPoll {
  inFlight: boolean;
  /** Which of the region's addresses to ask next (advances on failure). */
  cursor: number;
}

/**
 * One group: the first region probe waits this long after start (at least four health intervals),
 * unless an answer hints at regions first. A gateway started beside nodes that are starting should add
 * nothing to their start-up: a node's first region status cost it 50 to 700 ms of its main thread
 * until the node stopped compiling a response serializer for it (a7f4958), and with that gone a probe
 * at start still coincided with more restarted followers reported without a lag by their leader
 * (test/gateway/cluster-views.test.ts, 2 runs of 3 against about 1 of 6 without it; cause not
 * isolated). Nothing depends on probing sooner: a regional deployment is noticed by its first answer
 * (a read's source position or an epoch past 1 splits the groups at once, an epoch of 1 in a write's
 * answer or EPOCH_UNCONFIRMED asks the regions at once, NOT_PRIMARY_REGION names the primary).
 */
const FIRST_PROBE_AFTER_MS = 2000;
/** The poll key of the one probe a single group gets (no region is called this: names are non-empty). */
const SINGLE_GROUP_PROBE = '';
/** A region status request's bound; a slower node is asked again next interval (or another of its region). */
const REGION_STATUS_TIMEOUT_MS = 2000;
/** `refresh()` polls region statuses at most this often (a write held through a promotion calls it every 100 ms). */
const REFRESH_SPACING_MS = 50;

export class RegionalTopology extends EventEmitter {
  /** The one group, until the deployment turns out regional. */
  private single: Topology | undefined;
  /** One group per region, by the gateway's name for it (regional only). */
  private readonly groups = new Map<string, Topology>();
  private readonly configs = new Map<string, RegionConfig>();
  private readonly learned = new Set<string>();
  /** A region's reported name -> the gateway's name, where they differ. */
  private readonly aliases = new Map<string, string>();
  private readonly reported = new Map<string, string>();
  private readonly polls = new Map<string, RegionPoll>();
  /** Regions (the gateway's names) whose nodes have answered a region status. */
  private readonly answered = new Set<string>();
  /** When the deployment turned out regional (the caller's clock). */
  private regionalSince = Number.NEGATIVE_INFINITY;
  readonly book: RegionBook;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  /** One group: no region probe before this (the caller's clock) unless an answer hinted at regions first (FIRST_PROBE_AFTER_MS). */
  private probeFrom = Number.NEGATIVE_INFINITY;
  private started = false;
  private closed = false;
  /** Leader changes of groups closed since (the single group, once regional): `failovers` keeps counting them. */
  private retiredFailovers = 0;

  constructor(private readonly options: RegionalTopologyOptions) {
    super();
    this.setMaxListeners(0);
    this.now = options.now ?? (() => performance.now());
    for (const region of options.regions) this.configs.set(region.name, region);
    this.book = new RegionBook({ staleAfterMs: this.livenessWindowMs });
    this.single = this.watch(new Topology(options));
  }

  // ---- what the deployment is ------------------------------------------------------

  /** Whether the nodes form regional groups (else one group). */
  get regional(): boolean {
    return this.single === undefined;
  }

  /** The highest region epoch seen (0: no region status yet). */
  get epoch(): number {
    return this.book.epoch;
  }

  /** The write region at the current epoch, by the gateway's name for it. */
  get primaryRegion(): string | undefined {
    const primary = this.book.primaryRegion;
    return primary === undefined ? undefined : this.localName(primary);
  }

  /** The group that takes writes: the single one, or the primary region's. */
  private writeGroup(): Topology | undefined {
    if (this.single !== undefined) return this.single;
    const primary = this.primaryRegion;
    return primary === undefined ? undefined : this.groups.get(primary);
  }

  // ---- the Topology face (the write group's leader; every group's nodes) -----------------

  /** The write group's term. */
  get term(): number {
    return this.writeGroup()?.term ?? 0;
  }

  /** Leader changes seen since start, over every group. */
  get failovers(): number {
    let total = this.retiredFailovers;
    for (const group of this.allGroups()) total += group.failovers;
    return total;
  }

  get quorumStatus(): string {
    return this.writeGroup()?.quorumStatus ?? 'unknown';
  }

  /** The write region's backup state: archiving runs there only (storage-node/backup/README.md). */
  get backup(): Record<string, unknown> | undefined {
    return this.writeGroup()?.backup;
  }

  get clusterId(): string | undefined {
    return this.writeGroup()?.clusterId;
  }

  /** Every distinct `cluster_id` a group's nodes report, where a group's nodes disagree (else the write group's). */
  clusterIdsSeen(): string[] {
    const mixed = new Set<string>();
    for (const group of this.allGroups()) {
      const ids = group.clusterIdsSeen();
      if (ids.length > 1) for (const id of ids) mixed.add(id);
    }
    return mixed.size > 0 ? [...mixed] : (this.writeGroup()?.clusterIdsSeen() ?? []);
  }

  get livenessWindowMs(): number {
    return Math.max(1000, 3 * this.options.healthIntervalMs);
  }

  isAlive(url: string, heardAt?: number): boolean {
    return this.groupOf(url)?.isAlive(url, heardAt) ?? false;
  }

  markSeen(url: string): void {
    this.groupOf(url)?.markSeen(url);
  }

  checkNow(url: string): void {
    this.groupOf(url)?.checkNow(url);
  }

  markDown(url: string): void {
    this.groupOf(url)?.markDown(url);
  }

  views(): NodeView[] {
    return this.allGroups().flatMap((group) => group.views());
  }

  view(url: string): NodeView | undefined {
    for (const group of this.allGroups()) {
      const view = group.view(url);
      if (view !== undefined) return view;
    }
    return undefined;
  }

  /** The write leader as last trusted, healthy or not. */
  leader(): NodeView | undefined {
    return this.writeGroup()?.leader();
  }

  /** A write leader that can take a request now. */
  availableLeader(): NodeView | undefined {
    return this.writeGroup()?.availableLeader();
  }

  /** Resolves with an available write leader, or undefined after `timeoutMs` (asking the nodes and the regions meanwhile). */
  waitForLeader(timeoutMs: number): Promise<NodeView | undefined> {
    return waitForLeaderOf(this, timeoutMs);
  }

  /** Asks every group's nodes and every region for their status now (spaced: see REFRESH_SPACING_MS). */
  refresh(): void {
    if (this.closed) return;
    for (const group of this.allGroups()) group.refresh();
    const now = this.now();
    if (now - this.lastRefresh < REFRESH_SPACING_MS) return;
    this.lastRefresh = now;
    this.pollRegions();
  }

  /** A node answered a request: its meta may carry a newer term of its group, or a leader claim. */
  observeMeta(url: string, meta: { node?: unknown; role?: unknown; term?: unknown; applied_index?: unknown; epoch?: unknown; position?: unknown }): void {
    this.groupOf(url)?.observeMeta(url, meta);
    if (this.single === undefined) return;
    // A source position in an answer, or an epoch past 1, comes only from a regional node: split into regions now,
    // before another read goes out without its after_epoch. An epoch of 1 alone may not: ask the regions.
    if (meta.position !== undefined || (typeof meta.epoch === 'number' && meta.epoch > 1)) {
      this.book.markRegional();
      this.becomeRegional();
      this.announce();
      this.pollRegions();
    } else if (meta.epoch !== undefined) this.probeNow();
  }

  /** Something only regional nodes say came back (EPOCH_UNCONFIRMED, an epoch in an answer): ask for region statuses now. */
  probeNow(): void {
    this.probeFrom = Number.NEGATIVE_INFINITY;
    this.refresh();
  }

  /**
   * A NOT_LEADER answer from `fromUrl` named `leaderUrl`: the view of that leader in `fromUrl`'s group
   * (added when new), or undefined when the address is not usable.
   */
  learnLeader(fromUrl: string, leaderUrl: string): NodeView | undefined {
    if (this.single !== undefined) return this.single.ensure(leaderUrl, UNASSIGNED_REGION)?.view;
    const name = this.regionOf(fromUrl);
    const group = name === undefined ? undefined : this.groups.get(name);
    return group?.ensure(leaderUrl, name as string)?.view;
  }

  // ---- regions -----------------------------------------------------------------------

  /** The region a node belongs to: its group's (regional), or its configured label. */
  regionOf(url: string): string | undefined {
    if (this.single !== undefined) return this.single.view(url)?.region;
    for (const [name, group] of this.groups) if (group.view(url) !== undefined) return name;
    return undefined;
  }

  /**
   * A claim that `region` (as its nodes name it) is the write region at `epoch`: a write refused
   * with NOT_PRIMARY_REGION by the node at `refusedByUrl` (which may name the primary's leader,
   * `leaderUrl`; the refusing region's word that it is not the primary settles it), a promotion's answer,
   * or a write answered at an epoch. Only regional nodes say any of these, so a gateway still treating
   * them as one group splits them into regions now. True when it changed where writes go.
   */
  observePrimary(epoch: number, region: string, leaderUrl?: string, refusedByUrl?: string): boolean {
    if (this.closed) return false;
    const becameRegional = this.book.markRegional();
    if (becameRegional || this.single !== undefined) this.becomeRegional();
    const refusedIn = refusedByUrl === undefined ? undefined : this.regionOf(refusedByUrl);
    const changed = this.book.observePrimary(epoch, region, refusedIn === undefined ? undefined : (this.reported.get(refusedIn) ?? refusedIn));
    const seed = leaderUrl === undefined ? undefined : normalizeNodeUrl(leaderUrl);
    if (seed !== undefined && this.book.primaryRegion === region) {
      const group = this.groupFor(region);
      if (group !== undefined) group.ensure(seed, this.localName(region));
      else if (this.view(seed) === undefined) this.addGroup({ name: region, lat: Number.NaN, lon: Number.NaN, role: 'primary', nodes: [seed] }, true);
    }
    if (changed || becameRegional) this.announce();
    if (this.groupFor(region)?.availableLeader() === undefined) this.pollRegions();
    return changed;
  }

  /** A write answered by `url` at `epoch`: that node's region is primary at that epoch. */
  observeWriteEpoch(url: string, epoch: number): void {
    if (this.single !== undefined || epoch <= this.book.epoch) return;
    const name = this.regionOf(url);
    if (name !== undefined) this.observePrimary(epoch, this.reported.get(name) ?? name);
  }

  /** Every region (regional deployments; empty for one group), configured ones first. */
  regionViews(): RegionView[] {
    if (this.single !== undefined) return [];
    const now = this.now();
    const primary = this.book.primaryRegion;
    const rows: RegionView[] = [];
    for (const [name, group] of this.groups) {
      const bookName = this.reported.get(name) ?? name;
      const config = this.configs.get(name) as RegionConfig;
      const isPrimary = bookName === primary;
      rows.push({
        name,
        reportedAs: this.reported.get(name),
        config,
        learned: this.learned.has(name),
        views: group.views(),
        leader: group.leader(),
        term: group.term,
        quorumStatus: group.quorumStatus,
        clusterId: group.clusterId,
        primary: isPrimary,
        gate: isPrimary ? OPEN_GATE : this.book.gate(bookName, config.role, now),
        lagMs: this.book.lagMs(bookName, now),
        position: this.book.position(bookName, now),
        row: this.book.row(bookName, config.role, now),
      });
    }
    return rows;
  }

  /**
   * Where to send an admin request for `region` (its leader first, then its other healthy nodes):
   * regional deployments by region, one group to its leader. Empty when the region is unknown.
   */
  addressesOf(region: string): string[] {
    if (this.single !== undefined) {
      const leader = this.single.availableLeader()?.url;
      return leader === undefined ? [] : [leader];
    }
    const name = this.localName(region);
    const group = this.groups.get(name);
    if (group === undefined) return [];
    const leader = group.availableLeader()?.url;
    const named = this.book.leaderUrl(this.reported.get(name) ?? name);
    const others = group.views().filter((v) => v.healthy).map((v) => v.url);
    return dedupe([leader, named !== undefined ? normalizeNodeUrl(named) : undefined, ...others]);
  }

  /** The gateway's names for the regions it knows. */
  regionNames(): string[] {
    return this.single !== undefined ? [...this.configs.keys()] : [...this.groups.keys()];
  }

  // ---- life cycle ----------------------------------------------------------------------

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const group of this.allGroups()) group.start();
    this.timer = setInterval(() => this.pollRegions(), Math.max(10, this.options.healthIntervalMs));
    this.timer.unref();
    this.probeFrom = this.now() + Math.max(FIRST_PROBE_AFTER_MS, 4 * this.options.healthIntervalMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const group of this.allGroups()) group.close();
    this.removeAllListeners();
  }

  // ---- inside ---------------------------------------------------------------------------

  private allGroups(): Topology[] {
    return this.single !== undefined ? [this.single] : [...this.groups.values()];
  }

  private groupOf(url: string): Topology | undefined {
    for (const group of this.allGroups()) if (group.view(url) !== undefined) return group;
    return undefined;
  }

  /** The gateway's name for a region its nodes call `reported`. */
  private localName(reported: string): string {
    return this.aliases.get(reported) ?? reported;
  }

  private groupFor(reported: string): Topology | undefined {
    return this.groups.get(this.localName(reported));
  }

  private watch(group: Topology): Topology {
    group.on('change', () => this.emit('change'));
    group.on('leader', (leader: NodeView | undefined, term: number) => this.emit('leader', leader, term));
    group.on('forget', (url: string) => this.emit('forget', url));
    return group;
  }

  private addGroup(config: RegionConfig, learned: boolean): void {
    if (this.groups.has(config.name)) return;
    if (learned) this.learned.add(config.name);
    this.configs.set(config.name, config);
    const group = this.watch(new Topology({ ...this.options, regions: [config] }));
    this.groups.set(config.name, group);
    if (this.started) group.start();
  }

  /** One group per configured region from now on; the single group's views are dropped (pools and streams stay, keyed by URL). */
  private becomeRegional(): void {
    const single = this.single;
    if (single === undefined || this.closed) return;
    this.single = undefined;
    this.retiredFailovers += single.failovers;
    this.regionalSince = this.now();
    single.close();
    for (const region of this.options.regions) this.addGroup(region, false);
  }

  private announce(): void {
    this.emit('leader', this.leader(), this.term);
    this.emit('change');
  }

  /**
   * Regions named by others are learned once every configured region has answered (so that a
   * configured region whose nodes use another name is known by that name first, not learned twice),
   * or after LEARN_AFTER_ROUNDS poll intervals, so a region that stays down holds nothing back for long.
   */
  private mayLearnRegions(): boolean {
    for (const name of this.configs.keys()) if (!this.learned.has(name) && !this.answered.has(name)) return this.now() - this.regionalSince > LEARN_AFTER_ROUNDS * this.options.healthIntervalMs;
    return true;
  }

  /**
   * The addresses to ask for `name`'s region status, best first. Regional: the region's leader, whose
   * status alone is complete (it runs the stream and measures the lag). One group: any node answers
   * `regions: []` alike, so the write leader goes last: the probe that would notice regions should
   * not add to the one node every write and heartbeat depends on (a node's first region status has
   * been measured at 50 to 200 ms of its main thread, see the README).
   */
  private pollTargets(name: string): string[] {
    if (this.single !== undefined) {
      const leader = this.single.leader()?.url;
      const nodes = dedupe(this.options.regions.flatMap((r) => r.nodes));
      return [...nodes.filter((url) => url !== leader), ...nodes.filter((url) => url === leader)];
    }
    const group = this.groups.get(name);
    const named = this.book.leaderUrl(this.reported.get(name) ?? name);
    const nodes = group !== undefined ? group.views().map((v) => v.url) : (this.configs.get(name)?.nodes ?? []);
    return dedupe([group?.availableLeader()?.url, named !== undefined ? normalizeNodeUrl(named) : undefined, ...nodes]);
  }

  /** Regional: each region's status. One group: one node's, whichever region label it has (any node tells whether there are regions). */
  private pollRegions(): void {
    if (this.closed) return;
    if (this.single !== undefined) {
      if (this.now() >= this.probeFrom) void this.pollRegion(SINGLE_GROUP_PROBE);
    } else for (const name of this.regionNames()) void this.pollRegion(name);
  }

  private async pollRegion(name: string): Promise<void> {
    let poll = this.polls.get(name);
    if (poll === undefined) {
      poll = { inFlight: false, cursor: 0 };
      this.polls.set(name, poll);
    }
    if (poll.inFlight) return;
    const targets = this.pollTargets(name);
    const url = targets[poll.cursor % Math.max(1, targets.length)];
    if (url === undefined) return;
    poll.inFlight = true;
    let snapshot: RegionSnapshot | undefined;
    try {
      const response = await this.options.pools.get(url).request({
        path: REGION_STATUS_PATH,
        method: 'GET',
        headersTimeout: REGION_STATUS_TIMEOUT_MS,
        bodyTimeout: REGION_STATUS_TIMEOUT_MS,
        signal: AbortSignal.timeout(REGION_STATUS_TIMEOUT_MS),
      });
      if (response.statusCode === 200) snapshot = parseRegionStatus(await response.body.json());
      else await response.body.dump();
    } catch {
      // Health checks decide whether the node is down; the region's next poll asks another node.
    } finally {
      poll.inFlight = false;
    }
    if (this.closed) return;
    if (snapshot === undefined) {
      poll.cursor++;
      return;
    }
    poll.cursor = 0;
    this.applyRegionStatus(name, snapshot);
  }

  /** Folds in the region status a node of region `name` (the gateway's name) answered. */
  private applyRegionStatus(name: string, snapshot: RegionSnapshot): void {
    const wasRegional = this.single === undefined;
    const primaryBefore = this.book.primaryRegion;
    const changed = this.book.observe(snapshot, this.now());
    if (!this.book.regional) return;
    if (this.single !== undefined) this.becomeRegional();
    // The gateway's name for the region it asked wins: its nodes' name is filed as an alias.
    if (this.groups.has(name) && snapshot.region !== name && !this.groups.has(snapshot.region)) {
      this.aliases.set(snapshot.region, name);
      this.reported.set(name, snapshot.region);
    }
    this.answered.add(name);
    const group = this.groupFor(snapshot.region);
    if (group !== undefined && snapshot.leaderUrl !== null) group.ensure(snapshot.leaderUrl, this.localName(snapshot.region));
    for (const peer of this.mayLearnRegions() ? snapshot.peers : []) {
      if (this.groupFor(peer.name) !== undefined || peer.leaderUrl === null) continue;
      const seed = normalizeNodeUrl(peer.leaderUrl);
      // A node another group already holds is a naming mismatch, not a new region.
      if (seed === undefined || this.view(seed) !== undefined) continue;
      this.addGroup({ name: peer.name, lat: Number.NaN, lon: Number.NaN, role: peer.role ?? roleFromState(peer.state), nodes: [seed] }, true);
    }
    if (changed || !wasRegional || primaryBefore !== this.book.primaryRegion) this.announce();
    else this.emit('change');
  }
}

/** Poll rounds after which a configured region that never answered no longer holds back learning new regions. */
const LEARN_AFTER_ROUNDS = 10;

function roleFromState(state: string): RegionRole {
  return state === 'primary' ? 'primary' : 'secondary';
}

function dedupe(urls: readonly (string | undefined)[]): string[] {
  const seen = new Set<string>();
  for (const url of urls) if (url !== undefined) seen.add(url);
  return [...seen];
}
