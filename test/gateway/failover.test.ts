/**
 * Real processes: a 3-node loopback cluster behind two gateways.
 * - the leader SIGKILLed during a stream of writes: no client error, every acknowledged write present;
 * - read-your-writes across two gateways with the session token, 1,000 rounds, while a replica lags
 *   on purpose (short SIGSTOPs it stays in rotation through, and one long one).
 */
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
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
  const cluster = await launchTempCluster(t, 'geode-gw-failover-', { nodes: 3 });
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

  await t.test('read-your-writes: 1,000 rounds across two gateways while a replica lags on purpose', async (t) => {
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((n) => n !== leader)!;
    const ROUNDS = 1000;
    // The lagging replica is SIGSTOPped for SHORT_PAUSE_MS every SHORT_EVERY rounds: too short for the health
    // checks to notice, so it stays in rotation, and reads sent to it meanwhile reach it together with the
    // log entries it missed once it is continued. A long stretch in the middle makes it leave rotation and
    // then replay a backlog.
    const SHORT_EVERY = 20;
    const SHORT_PAUSE_MS = 250;
    const LONG_FROM = 400;
    const LONG_UNTIL = 550;
    let epoch = 0;
    let paused = false;
    const pause = async (): Promise<void> => {
      await lagging.pause();
      paused = true;
      epoch++;
    };
    const resume = (): void => {
      lagging.resume();
      paused = false;
      epoch++;
    };
    t.teardown(() => lagging.resume());
    const servedBy = new Map<string, number>();
    const failures: string[] = [];
    let token: string | undefined;
    let stale = 0;
    let shortPauses = 0;
    /** Reads served by the lagging replica that reached it while it was stopped and missing that round's write. */
    let behindHits = 0;
    const started = performance.now();
    for (let i = 0; i < ROUNDS; i++) {
      if (i === LONG_FROM) await pause();
      if (i === LONG_UNTIL) resume();
      if (i % SHORT_EVERY === 5 && (i < LONG_FROM - SHORT_EVERY || i >= LONG_UNTIL + SHORT_EVERY) && !paused) {
        await pause();
        shortPauses++;
        const mine = epoch;
        setTimeout(() => {
          if (epoch === mine) resume();
        }, SHORT_PAUSE_MS);
      }
      const writeEpoch = paused ? epoch : -1;
      const w = await query(a, { query: 'CREATE (:Ryw {i: $i})', params: { i } }, token);
      if (w.status !== 200 || w.token === undefined) {
        failures.push(`write ${i}: ${w.status} ${JSON.stringify(w.body)}`);
        continue;
      }
      token = w.token;
      const readEpoch = paused ? epoch : -2;
      // Mostly `any`: no lag bound, so round robin keeps sending reads to the lagging replica and only the token's
      // causal index stands between them and a stale answer. Every third read uses the session's default
      // (bounded, 1000 ms).
      const read: Record<string, unknown> = { query: 'MATCH (n:Ryw {i: $i}) RETURN count(n) AS c', params: { i } };
      if (i % 3 !== 2) read['consistency'] = 'any';
      const r = await query(b, read, token);
      const node = r.body.meta?.node ?? '?';
      servedBy.set(node, (servedBy.get(node) ?? 0) + 1);
      if (node === lagging.name && writeEpoch === readEpoch) behindHits++;
      if (r.status !== 200 || r.body.rows?.[0]?.['c'] !== 1) {
        stale++;
        if (stale <= 10) t.comment(`round ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      }
      token = r.token ?? token;
    }
    const seconds = (performance.now() - started) / 1000;
    resume();
    t.comment(`${ROUNDS} rounds in ${seconds.toFixed(1)} s; ${shortPauses} short pauses; reads served by ${JSON.stringify([...servedBy])}; ${behindHits} reads reached ${lagging.name} while it was stopped without that round's write`);
    t.same(failures, [], 'every write was acknowledged');
    t.equal(stale, 0, 'no stale read through the other gateway');
    t.ok((servedBy.get(lagging.name) ?? 0) >= ROUNDS / 10, `the lagging replica ${lagging.name} served ${servedBy.get(lagging.name) ?? 0} of the reads`);
    t.ok(behindHits >= 5, `${behindHits} of them reached it while it was stopped and behind that round's write`);
  });

  await t.test('leader SIGKILLed during a stream of writes: no error, no acknowledged write lost', async (t) => {
    const leader = await cluster.waitForLeader();
    const acknowledged: number[] = [];
    const errors: string[] = [];
    let killed = false;
    let onStream: string | undefined;
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 60; i++) {
        const id = w * 1000 + i;
        const res = await query(a, { query: 'CREATE (:Fo {id: $id})', params: { id } });
        if (res.status === 200) acknowledged.push(id);
        else errors.push(`${id}: ${res.status} ${JSON.stringify(res.body)}`);
        if (w === 0 && i === 15 && !killed) {
          killed = true;
          // Writes in flight on the leader's query stream, which the kill cuts: resent on reconnect or elsewhere.
          onStream = a.app.gateway.streams?.get(leader.url).writeEndpoint;
          await leader.kill('SIGKILL');
        }
      }
    });
    await Promise.all(writers);
    t.equal(onStream, `${leader.url.replace('http', 'ws')}/v1/stream`, "before the kill, writes went over the leader's own query stream");
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
