/**
 * Backups: what continuous archiving costs the write path, and how fast a
 * restore is beside a plain file copy of the same data.
 *
 *   npm run bench:backup -- [--json] [--duration 50] [--warmup 2] [--rounds 5] [--concurrency 64]
 *                           [--nodes 1000000] [--entries 20000] [--skip-overhead] [--skip-restore]
 *                           [--archive-dir DIR]
 *
 * 1. `overhead`: a 3-node cluster in synchronous mode under closed-loop writes (`CREATE (:Kv {k, v})`,
 *    100-byte values, over the leader's query stream as a gateway sends them), measured in windows
 *    that alternate archiving ON and OFF (A B B A ..., as bench:raft alternates systems), so a
 *    machine that speeds up or slows down weighs on both alike. ON: continuous archiving to a
 *    file:// destination on the same disk, segments closed every second (the default); each ON window
 *    gets a fresh destination (a chain belongs to one configuration) and starts measuring once its
 *    first base is stored, so the figure is the steady cost of segments. `overhead` =
 *    1 - on / off writes per second (target: at most 0.05).
 *    Raft snapshots are turned off in this cluster (snapshot every 10,000,000 entries): each one is a
 *    copy of the whole growing graph, seconds of CPU and disk that land in whichever window they fall
 *    in, and measured with them single windows swung by -40% to +10% on both sides alike. Archiving
 *    does not change when they happen, so they are noise to this comparison, not its subject.
 *    The machine is shared and its speed drifts, so the CPU figures say more than the rates: server
 *    CPU per write with archiving ON and OFF, and `restore.archive_cpu_us_per_entry`, the CPU the
 *    archiver spends per entry measured in this process alone (1,000-entry segments to a file).
 * 2. `restore`: an archive made by the archiver itself (a base of a `--nodes`-node graph, 1,000,000
 *    by default, plus `--entries` single-write entries in 1 s-sized segments after it), restored with
 *    `restore()` (download, checksum, gunzip, replay, quick_check, node directories) for one node and
 *    for three, beside `copyFile` of the restored graph file (the bytes a restore must write at the
 *    least) and a gunzip of the base alone.
 */
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchCluster } from '../cli/launcher.js';
import { NodeStream } from '../gateway/node-stream.js';
import { GraphStateMachine } from '../storage-node/replication/state-machine.js';
import { encodeCommand } from '../storage-node/replication/command.js';
import type { Entry } from '../storage-node/raft/messages.js';
import { Archiver } from '../storage-node/backup/archiver.js';
import { restore } from '../storage-node/backup/restore.js';
import { KV_VALUE, KV_WRITE } from './lib/geode-client.js';
import { closedLoop } from './lib/load.js';
import { cpuMs } from './lib/cpu.js';
import { loadAverage, runBench, waitFor } from './lib/run.js';
import { LatencyRecorder, round } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    nodes: { type: 'string', default: '1000000' },
    entries: { type: 'string', default: '20000' },
    'skip-overhead': { type: 'boolean', default: false },
    'skip-restore': { type: 'boolean', default: false },
    /** Where the ON windows' file:// destinations go (default: the run's temp dir, the nodes' disk). */
    'archive-dir': { type: 'string' },
  },
});
const durationMs = Number(flags.duration) * 1000;
const warmupMs = Number(flags.warmup) * 1000;
const rounds = Number(flags.rounds);
const concurrency = Number(flags.concurrency);
const graphNodes = Number(flags.nodes);
const tailEntries = Number(flags.entries);
if (!(durationMs > 0) || !(warmupMs >= 0) || !Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(concurrency) || concurrency < 1 || !Number.isInteger(graphNodes) || graphNodes < 1 || !Number.isInteger(tailEntries) || tailEntries < 0) {
  process.stderr.write('usage: bench/backup.ts [--json] [--duration S] [--warmup S] [--rounds N] [--concurrency C] [--nodes N] [--entries N] [--skip-overhead] [--skip-restore]\n');
  process.exit(64);
}
const OP_TIMEOUT_MS = 15_000;
const MB = 1024 * 1024;

await runBench('backup', flags.json, async (ctx) => {
  const result: Record<string, unknown> = {};
  if (!flags['skip-overhead']) result['overhead'] = await overhead();
  if (!flags['skip-restore']) result['restore'] = await restoreBench();
  return { ...result, load_avg: loadAverage() };

  async function overhead(): Promise<object> {
    ctx.progress('starting a 3-node cluster (synchronous mode)');
    const cluster = await launchCluster({ nodes: 3, dataDir: join(ctx.tempDir, 'cluster'), replicationMode: 'synchronous', logLevel: 'warn', snapshotEntries: 10_000_000 });
    ctx.onCleanup(() => cluster.stop());
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    const admin = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${leader.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${cluster.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const answer = (await response.json()) as Record<string, unknown>;
      if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(answer)}`);
      return answer;
    };
    const backupState = async (): Promise<Record<string, unknown> | undefined> => (await admin('GET', '/api/v1/cluster/status'))['backup'] as Record<string, unknown> | undefined;
    const stream = new NodeStream(leader.url, 0);
    ctx.onCleanup(() => stream.close());
    await waitFor('the query stream', OP_TIMEOUT_MS, () => (stream.writeReady ? true : undefined), 10);
    const op = async (id: number, seq: number): Promise<void> => {
      const answer = await stream.write(JSON.stringify({ query: KV_WRITE, params: { k: `${id}-${seq}-${Math.random()}`, v: KV_VALUE }, timeout_ms: OP_TIMEOUT_MS }), OP_TIMEOUT_MS);
      if (answer.status !== 200) throw new Error(`write: ${answer.status} ${answer.text.slice(0, 200)}`);
    };
    ctx.progress(`pre-warm-up: ${concurrency} clients for 5 s (not measured)`);
    await closedLoop({ concurrency, warmupMs: 0, durationMs: 5_000, op });
    const sides = {
      on: { recorder: new LatencyRecorder(), ops: 0, errors: 0, ms: 0, cpu: 0, bytes: 0, samples: new Set<string>(), rates: [] as number[] },
      off: { recorder: new LatencyRecorder(), ops: 0, errors: 0, ms: 0, cpu: 0, bytes: 0, samples: new Set<string>(), rates: [] as number[] },
    };
    const windowMs = durationMs / rounds;
    let destinations = 0;
    const order: ('on' | 'off')[] = [];
    for (let r = 0; r < rounds; r++) order.push(...(r % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)));
    for (const side of order) {
      if (side === 'on') {
        const destination = `file://${join(flags['archive-dir'] ?? ctx.tempDir, `geode-bench-archive-${process.pid}-${++destinations}`)}`;
        if (flags['archive-dir'] !== undefined) ctx.onCleanup(() => rm(destination.slice('file://'.length), { recursive: true, force: true }));
        await admin('POST', '/api/v1/admin/backup/config', { mode: 'continuous', destination });
        // The first base of a fresh destination is not what a running archive costs: measure after it.
        await waitFor('archiving to start', 120_000, async () => ((await backupState())?.['state'] === 'archiving' ? true : undefined), 100);
      } else {
        await admin('POST', '/api/v1/admin/backup/config', { mode: 'off' });
      }
      ctx.progress(`archiving ${side}: ${concurrency} clients, ${warmupMs} ms warm-up + ${windowMs} ms`);
      const s = sides[side];
      const bytesBefore = Number((await backupState())?.['bytes_total'] ?? 0);
      const cpuBefore = cluster.nodes.reduce((n, node) => n + cpuMs(node.pid), 0);
      const window = await closedLoop({ concurrency, warmupMs, durationMs: windowMs, recorder: s.recorder, op });
      s.cpu += cluster.nodes.reduce((n, node) => n + cpuMs(node.pid), 0) - cpuBefore;
      s.bytes += Number((await backupState())?.['bytes_total'] ?? 0) - bytesBefore;
      s.ops += window.ops;
      s.rates.push(Math.round(window.ops / (windowMs / 1000)));
      s.errors += window.errors;
      for (const sample of window.error_samples ?? []) s.samples.add(sample);
      s.ms += windowMs;
    }
    await admin('POST', '/api/v1/admin/backup/config', { mode: 'off' });
    const figures = (side: 'on' | 'off') => {
      const s = sides[side];
      const [p50, p99] = s.recorder.percentiles(50, 99);
      return {
        writes_per_s: round(s.ops / (s.ms / 1000), 1),
        p50_ms: round(p50 ?? Number.NaN),
        p99_ms: round(p99 ?? Number.NaN),
        ops: s.ops,
        errors: s.errors,
        ...(s.samples.size > 0 ? { error_samples: [...s.samples].slice(0, 3) } : {}),
        cpu_ms_per_write: s.ops > 0 ? round(s.cpu / s.ops, 3) : null,
        archived_bytes: s.bytes,
        /** Each window's writes/s, in the order run: how far the machine's own noise goes. */
        window_writes_per_s: s.rates,
      };
    };
    const on = figures('on');
    const off = figures('off');
    return {
      concurrency,
      windows: order.length,
      window_s: windowMs / 1000,
      archiving_on: on,
      archiving_off: off,
      overhead: on.writes_per_s !== null && off.writes_per_s !== null && off.writes_per_s > 0 ? round(1 - on.writes_per_s / off.writes_per_s, 3) : null,
      load_avg: loadAverage(),
    };
  }

  async function restoreBench(): Promise<object> {
    const work = join(ctx.tempDir, 'restore-bench');
    await mkdir(work, { recursive: true });
    const graphPath = join(work, 'source.db');
    ctx.progress(`building a ${graphNodes}-node graph`);
    const machine = new GraphStateMachine(graphPath);
    let index = 0;
    let clock = Date.now() - 3_600_000;
    const entry = (query: string, params: Record<string, unknown>): Entry => ({ index: ++index, term: 1, type: 'normal', data: encodeCommand({ kind: 'query', query, params, now: ++clock, seed: 'bench', requestId: `bench-${index}`, fresh: true }) });
    const built = performance.now();
    for (let from = 0; from < graphNodes; from += 10_000) {
      const to = Math.min(graphNodes, from + 10_000) - 1;
      machine.apply([entry('UNWIND range($from, $to) AS i CREATE (:User {id: i, name: "user " + toString(i), email: "user" + toString(i) + "@example.com"})', { from, to })]);
    }
    const buildS = (performance.now() - built) / 1000;
    const imagePath = join(work, 'base.db');
    await machine.snapshotTo(imagePath);
    ctx.progress(`archiving it (base) and ${tailEntries} write entries after it`);
    const destination = `file://${join(work, 'archive')}`;
    const archiver = new Archiver();
    const lineage = 'bench';
    await archiver.activate({ config: { mode: 'continuous', destination, retention_ms: 86_400_000, segment_ms: 1000, segment_entries: 4096, base_interval_ms: 86_400_000, lineage, configured_at: new Date().toISOString() }, clusterId: 'bench', node: 'bench', term: 1 });
    const base = await archiver.base(imagePath);
    let tail: Entry[] = [];
    // CPU of archiving alone (this process does nothing else meanwhile): stamping, encoding, gzip,
    // checksums, the file writes and their fsyncs, the manifest.
    let archiveCpuUs = 0;
    for (let i = 0; i < tailEntries; i++) {
      tail.push(entry('CREATE (:Item {i: $i, v: $v})', { i, v: KV_VALUE }));
      if (tail.length === 1000 || i === tailEntries - 1) {
        machine.apply(tail);
        const before = process.cpuUsage();
        await archiver.segment(tail);
        const used = process.cpuUsage(before);
        archiveCpuUs += used.user + used.system;
        tail = [];
      }
    }
    machine.close();
    const rawBytes = (await stat(graphPath)).size;
    const runRestore = async (nodes: number): Promise<object> => {
      const dataDir = join(work, `restored-${nodes}`);
      const started = performance.now();
      const restored = await restore({ from: destination, dataDir, nodes: Array.from({ length: nodes }, (_, i) => `node${i + 1}`) });
      const seconds = (performance.now() - started) / 1000;
      const size = (await stat(join(dataDir, 'node1', 'graph.db'))).size;
      await rm(dataDir, { recursive: true, force: true });
      return { seconds: round(seconds, 2), graph_mb: round(size / MB, 1), mb_per_s: round(size / MB / seconds, 1), entries_replayed: restored.entries_replayed, index: restored.index };
    };
    ctx.progress('restoring (1 node)');
    const one = await runRestore(1);
    ctx.progress('restoring (3 nodes)');
    const three = await runRestore(3);
    ctx.progress('plain file copy and gunzip of the same data');
    const copyStarted = performance.now();
    await copyFile(graphPath, join(work, 'copy.db'));
    const copyS = (performance.now() - copyStarted) / 1000;
    const gunzipStarted = performance.now();
    await pipeline(createReadStream(join(work, 'archive', base.key)), createGunzip(), createWriteStream(join(work, 'gunzipped.db')));
    const gunzipS = (performance.now() - gunzipStarted) / 1000;
    return {
      graph_nodes: graphNodes,
      tail_entries: tailEntries,
      archive_cpu_us_per_entry: tailEntries > 0 ? round(archiveCpuUs / tailEntries, 2) : null,
      build_s: round(buildS, 1),
      graph_mb: round(rawBytes / MB, 1),
      base_mb_compressed: round(base.bytes / MB, 1),
      restore_1_node: one,
      restore_3_nodes: three,
      file_copy: { seconds: round(copyS, 2), mb_per_s: round(rawBytes / MB / copyS, 1) },
      gunzip_base: { seconds: round(gunzipS, 2), mb_per_s: round(rawBytes / MB / gunzipS, 1) },
      restore_vs_copy: round(copyS / ((one as { seconds: number }).seconds || Infinity), 3),
    };
  }
});
