/**
 * Read routing as small functions over candidate lists, composed in
 * `planRead`: tiers (home region, other regions, leader) -> lag bound ->
 * health and breaker -> the session's policy. Each stage is pure.
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
  /** ms behind the leader; undefined when unknown (the node still enforces the bound itself). */
  lagMs: number | undefined;
  breaker: BreakerState;
  inflight: number;
  rttMs: number | undefined;
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

/** Healthy and not behind an open breaker (half-open lets a trial through). */
export function available(candidates: readonly Candidate[]): Candidate[] {
  return candidates.filter((c) => c.healthy && c.breaker !== 'open');
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

/** Closest region to the client first; ties (same region, or no location) by measured RTT. */
export function nearest(candidates: readonly Candidate[], origin: GeoPoint | undefined, regions: readonly RegionPoint[]): Candidate[] {
  const byName = new Map(regions.map((r) => [r.name, r]));
  const km = (c: Candidate): number => {
    const region = byName.get(c.region);
    return origin === undefined || region === undefined ? 0 : distanceKm(origin, region);
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
    const eligible = available(context.lagBoundMs === undefined ? tier : withinLag(tier, context.lagBoundMs));
    plan.push(...order(eligible, context));
  }
  return plan;
}
