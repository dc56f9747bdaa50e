import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { isAlive } from '../../cli/dev-state.js';
import type { DevState } from '../../cli/dev-state.js';
import { freePort, launchCluster } from '../../cli/launcher.js';
import { sleep, until } from '../helpers/http.js';

const GEODE = fileURLToPath(new URL('../../bin/geode.js', import.meta.url));
/** Generous bound: starting tsx and opening SQLite on a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000;

interface Announcement {
  nodes?: { id: string; url: string }[];
  gateway?: string;
  gateways?: string[];
}

interface Started {
  child: ChildProcess;
  nodes: { id: string; url: string }[];
  gateway: string | undefined;
  gateways: string[] | undefined;
  stderr: () => string;
}

function run(args: string[], env: Record<string, string> = {}): { child: ChildProcess; exit: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, [GEODE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exit };
}

/** Spawns `geode ...args` and waits for its JSON startup line (`{"nodes": [...]}`, `{"gateway": url}`). */
async function start(t: Test, args: string[], env: Record<string, string> = {}): Promise<Started & { exit: ReturnType<typeof run>['exit'] }> {
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
async function query(url: string, query: string, params?: Record<string, unknown>, session?: string) {
  const response = await fetch(`${url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session === undefined ? {} : { 'geode-session': session }) },
    body: JSON.stringify(params === undefined ? { query } : { query, params }),
  });
  return {
    status: response.status,
    session: response.headers.get('geode-session') ?? undefined,
    body: (await response.json()) as { rows: Record<string, unknown>[]; meta?: { node?: string } },
  };
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Free ports found by binding port 0; consecutive ones are not guaranteed, so each is probed. */
async function freePorts(count: number): Promise<number[]> {
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
async function freeRun(count: number): Promise<number> {
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

interface StatusBody {
  leader: string | null;
  leader_url: string | null;
  commit_index: number;
  nodes: { id: string }[];
}

async function waitForLeaderAt(urls: string[]): Promise<StatusBody> {
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

function runToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, exit } = run(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return exit.then(({ code }) => ({ code, stdout, stderr }));
}

t.test("the seed's three-node YAML on loopback, started as three geode node processes, forms a cluster", async (t) => {
  const dir = tempDir(t);
  const ports = await freePorts(3);
  const names = ['node1', 'node2', 'node3'];
  const peer = (i: number): string => `${names[i]}@127.0.0.1:${ports[i]}`;
  const section = (i: number, role: string, quorum: boolean): string[] => [
    `${names[i]}:`,
    `  role: ${role}`,
    `  listen: 127.0.0.1:${ports[i]}`,
    '  cluster_peers:',
    ...[0, 1, 2].filter((j) => j !== i).map((j) => `    - ${peer(j)}`),
    '  replication_mode: synchronous',
    ...(quorum ? ['  quorum_size: 2'] : []),
    `  data_dir: ${names[i]}`,
    '',
  ];
  const config = join(dir, 'seed.yaml');
  writeFileSync(config, ['# Primary node', ...section(0, 'primary', true), '# Standby nodes', ...section(1, 'standby', false), ...section(2, 'standby', false)].join('\n'));
  // The seed's file has no cluster_secret; the environment supplies it.
  const env = { GEODE_CLUSTER_SECRET: 'a-loopback-test-secret-0123456789' };
  const started = await Promise.all(names.map((name) => start(t, ['node', '--config', config, '--id', name, '--log-level', 'warn'], env)));
  t.same(
    started.map((s) => s.nodes),
    names.map((id, i) => [{ id, url: `http://127.0.0.1:${ports[i]}` }]),
  );
  const status = await waitForLeaderAt(started.map((s) => s.nodes[0]!.url));
  t.same(status.nodes.map((n) => n.id).sort(), names);
  const leaderUrl = status.leader_url!;
  t.equal((await query(leaderUrl, 'CREATE (n:Node {id: $id})', { id: 1 })).status, 200);
  t.same((await query(leaderUrl, 'MATCH (n:Node) RETURN count(n) AS total')).body.rows, [{ total: 1 }]);
  const follower = started.map((s) => s.nodes[0]!.url).find((u) => u !== leaderUrl)!;
  const refused = await query(follower, 'CREATE (n:Node {id: 2})');
  t.equal(refused.status, 421, 'a follower refuses writes with NOT_LEADER');
  for (const s of started) s.child.kill('SIGTERM');
  for (const s of started) t.same(await s.exit, { code: 0, signal: null }, s.stderr());
});

t.test('geode dev runs a cluster and two gateways; geode cluster commands work against it; SIGINT stops it all', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const basePort = await freeRun(3);
  let frontPort = await freeRun(2);
  // The two runs are only probed, not held: keep them apart.
  while (Math.abs(frontPort - basePort) < 3) frontPort = await freeRun(2);
  const { child, nodes, gateway, gateways, exit, stderr } = await start(t, [
    'dev', '--data-dir', dataDir, '--base-port', String(basePort), '--front-port', String(frontPort), '--gateways', '2', '--log-level', 'warn',
  ]);
  t.same(
    nodes,
    [1, 2, 3].map((i) => ({ id: `node${i}`, url: `http://127.0.0.1:${basePort + i - 1}` })),
  );
  t.equal(gateway, `http://127.0.0.1:${frontPort}`, 'the first gateway is on --front-port');
  t.same(gateways, [`http://127.0.0.1:${frontPort}`, `http://127.0.0.1:${frontPort + 1}`], 'the second gateway is on the next port');
  const devState = JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as { gateway: string; nodes: { name: string; pid: number; config: string }[] };
  t.same(devState.nodes.map((n) => n.name), ['node1', 'node2', 'node3']);
  t.equal(devState.gateway, gateway);
  t.ok(devState.nodes.every((n) => existsSync(n.config) && n.pid > 0), 'dev.json has configs and pids');
  const health = (await (await fetch(`${gateway!}/healthz`)).json()) as { gateway?: boolean };
  t.equal(health.gateway, true, 'the real gateway answers on the front port');

  // The README's curl, through the first gateway; the read goes through the second with the session token.
  const created = await query(gateway!, 'CREATE (n:Node {id: $id})', { id: 1 });
  t.equal(created.status, 200);
  t.type(created.session, 'string', 'the gateway returns a session token');
  const counted = await query(gateways![1]!, 'MATCH (n:Node) RETURN COUNT(n) AS total', undefined, created.session);
  t.equal(counted.status, 200, 'the second gateway accepts the first one\'s token (same secret)');
  t.same(counted.body.rows, [{ total: 1 }], 'read-your-writes across the two gateways');

  const cluster = (args: string[]) => runToEnd(['cluster', ...args, '--data-dir', dataDir]);
  const primary = await cluster(['primary']);
  t.equal(primary.code, 0, primary.stderr);
  t.match(primary.stdout, /^node[123]\n$/);
  const status = await cluster(['status', '--json']);
  t.equal(status.code, 0, status.stderr);
  const body = JSON.parse(status.stdout) as StatusBody;
  t.equal(body.leader, primary.stdout.trim());
  t.equal(body.nodes.length, 3);
  const table = await cluster(['status']);
  t.match(table.stdout, /NODE\s+ROLE[\s\S]*node1[\s\S]*node2[\s\S]*node3/);
  const healthy = await cluster(['health']);
  t.equal(healthy.code, 0, healthy.stdout);
  const verify = await cluster(['verify-data']);
  t.equal(verify.code, 0, verify.stdout + verify.stderr);
  t.match(verify.stdout, /data consistent on 3 nodes/);

  child.kill('SIGINT');
  t.same(await exit, { code: 0, signal: null }, stderr());
  t.notOk(existsSync(join(dataDir, 'dev.json')), 'dev.json removed on a clean stop');
  for (const n of devState.nodes) t.throws(() => process.kill(n.pid, 0), 'node process is gone');
});

async function statusAt(url: string): Promise<(StatusBody & { applied_index: number; cluster_id: string }) | undefined> {
  try {
    const response = await fetch(`${url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(1_000) });
    return response.ok ? ((await response.json()) as StatusBody & { applied_index: number; cluster_id: string }) : undefined;
  } catch {
    return undefined;
  }
}

const devJson = (dataDir: string): DevState => JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as DevState;

/** `geode dev` at --log-level info on free ports, with its dev.json read once it is up, and the leader's name. */
async function startDev(t: Test) {
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
async function stopDev(t: Test, dev: Awaited<ReturnType<typeof startDev>>): Promise<void> {
  const last = devJson(dev.dataDir).nodes.map((n) => n.pid);
  const restartsLogged = (dev.stderr().match(/ restarted \(pid/g) ?? []).length;
  dev.child.kill('SIGINT');
  t.same(await dev.exit, { code: 0, signal: null }, dev.stderr());
  t.notOk(existsSync(join(dev.dataDir, 'dev.json')), 'dev.json removed');
  for (const pid of last) t.notOk(isAlive(pid), `node process ${String(pid)} is gone`);
  t.equal((dev.stderr().match(/ restarted \(pid/g) ?? []).length, restartsLogged, 'no restart during shutdown');
}

t.test('geode dev restarts a node killed from outside; it rejoins, and dev.json, status and the logs show the restart', async (t) => {
  const dev = await startDev(t);
  const { gateway, stderr, dataDir, before, leaderName, leader, cluster } = dev;
  t.equal((await statusAt(leader.url))?.cluster_id, 'dev', 'dev names its cluster in the node configs');

  // A follower dies from outside (not through kill-node): the supervisor starts it again.
  const victim = before.nodes.find((n) => n.name !== leaderName)!;
  process.kill(victim.pid!, 'SIGKILL');
  const created = await query(gateway!, 'CREATE (n:WhileDown {id: 1})');
  t.equal(created.status, 200, 'the other two commit a write meanwhile');
  const back = await until(`${victim.name} restarted`, () => {
    const n = devJson(dataDir).nodes.find((x) => x.name === victim.name);
    return n !== undefined && n.state === 'running' && n.pid !== null && n.pid !== victim.pid ? n : undefined;
  }, 30_000);
  t.ok(isAlive(back.pid), 'a new process runs');
  t.notOk(isAlive(victim.pid), 'the old one is gone');
  t.equal(back.restarts, 1, 'dev.json counts one restart');
  t.match(back.last_exit, { code: null, signal: 'SIGKILL', at: /^\d{4}-/ }, 'and records the exit');
  t.same(
    devJson(dataDir).nodes.filter((n) => n.name !== victim.name).map((n) => n.restarts),
    [0, 0],
    'the others were not restarted',
  );
  // until() counts a refused connection as not yet.
  await until(`${victim.name} answers /healthz`, async () => ((await fetch(`${victim.url}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok ? true : undefined), 30_000);
  const commit = (await statusAt(leader.url))!.commit_index;
  const applied = await until(`${victim.name} applies the leader's commit ${commit}`, async () => {
    const own = await statusAt(victim.url);
    return own !== undefined && own.applied_index >= commit ? own.applied_index : undefined;
  }, 30_000);
  t.ok(applied >= commit, `rejoined: applied ${applied} >= commit ${commit}`);
  const [shownJson, table] = await Promise.all([cluster(['status', '--json']), cluster(['status'])]);
  t.equal(shownJson.code, 0, shownJson.stderr);
  const shown = JSON.parse(shownJson.stdout) as { cluster_id: string; nodes: { id: string; restarts?: number; process_state?: string }[] };
  t.equal(shown.cluster_id, 'dev');
  t.same(
    Object.fromEntries(shown.nodes.map((n) => [n.id, [n.restarts, n.process_state]])),
    Object.fromEntries(before.nodes.map((n) => [n.name, [n.name === victim.name ? 1 : 0, 'running']])),
    'status --json shows restarts per node',
  );
  t.match(table.stdout, /NODE\s+ROLE\s+STATUS\s+LAG_MS\s+APPLIED\s+MATCH\s+PROCESS\s+RESTARTS\s+URL/);
  t.match(table.stdout, new RegExp(`\\n${victim.name}\\s.*\\srunning\\s+1\\s+http`), 'the table shows the restart');
  t.match(table.stdout, `last exit of ${victim.name}: signal SIGKILL`);
  const exitLine = new RegExp(`${victim.name} exited unexpectedly \\(signal SIGKILL\\) after [\\d.]+ s; restart 1 in 500 ms`);
  const restartLine = new RegExp(`${victim.name} restarted \\(pid ${back.pid}; attempt 1, 1 restart in all\\)`);
  t.match(stderr(), exitLine, "dev's stderr logs the exit");
  t.match(stderr(), restartLine, "dev's stderr logs the restart");
  const nodeLog = readFileSync(victim.log, 'utf8');
  t.match(nodeLog, exitLine, "the node's log has the exit");
  t.match(nodeLog, restartLine, "the node's log has the restart");
  await stopDev(t, dev);
});

t.test("geode cluster kill-node keeps a dev node down until start-node (the seed's failover test)", async (t) => {
  const dev = await startDev(t);
  const { dataDir, before, leaderName, leader, cluster } = dev;
  const killedAt = Date.now();
  const killed = await cluster(['kill-node', leaderName]);
  t.equal(killed.code, 0, killed.stderr);
  t.equal(killed.stdout, `killed ${leaderName}\n`);
  t.notOk(isAlive(leader.pid), 'the primary process is gone');
  const survivors = before.nodes.filter((n) => n.name !== leaderName);
  const newLeader = await until('failover', async () => {
    for (const n of survivors) {
      const seen = await statusAt(n.url);
      if (seen?.leader !== undefined && seen.leader !== null && seen.leader !== leaderName) return seen.leader;
    }
    return undefined;
  }, 30_000);
  t.not(newLeader, leaderName, `failover to ${newLeader}`);
  // Twice the first two backoff delays together (0.5 s + 1 s): a supervised crash would be back by now.
  await sleep(killedAt + 3_000 - Date.now());
  const down = devJson(dataDir).nodes.find((n) => n.name === leaderName)!;
  t.match(down, { state: 'stopped', pid: null, restarts: 0, last_exit: { signal: 'SIGKILL' } }, 'kill-node keeps it down');
  t.equal(await statusAt(leader.url), undefined, 'nothing answers on its port');
  const started = await cluster(['start-node', leaderName]);
  t.equal(started.code, 0, started.stderr);
  t.match(started.stdout, new RegExp(`^started ${leaderName} \\(pid \\d+\\)\\n$`));
  const synced = await cluster(['wait-sync', leaderName]);
  t.equal(synced.code, 0, synced.stderr);
  const again = devJson(dataDir).nodes.find((n) => n.name === leaderName)!;
  t.match(again, { state: 'running', restarts: 0 }, 'start-node is a deliberate start, not a restart');
  t.ok(isAlive(again.pid), 'its new process runs');
  t.match(dev.stderr(), `${leaderName} stopped on request`, 'dev logs the deliberate stop');
  t.notMatch(dev.stderr(), `${leaderName} exited unexpectedly`, 'and does not take it for a crash');
  await stopDev(t, dev);
});

t.test('geode gateway --config serves writes and reads in front of a launched cluster, alone and with workers', async (t) => {
  const dir = tempDir(t);
  const launched = await launchCluster({ nodes: 3, dataDir: join(dir, 'cluster') });
  t.teardown(() => launched.stop());
  await launched.waitForLeader({ timeoutMs: START_TIMEOUT_MS });
  const config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    [
      'listen: 127.0.0.1:0',
      'region: here',
      'session_secret: a-gateway-test-secret-0123456789',
      'regions:',
      `  here: {lat: 0, lon: 0, role: primary, nodes: [${launched.nodes.map((n) => n.url).join(', ')}]}`,
      '',
    ].join('\n'),
  );

  for (const [label, extra, id] of [['one process', [], 1], ['two workers', ['--workers', '2'], 2]] as const) {
    const { child, nodes, gateway, exit, stderr } = await start(t, ['gateway', '--config', config, '--log-level', 'warn', ...extra]);
    t.same(nodes, [], `${label}: the startup line has no nodes`);
    t.match(gateway, /^http:\/\/127\.0\.0\.1:\d+$/, `${label}: the startup line is {"gateway": url}`);
    // The topology learns the leader shortly after listening; a write in that window is held, not failed.
    const created = await query(gateway!, 'CREATE (n:Gw {id: $id})', { id });
    t.equal(created.status, 200, `${label}: write through the gateway; ${JSON.stringify(created.body)}`);
    const read = await query(gateway!, 'MATCH (n:Gw {id: $id}) RETURN n.id AS id', { id }, created.session);
    t.equal(read.status, 200, `${label}: read through the gateway`);
    t.same(read.body.rows, [{ id }], `${label}: the read sees the write`);
    child.kill('SIGTERM');
    t.same(await exit, { code: 0, signal: null }, `${label}: SIGTERM exits 0; ${stderr()}`);
  }
  const missing = await runToEnd(['gateway']);
  t.equal(missing.code, 2, 'gateway without --config is a usage error');
  writeFileSync(config, 'listen: 127.0.0.1:0\nregions: {}\n');
  const bad = await runToEnd(['gateway', '--config', config]);
  t.equal(bad.code, 2, 'a bad gateway config exits 2');
  t.match(bad.stderr, /regions: required/);
});

t.test('geode node --config runs a lone node on a free port and exits 0 on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'node.yaml');
  writeFileSync(config, ['node1:', '  role: primary', '  listen: 127.0.0.1:0', '  data_dir: state', '  region: us-east-1', ''].join('\n'));
  const { child, nodes, exit, stderr } = await start(t, ['node', '--config', config, '--log-level', 'warn']);
  const url = nodes[0]!.url;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(await (await fetch(`${url}/healthz`)).json(), { status: 'ok', node: 'node1', region: 'us-east-1' });
  const status = await waitForLeaderAt([url]);
  t.equal(status.leader_url, url, 'the node advertises its real port');
  t.equal((await query(url, 'CREATE (n:Node {id: 1})')).status, 200);
  t.same((await query(url, 'MATCH (n:Node) RETURN n.id AS id')).body.rows, [{ id: 1 }]);
  t.ok(existsSync(join(dir, 'state', 'graph.db')), 'data_dir resolved against the config file');
  child.kill('SIGTERM');
  t.same(await exit, { code: 0, signal: null }, stderr());
});

t.test('geode node refuses a bad config with the key path and exit 2', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'node.yaml');
  writeFileSync(config, 'node1:\n  listen: 127.0.0.1:0\n  replcation_mode: synchronous\n');
  const { child, exit } = run(['node', '--config', config]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.equal((await exit).code, 2);
  t.match(stderr, /node1\.replcation_mode: unknown key/);
});

t.test('geode node --check validates a config: a summary and exit 0, or every problem at once and exit 2', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'node1:\n  listen: 127.0.0.1:0\n  cluster_id: orders\n  query_memory_limit: 1GiB\n');
  const ok = await runToEnd(['node', '--config', good, '--check']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `${good}: valid (node node1, cluster orders, 1 member, synchronous, query_memory_limit 1GiB)\n`);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'node1:\n  listen: 127.0.0.1:0\n  cluster_id: "two words"\n  query_memory_limit: 512KB\n  heartbeat_ms: 0\n');
  const refused = await runToEnd(['node', '--config', bad, '--check']);
  t.equal(refused.code, 2);
  t.equal(refused.stdout, '', 'no summary for a bad config');
  t.match(refused.stderr, /node1\.heartbeat_ms: 0 is below the minimum of 2ms/);
  t.match(refused.stderr, /node1\.cluster_id: expected a cluster id/);
  t.match(refused.stderr, /node1\.query_memory_limit: 512KB is below the minimum of 1MiB/);
  t.notOk(existsSync(join(dir, 'data')), 'nothing was started or created');
});

t.test('an unknown command exits 2 with usage; --help exits 0', async (t) => {
  const unknown = run(['frobnicate']);
  let stderr = '';
  unknown.child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.equal((await unknown.exit).code, 2);
  t.match(stderr, /unknown command: frobnicate[\s\S]*Usage: geode/);

  const help = run(['--help']);
  let stdout = '';
  help.child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  t.equal((await help.exit).code, 0);
  t.match(stdout, /Usage: geode <command>/);

  const badOption = run(['dev', '--prot', '1']);
  t.equal((await badOption.exit).code, 2);
});
