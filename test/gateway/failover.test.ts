/**
 * Real processes: a 3-node loopback cluster behind two gateways.
 * - the leader SIGKILLed during a stream of writes: no client error, every acknowledged write present;
 * - read-your-writes across two gateways with the session token while a replica lags (SIGSTOP).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { launchCluster } from '../../cli/launcher.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  token: string | undefined;
  body: { rows?: Record<string, unknown>[]; meta?: { node?: string; index?: number }; error?: { code: string; message: string } };
}

async function query(gw: RunningGateway, body: Record<string, unknown>, token?: string): Promise<Answer> {
  const res = await fetch(`${gw.url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined ? { 'geode-session': token } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, token: res.headers.get('geode-session') ?? undefined, body: (await res.json()) as Answer['body'] };
}

t.test('gateway over a real cluster', async (t) => {
  const cluster = await launchCluster({ nodes: 3, dataDir: mkdtempSync(join(tmpdir(), 'geode-gw-failover-')) });
  t.teardown(() => cluster.stop());
  await cluster.waitForLeader({ timeoutMs: 60_000 });
  const config = (extra: Record<string, unknown> = {}) =>
    parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'shared-secret-of-both-gateways', regions: { local: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } }, region: 'local', health_interval_ms: 250, ...extra }, 'test', {});
  // Held writes must outlast an election on a busy two-core machine.
  const a = await startGateway(config({ write_hold_ms: 15_000 }));
  const b = await startGateway(config());
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  let deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (a.app.gateway.topology.availableLeader() === undefined || b.app.gateway.topology.availableLeader() === undefined)) await sleep(50);

  await t.test('read-your-writes across two gateways while a replica lags', async (t) => {
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((n) => n !== leader)!;
    let token: string | undefined;
    let stale = 0;
    const rounds = 200;
    for (let i = 0; i < rounds; i++) {
      // Pause one replica for a stretch of the rounds so that it falls behind, then let it catch up.
      if (i === 20) lagging.pause();
      if (i === 120) lagging.resume();
      const w = await query(a, { query: 'CREATE (:Ryw {i: $i})', params: { i } }, token);
      t.equal(w.status, 200, `write ${i}`) || t.comment(JSON.stringify(w.body));
      token = w.token;
      const r = await query(b, { query: 'MATCH (n:Ryw {i: $i}) RETURN count(n) AS c', params: { i } }, token);
      if (r.status !== 200 || r.body.rows?.[0]?.['c'] !== 1) {
        stale++;
        t.comment(`round ${i}: ${JSON.stringify(r.body)}`);
      }
      token = r.token;
    }
    lagging.resume();
    t.equal(stale, 0, 'no stale read');
  });

  await t.test('leader SIGKILLed during a stream of writes: no error, no acknowledged write lost', async (t) => {
    const leader = await cluster.waitForLeader();
    const acknowledged: number[] = [];
    const errors: string[] = [];
    let killed = false;
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 60; i++) {
        const id = w * 1000 + i;
        const res = await query(a, { query: 'CREATE (:Fo {id: $id})', params: { id } });
        if (res.status === 200) acknowledged.push(id);
        else errors.push(`${id}: ${res.status} ${JSON.stringify(res.body)}`);
        if (w === 0 && i === 15 && !killed) {
          killed = true;
          await leader.kill('SIGKILL');
        }
      }
    });
    await Promise.all(writers);
    t.same(errors, [], 'the client saw no error');
    t.equal(acknowledged.length, 240);
    const newLeader = await cluster.waitForLeader({ exclude: [leader.name], timeoutMs: 60_000 });
    t.not(newLeader.name, leader.name);
    const read = await query(a, { query: 'MATCH (n:Fo) RETURN n.id AS id', consistency: 'linearizable' });
    t.equal(read.status, 200);
    const present = new Set((read.body.rows ?? []).map((r) => r['id']));
    t.same(acknowledged.filter((id) => !present.has(id)), [], 'every acknowledged write is present');
    t.equal((read.body.rows ?? []).length, present.size, 'and none twice (same request_id on resend)');
    t.ok(a.app.gateway.topology.failovers >= 1, 'the gateway saw the failover');
  });
});
