/**
 * Durable replicated writes: a 3-node Geode cluster in synchronous mode beside
 * a 3-member etcd 3.4 cluster, both fsyncing every commit, under the same
 * closed-loop load of keep-alive clients at 64 and 256 concurrency.
 *
 *   npm run bench:raft -- [--json] [--duration S] [--warmup S] [--prewarm S] [--concurrency 64,256]
 *
 * Geode: `CREATE (:Kv {k: $k, v: $v})` POSTed to the leader (421 followed).
 * etcd: `POST /v3/kv/put {key, value}` (base64) to the leader's gateway.
 * ratio = geode writes/s / etcd writes/s per concurrency (target >= 1.0).
 *
 * Both clusters run for the whole benchmark and take turns: at each
 * concurrency the measured time of each side is split into `--rounds`
 * windows, alternated A B B A ... so a machine that speeds up or slows down
 * during the run (a shared VM does) weighs on both sides alike. Each window
 * has its own warm-up; a side's figures add up its windows (writes over
 * measured time, percentiles over every latency recorded, CPU over every
 * window). The idle side meanwhile costs only its heartbeats.
 *
 * Before the first level each side runs `--prewarm` seconds (default 10) of
 * the same load at the highest level, unmeasured, one side after the other:
 * the figure is for a server that has been running, not one just started.
 * Geode runs on V8, which compiles a function to optimized code only after it
 * has run for a while; the code that runs once per replication cycle (a few
 * hundred times a second) is still in V8's baseline tier after the 2 s
 * warm-up of a window, so without this the first level measured a
 * half-compiled server (c64 ratio 0.77 when c64 ran first, 1.12 when it ran
 * after c256, in two runs on the same machine; 0.89 after 10 s at c64). etcd,
 * compiled ahead of time, gets the same pre-warm-up. Its writes/s are printed
 * under `prewarm`, so the cold figure stays visible.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { launchCluster } from '../cli/launcher.js';
import { launchEtcd } from './lib/etcd.js';
import { GeodeClient } from './lib/geode-client.js';
import { KV_VALUE, KV_WRITE } from './lib/geode-client.js';
import { closedLoop } from './lib/load.js';
import type { LoadResult } from './lib/load.js';
import { cpuMs, ownCpuMs } from './lib/cpu.js';
import { loadAverage, requireBinary, runBench } from './lib/run.js';
import { LatencyRecorder, round } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    /** Unmeasured load each side runs once, before the first level (see the header). */
    prewarm: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64,256' },
    rounds: { type: 'string', default: '2' },
    /** Run one side only (debugging); the ratio is then null. */
    only: { type: 'string' },
  },
});
const durationMs = Number(flags.duration) * 1000;
const warmupMs = Number(flags.warmup) * 1000;
const prewarmMs = Number(flags.prewarm) * 1000;
const levels = flags.concurrency.split(',').map((c) => Number(c.trim())).filter((c) => Number.isInteger(c) && c > 0);
const rounds = Number(flags.rounds);
const runGeode = flags.only === undefined || flags.only === 'geode';
const runEtcd = flags.only === undefined || flags.only === 'etcd';
if (!(durationMs > 0) || !(warmupMs >= 0) || !(prewarmMs >= 0) || levels.length === 0 || !Number.isInteger(rounds) || rounds < 1 || (!runGeode && !runEtcd)) {
  process.stderr.write('usage: bench/raft.ts [--json] [--duration S] [--warmup S] [--prewarm S] [--concurrency 64,256] [--rounds N] [--only geode|etcd]\n');
  process.exit(64);
}
const etcdBinary = requireBinary('etcd', 'apt-get update && apt-get install -y etcd-server');

/** A ~100-byte value, the same bytes for both systems. */
const VALUE = KV_VALUE;
const WRITE = KV_WRITE;
const OP_TIMEOUT_MS = 15_000;

/**
 * CPU time (user + system, all threads) per write in the measured window: the three servers together
 * and the load generator (this process). The machine is shared, so this says whether a side is slower
 * because it spends more CPU per write or because it waits.
 */
interface CpuPerWrite {
  servers: number | null;
  client: number | null;
}

type Levels = Record<string, LoadResult & { cpu_ms_per_write: CpuPerWrite; load_avg: number[] }>;

/** CPU counters summed over every measured window of one side. */
function cpuWindows(pids: () => (number | undefined)[]): { onWindow: (edge: 'open' | 'close') => void; perWrite: (ops: number) => CpuPerWrite } {
  let servers = 0;
  let client = 0;
  const serverCpu = (): number => pids().reduce<number>((sum, pid) => sum + cpuMs(pid), 0);
  return {
    onWindow: (edge) => {
      const sign = edge === 'open' ? -1 : 1;
      servers += sign * serverCpu();
      client += sign * ownCpuMs();
    },
    perWrite: (ops) => ({ servers: ops > 0 ? round(servers / ops, 3) : null, client: ops > 0 ? round(client / ops, 3) : null }),
  };
}

/** One system under test: how to start it, how to run one write at a given concurrency, its server pids. */
interface Side {
  name: 'geode' | 'etcd';
  pids: () => (number | undefined)[];
  /** A client for `c` concurrent writers: its op and how to close it. */
  connect(c: number): { op: (id: number, seq: number) => Promise<void>; close: () => Promise<void> };
}

await runBench('raft', flags.json, async (ctx) => {
  const results: Record<'geode' | 'etcd', Levels> = { geode: {}, etcd: {} };
  const sides: Side[] = [];
  if (runGeode) sides.push(await startGeode());
  if (runEtcd) sides.push(await startEtcd());
  const windowMs = durationMs / rounds;

  // Both sides run unmeasured at the highest level, one after the other, before anything is measured.
  const prewarm: Record<string, number | null> = {};
  for (const side of prewarmMs > 0 ? sides : []) {
    const c = Math.max(...levels);
    ctx.progress(`${side.name}: pre-warm-up, ${c} clients for ${prewarmMs} ms (not measured)`);
    const client = side.connect(c);
    try {
      const run = await closedLoop({ concurrency: c, warmupMs: 0, durationMs: prewarmMs, op: client.op });
      prewarm[`${side.name}_writes_per_s`] = run.writes_per_s;
    } finally {
      await client.close();
    }
  }

  for (const c of levels) {
    const runs = sides.map((side) => ({ side, client: side.connect(c), recorder: new LatencyRecorder(), cpu: cpuWindows(side.pids), ops: 0, errors: 0, samples: new Set<string>() }));
    try {
      for (let r = 0; r < rounds; r++) {
        for (const run of r % 2 === 0 ? runs : [...runs].reverse()) {
          ctx.progress(`${run.side.name}: ${c} clients, round ${r + 1}/${rounds}, ${warmupMs} ms warm-up + ${windowMs} ms`);
          const window = await closedLoop({ concurrency: c, warmupMs, durationMs: windowMs, onWindow: run.cpu.onWindow, recorder: run.recorder, op: run.client.op });
          run.ops += window.ops;
          run.errors += window.errors;
          for (const sample of window.error_samples ?? []) run.samples.add(sample);
        }
      }
    } finally {
      for (const run of runs) await run.client.close();
    }
    for (const run of runs) {
      const [p50, p99] = run.recorder.percentiles(50, 99);
      const level: LoadResult & { cpu_ms_per_write: CpuPerWrite; load_avg: number[] } = {
        writes_per_s: round(run.ops / (durationMs / 1000), 1),
        p50_ms: round(p50 ?? Number.NaN),
        p99_ms: round(p99 ?? Number.NaN),
        ops: run.ops,
        errors: run.errors,
        cpu_ms_per_write: run.cpu.perWrite(run.ops),
        load_avg: loadAverage(),
      };
      if (run.samples.size > 0) level.error_samples = [...run.samples].slice(0, 5);
      results[run.side.name][`c${c}`] = level;
      ctx.progress(`${run.side.name} c${c}: ${JSON.stringify(level)}`);
    }
  }

  const ratio: Record<string, number | null> = {};
  for (const c of levels) {
    const g = results.geode[`c${c}`]?.writes_per_s ?? null;
    const e = results.etcd[`c${c}`]?.writes_per_s ?? null;
    ratio[`c${c}`] = g !== null && e !== null && e > 0 ? round(g / e, 3) : null;
  }
  return { geode: results.geode, etcd: results.etcd, ratio, duration_s: durationMs / 1000, warmup_s: warmupMs / 1000, rounds, value_bytes: VALUE.length, prewarm: { s: prewarmMs / 1000, ...prewarm } };

  async function startGeode(): Promise<Side> {
    ctx.progress('starting a 3-node Geode cluster (synchronous mode)');
    const cluster = await launchCluster({ nodes: 3, dataDir: join(ctx.tempDir, 'geode'), replicationMode: 'synchronous', logLevel: 'warn' });
    ctx.onCleanup(() => cluster.stop());
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    return {
      name: 'geode',
      pids: () => cluster.nodes.map((n) => n.pid),
      connect: (c) => {
        const client = new GeodeClient({ urls: cluster.nodes.map((n) => n.url), connections: c, attemptTimeoutMs: OP_TIMEOUT_MS });
        client.leader = leader.url;
        return {
          // Like the etcd side below: the answer is read in full and its status checked, not parsed.
          op: async (id, seq) => {
            await client.query({ query: WRITE, params: { k: `c${c}-${id}-${seq}`, v: VALUE }, timeout_ms: OP_TIMEOUT_MS }, { deadline: Date.now() + OP_TIMEOUT_MS, parse: false });
          },
          close: () => client.close(),
        };
      },
    };
  }

  async function startEtcd(): Promise<Side> {
    ctx.progress('starting a 3-member etcd cluster');
    const members = await launchEtcd({ binary: etcdBinary, dataDir: join(ctx.tempDir, 'etcd') });
    ctx.onCleanup(() => members.stop());
    const etcdLeader = await members.leaderClientUrl();
    const value = Buffer.from(VALUE).toString('base64');
    return {
      name: 'etcd',
      pids: () => members.members.map((m) => m.pid),
      connect: (c) => {
        const pool = new Pool(etcdLeader, { connections: c, pipelining: 1, keepAliveTimeout: 30_000 });
        return {
          op: async (id, seq) => {
            const response = await pool.request({
              method: 'POST',
              path: '/v3/kv/put',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ key: Buffer.from(`c${c}-${id}-${seq}`).toString('base64'), value }),
              headersTimeout: OP_TIMEOUT_MS,
              bodyTimeout: OP_TIMEOUT_MS,
            });
            const text = await response.body.text();
            if (response.statusCode !== 200) throw new Error(`etcd put: ${response.statusCode} ${text.slice(0, 200)}`);
          },
          close: () => pool.destroy(),
        };
      },
    };
  }
});
