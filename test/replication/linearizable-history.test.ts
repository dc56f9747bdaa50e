// Concurrent clients write and linearizably read a few registers on a real
// 3-node cluster while the leader is SIGKILLed twice (and restarted); every
// operation is recorded with its call and return time, and the whole history
// must be linearizable (test/helpers/linearizability.ts). A write that was
// never acknowledged counts as unknown: it may or may not have taken effect.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchCluster } from '../../cli/launcher.js';
import type { LaunchedCluster } from '../../cli/launcher.js';
import { checkRegisterHistory } from '../helpers/linearizability.js';
import type { RegisterOperation } from '../helpers/linearizability.js';
import { getJson, postJson, sleep } from '../helpers/http.js';

const CLIENTS = 7;
const KEYS = ['k0', 'k1', 'k2', 'k3'];
/** The leader is killed at these times (ms into the workload), each kill once the previous victim is back. */
const KILLS_AT_MS = [2_500, 6_000];
/**
 * Clients issue new operations for at least WORKLOAD_MS and until AFTER_NEMESIS_MS after the last victim
 * is back, so both failovers happen under load; restarts are slow on a busy 2-core machine, hence the cap.
 */
const WORKLOAD_MS = 9_000;
const AFTER_NEMESIS_MS = 1_500;
const WORKLOAD_CAP_MS = 30_000;
const OPS_PER_CLIENT = 1_500;
/** How long a write is retried (same request_id) before its outcome is left unknown. */
const WRITE_RETRY_MS = 6_000;
const READ_RETRY_MS = 2_000;
/** Pause between a client's operations: leaves CPU for the restarted node on a 2-core machine. */
const THINK_MS = 10;
const WRITE_QUERY = 'MERGE (r:Reg {k: $k}) SET r.v = $v';
const READ_QUERY = 'MATCH (r:Reg {k: $k}) RETURN r.v AS v';

interface Meta {
  node: string;
  term: number;
  index: number;
  applied_index: number;
}

interface ErrorBody {
  code?: string;
  leader_url?: string | null;
}

/** Where clients send requests: the last leader heard of, re-discovered from the nodes' status when lost. */
class LeaderTracker {
  private url: string | undefined;
  private finding: Promise<string | undefined> | undefined;

  constructor(private readonly cluster: LaunchedCluster) {}

  async current(): Promise<string | undefined> {
    if (this.url !== undefined) return this.url;
    this.finding ??= this.find().finally(() => {
      this.finding = undefined;
    });
    return this.finding;
  }

  /** A 421 named the leader (or nobody); a connection error means the one we had is gone. */
  redirect(url: string | null | undefined): void {
    this.url = typeof url === 'string' && this.cluster.nodes.some((n) => n.running && n.url === url) ? url : undefined;
  }

  private async find(): Promise<string | undefined> {
    for (const node of this.cluster.nodes) {
      if (!node.running) continue;
      try {
        const status = (await getJson(`${node.url}/api/v1/cluster/status`, {}, 1000)).body as { leader_url?: string | null };
        if (typeof status.leader_url === 'string' && this.cluster.nodes.some((n) => n.running && n.url === status.leader_url)) {
          this.url = status.leader_url;
          return this.url;
        }
      } catch {
        // try the next node
      }
    }
    return undefined;
  }
}

interface Recorder {
  history: RegisterOperation[];
  /** Answers that no retry can mend (a malformed request, a duplicated register): the test fails on any. */
  anomalies: string[];
}

/** One write, retried with its request_id until acknowledged or WRITE_RETRY_MS; unknown (ret = Infinity) otherwise. */
async function writeRegister(leader: LeaderTracker, rec: Recorder, client: number, key: string, value: number, requestId: string): Promise<void> {
  const call = performance.now();
  const deadline = call + WRITE_RETRY_MS;
  const attempts: string[] = [];
  while (performance.now() < deadline) {
    const url = await leader.current();
    if (url === undefined) {
      await sleep(25);
      continue;
    }
    try {
      const res = await postJson(`${url}/v1/query`, { query: WRITE_QUERY, params: { k: key, v: value }, request_id: requestId, timeout_ms: 2_000 }, {}, 3_000);
      if (res.status === 200) {
        const meta = res.body['meta'] as Meta;
        const label = `client ${client} ${requestId} acked by ${meta.node} term ${meta.term} index ${meta.index}${attempts.length > 0 ? ` after ${attempts.join(',')}` : ''}`;
        rec.history.push({ key, kind: 'write', value, call, ret: performance.now(), label });
        return;
      }
      const error = (res.body['error'] ?? {}) as ErrorBody;
      attempts.push(`${res.status}${error.code === undefined ? '' : ` ${error.code}`}`);
      if (res.status === 421) leader.redirect(error.leader_url);
      else if (res.status !== 408 && res.status !== 503) rec.anomalies.push(`write ${requestId}: ${res.status} ${JSON.stringify(res.body)}`);
    } catch (error) {
      attempts.push((error as { code?: string }).code ?? 'error');
      leader.redirect(undefined);
    }
    await sleep(25);
  }
  rec.history.push({ key, kind: 'write', value, call, ret: Infinity, label: `client ${client} ${requestId} unacknowledged (${attempts.join(',')})` });
}

/** One linearizable read from the leader; failed attempts have no effect and are left out of the history. */
async function readRegister(leader: LeaderTracker, rec: Recorder, client: number, key: string): Promise<boolean> {
  const deadline = performance.now() + READ_RETRY_MS;
  while (performance.now() < deadline) {
    const url = await leader.current();
    if (url === undefined) {
      await sleep(25);
      continue;
    }
    const call = performance.now();
    try {
      const res = await postJson(`${url}/v1/query`, { query: READ_QUERY, params: { k: key }, consistency: 'linearizable', timeout_ms: 2_000 }, {}, 3_000);
      const ret = performance.now();
      if (res.status === 200) {
        const rows = res.body['rows'] as { v?: unknown }[];
        const meta = res.body['meta'] as Meta;
        if (rows.length > 1) rec.anomalies.push(`read ${key} on ${meta.node}: ${rows.length} registers for one key: ${JSON.stringify(rows)}`);
        const v = rows[0]?.v ?? null;
        if (v !== null && typeof v !== 'number') rec.anomalies.push(`read ${key} on ${meta.node}: value ${JSON.stringify(v)} is not a number`);
        const label = `client ${client} served by ${meta.node} term ${meta.term} applied ${meta.applied_index}`;
        rec.history.push({ key, kind: 'read', value: typeof v === 'number' ? v : null, call, ret, label });
        return true;
      }
      const error = (res.body['error'] ?? {}) as ErrorBody;
      if (res.status === 421) leader.redirect(error.leader_url);
      else if (res.status !== 408 && res.status !== 503) rec.anomalies.push(`read ${key}: ${res.status} ${JSON.stringify(res.body)}`);
    } catch {
      leader.redirect(undefined);
    }
    await sleep(25);
  }
  return false;
}

t.test('reads and writes on a few registers stay linearizable while the leader is SIGKILLed twice', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'geode-lin-'));
  // Node logs go to files in dataDir, which is kept when the history is not linearizable.
  const cluster = await launchCluster({ nodes: 3, dataDir, stdio: 'file' });
  let keepDataDir = false;
  t.teardown(async () => {
    await cluster.stop();
    if (!keepDataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  await cluster.waitForLeader({ timeoutMs: 30_000 });

  const runId = `lin-${process.pid}-${Date.now()}`;
  const leader = new LeaderTracker(cluster);
  const rec: Recorder = { history: [], anomalies: [] };
  const kills: string[] = [];
  const restarts: number[] = [];
  const killTimes: number[] = [];
  let nextValue = 1;
  let nemesisDoneAt = Infinity;
  const started = performance.now();
  const workloadOver = (): boolean => {
    const now = performance.now();
    return now - started >= WORKLOAD_CAP_MS || (now - started >= WORKLOAD_MS && now - nemesisDoneAt >= AFTER_NEMESIS_MS);
  };

  const clients = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let i = 0; i < OPS_PER_CLIENT && !workloadOver(); i++) {
      const key = KEYS[Math.floor(Math.random() * KEYS.length)] ?? 'k0';
      if (Math.random() < 0.5) {
        const value = nextValue++;
        await writeRegister(leader, rec, client, key, value, `${runId}-w${value}`);
      } else {
        await readRegister(leader, rec, client, key);
      }
      await sleep(Math.random() * 2 * THINK_MS);
    }
  });

  const nemesis = (async () => {
    for (const at of KILLS_AT_MS) {
      await sleep(Math.max(0, started + at - performance.now()));
      const victim = await cluster.waitForLeader({ timeoutMs: 15_000 });
      const term = ((await getJson(`${victim.url}/api/v1/cluster/status`, {}, 1000)).body as { term?: number }).term;
      const killedAt = performance.now() - started;
      killTimes.push(killedAt);
      await victim.kill('SIGKILL');
      const successor = await cluster.waitForLeader({ timeoutMs: 15_000, exclude: [victim.name] });
      kills.push(`${victim.name} (leader in term ${String(term)}) killed at ${killedAt.toFixed(0)} ms; ${successor.name} leads from ${(performance.now() - started).toFixed(0)} ms`);
      const restarting = performance.now();
      await victim.start();
      restarts.push(performance.now() - restarting);
    }
  })().finally(() => {
    nemesisDoneAt = performance.now();
  });

  const clientsDone = Promise.all(clients).then(() => performance.now() - started);
  await nemesis;
  const workloadMs = await clientsDone;

  // A last read of every key once the cluster is whole: no acknowledged write may have been lost at the end.
  await cluster.waitForLeader({ timeoutMs: 30_000 });
  for (const key of KEYS) t.ok(await readRegister(leader, rec, -1, key), `final linearizable read of ${key}`);

  const { history, anomalies } = rec;
  const writes = history.filter((op) => op.kind === 'write');
  const acked = writes.filter((op) => op.ret !== Infinity);
  const reads = history.filter((op) => op.kind === 'read');
  t.comment(`workload ${workloadMs.toFixed(0)} ms: ${acked.length} acknowledged writes, ${writes.length - acked.length} unknown, ${reads.length} reads`);
  for (const kill of kills) t.comment(kill);
  t.comment(`restarts took ${restarts.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  t.equal(kills.length, KILLS_AT_MS.length, 'the leader was killed twice and a new one elected each time');
  t.ok(killTimes.every((at) => at < workloadMs), 'every kill happened while the clients ran');
  t.same(anomalies, [], 'no answer outside the expected 200 / 408 / 421 / 503');
  t.ok(acked.length + reads.length >= 200, `at least 200 completed operations (${acked.length + reads.length})`);
  t.ok(acked.length >= 50, `at least 50 acknowledged writes (${acked.length})`);
  t.ok(reads.filter((op) => op.value !== null).length >= 20, 'at least 20 reads saw a written value');

  const checkStarted = performance.now();
  const result = checkRegisterHistory(history);
  t.comment(`checked ${history.length} operations in ${(performance.now() - checkStarted).toFixed(0)} ms (${result.steps} steps)`);
  if (!result.ok) {
    keepDataDir = true;
    const saved = join(dataDir, 'history.json');
    const sorted = [...history].sort((a, b) => a.call - b.call);
    writeFileSync(saved, JSON.stringify({ kills, history: sorted.map((op) => ({ ...op, ret: op.ret === Infinity ? null : op.ret })) }, null, 1));
    t.comment(`history saved to ${saved} (node logs beside it)`);
  }
  if (result.explanation !== undefined) t.comment(result.explanation);
  t.not(result.inconclusive, true, 'the checker decided within its step budget');
  t.ok(result.ok, 'the history is linearizable');
});
