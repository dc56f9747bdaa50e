/**
 * `geode dev`: a local cluster (node1..nodeN as child processes, data and
 * configs in the data dir), one or more gateways in this process on the
 * application ports (the first on --front-port, the next ones after it), and
 * dev.json describing them for `geode cluster`.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseGatewayConfig, startGateway } from '../gateway/index.js';
import type { RunningGateway } from '../gateway/index.js';
import { launchCluster, restartCommand } from './launcher.js';
import type { LaunchedCluster } from './launcher.js';
import { devStatePath, isAlive, readDevState, writeDevState } from './dev-state.js';

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
const READY_TIMEOUT_MS = 30_000;

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
  const cluster: LaunchedCluster = await launchCluster({
    nodes: options.nodes,
    dataDir: options.dataDir,
    basePort: options.basePort,
    logLevel: options.logLevel,
    stdio: 'file',
    ...(token === undefined || token.length < 16 ? {} : { adminToken: token }),
  });
  // Gateways of one dev run share the secret, so a session token from one is accepted by the other.
  const envSecret = process.env['GEODE_SESSION_SECRET'];
  const sessionSecret = envSecret !== undefined && envSecret.length >= 16 ? envSecret : randomBytes(24).toString('hex');
  const gateways: RunningGateway[] = [];
  const closeGateways = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.close()));
  };
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
  } catch (error) {
    await closeGateways();
    await cluster.stop();
    throw error;
  }
  const urls = gateways.map((g) => g.url);
  const gateway = urls[0]!;
  writeDevState(options.dataDir, {
    pid: process.pid,
    gateway,
    admin_token: cluster.adminToken,
    data_dir: options.dataDir,
    nodes: cluster.nodes.map((n) => ({
      name: n.name,
      url: n.url,
      pid: n.pid ?? null,
      ...restartCommand(n),
      config: n.configPath,
      log: join(options.dataDir, `${n.name}.log`),
    })),
  });
  const announcement: DevAnnouncement = { nodes: cluster.nodes.map((n) => ({ id: n.name, url: n.url })), gateway };
  if (urls.length > 1) announcement.gateways = urls;
  return {
    announcement,
    async close() {
      await closeGateways();
      // Nodes restarted by `geode cluster start-node` are not our children; stop them by pid.
      const state = readDevState(options.dataDir);
      const ours = new Set(cluster.nodes.map((n) => n.pid).filter((p) => p !== undefined));
      const strays = (state?.nodes ?? []).map((n) => n.pid).filter((pid): pid is number => pid !== null && !ours.has(pid) && isAlive(pid));
      for (const pid of strays) process.kill(pid, 'SIGTERM');
      await cluster.stop();
      const until = Date.now() + 5_000;
      while (strays.some(isAlive) && Date.now() < until) await sleep(50);
      for (const pid of strays) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(devStatePath(options.dataDir), { force: true });
    },
  };
}
