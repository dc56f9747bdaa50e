/**
 * The gateway's YAML configuration: schema, defaults and validation. Every
 * problem is reported with the key it concerns, all at once (ConfigError).
 *
 *     listen: 127.0.0.1:3141
 *     region: us-east
 *     session_secret: <at least 16 characters>
 *     admin_token: <bearer token of /api/v1/admin/*>
 *     trusted_proxies: [127.0.0.1, 10.0.0.0/8]
 *     regions:
 *       us-east: {lat: 39.0, lon: -77.5, role: primary, nodes: [http://127.0.0.1:3151]}
 *       eu-west: {lat: 53.3, lon: -6.3, role: secondary, nodes: [http://127.0.0.1:3152]}
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { ConfigError, parseHostPort } from '../shared/config/index.js';
import type { HostPort } from '../shared/config/index.js';

export type RegionRole = 'primary' | 'secondary' | 'read_replica' | 'disaster_recovery';
export type ReadPreference = 'round_robin' | 'least_connections' | 'nearest';
export type Consistency = 'linearizable' | 'leader' | 'bounded' | 'any';

export const READ_PREFERENCES: readonly ReadPreference[] = ['round_robin', 'least_connections', 'nearest'];
export const CONSISTENCY_LEVELS: readonly Consistency[] = ['linearizable', 'leader', 'bounded', 'any'];
const REGION_ROLES: readonly RegionRole[] = ['primary', 'secondary', 'read_replica', 'disaster_recovery'];

export interface RegionConfig {
  name: string;
  lat: number;
  lon: number;
  role: RegionRole;
  /** Base URLs of the region's storage nodes (`http://host:port`). */
  nodes: string[];
}

export interface QueryCacheConfig {
  enabled: boolean;
  maxEntries: number;
  ttlMs: number;
}

export interface GatewayConfig {
  listen: HostPort;
  regions: RegionConfig[];
  /** This gateway's own region: the first read tier when the client's region is unknown. */
  region: string | undefined;
  sessionSecret: string;
  adminToken: string | undefined;
  /** Peers whose X-Forwarded-For is believed (IPs or CIDRs). */
  trustedProxies: string[];
  /** Default session lag bound for reads. */
  maxReplicationLagMs: number;
  /** How long a write may wait for a leader during an election. */
  writeHoldMs: number;
  /** How many writes may wait at once. */
  writeQueue: number;
  readConcurrency: number;
  writeConcurrency: number;
  bodyLimit: number;
  /** Longest accepted query text, in bytes. */
  maxQueryBytes: number;
  readPreference: ReadPreference;
  consistency: Consistency;
  queryCache: QueryCacheConfig;
  /** Active health check period. */
  healthIntervalMs: number;
  /** Status polling period (fallback to the watch stream). */
  pollIntervalMs: number;
  /** Per-request timeout towards a node when the client gives none. */
  defaultTimeoutMs: number;
  /**
   * Send reads and writes over each node's multiplexed query stream
   * (`GET /v1/stream`) instead of one HTTP exchange each; HTTP stays the
   * fallback while a stream is down. Default true.
   */
  queryStream: boolean;
  /**
   * Hedged reads: a replica read unanswered this long, from a node whose query stream has been quiet
   * as long, pings the node; no sign of life within another such delay, and the read also goes to the
   * next candidate (first answer wins). 0 turns hedging off.
   */
  readHedgeMs: number;
  /**
   * Every read waits for the highest write index this gateway acknowledged (sent as `after_index`),
   * so a read without a session token still sees every write acknowledged before it arrived.
   * Default true; false leaves tokenless reads to the lag bound alone.
   */
  readYourWrites: boolean;
}

export const GATEWAY_DEFAULTS = {
  listen: { host: '127.0.0.1', port: 3141 },
  maxReplicationLagMs: 1000,
  writeHoldMs: 2000,
  writeQueue: 1000,
  readConcurrency: 512,
  writeConcurrency: 256,
  bodyLimit: 1024 * 1024,
  maxQueryBytes: 64 * 1024,
  readPreference: 'round_robin',
  consistency: 'bounded',
  queryCache: { enabled: false, maxEntries: 1000, ttlMs: 60_000 },
  healthIntervalMs: 1000,
  pollIntervalMs: 2000,
  defaultTimeoutMs: 30_000,
  queryStream: true,
  readHedgeMs: 250,
  readYourWrites: true,
} as const;

const MIN_SESSION_SECRET = 16;

const KNOWN_KEYS = new Set([
  'listen', 'regions', 'region', 'session_secret', 'admin_token', 'trusted_proxies', 'max_replication_lag_ms',
  'write_hold_ms', 'write_queue', 'read_concurrency', 'write_concurrency', 'body_limit', 'max_query_bytes',
  'read_preference', 'consistency', 'query_cache', 'health_interval_ms', 'poll_interval_ms', 'default_timeout_ms',
  'query_stream', 'read_hedge_ms', 'read_your_writes',
]);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

class Reader {
  readonly issues: string[] = [];

  int(raw: Record<string, unknown>, key: string, path: string, fallback: number, min: number): number {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      this.issues.push(`${path}: expected an integer >= ${min}`);
      return fallback;
    }
    return value;
  }

  num(raw: Record<string, unknown>, key: string, path: string, min: number, max: number): number {
    const value = raw[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.issues.push(`${path}: expected a number in [${min}, ${max}]`);
      return 0;
    }
    return value;
  }

  choice<T extends string>(raw: Record<string, unknown>, key: string, path: string, options: readonly T[], fallback: T): T {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value === 'string' && (options as readonly string[]).includes(value)) return value as T;
    this.issues.push(`${path}: expected one of ${options.join(', ')}`);
    return fallback;
  }
}

/** `http://host:port` with nothing after the port; a trailing slash is dropped. */
export function normalizeNodeUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') return undefined;
  return url.origin;
}

/** Adds an IP or CIDR to a BlockList; false when it is neither. */
export function addTrusted(list: BlockList, entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  if (address === undefined || rest.length > 0) return false;
  const family = isIP(address);
  if (family === 0) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefix === undefined) {
    list.addAddress(address, type);
    return true;
  }
  const bits = Number(prefix);
  if (!/^\d{1,3}$/.test(prefix) || bits > (family === 6 ? 128 : 32)) return false;
  list.addSubnet(address, bits, type);
  return true;
}

/** Validates a parsed YAML/JSON object; throws ConfigError naming every bad key. */
export function parseGatewayConfig(raw: unknown, source = '<gateway config>', env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const r = new Reader();
  if (!isRecord(raw)) throw new ConfigError(['(top level): expected a mapping'], source);
  for (const key of Object.keys(raw)) if (!KNOWN_KEYS.has(key)) r.issues.push(`${key}: unknown key`);

  let listen: HostPort = { ...GATEWAY_DEFAULTS.listen };
  if (raw['listen'] !== undefined) {
    const parsed = typeof raw['listen'] === 'string' ? parseHostPort(raw['listen'], true) : undefined;
    if (parsed === undefined) r.issues.push('listen: expected host:port');
    else listen = parsed;
  }

  const regions: RegionConfig[] = [];
  const seenUrls = new Set<string>();
  if (!isRecord(raw['regions']) || Object.keys(raw['regions']).length === 0) {
    r.issues.push('regions: required, a mapping of region name to {lat, lon, role, nodes}');
  } else {
    for (const [name, entry] of Object.entries(raw['regions'])) {
      const path = `regions.${name}`;
      if (!isRecord(entry)) {
        r.issues.push(`${path}: expected a mapping {lat, lon, role, nodes}`);
        continue;
      }
      for (const key of Object.keys(entry)) if (!['lat', 'lon', 'role', 'nodes'].includes(key)) r.issues.push(`${path}.${key}: unknown key`);
      const lat = r.num(entry, 'lat', `${path}.lat`, -90, 90);
      const lon = r.num(entry, 'lon', `${path}.lon`, -180, 180);
      const role = r.choice(entry, 'role', `${path}.role`, REGION_ROLES, 'secondary');
      const nodes: string[] = [];
      const list = entry['nodes'];
      if (!Array.isArray(list) || list.length === 0) r.issues.push(`${path}.nodes: expected a non-empty list of node URLs`);
      else {
        list.forEach((item, i) => {
          const url = typeof item === 'string' ? normalizeNodeUrl(item) : undefined;
          if (url === undefined) r.issues.push(`${path}.nodes[${i}]: expected a node URL like http://host:port`);
          else if (seenUrls.has(url)) r.issues.push(`${path}.nodes[${i}]: ${url} is listed twice`);
          else {
            seenUrls.add(url);
            nodes.push(url);
          }
        });
      }
      regions.push({ name, lat, lon, role, nodes });
    }
  }

  let region: string | undefined;
  if (raw['region'] !== undefined) {
    if (typeof raw['region'] !== 'string' || !regions.some((g) => g.name === raw['region'])) r.issues.push('region: expected the name of one of the configured regions');
    else region = raw['region'];
  }

  const secret = raw['session_secret'] ?? env['GEODE_SESSION_SECRET'];
  let sessionSecret = '';
  if (typeof secret !== 'string' || secret.length < MIN_SESSION_SECRET) r.issues.push(`session_secret: required, at least ${MIN_SESSION_SECRET} characters (or GEODE_SESSION_SECRET)`);
  else sessionSecret = secret;

  const token = raw['admin_token'] ?? env['GEODE_ADMIN_TOKEN'];
  let adminToken: string | undefined;
  if (token !== undefined) {
    if (typeof token !== 'string' || token.length === 0) r.issues.push('admin_token: expected a non-empty string');
    else adminToken = token;
  }

  const trustedProxies: string[] = [];
  if (raw['trusted_proxies'] !== undefined) {
    const list = raw['trusted_proxies'];
    if (!Array.isArray(list)) r.issues.push('trusted_proxies: expected a list of IPs or CIDRs');
    else {
      const probe = new BlockList();
      list.forEach((item, i) => {
        if (typeof item !== 'string' || !addTrusted(probe, item)) r.issues.push(`trusted_proxies[${i}]: expected an IP or CIDR`);
        else trustedProxies.push(item);
      });
    }
  }

  const queryCache: QueryCacheConfig = { ...GATEWAY_DEFAULTS.queryCache };
  const qc = raw['query_cache'];
  if (qc !== undefined) {
    if (!isRecord(qc)) r.issues.push('query_cache: expected a mapping {enabled, max_entries, ttl_ms}');
    else {
      for (const key of Object.keys(qc)) if (!['enabled', 'max_entries', 'ttl_ms'].includes(key)) r.issues.push(`query_cache.${key}: unknown key`);
      if (qc['enabled'] !== undefined && typeof qc['enabled'] !== 'boolean') r.issues.push('query_cache.enabled: expected true or false');
      queryCache.enabled = qc['enabled'] === true;
      queryCache.maxEntries = r.int(qc, 'max_entries', 'query_cache.max_entries', queryCache.maxEntries, 1);
      queryCache.ttlMs = r.int(qc, 'ttl_ms', 'query_cache.ttl_ms', queryCache.ttlMs, 1);
    }
  }

  const config: GatewayConfig = {
    listen,
    regions,
    region,
    sessionSecret,
    adminToken,
    trustedProxies,
    maxReplicationLagMs: r.int(raw, 'max_replication_lag_ms', 'max_replication_lag_ms', GATEWAY_DEFAULTS.maxReplicationLagMs, 0),
    writeHoldMs: r.int(raw, 'write_hold_ms', 'write_hold_ms', GATEWAY_DEFAULTS.writeHoldMs, 0),
    writeQueue: r.int(raw, 'write_queue', 'write_queue', GATEWAY_DEFAULTS.writeQueue, 0),
    readConcurrency: r.int(raw, 'read_concurrency', 'read_concurrency', GATEWAY_DEFAULTS.readConcurrency, 1),
    writeConcurrency: r.int(raw, 'write_concurrency', 'write_concurrency', GATEWAY_DEFAULTS.writeConcurrency, 1),
    bodyLimit: r.int(raw, 'body_limit', 'body_limit', GATEWAY_DEFAULTS.bodyLimit, 64),
    maxQueryBytes: r.int(raw, 'max_query_bytes', 'max_query_bytes', GATEWAY_DEFAULTS.maxQueryBytes, 16),
    readPreference: r.choice(raw, 'read_preference', 'read_preference', READ_PREFERENCES, GATEWAY_DEFAULTS.readPreference),
    consistency: r.choice(raw, 'consistency', 'consistency', CONSISTENCY_LEVELS, GATEWAY_DEFAULTS.consistency),
    queryCache,
    healthIntervalMs: r.int(raw, 'health_interval_ms', 'health_interval_ms', GATEWAY_DEFAULTS.healthIntervalMs, 10),
    pollIntervalMs: r.int(raw, 'poll_interval_ms', 'poll_interval_ms', GATEWAY_DEFAULTS.pollIntervalMs, 10),
    defaultTimeoutMs: r.int(raw, 'default_timeout_ms', 'default_timeout_ms', GATEWAY_DEFAULTS.defaultTimeoutMs, 1),
    queryStream: typeof raw['query_stream'] === 'boolean' ? raw['query_stream'] : GATEWAY_DEFAULTS.queryStream,
    readHedgeMs: r.int(raw, 'read_hedge_ms', 'read_hedge_ms', GATEWAY_DEFAULTS.readHedgeMs, 0),
    readYourWrites: typeof raw['read_your_writes'] === 'boolean' ? raw['read_your_writes'] : GATEWAY_DEFAULTS.readYourWrites,
  };
  for (const key of ['query_stream', 'read_your_writes']) {
    if (raw[key] !== undefined && typeof raw[key] !== 'boolean') r.issues.push(`${key}: expected true or false`);
  }
  if (r.issues.length > 0) throw new ConfigError(r.issues, source);
  return config;
}

/** Reads and validates a YAML file. */
export function loadGatewayConfig(path: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const doc = parseDocument(readFileSync(path, 'utf8'));
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => `yaml: ${e.message}`), path);
  return parseGatewayConfig(doc.toJS(), path, env);
}
