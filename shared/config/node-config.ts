/**
 * The storage node's YAML configuration: schema, defaults and validation.
 *
 * Two layouts are accepted. The seed's, where the node id is the single
 * top-level key (several nodes may share a file; the caller picks one with
 * `nodeId`):
 *
 *     node1:
 *       role: primary
 *       listen: 0.0.0.0:3141
 *       cluster_peers: [node2:3141, node3:3141]
 *       replication_mode: synchronous
 *       quorum_size: 2
 *
 * and the flat one, with the id as a key: `id: node1`, `listen: ...`.
 * A top-level `cluster:` section (the seed's five-node example) holds
 * settings shared by every node section of the file; a node's own keys win.
 * A top-level `regions:` or `global_deployment:` (the seed's multi-region
 * YAML, regions.ts) declares the deployment every node section of the file
 * belongs to; a node section may declare its own instead. With regions, each
 * node names its own with `region:`, and its Raft group (itself and
 * `cluster_peers`) is that region's group.
 * Every problem is reported with the key path it concerns, all at once.
 * Durations (`heartbeat_ms`, `election_timeout_ms`, `replication_lag_max`, ...)
 * take the seed's strings (`100ms`, `5s`) or a number of milliseconds.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ErrorCode, GeodeError } from '../protocol/errors.js';
import { parseDurationMs } from './duration.js';
import { parseRegions } from './regions.js';
import type { NodeRegions, RegionDeployment } from './regions.js';

export type ReplicationMode = 'synchronous' | 'semi_synchronous' | 'asynchronous';
/** The seed's roles; `learner` is a non-voting (asynchronous) replica. Raft elects the actual leader. */
export type ConfiguredRole = 'primary' | 'standby' | 'learner';

export interface HostPort {
  host: string;
  port: number;
}

/** A peer: `host:port` (named by its host, seed style) or `name@host:port`. */
export interface PeerAddress extends HostPort {
  name: string;
}

/** One member of the Raft group as every node must agree on it (structurally a storage node MemberSpec). */
export interface ClusterMember {
  name: string;
  /** Base URL of the member's API (and Raft stream). */
  url: string;
  learner: boolean;
  region?: string;
}

export interface NodeConfig {
  id: string;
  role: ConfiguredRole;
  /** Where the HTTP API listens; port 0 picks a free port. */
  listen: HostPort;
  /** The URL peers and clients use for this node; default from listen (0.0.0.0 -> 127.0.0.1). */
  advertise: string;
  /** The other members' addresses. */
  clusterPeers: PeerAddress[];
  /** Names of the members that are learners (async replicas: receive the log, never vote). */
  learners: string[];
  /** Every member, this node first. */
  members: ClusterMember[];
  replicationMode: ReplicationMode;
  /** Voters that must hold a write before it is acknowledged (at least a majority is always required). */
  quorumSize?: number;
  /** Voters besides the leader that must hold a write in semi_synchronous mode. */
  syncReplicas?: number;
  /** Applied entries between snapshots (log compaction). */
  snapshotEntries?: number;
  /** Directory of the node's databases; relative paths are resolved against the config file's directory. */
  dataDir: string;
  /** This node's region: a label without `regions`; with them, the name of the region whose Raft group this node is in. */
  region?: string;
  /**
   * The deployment's regions (`regions:` or `global_deployment:`) with `self` = `region`; absent in a
   * single-region deployment. Every region lists its node URLs (what this node uses to reach it).
   */
  regions?: NodeRegions;
  /** Shared secret peers prove on connect (HMAC challenge). */
  clusterSecret?: string;
  /** Bearer token of the admin endpoints. */
  adminToken?: string;
  heartbeatMs: number;
  /** Base election timeout; each election waits a random time in [electionTimeoutMs, 2 * electionTimeoutMs). */
  electionTimeoutMs: number;
  /**
   * Serve replica reads on read lanes, the read workers' own query streams on system-chosen ports of
   * the listen host (storage-node/api/read-lane.ts); default true. Gateways that cannot reach those
   * ports (a container that publishes only the API port) fall back to the main port by themselves;
   * false turns lanes off.
   */
  readLanes: boolean;
  /** Names the Raft group in status (`cluster_id`), so an operator can tell clusters apart; default `geode`. */
  clusterId: string;
  /** Per-statement memory budget in bytes (`query_memory_limit`); a statement over it fails with MEMORY_LIMIT. */
  queryMemoryLimitBytes: number;
}

export const DEFAULT_HEARTBEAT_MS = 100;
export const DEFAULT_CLUSTER_ID = 'geode';
/** The per-statement memory budget by default; the node takes its default from here (storage-node/replication/budgets.ts). */
export const DEFAULT_QUERY_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;
/** Below this even a modest MATCH ... RETURN of a few thousand rows fails: a typo (`1KB` for `1GB`), not a choice. */
export const MIN_QUERY_MEMORY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_ELECTION_TIMEOUT_MS = 300;
/** Secrets shorter than this are guessable; refuse them rather than run with them. */
export const MIN_SECRET_LENGTH = 16;

/** An invalid config file; `issues` holds one `key.path: problem` line per problem. */
export class ConfigError extends GeodeError {
  constructor(
    readonly issues: string[],
    source: string,
  ) {
    super(ErrorCode.BAD_REQUEST, `invalid config ${source}:\n  ${issues.join('\n  ')}`, {
      detail: 'InvalidConfig',
      extra: { issues },
    });
    this.name = 'ConfigError';
  }
}

export interface ParseNodeConfigOptions {
  /** Which node to take from a file that defines several. */
  nodeId?: string;
  /** File name for messages, and base directory for a relative data_dir. */
  source?: string;
  /** Used when the file has no `cluster_secret` (loadNodeConfig passes GEODE_CLUSTER_SECRET), so the seed's files work unchanged. */
  clusterSecret?: string;
  /** Used when the file has no `admin_token` (loadNodeConfig passes GEODE_ADMIN_TOKEN). */
  adminToken?: string;
}

/** Raft timing from the config: ticks of heartbeat_ms / 2, heartbeat every 2 ticks, election after electionTicks. */
export function raftTiming(config: Pick<NodeConfig, 'heartbeatMs' | 'electionTimeoutMs'>): { tickMs: number; heartbeatTicks: number; electionTicks: number } {
  const tickMs = Math.max(1, Math.floor(config.heartbeatMs / 2));
  return { tickMs, heartbeatTicks: 2, electionTicks: Math.max(3, Math.round(config.electionTimeoutMs / tickMs)) };
}

export function loadNodeConfig(path: string, options: Omit<ParseNodeConfigOptions, 'source'> = {}): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`cannot read file: ${reason}`], path);
  }
  const fromEnv: Pick<ParseNodeConfigOptions, 'clusterSecret' | 'adminToken'> = {};
  const envSecret = process.env['GEODE_CLUSTER_SECRET'];
  const envToken = process.env['GEODE_ADMIN_TOKEN'];
  if (envSecret !== undefined && envSecret !== '') fromEnv.clusterSecret = envSecret;
  if (envToken !== undefined && envToken !== '') fromEnv.adminToken = envToken;
  const config = parseNodeConfig(text, { ...fromEnv, ...options, source: path });
  return isAbsolute(config.dataDir) ? config : { ...config, dataDir: resolve(dirname(path), config.dataDir) };
}

export function parseNodeConfig(text: string, options: ParseNodeConfigOptions = {}): NodeConfig {
  const source = options.source ?? '<config>';
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => `YAML: ${error.message.split('\n')[0] ?? error.message}`),
      source,
    );
  }
  const root: unknown = document.toJS({ maxAliasCount: 100 });
  const issues: string[] = [];
  const configs = readNodeEntries(root, issues, options);
  if (issues.length > 0 || configs.length === 0) {
    throw new ConfigError(issues.length > 0 ? issues : ['no node defined'], source);
  }
  const chosen = chooseNode(configs, options.nodeId);
  if (typeof chosen === 'string') throw new ConfigError([chosen], source);
  return chosen;
}

function chooseNode(configs: NodeConfig[], nodeId: string | undefined): NodeConfig | string {
  const ids = configs.map((config) => config.id).join(', ');
  if (nodeId === undefined) {
    const only = configs[0];
    return configs.length === 1 && only !== undefined ? only : `the file defines nodes ${ids}; choose one (--id)`;
  }
  return configs.find((config) => config.id === nodeId) ?? `node ${nodeId} is not defined (the file defines ${ids})`;
}

/** All node entries of the file, validated; problems go to `issues`. */
function readNodeEntries(root: unknown, issues: string[], options: ParseNodeConfigOptions): NodeConfig[] {
  if (!isRecord(root)) {
    issues.push('top level: expected a mapping of node settings');
    return [];
  }
  if ('id' in root) {
    const config = readNode(root, '', issues, options);
    return config ? [config] : [];
  }
  const cluster = isRecord(root['cluster']) ? readClusterSection(root['cluster'], issues) : undefined;
  if (root['cluster'] !== undefined && cluster === undefined) issues.push('cluster: expected a mapping of shared settings');
  // The deployment's regions, declared once for every node section (read once, so a problem is reported once).
  const declared = { regions: root['regions'], global_deployment: root['global_deployment'] };
  const regions: SharedRegions | undefined =
    declared.regions === undefined && declared.global_deployment === undefined ? undefined : { deployment: parseRegions(declared, '', issues), path: regionMapPath(declared, '') };
  const configs: NodeConfig[] = [];
  const ids = Object.keys(root).filter((id) => !SECTION_KEYS.has(id));
  // With a node chosen, only its section must be valid: a typo in another node's section is that node's problem.
  const chosen = options.nodeId !== undefined && ids.includes(options.nodeId) ? options.nodeId : undefined;
  for (const [id, entry] of Object.entries(root)) {
    if (SECTION_KEYS.has(id)) continue;
    if (chosen !== undefined && id !== chosen) continue;
    if (!NODE_ID.test(id)) {
      issues.push(`${id}: not a valid node id (letters, digits, '.', '_', '-'; at most 63)`);
      continue;
    }
    if (!isRecord(entry)) {
      issues.push(`${id}: expected a mapping of node settings`);
      continue;
    }
    const config = readNode(cluster === undefined ? entry : { ...cluster.shared, ...entry }, `${id}.`, issues, options, id, cluster?.nodes, regions);
    if (config) configs.push(config);
  }
  return configs;
}

/** Top-level keys of the seed layout that are not node ids: settings shared by the node sections. */
const SECTION_KEYS = new Set(['cluster', 'regions', 'global_deployment']);

/** A deployment declared at the top level for every node section: undefined `deployment` when it was invalid (already reported). */
interface SharedRegions {
  deployment: RegionDeployment | undefined;
  /** Key path of its region mapping (`regions` or `global_deployment.regions`), for issues about one region. */
  path: string;
}

/** Where the region mapping of a declaration sits: `<at>regions` or `<at>global_deployment.regions`. */
function regionMapPath(holder: Record<string, unknown>, at: string): string {
  return holder['regions'] !== undefined ? `${at}regions` : `${at}global_deployment.regions`;
}

/**
 * This node's regions: its section's own declaration, else the file's. With one, `region` must name
 * one of them, and every region must list its node URLs: the node streams from and polls the others
 * by them, and a count alone (what `geode dev` reads) does not say where they are.
 */
function readNodeRegions(
  entry: Record<string, unknown>,
  prefix: string,
  region: string | undefined,
  shared: SharedRegions | undefined,
  issues: string[],
): NodeRegions | undefined {
  const own = entry['regions'] !== undefined || entry['global_deployment'] !== undefined;
  if (!own && shared === undefined) return undefined;
  const deployment = own ? parseRegions(entry, prefix.replace(/\.$/, ''), issues) : shared?.deployment;
  if (deployment === undefined) return undefined;
  const mapPath = own ? regionMapPath(entry, prefix) : (shared?.path ?? 'regions');
  const names = deployment.regions.map((r) => r.name);
  let valid = true;
  if (region === undefined) {
    issues.push(`${prefix}region: required with regions: the name of this node's region (${names.join(', ')})`);
    valid = false;
  } else if (!names.includes(region)) {
    issues.push(`${prefix}region: ${region} is not one of the regions (${names.join(', ')})`);
    valid = false;
  }
  for (const r of deployment.regions) {
    if (r.nodes.length > 0) continue;
    issues.push(`${mapPath}.${r.name}.nodes: a node needs the URLs of every region's nodes (a list of http://host:port), not a count`);
    valid = false;
  }
  return valid && region !== undefined ? { self: region, ...deployment } : undefined;
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ROLES: readonly ConfiguredRole[] = ['primary', 'standby', 'learner'];
const MODES: readonly ReplicationMode[] = ['synchronous', 'semi_synchronous', 'asynchronous'];

const KNOWN_KEYS = new Set([
  'id',
  'role',
  'listen',
  'cluster_peers',
  'replication_mode',
  'quorum_size',
  'sync_replicas',
  'async_replicas',
  'data_dir',
  'region',
  'cluster_secret',
  'admin_token',
  'heartbeat_ms',
  'election_timeout_ms',
  'advertise',
  'snapshot_entries',
  'read_lanes',
  'cluster_id',
  'query_memory_limit',
  'regions',
  'global_deployment',
]);

/** Keys of the shared `cluster:` section: node keys that make sense cluster-wide, and the seed's sizing keys. */
const CLUSTER_SHARED_KEYS = [
  'replication_mode',
  'quorum_size',
  'sync_replicas',
  'async_replicas',
  'cluster_secret',
  'admin_token',
  'heartbeat_ms',
  'election_timeout_ms',
  'snapshot_entries',
  'read_lanes',
  'cluster_id',
  'query_memory_limit',
] as const;
/** Accepted for the seed's sake; `replication_factor` and `availability_zones` are informational (every voter holds all data). */
const CLUSTER_SIZING_KEYS = ['nodes', 'replication_factor', 'availability_zones'] as const;

/**
 * The `cluster:` section: validated on its own (issues name `cluster.<key>`),
 * and only its valid shared values are merged into each node section.
 */
function readClusterSection(section: Record<string, unknown>, issues: string[]): { shared: Record<string, unknown>; nodes: number | undefined } {
  const at = (key: string): string => `cluster.${key}`;
  const known = new Set<string>([...CLUSTER_SHARED_KEYS, ...CLUSTER_SIZING_KEYS]);
  for (const key of Object.keys(section)) if (!known.has(key)) issues.push(`${at(key)}: unknown key`);
  const shared: Record<string, unknown> = {};
  for (const key of CLUSTER_SHARED_KEYS) {
    if (section[key] === undefined) continue;
    const before = issues.length;
    switch (key) {
      case 'replication_mode':
        readEnum(section, key, MODES, 'synchronous', at, issues);
        break;
      case 'cluster_secret':
      case 'admin_token':
        readString(section, key, MIN_SECRET_LENGTH, at, issues);
        break;
      case 'async_replicas':
        if (!Array.isArray(section[key])) readInteger(section, key, 0, at, issues);
        break;
      case 'sync_replicas':
        readInteger(section, key, 0, at, issues);
        break;
      case 'heartbeat_ms':
        readDuration(section, key, 2, at, issues);
        break;
      case 'election_timeout_ms':
        readDuration(section, key, 1, at, issues);
        break;
      case 'read_lanes':
        readBoolean(section, key, at, issues);
        break;
      case 'cluster_id':
        readClusterId(section, key, at, issues);
        break;
      case 'query_memory_limit':
        readByteSize(section, key, MIN_QUERY_MEMORY_LIMIT_BYTES, at, issues);
        break;
      default:
        readInteger(section, key, 1, at, issues);
    }
    if (issues.length === before) shared[key] = section[key];
  }
  const nodes = readInteger(section, 'nodes', 1, at, issues);
  readInteger(section, 'replication_factor', 1, at, issues);
  const zones = section['availability_zones'];
  if (zones !== undefined && (!Array.isArray(zones) || !zones.every((z) => typeof z === 'string'))) issues.push(`${at('availability_zones')}: expected a list of strings`);
  return { shared, nodes };
}

/**
 * Reads one node's settings; `prefix` is the key path before each setting
 * (`node1.` or ''), `idFromKey` the id when the entry sits under its id.
 */
function readNode(
  entry: Record<string, unknown>,
  prefix: string,
  issues: string[],
  options: ParseNodeConfigOptions,
  idFromKey?: string,
  clusterNodes?: number,
  sharedRegions?: SharedRegions,
): NodeConfig | undefined {
  const before = issues.length;
  const at = (key: string): string => `${prefix}${key}`;
  for (const key of Object.keys(entry)) {
    if (!KNOWN_KEYS.has(key) || (idFromKey !== undefined && key === 'id')) issues.push(`${at(key)}: unknown key`);
  }

  const id = idFromKey ?? entry['id'];
  if (typeof id !== 'string' || !NODE_ID.test(id)) {
    issues.push(`${at('id')}: expected a node id (letters, digits, '.', '_', '-'; at most 63)`);
  }
  const role = readEnum(entry, 'role', ROLES, 'standby', at, issues);
  const listen = readHostPort(entry['listen'], at('listen'), issues, true);
  const clusterPeers = readPeers(entry['cluster_peers'], at('cluster_peers'), issues, typeof (idFromKey ?? entry['id']) === 'string' ? String(idFromKey ?? entry['id']) : '');
  const advertise = readAdvertise(entry['advertise'], at('advertise'), issues);
  const snapshotEntries = readInteger(entry, 'snapshot_entries', 1, at, issues);
  const replicationMode = readEnum(entry, 'replication_mode', MODES, 'synchronous', at, issues);
  const quorumSize = readInteger(entry, 'quorum_size', 1, at, issues);
  const syncReplicas = readInteger(entry, 'sync_replicas', 0, at, issues);
  const heartbeatMs = readDuration(entry, 'heartbeat_ms', 2, at, issues) ?? DEFAULT_HEARTBEAT_MS;
  const electionTimeoutMs = readDuration(entry, 'election_timeout_ms', 1, at, issues) ?? DEFAULT_ELECTION_TIMEOUT_MS;
  const dataDir = readString(entry, 'data_dir', 1, at, issues);
  const region = readString(entry, 'region', 1, at, issues);
  const regions = readNodeRegions(entry, prefix, region, sharedRegions, issues);
  const clusterSecret = readString(entry, 'cluster_secret', MIN_SECRET_LENGTH, at, issues) ?? options.clusterSecret;
  const adminToken = readString(entry, 'admin_token', MIN_SECRET_LENGTH, at, issues) ?? options.adminToken;
  const readLanes = readBoolean(entry, 'read_lanes', at, issues) ?? true;
  const clusterId = readClusterId(entry, 'cluster_id', at, issues) ?? DEFAULT_CLUSTER_ID;
  const queryMemoryLimitBytes = readByteSize(entry, 'query_memory_limit', MIN_QUERY_MEMORY_LIMIT_BYTES, at, issues) ?? DEFAULT_QUERY_MEMORY_LIMIT_BYTES;

  const selfName = typeof id === 'string' ? id : '';
  const memberNames = [selfName, ...clusterPeers.map((p) => p.name)];
  const learners = readLearners(entry['async_replicas'], at('async_replicas'), memberNames, issues);
  if (role === 'learner' && !learners.includes(selfName)) learners.push(selfName);
  if (role === 'primary' && learners.includes(selfName)) issues.push(`${at('role')}: primary, but this node is listed in async_replicas (a learner cannot lead)`);
  const voters = memberNames.length - learners.length;
  if (clusterNodes !== undefined && clusterNodes !== memberNames.length) {
    issues.push(`cluster.nodes: ${clusterNodes}, but ${selfName} lists ${memberNames.length} members (itself and ${clusterPeers.length} cluster_peers)`);
  }
  if (quorumSize !== undefined && quorumSize > voters) {
    issues.push(`${at('quorum_size')}: ${quorumSize} exceeds the ${voters} voting members (this node and its peers, less async_replicas)`);
  }
  if (syncReplicas !== undefined && syncReplicas > voters - 1) {
    issues.push(`${at('sync_replicas')}: ${syncReplicas} exceeds the ${voters - 1} voting peers`);
  }
  if (clusterPeers.length > 0 && clusterSecret === undefined) {
    issues.push(`${at('cluster_secret')}: required when cluster_peers is set (or set GEODE_CLUSTER_SECRET)`);
  }
  // Followers must hear several heartbeats per election timeout, or a healthy leader gets deposed.
  if (electionTimeoutMs < 2 * heartbeatMs) {
    issues.push(`${at('election_timeout_ms')}: must be at least twice heartbeat_ms (${heartbeatMs})`);
  }
  if (issues.length > before || typeof id !== 'string' || listen === undefined) return undefined;

  const selfUrl = advertise ?? `http://${formatHostPort({ host: clientHost(listen.host), port: listen.port })}`;
  const self: ClusterMember = { name: id, url: selfUrl, learner: learners.includes(id) };
  if (region !== undefined) self.region = region;
  // With regions, the Raft group is one region's: every peer is in this node's region. Without, `region` labels this node only.
  const peerRegion = regions === undefined ? {} : { region: regions.self };
  const members: ClusterMember[] = [self, ...clusterPeers.map((p) => ({ name: p.name, url: `http://${formatHostPort(p)}`, learner: learners.includes(p.name), ...peerRegion }))];
  const config: NodeConfig = {
    id,
    role,
    listen,
    advertise: selfUrl,
    clusterPeers,
    learners,
    members,
    replicationMode,
    dataDir: dataDir ?? `data/${id}`,
    heartbeatMs,
    electionTimeoutMs,
    readLanes,
    clusterId,
    queryMemoryLimitBytes,
  };
  if (quorumSize !== undefined) config.quorumSize = quorumSize;
  if (syncReplicas !== undefined) config.syncReplicas = syncReplicas;
  if (snapshotEntries !== undefined) config.snapshotEntries = snapshotEntries;
  if (region !== undefined) config.region = region;
  if (regions !== undefined) config.regions = regions;
  if (clusterSecret !== undefined) config.clusterSecret = clusterSecret;
  if (adminToken !== undefined) config.adminToken = adminToken;
  return config;
}

function readEnum<T extends string>(
  entry: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
  fallback: T,
  at: (key: string) => string,
  issues: string[],
): T {
  const value = entry[key];
  if (value === undefined) return fallback;
  const match = allowed.find((option) => option === value);
  if (match === undefined) issues.push(`${at(key)}: expected one of ${allowed.join(', ')}`);
  return match ?? fallback;
}

function readInteger(
  entry: Record<string, unknown>,
  key: string,
  minimum: number,
  at: (key: string) => string,
  issues: string[],
): number | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    issues.push(`${at(key)}: expected an integer >= ${minimum}`);
    return undefined;
  }
  return value;
}

/** A duration key (`heartbeat_ms: 100`, `heartbeat_ms: 100ms`): whole milliseconds, at least `minimum`. */
function readDuration(entry: Record<string, unknown>, key: string, minimum: number, at: (key: string) => string, issues: string[]): number | undefined {
  return parseDurationMs(entry[key], at(key), issues, { min: minimum });
}

function readString(
  entry: Record<string, unknown>,
  key: string,
  minLength: number,
  at: (key: string) => string,
  issues: string[],
): string | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length < minLength) {
    issues.push(`${at(key)}: expected a string of at least ${minLength} character${minLength === 1 ? '' : 's'}`);
    return undefined;
  }
  return value;
}

function readBoolean(entry: Record<string, unknown>, key: string, at: (key: string) => string, issues: string[]): boolean | undefined {
  const value = entry[key];
  if (value === undefined || typeof value === 'boolean') return value;
  issues.push(`${at(key)}: expected true or false`);
  return undefined;
}

function readClusterId(entry: Record<string, unknown>, key: string, at: (key: string) => string, issues: string[]): string | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  // Same charset as node ids: it ends up in status JSON, backup metadata and file names.
  if (typeof value !== 'string' || !NODE_ID.test(value)) {
    issues.push(`${at(key)}: expected a cluster id (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 63)`);
    return undefined;
  }
  return value;
}

function readByteSize(entry: Record<string, unknown>, key: string, minimum: number, at: (key: string) => string, issues: string[]): number | undefined {
  const value = entry[key];
  if (value === undefined) return undefined;
  const bytes = typeof value === 'number' || typeof value === 'string' ? parseByteSize(value) : undefined;
  if (bytes === undefined) {
    issues.push(`${at(key)}: expected a size such as 256MB, 1GiB or a byte count`);
    return undefined;
  }
  if (bytes < minimum) {
    issues.push(`${at(key)}: ${String(value)} is below the minimum of ${formatByteSize(minimum)}`);
    return undefined;
  }
  return bytes;
}

const BYTE_UNITS: Readonly<Record<string, number>> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * A size in bytes: a whole number (`268435456`), or a number and a unit, `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`,
 * `G`/`GB`/`GiB`, `T`/`TB`/`TiB` (any case, optional space). Units are binary, so `256MB` = `256MiB`, as in
 * PostgreSQL's memory settings. Anything else is undefined, never a guess (why not a package:
 * shared/config/README.md).
 */
export function parseByteSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value);
  if (match === null) return undefined;
  const [, amount = '', prefix] = match;
  // A fraction of a byte is not a size; `1.5GiB` is.
  if (prefix === undefined && amount.includes('.')) return undefined;
  const bytes = Math.floor(Number(amount) * (BYTE_UNITS[(prefix ?? 'b').toLowerCase()] ?? 1));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The largest binary unit that divides `bytes` evenly: 1048576 -> `1MiB`. */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

function readPeers(value: unknown, path: string, issues: string[], selfName: string): PeerAddress[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    issues.push(`${path}: expected a list of host:port or name@host:port`);
    return [];
  }
  const peers: PeerAddress[] = [];
  value.forEach((item: unknown, index) => {
    const peer = typeof item === 'string' ? parsePeer(item) : undefined;
    if (peer === undefined) issues.push(`${path}[${index}]: expected host:port or name@host:port`);
    else if (peer.name === selfName) issues.push(`${path}[${index}]: names this node (${selfName}) itself`);
    else if (peers.some((p) => p.name === peer.name)) issues.push(`${path}[${index}]: member ${peer.name} is listed twice`);
    else peers.push(peer);
  });
  return peers;
}

/** `name@host:port`, or `host:port` where the host doubles as the member name (the seed's `node2:3141`). */
export function parsePeer(text: string): PeerAddress | undefined {
  const at = text.indexOf('@');
  const name = at >= 0 ? text.slice(0, at) : undefined;
  const address = parseHostPort(at >= 0 ? text.slice(at + 1) : text, false);
  if (address === undefined) return undefined;
  const memberName = name ?? address.host;
  if (!NODE_ID.test(memberName)) return undefined;
  return { name: memberName, ...address };
}

/**
 * async_replicas: a list of member names, or (the seed's five-node example) a
 * count N: then the last N members in natural name order (node4, node5 of
 * node1..node5) are learners, so every node derives the same set.
 */
function readLearners(value: unknown, path: string, memberNames: string[], issues: string[]): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    const learners: string[] = [];
    value.forEach((item: unknown, index) => {
      if (typeof item !== 'string' || !memberNames.includes(item)) {
        issues.push(`${path}[${index}]: expected the name of a member (${memberNames.join(', ')})`);
      } else if (!learners.includes(item)) learners.push(item);
    });
    if (learners.length >= memberNames.length && memberNames.length > 0) issues.push(`${path}: at least one member must be a voter`);
    return learners;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    issues.push(`${path}: expected a list of member names or an integer >= 0`);
    return [];
  }
  if (value >= memberNames.length && value > 0) {
    issues.push(`${path}: ${value} learners leave no voter among the ${memberNames.length} members`);
    return [];
  }
  const ordered = [...memberNames].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return ordered.slice(ordered.length - value);
}

function readAdvertise(value: unknown, path: string, issues: string[]): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.pathname === '/' && url.search === '' && url.port !== '') {
        return `${url.protocol}//${url.host}`;
      }
    } catch {
      // Reported below.
    }
  }
  issues.push(`${path}: expected a URL like http://host:port`);
  return undefined;
}

/** A wildcard listen address is not something a client can dial; loopback reaches it. */
export function clientHost(listenHost: string): string {
  if (listenHost === '0.0.0.0') return '127.0.0.1';
  if (listenHost === '::' || listenHost === '[::]') return '::1';
  return listenHost;
}

/** `host:port`, `[v6]:port`; port 0 (pick a free one) only where we listen. */
export function parseHostPort(text: string, allowPortZero: boolean): HostPort | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535 || (port === 0 && !allowPortZero)) return undefined;
  if (match[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && !HOSTNAME.test(host)) return undefined;
  return { host, port };
}

/** The inverse of parseHostPort: brackets around IPv6 hosts. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function readHostPort(value: unknown, path: string, issues: string[], listening: boolean): HostPort | undefined {
  if (value === undefined && listening) {
    issues.push(`${path}: required (host:port)`);
    return undefined;
  }
  const parsed = typeof value === 'string' ? parseHostPort(value, listening) : undefined;
  if (!parsed) issues.push(`${path}: expected host:port`);
  return parsed;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
