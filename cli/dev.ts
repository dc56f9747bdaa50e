/**
 * `geode dev`: a local cluster (node1..nodeN as child processes, data and
 * configs in the data dir), one or more gateways in this process on the
 * application ports (the first on --front-port, the next ones after it), and
 * dev.json describing them for `geode cluster`.
 *
 * This process supervises the nodes: one that exits unasked is restarted
 * with backoff (supervisor.ts), each exit and restart logged to stderr and
 * to the node's log. `geode cluster kill-node/start-node` go through its
 * control endpoint (dev-control.ts), so a node killed that way stays down.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseGatewayConfig, startGateway } from '../gateway/index.js';
import type { RunningGateway } from '../gateway/index.js';
import { launchCluster, restartCommand } from './launcher.js';
import type { LaunchedCluster, LaunchedNode } from './launcher.js';
import { startDevControl } from './dev-control.js';
import type { ControlAnswer, DevControl, DevControlActions } from './dev-control.js';
import { devStatePath, isAlive, readDevState, writeDevState } from './dev-state.js';
import type { DevNodeState } from './dev-state.js';
import { describeExit } from './supervisor.js';
import type { SupervisionEvent } from './supervisor.js';

export interface DevOptions {
  dataDir: string;
  nodes: number;
  basePort: number;
  /** The first gateway's port; gateway i listens on frontPort + i - 1 (0: free ports). */
  frontPort: number;
  /** How many gateways (sharing one session secret) to start; default 1. */
  gateways?: number;
  logLevel: string;
}

export interface DevAnnouncement {
  nodes: { id: string; url: string }[];
  /** The first gateway: the application URL. */
  gateway: string;
  /** Every gateway, only when more than one runs. */
  gateways?: string[];
}

export interface RunningDev {
  announcement: DevAnnouncement;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const DEV_REGION = 'local';
/** The nodes' `cluster_id`: status then names the dev cluster as such. */
const DEV_CLUSTER_ID = 'dev';
const READY_TIMEOUT_MS = 30_000;
/** pino's numeric levels, for the lines this process appends to a node's own (pino) log. */
const PINO_LEVELS = { info: 30, warn: 40 } as const;

/**
 * One line per supervision event, on this process's stderr and in the node's log, where whoever reads
 * why a node restarted will look. The node writes the same file (O_APPEND): whole lines never interleave.
 */
function supervisionLogger(logLevel: string, logPath: (node: string) => string) {
  const stderr = pino({ level: logLevel, base: { pid: process.pid, component: 'geode-dev' } }, pino.destination(2));
  const write = (level: keyof typeof PINO_LEVELS, node: string, fields: Record<string, unknown>, msg: string): void => {
    stderr[level]({ node, ...fields }, msg);
    try {
      appendFileSync(logPath(node), `${JSON.stringify({ level: PINO_LEVELS[level], time: Date.now(), pid: process.pid, component: 'geode-dev', node, ...fields, msg })}\n`);
    } catch {
      // The stderr line is written; a node log we cannot append to must not stop supervision.
    }
  };
  return (event: SupervisionEvent, announced: boolean): void => {
    switch (event.kind) {
      case 'exit':
        write(
          'warn',
          event.node,
          { exit_pid: event.pid ?? null, code: event.code, signal: event.signal, uptime_ms: event.uptimeMs, attempt: event.attempt, delay_ms: event.delayMs, ...(event.error === undefined ? {} : { error: event.error }) },
          `${event.node} exited unexpectedly (${describeExit(event.code, event.signal)}) after ${(event.uptimeMs / 1000).toFixed(1)} s; restart ${event.attempt} in ${event.delayMs} ms`,
        );
        break;
      case 'restart':
        write('warn', event.node, { new_pid: event.pid ?? null, attempt: event.attempt, restarts: event.restarts }, `${event.node} restarted (pid ${String(event.pid)}; attempt ${event.attempt}, ${event.restarts} restart${event.restarts === 1 ? '' : 's'} in all)`);
        break;
      case 'stopped':
        if (announced) write('info', event.node, { stopped_pid: event.pid ?? null }, `${event.node} stopped on request; it stays down until \`geode cluster start-node ${event.node}\``);
        break;
      case 'started':
        // The launch itself is announced on stdout; only later starts (start-node) are news.
        if (announced) write('info', event.node, { new_pid: event.pid ?? null }, `${event.node} started on request (pid ${String(event.pid)})`);
        break;
    }
  };
}

function nodeState(node: LaunchedNode, dataDir: string): DevNodeState {
  const supervision = node.supervision;
  return {
    name: node.name,
    url: node.url,
    pid: node.pid ?? null,
    ...restartCommand(node),
    config: node.configPath,
    log: join(dataDir, `${node.name}.log`),
    state: supervision?.state ?? (node.running ? 'running' : 'stopped'),
    restarts: supervision?.restarts ?? 0,
    last_exit: supervision?.lastExit ?? null,
    next_restart_at: supervision?.nextRestartAt ?? null,
  };
}

/** Resolves once the gateway's topology knows a reachable leader, so the first request routes. */
async function waitUntilReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      last = await response.text();
      if (response.ok) return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(50);
  }
  throw new Error(`gateway ${url} not ready within ${timeoutMs} ms (${last})`);
}

export async function startDev(options: DevOptions): Promise<RunningDev> {
  const previous = readDevState(options.dataDir);
  if (previous !== undefined && previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new Error(`another geode dev (pid ${previous.pid}) uses ${options.dataDir}`);
  }
  const token = process.env['GEODE_ADMIN_TOKEN'];
  const logPath = (node: string): string => join(options.dataDir, `${node}.log`);
  const logEvent = supervisionLogger(options.logLevel, logPath);
  // Set once dev.json exists (every event then rewrites it) and cleared on close (no rewrite after removal).
  let recording: (() => void) | undefined;
  const cluster: LaunchedCluster = await launchCluster({
    nodes: options.nodes,
    dataDir: options.dataDir,
    basePort: options.basePort,
    logLevel: options.logLevel,
    stdio: 'file',
    clusterId: DEV_CLUSTER_ID,
    // The default restart policy (supervisor.ts): 0.5 s doubling to 30 s, reset after 60 s up.
    supervision: {
      onEvent: (event) => {
        logEvent(event, recording !== undefined);
        recording?.();
      },
    },
    ...(token === undefined || token.length < 16 ? {} : { adminToken: token }),
  });
  // Gateways of one dev run share the secret, so a session token from one is accepted by the other.
  const envSecret = process.env['GEODE_SESSION_SECRET'];
  const sessionSecret = envSecret !== undefined && envSecret.length >= 16 ? envSecret : randomBytes(24).toString('hex');
  const gateways: RunningGateway[] = [];
  const closeGateways = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.close()));
  };
  let control: DevControl | undefined;
  try {
    await cluster.waitForLeader({ timeoutMs: 60_000 });
    const count = options.gateways ?? 1;
    for (let i = 0; i < count; i++) {
      const config = parseGatewayConfig(
        {
          listen: `127.0.0.1:${options.frontPort === 0 ? 0 : options.frontPort + i}`,
          region: DEV_REGION,
          session_secret: sessionSecret,
          admin_token: cluster.adminToken,
          regions: { [DEV_REGION]: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } },
        },
        'geode dev gateway',
      );
      gateways.push(await startGateway(config));
    }
    await Promise.all(gateways.map((g) => waitUntilReady(g.url, READY_TIMEOUT_MS)));
    control = await startDevControl(controlActions(cluster, logPath), cluster.adminToken);
  } catch (error) {
    await closeGateways();
    await cluster.stop();
    throw error;
  }
  const controlUrl = control.url;
  const urls = gateways.map((g) => g.url);
  const gateway = urls[0]!;
  recording = () =>
    writeDevState(options.dataDir, {
      pid: process.pid,
      gateway,
      admin_token: cluster.adminToken,
      data_dir: options.dataDir,
      control: controlUrl,
      nodes: cluster.nodes.map((n) => nodeState(n, options.dataDir)),
    });
  recording();
  const announcement: DevAnnouncement = { nodes: cluster.nodes.map((n) => ({ id: n.name, url: n.url })), gateway };
  if (urls.length > 1) announcement.gateways = urls;
  return {
    announcement,
    async close() {
      recording = undefined;
      await closeGateways();
      await control?.close();
      // Every node is our child (start-node asks us), and stopping is deliberate: none is restarted.
      await cluster.stop();
      rmSync(devStatePath(options.dataDir), { force: true });
    },
  };
}

/** kill-node / start-node as the control endpoint runs them: one request per node at a time. */
function controlActions(cluster: LaunchedCluster, logPath: (node: string) => string): DevControlActions {
  const queues = new Map<string, Promise<unknown>>();
  const serialized = <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const run = (queues.get(name) ?? Promise.resolve()).then(work, work);
    queues.set(name, run.catch(() => undefined));
    return run;
  };
  return {
    nodes: () => cluster.nodes.map((n) => n.name),
    kill: (name) =>
      serialized(name, async (): Promise<ControlAnswer> => {
        const node = cluster.node(name);
        const pid = node.pid ?? null;
        await node.kill('SIGKILL');
        return { node: name, pid };
      }),
    start: (name) =>
      serialized(name, async (): Promise<ControlAnswer> => {
        const node = cluster.node(name);
        if (node.running) return { node: name, pid: node.pid ?? null, already_running: true };
        try {
          await node.start();
        } catch (error) {
          // The node stays wanted, so the supervisor goes on restarting it with backoff; the log says why it fails.
          const reason = error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
          throw new Error(`${reason}; the supervisor keeps restarting it with backoff; see ${logPath(name)}`);
        }
        return { node: name, pid: node.pid ?? null, already_running: false };
      }),
  };
}
