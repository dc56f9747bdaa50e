/**
 * Read routing as small functions over candidate lists, composed in
 * `planRead`: tiers (home region, other regions, leader) -> region gates ->
 * lag bound -> health and breaker -> the session's policy -> within a tier,
 * replicas known to be behind the read's `after_index` last. Each stage is
 * pure.
 *
 * In a deployment of regional groups the candidates are every region's
 * nodes; `leader` marks only the primary region's leader (the write
 * leader), a follower region's leader being a replica like its followers.
 * Each such candidate carries its region's gate (topology/region-book.ts:
 * a region that serves no reads, or none bounded) and a lag that counts the
 * region's lag behind the primary plus the node's own behind its region's
 * leader. In a single group no candidate has a gate, and `regionsOpen`
 * passes them all.
 */
import type { ReadPreference } from '../config.js';
import { distanceKm } from './geo.js';
import type { GeoPoint, RegionPoint } from './geo.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface Candidate {
  url: string;
  region: string;
  leader: boolean;
  healthy: boolean;
  /**
   * ms behind the leader; undefined when unknown (the node still enforces the bound itself). Regional:
   * behind the primary, the region's lag plus the node's own.
   */
  lagMs: number | undefined;
  breaker: BreakerState;
  inflight: number;
  rttMs: number | undefined;
  /** Highest applied index the gateway has seen from it (answers, statuses); regional: comparable with the read's after_index (session/position.ts `appliedTowards`). */
  appliedIndex: number;
  /** Regional deployments only: why the candidate's region takes no reads (`closed`), or no bounded ones (`unbounded`). */
  regionGate?: { closed: string | undefined; unbounded: string | undefined };
}

/** Followers of the home region, followers elsewhere, then the leader; empty tiers dropped. */
export function tiers(candidates: readonly Candidate[], homeRegion: string | undefined): Candidate[][] {
  const home: Candidate[] = [];
  const others: Candidate[] = [];
  const leader: Candidate[] = [];
  for (const c of candidates) {
    if (c.leader) leader.push(c);
    else if (c.region === homeRegion) home.push(c);
    else others.push(c);
  }
  return [home, others, leader].filter((tier) => tier.length > 0);
}

/** The leader is never behind itself; unknown lag passes (the node answers REPLICA_LAGGING if it is over). */
export function withinLag(candidates: readonly Candidate[], boundMs: number): Candidate[] {
  return candidates.filter((c) => c.leader || c.lagMs === undefined || c.lagMs <= boundMs);
}

/**
 * Regional deployments: drops the candidates of regions that take no reads and, for a bounded read,
 * of regions whose lag is unknown or over their `replication_lag_max`. Never the leader (the primary
 * region's, lag 0); candidates without a gate (a single group) all pass.
 */
export function regionsOpen(candidates: readonly Candidate[], bounded: boolean): Candidate[] {
  return candidates.filter((c) => c.leader || c.regionGate === undefined || (c.regionGate.closed === undefined && (!bounded || c.regionGate.unbounded === undefined)));
}

/** Healthy and not behind an open breaker (half-open lets a trial through). */
export function available(candidates: readonly Candidate[]): Candidate[] {
  return candidates.filter((c) => c.healthy && c.breaker !== 'open');
}

/** The leader first, the rest in their order: for reads only the leader can answer completely (system views). */
export function leaderFirst(plan: readonly Candidate[]): Candidate[] {
  const leader = plan.find((c) => c.leader);
  return leader === undefined ? [...plan] : [leader, ...plan.filter((c) => c !== leader)];
}

/**
 * Why a candidate takes no reads under a lag bound, or undefined when it is in rotation. The leader is
 * never behind itself; it takes reads only when no follower can (the last tier).
 */
export function outOfRotation(c: Candidate, lagBoundMs: number | undefined): string | undefined {
  if (!c.healthy) return 'health checks failing';
  if (c.breaker === 'open') return 'circuit breaker open';
  if (!c.leader && c.regionGate !== undefined) {
    if (c.regionGate.closed !== undefined) return c.regionGate.closed;
    if (lagBoundMs !== undefined && c.regionGate.unbounded !== undefined) return c.regionGate.unbounded;
  }
  if (!c.leader && lagBoundMs !== undefined && c.lagMs !== undefined && c.lagMs > lagBoundMs) return `replication lag ${c.lagMs} ms over the bound of ${lagBoundMs} ms`;
  return undefined;
}

/**
 * Replicas known to be behind `afterIndex` (applied index seen below it, and not reported caught up:
 * lag unknown or above 0) go after the others, order otherwise kept: a read that must see that index
 * would wait on them. A caught-up replica whose last reported index is older keeps its place: it
 * applies a new entry within a round trip of its commit, and demoting it would send every read after
 * a write to whichever replica happened to answer first.
 */
export function preferApplied(candidates: readonly Candidate[], afterIndex: number): Candidate[] {
  if (afterIndex <= 0) return candidates as Candidate[];
  const behind = (c: Candidate): boolean => !c.leader && c.appliedIndex < afterIndex && c.lagMs !== 0;
  if (!candidates.some(behind)) return candidates as Candidate[];
  return [...candidates.filter((c) => !behind(c)), ...candidates.filter(behind)];
}

const rttOrInfinity = (c: Candidate): number => c.rttMs ?? Number.POSITIVE_INFINITY;

/** Rotates the list by `turn`: successive turns start at successive candidates. */
export function roundRobin(candidates: readonly Candidate[], turn: number): Candidate[] {
  if (candidates.length === 0) return [];
  const start = ((turn % candidates.length) + candidates.length) % candidates.length;
  return [...candidates.slice(start), ...candidates.slice(0, start)];
}

/** Fewest outstanding requests first; ties by measured RTT. */
export function leastConnections(candidates: readonly Candidate[]): Candidate[] {
  return [...candidates].sort((a, b) => a.inflight - b.inflight || rttOrInfinity(a) - rttOrInfinity(b));
}

/** Farther than any two points on Earth (about 20,000 km): where a region without a location sorts. */
const UNLOCATED_KM = 1e6;

/**
 * Closest region to the client first; ties (same region, or no location) by measured RTT. A region
 * the gateway has no location for (learned from the nodes, not configured) comes after every located
 * one when the client's location is known.
 */
export function nearest(candidates: readonly Candidate[], origin: GeoPoint | undefined, regions: readonly RegionPoint[]): Candidate[] {
  const byName = new Map(regions.map((r) => [r.name, r]));
  const km = (c: Candidate): number => {
    if (origin === undefined) return 0;
    const region = byName.get(c.region);
    return region === undefined ? UNLOCATED_KM : distanceKm(origin, region);
  };
  return [...candidates].sort((a, b) => km(a) - km(b) || rttOrInfinity(a) - rttOrInfinity(b));
}

export interface ReadPlanContext {
  policy: ReadPreference;
  lagBoundMs: number | undefined;
  /** The client's region for `nearest`, else the gateway's own. */
  homeRegion: string | undefined;
  origin: GeoPoint | undefined;
  regions: readonly RegionPoint[];
  /** Round-robin turn (a counter the caller advances). */
  turn: number;
  /** The read's `after_index` (0: none). */
  afterIndex?: number;
}

export function order(candidates: readonly Candidate[], context: ReadPlanContext): Candidate[] {
  switch (context.policy) {
    case 'round_robin':
      return roundRobin(candidates, context.turn);
    case 'least_connections':
      return leastConnections(candidates);
    case 'nearest':
      return nearest(candidates, context.origin, context.regions);
  }
}

/** The order in which to try candidates: the first is the pick, the rest are fallbacks. */
export function planRead(candidates: readonly Candidate[], context: ReadPlanContext): Candidate[] {
  const plan: Candidate[] = [];
  for (const tier of tiers(candidates, context.homeRegion)) {
    const open = regionsOpen(tier, context.lagBoundMs !== undefined);
    const eligible = available(context.lagBoundMs === undefined ? open : withinLag(open, context.lagBoundMs));
    plan.push(...preferApplied(order(eligible, context), context.afterIndex ?? 0));
  }
  return plan;
}
