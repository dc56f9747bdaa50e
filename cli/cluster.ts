/**
 * `geode cluster <sub>`: operator commands over the nodes' HTTP API (and, for
 * kill-node/start-node, through the control endpoint of the `geode dev` that
 * dev.json names: that process owns and supervises the nodes, dev-control.ts).
 *
 * Nodes are found from --url, else from `<data-dir>/dev.json`, else the dev
 * defaults 127.0.0.1:3151-3153; each command tries them in order until one
 * answers. Status and health come from the leader when one is known, since
 * only the leader sees every follower's progress.
 */
import { resolve } from 'node:path';
import { askDev, ControlFailed } from './dev-control.js';
import type { ControlAction, ControlAnswer } from './dev-control.js';
import { isAlive, readDevState } from './dev-state.js';
import type { DevNodeState, DevState } from './dev-state.js';
import { describeExit } from './supervisor.js';
import type { ProcessExit, ProcessState } from './supervisor.js';

export interface ClusterCommandOptions {
  url: string | undefined;
  json: boolean;
  token: string | undefined;
  dataDir: string;
  target: string | undefined;
  timeoutSeconds: number;
  positionals: string[];
  out: (text: string) => void;
  err: (text: string) => void;
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
  nodes: NodeEntry[];
  quorum_status: string;
  term: number;
  leader: string | null;
  leader_url: string | null;
  commit_index: number;
  applied_index: number;
}

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

  /** The first node that answers, then the leader's view when it knows one. */
  async status(): Promise<ClusterStatusBody> {
    const errors: string[] = [];
    for (const url of this.candidateUrls()) {
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

export const CLUSTER_SUBCOMMANDS = ['status', 'health', 'primary', 'failover', 'kill-node', 'start-node', 'wait-sync', 'verify-data'] as const;

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

async function status(ctx: Context): Promise<number> {
  const s = await ctx.status();
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
  if (ctx.options.json) {
    ctx.options.out(`${JSON.stringify(s)}\n`);
    return 0;
  }
  const head = `cluster ${s.cluster_id}  term ${s.term}  leader ${s.leader ?? '(none)'}  quorum ${s.quorum_status}  commit ${s.commit_index}  (as seen by ${s.node})`;
  const rows = [['NODE', 'ROLE', 'STATUS', 'LAG_MS', 'APPLIED', 'MATCH', ...(supervised === undefined ? [] : ['PROCESS', 'RESTARTS']), 'URL']];
  const exits: string[] = [];
  for (const n of [...s.nodes].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))) {
    const supervision = supervised === undefined ? [] : [n.process_state ?? '-', n.restarts === undefined ? '-' : String(n.restarts)];
    rows.push([n.id, n.role, n.status, n.replication_lag < 0 ? '-' : String(n.replication_lag), n.applied_index === null ? '-' : String(n.applied_index), n.match_index === null ? '-' : String(n.match_index), ...supervision, n.url]);
    if (n.last_exit !== undefined && n.last_exit !== null) exits.push(`last exit of ${n.id}: ${describeExit(n.last_exit.code, n.last_exit.signal)} at ${n.last_exit.at}`);
  }
  ctx.options.out(`${head}\n${table(rows)}\n${exits.map((line) => `${line}\n`).join('')}`);
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
  const answer = await askDevFor(ctx, 'start', ctx.options.positionals[0], ctx.options.timeoutSeconds * 1000);
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
  const until = Date.now() + ctx.options.timeoutSeconds * 1000;
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
  throw new CommandFailed(`wait-sync: ${name} applied ${applied ?? 'unknown'} < ${target} after ${ctx.options.timeoutSeconds} s`);
}

interface ChecksumBody {
  node: string;
  applied_index: number;
  checksum: string;
}

async function verifyData(ctx: Context): Promise<number> {
  const s = await ctx.status();
  const sorted = [...s.nodes].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  const urls = ctx.options.url !== undefined && sorted.length === 0 ? [ctx.options.url] : sorted.map((n) => n.url).filter((u) => u !== '');
  const token = ctx.token();
  const fetchSums = async (): Promise<{ url: string; sum: ChecksumBody | undefined; error?: string }[]> =>
    Promise.all(
      urls.map(async (url) => {
        try {
          const response = await fetch(`${url}/api/v1/admin/checksum`, {
            headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
            signal: AbortSignal.timeout(10_000),
          });
          if (response.status === 401) throw new CommandFailed(`verify-data: ${url} refused the admin token (pass --token or GEODE_ADMIN_TOKEN)`);
          if (!response.ok) return { url, sum: undefined, error: `HTTP ${response.status}` };
          return { url, sum: (await response.json()) as ChecksumBody };
        } catch (error) {
          if (error instanceof CommandFailed) throw error;
          return { url, sum: undefined, error: 'unreachable' };
        }
      }),
    );
  const until = Date.now() + ctx.options.timeoutSeconds * 1000;
  let sums = await fetchSums();
  // Compare at the same applied index: wait for followers to catch up (writes may still be arriving).
  for (;;) {
    const answered = sums.filter((x) => x.sum !== undefined).map((x) => x.sum!);
    const sameIndex = answered.length > 0 && answered.every((x) => x.applied_index === answered[0]!.applied_index);
    if (sameIndex || Date.now() >= until) break;
    await sleep(200);
    sums = await fetchSums();
  }
  const answered = sums.filter((x) => x.sum !== undefined).map((x) => x.sum!);
  const sameIndex = answered.length > 0 && answered.every((x) => x.applied_index === answered[0]!.applied_index);
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
