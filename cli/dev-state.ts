/**
 * `<data-dir>/dev.json`: what `geode dev` started, so `geode cluster
 * kill-node/start-node` can reach its control endpoint (dev-control.ts), the
 * other cluster commands find its nodes and admin token, and `status` shows
 * the supervisor's view of each node. Only the dev process writes it: it is
 * rewritten on every supervision event (an exit, a restart, a deliberate
 * stop or start).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RegionRole } from '../shared/config/regions.js';
import type { ProcessExit, ProcessState } from './supervisor.js';

export interface DevNodeState {
  name: string;
  url: string;
  /** With regions: the node's region. */
  region?: string;
  /** null while the node is not running. */
  pid: number | null;
  command: string;
  args: string[];
  config: string;
  log: string;
  /** running; restarting (exited unasked, restart scheduled at next_restart_at); stopped (by kill-node, until start-node). */
  state: ProcessState;
  /** Restarts the supervisor made since `geode dev` started. */
  restarts: number;
  last_exit: ProcessExit | null;
  next_restart_at: string | null;
}

/** A region of a multi-region `geode dev`: its role and its nodes' names (their entries are in `nodes`). */
export interface DevRegionState {
  name: string;
  role: RegionRole;
  nodes: string[];
}

export interface DevState {
  /** The `geode dev` process; restarted nodes stop when it is gone. */
  pid: number;
  gateway: string;
  /** Every gateway, when more than one runs. */
  gateways?: string[];
  admin_token: string;
  data_dir: string;
  /** URL of the dev process's control endpoint (kill-node, start-node); its token is admin_token. */
  control: string;
  /** Every node (with regions: every region's). */
  nodes: DevNodeState[];
  /** With regions (`geode dev --regions`): each region, the primary first as configured. */
  regions?: DevRegionState[];
  /** With `--wan-latency`: the one-way delay between regions, and the delay proxies (region `from` reaches `node` at `url`). */
  wan_latency_ms?: number;
  links?: { from: string; node: string; url: string }[];
}

export const DEV_STATE_FILE = 'dev.json';

export function devStatePath(dataDir: string): string {
  return join(dataDir, DEV_STATE_FILE);
}

export function readDevState(dataDir: string): DevState | undefined {
  try {
    const state = JSON.parse(readFileSync(devStatePath(dataDir), 'utf8')) as DevState;
    return Array.isArray(state.nodes) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Atomic replace, so a concurrent reader never sees half a file. */
export function writeDevState(dataDir: string, state: DevState): void {
  const path = devStatePath(dataDir);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, path);
}

export function isAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
