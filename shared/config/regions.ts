/**
 * Regions as a deployment declares them: the seed's two YAML forms.
 *
 *     regions:                         global_deployment:
 *       us-east-1:                       regions:
 *         nodes: 3                         us-east-1: {nodes: 3, role: primary, write_priority: 1}
 *         role: primary_cluster            eu-west-1: {nodes: 3, role: secondary, write_priority: 2, replication_lag_max: 100ms}
 *       us-west-2:                         ap-southeast-1: {nodes: 2, role: read_replica, replication_mode: async}
 *         nodes: 3                       routing:
 *         role: disaster_recovery          strategy: geographic_proximity
 *         replication_mode: async          failover_policy: automatic
 *                                          health_check_interval: 5s
 *
 * `nodes` is a count (what `geode dev` starts) or a list of node base URLs
 * (what a node's and a gateway's config name). `parseRegions` reads either
 * form and reports every problem at once, each with its key path;
 * `regionsToYaml` writes a deployment back (what `geode dev` puts in each
 * node's config). Durations (`100ms`, `5s`) go through `parseDurationMs`
 * (duration.ts).
 */

import type { RegionRole } from '../protocol/region.js';
import { formatDurationMs, parseDurationMs } from './duration.js';

export type { RegionRole } from '../protocol/region.js';

export interface RegionSpec {
  name: string;
  /** `primary_cluster` is read as `primary`. */
  role: RegionRole;
  /** Base URLs of the region's nodes; empty when the deployment gave only a count. */
  nodes: string[];
  /** How many nodes (the list's length when URLs are given). */
  nodeCount: number;
  /** Lower is preferred when a new primary is chosen; undefined: after every region that has one. */
  writePriority?: number;
  /** The region's lag bound in ms (`replication_lag_max`); over it, the region serves no bounded read and raises an alarm. */
  replicationLagMaxMs?: number;
  /** Only `async` exists between regions. */
  replicationMode: 'async';
  /** Whether the region serves reads: default false for disaster_recovery, true otherwise (`serve_reads`). */
  serveReads: boolean;
  /** Location for nearest-region routing (`lat`, `lon`), when given. */
  lat?: number;
  lon?: number;
}

export type FailoverPolicy = 'manual' | 'automatic';

export interface RegionRouting {
  strategy: 'geographic_proximity' | 'round_robin' | 'least_connections';
  failoverPolicy: FailoverPolicy;
  /** How often each region's leader polls the other regions (epoch discovery, lag, reachability). */
  healthCheckIntervalMs: number;
  /** automatic: how long the primary region must have been unreachable before a majority of regions promotes another. */
  failoverAfterMs: number;
}

export interface RegionDeployment {
  regions: RegionSpec[];
  routing: RegionRouting;
}

/** A storage node's view: its own region's name plus the whole deployment. */
export interface NodeRegions extends RegionDeployment {
  self: string;
}

export const DEFAULT_REGION_HEALTH_CHECK_MS = 1_000;
export const DEFAULT_FAILOVER_AFTER_MS = 10_000;

/** A region's default routing: how `regions:` (which has no routing section) and an absent `routing:` read. */
export const DEFAULT_ROUTING_STRATEGY: RegionRouting['strategy'] = 'geographic_proximity';
/** Promotion waits for an operator unless the deployment says `failover_policy: automatic`. */
export const DEFAULT_FAILOVER_POLICY: FailoverPolicy = 'manual';
/** Below this a region's leader would spend its time polling the other regions. */
export const MIN_REGION_HEALTH_CHECK_MS = 10;

/** The role words the seed uses, to the roles they mean. */
const ROLE_WORDS: Readonly<Record<string, RegionRole>> = {
  primary: 'primary',
  primary_cluster: 'primary',
  secondary: 'secondary',
  read_replica: 'read_replica',
  disaster_recovery: 'disaster_recovery',
};
const STRATEGIES: readonly RegionRouting['strategy'][] = ['geographic_proximity', 'round_robin', 'least_connections'];
const FAILOVER_POLICIES: readonly FailoverPolicy[] = ['automatic', 'manual'];
const REGION_KEYS = ['nodes', 'role', 'replication_mode', 'write_priority', 'replication_lag_max', 'serve_reads', 'lat', 'lon'];
const ROUTING_KEYS = ['strategy', 'failover_policy', 'health_check_interval', 'failover_after'];
/** A DNS label: region names end up in metric labels, file names and URLs. */
const REGION_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Whether `name` is acceptable as a region name (letters, digits and inner dashes, at most 63). */
export function isRegionName(name: string): boolean {
  return REGION_NAME.test(name);
}

/**
 * The deployment that `raw` (a mapping, such as a config file's top level or one node's section)
 * declares with `regions:` or `global_deployment:`; `at` is that mapping's key path ('' at the top
 * level), so issues read `node1.regions.eu-west-1.nodes: ...`. Other keys of `raw` are left to the
 * caller. Undefined when `raw` holds neither key (nothing is reported: no regions is the
 * single-region deployment), and undefined with every problem pushed onto `issues` when the
 * declaration is invalid.
 */
export function parseRegions(raw: unknown, at: string, issues: string[]): RegionDeployment | undefined {
  const path = (key: string): string => (at === '' ? key : `${at}.${key}`);
  if (!isRecord(raw)) {
    issues.push(`${at === '' ? '(top level)' : at}: expected a mapping`);
    return undefined;
  }
  const plain = raw['regions'];
  const global = raw['global_deployment'];
  if (plain === undefined && global === undefined) return undefined;
  if (plain !== undefined && global !== undefined) {
    issues.push(`${path('global_deployment')}: give either regions: or global_deployment:, not both`);
    return undefined;
  }
  const before = issues.length;
  let regions: RegionSpec[];
  let routing: RegionRouting;
  if (plain !== undefined) {
    regions = parseRegionMap(plain, path('regions'), issues);
    routing = parseRouting(undefined, path('routing'), issues);
  } else {
    const at = path('global_deployment');
    if (!isRecord(global)) {
      issues.push(`${at}: expected a mapping {regions, routing}`);
      return undefined;
    }
    for (const key of Object.keys(global)) if (key !== 'regions' && key !== 'routing') issues.push(`${at}.${key}: unknown key`);
    if (global['regions'] === undefined) {
      issues.push(`${at}.regions: required, a mapping of region name to {nodes, role, ...}`);
      regions = [];
    } else regions = parseRegionMap(global['regions'], `${at}.regions`, issues);
    routing = parseRouting(global['routing'], `${at}.routing`, issues);
  }
  return issues.length > before ? undefined : { regions, routing };
}

/** The regions of a `regions:` mapping, checked one by one and then together (one primary, no URL twice). */
function parseRegionMap(value: unknown, at: string, issues: string[]): RegionSpec[] {
  if (!isRecord(value) || Object.keys(value).length === 0) {
    issues.push(`${at}: expected a mapping of region name to {nodes, role, ...}`);
    return [];
  }
  const regions: RegionSpec[] = [];
  const urlOwner = new Map<string, string>();
  for (const [name, entry] of Object.entries(value)) {
    const path = `${at}.${name}`;
    if (!REGION_NAME.test(name)) issues.push(`${path}: not a valid region name (letters, digits and '-', not at either end; at most 63)`);
    if (!isRecord(entry)) {
      issues.push(`${path}: expected a mapping {nodes, role, ...}`);
      continue;
    }
    const spec = parseRegion(name, entry, path, issues);
    spec.nodes.forEach((url, i) => {
      const other = urlOwner.get(url);
      if (other !== undefined) issues.push(`${path}.nodes[${i}]: ${url} is listed twice (also in ${other})`);
      else urlOwner.set(url, name);
    });
    regions.push(spec);
  }
  const primaries = regions.filter((r) => r.role === 'primary').map((r) => r.name);
  if (primaries.length === 0) issues.push(`${at}: no primary region (role: primary or primary_cluster); exactly one is required`);
  if (primaries.length > 1) issues.push(`${at}: ${primaries.length} primary regions (${primaries.join(', ')}); exactly one is required`);
  return regions;
}

function parseRegion(name: string, entry: Record<string, unknown>, at: string, issues: string[]): RegionSpec {
  for (const key of Object.keys(entry)) if (!REGION_KEYS.includes(key)) issues.push(`${at}.${key}: unknown key`);
  const { nodes, nodeCount } = parseRegionNodes(entry['nodes'], `${at}.nodes`, issues);

  let role: RegionRole = 'secondary';
  const roleWord = entry['role'];
  if (roleWord !== undefined) {
    const known = typeof roleWord === 'string' && Object.hasOwn(ROLE_WORDS, roleWord) ? ROLE_WORDS[roleWord] : undefined;
    if (known === undefined) issues.push(`${at}.role: expected one of ${Object.keys(ROLE_WORDS).join(', ')}`);
    else role = known;
  }

  const mode = entry['replication_mode'];
  // Between regions there is only the asynchronous stream; synchronous replication is the Raft group's, inside a region.
  if (mode !== undefined && mode !== 'async' && mode !== 'asynchronous') {
    issues.push(`${at}.replication_mode: expected async (regions follow the primary asynchronously; synchronous replication happens inside each region's Raft group)`);
  }

  const spec: RegionSpec = { name, role, nodes, nodeCount, replicationMode: 'async', serveReads: role !== 'disaster_recovery' };

  const priority = entry['write_priority'];
  if (priority !== undefined) {
    if (typeof priority !== 'number' || !Number.isSafeInteger(priority) || priority < 0) issues.push(`${at}.write_priority: expected an integer >= 0 (lower is preferred)`);
    else spec.writePriority = priority;
  }
  const lagMax = parseDurationMs(entry['replication_lag_max'], `${at}.replication_lag_max`, issues, { min: 1 });
  if (lagMax !== undefined) spec.replicationLagMaxMs = lagMax;

  const serveReads = entry['serve_reads'];
  if (serveReads !== undefined) {
    if (typeof serveReads !== 'boolean') issues.push(`${at}.serve_reads: expected true or false`);
    else spec.serveReads = serveReads;
  }

  const lat = readCoordinate(entry, 'lat', 90, at, issues);
  const lon = readCoordinate(entry, 'lon', 180, at, issues);
  if ((entry['lat'] === undefined) !== (entry['lon'] === undefined)) issues.push(`${at}: lat and lon go together (give both or neither)`);
  else if (lat !== undefined && lon !== undefined) {
    spec.lat = lat;
    spec.lon = lon;
  }
  return spec;
}

function parseRegionNodes(value: unknown, at: string, issues: string[]): { nodes: string[]; nodeCount: number } {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return { nodes: [], nodeCount: value };
  if (Array.isArray(value) && value.length > 0) {
    const nodes: string[] = [];
    value.forEach((item: unknown, i) => {
      const url = typeof item === 'string' ? normalizeRegionNodeUrl(item) : undefined;
      if (url === undefined) issues.push(`${at}[${i}]: expected a node URL like http://host:port`);
      else if (nodes.includes(url)) issues.push(`${at}[${i}]: ${url} is listed twice`);
      else nodes.push(url);
    });
    return { nodes, nodeCount: value.length };
  }
  issues.push(
    value === undefined
      ? `${at}: required, a node count or a list of node URLs (http://host:port)`
      : `${at}: expected a node count (an integer >= 1) or a non-empty list of node URLs (http://host:port)`,
  );
  return { nodes: [], nodeCount: 0 };
}

/** `http://host:port` (or https) with nothing after the port, as its origin (a trailing slash dropped); else undefined. */
export function normalizeRegionNodeUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.hostname === '' || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return undefined;
  return url.origin;
}

function readCoordinate(entry: Record<string, unknown>, key: 'lat' | 'lon', limit: number, at: string, issues: string[]): number | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < -limit || value > limit) {
    issues.push(`${at}.${key}: expected a number in [-${limit}, ${limit}]`);
    return undefined;
  }
  return value;
}

/** The `routing:` section; every key optional (the `regions:` form has none, so all defaults). */
function parseRouting(value: unknown, at: string, issues: string[]): RegionRouting {
  const routing: RegionRouting = {
    strategy: DEFAULT_ROUTING_STRATEGY,
    failoverPolicy: DEFAULT_FAILOVER_POLICY,
    healthCheckIntervalMs: DEFAULT_REGION_HEALTH_CHECK_MS,
    failoverAfterMs: DEFAULT_FAILOVER_AFTER_MS,
  };
  if (value === undefined) return routing;
  if (!isRecord(value)) {
    issues.push(`${at}: expected a mapping {strategy, failover_policy, health_check_interval, failover_after}`);
    return routing;
  }
  for (const key of Object.keys(value)) if (!ROUTING_KEYS.includes(key)) issues.push(`${at}.${key}: unknown key`);
  const strategy = value['strategy'];
  if (strategy !== undefined) {
    const known = STRATEGIES.find((s) => s === strategy);
    if (known === undefined) issues.push(`${at}.strategy: expected one of ${STRATEGIES.join(', ')}`);
    else routing.strategy = known;
  }
  const policy = value['failover_policy'];
  if (policy !== undefined) {
    const known = FAILOVER_POLICIES.find((p) => p === policy);
    if (known === undefined) issues.push(`${at}.failover_policy: expected one of ${FAILOVER_POLICIES.join(', ')}`);
    else routing.failoverPolicy = known;
  }
  const interval = parseDurationMs(value['health_check_interval'], `${at}.health_check_interval`, issues, { min: MIN_REGION_HEALTH_CHECK_MS });
  if (interval !== undefined) routing.healthCheckIntervalMs = interval;
  const after = parseDurationMs(value['failover_after'], `${at}.failover_after`, issues, { min: 1 });
  if (after !== undefined) {
    // The primary must have missed at least one health check before it counts as unreachable.
    if (after < routing.healthCheckIntervalMs) issues.push(`${at}.failover_after: ${String(value['failover_after'])} is shorter than health_check_interval (${routing.healthCheckIntervalMs} ms)`);
    else routing.failoverAfterMs = after;
  } else if (value['failover_after'] === undefined) {
    // A long health-check interval (the seed's 5s) stretches the default: two missed checks at least.
    routing.failoverAfterMs = defaultFailoverAfterMs(routing.healthCheckIntervalMs);
  }
  return routing;
}

/** `failover_after` when the deployment gives none: 10 s, or two health-check intervals if that is longer. */
export function defaultFailoverAfterMs(healthCheckIntervalMs: number): number {
  return Math.max(DEFAULT_FAILOVER_AFTER_MS, 2 * healthCheckIntervalMs);
}

/** The primary region (parseRegions guarantees exactly one). */
export function primaryRegion(deployment: RegionDeployment): RegionSpec {
  const primary = deployment.regions.find((r) => r.role === 'primary');
  if (primary === undefined) throw new Error('a region deployment without a primary region');
  return primary;
}

/**
 * The deployment as YAML-ready data that `parseRegions` reads back to the same deployment: the
 * seed's `regions:` form when the routing is all defaults, else `global_deployment:` (the only form
 * with a `routing:` section). Regions with node URLs are written with them, others with the count.
 */
export function regionsToYaml(deployment: RegionDeployment): Record<string, unknown> {
  const regions: Record<string, unknown> = {};
  for (const r of deployment.regions) {
    const entry: Record<string, unknown> = { nodes: r.nodes.length > 0 ? [...r.nodes] : r.nodeCount, role: r.role, replication_mode: 'async' };
    if (r.writePriority !== undefined) entry['write_priority'] = r.writePriority;
    if (r.replicationLagMaxMs !== undefined) entry['replication_lag_max'] = formatDurationMs(r.replicationLagMaxMs);
    if (r.serveReads !== (r.role !== 'disaster_recovery')) entry['serve_reads'] = r.serveReads;
    if (r.lat !== undefined && r.lon !== undefined) {
      entry['lat'] = r.lat;
      entry['lon'] = r.lon;
    }
    regions[r.name] = entry;
  }
  const { routing } = deployment;
  const defaults =
    routing.strategy === DEFAULT_ROUTING_STRATEGY &&
    routing.failoverPolicy === DEFAULT_FAILOVER_POLICY &&
    routing.healthCheckIntervalMs === DEFAULT_REGION_HEALTH_CHECK_MS &&
    routing.failoverAfterMs === DEFAULT_FAILOVER_AFTER_MS;
  if (defaults) return { regions };
  return {
    global_deployment: {
      regions,
      routing: {
        strategy: routing.strategy,
        failover_policy: routing.failoverPolicy,
        health_check_interval: formatDurationMs(routing.healthCheckIntervalMs),
        failover_after: formatDurationMs(routing.failoverAfterMs),
      },
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
