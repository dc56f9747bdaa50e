/**
 * What the gateway costs on the read path: one storage node with 10k indexed
 * :User nodes, and autocannon (same connections, same duration) sending
 * `POST /v1/query` with an indexed point read (a) straight to the node, (b)
 * through `geode gateway`, (c) through HAProxy 2.6 in http mode with
 * keep-alive to the node and as many threads as the gateway has workers.
 * Then, at a fixed 1,000 requests/s, the gateway's added p50 over the direct path: with arrivals evenly
 * paced (the headline, `gateway_added_p50_ms`) and in autocannon's aligned bursts (`..._bursts`).
 *
 * The gateway runs with its read-your-writes default (every read carries the highest write index it
 * acknowledged as `after_index`; writes go through it before the reads are measured, so it has one).
 * What that default costs (`read_your_writes`): a second gateway with `read_your_writes: false` takes
 * its turn in the saturated slices, and on a 3-node cluster, with writes flowing through each of two
 * single-worker gateways (on and off, alternating slices), a read of each write right after it and a
 * steady stream of point reads are timed, and stale read-after-writes counted.
 *
 *   npm run bench:gateway -- [--json] [--duration S] [--warmup S] [--connections N]
 *                             [--users N] [--rate R] [--rate-duration S] [--rate-connections N] [--workers N] [--slices N]
 *                             [--ryw-duration S] [--ryw-read-rate R] [--ryw-write-rate W]
 *
 * The saturated runs are cut into --slices slices (default 5), the targets taking turns, so drifting
 * machine load falls on all three alike; the fixed-rate runs alternate direct and gateway the same way.
 *
 * --workers (gateway workers, and HAProxy's nbthread) defaults to the machine's available parallelism:
 * HAProxy 2.6 itself starts one thread per CPU unless told otherwise, and the issue lets the gateway use
 * every core on the condition that HAProxy gets as many threads. `--workers 1` compares one thread each.
 *
 * Targets: ratio_vs_haproxy = gateway rps / haproxy rps >= 1.0 (read-your-writes on); gateway_added_p50_ms <= 0.5.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { EventEmitter } from 'node:events';
import { freePort, GEODE_BIN, launchCluster } from '../cli/launcher.js';
import { cpuMs, ownCpuMs } from './lib/cpu.js';
import { findBinary, loadAverage, runBench, sleep, waitFor } from './lib/run.js';
import type { BenchContext } from './lib/run.js';
import { LatencyRecorder, round } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    users: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1000' },
    'rate-duration': { type: 'string', default: '10' },
    'rate-connections': { type: 'string', default: '10' },
    workers: { type: 'string', default: String(availableParallelism()) },
    slices: { type: 'string', default: '5' },
    'ryw-duration': { type: 'string', default: '10' },
    'ryw-read-rate': { type: 'string', default: '500' },
    'ryw-write-rate': { type: 'string', default: '100' },
  },
});
const DURATION_S = Number(flags.duration);
const WARMUP_S = Number(flags.warmup);
const CONNECTIONS = Number(flags.connections);
const USERS = Number(flags.users);
const RATE = Number(flags.rate);
const RATE_DURATION_S = Number(flags['rate-duration']);
const WORKERS = Number(flags.workers);
const RATE_CONNECTIONS = Number(flags['rate-connections']);
const SLICES = Number(flags.slices);
const RYW_DURATION_S = Number(flags['ryw-duration']);
const RYW_READ_RATE = Number(flags['ryw-read-rate']);
const RYW_WRITE_RATE = Number(flags['ryw-write-rate']);
const positiveInt = (n: number): boolean => Number.isInteger(n) && n > 0;
if (
  ![DURATION_S, CONNECTIONS, USERS, RATE, RATE_DURATION_S, RATE_CONNECTIONS, WORKERS, SLICES, RYW_READ_RATE, RYW_WRITE_RATE].every(positiveInt) ||
  ![WARMUP_S, RYW_DURATION_S].every((n) => Number.isInteger(n) && n >= 0)
) {
  process.stderr.write(
    'usage: bench/gateway.ts [--json] [--duration S] [--warmup S] [--connections N] [--users N] [--rate R] [--rate-duration S] [--rate-connections N] [--workers N] [--slices N] [--ryw-duration S] [--ryw-read-rate R] [--ryw-write-rate W]\n',
  );
  process.exit(64);
}

const HAPROXY_HINT = 'apt-get update && apt-get install -y haproxy';
// Debian installs it in /usr/sbin, which is not on every user's PATH.
const HAPROXY = findBinary('haproxy') ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : undefined);
if (HAPROXY === undefined) {
  process.stderr.write(`haproxy not found; it is this benchmark's peer (HAProxy 2.6 from Debian). Install it with:\n  ${HAPROXY_HINT}\n`);
  process.exit(2);
}

// autocannon ships no types: the part of its API used here.
interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  timeout: number;
  overallRate?: number;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type AutocannonRun = EventEmitter & PromiseLike<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => AutocannonRun;

const POINT_READ = 'MATCH (u:User {email: $e}) RETURN u.name';
const PROBE_ID = Math.floor(USERS / 2);
const BODY = JSON.stringify({ query: POINT_READ, params: { e: `user${PROBE_ID}@example.com` } });
const EXPECTED_NAME = `User ${PROBE_ID}`;
const BATCH = 2_000;
/** Writes acknowledged through each gateway before its reads are measured, each on a connection of its own (so every worker gets some). */
const ACK_WRITES = 16;

interface Measured {
  requests_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  requests: number;
  non_2xx: number;
  errors: number;
  /** CPU time (user + system) per answered request: the storage node's and the proxy's (gateway or haproxy). */
  cpu_ms_per_request?: { node: number | null; proxy?: number | null; client?: number | null };
}

/** One autocannon run; latencies of 2xx answers recorded at full precision (autocannon's histogram keeps whole ms). */
async function load(url: string, seconds: number, connections: number, overallRate?: number, into = new LatencyRecorder()): Promise<{ latencies: LatencyRecorder; result: AutocannonResult }> {
  const run = autocannon({
    url: `${url}/v1/query`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections,
    duration: seconds,
    timeout: 10,
    ...(overallRate === undefined ? {} : { overallRate }),
  });
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) into.record(ms);
  });
  const result = await run;
  return { latencies: into, result };
}

/**
 * Open-loop load at a fixed rate: request i is sent at start + i * 1000/rate ms (timers wake about
 * every millisecond; whatever is due by then is sent), over a keep-alive pool of `connections`.
 * Latency runs from the send, so time spent waiting for a free connection counts.
 */
async function evenlyPaced(url: string, seconds: number, rate: number, connections: number, into: LatencyRecorder): Promise<AutocannonResult> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const intervalMs = 1000 / rate;
  const total = Math.round(seconds * rate);
  const result: AutocannonResult = { errors: 0, timeouts: 0, non2xx: 0, duration: 0 };
  const inflight = new Set<Promise<void>>();
  const send = (): void => {
    const sentAt = performance.now();
    const done = pool
      .request({ path: '/v1/query', method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY, headersTimeout: 10_000, bodyTimeout: 10_000 })
      .then(async (response) => {
        await response.body.text();
        if (response.statusCode >= 200 && response.statusCode < 300) into.record(performance.now() - sentAt);
        else result.non2xx++;
      })
      .catch(() => {
        result.errors++;
      })
      .finally(() => inflight.delete(done));
    inflight.add(done);
  };
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    while (sent < total && start + sent * intervalMs <= performance.now()) {
      send();
      sent++;
    }
    if (sent < total) await sleep(Math.max(0, start + sent * intervalMs - performance.now()));
  }
  await Promise.all(inflight);
  result.duration = (performance.now() - start) / 1000;
  await pool.close();
  return result;
}

function summarize(latencies: LatencyRecorder, results: AutocannonResult[], seconds: number): Measured {
  const [p50, p99] = latencies.percentiles(50, 99);
  return {
    requests_per_s: round(latencies.count / seconds, 1),
    p50_ms: round(p50 ?? Number.NaN, 3),
    p99_ms: round(p99 ?? Number.NaN, 3),
    requests: latencies.count,
    non_2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    errors: results.reduce((sum, r) => sum + r.errors + r.timeouts, 0),
  };
}

async function post(url: string, query: string, params: Record<string, unknown> = {}): Promise<{ status: number; body: { rows?: Record<string, unknown>[] } }> {
  const response = await fetch(`${url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, params }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: (await response.json()) as { rows?: Record<string, unknown>[] } };
}

/** The point read answers the expected row through `url` (so every target serves the same work). */
async function probe(url: string): Promise<boolean> {
  try {
    const answer = await post(url, POINT_READ, { e: `user${PROBE_ID}@example.com` });
    return answer.status === 200 && answer.body.rows?.[0]?.['u.name'] === EXPECTED_NAME;
  } catch {
    return false;
  }
}

/** Indexes :User(email) and loads USERS users through `url` (a node that takes writes). */
async function loadUsers(url: string): Promise<void> {
  const indexed = await post(url, 'CREATE INDEX ON :User(email)');
  if (indexed.status !== 200) throw new Error(`CREATE INDEX answered ${indexed.status}: ${JSON.stringify(indexed.body)}`);
  for (let first = 0; first < USERS; first += BATCH) {
    const rows = [];
    for (let id = first; id < Math.min(USERS, first + BATCH); id++) rows.push({ id, email: `user${id}@example.com`, name: `User ${id}` });
    const loaded = await post(url, 'UNWIND $rows AS r CREATE (:User {id: r.id, email: r.email, name: r.name})', { rows });
    if (loaded.status !== 200) throw new Error(`load answered ${loaded.status}: ${JSON.stringify(loaded.body)}`);
  }
}

/** Stops a child: SIGTERM, SIGKILL after 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** One POST on a connection of its own (no keep-alive): the gateway's workers take turns accepting connections. */
function postOnNewConnection(url: string, body: unknown): Promise<{ status: number; body: { meta?: { index?: number } } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/v1/query`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { meta?: { index?: number } } }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Acknowledges `count` writes through a gateway; the highest write index it answered. */
async function acknowledgeWrites(url: string, count: number, label: string): Promise<number> {
  let highest = 0;
  for (let i = 0; i < count; i++) {
    const answer = await postOnNewConnection(url, { query: 'CREATE (:BenchAck {gateway: $label, i: $i})', params: { label, i } });
    if (answer.status !== 200) throw new Error(`a write through ${label} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    highest = Math.max(highest, answer.body.meta?.index ?? 0);
  }
  return highest;
}

interface GatewayChild {
  url: string;
  child: ChildProcess;
}

/** Starts `geode gateway` in front of `nodes` with `extra` YAML lines; resolves once it listens. */
async function startGatewayChild(ctx: { tempDir: string; onCleanup(fn: () => Promise<void> | void): void }, label: string, nodes: string[], workers: number, extra: string[]): Promise<GatewayChild> {
  const config = join(ctx.tempDir, `${label}.yaml`);
  writeFileSync(
    config,
    [
      'listen: 127.0.0.1:0',
      'region: local',
      `session_secret: ${randomBytes(24).toString('hex')}`,
      `read_concurrency: ${Math.max(512, CONNECTIONS * 2)}`,
      ...extra,
      'regions:',
      `  local: {lat: 0, lon: 0, role: primary, nodes: [${nodes.join(', ')}]}`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [GEODE_BIN, 'gateway', '--config', config, '--workers', String(workers), '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GEODE_PARENT_PID: String(process.pid) },
  });
  ctx.onCleanup(() => stopChild(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8192)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start within 60 s\n${stderr}`)), 60_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line) as { gateway: string }).gateway);
      } catch {
        reject(new Error(`${label} printed ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${String(code)}\n${stderr}`));
    });
  });
  return { url, child };
}

function haproxyVersion(binary: string): string {
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stdout;
  return /version (\S+)/i.exec(out)?.[1] ?? 'unknown';
}

/** Read-after-write and steady reads through one gateway while writes flow through it. */
interface MixedRun {
  readAfterWrite: LatencyRecorder;
  stale: number;
  pairs: number;
  writeErrors: number;
  reads: LatencyRecorder;
  readResults: AutocannonResult[];
  seconds: number;
}

/**
 * What read-your-writes costs where it can cost something: a 3-node cluster (reads go to followers,
 * which learn of a commit a message after the leader), writes flowing through the gateway at
 * RYW_WRITE_RATE, each followed at once by a read of it through the same gateway (its latency, and
 * whether it saw the write), while point reads arrive evenly paced at RYW_READ_RATE. Two
 * single-worker gateways, read_your_writes on and off, take alternating slices.
 */
async function mixedLoad(ctx: BenchContext): Promise<object> {
  ctx.progress('read-your-writes under writes: starting a 3-node cluster');
  const cluster = await launchCluster({ nodes: 3, dataDir: join(ctx.tempDir, 'ryw-cluster'), logLevel: 'warn' });
  ctx.onCleanup(() => cluster.stop());
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  await loadUsers(leader.url);
  const urls = cluster.nodes.map((n) => n.url);
  const sides = {
    on: await startGatewayChild(ctx, 'ryw-on', urls, 1, []),
    off: await startGatewayChild(ctx, 'ryw-off', urls, 1, ['read_your_writes: false']),
  };
  for (const side of Object.values(sides)) await waitFor('the gateway to serve the point read', 30_000, async () => ((await probe(side.url)) ? true : undefined), 100);
  const runs: Record<'on' | 'off', MixedRun> = {
    on: { readAfterWrite: new LatencyRecorder(), stale: 0, pairs: 0, writeErrors: 0, reads: new LatencyRecorder(), readResults: [], seconds: 0 },
    off: { readAfterWrite: new LatencyRecorder(), stale: 0, pairs: 0, writeErrors: 0, reads: new LatencyRecorder(), readResults: [], seconds: 0 },
  };
  const sliceS = Math.max(1, Math.round(RYW_DURATION_S / 4));
  let next = 0;
  for (let slice = 0; slice < 2; slice++) {
    for (const name of ['on', 'off'] as const) {
      ctx.progress(`read_your_writes ${name}: ${RYW_WRITE_RATE} writes/s, each read back at once, and ${RYW_READ_RATE} point reads/s for ${sliceS} s (slice ${slice + 1}/2)`);
      const run = runs[name];
      const pool = new Pool(sides[name].url, { connections: 2, pipelining: 1 });
      const started = performance.now();
      const writer = (async () => {
        const intervalMs = 1000 / RYW_WRITE_RATE;
        for (let k = 0; performance.now() - started < sliceS * 1000; k++) {
          const i = next++;
          const write = await pool.request({ path: '/v1/query', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'CREATE (:Event {i: $i})', params: { i } }) });
          await write.body.text();
          if (write.statusCode !== 200) {
            run.writeErrors++;
          } else {
            const sentAt = performance.now();
            const read = await pool.request({ path: '/v1/query', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'MATCH (e:Event {i: $i}) RETURN count(e) AS c', params: { i } }) });
            const answer = (await read.body.json()) as { rows?: { c?: number }[] };
            run.readAfterWrite.record(performance.now() - sentAt);
            run.pairs++;
            if (read.statusCode !== 200 || answer.rows?.[0]?.c !== 1) run.stale++;
          }
          const due = started + (k + 1) * intervalMs;
          if (due > performance.now()) await sleep(due - performance.now());
        }
      })();
      const result = await evenlyPaced(sides[name].url, sliceS, RYW_READ_RATE, RATE_CONNECTIONS, run.reads);
      await writer;
      await pool.close();
      run.readResults.push(result);
      run.seconds += result.duration;
      await sleep(200);
    }
  }
  const side = (run: MixedRun): object => {
    const [p50, p99] = run.readAfterWrite.percentiles(50, 99);
    return {
      read_after_write: { count: run.pairs, stale: run.stale, p50_ms: round(p50 ?? Number.NaN, 3), p99_ms: round(p99 ?? Number.NaN, 3) },
      point_reads: summarize(run.reads, run.readResults, run.seconds),
      write_errors: run.writeErrors,
    };
  };
  const delta = (a: number | undefined, b: number | undefined): number | null => round(a !== undefined && b !== undefined ? a - b : Number.NaN, 3);
  const [onRaw50, onRaw99] = runs.on.readAfterWrite.percentiles(50, 99);
  const [offRaw50, offRaw99] = runs.off.readAfterWrite.percentiles(50, 99);
  const [onRead50] = runs.on.reads.percentiles(50);
  const [offRead50] = runs.off.reads.percentiles(50);
  return {
    cluster_nodes: 3,
    writes_per_s: RYW_WRITE_RATE,
    point_reads_per_s: RYW_READ_RATE,
    duration_s: sliceS * 4,
    on: side(runs.on),
    off: side(runs.off),
    cost_ms: {
      read_after_write_p50: delta(onRaw50, offRaw50),
      read_after_write_p99: delta(onRaw99, offRaw99),
      point_read_p50: delta(onRead50, offRead50),
    },
  };
}

await runBench('gateway', flags.json, async (ctx) => {
  const loadBefore = loadAverage();

  ctx.progress('starting one storage node');
  const cluster = await launchCluster({ nodes: 1, dataDir: join(ctx.tempDir, 'cluster'), logLevel: 'warn' });
  ctx.onCleanup(() => cluster.stop());
  const node = await cluster.waitForLeader({ timeoutMs: 60_000 });

  ctx.progress(`indexing :User(email), loading ${USERS} users`);
  await loadUsers(node.url);
  if (!(await probe(node.url))) throw new Error('the point read does not find its user on the node');

  ctx.progress(`starting geode gateway twice (${WORKERS} worker${WORKERS === 1 ? '' : 's'} each): read_your_writes on (the default) and off`);
  const gateway = await startGatewayChild(ctx, 'gateway', [node.url], WORKERS, []);
  const gatewayNoRyw = await startGatewayChild(ctx, 'gateway-no-ryw', [node.url], WORKERS, ['read_your_writes: false']);
  for (const g of [gateway, gatewayNoRyw]) await waitFor('the gateway to serve the point read', 30_000, async () => ((await probe(g.url)) ? true : undefined), 100);
  ctx.progress(`acknowledging ${ACK_WRITES} writes through each gateway`);
  const acknowledgedIndex = { gateway: await acknowledgeWrites(gateway.url, ACK_WRITES, 'gateway'), gateway_no_ryw: await acknowledgeWrites(gatewayNoRyw.url, ACK_WRITES, 'gateway_no_ryw') };

  ctx.progress(`starting haproxy (nbthread ${WORKERS})`);
  const haproxyPort = await freePort('127.0.0.1');
  const haproxyConfig = join(ctx.tempDir, 'haproxy.cfg');
  writeFileSync(
    haproxyConfig,
    [
      'global',
      `  nbthread ${WORKERS}`,
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  option http-keep-alive',
      '  http-reuse always',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend bench',
      `  bind 127.0.0.1:${haproxyPort}`,
      '  default_backend node',
      'backend node',
      `  server ${node.name} 127.0.0.1:${node.port}`,
      '',
    ].join('\n'),
  );
  const haproxyChild = spawn(HAPROXY, ['-f', haproxyConfig, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  ctx.onCleanup(() => stopChild(haproxyChild));
  let haproxyStderr = '';
  haproxyChild.stderr?.on('data', (chunk: Buffer) => (haproxyStderr = (haproxyStderr + chunk.toString()).slice(-8192)));
  const haproxyUrl = `http://127.0.0.1:${haproxyPort}`;
  await waitFor('haproxy to serve the point read', 30_000, async () => {
    if (haproxyChild.exitCode !== null) throw new Error(`haproxy exited with ${haproxyChild.exitCode}\n${haproxyStderr}`);
    return (await probe(haproxyUrl)) ? true : undefined;
  }, 100);

  const targets = { direct: node.url, gateway: gateway.url, gateway_no_ryw: gatewayNoRyw.url, haproxy: haproxyUrl } as const;
  const proxyPid = { direct: undefined, gateway: gateway.child.pid, gateway_no_ryw: gatewayNoRyw.child.pid, haproxy: haproxyChild.pid } as const;
  const names = Object.keys(targets) as (keyof typeof targets)[];
  if (WARMUP_S > 0) {
    for (const name of names) {
      ctx.progress(`${name}: warm-up ${WARMUP_S} s`);
      await load(targets[name], WARMUP_S, CONNECTIONS);
    }
  }
  // The saturated runs go in slices, each target in turn, so that the machine's drifting load (other
  // tenants, CPU frequency) touches every target alike; the figures add up the slices.
  const slices = Math.max(1, Math.min(SLICES, DURATION_S));
  const sliceS = Math.max(1, Math.round(DURATION_S / slices));
  const runs = Object.fromEntries(names.map((name) => [name, { latencies: new LatencyRecorder(), results: [] as AutocannonResult[], seconds: 0, nodeCpu: 0, proxyCpu: 0, clientCpu: 0 }]));
  for (let slice = 0; slice < slices; slice++) {
    for (const name of names) {
      const run = runs[name]!;
      ctx.progress(`${name}: ${CONNECTIONS} connections for ${sliceS} s (slice ${slice + 1}/${slices})`);
      const nodeCpu = cpuMs(node.pid);
      const proxyCpu = cpuMs(proxyPid[name]);
      const clientCpu = ownCpuMs();
      const { result } = await load(targets[name], sliceS, CONNECTIONS, undefined, run.latencies);
      run.nodeCpu += cpuMs(node.pid) - nodeCpu;
      run.proxyCpu += cpuMs(proxyPid[name]) - proxyCpu;
      run.clientCpu += ownCpuMs() - clientCpu;
      run.results.push(result);
      run.seconds += result.duration > 0 ? result.duration : sliceS;
      await sleep(200);
    }
  }
  const saturated: Record<string, Measured> = {};
  for (const name of names) {
    const run = runs[name]!;
    const measured = summarize(run.latencies, run.results, run.seconds);
    const perRequest = (ms: number): number | null => (run.latencies.count > 0 ? round(ms / run.latencies.count, 4) : null);
    measured.cpu_ms_per_request = { node: perRequest(run.nodeCpu) };
    if (name !== 'direct') measured.cpu_ms_per_request.proxy = perRequest(run.proxyCpu);
    // The load generator (autocannon, in this process; its children excluded): it parses every answer, so bigger answers cost it more.
    measured.cpu_ms_per_request.client = perRequest(run.clientCpu);
    saturated[name] = measured;
  }

  // Fixed rate, alternating halves so drifting machine load touches both paths alike, measured two ways:
  // - evenly paced (the headline): one request every 1000/R ms, open loop over a pool of keep-alive
  //   connections, latency from the moment each request is sent (a request that waits for a free
  //   connection counts its wait), so arrivals are spread as many independent clients spread them;
  // - bursts: autocannon paces each connection by its own timer, so N connections arrive together as
  //   bursts of N requests every N/R seconds; the median request then also waits behind its burst.
  const rateConnections = Math.min(RATE_CONNECTIONS, RATE);
  const half = Math.max(1, Math.round(RATE_DURATION_S / 2));
  const even = { direct: { latencies: new LatencyRecorder(), results: [] as AutocannonResult[], seconds: 0 }, gateway: { latencies: new LatencyRecorder(), results: [] as AutocannonResult[], seconds: 0 } };
  const bursts = { direct: { latencies: new LatencyRecorder(), results: [] as AutocannonResult[], seconds: 0 }, gateway: { latencies: new LatencyRecorder(), results: [] as AutocannonResult[], seconds: 0 } };
  for (let slice = 0; slice < 2; slice++) {
    for (const name of ['direct', 'gateway'] as const) {
      ctx.progress(`${name}: ${RATE} requests/s evenly paced for ${half} s (slice ${slice + 1}/2)`);
      const result = await evenlyPaced(targets[name], half, RATE, rateConnections, even[name].latencies);
      even[name].results.push(result);
      even[name].seconds += result.duration;
    }
  }
  for (let slice = 0; slice < 2; slice++) {
    for (const name of ['direct', 'gateway'] as const) {
      ctx.progress(`${name}: ${RATE} requests/s in bursts of ${rateConnections} for ${half} s (slice ${slice + 1}/2)`);
      const { result } = await load(targets[name], half, rateConnections, RATE, bursts[name].latencies);
      bursts[name].results.push(result);
      bursts[name].seconds += result.duration > 0 ? result.duration : half;
    }
  }
  const atRate = {
    direct: summarize(even.direct.latencies, even.direct.results, even.direct.seconds),
    gateway: summarize(even.gateway.latencies, even.gateway.results, even.gateway.seconds),
  };
  const inBursts = {
    direct: summarize(bursts.direct.latencies, bursts.direct.results, bursts.direct.seconds),
    gateway: summarize(bursts.gateway.latencies, bursts.gateway.results, bursts.gateway.seconds),
  };
  const added = (at: typeof atRate): number | null => round(at.gateway.p50_ms !== null && at.direct.p50_ms !== null ? at.gateway.p50_ms - at.direct.p50_ms : Number.NaN, 3);

  const gatewayRps = saturated['gateway']?.requests_per_s ?? null;
  const haproxyRps = saturated['haproxy']?.requests_per_s ?? null;
  const noRywRps = saturated['gateway_no_ryw']?.requests_per_s ?? null;
  const withRyw = saturated['gateway'];
  const withoutRyw = saturated['gateway_no_ryw'];
  const pointReads = {
    requests_per_s: { on: gatewayRps, off: noRywRps },
    ratio_on_vs_off: gatewayRps !== null && noRywRps !== null && noRywRps > 0 ? round(gatewayRps / noRywRps, 3) : null,
    p50_ms: { on: withRyw?.p50_ms ?? null, off: withoutRyw?.p50_ms ?? null },
    proxy_cpu_ms_per_request: { on: withRyw?.cpu_ms_per_request?.proxy ?? null, off: withoutRyw?.cpu_ms_per_request?.proxy ?? null },
  };
  const mixed = RYW_DURATION_S > 0 ? await mixedLoad(ctx) : null;
  return {
    query: POINT_READ,
    users: USERS,
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    slices,
    gateway_workers: WORKERS,
    haproxy_nbthread: WORKERS,
    haproxy_version: haproxyVersion(HAPROXY),
    direct: saturated['direct'],
    gateway: saturated['gateway'],
    gateway_no_ryw: saturated['gateway_no_ryw'],
    haproxy: saturated['haproxy'],
    ratio_vs_haproxy: gatewayRps !== null && haproxyRps !== null && haproxyRps > 0 ? round(gatewayRps / haproxyRps, 3) : null,
    read_your_writes: {
      default: 'on: every read carries after_index >= the highest write index the gateway acknowledged',
      acknowledged_index: acknowledgedIndex,
      point_reads: pointReads,
      mixed,
    },
    fixed_rate: { requests_per_s: RATE, arrivals: 'evenly paced, open loop', connections: rateConnections, duration_s: half * 2, direct: atRate.direct, gateway: atRate.gateway },
    fixed_rate_bursts: { requests_per_s: RATE, arrivals: `bursts of ${rateConnections} (autocannon, one timer per connection)`, connections: rateConnections, duration_s: half * 2, direct: inBursts.direct, gateway: inBursts.gateway },
    gateway_added_p50_ms: added(atRate),
    gateway_added_p50_ms_bursts: added(inBursts),
    targets: { ratio_vs_haproxy: '>= 1.0', gateway_added_p50_ms: '<= 0.5' },
    load_avg_before: loadBefore,
    load_avg_after: loadAverage(),
  };
});
