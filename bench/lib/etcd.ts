/**
 * A 3-member etcd cluster on loopback, the peer of bench/raft.ts: distinct
 * data dirs and free ports, health and leader found through etcd's v3
 * HTTP/JSON gateway (`/v3/...`, served by etcd 3.4 beside the older `/v3beta`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../cli/launcher.js';
import { sleep, waitFor } from './run.js';

export interface EtcdMember {
  name: string;
  /** The member's process id while it runs. */
  pid: number | undefined;
  clientUrl: string;
  peerUrl: string;
  logPath: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URL of the current leader. */
  leaderClientUrl(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

interface StatusAnswer {
  header?: { member_id?: string };
  leader?: string;
}

const STOP_GRACE_MS = 5_000;

async function postJson(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(1_000) });
  if (!response.ok) {
    await response.body?.cancel();
    return undefined;
  }
  return response.json();
}

export async function launchEtcd(options: { binary: string; dataDir: string; members?: number; startTimeoutMs?: number }): Promise<EtcdCluster> {
  const count = options.members ?? 3;
  const host = '127.0.0.1';
  const members: EtcdMember[] = [];
  for (let i = 0; i < count; i++) {
    const name = `etcd${i + 1}`;
    members.push({ name, clientUrl: `http://${host}:${await freePort(host)}`, peerUrl: `http://${host}:${await freePort(host)}`, logPath: join(options.dataDir, `${name}.log`), pid: undefined });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const children: ChildProcess[] = [];
  const killAll = (): void => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // etcd must never outlive the benchmark, even when it dies without running its cleanups.
  process.on('exit', killAll);

  for (const member of members) {
    const dataDir = join(options.dataDir, member.name);
    mkdirSync(dataDir, { recursive: true });
    const logFd = openSync(member.logPath, 'a');
    const child = spawn(
      options.binary,
      [
        '--name', member.name,
        '--data-dir', dataDir,
        '--listen-client-urls', member.clientUrl,
        '--advertise-client-urls', member.clientUrl,
        '--listen-peer-urls', member.peerUrl,
        '--initial-advertise-peer-urls', member.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', `geode-bench-${process.pid}`,
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
    closeSync(logFd);
    children.push(child);
    member.pid = child.pid;
  }

  const stop = async (): Promise<void> => {
    const exits = children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    );
    const timer = setTimeout(killAll, STOP_GRACE_MS);
    await Promise.all(exits);
    clearTimeout(timer);
    process.off('exit', killAll);
  };

  const leaderClientUrl = (timeoutMs = 30_000): Promise<string> =>
    waitFor('an etcd leader', timeoutMs, async () => {
      for (const member of members) {
        try {
          const status = (await postJson(`${member.clientUrl}/v3/maintenance/status`, {})) as StatusAnswer | undefined;
          if (status?.leader === undefined || status.leader === '0') continue;
          if (status.header?.member_id === status.leader) return member.clientUrl;
        } catch {
          // Not up yet.
        }
      }
      return undefined;
    }, 100);

  try {
    await waitFor('every etcd member to report healthy', options.startTimeoutMs ?? 30_000, async () => {
      for (const [i, child] of children.entries()) {
        if (child.exitCode !== null || child.signalCode !== null) {
          const member = members[i] as EtcdMember;
          throw new Error(`${member.name} exited during start:\n${readFileSync(member.logPath, 'utf8').slice(-2000)}`);
        }
      }
      const healthy = await Promise.all(
        members.map(async (m) => {
          try {
            const response = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
            const body = (await response.json()) as { health?: unknown };
            return body.health === 'true';
          } catch {
            return false;
          }
        }),
      );
      return healthy.every(Boolean) ? true : undefined;
    }, 200);
  } catch (error) {
    await stop();
    throw error;
  }
  await sleep(0);
  return { members, leaderClientUrl, stop };
}
