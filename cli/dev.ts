/**
 * `geode dev`: a local cluster (node1..nodeN as child processes, data and
 * configs in the data dir), the dev front on the application port, and
 * dev.json describing both for `geode cluster`.
 */
import { join } from 'node:path';
import { launchCluster, restartCommand } from './launcher.js';
import type { LaunchedCluster } from './launcher.js';
import { startDevFront } from './dev-front.js';
import type { DevFront } from './dev-front.js';
import { devStatePath, isAlive, readDevState, writeDevState } from './dev-state.js';
import { rmSync } from 'node:fs';

export interface DevOptions {
  dataDir: string;
  nodes: number;
  basePort: number;
  frontPort: number;
  logLevel: string;
}

export interface RunningDev {
  announcement: { nodes: { id: string; url: string }[]; gateway: string };
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  let front: DevFront | undefined;
  try {
    await cluster.waitForLeader({ timeoutMs: 60_000 });
    // The node list is read on every leader lookup, so nodes restarted by `geode cluster start-node` are found.
    front = await startDevFront({ host: '127.0.0.1', port: options.frontPort, nodeUrls: () => cluster.nodes.map((n) => n.url) });
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  const gateway = front.url;
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
  const openFront = front;
  return {
    announcement: { nodes: cluster.nodes.map((n) => ({ id: n.name, url: n.url })), gateway },
    async close() {
      await openFront.close();
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
