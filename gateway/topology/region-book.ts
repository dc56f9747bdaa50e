/**
 * What the gateway knows of the deployment's regions, as plain data and pure
 * rules (no IO, no clock: callers pass `at`/`now`, any monotonic ms): each
 * region's status as its own nodes last reported it (`GET
 * /api/v1/region/status`, shared/protocol/region.ts), the current region
 * epoch and primary region, and whether a region may serve reads.
 *
 * **Regional or not.** A node of a single-group deployment answers with no
 * other regions (`regions: []`); a node of a regional deployment lists the
 * others. The first status that lists any makes the book regional for good:
 * nothing turns a regional deployment back into one group.
 *
 * **Epoch.** The highest epoch seen wins, with the primary region named at
 * that epoch; a lower epoch never replaces it (a former primary that has not
 * heard of its promotion still says it is primary, at its old epoch). Every
 * status raises it, as do the other regions it lists (second-hand, but an
 * epoch only ever grows, so a claim of a higher one is news), a write
 * refused with NOT_PRIMARY_REGION, and a write answered at a higher epoch.
 *
 * **Reads.** A region takes no reads at all when it does not serve them (a
 * `disaster_recovery` region unless configured to, `serve_reads`), when it is
 * fenced (a former primary that has not rejoined: it may hold writes that were
 * set aside), or when it still claims to be primary at a lower epoch than the
 * current one. It takes no bounded read when its lag is unknown (no status
 * within `staleAfterMs`, or the region itself cannot tell) or over its
 * `replication_lag_max`. Region lag is the region's own word; between two
 * polls it is taken as last reported (counting the status's age into it
 * would keep every follower region out of any bound tighter than the poll
 * interval). A node that gets a bounded read it cannot serve still refuses
 * it itself (REPLICA_LAGGING), and the gateway moves on.
 *
 * Only a region's own status counts for its lag and read gates; what another
 * region's leader says of it (its `regions` rows) fills in the epoch, the
 * primary and the region's leader URL, and is shown in the gateway's status,
 * but a region the gateway cannot reach itself is no place to send a read.
 */
import type { Position, RegionRole, RegionState } from '../../shared/protocol/region.js';
import { positionFrom } from '../session/position.js';

/** A node's `GET /api/v1/region/status`, narrowed to what the gateway uses. */
export interface RegionSnapshot {
  region: string;
  role: RegionRole;
  state: RegionState;
  epoch: number;
  primaryRegion: string;
  /** The last source position the region applied. */
  position: Position | undefined;
  /** How long ago the region had applied everything the primary had committed; 0 on the primary, null when unknown. */
  lagMs: number | null;
  replicationLagMaxMs: number | null;
  overLagMax: boolean;
  serveReads: boolean;
  /** The answering node's name. */
  node: string | undefined;
  /** The answering node leads its region's group. */
  leader: boolean;
  leaderUrl: string | null;
  /** The other regions as this region's leader last saw them (empty: a single-group deployment). */
  peers: PeerSnapshot[];
}

/** Another region, as a region's leader last saw it. */
export interface PeerSnapshot {
  name: string;
  role: RegionRole | undefined;
  state: RegionState | 'unknown';
  epoch: number | null;
  primaryRegion: string | null;
  position: Position | undefined;
  lagMs: number | null;
  reachable: boolean;
  leaderUrl: string | null;
}

const ROLES: ReadonlySet<string> = new Set<RegionRole>(['primary', 'secondary', 'read_replica', 'disaster_recovery']);
const STATES: ReadonlySet<string> = new Set<RegionState>(['primary', 'follower', 'fenced']);

const rec = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const epochOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : undefined);
const lagOf = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);
const roleOf = (v: unknown): RegionRole | undefined => (typeof v === 'string' && ROLES.has(v) ? (v as RegionRole) : undefined);

/**
 * undefined when the body is not a region status. Read leniently, like the cluster status
 * (status.ts): the fields routing needs must be there (region, epoch, primary_region, regions);
 * anything else missing or malformed reads as unknown, so a node that adds or reshapes a field does
 * not blind the gateway to every region.
 */
export function parseRegionStatus(body: unknown): RegionSnapshot | undefined {
  const s = rec(body);
  const region = str(s?.['region']);
  const epoch = epochOf(s?.['epoch']);
  const primaryRegion = str(s?.['primary_region']);
  if (s === undefined || region === undefined || epoch === undefined || primaryRegion === undefined || !Array.isArray(s['regions'])) return undefined;
  const state = str(s['state']);
  const peers: PeerSnapshot[] = [];
  for (const entry of s['regions']) {
    const p = rec(entry);
    const name = str(p?.['name']);
    if (p === undefined || name === undefined || name === region) continue;
    const peerState = str(p['state']);
    peers.push({
      name,
      role: roleOf(p['role']),
      state: peerState !== undefined && STATES.has(peerState) ? (peerState as RegionState) : 'unknown',
      epoch: epochOf(p['epoch']) ?? null,
      primaryRegion: str(p['primary_region']) ?? null,
      position: positionFrom(p['position']),
      lagMs: lagOf(p['lag_ms']),
      reachable: p['reachable'] === true,
      leaderUrl: str(p['leader_url']) ?? null,
    });
  }
  const lagMs = lagOf(s['lag_ms']);
  const lagMax = lagOf(s['replication_lag_max_ms']);
  return {
    region,
    role: roleOf(s['role']) ?? (region === primaryRegion ? 'primary' : 'secondary'),
    state: state !== undefined && STATES.has(state) ? (state as RegionState) : region === primaryRegion ? 'primary' : 'follower',
    epoch,
    primaryRegion,
    position: positionFrom(s['position']),
    lagMs,
    replicationLagMaxMs: lagMax,
    // A node too old to say is judged by the numbers it gave.
    overLagMax: typeof s['over_lag_max'] === 'boolean' ? s['over_lag_max'] : lagMs === null || (lagMax !== null && lagMs > lagMax),
    serveReads: typeof s['serve_reads'] === 'boolean' ? s['serve_reads'] : roleOf(s['role']) !== 'disaster_recovery',
    node: str(s['node']),
    leader: s['leader'] === true,
    leaderUrl: str(s['leader_url']) ?? null,
    peers,
  };
}

/** One region as the book holds it. */
export interface RegionRecord {
  readonly name: string;
  /** The region's own last status (undefined: none of its nodes answered yet). */
  own: RegionSnapshot | undefined;
  /** When `own` arrived (the caller's clock; -Infinity: never). */
  ownAt: number;
  /** What another region's leader last said of it. */
  peer: PeerSnapshot | undefined;
}

/**
 * Why a region takes no reads, or none under a lag bound (each undefined when it does). Reasons are
 * sentences, shown in the gateway's status (`out_of_rotation`).
 */
export interface RegionGate {
  /** No reads at all. */
  closed: string | undefined;
  /** No bounded reads (lag unknown or over `replication_lag_max`). */
  unbounded: string | undefined;
}

export const OPEN_GATE: RegionGate = Object.freeze({ closed: undefined, unbounded: undefined });

/** A status row of one region, for `/api/v1/cluster/status` (snake_case, JSON-ready). */
export interface RegionRow {
  /** The role the region reports (else another region's word, else the gateway's configuration). */
  role: RegionRole | undefined;
  state: RegionState | 'unknown';
  epoch: number | null;
  primary_region: string | null;
  position: Position | null;
  lag_ms: number | null;
  replication_lag_max_ms: number | null;
  over_lag_max: boolean;
  serve_reads: boolean;
  leader_url: string | null;
  /** The node whose status this is. */
  reported_by: string | null;
  /** How old the region's own status is; null when none came. */
  observed_ms_ago: number | null;
  /** Where the row comes from: the region's own nodes, another region's leader, or nobody yet. */
  source: 'region' | 'peer' | 'none';
  /** Why the region takes no reads (any bounded read, or none at all); null when it takes them. */
  out_of_rotation: string | null;
}

export interface RegionBookOptions {
  /** A region status older than this no longer vouches for the region's lag. */
  staleAfterMs: number;
}

export class RegionBook {
  private readonly records = new Map<string, RegionRecord>();
  private regional_ = false;
  private epoch_ = 0;
  private primary: string | undefined;

  constructor(private readonly options: RegionBookOptions) {}

  /** Whether the deployment is made of regional groups (a status listed other regions). */
  get regional(): boolean {
    return this.regional_;
  }

  /** The highest region epoch seen (0: none yet). */
  get epoch(): number {
    return this.epoch_;
  }

  /** The write region at `epoch` (undefined: not known yet). */
  get primaryRegion(): string | undefined {
    return this.primary;
  }

  names(): string[] {
    return [...this.records.keys()];
  }

  record(name: string): RegionRecord | undefined {
    return this.records.get(name);
  }

  /** Makes the book regional without a status (a node refused a write with NOT_PRIMARY_REGION, which only regional nodes do). */
  markRegional(): boolean {
    if (this.regional_) return false;
    this.regional_ = true;
    return true;
  }

  /**
   * Folds one node's region status in (filed under the region it names), `at` on the caller's
   * clock. True when the epoch, the primary or regional-ness changed.
   */
  observe(status: RegionSnapshot, at: number): boolean {
    let changed = false;
    if (status.peers.length > 0) changed = this.markRegional() || changed;
    const record = this.ensure(status.region);
    if (at >= record.ownAt) {
      record.own = status;
      record.ownAt = at;
    }
    changed = this.observePrimary(status.epoch, status.primaryRegion) || changed;
    for (const peer of status.peers) {
      this.ensure(peer.name).peer = peer;
      if (peer.epoch !== null && peer.primaryRegion !== null) changed = this.observePrimary(peer.epoch, peer.primaryRegion) || changed;
    }
    return changed;
  }

  /**
   * A claim that `primary` is the write region at `epoch`: taken when the epoch is higher than any
   * seen (or fills in an unknown primary at the same epoch). `refusedBy`: the claim comes from a node
   * of that region refusing a write at `epoch`, which that region's own word settles: if the book
   * holds that very region as the primary at that epoch, the book is wrong and takes the claim.
   */
  observePrimary(epoch: number, primary: string, refusedBy?: string): boolean {
    if (!Number.isSafeInteger(epoch) || epoch < 1 || primary === '') return false;
    const contradicted = refusedBy !== undefined && epoch === this.epoch_ && this.primary === refusedBy && primary !== refusedBy;
    if (epoch > this.epoch_ || (epoch === this.epoch_ && this.primary === undefined) || contradicted) {
      this.epoch_ = epoch;
      this.primary = primary;
      this.ensure(primary);
      return true;
    }
    return false;
  }

  /** The region's leader, by its own status, else by another region's word. */
  leaderUrl(name: string): string | undefined {
    const record = this.records.get(name);
    return record?.own?.leaderUrl ?? record?.peer?.leaderUrl ?? undefined;
  }

  private fresh(record: RegionRecord, now: number): boolean {
    return record.own !== undefined && now - record.ownAt <= this.options.staleAfterMs;
  }

  /** The region's lag behind the primary in ms: 0 for the primary, null when unknown (no fresh status, or the region cannot tell). */
  lagMs(name: string, now: number): number | null {
    if (name === this.primary) return 0;
    const record = this.records.get(name);
    if (record === undefined || !this.fresh(record, now)) return null;
    return record.own?.lagMs ?? null;
  }

  /** The last source position the region reported (undefined: none, or its status is stale). */
  position(name: string, now: number): Position | undefined {
    const record = this.records.get(name);
    return record !== undefined && this.fresh(record, now) ? record.own?.position : undefined;
  }

  /** Whether the region takes reads (`configuredRole`: the gateway config's word, used until the region says). */
  gate(name: string, configuredRole: RegionRole | undefined, now: number): RegionGate {
    if (name === this.primary) return OPEN_GATE;
    const own = this.records.get(name)?.own;
    if (own === undefined) {
      if (configuredRole === 'disaster_recovery') return { closed: 'region serves no reads (disaster_recovery)', unbounded: undefined };
      return { closed: undefined, unbounded: 'region lag unknown: no region status from it yet' };
    }
    if (own.state === 'fenced') return { closed: `region is fenced: a former primary (epoch ${own.epoch}) that has not rejoined`, unbounded: undefined };
    if (own.state === 'primary' && own.epoch < this.epoch_) {
      return { closed: `region still claims to be primary at epoch ${own.epoch}, below the current epoch ${this.epoch_}`, unbounded: undefined };
    }
    if (!own.serveReads) return { closed: `region serves no reads (${own.role})`, unbounded: undefined };
    const lag = this.lagMs(name, now);
    if (lag === null) {
      const record = this.records.get(name) as RegionRecord;
      const why = this.fresh(record, now) ? 'the region cannot tell' : `no region status for ${Math.round(now - record.ownAt)} ms`;
      return { closed: undefined, unbounded: `region lag unknown: ${why}` };
    }
    if (own.overLagMax) return { closed: undefined, unbounded: `region lag ${lag} ms over its replication_lag_max of ${own.replicationLagMaxMs ?? '?'} ms` };
    return OPEN_GATE;
  }

  /** The region's row in the gateway's status. */
  row(name: string, configuredRole: RegionRole | undefined, now: number): RegionRow {
    const record = this.records.get(name);
    const own = record?.own;
    const peer = record?.peer;
    const gate = this.gate(name, configuredRole, now);
    const fresh = record !== undefined && this.fresh(record, now);
    const source = own !== undefined ? 'region' : peer !== undefined ? 'peer' : 'none';
    return {
      role: own?.role ?? peer?.role ?? configuredRole,
      state: own?.state ?? peer?.state ?? 'unknown',
      epoch: own?.epoch ?? peer?.epoch ?? null,
      primary_region: own?.primaryRegion ?? peer?.primaryRegion ?? null,
      position: (own?.position ?? peer?.position) ?? null,
      lag_ms: own !== undefined ? (fresh ? this.lagMs(name, now) : null) : (peer?.lagMs ?? null),
      replication_lag_max_ms: own?.replicationLagMaxMs ?? null,
      over_lag_max: name === this.primary ? false : own !== undefined ? !fresh || own.overLagMax : true,
      serve_reads: own?.serveReads ?? configuredRole !== 'disaster_recovery',
      leader_url: this.leaderUrl(name) ?? null,
      reported_by: own?.node ?? null,
      observed_ms_ago: record !== undefined && own !== undefined ? Math.max(0, Math.round(now - record.ownAt)) : null,
      source,
      out_of_rotation: gate.closed ?? gate.unbounded ?? null,
    };
  }

  private ensure(name: string): RegionRecord {
    let record = this.records.get(name);
    if (record === undefined) {
      record = { name, own: undefined, ownAt: Number.NEGATIVE_INFINITY, peer: undefined };
      this.records.set(name, record);
    }
    return record;
  }
}
