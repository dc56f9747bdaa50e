/** What the geode CLI process tests share: spawning `geode`, temp dirs, free ports, statuses, a dev run. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { isAlive } from '../../cli/dev-state.js';
import type { DevState } from '../../cli/dev-state.js';
import { freePort } from '../../cli/launcher.js';
import { until } from '../helpers/http.js';

export const GEODE = fileURLToPath(new URL('../../bin/geode.js', import.meta.url));
/** Generous bound: starting tsx and opening SQLite on a loaded 2-core machine. */
export const START_TIMEOUT_MS = 60_000;

export interface Announcement {
  nodes?: { id: string; url: string }[];
  gateway?: string;
  gateways?: string[];
}

export interface Started {
  child: ChildProcess;
  nodes: { id: string; url: string }[];
  gateway: string | undefined;
  gateways: string[] | undefined;
  stderr: () => string;
}

export function run(args: string[], env: Record<string, string> = {}): { child: ChildProcess; exit: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [GEODE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exit };
}

/** Spawns `geode ...args` and waits for its JSON startup line (`{"nodes": [...]}`, `{"gateway": url}`). */
export async function start(t: Test, args: string[], env: Record<string, string> = {}): Promise<Started & { exit: ReturnType<typeof run>['exit'] }> {
  const { child, exit } = run(args, env);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const announced = await new Promise<Announcement>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line; stderr:\n${stderr}`)), START_TIMEOUT_MS);
    lines.on('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Announcement);
      } catch {
        reject(new Error(`startup line is not JSON: ${line}`));
      }
    });
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before starting; stderr:\n${stderr}`));
    });
  });
  return { child, nodes: announced.nodes ?? [], gateway: announced.gateway, gateways: announced.gateways, stderr: () => stderr, exit };
}

/** POST /v1/query; `session` is the gateway's `geode-session` token, sent back for read-your-writes. */
/** `extra`: more body fields (`request_id`, `consistency`, ...). */
export async function query(url: string, query: string, params?: Record<string, unknown>, session?: string, extra: Record<string, unknown> = {}) {
  const response = await fetch(`${url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session === undefined ? {} : { 'geode-session': session }) },
    body: JSON.stringify({ ...(params === undefined ? { query } : { query, params }), ...extra }),
  });
  return {
    status: response.status,
    session: response.headers.get('geode-session') ?? undefined,
    body: (await response.json()) as { rows: Record<string, unknown>[]; meta?: { node?: string } },
  };
}

export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Free ports found by binding port 0; consecutive ones are not guaranteed, so each is probed. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort('127.0.0.1');
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

/**
 * A base port whose next `count` ports are free right now, below the ephemeral range (32768 and up on
 * Linux) so that no outgoing connection of a test running alongside takes one before it is bound.
 */
export async function freeRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        new Promise<boolean>((resolve) => {
          const server = createServer();
          server.once('error', () => resolve(false));
          server.listen({ host: '127.0.0.1', port: base + i }, () => server.close(() => resolve(true)));
        }),
      ),
    );
    if (free.every(Boolean)) return base;
  }
  throw new Error('no run of free ports');
}

export interface StatusBody {
  leader: string | null;
  leader_url: string | null;
  commit_index: number;
  nodes: { id: string }[];
}

export async function waitForLeaderAt(urls: string[]): Promise<StatusBody> {
  const until = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < until) {
    for (const url of urls) {
      try {
        const status = (await (await fetch(`${url}/api/v1/cluster/status`)).json()) as StatusBody;
        if (status.leader_url !== null) return status;
      } catch {
        // not up yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no leader elected');
}

export function runToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, exit } = run(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return exit.then(({ code }) => ({ code, stdout, stderr }));
}


export async function statusAt(url: string): Promise<(StatusBody & { applied_index: number; cluster_id: string }) | undefined> {
  try {
    const response = await fetch(`${url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(1_000) });
    return response.ok ? ((await response.json()) as StatusBody & { applied_index: number; cluster_id: string }) : undefined;
  } catch {
    return undefined;
  }
}

export const devJson = (dataDir: string): DevState => JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as DevState;

/** `geode dev` at --log-level info on free ports, with its dev.json read once it is up, and the leader's name. */
export async function startDev(t: Test) {
  const dataDir = join(tempDir(t), 'data');
  const basePort = await freeRun(3);
  const started = await start(t, ['dev', '--data-dir', dataDir, '--base-port', String(basePort), '--front-port', '0', '--log-level', 'info']);
  const before = devJson(dataDir);
  t.match(before.control, /^http:\/\/127\.0\.0\.1:\d+$/, 'dev.json names the control endpoint');
  t.same(
    before.nodes.map((n) => [n.name, n.state, n.restarts, n.last_exit]),
    ['node1', 'node2', 'node3'].map((name) => [name, 'running', 0, null]),
    'every node runs, none restarted yet',
  );
  const leaderName = (await waitForLeaderAt(before.nodes.map((n) => n.url))).leader!;
  const leader = before.nodes.find((n) => n.name === leaderName)!;
  const cluster = (args: string[]) => runToEnd(['cluster', ...args, '--data-dir', dataDir]);
  return { ...started, dataDir, before, leaderName, leader, cluster };
}

/** Ctrl-C: dev exits 0, removes dev.json, and every node process is gone, with no restart on the way out. */
export async function stopDev(t: Test, dev: Awaited<ReturnType<typeof startDev>>): Promise<void> {
  const last = devJson(dev.dataDir).nodes.map((n) => n.pid);
  const restartsLogged = (dev.stderr().match(/ restarted \(pid/g) ?? []).length;
  dev.child.kill('SIGINT');
  t.same(await dev.exit, { code: 0, signal: null }, dev.stderr());
  t.notOk(existsSync(join(dev.dataDir, 'dev.json')), 'dev.json removed');
  for (const pid of last) t.notOk(isAlive(pid), `node process ${String(pid)} is gone`);
  t.equal((dev.stderr().match(/ restarted \(pid/g) ?? []).length, restartsLogged, 'no restart during shutdown');
}

