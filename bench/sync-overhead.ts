/**
 * What synchronous replication adds to a write's latency: one client writing
 * sequentially to (a) a 1-node cluster and (b) a 3-node synchronous cluster,
 * both with the same durability (Raft log fsync on every batch). The two are
 * measured in alternating slices so drifting machine load hits both alike.
 *
 *   npm run bench:sync -- [--json] [--duration S] [--slices N]
 *
 * Target: overhead_p50_ms = sync3_p50_ms - single_p50_ms <= 5.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GEODE_BIN, launchCluster } from '../cli/launcher.js';
import type { LaunchedCluster } from '../cli/launcher.js';
import { GeodeClient } from './lib/geode-client.js';
import { KV_VALUE, KV_WRITE } from './lib/geode-client.js';
import { loadAverage, runBench } from './lib/run.js';
import { requireGeodeBin } from './lib/run.js';
import { LatencyRecorder, round } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    slices: { type: 'string', default: '5' },
  },
});
const DURATION_MS = Number(flags.duration) * 1000;
const WARMUP_MS = Number(flags.warmup) * 1000;
const SLICES = Number(flags.slices);
if (!(DURATION_MS > 0) || !(WARMUP_MS >= 0) || !Number.isInteger(SLICES) || SLICES < 1) {
  process.stderr.write('usage: bench/sync-overhead.ts [--json] [--duration S per cluster] [--warmup S] [--slices N]\n');
  process.exit(64);
}
requireGeodeBin(GEODE_BIN);

const WRITE = KV_WRITE;
const VALUE = KV_VALUE;
const OP_TIMEOUT_MS = 10_000;

interface Target {
  name: string;
  cluster: LaunchedCluster;
  client: GeodeClient;
  latencies: LatencyRecorder;
  errors: number;
  seq: number;
}

/** Writes back to back for `ms`; records latencies only when `record`. */
async function stream(target: Target, ms: number, record: boolean): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const began = performance.now();
    try {
      await target.client.query({ query: WRITE, params: { k: `s-${target.seq++}`, v: VALUE }, timeout_ms: OP_TIMEOUT_MS }, { deadline: Date.now() + OP_TIMEOUT_MS });
      if (record) target.latencies.record(performance.now() - began);
    } catch {
      target.errors++;
    }
  }
}

await runBench('sync', flags.json, async (ctx) => {
  const targets: Target[] = [];
  for (const [name, nodes] of [['single', 1], ['sync3', 3]] as const) {
    ctx.progress(`starting ${name}: ${nodes} node(s), synchronous mode`);
    const cluster = await launchCluster({ nodes, dataDir: join(ctx.tempDir, name), replicationMode: 'synchronous', logLevel: 'warn' });
    ctx.onCleanup(() => cluster.stop());
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    const client = new GeodeClient({ urls: cluster.nodes.map((n) => n.url), connections: 1, attemptTimeoutMs: OP_TIMEOUT_MS });
    ctx.onCleanup(() => client.close());
    client.leader = leader.url;
    targets.push({ name, cluster, client, latencies: new LatencyRecorder(), errors: 0, seq: 0 });
  }
  for (const target of targets) await stream(target, WARMUP_MS, false);
  const slice = DURATION_MS / SLICES;
  for (let i = 0; i < SLICES; i++) {
    for (const target of targets) await stream(target, slice, true);
    ctx.progress(`slice ${i + 1}/${SLICES} done`);
  }
  const [single, sync3] = targets as [Target, Target];
  const [singleP50, singleP99] = single.latencies.percentiles(50, 99) as [number, number];
  const [syncP50, syncP99] = sync3.latencies.percentiles(50, 99) as [number, number];
  return {
    single_p50_ms: round(singleP50),
    single_p99_ms: round(singleP99),
    sync3_p50_ms: round(syncP50),
    sync3_p99_ms: round(syncP99),
    overhead_p50_ms: round(syncP50 - singleP50),
    writes: { single: single.latencies.count, sync3: sync3.latencies.count },
    errors: { single: single.errors, sync3: sync3.errors },
    load_avg: loadAverage(),
  };
});
