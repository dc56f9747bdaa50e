/**
 * Real processes: read routing policies through the gateway over a 3-node
 * loopback cluster (round_robin, nearest with trusted X-Forwarded-For,
 * a SIGSTOPped replica under MAX REPLICATION LAG 100, which the gateway status
 * reports over the bound or unhealthy while paused and back within it after SIGCONT).
 */
import t from 'tap';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { startTwoRegions } from '../helpers/two-regions.js';

interface StatusEntry {
  url: string;
  status: string;
  replication_lag: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function query(gw: RunningGateway, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const json = (await res.json()) as { meta?: { node?: string }; error?: { code: string } };
  return { status: res.status, token: res.headers.get('geode-session') ?? '', node: json.meta?.node, body: json };
}

t.test('read routing over a real cluster', async (t) => {
  const { cluster, fa, fb, gw } = await startTwoRegions(t, 'routing');
  t.equal((await query(gw, { query: 'CREATE (:R {v: 1})' })).status, 200);

  /** A gateway with all three nodes in one region, once both followers are candidates. */
  const flatGateway = async (t: { teardown(fn: () => unknown): void }, readHedgeMs: number): Promise<RunningGateway> => {
    const flat = await startGateway(
      parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'routing-secret-routing-secret', region: 'one', read_hedge_ms: readHedgeMs, regions: { one: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } } }, 'test', {}),
    );
    t.teardown(() => flat.close());
    const d = Date.now() + 30_000;
    while (Date.now() < d && flat.app.gateway.service.candidates().filter((c) => !c.leader && c.healthy).length < 2) await sleep(50);
    return flat;
  };

  await t.test('reads are served by the home-region tier before other regions', async (t) => {
    const set = await query(gw, { query: 'SET SESSION READ PREFERENCE round_robin' });
    const counts = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const r = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c', consistency: 'any' }, { 'geode-session': set.token });
      counts.set(r.node ?? '?', (counts.get(r.node ?? '?') ?? 0) + 1);
    }
    t.comment(JSON.stringify([...counts]));
    t.equal(counts.get(fa.name), 200, 'the home-region tier is served first');
    const status = (await (await fetch(`${gw.url}/api/v1/cluster/status`)).json()) as { regions: { nodes: { url: string; query_stream: boolean }[] }[] };
    const entry = status.regions.flatMap((r) => r.nodes).find((n) => n.url === fa.url);
    t.equal(entry?.query_stream, true, 'the reads went over the query stream, which stays open');
  });

  await t.test('nearest picks the node of the client region via trusted X-Forwarded-For', async (t) => {
    const set = await query(gw, { query: 'SET SESSION READ PREFERENCE nearest' });
    const us = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c' }, { 'geode-session': set.token, 'x-forwarded-for': '8.8.8.8' });
    const eu = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c' }, { 'geode-session': set.token, 'x-forwarded-for': '81.2.69.142' });
    t.equal(us.node, fa.name, 'a US address reads from the us-east follower');
    t.equal(eu.node, fb.name, 'a GB address reads from the eu-west follower');
  });

  await t.test('a paused replica leaves rotation under MAX REPLICATION LAG 100 and returns after SIGCONT', async (t) => {
    const BOUND = 100;
    const entryOf = async (): Promise<StatusEntry | undefined> => {
      const status = (await (await fetch(`${gw.url}/api/v1/cluster/status`, { signal: AbortSignal.timeout(10_000) })).json()) as { nodes: StatusEntry[] };
      return status.nodes.find((n) => n.url === fa.url);
    };
    const set = await query(gw, { query: `SET SESSION MAX REPLICATION LAG ${BOUND}` });
    t.teardown(() => fa.resume());
    await fa.pause();
    const pausedAt = Date.now();
    let sawPaused = 0;
    let i = 0;
    let slowest = 0;
    let reported: StatusEntry | undefined;
    let reportedAfter = -1;
    const until = Date.now() + 4000;
    while (Date.now() < until || reported === undefined) {
      await query(gw, { query: 'CREATE (:P {i: $i})', params: { i: i++ } });
      const sentAt = Date.now();
      const r = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c' }, { 'geode-session': set.token });
      slowest = Math.max(slowest, Date.now() - sentAt);
      t.equal(r.status, 200);
      if (r.node === fa.name) sawPaused++;
      // The gateway's own status must say why the node is out of rotation: over the bound, or not healthy.
      const entry = await entryOf();
      if (entry !== undefined && (entry.status !== 'healthy' || entry.replication_lag > BOUND) && reported === undefined) {
        reported = entry;
        reportedAfter = Date.now() - pausedAt;
      }
      if (Date.now() > until + 15_000) break;
    }
    t.comment(`${i} rounds while paused; status first showed it out of bound ${reportedAfter} ms after SIGSTOP; slowest read ${slowest} ms`);
    t.equal(sawPaused, 0, 'no read reached the paused replica');
    t.ok(reported !== undefined, `while paused, the gateway status reported the node over the bound or unhealthy: ${JSON.stringify(reported)}`);
    const last = await entryOf();
    t.ok(last !== undefined && (last.replication_lag > BOUND || last.status !== 'healthy'), `still so at the end of the pause: status ${last?.status}, lag ${last?.replication_lag} ms`);
    fa.resume();
    let back = false;
    const bound = Date.now() + 30_000;
    while (!back && Date.now() < bound) {
      const r = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c' }, { 'geode-session': set.token });
      back = r.node === fa.name;
      if (!back) await sleep(100);
    }
    t.ok(back, 'the replica serves reads again after catching up');
    let within: StatusEntry | undefined;
    const statusBound = Date.now() + 30_000;
    while (within === undefined && Date.now() < statusBound) {
      const entry = await entryOf();
      if (entry !== undefined && entry.status === 'healthy' && entry.replication_lag >= 0 && entry.replication_lag <= BOUND) within = entry;
      else await sleep(100);
    }
    t.ok(within !== undefined, `after SIGCONT the gateway status reports it healthy and within ${BOUND} ms: ${JSON.stringify(within ?? (await entryOf()))}`);
  });

  await t.test('nodes given to the gateway under other addresses than their peers use are listed and routed to once', async (t) => {
    // The peers know each other as 127.0.0.1:port; this gateway is given localhost:port.
    const aliases = cluster.nodes.map((n) => n.url.replace('127.0.0.1', 'localhost'));
    const aliased = await startGateway(
      parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'routing-secret-routing-secret', region: 'one', regions: { one: { lat: 0, lon: 0, role: 'primary', nodes: aliases } } }, 'test', {}),
    );
    t.teardown(() => aliased.close());
    type Merged = { leader: string | null; nodes: { id: string | null; url: string; region: string }[] };
    const merged = async (): Promise<Merged> => (await (await fetch(`${aliased.url}/api/v1/cluster/status`)).json()) as Merged;
    const d = Date.now() + 30_000;
    let status = await merged();
    // Settled: every configured address named, and every member's status (with its peer addresses) seen.
    while (Date.now() < d && (status.leader === null || status.nodes.some((n) => n.id === null))) {
      await sleep(100);
      status = await merged();
    }
    await sleep(1500);
    status = await merged();
    t.same(status.nodes.map((n) => n.url).sort(), [...aliases].sort(), `exactly the configured addresses: ${JSON.stringify(status.nodes)}`);
    t.same(status.nodes.map((n) => n.id).sort(), cluster.nodes.map((n) => n.name).sort(), 'each member once');
    t.ok(status.nodes.every((n) => n.region === 'one'), 'no member under "unassigned"');
    const counts = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const r = await query(aliased, { query: 'MATCH (n:R) RETURN count(n) AS c', consistency: 'any' });
      t.equal(r.status, 200);
      counts.set(r.node ?? '?', (counts.get(r.node ?? '?') ?? 0) + 1);
    }
    t.comment(JSON.stringify([...counts]));
    t.equal(counts.size, 2, 'reads spread over the two followers, each once in the rotation');
    t.equal((await query(aliased, { query: 'CREATE (:R {v: 2})' })).status, 200, 'writes reach the leader');
  });

  await t.test('a read sent to a replica that falls silent is hedged to the next candidate', async (t) => {
    const flat = await flatGateway(t, 100);
    for (let i = 0; i < 10; i++) t.equal((await query(flat, { query: 'RETURN 1 AS one', consistency: 'any' })).status, 200, 'warm: streams open');
    const hedges = async (): Promise<number> => Number(/geode_gateway_read_hedges_total (\d+)/.exec(await (await fetch(`${flat.url}/metrics`)).text())?.[1] ?? 'NaN');
    const before = await hedges();
    // Paused: its sockets stay open, nothing answers. Until health checks mark it down (seconds),
    // round-robin still picks it for every other read; those must not wait out the 2 s attempt.
    t.teardown(() => fa.resume());
    await fa.pause();
    const served = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const r = await query(flat, { query: 'RETURN 1 AS one', consistency: 'any' });
      t.equal(r.status, 200, `read ${i} answered`);
      served.set(r.node ?? '?', (served.get(r.node ?? '?') ?? 0) + 1);
    }
    fa.resume();
    t.comment(JSON.stringify([...served]));
    t.notOk(served.has(fa.name), 'the paused replica answered nothing');
    t.ok((await hedges()) > before, 'reads picked for the paused replica were hedged (geode_gateway_read_hedges_total rose)');
  });

  await t.test('round_robin over a flat region spreads within 10%; least_connections prefers the idle node', async (t) => {
    // Policy only: no hedging (on a loaded machine a hedge may answer a read from the other node).
    const flat = await flatGateway(t, 0);
    const counts = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const r = await query(flat, { query: 'MATCH (n:R) RETURN count(n) AS c', consistency: 'any' });
      counts.set(r.node ?? '?', (counts.get(r.node ?? '?') ?? 0) + 1);
    }
    t.comment(JSON.stringify([...counts]));
    for (const follower of [fa, fb]) {
      const n = counts.get(follower.name) ?? 0;
      t.ok(n >= 90 && n <= 110, `${follower.name} served ${n} of 200`);
    }
    const lc = await query(flat, { query: 'SET SESSION READ PREFERENCE least_connections' });
    // One follower gets a slow read in flight; quick reads meanwhile must go to the other.
    const slowQuery = 'UNWIND range(1, 3000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS c';
    const slow = query(flat, { query: slowQuery, consistency: 'any' }, { 'geode-session': lc.token });
    await sleep(100);
    const busy = flat.app.gateway.topology.views().find((v) => v.inflight > 0);
    const quick: (string | undefined)[] = [];
    for (let i = 0; i < 5 && busy !== undefined && busy.inflight > 0; i++) quick.push((await query(flat, { query: 'RETURN 1 AS one', consistency: 'any' }, { 'geode-session': lc.token })).node);
    const slowAnswer = await slow;
    t.ok(busy !== undefined, 'the slow read was in flight');
    t.ok(quick.length > 0, 'quick reads ran while it was');
    t.notOk(quick.includes(busy?.name), `quick reads avoided the busy node ${busy?.name ?? '?'}: ${quick.join(',')}`);
    t.ok(slowAnswer.status === 200 || slowAnswer.body.error !== undefined);
  });
});
