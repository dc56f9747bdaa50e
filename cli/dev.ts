/**
 * `geode dev`: a local cluster (node1..nodeN as child processes, data and
 * configs in the data dir), one or more gateways in this process on the
 * application ports (the first on --front-port, the next ones after it), and
 * dev.json describing them for `geode cluster`.
 *
 * With regions (`--regions us-east-1:3,eu-west-1:3` or `--regions-config`):
 * one cluster per region (launch-regions.ts: nodes `<region>-node<i>`, files
 * under `<data-dir>/<region>/`), every node's config carrying its region and
 * the whole deployment; the gateways list every region, placed in the
 * primary region (with `--wan-latency`, they reach the other regions through
 * the same delay proxies as that region's nodes).
 *
 * This process supervises the nodes: one that exits unasked is restarted
 * with backoff (supervisor.ts), each exit and restart logged to stderr and
 * to the node's log. `geode cluster kill-node/start-node` go through its
 * control endpoint (dev-control.ts), so a node killed that way stays down.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseDocument } from 'yaml';
import { ConfigError, isRegionName, parseRegions, primaryRegion } from '../shared/config/index.js';
import type { RegionDeployment, RegionRole } from '../shared/config/index.js';
import { parseGatewayConfig, startGateway } from '../gateway/index.js';
import type { RunningGateway } from '../gateway/index.js';
import { launchCluster, restartCommand } from './launcher.js';
import type { LaunchedCluster, LaunchedNode, LaunchOptions } from './launcher.js';
import { launchRegions } from './launch-regions.js';
import type { LaunchedRegions } from './launch-regions.js';
import { startDevControl } from './dev-control.js';
import type { ControlAnswer, DevControl, DevControlActions } from './dev-control.js';
import { devStatePath, isAlive, readDevState, writeDevState } from './dev-state.js';
import type { DevNodeState, DevState } from './dev-state.js';
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
  /** One Raft group per region (its `nodeCount` nodes each); absent: one cluster of `nodes` nodes. */
  regions?: RegionDeployment;
  /** With regions: one-way delay in ms between regions, through delay proxies. */
  wanLatencyMs?: number;
}

export interface DevNodeAnnouncement {
  id: string;
  url: string;
}

/** The startup line: `nodes` for one cluster, `regions` (each with its nodes) for a multi-region dev. */
export type DevAnnouncement = ({ nodes: DevNodeAnnouncement[] } | { regions: { name: string; role: RegionRole; nodes: DevNodeAnnouncement[] }[] }) & {
  /** The first gateway: the application URL. */
  gateway: string;
  /** Every gateway, only when more than one runs. */
  gateways?: string[];
};

export interface RunningDev {
  announcement: DevAnnouncement;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const DEV_REGION = 'local';
/**
 * Where `geode dev --regions` places its regions for the gateway's nearest-region routing (the
 * providers' published locations); a region not listed here and without `lat`/`lon` gets 0, 0.
 */
const REGION_COORDINATES: Readonly<Record<string, readonly [number, number]>> = {
  'us-east-1': [38.9, -77.4],
  'us-east-2': [40.0, -83.0],
  'us-west-1': [37.4, -121.9],
  'us-west-2': [45.8, -119.7],
  'ca-central-1': [45.5, -73.6],
  'sa-east-1': [-23.5, -46.6],
  'eu-west-1': [53.3, -6.3],
  'eu-west-2': [51.5, -0.1],
  'eu-west-3': [48.9, 2.4],
  'eu-central-1': [50.1, 8.7],
  'eu-north-1': [59.3, 18.1],
  'ap-south-1': [19.1, 72.9],
  'ap-southeast-1': [1.35, 103.8],
  'ap-southeast-2': [-33.9, 151.2],
  'ap-northeast-1': [35.7, 139.7],
  'ap-northeast-2': [37.6, 127.0],
  'af-south-1': [-33.9, 18.4],
  'me-south-1': [26.1, 50.6],
};
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

function nodeState(node: LaunchedNode, log: string, region: string | undefined): DevNodeState {
  const supervision = node.supervision;
  return {
    name: node.name,
    url: node.url,
    ...(region === undefined ? {} : { region }),
    pid: node.pid ?? null,
    ...restartCommand(node),
    config: node.configPath,
    log,
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

/** What dev runs its gateways, control endpoint and dev.json over: one cluster, or one cluster per region. */
interface DevFleet {
  readonly adminToken: string;
  /** Every node (with regions: region after region). */
  readonly nodes: LaunchedNode[];
  node(name: string): LaunchedNode;
  waitForLeaders(): Promise<void>;
  /** The gateway config's own region and its `regions:`. */
  gatewayRegions(): { region: string; regions: Record<string, { lat: number; lon: number; role: RegionRole; nodes: string[] }> };
  /** What dev.json and the startup line say beyond the nodes. */
  describe(): Pick<DevState, 'regions' | 'wan_latency_ms' | 'links'>;
  announce(): { nodes: DevNodeAnnouncement[] } | { regions: { name: string; role: RegionRole; nodes: DevNodeAnnouncement[] }[] };
  stop(): Promise<void>;
}

function singleFleet(cluster: LaunchedCluster): DevFleet {
  return {
    adminToken: cluster.adminToken,
    get nodes() {
      return cluster.nodes;
    },
    node: (name) => cluster.node(name),
    waitForLeaders: async () => {
      await cluster.waitForLeader({ timeoutMs: 60_000 });
    },
    gatewayRegions: () => ({ region: DEV_REGION, regions: { [DEV_REGION]: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } } }),
    describe: () => ({}),
    announce: () => ({ nodes: cluster.nodes.map((n) => ({ id: n.name, url: n.url })) }),
    stop: () => cluster.stop(),
  };
}

function regionFleet(launched: LaunchedRegions): DevFleet {
  // The gateways sit in the primary region: its nodes directly, the others through that region's proxies.
  const home = primaryRegion(launched.deployment).name;
  return {
    adminToken: launched.adminToken,
    get nodes() {
      return launched.nodes;
    },
    node: (name) => launched.node(name),
    waitForLeaders: async () => {
      await launched.waitForLeaders({ timeoutMs: 60_000 });
    },
    gatewayRegions: () => ({
      region: home,
      regions: Object.fromEntries(
        launched.regions.map((r) => {
          const [lat, lon] = r.spec.lat !== undefined && r.spec.lon !== undefined ? [r.spec.lat, r.spec.lon] : (REGION_COORDINATES[r.name] ?? [0, 0]);
          return [r.name, { lat, lon, role: r.role, nodes: r.cluster.nodes.map((n) => launched.urlFrom(home, n.url)) }];
        }),
      ),
    }),
    describe: () => ({
      regions: launched.regions.map((r) => ({ name: r.name, role: r.role, nodes: r.cluster.nodes.map((n) => n.name) })),
      ...(launched.wanLatencyMs === undefined ? {} : { wan_latency_ms: launched.wanLatencyMs, links: launched.links.map(({ from, node, url }) => ({ from, node, url })) }),
    }),
    announce: () => ({ regions: launched.regions.map((r) => ({ name: r.name, role: r.role, nodes: r.cluster.nodes.map((n) => ({ id: n.name, url: n.url })) })) }),
    stop: () => launched.stop(),
  };
}

/** The region of a node named `<region>-node<i>` among `deployment`'s regions. */
function regionOfNode(deployment: RegionDeployment | undefined, name: string): string | undefined {
  return deployment?.regions.find((r) => name.startsWith(`${r.name}-node`) && /^\d+$/.test(name.slice(r.name.length + 5)))?.name;
}

export async function startDev(options: DevOptions): Promise<RunningDev> {
  const previous = readDevState(options.dataDir);
  if (previous !== undefined && previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new Error(`another geode dev (pid ${previous.pid}) uses ${options.dataDir}`);
  }
  if (options.wanLatencyMs !== undefined && options.regions === undefined) throw new Error('--wan-latency needs regions (--regions or --regions-config)');
  const token = process.env['GEODE_ADMIN_TOKEN'];
  const regionOf = (node: string): string | undefined => regionOfNode(options.regions, node);
  const logPath = (node: string): string => {
    const region = regionOf(node);
    return region === undefined ? join(options.dataDir, `${node}.log`) : join(options.dataDir, region, `${node}.log`);
  };
  const logEvent = supervisionLogger(options.logLevel, logPath);
  // Set once dev.json exists (every event then rewrites it) and cleared on close (no rewrite after removal).
  let recording: (() => void) | undefined;
  const shared: Pick<LaunchOptions, 'logLevel' | 'stdio' | 'clusterId' | 'supervision' | 'adminToken'> = {
    logLevel: options.logLevel,
    stdio: 'file',
    // One name for the deployment: with regions, each region's group reports it too (the region tells them apart).
    clusterId: DEV_CLUSTER_ID,
    // The default restart policy (supervisor.ts): 0.5 s doubling to 30 s, reset after 60 s up.
    supervision: {
      onEvent: (event) => {
        logEvent(event, recording !== undefined);
        recording?.();
      },
    },
    ...(token === undefined || token.length < 16 ? {} : { adminToken: token }),
  };
  const fleet: DevFleet =
    options.regions === undefined
      ? singleFleet(await launchCluster({ ...shared, nodes: options.nodes, dataDir: options.dataDir, basePort: options.basePort }))
      : regionFleet(
          await launchRegions({
            ...shared,
            deployment: options.regions,
            dataDir: options.dataDir,
            basePort: options.basePort,
            ...(options.wanLatencyMs === undefined ? {} : { wanLatencyMs: options.wanLatencyMs }),
          }),
        );
  // Gateways of one dev run share the secret, so a session token from one is accepted by the other.
  const envSecret = process.env['GEODE_SESSION_SECRET'];
  const sessionSecret = envSecret !== undefined && envSecret.length >= 16 ? envSecret : randomBytes(24).toString('hex');
  const gateways: RunningGateway[] = [];
  const closeGateways = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.close()));
  };
  let control: DevControl | undefined;
  try {
    await fleet.waitForLeaders();
    const count = options.gateways ?? 1;
    const { region, regions } = fleet.gatewayRegions();
    for (let i = 0; i < count; i++) {
      const config = parseGatewayConfig(
        {
          listen: `127.0.0.1:${options.frontPort === 0 ? 0 : options.frontPort + i}`,
          region,
          session_secret: sessionSecret,
          admin_token: fleet.adminToken,
          regions,
        },
        'geode dev gateway',
      );
      gateways.push(await startGateway(config));
    }
    await Promise.all(gateways.map((g) => waitUntilReady(g.url, READY_TIMEOUT_MS)));
    control = await startDevControl(controlActions(fleet, logPath), fleet.adminToken);
  } catch (error) {
    await closeGateways();
    await fleet.stop();
    throw error;
  }
  const controlUrl = control.url;
  const urls = gateways.map((g) => g.url);
  const gateway = urls[0]!;
  recording = () =>
    writeDevState(options.dataDir, {
      pid: process.pid,
      gateway,
      ...(urls.length > 1 ? { gateways: urls } : {}),
      admin_token: fleet.adminToken,
      data_dir: options.dataDir,
      control: controlUrl,
      nodes: fleet.nodes.map((n) => nodeState(n, logPath(n.name), regionOf(n.name))),
      ...fleet.describe(),
    });
  recording();
  const announcement: DevAnnouncement = { ...fleet.announce(), gateway };
  if (urls.length > 1) announcement.gateways = urls;
  return {
    announcement,
    async close() {
      recording = undefined;
      await closeGateways();
      await control?.close();
      // Every node is our child (start-node asks us), and stopping is deliberate: none is restarted.
      await fleet.stop();
      rmSync(devStatePath(options.dataDir), { force: true });
    },
  };
}

/** kill-node / start-node as the control endpoint runs them: one request per node at a time. */
function controlActions(cluster: Pick<DevFleet, 'nodes' | 'node'>, logPath: (node: string) => string): DevControlActions {
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

/**
 * `--regions us-east-1:3,eu-west-1:3,ap-southeast-1:2`: the first region is the primary, the others
 * secondaries; `NAME` alone takes `defaultNodes`. Routing is the default (manual failover). Throws a
 * ConfigError naming every bad item.
 */
export function parseRegionsFlag(text: string, defaultNodes: number): RegionDeployment {
  const issues: string[] = [];
  const regions: RegionDeployment['regions'] = [];
  text.split(',').forEach((item, i) => {
    const match = /^([^:]*)(?::(\d+))?$/.exec(item.trim());
    const name = match?.[1] ?? '';
    const count = match?.[2] === undefined ? defaultNodes : Number(match[2]);
    if (match === null || !isRegionName(name)) issues.push(`--regions[${i}]: ${JSON.stringify(item)} is not NAME or NAME:NODES (a region name: letters, digits and '-')`);
    else if (!Number.isSafeInteger(count) || count < 1) issues.push(`--regions[${i}]: ${name} needs at least 1 node`);
    else if (regions.some((r) => r.name === name)) issues.push(`--regions[${i}]: ${name} is given twice`);
    else regions.push({ name, role: i === 0 ? 'primary' : 'secondary', nodes: [], nodeCount: count, replicationMode: 'async', serveReads: true });
  });
  if (issues.length > 0) throw new ConfigError(issues, '--regions');
  // Read back through the config parser: one definition of what a deployment is.
  const checked: string[] = [];
  const deployment = parseRegions({ regions: Object.fromEntries(regions.map((r) => [r.name, { nodes: r.nodeCount, role: r.role }])) }, '', checked);
  if (deployment === undefined) throw new ConfigError(checked, '--regions');
  return deployment;
}

/**
 * `--regions-config FILE`: the seed's `regions:` or `global_deployment:` YAML, with node counts (dev
 * picks the ports, so node URLs are refused). Throws a ConfigError listing every problem.
 */
export function loadDevRegions(path: string): RegionDeployment {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read file: ${error instanceof Error ? error.message : String(error)}`], path);
  }
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) throw new ConfigError(document.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? e.message}`), path);
  const root: unknown = document.toJS({ maxAliasCount: 100 });
  const issues: string[] = [];
  if (typeof root !== 'object' || root === null || Array.isArray(root)) throw new ConfigError(['(top level): expected a mapping with regions: or global_deployment:'], path);
  for (const key of Object.keys(root)) if (key !== 'regions' && key !== 'global_deployment') issues.push(`${key}: unknown key (expected regions: or global_deployment:)`);
  const deployment = parseRegions(root, '', issues);
  if (!('regions' in root) && !('global_deployment' in root)) issues.push('no regions: or global_deployment: in the file');
  const mapPath = 'regions' in root ? 'regions' : 'global_deployment.regions';
  for (const r of deployment?.regions ?? []) {
    if (r.nodes.length > 0) issues.push(`${mapPath}.${r.name}.nodes: geode dev starts the nodes and picks their ports: give a count (nodes: ${r.nodes.length})`);
  }
  if (issues.length > 0 || deployment === undefined) throw new ConfigError(issues, path);
  return deployment;
}
