/**
 * `geode cluster <sub>`: operator commands over the nodes' HTTP API (and, for
 * kill-node/start-node, through the control endpoint of the `geode dev` that
 * dev.json names: that process owns and supervises the nodes, dev-control.ts).
 *
 * Nodes are found from --url, else from `<data-dir>/dev.json`, else the dev
 * defaults 127.0.0.1:3151-3153; each command tries them in order until one
 * answers. Status and health come from the leader when one is known, since
 * only the leader sees every follower's progress.
 *
 * Regions come from a gateway's `/api/v1/cluster/status` (`--url` naming a
 * gateway, else dev.json's gateway): its `regions` rows, each region as its
 * own nodes report it; without a gateway, from a node's
 * `/api/v1/region/status` (its region and the others as its leader polls
 * them). With no regions there, every command behaves as for one cluster.
 */
import { resolve } from 'node:path';
import { formatDurationMs } from '../shared/config/duration.js';
import { askDev, ControlFailed } from './dev-control.js';
import type { ControlAction, ControlAnswer } from './dev-control.js';
import { isAlive, readDevState } from './dev-state.js';
import type { DevNodeState, DevState } from './dev-state.js';
import { describeExit } from './supervisor.js';
import { backupStatusText } from './backup-status.js';
import type { ProcessExit, ProcessState } from './supervisor.js';

export interface ClusterCommandOptions {
  url: string | undefined;
  json: boolean;
  token: string | undefined;
  dataDir: string;
  target: string | undefined;
  /** `--timeout`: how long wait-sync, verify-data, start-node, promote-region and rejoin-region may take. */
  timeoutMs: number;
  positionals: string[];
  out: (text: string) => void;
  err: (text: string) => void;
  /** promote-region `--force`: promote without the primary region (it is unreachable). */
  force?: boolean;
  /** monitor: `--metric` (replication_lag), `--interval` in ms, `--count` lines (undefined: until `signal`). */
  metric?: string;
  intervalMs?: number;
  count?: number;
  /** Ends a monitor cleanly (Ctrl-C). */
  signal?: AbortSignal;
}

/** A failure to report on stderr with exit 1. */
export class CommandFailed extends Error {}

interface NodeEntry {
  id: string;
  role: string;
  status: string;
  replication_lag: number;
  applied_index: number | null;
  match_index: number | null;
  url: string;
  voter?: boolean;
  /** Added from dev.json when the cluster is a live `geode dev`: its supervisor's view of the process. */
  restarts?: number;
  process_state?: ProcessState;
  last_exit?: ProcessExit | null;
}

interface ClusterStatusBody {
  cluster_id: string;
  node: string;
  nodes: (NodeEntry & { region?: string })[];
  quorum_status: string;
  term: number;
  leader: string | null;
  leader_url: string | null;
  commit_index: number;
  applied_index: number;
  regions?: unknown;
}

interface Position {
  epoch: number;
  index: number;
}

/**
 * One region as the CLI shows it, read tolerantly from a gateway's status row (region-book.ts
 * `RegionRow`, shaped like shared/protocol/region.ts `RegionStatus`) or a node's region status:
 * whatever is missing is null.
 */
export interface RegionRow {
  name: string;
  role: string | null;
  state: string | null;
  epoch: number | null;
  primary_region: string | null;
  lag_ms: number | null;
  replication_lag_max_ms: number | null;
  over_lag_max: boolean | null;
  position: Position | null;
  leader: string | null;
  leader_url: string | null;
  /** Node URLs the source listed for the region (a gateway's may be delay-proxy URLs). */
  node_urls: string[];
}

const REGION_FIELDS = ['state', 'epoch', 'lag_ms', 'position', 'primary_region', 'over_lag_max'];

const DEV_DEFAULT_URLS = ['http://127.0.0.1:3151', 'http://127.0.0.1:3152', 'http://127.0.0.1:3153'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Context {
  readonly dev: DevState | undefined;
  constructor(readonly options: ClusterCommandOptions) {
    this.dev = readDevState(options.dataDir);
  }

  candidateUrls(): string[] {
    if (this.options.url !== undefined) return [this.options.url.replace(/\/+$/, '')];
    const fromDev = this.dev?.nodes.map((n) => n.url) ?? [];
    return [...new Set([...fromDev, ...DEV_DEFAULT_URLS])];
  }

  token(): string | undefined {
    return this.options.token ?? nonEmpty(process.env['GEODE_ADMIN_TOKEN']) ?? this.dev?.admin_token;
  }

  /**
   * The first node that answers, then the leader's view when it knows one. A gateway's leader comes
   * first: with regions it is the primary region's (so `primary` and `health` follow a promotion).
   */
  async status(): Promise<ClusterStatusBody> {
    const gatewayLeader = (await this.gatewayStatus())?.leader_url;
    const first = typeof gatewayLeader === 'string' && gatewayLeader !== '' ? [gatewayLeader] : [];
    return this.statusFrom([...new Set([...first, ...this.candidateUrls()])]);
  }

  /** status() over `urls` (one region's nodes, say). */
  async statusFrom(urls: string[]): Promise<ClusterStatusBody> {
    const errors: string[] = [];
    for (const url of urls) {
      try {
        const first = await getStatus(url);
        if (first.leader_url === null || first.leader === first.node) return first;
        try {
          return await getStatus(first.leader_url);
        } catch {
          return first;
        }
      } catch (error) {
        errors.push(`${url}: ${describe(error)}`);
      }
    }
    throw new CommandFailed(`no node answered:\n  ${errors.join('\n  ')}`);
  }

  private gatewayAnswer: Promise<ClusterStatusBody | undefined> | undefined;

  /** A gateway's status: `--url` when it is a gateway's, else dev.json's gateway (while that dev runs); undefined when none answers. */
  gatewayStatus(): Promise<ClusterStatusBody | undefined> {
    this.gatewayAnswer ??= (async () => {
      const url = this.options.url !== undefined ? this.options.url.replace(/\/+$/, '') : this.dev !== undefined && isAlive(this.dev.pid) ? this.dev.gateway : undefined;
      if (url === undefined) return undefined;
      try {
        const body = await getStatus(url);
        // A gateway's merged status says which region it sits in; a node's names the node.
        return 'gateway_region' in body ? body : undefined;
      } catch {
        return undefined;
      }
    })();
    return this.gatewayAnswer;
  }

  /** Fresh each call (monitor). */
  refreshGateway(): void {
    this.gatewayAnswer = undefined;
  }

  /**
   * The regions, undefined for a single-region cluster: the gateway's rows, else a node's region status
   * (`near`: the node status already read, whose node is asked first).
   */
  async regions(near?: ClusterStatusBody): Promise<RegionRow[] | undefined> {
    const gateway = await this.gatewayStatus();
    const fromGateway = regionRows(gateway?.regions);
    if (fromGateway !== undefined) return fromGateway;
    const fromNode = regionRows(near?.regions);
    if (fromNode !== undefined) return fromNode;
    const urls = [...new Set([...(near?.leader_url === undefined || near.leader_url === null ? [] : [near.leader_url]), ...this.candidateUrls()])];
    for (const url of urls.slice(0, 3)) {
      try {
        const response = await fetch(`${url}/api/v1/region/status`, { signal: AbortSignal.timeout(2_000) });
        if (!response.ok) {
          await response.body?.cancel();
          continue;
        }
        return regionRowsFromNode((await response.json()) as Record<string, unknown>);
      } catch {
        // The next node.
      }
    }
    return undefined;
  }

  /** Where to reach region `name`'s nodes: its leader, dev.json's nodes of it, then what the region row listed. */
  regionUrls(name: string, row: RegionRow | undefined): string[] {
    const urls = [
      ...(row?.leader_url === null || row?.leader_url === undefined ? [] : [row.leader_url]),
      ...(this.dev?.nodes.filter((n) => n.region === name).map((n) => n.url) ?? []),
      ...(row?.node_urls ?? []),
    ];
    return [...new Set(urls)];
  }

  /** Every node URL this context knows, for a request any node can take or forward. */
  async allUrls(): Promise<string[]> {
    const rows = (await this.regions().catch(() => undefined)) ?? [];
    return [...new Set([...rows.flatMap((r) => this.regionUrls(r.name, r)), ...this.candidateUrls()])];
  }

  nodeUrl(name: string, status?: ClusterStatusBody): string {
    const fromStatus = status?.nodes.find((n) => n.id === name)?.url;
    if (fromStatus !== undefined && fromStatus !== '') return fromStatus;
    const fromDev = this.dev?.nodes.find((n) => n.name === name)?.url;
    if (fromDev !== undefined) return fromDev;
    throw new CommandFailed(`unknown node ${name}`);
  }
}

async function getStatus(url: string): Promise<ClusterStatusBody> {
  const response = await fetch(`${url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()) as ClusterStatusBody;
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

export const CLUSTER_SUBCOMMANDS = [
  'status',
  'health',
  'primary',
  'failover',
  'kill-node',
  'start-node',
  'wait-sync',
  'verify-data',
  'monitor',
  'promote-region',
  'rejoin-region',
] as const;

const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function position(value: unknown): Position | null {
  if (!isRecord(value)) return null;
  const epoch = num(value['epoch']);
  const index = num(value['index']);
  return epoch === null || index === null ? null : { epoch, index };
}

const formatPosition = (p: Position | null): string => (p === null ? '-' : `${p.epoch}:${p.index}`);
const samePosition = (a: Position | null, b: Position | null): boolean => a !== null && b !== null && a.epoch === b.epoch && a.index === b.index;

function regionRow(raw: Record<string, unknown>): RegionRow | undefined {
  const name = str(raw['name']) ?? str(raw['region']);
  if (name === null) return undefined;
  const nodes = Array.isArray(raw['nodes']) ? raw['nodes'] : [];
  return {
    name,
    role: str(raw['role']),
    state: str(raw['state']),
    epoch: num(raw['epoch']),
    primary_region: str(raw['primary_region']),
    lag_ms: num(raw['lag_ms']),
    replication_lag_max_ms: num(raw['replication_lag_max_ms']),
    over_lag_max: typeof raw['over_lag_max'] === 'boolean' ? raw['over_lag_max'] : null,
    position: position(raw['position']),
    leader: str(raw['leader']),
    leader_url: str(raw['leader_url']),
    node_urls: nodes.map((n) => (isRecord(n) ? str(n['url']) : str(n))).filter((u): u is string => u !== null && u !== ''),
  };
}

/**
 * Region rows from a status's `regions`, when they are region statuses (a single-region gateway's
 * `regions` only groups its nodes by configured region: no state, epoch or lag, so no regions here).
 */
export function regionRows(value: unknown): RegionRow[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const items = value.filter(isRecord);
  if (!items.some((item) => REGION_FIELDS.some((field) => field in item))) return undefined;
  const rows = items.map(regionRow).filter((r): r is RegionRow => r !== undefined);
  return rows.length > 0 ? rows : undefined;
}

/** A node's `/api/v1/region/status`: its own region, then the others as its region's leader polls them. */
function regionRowsFromNode(body: Record<string, unknown>): RegionRow[] | undefined {
  const own = regionRow(body);
  if (own === undefined) return undefined;
  const peers = Array.isArray(body['regions']) ? body['regions'].filter(isRecord).map(regionRow) : [];
  return [own, ...peers.filter((r): r is RegionRow => r !== undefined && r.name !== own.name)];
}

export async function runClusterCommand(sub: string, options: ClusterCommandOptions): Promise<number> {
  const ctx = new Context(options);
  switch (sub) {
    case 'status':
      return status(ctx);
    case 'health':
      return health(ctx);
    case 'primary':
      return primary(ctx);
    case 'failover':
      return failover(ctx);
    case 'kill-node':
      return killNode(ctx);
    case 'start-node':
      return startNode(ctx);
    case 'wait-sync':
      return waitSync(ctx);
    case 'verify-data':
      return verifyData(ctx);
    case 'monitor':
      return monitor(ctx);
    case 'promote-region':
      return promoteRegion(ctx);
    case 'rejoin-region':
      return rejoinRegion(ctx);
    default:
      throw new Error(`unreachable: ${sub}`);
  }
}

/**
 * The dev process's record of each node in `s` (same name and URL), when dev.json names a live
 * `geode dev`; undefined otherwise, e.g. for `--url` pointing at another cluster.
 */
function supervisedNodes(ctx: Context, s: ClusterStatusBody): Map<string, DevNodeState> | undefined {
  const dev = ctx.dev;
  if (dev === undefined || !isAlive(dev.pid)) return undefined;
  const byName = new Map<string, DevNodeState>();
  for (const n of s.nodes) {
    const recorded = dev.nodes.find((d) => d.name === n.id && d.url === n.url);
    if (recorded !== undefined) byName.set(n.id, recorded);
  }
  return byName.size > 0 ? byName : undefined;
}

/** Adds dev's supervision view (restarts, process state, last exit) to `s`'s nodes; the map, or undefined when not a live dev's. */
function annotateSupervision(ctx: Context, s: ClusterStatusBody): Map<string, DevNodeState> | undefined {
  const supervised = supervisedNodes(ctx, s);
  if (supervised !== undefined) {
    for (const n of s.nodes) {
      const recorded = supervised.get(n.id);
      if (recorded === undefined) continue;
      n.restarts = recorded.restarts;
      n.process_state = recorded.state;
      n.last_exit = recorded.last_exit;
    }
  }
  return supervised;
}

/** One Raft group's head line and node table, as `geode cluster status` has always printed it. */
function groupText(s: ClusterStatusBody, supervised: Map<string, DevNodeState> | undefined): string {
  const head = `cluster ${s.cluster_id}  term ${s.term}  leader ${s.leader ?? '(none)'}  quorum ${s.quorum_status}  commit ${s.commit_index}  (as seen by ${s.node})`;
  const rows = [['NODE', 'ROLE', 'STATUS', 'LAG_MS', 'APPLIED', 'MATCH', ...(supervised === undefined ? [] : ['PROCESS', 'RESTARTS']), 'URL']];
  const exits: string[] = [];
  for (const n of [...s.nodes].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))) {
    const supervision = supervised === undefined ? [] : [n.process_state ?? '-', n.restarts === undefined ? '-' : String(n.restarts)];
    rows.push([n.id, n.role, n.status, n.replication_lag < 0 ? '-' : String(n.replication_lag), n.applied_index === null ? '-' : String(n.applied_index), n.match_index === null ? '-' : String(n.match_index), ...supervision, n.url]);
    if (n.last_exit !== undefined && n.last_exit !== null) exits.push(`last exit of ${n.id}: ${describeExit(n.last_exit.code, n.last_exit.signal)} at ${n.last_exit.at}`);
  }
  return `${head}\n${table(rows)}\n${exits.map((line) => `${line}\n`).join('')}${backupStatusText((s as { backup?: unknown }).backup)}`;
}

/** The primary region and its epoch by the rows: the highest epoch any region reports, and who is primary at it. */
function primaryOf(rows: RegionRow[]): { name: string | null; epoch: number | null } {
  let best: RegionRow | undefined;
  for (const r of rows) if (r.epoch !== null && (best === undefined || r.epoch > (best.epoch ?? -1))) best = r;
  const byState = rows.find((r) => r.state === 'primary' && (best === undefined || r.epoch === best.epoch));
  return { name: best?.primary_region ?? byState?.name ?? null, epoch: best?.epoch ?? null };
}

function regionsText(rows: RegionRow[]): string {
  const { name, epoch } = primaryOf(rows);
  const head = `regions: ${rows.length}  primary ${name ?? '(unknown)'}  epoch ${epoch ?? '-'}`;
  const lines = [['REGION', 'ROLE', 'STATE', 'EPOCH', 'LAG_MS', 'MAX_MS', 'OVER_MAX', 'POSITION', 'LEADER']];
  for (const r of rows) {
    lines.push([
      r.name,
      r.role ?? '-',
      r.state ?? '-',
      r.epoch === null ? '-' : String(r.epoch),
      r.lag_ms === null ? '-' : String(Math.round(r.lag_ms)),
      r.replication_lag_max_ms === null ? '-' : String(r.replication_lag_max_ms),
      r.over_lag_max === null ? '-' : r.over_lag_max ? 'yes' : 'no',
      formatPosition(r.position),
      r.leader ?? r.leader_url ?? '-',
    ]);
  }
  return `${head}\n${table(lines)}\n`;
}

async function status(ctx: Context): Promise<number> {
  const s = await ctx.status();
  const supervised = annotateSupervision(ctx, s);
  const regions = await ctx.regions(s);
  if (ctx.options.json) {
    ctx.options.out(`${JSON.stringify(regions === undefined ? s : { ...s, regions })}\n`);
    return 0;
  }
  if (regions === undefined) {
    ctx.options.out(groupText(s, supervised));
    return 0;
  }
  // Each region is its own Raft group: its table from its own leader.
  const parts = [regionsText(regions)];
  for (const r of regions) {
    const title = `\nregion ${r.name}${r.role === null ? '' : ` (${r.role}${r.state === null ? '' : `, ${r.state}`})`}:\n`;
    try {
      const group = await ctx.statusFrom(ctx.regionUrls(r.name, r));
      parts.push(title + groupText(group, annotateSupervision(ctx, group)));
    } catch (error) {
      parts.push(`${title}no node of ${r.name} answered (${describe(error).split('\n')[0] ?? ''})\n`);
    }
  }
  ctx.options.out(parts.join(''));
  return 0;
}

/** Exit 0 while the quorum holds (healthy or degraded: writes are possible), 1 when it is lost or no node answers. */
async function health(ctx: Context): Promise<number> {
  let s: ClusterStatusBody;
  try {
    s = await ctx.status();
  } catch (error) {
    if (ctx.options.json) ctx.options.out(`${JSON.stringify({ quorum_status: 'unreachable', healthy: false })}\n`);
    else ctx.options.out(`quorum unreachable: ${describe(error)}\n`);
    return 1;
  }
  const voters = s.nodes.filter((n) => n.voter !== false);
  const healthy = voters.filter((n) => n.status === 'healthy').length;
  const ok = s.quorum_status === 'healthy' || s.quorum_status === 'degraded';
  if (ctx.options.json) {
    ctx.options.out(`${JSON.stringify({ quorum_status: s.quorum_status, healthy: ok, leader: s.leader, term: s.term, healthy_voters: healthy, voters: voters.length })}\n`);
  } else {
    const down = s.nodes.filter((n) => n.status !== 'healthy').map((n) => `${n.id} ${n.status}`);
    ctx.options.out(`quorum ${s.quorum_status}: ${healthy}/${voters.length} voters healthy, leader ${s.leader ?? '(none)'}, term ${s.term}${down.length > 0 ? `; ${down.join(', ')}` : ''}\n`);
  }
  return ok ? 0 : 1;
}

async function primary(ctx: Context): Promise<number> {
  const s = await ctx.status();
  if (s.leader === null) throw new CommandFailed('no leader is elected at the moment');
  ctx.options.out(ctx.options.json ? `${JSON.stringify({ leader: s.leader, leader_url: s.leader_url, term: s.term })}\n` : `${s.leader}\n`);
  return 0;
}

async function adminPost(ctx: Context, url: string, path: string, body: unknown): Promise<Response> {
  const token = ctx.token();
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
}

async function failover(ctx: Context): Promise<number> {
  const target = ctx.options.target ?? ctx.options.positionals[0];
  if (target === undefined) throw new CommandFailed('failover: --target=ID is required');
  const s = await ctx.status();
  let url = s.leader_url ?? ctx.candidateUrls()[0] ?? DEV_DEFAULT_URLS[0]!;
  let response = await adminPost(ctx, url, '/api/v1/admin/transfer-leadership', { target });
  if (response.status === 421) {
    const redirect = ((await response.json()) as { error?: { leader_url?: unknown } }).error?.leader_url;
    if (typeof redirect !== 'string') throw new CommandFailed('failover: no leader is elected at the moment');
    url = redirect;
    response = await adminPost(ctx, url, '/api/v1/admin/transfer-leadership', { target });
  }
  const text = await response.text();
  if (!response.ok) throw new CommandFailed(`failover: HTTP ${response.status}: ${text}`);
  if (ctx.options.json) ctx.options.out(`${text}\n`);
  else {
    const body = JSON.parse(text) as { leader?: unknown; term?: unknown };
    ctx.options.out(`leader is now ${String(body.leader)} (term ${String(body.term)})\n`);
  }
  return 0;
}

/** Asks the `geode dev` of dev.json to kill or start `name` (it owns and supervises the processes). */
async function askDevFor(ctx: Context, action: ControlAction, name: string | undefined, timeoutMs: number): Promise<ControlAnswer> {
  if (name === undefined) throw new CommandFailed('a node id is required');
  const state: DevState | undefined = ctx.dev;
  if (state === undefined) throw new CommandFailed(`no dev cluster recorded in ${resolve(ctx.options.dataDir, 'dev.json')} (kill-node/start-node act on \`geode dev\`)`);
  if (!isAlive(state.pid)) throw new CommandFailed(`the geode dev recorded in ${resolve(ctx.options.dataDir, 'dev.json')} (pid ${state.pid}) is not running`);
  try {
    return await askDev(state, action, name, timeoutMs);
  } catch (error) {
    if (error instanceof ControlFailed) throw new CommandFailed(`${action === 'kill' ? 'kill-node' : 'start-node'} ${name}: ${error.message}`);
    throw error;
  }
}

/** SIGKILL, as a crash would; the supervisor leaves the node down until start-node. */
async function killNode(ctx: Context): Promise<number> {
  const answer = await askDevFor(ctx, 'kill', ctx.options.positionals[0], 15_000);
  ctx.options.out(ctx.options.json ? `${JSON.stringify({ killed: answer.node, pid: answer.pid })}\n` : `killed ${answer.node}\n`);
  return 0;
}

/** Resolves once the node serves /api/v1/cluster/status (it has started), bounded by --timeout. */
async function startNode(ctx: Context): Promise<number> {
  const answer = await askDevFor(ctx, 'start', ctx.options.positionals[0], ctx.options.timeoutMs);
  if (answer.already_running === true) {
    ctx.options.out(ctx.options.json ? `${JSON.stringify({ started: answer.node, pid: answer.pid, already_running: true })}\n` : `${answer.node} is already running (pid ${String(answer.pid)})\n`);
  } else {
    ctx.options.out(ctx.options.json ? `${JSON.stringify({ started: answer.node, pid: answer.pid })}\n` : `started ${answer.node} (pid ${String(answer.pid)})\n`);
  }
  return 0;
}

async function waitSync(ctx: Context): Promise<number> {
  const name = ctx.options.positionals[0];
  if (name === undefined) throw new CommandFailed('wait-sync: a node id is required');
  const s = await ctx.status();
  const target = s.commit_index;
  const url = ctx.nodeUrl(name, s);
  const until = Date.now() + ctx.options.timeoutMs;
  let applied: number | undefined;
  while (Date.now() < until) {
    try {
      applied = (await getStatus(url)).applied_index;
      if (applied >= target) {
        ctx.options.out(ctx.options.json ? `${JSON.stringify({ node: name, applied_index: applied, target })}\n` : `${name} in sync: applied ${applied} >= ${target}\n`);
        return 0;
      }
    } catch {
      // Still starting.
    }
    await sleep(100);
  }
  throw new CommandFailed(`wait-sync: ${name} applied ${applied ?? 'unknown'} < ${target} after ${formatDurationMs(ctx.options.timeoutMs)}`);
}

interface ChecksumBody {
  node: string;
  applied_index: number;
  checksum: string;
  /** Regions: the primary position the graph holds (node.ts adds it with regions). */
  position?: Position;
}

interface NodeSum {
  url: string;
  sum: ChecksumBody | undefined;
  error?: string;
}

/** /api/v1/admin/checksum of every URL; a refused token fails the command (every node would refuse it). */
async function fetchSums(ctx: Context, urls: string[]): Promise<NodeSum[]> {
  const token = ctx.token();
  return Promise.all(
    urls.map(async (url): Promise<NodeSum> => {
      try {
        const response = await fetch(`${url}/api/v1/admin/checksum`, {
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(10_000),
        });
        if (response.status === 401) throw new CommandFailed(`verify-data: ${url} refused the admin token (pass --token or GEODE_ADMIN_TOKEN)`);
        if (!response.ok) {
          await response.body?.cancel();
          return { url, sum: undefined, error: `HTTP ${response.status}` };
        }
        return { url, sum: (await response.json()) as ChecksumBody };
      } catch (error) {
        if (error instanceof CommandFailed) throw error;
        return { url, sum: undefined, error: 'unreachable' };
      }
    }),
  );
}

const answeredSums = (sums: NodeSum[]): ChecksumBody[] => sums.filter((x) => x.sum !== undefined).map((x) => x.sum!);
const atSameIndex = (answered: ChecksumBody[]): boolean => answered.length > 0 && answered.every((x) => x.applied_index === answered[0]!.applied_index);

async function verifyData(ctx: Context): Promise<number> {
  const s = await ctx.status();
  const regions = await ctx.regions(s);
  if (regions !== undefined && regions.length > 0) return verifyRegions(ctx, regions);
  const sorted = [...s.nodes].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const urls = ctx.options.url !== undefined && sorted.length === 0 ? [ctx.options.url] : sorted.map((n) => n.url).filter((u) => u !== '');
  const until = Date.now() + ctx.options.timeoutMs;
  let sums = await fetchSums(ctx, urls);
  // Compare at the same applied index: wait for followers to catch up (writes may still be arriving).
  while (!atSameIndex(answeredSums(sums)) && Date.now() < until) {
    await sleep(200);
    sums = await fetchSums(ctx, urls);
  }
  const answered = answeredSums(sums);
  const sameIndex = atSameIndex(answered);
  const equal = sameIndex && answered.every((x) => x.checksum === answered[0]!.checksum);
  if (ctx.options.json) {
    ctx.options.out(`${JSON.stringify({ consistent: equal, nodes: sums.map((x) => x.sum ?? { url: x.url, error: x.error }) })}\n`);
  } else {
    const rows = [['NODE', 'APPLIED', 'CHECKSUM']];
    for (const x of sums) rows.push(x.sum === undefined ? [x.url, '-', x.error ?? 'unreachable'] : [x.sum.node, String(x.sum.applied_index), x.sum.checksum]);
    const verdict = equal ? `data consistent on ${answered.length} nodes` : sameIndex ? 'DATA MISMATCH: checksums differ at the same applied index' : 'nodes did not reach the same applied index in time';
    ctx.options.out(`${table(rows)}\n${verdict}\n`);
  }
  return equal ? 0 : 1;
}

interface RegionSums {
  region: string;
  sums: NodeSum[];
}

/** Where one round of checksums stands: each region settled on one applied index, and all regions at one position. */
function regionRound(round: RegionSums[]): { settled: boolean; positioned: boolean } {
  const heads = round.map((r) => answeredSums(r.sums));
  const inGroup = heads.every(atSameIndex);
  const positions = heads.map((h) => h[0]?.position ?? null);
  const positioned = positions.every((p) => p !== null);
  const aligned = positioned && positions.every((p) => samePosition(p, positions[0]!));
  // Without positions (a node without region support) nothing tells lag from divergence: compare once each region agrees within.
  return { settled: inGroup && (aligned || !positioned), positioned };
}

/**
 * verify-data across regions: inside each region, every node at the same applied index must have the
 * same checksum (as for one cluster); across regions, one checksum per region once every region has
 * applied the same source position (the primary's: waited for up to --timeout, rounds of all regions at
 * once), and any region whose checksum differs from the primary's is named.
 */
async function verifyRegions(ctx: Context, rows: RegionRow[]): Promise<number> {
  const groups = await Promise.all(
    rows.map(async (r) => {
      let urls = ctx.regionUrls(r.name, r);
      try {
        // Every member, from the region's leader.
        const group = await ctx.statusFrom(urls);
        const members = group.nodes.map((n) => n.url).filter((u) => u !== '');
        if (members.length > 0) urls = members;
      } catch {
        // What the region row and dev.json name.
      }
      return { region: r.name, urls };
    }),
  );
  const primary = primaryOf(rows).name ?? rows.find((r) => r.role === 'primary')?.name ?? rows[0]!.name;
  const until = Date.now() + ctx.options.timeoutMs;
  const fetchRound = (): Promise<RegionSums[]> => Promise.all(groups.map(async (g) => ({ region: g.region, sums: await fetchSums(ctx, g.urls) })));
  let round = await fetchRound();
  let state = regionRound(round);
  while (!state.settled && Date.now() < until) {
    await sleep(200);
    round = await fetchRound();
    state = regionRound(round);
  }

  const perRegion = round.map((r) => {
    const answered = answeredSums(r.sums);
    const sameIndex = atSameIndex(answered);
    const consistent = sameIndex && answered.every((x) => x.checksum === answered[0]!.checksum);
    const head = answered[0];
    return { region: r.region, consistent, same_index: sameIndex, applied_index: head?.applied_index ?? null, position: head?.position ?? null, checksum: consistent ? (head?.checksum ?? null) : null };
  });
  const reference = perRegion.find((r) => r.region === primary) ?? perRegion[0]!;
  const differing = perRegion.filter((r) => r.checksum !== reference.checksum).map((r) => r.region);
  const regionsAgree = perRegion.every((r) => r.consistent);
  const crossConsistent = state.settled && regionsAgree && differing.length === 0;
  let crossVerdict: string;
  if (!regionsAgree) crossVerdict = `regions not compared: ${perRegion.filter((r) => !r.consistent).map((r) => r.region).join(', ')} disagree within`;
  else if (!state.settled) {
    crossVerdict = `regions did not reach the same position within ${formatDurationMs(ctx.options.timeoutMs)} (${perRegion.map((r) => `${r.region} at ${formatPosition(r.position)}`).join(', ')})`;
  } else if (differing.length > 0) {
    crossVerdict = `REGION MISMATCH at position ${formatPosition(reference.position)}: ${differing.join(', ')} differ${differing.length === 1 ? 's' : ''} from ${reference.region}${reference.region === primary ? ' (the primary)' : ''}`;
  } else if (!state.positioned) {
    crossVerdict = `regions consistent: same checksum in ${perRegion.length} regions (some nodes report no source position, so none was waited for)`;
  } else crossVerdict = `regions consistent at position ${formatPosition(reference.position)}: same checksum in ${perRegion.length} regions`;

  if (ctx.options.json) {
    const nodes = round.flatMap((r) => r.sums.map((x) => ({ region: r.region, ...(x.sum ?? { url: x.url, error: x.error }) })));
    const crossRegion = { consistent: crossConsistent, primary, position: reference.position, differing, verdict: crossVerdict };
    ctx.options.out(`${JSON.stringify({ consistent: crossConsistent, nodes, regions: perRegion, cross_region: crossRegion })}\n`);
  } else {
    const lines = [['NODE', 'REGION', 'APPLIED', 'POSITION', 'CHECKSUM']];
    for (const r of round) {
      for (const x of r.sums) {
        lines.push(x.sum === undefined ? [x.url, r.region, '-', '-', x.error ?? 'unreachable'] : [x.sum.node, r.region, String(x.sum.applied_index), formatPosition(x.sum.position ?? null), x.sum.checksum]);
      }
    }
    const within = perRegion.map((r) => {
      const count = answeredSums(round.find((x) => x.region === r.region)!.sums).length;
      return `${r.region}: ${r.consistent ? `data consistent on ${count} node${count === 1 ? '' : 's'}` : r.same_index ? 'DATA MISMATCH: checksums differ at the same applied index' : 'nodes did not reach the same applied index in time'}`;
    });
    ctx.options.out(`${table(lines)}\n${within.join('\n')}\n${crossVerdict}\n`);
  }
  return crossConsistent ? 0 : 1;
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted === true) return Promise.resolve();
  return new Promise((resolvePause) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolvePause();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const MONITOR_METRICS = ['replication_lag'] as const;

/**
 * `monitor --metric replication_lag`: one line per interval with each region's lag (from the gateway's
 * region rows, else a node's region status), or, for one cluster, each node's replication lag. A
 * round that gets no answer prints so and the monitor goes on (a promotion or a restart is what one
 * watches it for). Ends after --count lines, or on Ctrl-C (`signal`).
 */
async function monitor(ctx: Context): Promise<number> {
  const metric = ctx.options.metric ?? 'replication_lag';
  if (!(MONITOR_METRICS as readonly string[]).includes(metric)) throw new CommandFailed(`monitor: unknown metric ${metric} (supported: ${MONITOR_METRICS.join(', ')})`);
  const intervalMs = ctx.options.intervalMs ?? 1_000;
  const signal = ctx.options.signal;
  const started = Date.now();
  for (let tick = 0; ctx.options.count === undefined || tick < ctx.options.count; tick++) {
    if (tick > 0) await pause(Math.max(0, started + tick * intervalMs - Date.now()), signal);
    if (signal?.aborted === true) break;
    ctx.options.out(await lagLine(ctx, metric));
  }
  return 0;
}

async function lagLine(ctx: Context, metric: string): Promise<string> {
  const at = new Date().toISOString();
  ctx.refreshGateway();
  try {
    const rows = await ctx.regions();
    if (rows !== undefined) {
      if (ctx.options.json) {
        const regions = rows.map((r) => ({ region: r.name, role: r.role, state: r.state, epoch: r.epoch, lag_ms: r.lag_ms, replication_lag_max_ms: r.replication_lag_max_ms, over_lag_max: r.over_lag_max }));
        return `${JSON.stringify({ at, metric, regions })}\n`;
      }
      const cells = rows.map((r) => {
        const lag = r.lag_ms === null ? 'unknown' : `${Math.round(r.lag_ms)}ms`;
        const notes = [r.state === 'primary' || (r.state === null && r.role === 'primary') ? 'primary' : undefined, r.state === 'fenced' ? 'fenced' : undefined, r.over_lag_max === true ? `OVER ${r.replication_lag_max_ms === null ? 'max' : `${r.replication_lag_max_ms}ms`}` : undefined].filter(Boolean);
        return `${r.name} ${lag}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
      });
      return `${at}  ${cells.join('  ')}\n`;
    }
    const s = await ctx.status();
    const nodes = [...s.nodes].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
    if (ctx.options.json) return `${JSON.stringify({ at, metric, nodes: nodes.map((n) => ({ id: n.id, role: n.role, lag_ms: n.replication_lag < 0 ? null : n.replication_lag })) })}\n`;
    return `${at}  ${nodes.map((n) => `${n.id} ${n.replication_lag < 0 ? 'unknown' : `${n.replication_lag}ms`}${n.role === 'leader' ? ' (leader)' : ''}`).join('  ')}\n`;
  } catch (error) {
    const reason = describe(error).split('\n')[0] ?? 'no answer';
    return ctx.options.json ? `${JSON.stringify({ at, metric, error: reason })}\n` : `${at}  no answer: ${reason}\n`;
  }
}

/** An admin request's answer: HTTP status, the parsed JSON body (or the text), and who answered. */
interface AdminAnswer {
  status: number;
  body: unknown;
  text: string;
  url: string;
}

/**
 * POST an admin request about region `region`: to --url when given, else to that region's nodes
 * first (a node forwards or redirects to its region's leader), then every other node, then the
 * gateway. Refused connections move on to the next; a 421 naming a leader is followed; a timeout
 * stops (the request may be under way, and promotions are not sent twice).
 */
async function adminToRegion(ctx: Context, region: string, path: string, body: unknown, timeoutMs: number): Promise<AdminAnswer> {
  let urls: string[];
  if (ctx.options.url !== undefined) urls = [ctx.options.url.replace(/\/+$/, '')];
  else {
    const rows = await ctx.regions().catch(() => undefined);
    const gateway = ctx.dev !== undefined && isAlive(ctx.dev.pid) ? [ctx.dev.gateway] : [];
    urls = [...new Set([...ctx.regionUrls(region, rows?.find((r) => r.name === region)), ...(await ctx.allUrls()), ...gateway])];
  }
  const token = ctx.token();
  const errors: string[] = [];
  const queue = [...urls];
  let redirects = 0;
  while (queue.length > 0) {
    const url = queue.shift()!;
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if (error instanceof Error && error.name === 'TimeoutError') throw new CommandFailed(`${url} did not answer within ${formatDurationMs(timeoutMs)}; the request may still complete: check \`geode cluster status\``);
      errors.push(`${url}: ${describe(error)}`);
      continue;
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: reported as text.
    }
    const leaderUrl = isRecord(parsed) && isRecord(parsed['error']) ? str(parsed['error']['leader_url']) : null;
    if (response.status === 421 && leaderUrl !== null && redirects < 3) {
      redirects++;
      queue.unshift(leaderUrl);
      continue;
    }
    return { status: response.status, body: parsed, text, url };
  }
  throw new CommandFailed(`no node answered:\n  ${errors.join('\n  ')}`);
}

/** The server's JSON error as `CODE: message`, else the status and text. */
function failure(command: string, answer: AdminAnswer): CommandFailed {
  const error = isRecord(answer.body) && isRecord(answer.body['error']) ? answer.body['error'] : undefined;
  const code = str(error?.['code']);
  const message = str(error?.['message']);
  const detail = code !== null ? `${code}: ${message ?? ''}` : `HTTP ${answer.status}: ${answer.text.slice(0, 500)}`;
  return new CommandFailed(`${command}: ${detail} (from ${answer.url})`);
}

/** The request bound the node accepts for `timeout_ms` (shared/protocol/region.ts PromoteRequest). */
function adminTimeoutMs(command: string, ctx: Context): number {
  const timeoutMs = ctx.options.timeoutMs;
  if (timeoutMs < 100 || timeoutMs > 600_000) throw new CommandFailed(`${command}: --timeout must be between 100ms and 10m, got ${formatDurationMs(timeoutMs)}`);
  return timeoutMs;
}

/** Time for the HTTP answer beyond the server's own bound. */
const ANSWER_MARGIN_MS = 15_000;

async function promoteRegion(ctx: Context): Promise<number> {
  const region = ctx.options.positionals[0];
  if (region === undefined) throw new CommandFailed('promote-region: a region name is required');
  const timeoutMs = adminTimeoutMs('promote-region', ctx);
  const force = ctx.options.force === true;
  const answer = await adminToRegion(ctx, region, '/api/v1/admin/regions/promote', { region, force, timeout_ms: timeoutMs }, timeoutMs + ANSWER_MARGIN_MS);
  if (answer.status < 200 || answer.status >= 300) throw failure(`promote-region ${region}`, answer);
  if (ctx.options.json) {
    ctx.options.out(`${answer.text.trim()}\n`);
    return 0;
  }
  const result = isRecord(answer.body) ? answer.body : {};
  const epoch = num(result['epoch']);
  const previous = str(result['previous_primary']) ?? 'the previous primary';
  const planned = result['planned'] === true;
  const took = num(result['took_ms']);
  const lines = [
    `region ${str(result['region']) ?? region} is now the primary at epoch ${epoch ?? '?'} (${planned ? 'planned' : 'forced'}; previous primary ${previous}; fork ${formatPosition(position(result['fork']))}${took === null ? '' : `; took ${Math.round(took)} ms`})`,
  ];
  if (force || !planned) {
    const lost = num(result['lost_entries_estimate']);
    const basis = str(result['estimate_basis']) ?? 'unknown';
    lines.push(`forced promotion: up to ${lost ?? 'an unknown number of'} entries of ${previous} may be lost (estimate from replication positions: ${basis})`);
  }
  ctx.options.out(`${lines.join('\n')}\n`);
  return 0;
}

async function rejoinRegion(ctx: Context): Promise<number> {
  const region = ctx.options.positionals[0];
  if (region === undefined) throw new CommandFailed('rejoin-region: a region name is required');
  const timeoutMs = adminTimeoutMs('rejoin-region', ctx);
  const answer = await adminToRegion(ctx, region, '/api/v1/admin/regions/rejoin', { region, timeout_ms: timeoutMs }, timeoutMs + ANSWER_MARGIN_MS);
  if (answer.status < 200 || answer.status >= 300) throw failure(`rejoin-region ${region}`, answer);
  if (ctx.options.json) {
    ctx.options.out(`${answer.text.trim()}\n`);
    return 0;
  }
  const result = isRecord(answer.body) ? answer.body : {};
  const state = str(result['state']);
  const primaryRegion = str(result['primary_region']);
  const epoch = num(result['epoch']);
  if (state === null && primaryRegion === null) ctx.options.out(`rejoin-region ${region}: ${answer.text.trim()}\n`);
  else ctx.options.out(`region ${str(result['region']) ?? region} rejoined: ${state ?? 'state unknown'}, following ${primaryRegion ?? '?'} at epoch ${epoch ?? '?'}\n`);
  return 0;
}
