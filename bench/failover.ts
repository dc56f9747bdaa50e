/**
 * Failover under load: a steady stream of synchronous writes against a
 * 3-node cluster while the leader is SIGKILLed K times (restarted and caught
 * up between rounds). Every write is retried with its own request_id until
 * acknowledged, so the stream measures how long the cluster stays unwritable
 * and whether any acknowledged write is lost or applied twice.
 *
 *   npm run bench:failover -- [--json] [--kills 5] [--clients 8] [--steady S]
 *
 * gap = the longest time without any successful write, from the last ack
 * before the kill to the end of a 2 s window after the first ack after it.
 * Targets: median <= 500 ms, max <= 1000 ms, acked_lost 0.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GEODE_BIN, launchCluster } from '../cli/launcher.js';
import type { LaunchedCluster, LaunchedNode } from '../cli/launcher.js';
import { GeodeClient } from './lib/geode-client.js';
import { KV_VALUE, KV_WRITE } from './lib/geode-client.js';
import { loadAverage, runBench, sleep, waitFor } from './lib/run.js';
import { requireGeodeBin } from './lib/run.js';
import { median, round } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    kills: { type: 'string', default: '5' },
    clients: { type: 'string', default: '8' },
    steady: { type: 'string', default: '2' },
    /** Snapshot every N applied entries (node default when unset); small values exercise catch-up by snapshot. */
    'snapshot-entries': { type: 'string' },
    /** Copy the nodes' logs here at the end (they are copied to a temp dir anyway when a restart fails). */
    'keep-logs': { type: 'string' },
  },
});
const KILLS = Number(flags.kills);
const CLIENTS = Number(flags.clients);
const STEADY_MS = Number(flags.steady) * 1000;
const SNAPSHOT_ENTRIES = flags['snapshot-entries'] === undefined ? undefined : Number(flags['snapshot-entries']);
if (!Number.isInteger(KILLS) || KILLS < 1 || !Number.isInteger(CLIENTS) || CLIENTS < 1 || !(STEADY_MS >= 0)) {
  process.stderr.write('usage: bench/failover.ts [--json] [--kills K] [--clients N] [--steady S]\n');
  process.exit(64);
}
requireGeodeBin(GEODE_BIN);

const WRITE = KV_WRITE;
const VALUE = KV_VALUE;
/** One write keeps retrying (same request_id) this long before it is reported as of unknown outcome. */
const WRITE_DEADLINE_MS = 30_000;
/** Each HTTP attempt; a paused or partitioned node must not hold a writer long. */
const ATTEMPT_TIMEOUT_MS = 2_000;
/** After the first ack following a kill, stalls in this window still count toward the round's gap. */
const AFTER_WINDOW_MS = 2_000;
const MAX_WRITES_PER_CLIENT = 10_000_000;

interface Round {
  killed: string;
  new_leader: string | null;
  gap_ms: number;
  first_ack_after_kill_ms: number | null;
  catch_up_ms: number | null;
  load_avg: number[];
}

await runBench('failover', flags.json, async (ctx) => {
  ctx.progress('starting a 3-node cluster (synchronous mode)');
  const dataDir = join(ctx.tempDir, 'cluster');
  const cluster: LaunchedCluster = await launchCluster({
    nodes: 3,
    dataDir,
    replicationMode: 'synchronous',
    logLevel: 'warn',
    // Whole logs on disk (not a 64 KiB tail), so a failed restart can be diagnosed.
    stdio: 'file',
    ...(SNAPSHOT_ENTRIES !== undefined ? { snapshotEntries: SNAPSHOT_ENTRIES } : {}),
  });
  let keepLogs = flags['keep-logs'];
  // Registered before cluster.stop so it runs after it (cleanups run last-registered first) and sees the final lines.
  ctx.onCleanup(() => {
    if (keepLogs === undefined) return;
    mkdirSync(keepLogs, { recursive: true });
    for (const node of cluster.nodes) {
      const log = join(dataDir, `${node.name}.log`);
      if (existsSync(log)) copyFileSync(log, join(keepLogs, `${node.name}.log`));
    }
    process.stderr.write(`node logs kept in ${keepLogs}\n`);
  });
  ctx.onCleanup(() => cluster.stop());
  await cluster.waitForLeader({ timeoutMs: 30_000 });

  const client = new GeodeClient({ urls: cluster.nodes.map((n) => n.url), connections: CLIENTS, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS });
  ctx.onCleanup(() => client.close());
  const runId = randomBytes(4).toString('hex');
  /** key -> request_id of every acknowledged write. */
  const acked = new Map<string, string>();
  /** performance.now() of every acknowledgement, in arrival order. */
  const ackTimes: number[] = [];
  const unknownOutcome: string[] = [];
  const errorSamples = new Set<string>();
  let retries = 0;
  let stopping = false;
  ctx.onCleanup(() => {
    stopping = true;
  });

  const writer = async (id: number): Promise<void> => {
    for (let seq = 0; !stopping && seq < MAX_WRITES_PER_CLIENT; seq++) {
      const key = `w${id}-${seq}`;
      const requestId = `${runId}-${id}-${seq}`;
      let attempts = 0;
      try {
        await client.query(
          { query: WRITE, params: { k: key, v: VALUE }, request_id: requestId, timeout_ms: ATTEMPT_TIMEOUT_MS },
          { deadline: Date.now() + WRITE_DEADLINE_MS, onAttempt: () => void attempts++ },
        );
        acked.set(key, requestId);
        ackTimes.push(performance.now());
      } catch (error) {
        unknownOutcome.push(key);
        if (errorSamples.size < 5) errorSamples.add(error instanceof Error ? error.message : String(error));
        await sleep(50);
      } finally {
        retries += Math.max(0, attempts - 1);
      }
    }
  };

  /** Steady state: an agreed leader, every node running and caught up, and writes being acknowledged. */
  const waitSteady = async (): Promise<LaunchedNode> => {
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    const acksBefore = ackTimes.length;
    await waitFor('writes to be acknowledged', 30_000, () => (ackTimes.length > acksBefore + CLIENTS ? true : undefined));
    return leader;
  };

  /** Waits until `node` has applied everything the leader had committed when the wait began. */
  const waitCaughtUp = async (node: LaunchedNode): Promise<number> => {
    const began = performance.now();
    const leader = await cluster.waitForLeader({ timeoutMs: 30_000 });
    const target = await waitFor('the leader status', 10_000, () => client.status(leader.url));
    await waitFor(`${node.name} to catch up to index ${target.commit_index}`, 60_000, async () => {
      const own = await client.status(node.url);
      return own !== undefined && own.applied_index >= target.commit_index ? true : undefined;
    }, 100);
    return performance.now() - began;
  };

  const writers = Array.from({ length: CLIENTS }, (_, i) => writer(i));
  const rounds: Round[] = [];
  const restartFailures: { round: number; node: string; error: string }[] = [];
  try {
    for (let round = 1; round <= KILLS; round++) {
      await waitSteady();
      await sleep(STEADY_MS);
      const victim = await cluster.waitForLeader({ timeoutMs: 10_000 });
      ctx.progress(`round ${round}: SIGKILL leader ${victim.name}`);
      const killedAt = performance.now();
      await victim.kill('SIGKILL');
      const firstAfter = await waitFor('the first write acknowledged after the kill', 30_000, () => {
        const last = ackTimes[ackTimes.length - 1];
        return last !== undefined && last > killedAt ? ackTimes.find((t) => t > killedAt) : undefined;
      }, 10).catch(() => undefined);
      if (firstAfter !== undefined) await sleep(AFTER_WINDOW_MS);
      const windowEnd = firstAfter === undefined ? performance.now() : firstAfter + AFTER_WINDOW_MS;
      const gap = longestGap(ackTimes, killedAt, windowEnd);
      const newLeader = await cluster.waitForLeader({ timeoutMs: 10_000, exclude: [victim.name] }).catch(() => undefined);
      ctx.progress(`round ${round}: gap ${gap.toFixed(0)} ms, new leader ${newLeader?.name ?? '?'}; restarting ${victim.name}`);
      const restartError = await victim.start().then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      if (restartError !== undefined) {
        // A node that cannot come back ends the run: killing the next leader would leave no quorum.
        const log = join(dataDir, `${victim.name}.log`);
        const output = existsSync(log) ? readFileSync(log, 'utf8').slice(-200_000) : '';
        restartFailures.push({ round, node: victim.name, error: summarizeOutput(`${restartError}\n--- ${victim.name}.log (tail) ---\n${output}`) });
        keepLogs ??= join(tmpdir(), `geode-bench-failover-logs-${Date.now()}`);
        ctx.progress(`round ${round}: ${victim.name} failed to restart; stopping the rounds`);
        rounds.push({ killed: victim.name, new_leader: newLeader?.name ?? null, gap_ms: round2(gap), first_ack_after_kill_ms: firstAfter === undefined ? null : round2(firstAfter - killedAt), catch_up_ms: null, load_avg: loadAverage() });
        break;
      }
      const catchUp = await waitCaughtUp(victim).catch((error: unknown) => {
        ctx.progress(`round ${round}: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      });
      rounds.push({
        killed: victim.name,
        new_leader: newLeader?.name ?? null,
        gap_ms: round2(gap),
        first_ack_after_kill_ms: firstAfter === undefined ? null : round2(firstAfter - killedAt),
        catch_up_ms: catchUp === undefined ? null : round2(catchUp),
        load_avg: loadAverage(),
      });
    }
  } finally {
    stopping = true;
    // Each writer's in-flight write is bounded by WRITE_DEADLINE_MS.
    await Promise.all(writers);
  }

  ctx.progress(`reading back ${acked.size} acknowledged writes`);
  const readBack = await client.query({ query: 'MATCH (n:Kv) RETURN n.k AS k', consistency: 'linearizable', timeout_ms: 30_000 }, { deadline: Date.now() + 60_000 });
  const seen = new Map<string, number>();
  for (const row of readBack.rows) {
    const k = row['k'];
    if (typeof k === 'string') seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  const lostSample: string[] = [];
  for (const key of acked.keys()) {
    const count = seen.get(key) ?? 0;
    if (count === 0) {
      lost++;
      if (lostSample.length < 10) lostSample.push(key);
    }
    if (count > 1) duplicated++;
  }
  let duplicatedAny = 0;
  for (const count of seen.values()) if (count > 1) duplicatedAny++;

  // Every node should hold the same rows once it has applied the leader's index.
  const perNode: Record<string, number | string> = {};
  const index = readBack.meta?.index;
  for (const node of cluster.nodes) {
    try {
      const answer = await client.request(node.url, 'POST', '/v1/query', {
        query: 'MATCH (n:Kv) RETURN count(n) AS c',
        consistency: 'any',
        ...(typeof index === 'number' ? { after_index: index } : {}),
        timeout_ms: 10_000,
      }, 15_000);
      const row = (answer.body as { rows?: Record<string, unknown>[] } | undefined)?.rows?.[0];
      perNode[node.name] = answer.status === 200 && row !== undefined ? Number(row['c']) : `status ${answer.status}`;
    } catch (error) {
      perNode[node.name] = error instanceof Error ? error.message : String(error);
    }
  }

  const gaps = rounds.map((r) => r.gap_ms);
  return {
    kills: rounds.length,
    gap_ms_median: round2(median(gaps)),
    gap_ms_max: gaps.length === 0 ? null : Math.max(...gaps),
    gap_ms: gaps,
    acked_lost: lost,
    acked: acked.size,
    acked_duplicated: duplicated,
    rows_duplicated: duplicatedAny,
    rows_read: readBack.rows.length,
    unknown_outcome: unknownOutcome.length,
    retries,
    rows_per_node: perNode,
    rounds,
    ...(restartFailures.length > 0 ? { restart_failures: restartFailures } : {}),
    ...(keepLogs !== undefined ? { logs_kept_in: keepLogs } : {}),
    ...(errorSamples.size > 0 ? { error_samples: [...errorSamples] } : {}),
  };
});

/** Collapses runs of log lines that differ only in numbers (e.g. one warning per dropped entry) so the cause stays visible. */
function summarizeOutput(text: string): string {
  const out: string[] = [];
  let previousShape = '';
  let repeats = 0;
  for (const line of text.split('\n')) {
    const shape = line.replace(/\d+/g, '#');
    if (shape === previousShape) {
      repeats++;
      continue;
    }
    if (repeats > 0) out.push(`  ... ${repeats} more like the line above`);
    repeats = 0;
    previousShape = shape;
    out.push(line);
  }
  if (repeats > 0) out.push(`  ... ${repeats} more like the line above`);
  return out.join('\n').slice(-4000);
}

function round2(value: number): number {
  return round(value, 1) ?? -1;
}

/** Longest interval without an ack that ends after `from`, up to `to` (acks before `from` only open the first interval). */
function longestGap(acks: readonly number[], from: number, to: number): number {
  const sorted = [...acks].sort((a, b) => a - b);
  let previous: number | undefined;
  let longest = 0;
  for (const t of sorted) {
    if (t > to) break;
    if (t <= from) {
      previous = t;
      continue;
    }
    if (previous !== undefined) longest = Math.max(longest, t - previous);
    previous = t;
  }
  // Still nothing acknowledged at the window's end: the gap runs to it.
  if (previous !== undefined) longest = Math.max(longest, to - previous);
  return longest;
}
