/**
 * Durable replicated writes: a 3-node Geode cluster in synchronous mode beside
 * a 3-member etcd 3.4 cluster, both fsyncing every commit, under the same
 * closed-loop load at 64 and 256 concurrent clients.
 *
 *   npm run bench:raft -- [--json] [--duration S] [--warmup S] [--prewarm S] [--concurrency 64,256]
 *
 * The write: Geode `CREATE (:Kv {k: $k, v: $v})` to the leader; etcd a put
 * of the same key and ~100-byte value to the leader.
 *
 * Each system is measured through two client protocols, so that neither
 * comparison hides the other:
 * - its native multiplexed protocol, many requests in flight on one
 *   connection: Geode's query stream (`GET /v1/stream`, the path a gateway
 *   sends writes on; shared/protocol/query-stream.ts) and etcd's gRPC
 *   (`etcdserverpb.KV/Put` on one HTTP/2 connection, how etcd's clients and
 *   its own benchmark tool talk to it);
 * - one HTTP/1.1 exchange per write over `c` keep-alive connections: Geode's
 *   `POST /v1/query` (421 followed) and etcd's v3 JSON gateway
 *   `POST /v3/kv/put` (base64).
 *
 * The headline compares Geode's stream against etcd's BETTER protocol at each
 * level (`etcd.cN.protocol` says which): on this machine the Node gRPC client
 * costs about three times the CPU per put of the HTTP one, and client and
 * servers share the same cores, so etcd's HTTP gateway can come out ahead
 * even though etcd's servers spend less per put over gRPC. Taking the better
 * figure means a slow client library never counts in Geode's favour.
 * `ratio_http` is the HTTP-against-HTTP figure, and `by_protocol` holds all four.
 *
 * All four sides run for the whole benchmark and take turns: at each
 * concurrency the measured time of each side is split into `--rounds`
 * windows, alternated A B C D D C B A ... so a machine that speeds up or
 * slows down during the run (a shared VM does) weighs on every side alike.
 * Each window has its own warm-up; a side's figures add up its windows
 * (writes over measured time, percentiles over every latency recorded, CPU
 * over every window). An idle cluster meanwhile costs only its heartbeats.
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
import { NodeStream } from '../gateway/node-stream.js';
import { launchEtcd } from './lib/etcd.js';
import { EtcdGrpcClient } from './lib/etcd-grpc.js';
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

type SideName = 'geode_stream' | 'geode_http' | 'etcd_http' | 'etcd_grpc';
const SIDE_NAMES: SideName[] = ['geode_stream', 'geode_http', 'etcd_http', 'etcd_grpc'];

/** One system under test through one protocol: how to run one write at a given concurrency, its server pids. */
interface Side {
  name: SideName;
  pids: () => (number | undefined)[];
  /** A client for `c` concurrent writers: its op and how to close it. */
  connect(c: number): { op: (id: number, seq: number) => Promise<void>; close: () => Promise<void> };
}

await runBench('raft', flags.json, async (ctx) => {
  const results = Object.fromEntries(SIDE_NAMES.map((name) => [name, {}])) as Record<SideName, Levels>;
  const sides: Side[] = [];
  if (runGeode) sides.push(...(await startGeode()));
  if (runEtcd) sides.push(...(await startEtcd()));
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

  const rate = (side: SideName, c: number): number | null => results[side][`c${c}`]?.writes_per_s ?? null;
  const ratioOf = (g: number | null, e: number | null): number | null => (g !== null && e !== null && e > 0 ? round(g / e, 3) : null);
  // etcd's headline figure at each level is its better protocol's.
  const etcd: Record<string, Levels[string] & { protocol: 'http' | 'grpc' }> = {};
  const ratio: Record<string, number | null> = {};
  const ratioHttp: Record<string, number | null> = {};
  for (const c of levels) {
    let best: (typeof etcd)[string] | undefined;
    for (const [side, protocol] of [['etcd_http', 'http'], ['etcd_grpc', 'grpc']] as const) {
      const level = results[side][`c${c}`];
      if (level !== undefined && (best === undefined || (level.writes_per_s ?? 0) > (best.writes_per_s ?? 0))) best = { ...level, protocol };
    }
    if (best !== undefined) etcd[`c${c}`] = best;
    ratio[`c${c}`] = ratioOf(rate('geode_stream', c), best?.writes_per_s ?? null);
    ratioHttp[`c${c}`] = ratioOf(rate('geode_http', c), rate('etcd_http', c));
  }
  return {
    geode: results.geode_stream,
    etcd,
    ratio,
    ratio_http: ratioHttp,
    by_protocol: results,
    duration_s: durationMs / 1000,
    warmup_s: warmupMs / 1000,
    rounds,
    value_bytes: VALUE.length,
    prewarm: { s: prewarmMs / 1000, ...prewarm },
  };

  async function startGeode(): Promise<Side[]> {
    ctx.progress('starting a 3-node Geode cluster (synchronous mode)');
    const cluster = await launchCluster({ nodes: 3, dataDir: join(ctx.tempDir, 'geode'), replicationMode: 'synchronous', logLevel: 'warn' });
    ctx.onCleanup(() => cluster.stop());
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    const pids = (): (number | undefined)[] => cluster.nodes.map((n) => n.pid);
    const body = (c: number, id: number, seq: number): string => JSON.stringify({ query: WRITE, params: { k: `c${c}-${id}-${seq}`, v: VALUE }, timeout_ms: OP_TIMEOUT_MS });
    return [
      {
        name: 'geode_stream',
        pids,
        connect: (c) => {
          // The gateway's own client for a node's stream: writes take the node's own socket (no read lanes here).
          const stream = new NodeStream(leader.url, 0);
          let opened: Promise<void> | undefined = (async () => {
            const deadline = Date.now() + OP_TIMEOUT_MS;
            while (!stream.writeReady) {
              if (Date.now() > deadline) throw new Error(`geode: the query stream to ${leader.url} did not open`);
              await new Promise((resolve) => setTimeout(resolve, 10));
            }
          })();
          return {
            // Like the other sides: the answer's status is checked, its body not parsed.
            op: async (id, seq) => {
              if (opened !== undefined) {
                await opened;
                opened = undefined;
              }
              const answer = await stream.write(body(c, id, seq), OP_TIMEOUT_MS);
              if (answer.status !== 200) throw new Error(`geode write (stream): ${answer.status} ${answer.text.slice(0, 200)}`);
            },
            close: async () => stream.close(),
          };
        },
      },
      {
        name: 'geode_http',
        pids,
        connect: (c) => {
          const client = new GeodeClient({ urls: cluster.nodes.map((n) => n.url), connections: c, attemptTimeoutMs: OP_TIMEOUT_MS });
          client.leader = leader.url;
          return {
            op: async (id, seq) => {
              await client.query({ query: WRITE, params: { k: `c${c}-${id}-${seq}`, v: VALUE }, timeout_ms: OP_TIMEOUT_MS }, { deadline: Date.now() + OP_TIMEOUT_MS, parse: false });
            },
            close: () => client.close(),
          };
        },
      },
    ];
  }

  async function startEtcd(): Promise<Side[]> {
    ctx.progress('starting a 3-member etcd cluster');
    const members = await launchEtcd({ binary: etcdBinary, dataDir: join(ctx.tempDir, 'etcd') });
    ctx.onCleanup(() => members.stop());
    const etcdLeader = await members.leaderClientUrl();
    const pids = (): (number | undefined)[] => members.members.map((m) => m.pid);
    const value = Buffer.from(VALUE);
    const value64 = value.toString('base64');
    return [
      {
        name: 'etcd_http',
        pids,
        connect: (c) => {
          const pool = new Pool(etcdLeader, { connections: c, pipelining: 1, keepAliveTimeout: 30_000 });
          return {
            op: async (id, seq) => {
              const response = await pool.request({
                method: 'POST',
                path: '/v3/kv/put',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ key: Buffer.from(`c${c}-${id}-${seq}`).toString('base64'), value: value64 }),
                headersTimeout: OP_TIMEOUT_MS,
                bodyTimeout: OP_TIMEOUT_MS,
              });
              const text = await response.body.text();
              if (response.statusCode !== 200) throw new Error(`etcd put: ${response.statusCode} ${text.slice(0, 200)}`);
            },
            close: () => pool.destroy(),
          };
        },
      },
      {
        name: 'etcd_grpc',
        pids,
        connect: (c) => {
          const client = new EtcdGrpcClient(etcdLeader);
          return {
            op: (id, seq) => client.put(Buffer.from(`c${c}-${id}-${seq}`), value, OP_TIMEOUT_MS),
            close: async () => client.close(),
          };
        },
      },
    ];
  }
});
