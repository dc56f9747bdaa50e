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
 * Every problem is reported with the key path it concerns, all at once.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ErrorCode, GeodeError } from '../protocol/errors.js';

export type ReplicationMode = 'synchronous' | 'semi_synchronous' | 'asynchronous';
/** The seed's roles; `learner` is a non-voting (asynchronous) replica. Raft elects the actual leader. */
export type ConfiguredRole = 'primary' | 'standby' | 'learner';

export interface HostPort {
  host: string;
  port: number;
}

export interface NodeConfig {
  id: string;
  role: ConfiguredRole;
  /** Where the HTTP API listens; port 0 picks a free port. */
  listen: HostPort;
  /** The other members' addresses, `host:port`. */
  clusterPeers: HostPort[];
  replicationMode: ReplicationMode;
  /** Voters that must hold a write before it is acknowledged (at least a majority is always required). */
  quorumSize?: number;
  /** Voters besides the leader that must hold a write in semi_synchronous mode. */
  syncReplicas?: number;
  asyncReplicas?: number;
  /** Directory of the node's databases; relative paths are resolved against the config file's directory. */
  dataDir: string;
  region?: string;
  /** Shared secret peers prove on connect (HMAC challenge). */
  clusterSecret?: string;
  /** Bearer token of the admin endpoints. */
  adminToken?: string;
  heartbeatMs: number;
  /** Base election timeout; each election waits a random time in [electionTimeoutMs, 2 * electionTimeoutMs). */
  electionTimeoutMs: number;
}

export const DEFAULT_HEARTBEAT_MS = 100;
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
}

export function loadNodeConfig(path: string, options: Omit<ParseNodeConfigOptions, 'source'> = {}): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`cannot read file: ${reason}`], path);
  }
  const config = parseNodeConfig(text, { ...options, source: path });
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
  const configs = readNodeEntries(root, issues);
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
function readNodeEntries(root: unknown, issues: string[]): NodeConfig[] {
  if (!isRecord(root)) {
    issues.push('top level: expected a mapping of node settings');
    return [];
  }
  if ('id' in root) {
    const config = readNode(root, '', issues);
    return config ? [config] : [];
  }
  const configs: NodeConfig[] = [];
  for (const [id, entry] of Object.entries(root)) {
    if (!NODE_ID.test(id)) {
      issues.push(`${id}: not a valid node id (letters, digits, '.', '_', '-'; at most 63)`);
      continue;
    }
    if (!isRecord(entry)) {
      issues.push(`${id}: expected a mapping of node settings`);
      continue;
    }
    const config = readNode(entry, `${id}.`, issues, id);
    if (config) configs.push(config);
  }
  return configs;
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
]);

/**
 * Reads one node's settings; `prefix` is the key path before each setting
 * (`node1.` or ''), `idFromKey` the id when the entry sits under its id.
 */
function readNode(entry: Record<string, unknown>, prefix: string, issues: string[], idFromKey?: string): NodeConfig | undefined {
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
  const clusterPeers = readPeers(entry['cluster_peers'], at('cluster_peers'), issues);
  const replicationMode = readEnum(entry, 'replication_mode', MODES, 'synchronous', at, issues);
  const quorumSize = readInteger(entry, 'quorum_size', 1, at, issues);
  const syncReplicas = readInteger(entry, 'sync_replicas', 0, at, issues);
  const asyncReplicas = readInteger(entry, 'async_replicas', 0, at, issues);
  const heartbeatMs = readInteger(entry, 'heartbeat_ms', 1, at, issues) ?? DEFAULT_HEARTBEAT_MS;
  const electionTimeoutMs = readInteger(entry, 'election_timeout_ms', 1, at, issues) ?? DEFAULT_ELECTION_TIMEOUT_MS;
  const dataDir = readString(entry, 'data_dir', 1, at, issues);
  const region = readString(entry, 'region', 1, at, issues);
  const clusterSecret = readString(entry, 'cluster_secret', MIN_SECRET_LENGTH, at, issues);
  const adminToken = readString(entry, 'admin_token', MIN_SECRET_LENGTH, at, issues);

  const clusterSize = clusterPeers.length + 1;
  if (quorumSize !== undefined && quorumSize > clusterSize) {
    issues.push(`${at('quorum_size')}: ${quorumSize} exceeds the cluster size ${clusterSize} (this node and its peers)`);
  }
  if (syncReplicas !== undefined && syncReplicas > clusterPeers.length) {
    issues.push(`${at('sync_replicas')}: ${syncReplicas} exceeds the number of peers ${clusterPeers.length}`);
  }
  // Followers must hear several heartbeats per election timeout, or a healthy leader gets deposed.
  if (electionTimeoutMs < 2 * heartbeatMs) {
    issues.push(`${at('election_timeout_ms')}: must be at least twice heartbeat_ms (${heartbeatMs})`);
  }
  if (issues.length > before || typeof id !== 'string' || listen === undefined) return undefined;

  const config: NodeConfig = {
    id,
    role,
    listen,
    clusterPeers,
    replicationMode,
    dataDir: dataDir ?? `data/${id}`,
    heartbeatMs,
    electionTimeoutMs,
  };
  if (quorumSize !== undefined) config.quorumSize = quorumSize;
  if (syncReplicas !== undefined) config.syncReplicas = syncReplicas;
  if (asyncReplicas !== undefined) config.asyncReplicas = asyncReplicas;
  if (region !== undefined) config.region = region;
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

function readPeers(value: unknown, path: string, issues: string[]): HostPort[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    issues.push(`${path}: expected a list of host:port`);
    return [];
  }
  const peers: HostPort[] = [];
  value.forEach((item: unknown, index) => {
    const peer = readHostPort(item, `${path}[${index}]`, issues, false);
    if (peer) peers.push(peer);
  });
  return peers;
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
