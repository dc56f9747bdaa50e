/**
 * Real processes: the gateway's degraded result cache (`query_cache`). Two
 * gateways over one 3-node cluster, one with the cache and one without.
 * Reads are answered normally, then every node (leader included) is
 * SIGSTOPped:
 * - with the cache, a session that allows stale reads (`any`, `bounded`) gets
 *   the last good answer, 200 with `degraded: true`, both while the gateway
 *   still believes the nodes healthy (its attempts time out) and once it has
 *   marked them down; never a cached answer older than the session's causal
 *   index, and never for `linearizable` / `leader` reads (an error instead);
 * - without the cache, the same read fails with an error code.
 * Every node is continued (SIGCONT) in teardown before the cluster stops.
 */
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  ms: number;
  token: string | undefined;
  body: { rows?: Record<string, unknown>[]; degraded?: boolean; meta?: { node?: string; index?: number; applied_index?: number }; error?: { code: string; message: string } };
}

async function query(gw: RunningGateway, body: Record<string, unknown>, token?: string): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(`${gw.url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined ? { 'geode-session': token } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, ms: Date.now() - started, token: res.headers.get('geode-session') ?? undefined, body: (await res.json()) as Answer['body'] };
}

const COUNT = 'MATCH (n:Cached) RETURN count(n) AS c';
const KEYS = 'MATCH (n:Cached) RETURN n.k AS k ORDER BY k';
/** Bounds every read made during the outage (the gateway's default is 30 s). */
const OUTAGE_TIMEOUT_MS = 1500;
/** How long a leader-bound read is held waiting for a leader. */
const HOLD_MS = 1000;

t.test('degraded answers from the gateway result cache when no node can serve', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-gw-cache-', { nodes: 3 });
  await cluster.waitForLeader({ timeoutMs: 60_000 });
  const config = (extra: Record<string, unknown>) =>
    parseGatewayConfig(
      {
        listen: '127.0.0.1:0',
        session_secret: 'cache-secret-cache-secret-cache',
        region: 'local',
        health_interval_ms: 250,
        write_hold_ms: HOLD_MS,
        regions: { local: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } },
        ...extra,
      },
      'test',
      {},
    );
  const cached = await startGateway(config({ query_cache: { enabled: true, max_entries: 100, ttl_ms: 600_000 } }));
  const plain = await startGateway(config({}));
  t.teardown(async () => {
    await cached.close();
    await plain.close();
  });
  // Registered last, so it runs first: no node stays stopped past the test.
  t.teardown(() => {
    for (const node of cluster.nodes) node.resume();
  });
  const deadline = Date.now() + 30_000;
  const ready = (gw: RunningGateway): boolean => gw.app.gateway.topology.availableLeader() !== undefined && gw.app.gateway.service.candidates().filter((c) => !c.leader && c.healthy).length === 2;
  while (Date.now() < deadline && !(ready(cached) && ready(plain))) await sleep(50);
  t.ok(ready(cached) && ready(plain), 'both gateways see a leader and two followers');

  // Normal service. KEYS is read (and cached) between the two writes, COUNT after both.
  const w1 = await query(cached, { query: 'CREATE (:Cached {k: 1})' });
  t.equal(w1.status, 200, 'first write');
  const keys = await query(cached, { query: KEYS, consistency: 'any' }, w1.token);
  t.equal(keys.status, 200);
  t.same(keys.body.rows, [{ k: 1 }]);
  t.notOk(keys.body.degraded, 'a normal answer is not flagged');
  const tokenAfterKeys = keys.token;
  const w2 = await query(cached, { query: 'CREATE (:Cached {k: 2})' }, tokenAfterKeys);
  t.equal(w2.status, 200, 'second write');
  const count = await query(cached, { query: COUNT, consistency: 'any' }, w2.token);
  t.equal(count.status, 200);
  t.same(count.body.rows, [{ c: 2 }]);
  t.notOk(count.body.degraded);
  const token = count.token;
  t.equal((await query(plain, { query: COUNT, consistency: 'any' }, token)).status, 200, 'the gateway without a cache serves the same read');

  // Outage: every node stopped, the leader included.
  await Promise.all(cluster.nodes.map((node) => node.pause()));

  await t.test('while the gateway still thinks the nodes healthy, its attempts time out and the cache answers', async (t) => {
    const r = await query(cached, { query: COUNT, consistency: 'any', timeout_ms: OUTAGE_TIMEOUT_MS }, token);
    t.equal(r.status, 200, `answered ${r.status} in ${r.ms} ms: ${JSON.stringify(r.body)}`);
    t.equal(r.body.degraded, true, 'flagged degraded');
    t.same(r.body.rows, [{ c: 2 }], 'the last good answer');
    t.ok(r.ms < OUTAGE_TIMEOUT_MS + 3000, `within the request timeout (${r.ms} ms)`);
  });

  const down = Date.now() + 20_000;
  const allDown = (gw: RunningGateway): boolean => gw.app.gateway.topology.views().every((v) => !v.healthy);
  while (Date.now() < down && !(allDown(cached) && allDown(plain))) await sleep(100);
  t.ok(allDown(cached) && allDown(plain), 'both gateways marked every node down');

  await t.test('a session that allows stale reads gets the cached answer, flagged degraded', async (t) => {
    for (const consistency of ['any', 'bounded'] as const) {
      const r = await query(cached, { query: COUNT, consistency, timeout_ms: OUTAGE_TIMEOUT_MS }, token);
      t.equal(r.status, 200, `${consistency}: ${r.status} ${JSON.stringify(r.body)}`);
      t.equal(r.body.degraded, true, `${consistency}: degraded`);
      t.same(r.body.rows, [{ c: 2 }], `${consistency}: the last good answer`);
      t.ok(r.token !== undefined, `${consistency}: with a session token`);
    }
    // The session's own default consistency (bounded) and lag bound.
    const bySession = await query(cached, { query: COUNT, timeout_ms: OUTAGE_TIMEOUT_MS }, token);
    t.equal(bySession.status, 200);
    t.equal(bySession.body.degraded, true, 'the default (bounded) session too');
    // An entry no older than the session's causal index is fine: KEYS was cached after w1.
    const older = await query(cached, { query: KEYS, consistency: 'any', timeout_ms: OUTAGE_TIMEOUT_MS }, tokenAfterKeys);
    t.equal(older.status, 200);
    t.equal(older.body.degraded, true);
    t.same(older.body.rows, [{ k: 1 }]);
  });

  await t.test('never an answer older than what the session has seen', async (t) => {
    // KEYS was cached before w2; this session has seen w2, so the cached rows would hide its own write.
    const r = await query(cached, { query: KEYS, consistency: 'any', timeout_ms: OUTAGE_TIMEOUT_MS }, token);
    t.not(r.status, 200, `refused: ${r.status} ${JSON.stringify(r.body)}`);
    t.notOk(r.body.degraded);
    t.type(r.body.error?.code, 'string', 'with an error code');
  });

  await t.test('a linearizable (or leader) read gets an error, not the cache', async (t) => {
    for (const consistency of ['linearizable', 'leader'] as const) {
      const r = await query(cached, { query: COUNT, consistency, timeout_ms: OUTAGE_TIMEOUT_MS + HOLD_MS }, token);
      t.not(r.status, 200, `${consistency}: ${r.status} ${JSON.stringify(r.body)} in ${r.ms} ms`);
      t.notOk(r.body.degraded, `${consistency}: not served from the cache`);
      t.equal(r.body.rows, undefined, `${consistency}: no rows`);
      t.ok(r.body.error?.code === 'NO_QUORUM' || r.body.error?.code === 'TIMEOUT', `${consistency}: ${r.body.error?.code}`);
    }
  });

  await t.test('without the cache the read fails with an error', async (t) => {
    for (const consistency of ['any', 'bounded'] as const) {
      const r = await query(plain, { query: COUNT, consistency, timeout_ms: OUTAGE_TIMEOUT_MS }, token);
      t.equal(r.status, 503, `${consistency}: ${r.status} ${JSON.stringify(r.body)} in ${r.ms} ms`);
      t.notOk(r.body.degraded);
      t.equal(r.body.rows, undefined);
      t.equal(r.body.error?.code, 'NO_QUORUM', `${consistency}: no node is reachable (${r.body.error?.message})`);
    }
  });

  await t.test('once the nodes are back, answers are fresh again', async (t) => {
    for (const node of cluster.nodes) node.resume();
    const back = Date.now() + 30_000;
    let r: Answer | undefined;
    while (Date.now() < back) {
      r = await query(cached, { query: COUNT, consistency: 'any', timeout_ms: 3000 }, token);
      if (r.status === 200 && r.body.degraded !== true) break;
      await sleep(200);
    }
    t.equal(r?.status, 200, 'served');
    t.notOk(r?.body.degraded, 'by a node, not the cache');
    t.same(r?.body.rows, [{ c: 2 }]);
  });
});
