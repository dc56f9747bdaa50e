/**
 * Durable replicated writes: a 3-node Geode cluster in synchronous mode beside
 * a 3-member etcd 3.4 cluster, both fsyncing every commit, under the same
 * closed-loop load of keep-alive clients at 64 and 256 concurrency.
 *
 *   npm run bench:raft -- [--json] [--duration S] [--warmup S] [--concurrency 64,256]
 *
 * Geode: `CREATE (:Kv {k: $k, v: $v})` POSTed to the leader (421 followed).
 * etcd: `POST /v3/kv/put {key, value}` (base64) to the leader's gateway.
 * ratio = geode writes/s / etcd writes/s per concurrency (target >= 1.0).
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
import { round } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '64,256' },
    /** Run one side only (debugging); the ratio is then null. */
    only: { type: 'string' },
  },
});
const durationMs = Number(flags.duration) * 1000;
const warmupMs = Number(flags.warmup) * 1000;
const levels = flags.concurrency.split(',').map((c) => Number(c.trim())).filter((c) => Number.isInteger(c) && c > 0);
const runGeode = flags.only === undefined || flags.only === 'geode';
const runEtcd = flags.only === undefined || flags.only === 'etcd';
if (!(durationMs > 0) || !(warmupMs >= 0) || levels.length === 0 || (!runGeode && !runEtcd)) {
  process.stderr.write('usage: bench/raft.ts [--json] [--duration S] [--warmup S] [--concurrency 64,256] [--only geode|etcd]\n');
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

/** Reads CPU counters when closedLoop's window opens and closes. */
function cpuWindow(pids: () => (number | undefined)[]): { onWindow: (edge: 'open' | 'close') => void; perWrite: (ops: number) => CpuPerWrite } {
  let servers = 0;
  let client = 0;
  const serverCpu = (): number => pids().reduce<number>((sum, pid) => sum + cpuMs(pid), 0);
  return {
    onWindow: (edge) => {
      if (edge === 'open') {
        servers = -serverCpu();
        client = -ownCpuMs();
      } else {
        servers += serverCpu();
        client += ownCpuMs();
      }
    },
    perWrite: (ops) => ({ servers: ops > 0 ? round(servers / ops, 3) : null, client: ops > 0 ? round(client / ops, 3) : null }),
  };
}

await runBench('raft', flags.json, async (ctx) => {
  const geode: Levels = {};
  const etcd: Levels = {};

  if (runGeode) await benchGeode();
  if (runEtcd) await benchEtcd();

  const ratio: Record<string, number | null> = {};
  for (const c of levels) {
    const g = geode[`c${c}`]?.writes_per_s ?? null;
    const e = etcd[`c${c}`]?.writes_per_s ?? null;
    ratio[`c${c}`] = g !== null && e !== null && e > 0 ? round(g / e, 3) : null;
  }
  return { geode, etcd, ratio, duration_s: durationMs / 1000, warmup_s: warmupMs / 1000, value_bytes: VALUE.length };

  async function benchGeode(): Promise<void> {
    ctx.progress('starting a 3-node Geode cluster (synchronous mode)');
    const cluster = await launchCluster({ nodes: 3, dataDir: join(ctx.tempDir, 'geode'), replicationMode: 'synchronous', logLevel: 'warn' });
    ctx.onCleanup(() => cluster.stop());
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    for (const c of levels) {
      ctx.progress(`geode: ${c} clients, ${warmupMs} ms warm-up + ${durationMs} ms`);
      const client = new GeodeClient({ urls: cluster.nodes.map((n) => n.url), connections: c, attemptTimeoutMs: OP_TIMEOUT_MS });
      client.leader = leader.url;
      const cpu = cpuWindow(() => cluster.nodes.map((n) => n.pid));
      try {
        const result = await closedLoop({
          concurrency: c,
          warmupMs,
          durationMs,
          onWindow: cpu.onWindow,
          op: async (id, seq) => {
            // Like the etcd side below: the answer is read in full and its status checked, not parsed.
            await client.query({ query: WRITE, params: { k: `c${c}-${id}-${seq}`, v: VALUE }, timeout_ms: OP_TIMEOUT_MS }, { deadline: Date.now() + OP_TIMEOUT_MS, parse: false });
          },
        });
        geode[`c${c}`] = { ...result, cpu_ms_per_write: cpu.perWrite(result.ops), load_avg: loadAverage() };
        ctx.progress(`geode c${c}: ${JSON.stringify(geode[`c${c}`])}`);
      } finally {
        await client.close();
      }
    }
    await cluster.stop();
  }

  async function benchEtcd(): Promise<void> {
    ctx.progress('starting a 3-member etcd cluster');
    const members = await launchEtcd({ binary: etcdBinary, dataDir: join(ctx.tempDir, 'etcd') });
    ctx.onCleanup(() => members.stop());
    const etcdLeader = await members.leaderClientUrl();
    for (const c of levels) {
      ctx.progress(`etcd: ${c} clients, ${warmupMs} ms warm-up + ${durationMs} ms`);
      const pool = new Pool(etcdLeader, { connections: c, pipelining: 1, keepAliveTimeout: 30_000 });
      const value = Buffer.from(VALUE).toString('base64');
      const cpu = cpuWindow(() => members.members.map((m) => m.pid));
      try {
        const result = await closedLoop({
          concurrency: c,
          warmupMs,
          durationMs,
          onWindow: cpu.onWindow,
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
        });
        etcd[`c${c}`] = { ...result, cpu_ms_per_write: cpu.perWrite(result.ops), load_avg: loadAverage() };
        ctx.progress(`etcd c${c}: ${JSON.stringify(etcd[`c${c}`])}`);
      } finally {
        await pool.destroy();
      }
    }
    await members.stop();
  }
});
