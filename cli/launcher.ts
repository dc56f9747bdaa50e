/**
 * Launches a loopback cluster of `geode node` child processes: used by
 * `geode dev`, process-level tests and benchmarks. Each node gets a YAML
 * config at `<dataDir>/<name>.yaml` and its data in `<dataDir>/<name>/`;
 * nodes can be killed, paused and restarted with the same config.
 *
 * `addNode()` starts one more node beside a launched cluster, configured to
 * join it as a learner; the membership change itself goes through the
 * leader's admin routes (see `addNode`).
 *
 * Children never outlive the parent: they are SIGKILLed on the parent's
 * exit, and each child also watches its parent pid (GEODE_PARENT_PID) and
 * stops itself when the parent disappears (e.g. after a SIGKILL).
 *
 * A launched cluster can be one region of a multi-region deployment
 * (`region`, `regions`: written into every node's config; launch-regions.ts
 * starts one cluster per region, sharing one secret and admin token).
 *
 * Supervision is opt-in (`supervision`; `geode dev` turns it on): a node
 * whose process exits without the owner asking (a crash, a disk failure's
 * exit 1, a SIGKILL from outside) is started again with backoff
 * (supervisor.ts). `kill()` and `stop()` are the owner asking: the node then
 * stays down until `start()`. Without supervision nothing restarts by
 * itself, which tests and benchmarks that kill nodes on purpose rely on.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { regionsToYaml } from '../shared/config/regions.js';
import type { RegionDeployment } from '../shared/config/regions.js';
import { RestartBackoff, restartPolicy } from './supervisor.js';
import type { ProcessExit, SupervisionEvent, SupervisionOptions, SupervisionStatus } from './supervisor.js';

export interface LaunchOptions {
  nodes: number;
  dataDir: string;
  /** First port; node i listens on basePort + i - 1. 0 or undefined: free ports. */
  basePort?: number;
  /** Ports of the first nodes, in order (node i on ports[i - 1]); wins over basePort for those. */
  ports?: number[];
  /** Node names are `<namePrefix>node<i>`; default '' (node1, node2, ...). */
  namePrefix?: string;
  /** Written as `region:` into every node's config. */
  region?: string;
  /**
   * The deployment's regions (node URLs as these nodes should dial them), written into every node's
   * config as the seed's `regions:` / `global_deployment:` (regionsToYaml); needs `region`.
   */
  regions?: RegionDeployment;
  /** Listen and advertise host; default 127.0.0.1. */
  host?: string;
  clusterSecret?: string;
  adminToken?: string;
  replicationMode?: 'synchronous' | 'semi_synchronous' | 'asynchronous';
  quorumSize?: number;
  syncReplicas?: number;
  /** Extra members that are async replicas (learners), named after the voters. */
  learners?: number;
  snapshotEntries?: number;
  heartbeatMs?: number;
  electionTimeoutMs?: number;
  logLevel?: string;
  env?: Record<string, string>;
  /**
   * Children's stdout/stderr. `pipe` (default) keeps the last 64 KiB in memory
   * (see `LaunchedNode.output()`); `file` appends to `<dataDir>/<name>.log`.
   */
  stdio?: 'inherit' | 'ignore' | 'pipe' | 'file';
  /**
   * Where node `from` dials peer `to` (default: `to`'s own port). Lets tests put a
   * fault-injecting proxy on every directed peer link; the proxy's port is returned.
   */
  peerPort?: (from: string, to: string, targetPort: number) => Promise<number>;
  /** Bound for a spawned node to start serving; default 60 s. */
  startTimeoutMs?: number;
  /** Written as `cluster_id` into every node's config; absent: the nodes' default (`geode`). */
  clusterId?: string;
  /**
   * Restart nodes whose process exits unasked, with backoff (supervisor.ts); absent: never restart.
   * `kill()` / `stop()` are deliberate and keep a node down until `start()`.
   */
  supervision?: SupervisionOptions;
}

export interface LaunchedNode {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Path of the node's YAML config. */
  readonly configPath: string;
  /** Sends `signal` (default SIGKILL); resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * SIGSTOP, sent at once; resolves when every thread of the process is stopped (on Linux, read
   * from /proc; elsewhere at once). The kernel stops a process only when its main thread next runs
   * (it starts the group stop), so on a loaded machine, or while that thread sits in disk I/O, the
   * other threads (read workers) can go on answering for a while after the signal.
   */
  pause(): Promise<void>;
  /** SIGCONT. */
  resume(): void;
  /** (Re)spawns with the same config; resolves when the node has started (/healthz and /api/v1/cluster/status answer). */
  start(): Promise<void>;
  /** Captured output tail (stdio `pipe` only). */
  output(): string;
  /** The supervisor's view of this node; undefined when the cluster runs without supervision. */
  readonly supervision: SupervisionStatus | undefined;
}

export interface AddNodeOptions {
  /** The new member's name; default `node<N+1>` (N: nodes launched so far). */
  name?: string;
  /**
   * Members the new node knows at start (its `cluster_peers`); default every
   * node launched so far. Leave out members already removed from the cluster.
   */
  peers?: string[];
}

export interface LaunchedCluster {
  /** Every node launched so far, including those added with `addNode()`. */
  readonly nodes: LaunchedNode[];
  readonly adminToken: string;
  readonly clusterSecret: string;
  readonly dataDir: string;
  node(name: string): LaunchedNode;
  /** Polls /api/v1/cluster/status of running nodes until a majority of voters agree on a running leader not in `exclude`. */
  waitForLeader(options?: { timeoutMs?: number; exclude?: string[] }): Promise<LaunchedNode>;
  /**
   * Writes a config for one more node and starts it (same secret, token, timing,
   * replication settings and stdio as the others; port `basePort + N` or a free
   * one). The config makes it a learner (`role: learner`) whose `cluster_peers`
   * are `peers`; it never campaigns and waits for the leader to replicate to it.
   * This does not change the Raft membership: ask the leader for that,
   * `POST /api/v1/admin/members {name, url, role: 'learner'}`, then, once it has
   * caught up, `POST /api/v1/admin/members/<name>/promote`. `waitForLeader()`
   * keeps counting the majority of the voters launched by `launchCluster`.
   */
  addNode(options?: AddNodeOptions): Promise<LaunchedNode>;
  /** SIGTERM all, wait, SIGKILL stragglers after 5 s. */
  stop(): Promise<void>;
}

/** The `geode` entry point the children run. */
export const GEODE_BIN = fileURLToPath(new URL('../bin/geode.js', import.meta.url));

const OUTPUT_TAIL_BYTES = 64 * 1024;
const STOP_GRACE_MS = 5_000;
/** Bound on waiting for a SIGSTOPped process to stop (see pause()). */
const PAUSE_SETTLE_MS = 5_000;

/** Whether every thread of `pid` is stopped (state T), per /proc; true where there is no /proc to ask. */
function allThreadsStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  for (const task of tasks) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    } catch {
      continue; // the thread exited
    }
    // "pid (comm) S ...": the state follows the last ')' (comm may contain one).
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    if (state !== 'T' && state !== 't') return false;
  }
  return true;
}

/** Every live child of every launched cluster, killed when this process exits. */
const liveChildren = new Set<ChildProcess>();
let hooksInstalled = false;
/** Set once this process is going away: children then die with it, and nothing may start them again. */
let parentExiting = false;

function installParentHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    parentExiting = true;
    for (const child of liveChildren) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      // Another handler (e.g. `geode dev`'s clean shutdown) owns this signal: let it stop the nodes gracefully.
      if (process.listenerCount(signal) > 1) return;
      parentExiting = true;
      for (const child of liveChildren) child.kill('SIGKILL');
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * A port nobody listens on right now, for a node that binds it a moment later.
 *
 * Chosen at random BELOW the kernel's ephemeral range and checked by binding
 * it. Binding port 0 would hand out a port from the ephemeral range, the same
 * range every outgoing connection on the machine draws its local port from:
 * between the probe and the node's own bind (a Node.js start, hundreds of
 * ms), a client socket of a test or benchmark running alongside could take
 * it, and the node then failed with EADDRINUSE (seen in the full test suite).
 * Below that range only another listener can collide, and those are probed
 * for. Falls back to port 0 if no random pick is free.
 */
export async function freePort(host: string): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  if (low - floor >= 1_000) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = floor + Math.floor(Math.random() * (low - floor));
      if ((await tryBind(host, port)) !== undefined) return port;
    }
  }
  const any = await tryBind(host, 0);
  if (any === undefined) throw new Error(`no free port on ${host}`);
  return any;
}

/** The local port range outgoing connections use (Linux), or the IANA default elsewhere. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low as number, high as number];
  } catch {
    // Not Linux: fall through.
  }
  return [49_152, 65_535];
}

/** Binds and releases `port` (0: any); the port bound, or undefined when it was taken. */
function tryBind(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePort(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const bound = (server.address() as AddressInfo).port;
      server.close(() => resolvePort(bound));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How every node of a launched cluster is run. */
interface NodeSettings {
  dataDir: string;
  logLevel: string;
  env: Record<string, string>;
  stdio: NonNullable<LaunchOptions['stdio']>;
  startTimeoutMs: number;
  supervision: SupervisionOptions | undefined;
}

interface NodePlan {
  name: string;
  port: number;
  learner: boolean;
}

class ChildNode implements LaunchedNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';
  private paused = false;
  /** The owner wants this node up: set by start(), cleared by kill() and stop(). Only then is an exit restarted. */
  private wanted = false;
  private spawnedAt = 0;
  private restarts = 0;
  private lastExit: ProcessExit | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private nextRestartAt: number | undefined;
  private readonly backoff: RestartBackoff | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly port: number,
    readonly configPath: string,
    private readonly settings: NodeSettings,
  ) {
    this.backoff = settings.supervision === undefined ? undefined : new RestartBackoff(restartPolicy(settings.supervision));
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  get supervision(): SupervisionStatus | undefined {
    if (this.backoff === undefined) return undefined;
    const state = this.running ? 'running' : this.restartTimer !== undefined ? 'restarting' : 'stopped';
    const nextRestartAt = state === 'restarting' && this.nextRestartAt !== undefined ? new Date(this.nextRestartAt).toISOString() : null;
    return { state, restarts: this.restarts, lastExit: this.lastExit, nextRestartAt };
  }

  output(): string {
    return this.tail;
  }

  /** The command and arguments that (re)start this node, for dev.json. */
  get command(): { command: string; args: string[] } {
    return { command: process.execPath, args: [GEODE_BIN, 'node', '--config', this.configPath, '--log-level', this.settings.logLevel] };
  }

  async start(): Promise<void> {
    this.wanted = true;
    this.cancelRestart();
    if (this.running) return;
    this.backoff?.reset();
    const child = this.spawnChild();
    this.emit({ kind: 'started', node: this.name, pid: child.pid });
    const deadline = Date.now() + this.settings.startTimeoutMs;
    while (Date.now() < deadline) {
      if (child !== this.child || !this.running) {
        throw new Error(`${this.name} exited during start (code ${String(child.exitCode)}, signal ${String(child.signalCode)})\n${this.tail}`);
      }
      try {
        // Status answers 200 only once the storage node has started (its /healthz answers earlier).
        const response = await fetch(`${this.url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(1_000) });
        await response.body?.cancel();
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    throw new Error(`${this.name}: /api/v1/cluster/status did not answer within ${this.settings.startTimeoutMs} ms\n${this.tail}`);
  }

  /** Starts the process with this node's config and returns at once (start() then waits for it to serve). */
  private spawnChild(): ChildProcess {
    const { command, args } = this.command;
    let stdio: ('ignore' | 'inherit' | 'pipe' | number)[];
    let logFd: number | undefined;
    switch (this.settings.stdio) {
      case 'file':
        logFd = openSync(join(this.settings.dataDir, `${this.name}.log`), 'a');
        stdio = ['ignore', logFd, logFd];
        break;
      case 'pipe':
        stdio = ['ignore', 'pipe', 'pipe'];
        break;
      default:
        stdio = ['ignore', this.settings.stdio, this.settings.stdio];
    }
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        stdio,
        // Own process group: a terminal's Ctrl-C reaches the parent only, which stops the nodes in order.
        detached: true,
        env: { ...process.env, ...this.settings.env, GEODE_PARENT_PID: String(process.pid) },
      });
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
    this.child = child;
    this.paused = false;
    this.spawnedAt = Date.now();
    liveChildren.add(child);
    const keep = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolveExit) => {
      let done = false;
      const finish = (code: number | null, signal: string | null, error?: string): void => {
        if (done) return;
        done = true;
        liveChildren.delete(child);
        this.onExit(child, code, signal, error);
        resolveExit();
      };
      child.once('exit', (code, signal) => finish(code, signal));
      child.once('error', (error) => {
        this.tail += `\nspawn failed: ${error.message}`;
        finish(child.exitCode, child.signalCode, error.message);
      });
    });
    return child;
  }

  /** Records the exit and, when supervised and not asked for, schedules the restart. */
  private onExit(child: ChildProcess, code: number | null, signal: string | null, error: string | undefined): void {
    if (child !== this.child) return;
    this.lastExit = { code, signal, at: new Date().toISOString() };
    if (this.backoff === undefined || !this.wanted || parentExiting) return;
    this.scheduleRestart(this.backoff, child.pid, code, signal, Date.now() - this.spawnedAt, error);
  }

  private scheduleRestart(backoff: RestartBackoff, pid: number | undefined, code: number | null, signal: string | null, uptimeMs: number, error: string | undefined): void {
    const { attempt, delayMs } = backoff.next(uptimeMs);
    this.nextRestartAt = Date.now() + delayMs;
    this.restartTimer = setTimeout(() => this.restart(attempt), delayMs);
    // A pending restart must not keep a finished test or command alive; live children hold the loop anyway.
    this.restartTimer.unref();
    this.emit({ kind: 'exit', node: this.name, pid, code, signal, uptimeMs, attempt, delayMs, ...(error === undefined ? {} : { error }) });
  }

  private restart(attempt: number): void {
    this.restartTimer = undefined;
    this.nextRestartAt = undefined;
    if (this.backoff === undefined || !this.wanted || this.running || parentExiting) return;
    this.restarts++;
    let child: ChildProcess;
    try {
      child = this.spawnChild();
    } catch (error) {
      // Could not even spawn (the log file's directory is gone, no pids left): back off as after a crash.
      const message = error instanceof Error ? error.message : String(error);
      this.lastExit = { code: null, signal: null, at: new Date().toISOString() };
      this.scheduleRestart(this.backoff, undefined, null, null, 0, message);
      return;
    }
    this.emit({ kind: 'restart', node: this.name, pid: child.pid, attempt, restarts: this.restarts });
  }

  private cancelRestart(): void {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAt = undefined;
  }

  private emit(event: SupervisionEvent): void {
    if (this.backoff === undefined) return;
    try {
      this.settings.supervision?.onEvent?.(event);
    } catch {
      // A listener's failure (say, a full disk under dev.json) must not stop the restarts themselves.
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.wanted = false;
    this.cancelRestart();
    const child = this.running ? this.child : undefined;
    if (child !== undefined) {
      child.kill(signal);
      // A stopped process only acts on a catchable signal once continued.
      if (this.paused && signal !== 'SIGKILL') child.kill('SIGCONT');
      this.paused = false;
      await this.exited;
    }
    this.emit({ kind: 'stopped', node: this.name, pid: child?.pid });
  }

  async pause(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    this.child?.kill('SIGSTOP');
    this.paused = true;
    const deadline = Date.now() + PAUSE_SETTLE_MS;
    while (this.paused && this.pid === pid && !allThreadsStopped(pid) && Date.now() < deadline) await sleep(2);
  }

  resume(): void {
    if (!this.running) return;
    this.child?.kill('SIGCONT');
    this.paused = false;
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.wanted = false;
    this.cancelRestart();
    if (!this.running) {
      this.emit({ kind: 'stopped', node: this.name, pid: undefined });
      return;
    }
    const exited = this.exited;
    const graceful = this.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await graceful;
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

interface StatusBody {
  leader?: unknown;
}

async function leaderSeenBy(node: LaunchedNode): Promise<string | null> {
  try {
    const response = await fetch(`${node.url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(1_000) });
    if (!response.ok) {
      await response.body?.cancel();
      return null;
    }
    const body = (await response.json()) as StatusBody;
    return typeof body.leader === 'string' ? body.leader : null;
  } catch {
    return null;
  }
}

/** What `launchCluster` decided once, reused by `addNode()`. */
interface LaunchContext {
  options: LaunchOptions;
  host: string;
  settings: NodeSettings;
  plans: NodePlan[];
}

class Cluster implements LaunchedCluster {
  constructor(
    readonly nodes: ChildNode[],
    private readonly voters: number,
    readonly adminToken: string,
    readonly clusterSecret: string,
    readonly dataDir: string,
    private readonly context: LaunchContext,
  ) {}

  async addNode(options: AddNodeOptions = {}): Promise<LaunchedNode> {
    const { options: launch, host, settings, plans } = this.context;
    const name = options.name ?? `${launch.namePrefix ?? ''}node${plans.length + 1}`;
    if (plans.some((p) => p.name === name)) throw new Error(`addNode: a node named ${name} was already launched`);
    const peerNames = options.peers ?? plans.map((p) => p.name);
    const peers = peerNames.map((peer) => {
      const plan = plans.find((p) => p.name === peer);
      if (plan === undefined) throw new Error(`addNode: unknown peer ${peer} (launched: ${plans.map((p) => p.name).join(', ')})`);
      return plan;
    });
    if (peers.length === 0) throw new Error('addNode: the new node needs at least one peer');
    const port = launch.ports?.[plans.length] ?? (launch.basePort !== undefined && launch.basePort > 0 ? launch.basePort + plans.length : await freePort(host));
    const plan: NodePlan = { name, port, learner: true };
    plans.push(plan);
    const node = await writeNodeConfig(plan, [plan, ...peers], launch, host, this.clusterSecret, this.adminToken, this.dataDir, settings);
    this.nodes.push(node);
    await node.start();
    return node;
  }

  node(name: string): LaunchedNode {
    const found = this.nodes.find((n) => n.name === name);
    if (found === undefined) throw new Error(`no node named ${name} (nodes: ${this.nodes.map((n) => n.name).join(', ')})`);
    return found;
  }

  async waitForLeader(options: { timeoutMs?: number; exclude?: string[] } = {}): Promise<LaunchedNode> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const exclude = new Set(options.exclude ?? []);
    const needed = Math.floor(this.voters / 2) + 1;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const running = this.nodes.filter((n) => n.running);
      const views = await Promise.all(running.map(async (n) => ({ node: n, leader: await leaderSeenBy(n) })));
      const votes = new Map<string, number>();
      for (const { leader } of views) if (leader !== null) votes.set(leader, (votes.get(leader) ?? 0) + 1);
      for (const [name, count] of votes) {
        if (count < needed || exclude.has(name)) continue;
        const leader = this.nodes.find((n) => n.name === name);
        // The leader must be alive and agree about itself, or the others are still reporting a dead one.
        if (leader !== undefined && leader.running && views.some((v) => v.node === leader && v.leader === name)) return leader;
      }
      last = views.map((v) => `${v.node.name}->${v.leader ?? '?'}`).join(', ');
      await sleep(100);
    }
    throw new Error(`no leader agreed by ${needed} nodes within ${timeoutMs} ms (last views: ${last || 'none'})`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function yamlConfig(plan: NodePlan, all: NodePlan[], peerPorts: Map<string, number>, options: LaunchOptions, host: string, secret: string, token: string, dataDir: string): string {
  const entry: Record<string, unknown> = {
    role: plan.learner ? 'learner' : 'standby',
    listen: hostPort(host, plan.port),
    advertise: `http://${hostPort(host, plan.port)}`,
    cluster_peers: all.filter((p) => p !== plan).map((p) => `${p.name}@${hostPort(host, peerPorts.get(p.name) ?? p.port)}`),
    data_dir: join(dataDir, plan.name),
    cluster_secret: secret,
    admin_token: token,
  };
  const learners = all.filter((p) => p.learner).map((p) => p.name);
  if (learners.length > 0) entry['async_replicas'] = learners;
  if (options.replicationMode !== undefined) entry['replication_mode'] = options.replicationMode;
  if (options.quorumSize !== undefined) entry['quorum_size'] = options.quorumSize;
  if (options.syncReplicas !== undefined) entry['sync_replicas'] = options.syncReplicas;
  if (options.snapshotEntries !== undefined) entry['snapshot_entries'] = options.snapshotEntries;
  if (options.heartbeatMs !== undefined) entry['heartbeat_ms'] = options.heartbeatMs;
  if (options.electionTimeoutMs !== undefined) entry['election_timeout_ms'] = options.electionTimeoutMs;
  if (options.clusterId !== undefined) entry['cluster_id'] = options.clusterId;
  if (options.region !== undefined) entry['region'] = options.region;
  if (options.regions !== undefined) Object.assign(entry, regionsToYaml(options.regions));
  return `# Written by geode's launcher; node ${plan.name} of a loopback cluster.\n${stringify({ [plan.name]: entry })}`;
}

/** Writes `<dataDir>/<name>.yaml` for `plan` (a member of `all`), asking `peerPort` for each outgoing link; the node is not started. */
async function writeNodeConfig(plan: NodePlan, all: NodePlan[], options: LaunchOptions, host: string, secret: string, token: string, dataDir: string, settings: NodeSettings): Promise<ChildNode> {
  const peerPorts = new Map<string, number>();
  if (options.peerPort !== undefined) for (const p of all) if (p !== plan) peerPorts.set(p.name, await options.peerPort(plan.name, p.name, p.port));
  const configPath = join(dataDir, `${plan.name}.yaml`);
  writeFileSync(configPath, yamlConfig(plan, all, peerPorts, options, host, secret, token, dataDir));
  return new ChildNode(plan.name, `http://${hostPort(host, plan.port)}`, plan.port, configPath, settings);
}

/** Writes the configs and starts every node; resolves once all answer /healthz (not yet once a leader exists). */
export async function launchCluster(options: LaunchOptions): Promise<LaunchedCluster> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new Error('launchCluster: nodes must be an integer >= 1');
  if (options.learners !== undefined && (!Number.isInteger(options.learners) || options.learners < 0)) throw new Error('launchCluster: learners must be an integer >= 0');
  if (options.regions !== undefined && (options.region === undefined || !options.regions.regions.some((r) => r.name === options.region))) {
    throw new Error(`launchCluster: regions needs region, the name of one of them (got ${String(options.region)})`);
  }
  const host = options.host ?? '127.0.0.1';
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const secret = options.clusterSecret ?? randomBytes(24).toString('hex');
  const token = options.adminToken ?? randomBytes(24).toString('hex');
  const total = options.nodes + (options.learners ?? 0);
  const plans: NodePlan[] = [];
  for (let i = 1; i <= total; i++) {
    const port = options.ports?.[i - 1] ?? (options.basePort !== undefined && options.basePort > 0 ? options.basePort + i - 1 : await freePort(host));
    plans.push({ name: `${options.namePrefix ?? ''}node${i}`, port, learner: i > options.nodes });
  }
  installParentHooks();
  const settings: NodeSettings = {
    dataDir,
    logLevel: options.logLevel ?? 'warn',
    env: options.env ?? {},
    stdio: options.stdio ?? 'pipe',
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    supervision: options.supervision,
  };
  const nodes: ChildNode[] = [];
  for (const plan of plans) nodes.push(await writeNodeConfig(plan, plans, options, host, secret, token, dataDir, settings));
  const cluster = new Cluster(nodes, options.nodes, token, secret, dataDir, { options, host, settings, plans });
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (error) {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    throw error;
  }
  return cluster;
}

/** For dev.json: how to restart a launched node by hand. */
export function restartCommand(node: LaunchedNode): { command: string; args: string[] } {
  if (node instanceof ChildNode) return node.command;
  throw new Error('not a launched node');
}
