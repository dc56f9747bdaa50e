/**
 * Cross-region replication: two regional groups of three nodes (east
 * primary, west secondary) joined by the DR stream, with every link between
 * the regions through a delay proxy adding `--wan-latency` ms one way.
 *
 *   npm run bench:regions -- [--json] [--wan-latency 40] [--duration 10] [--concurrency 16] [--rounds 2]
 *
 * Under closed-loop writes to east's leader (`CREATE (:Kv {k, v})`,
 * synchronous mode inside east), it measures:
 * - `visibility_ms`: from a write's acknowledgement in east to the moment a
 *   west node answers a read carrying the write's position
 *   (`after_epoch`/`after_index`, which waits until west applied it): the
 *   time a client reading in the other region waits for its own write. The
 *   limit it is printed beside is the injected one-way latency (the stream
 *   cannot deliver sooner), so `over_floor_p50_ms` is what the stream, the
 *   follower region's own Raft round and apply add.
 * - `region_lag_ms`: west's region lag as its leader reports it, sampled
 *   every 100 ms.
 * - `dr_cost`: what serving the stream costs east, in windows with the
 *   stream running against windows with west's nodes SIGSTOPped (no stream
 *   work on east: its source blocks on backpressure after a few MiB),
 *   alternated A B B A so a drifting machine weighs on both, at the same
 *   fixed write rate in every window (`--cost-rate`, default 150/s, well
 *   under what east takes either way). The figure is east's CPU per write
 *   (its three processes, from /proc). A fixed rate, because all six nodes
 *   share the machine's cores: under a closed loop east would also lose the
 *   CPU west spends applying (which a real second region spends on its own
 *   machines), and fewer writes per second would carry the same heartbeats
 *   and polls, both counted against the stream.
 *
 * No peer here offers an asynchronous cross-cluster stream to compare with
 * on this machine (etcd's `make-mirror` needs etcdctl, which Debian's
 * etcd-server does not ship), so the physical floor stands in as the limit,
 * as a plain file copy does for a restore.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { Pool } from 'undici';
import { launchRegions } from '../cli/launch-regions.js';
import type { RegionDeployment } from '../shared/config/regions.js';
import { GeodeClient, KV_VALUE, KV_WRITE } from './lib/geode-client.js';
import { closedLoop } from './lib/load.js';
import type { LoadResult } from './lib/load.js';
import { loadAverage, runBench, sleep, waitFor } from './lib/run.js';
import { cpuMs } from './lib/cpu.js';
import { percentile, round } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    'wan-latency': { type: 'string', default: '40' },
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    'cost-rate': { type: 'string', default: '150' },
  },
});
const wanMs = Number(values['wan-latency']);
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
const rounds = Math.max(1, Number(values.rounds));
const costRate = Math.max(1, Number(values['cost-rate']));

interface Status {
  leader: boolean;
  lag_ms: number | null;
  position: { epoch: number; index: number };
  stream: { connected: boolean } | null;
}

await runBench('regions', values.json, async (ctx) => {
  const deployment: RegionDeployment = {
    routing: { strategy: 'geographic_proximity', failoverPolicy: 'manual', healthCheckIntervalMs: 1_000, failoverAfterMs: 10_000 },
    regions: [
      { name: 'east', role: 'primary', nodes: [], nodeCount: 3, replicationMode: 'async', serveReads: true },
      { name: 'west', role: 'secondary', nodes: [], nodeCount: 3, replicationMode: 'async', serveReads: true },
    ],
  };
  ctx.progress(`launching east (3) and west (3), ${wanMs} ms one way between them`);
  const regions = await launchRegions({ deployment, dataDir: join(ctx.tempDir, 'regions'), wanLatencyMs: wanMs, stdio: 'ignore', replicationMode: 'synchronous' });
  ctx.onCleanup(async () => {
    for (const node of regions.nodes) if (node.running) node.resume();
    await regions.stop();
  });
  const leaders = await regions.waitForLeaders({ timeoutMs: 60_000 });
  const east = leaders.get('east')!;
  const westNodes = regions.region('west').cluster.nodes;
  const pools = new Map<string, Pool>();
  const pool = (url: string): Pool => {
    let p = pools.get(url);
    if (p === undefined) {
      p = new Pool(url, { connections: concurrency + 2, keepAliveTimeout: 30_000 });
      pools.set(url, p);
    }
    return p;
  };
  ctx.onCleanup(async () => {
    await Promise.all([...pools.values()].map((p) => p.close()));
  });
  const post = async (url: string, body: object, timeoutMs = 10_000): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await pool(url).request({ method: 'POST', path: '/v1/query', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
  };
  const westStatus = async (): Promise<Status | undefined> => {
    for (const node of westNodes) {
      try {
        const response = await pool(node.url).request({ method: 'GET', path: '/api/v1/region/status', headersTimeout: 2_000, bodyTimeout: 2_000 });
        const status = (await response.body.json()) as Status;
        if (status.leader) return status;
      } catch {
        // The next node.
      }
    }
    return undefined;
  };
  await waitFor('west streaming from east', 60_000, async () => ((await westStatus())?.stream?.connected === true ? true : undefined), 100);
  await waitFor('east taking writes', 30_000, async () => ((await post(east.url, { query: KV_WRITE, params: { k: 'warm', v: KV_VALUE } })).status === 200 ? true : undefined), 100);
  void leaders;

  // Writes follow east's leader (421 redirects), as a client would through an election on a loaded machine.
  const eastClient = new GeodeClient({ urls: regions.region('east').cluster.nodes.map((n) => n.url), connections: concurrency + 2 });
  ctx.onCleanup(() => eastClient.close());
  let key = 0;
  const write = async (): Promise<{ epoch: number; index: number } | undefined> => {
    const answer = await eastClient.query({ query: KV_WRITE, params: { k: `k${key++}`, v: KV_VALUE } }, { deadline: Date.now() + 10_000 });
    const meta = answer.meta as { index: number; epoch?: number } | undefined;
    return meta === undefined ? undefined : { epoch: meta.epoch ?? 1, index: meta.index };
  };

  // Visibility and lag under load: one prober among the writers reads its own write in west.
  ctx.progress(`visibility under ${concurrency} writers for ${durationMs / 1000} s`);
  const visibility: number[] = [];
  const lags: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await westStatus();
      if (s?.lag_ms !== null && s?.lag_ms !== undefined) lags.push(s.lag_ms);
      await sleep(100);
    }
  })();
  let westTurn = 0;
  const loaded = await closedLoop({
    concurrency,
    warmupMs: 2_000,
    durationMs,
    op: async (client) => {
      const position = await write();
      if (client !== 0 || position === undefined) return;
      const acked = performance.now();
      const node = westNodes[westTurn++ % westNodes.length]!;
      const read = await post(node.url, { query: 'RETURN 1 AS one', consistency: 'any', after_epoch: position.epoch, after_index: position.index, timeout_ms: 10_000 }, 12_000);
      if (read.status === 200) visibility.push(performance.now() - acked);
    },
  });
  sampling = false;
  await sampler;

  // What the stream costs east: windows with west streaming against windows with west paused.
  ctx.progress(`dr cost: ${rounds * 2} windows of ${durationMs / 1000} s, west streaming / paused`);
  const sides: Record<'streaming' | 'paused', LoadResult[]> = { streaming: [], paused: [] };
  const cpu: Record<'streaming' | 'paused', { ms: number; ops: number }> = { streaming: { ms: 0, ops: 0 }, paused: { ms: 0, ops: 0 } };
  const eastPids = (): Array<number | undefined> => regions.region('east').cluster.nodes.map((n) => n.pid);
  const eastCpu = (): number => eastPids().reduce<number>((sum, pid) => sum + cpuMs(pid), 0);
  const order: Array<'streaming' | 'paused'> = [];
  for (let r = 0; r < rounds; r++) order.push(...(r % 2 === 0 ? (['streaming', 'paused', 'paused', 'streaming'] as const) : (['paused', 'streaming', 'streaming', 'paused'] as const)));
  for (const side of order) {
    if (side === 'paused') for (const node of westNodes) await node.pause();
    else {
      for (const node of westNodes) node.resume();
      await waitFor('west streaming again', 60_000, async () => {
        const s = await westStatus();
        return s?.stream?.connected === true && s.lag_ms === 0 ? true : undefined;
      }, 100);
    }
    let opened = 0;
    // Open loop at a fixed rate: each write takes the next slot of a shared schedule.
    let slot = performance.now();
    const result = await closedLoop({
      concurrency,
      warmupMs: 1_000,
      durationMs: durationMs / 2,
      op: async () => {
        slot = Math.max(slot + 1000 / costRate, performance.now() - 1000);
        const wait = slot - performance.now();
        if (wait > 0) await sleep(wait);
        await write();
      },
      onWindow: (edge) => {
        if (edge === 'open') opened = eastCpu();
        else cpu[side].ms += eastCpu() - opened;
      },
    });
    cpu[side].ops += result.ops;
    sides[side].push(result);
  }
  for (const node of westNodes) node.resume();
  const rate = (results: LoadResult[]): number => results.reduce((sum, r) => sum + (r.writes_per_s ?? 0), 0) / results.length;
  const streaming = rate(sides.streaming);
  const paused = rate(sides.paused);
  const sortedVisibility = [...visibility].sort((a, b) => a - b);
  const sortedLags = [...lags].sort((a, b) => a - b);
  return {
    wan_one_way_ms: wanMs,
    concurrency,
    primary: { writes_per_s: loaded.writes_per_s, p50_ms: loaded.p50_ms, p99_ms: loaded.p99_ms, errors: loaded.errors },
    visibility_ms: {
      samples: sortedVisibility.length,
      p50: round(percentile(sortedVisibility, 50)),
      p99: round(percentile(sortedVisibility, 99)),
      max: round(sortedVisibility[sortedVisibility.length - 1] ?? Number.NaN),
      floor: wanMs,
      over_floor_p50_ms: round(percentile(sortedVisibility, 50) - wanMs),
    },
    region_lag_ms: { samples: sortedLags.length, p50: round(percentile(sortedLags, 50)), p99: round(percentile(sortedLags, 99)), max: round(sortedLags[sortedLags.length - 1] ?? Number.NaN) },
    dr_cost: {
      east_cpu_ms_per_write_streaming: round(cpu.streaming.ms / Math.max(1, cpu.streaming.ops), 3),
      east_cpu_ms_per_write_west_paused: round(cpu.paused.ms / Math.max(1, cpu.paused.ops), 3),
      cpu_ratio: round(cpu.streaming.ms / Math.max(1, cpu.streaming.ops) / (cpu.paused.ms / Math.max(1, cpu.paused.ops)), 3),
      rate_per_s: costRate,
      writes_per_s_streaming: round(streaming),
      writes_per_s_west_paused: round(paused),
      windows_per_side: rounds * 2,
      errors: { streaming: sides.streaming.reduce((n, r) => n + r.errors, 0), paused: sides.paused.reduce((n, r) => n + r.errors, 0) },
      error_samples: [...sides.streaming, ...sides.paused].flatMap((r) => r.error_samples ?? []).slice(0, 3),
    },
    load_average: loadAverage(),
  };
});
