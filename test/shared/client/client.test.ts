/**
 * The client against small fake HTTP servers: failover rules (421 leader_url,
 * 503 Retry-After, connection errors), session token round trip, request_id
 * reuse, deadline, replica selection, and the connection pool.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { Client, ConnectionPool, GeodeConnectionError, GeodeError, PoolExhaustedError, PrimaryUnavailable, ReplicaSelector, retryAfterMs } from '../../../shared/client/index.js';

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

type Handler = (seen: Seen, res: ServerResponse, index: number) => void | Promise<void>;

interface Fake {
  url: string;
  requests: Seen[];
  /** Only POST /v1/query requests. */
  queries(): Seen[];
  close(): Promise<void>;
}

/** A server whose /v1/query answers come from `handler`; /healthz answers 200 unless `healthy` says otherwise. */
async function fake(t: Test, handler: Handler, options: { healthy?: () => boolean; healthDelayMs?: number } = {}): Promise<Fake> {
  const requests: Seen[] = [];
  let queryCount = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const seen: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {} };
      requests.push(seen);
      if (seen.path === '/healthz') {
        const ok = options.healthy?.() ?? true;
        const answer = (): void => void res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'down' }));
        if (options.healthDelayMs === undefined) answer();
        else setTimeout(answer, options.healthDelayMs);
        return;
      }
      void handler(seen, res, queryCount++);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.teardown(close);
  return { url, requests, queries: () => requests.filter((r) => r.path === '/v1/query'), close };
}

function ok(res: ServerResponse, rows: Record<string, unknown>[] = [], meta: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(
    JSON.stringify({ columns: rows[0] !== undefined ? Object.keys(rows[0]) : [], rows, stats: { nodes_created: 0 }, meta: { node: 'n1', role: 'primary', term: 1, index: 1, applied_index: 1, ...meta } }),
  );
}

function fail(res: ServerResponse, status: number, code: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: { code, message: `${code} from fake`, ...extra } }));
}

/** A port with nothing listening. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const noWait = (): number => 0;

t.test('query returns [result, meta] with rows keyed by column', async (t) => {
  const server = await fake(t, (_s, res) => ok(res, [{ total: 3 }], { node: 'node2', index: 7 }));
  const client = new Client({ url: server.url });
  t.teardown(() => client.close());
  const [result, meta] = await client.query('MATCH (n:Node) RETURN COUNT(n) AS total');
  t.equal(result.rows[0]?.['total'], 3);
  t.same(result.columns, ['total']);
  t.equal(meta.node, 'node2');
  t.equal(meta.index, 7);
  t.equal(meta.attempts, 1);
  t.equal(server.queries()[0]?.body['query'], 'MATCH (n:Node) RETURN COUNT(n) AS total');
});

t.test('a 421 is followed to leader_url with the same request_id, and the leader is remembered', async (t) => {
  const leader = await fake(t, (_s, res) => ok(res, [], { node: 'leader' }));
  const follower = await fake(t, (_s, res) => fail(res, 421, 'NOT_LEADER', { leader_id: 'leader', leader_url: leader.url }));
  const client = new Client({ url: follower.url, retryBackoff: noWait });
  t.teardown(() => client.close());
  const [, meta] = await client.execute('CREATE (n:Node {id: $id})', { id: 1 });
  t.equal(meta.node, 'leader');
  t.equal(meta.url, leader.url);
  t.equal(meta.attempts, 2);
  const first = follower.queries()[0]?.body;
  const second = leader.queries()[0]?.body;
  t.type(first?.['request_id'], 'string');
  t.equal(second?.['request_id'], first?.['request_id'], 'the redirected write keeps its request_id');
  t.same(second?.['params'], { id: 1 });
  await client.execute('CREATE (n:Node {id: 2})');
  t.equal(follower.queries().length, 1, 'the next write goes straight to the remembered leader');
  t.equal(leader.queries().length, 2);
});

t.test('a 503 with Retry-After is retried no sooner than the server asked', async (t) => {
  const server = await fake(t, (_s, res, i) => (i === 0 ? fail(res, 503, 'OVERLOADED', {}, { 'retry-after': '1' }) : ok(res, [{ x: 1 }])));
  const client = new Client({ url: server.url, retryBackoff: noWait });
  t.teardown(() => client.close());
  const started = Date.now();
  const [result, meta] = await client.query('RETURN 1 AS x');
  t.equal(result.rows[0]?.['x'], 1);
  t.equal(meta.attempts, 2);
  t.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms for Retry-After: 1`);
});

t.test('Retry-After beyond the deadline gives up at once with the server error', async (t) => {
  const server = await fake(t, (_s, res) => fail(res, 503, 'NO_QUORUM', {}, { 'retry-after': '60' }));
  const client = new Client({ url: server.url, deadlineMs: 2_000, retryBackoff: noWait });
  t.teardown(() => client.close());
  const error = await client.execute('CREATE ()').catch((e: unknown) => e);
  t.ok(error instanceof GeodeError, 'a GeodeError');
  t.equal((error as GeodeError).code, 'NO_QUORUM');
  t.equal(server.queries().length, 1, 'no second attempt');
});

t.test('the session token of each answer is sent back on the next request', async (t) => {
  const server = await fake(t, (s, res, i) => ok(res, [], { index: i + 1 }, { 'geode-session': `token-${i + 1}` }));
  const client = new Client({ url: server.url });
  t.teardown(() => client.close());
  await client.query('SET SESSION READ PREFERENCE nearest');
  await client.execute('CREATE ()');
  await client.connection().query('MATCH (n) RETURN n');
  const sent = server.queries().map((q) => q.headers['geode-session']);
  t.same(sent, [undefined, 'token-1', 'token-2']);
  t.equal(client.session.token, 'token-3');
  t.equal(client.session.causalIndex, 3);
  t.equal(server.queries()[2]?.body['after_index'], 2, 'reads carry the causal index');
  const other = new Client({ url: server.url });
  t.teardown(() => other.close());
  other.catchUp(client.session);
  await other.query('MATCH (n) RETURN n');
  t.equal(server.queries()[3]?.headers['geode-session'], 'token-3', 'a second client continues the session');
});

t.test('a connection error is retried with the same request_id, and each call mints a new one', async (t) => {
  const server = await fake(t, (_s, res, i) => {
    if (i === 0) res.socket?.destroy();
    else ok(res);
  });
  const client = new Client({ url: server.url, retryBackoff: noWait });
  t.teardown(() => client.close());
  await client.execute('CREATE (:A)');
  await client.execute('CREATE (:A)');
  const ids = server.queries().map((q) => q.body['request_id']);
  t.equal(ids.length, 3);
  t.equal(ids[0], ids[1], 'retry reuses the request_id');
  t.not(ids[2], ids[0], 'a new call mints a new one');
});

t.test('the deadline bounds a call against a server that never answers', async (t) => {
  const server = await fake(t, () => {
    // Never answers.
  });
  const client = new Client({ url: server.url, deadlineMs: 1_500, attemptTimeoutMs: 400, maxRetries: 100, retryBackoff: () => 50 });
  t.teardown(() => client.close());
  const started = Date.now();
  const error = await client.query('RETURN 1').catch((e: unknown) => e);
  t.ok(error instanceof GeodeConnectionError, `a GeodeConnectionError: ${String(error)}`);
  t.ok(Date.now() - started < 10_000, 'gave up within a generous bound');
  t.ok(server.queries().length >= 2, 'retried before the deadline');
});

t.test('maxRetries bounds the attempts', async (t) => {
  const server = await fake(t, (_s, res) => fail(res, 503, 'OVERLOADED'));
  const client = new Client({ url: server.url, maxRetries: 3, retryBackoff: noWait });
  t.teardown(() => client.close());
  const error = await client.query('RETURN 1').catch((e: unknown) => e);
  t.equal((error as GeodeError).code, 'OVERLOADED');
  t.equal(server.queries().length, 4, 'first attempt + 3 retries');
});

t.test('no reachable host is a GeodeConnectionError (PrimaryUnavailable)', async (t) => {
  const client = new Client({ url: [await deadUrl(), await deadUrl()], maxRetries: 3, retryBackoff: noWait });
  t.teardown(() => client.close());
  const error = await client.query('RETURN 1').catch((e: unknown) => e);
  t.ok(error instanceof PrimaryUnavailable);
  t.equal((error as GeodeConnectionError).attempts, 4);
  t.equal(new Set((error as GeodeConnectionError).urls).size, 2, 'both hosts were tried');
});

t.test('a list of hosts is tried in order until one answers, which is then preferred', async (t) => {
  const live = await fake(t, (_s, res) => ok(res, [{ ok: true }]));
  const dead = await deadUrl();
  const client = new Client({ url: [dead, live.url], retryBackoff: noWait });
  t.teardown(() => client.close());
  const [, meta] = await client.query('RETURN true AS ok');
  t.equal(meta.url, live.url);
  t.equal(meta.attempts, 2);
  const [, again] = await client.query('RETURN true AS ok');
  t.equal(again.attempts, 1, 'the host that answered is tried first next time');
});

t.test('a client error is not retried and carries the server code and detail', async (t) => {
  const server = await fake(t, (_s, res) => fail(res, 400, 'SYNTAX_ERROR', { detail: 'UnexpectedToken', position: { offset: 0, line: 1, column: 1 } }));
  const client = new Client({ url: server.url });
  t.teardown(() => client.close());
  const error = await client.query('MATC (n)').catch((e: unknown) => e);
  t.ok(error instanceof GeodeError);
  t.equal((error as GeodeError).code, 'SYNTAX_ERROR');
  t.equal((error as GeodeError).detail, 'UnexpectedToken');
  t.same((error as GeodeError).position, { offset: 0, line: 1, column: 1 });
  t.equal(server.queries().length, 1);
});

t.test('bigint parameters travel as exact JSON integers', async (t) => {
  const server = await fake(t, (_s, res) => ok(res));
  const client = new Client({ url: server.url });
  t.teardown(() => client.close());
  await client.execute('CREATE (:N {v: $v})', { v: 9007199254740993n, s: 'x' });
  const raw = server.requests.find((r) => r.path === '/v1/query');
  t.same(raw?.body['params'], { v: 9007199254740992, s: 'x' }, 'JSON.parse rounds, but the text had the exact digits');
});

t.test('direct mode: writes to the primary, reads round-robin over replicas with the lag bound', async (t) => {
  const primary = await fake(t, (_s, res) => ok(res, [], { node: 'p', role: 'primary', index: 10 }));
  const r1 = await fake(t, (_s, res) => ok(res, [{ from: 'r1' }], { node: 'r1', role: 'standby' }));
  const r2 = await fake(t, (_s, res) => ok(res, [{ from: 'r2' }], { node: 'r2', role: 'standby' }));
  const client = new Client({ primary: primary.url, replicas: [r1.url, r2.url], replicaSelector: ReplicaSelector.ROUND_ROBIN, maxReplicationLag: 100 });
  t.teardown(() => client.close());
  await client.execute('CREATE (u:User {id: $id})', { id: 123 });
  t.equal(primary.queries().length, 1);
  t.equal(primary.queries()[0]?.body['max_lag_ms'], undefined, 'writes carry no lag bound');
  const from: unknown[] = [];
  for (let i = 0; i < 4; i++) from.push((await client.query('MATCH (u:User) RETURN count(u)'))[0].rows[0]?.['from']);
  t.same(from, ['r1', 'r2', 'r1', 'r2']);
  const read = r1.queries()[0]?.body;
  t.equal(read?.['max_lag_ms'], 100);
  t.equal(read?.['consistency'], 'bounded');
  t.equal(read?.['after_index'], 10, 'reads wait for the client\'s own write');
});

t.test('direct mode: a lagging replica is skipped at once for the next one', async (t) => {
  const primary = await fake(t, (_s, res) => ok(res, [{ from: 'p' }]));
  const lagging = await fake(t, (_s, res) => fail(res, 503, 'REPLICA_LAGGING', {}, { 'retry-after': '1' }));
  const fresh = await fake(t, (_s, res) => ok(res, [{ from: 'fresh' }], { role: 'standby' }));
  const client = new Client({ primary: primary.url, replicas: [lagging.url, fresh.url], maxReplicationLag: 100 });
  t.teardown(() => client.close());
  const started = Date.now();
  const [result, meta] = await client.query('MATCH (n) RETURN n');
  t.equal(result.rows[0]?.['from'], 'fresh');
  t.equal(meta.attempts, 2);
  t.ok(Date.now() - started < 900, 'did not wait out the lagging replica\'s Retry-After');
});

t.test('direct mode: a write sent to a replica by query() follows leader_url', async (t) => {
  const leader = await fake(t, (_s, res) => ok(res, [], { role: 'primary' }));
  const replica = await fake(t, (_s, res) => fail(res, 421, 'NOT_LEADER', { leader_url: leader.url }));
  const dead = await deadUrl();
  const client = new Client({ primary: dead, replicas: [replica.url], retryBackoff: noWait });
  t.teardown(() => client.close());
  await client.query('CREATE (n)');
  t.equal(client.leaderUrl, leader.url);
  await client.execute('CREATE (n)');
  t.equal(leader.queries().length, 2, 'the dead primary is no longer tried first');
});

t.test('direct mode: LEAST_CONNECTIONS avoids the replica busy with this client\'s call', async (t) => {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const slow = await fake(t, async (_s, res) => {
    await held;
    ok(res, [{ from: 'slow' }]);
  });
  const idle = await fake(t, (_s, res) => ok(res, [{ from: 'idle' }]));
  const client = new Client({ primary: idle.url, replicas: [slow.url, idle.url], replicaSelector: ReplicaSelector.LEAST_CONNECTIONS });
  t.teardown(() => client.close());
  // Round-robin tie-break: the first read starts at `slow` and stays in flight there.
  const first = client.query('RETURN 1');
  while (slow.queries().length === 0) await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 3; i++) t.equal((await client.query('RETURN 1'))[0].rows[0]?.['from'], 'idle');
  release();
  t.equal((await first)[0].rows[0]?.['from'], 'slow');
});

t.test('direct mode: NEAREST reads from the replica with the lowest measured round trip', async (t) => {
  // A distant replica: its /healthz answers 100 ms late (a timer, so the near one is not held up too).
  const far = await fake(t, (_s, res) => ok(res, [{ from: 'far' }]), { healthDelayMs: 100 });
  const near = await fake(t, (_s, res) => ok(res, [{ from: 'near' }]));
  const client = new Client({ primary: near.url, replicas: [far.url, near.url], replicaSelector: ReplicaSelector.NEAREST });
  t.teardown(() => client.close());
  for (let i = 0; i < 3; i++) t.equal((await client.query('RETURN 1'))[0].rows[0]?.['from'], 'near');
});

t.test('direct mode: SET SESSION is applied by the client', async (t) => {
  const primary = await fake(t, (_s, res) => ok(res));
  const replica = await fake(t, (_s, res) => ok(res));
  const client = new Client({ primary: primary.url, replicas: [replica.url] });
  t.teardown(() => client.close());
  const [, meta] = await client.query('SET SESSION READ PREFERENCE least_connections');
  t.equal(meta.node, 'client');
  t.equal(client.replicaSelector, ReplicaSelector.LEAST_CONNECTIONS);
  await client.query('SET SESSION MAX REPLICATION LAG 250;');
  await client.query('MATCH (n) RETURN n');
  t.equal(replica.queries()[0]?.body['max_lag_ms'], 250);
  t.equal(primary.queries().length + replica.queries().length, 1, 'settings never reach a node');
  await t.rejects(client.query('SET SESSION READ PREFERENCE fastest'), RangeError);
});

t.test('connection(): await using closes it; a closed connection refuses calls', async (t) => {
  const server = await fake(t, (_s, res) => ok(res, [{ n: 1 }]));
  const client = new Client({ url: server.url });
  t.teardown(() => client.close());
  let escaped: { isClosed: boolean; query: Client['query'] } | undefined;
  {
    await using conn = client.connection();
    escaped = conn;
    const [result] = await conn.query('RETURN 1 AS n');
    t.equal(result.rows[0]?.['n'], 1);
  }
  t.equal(escaped.isClosed, true);
  t.throws(() => escaped?.query('RETURN 1'), /closed/);
});

t.test('ConnectionPool: leases are bounded, waiters get released connections, timeouts are PoolExhaustedError', async (t) => {
  const server = await fake(t, (_s, res) => ok(res, [{ n: 1 }]));
  const pool = new ConnectionPool({ nodes: [server.url], maxConnections: 1, minConnections: 1, connectionTimeout: 300, healthCheckInterval: 0 });
  t.teardown(() => pool.close());
  await pool.ready;
  const first = await pool.acquire();
  t.equal(pool.size, 1);
  await t.rejects(pool.acquire(), PoolExhaustedError);
  const waiting = pool.acquire();
  t.equal(pool.pending, 1);
  first.close();
  const second = await waiting;
  const [result] = await second.query('RETURN 1 AS n');
  t.equal(result.rows[0]?.['n'], 1);
  second.close();
  t.equal(pool.size, 0);
});

t.test('ConnectionPool: health checks steer leases to live nodes; calls fail over between nodes', async (t) => {
  let firstHealthy = false;
  const a = await fake(t, (_s, res) => void res.socket?.destroy(), { healthy: () => firstHealthy });
  const b = await fake(t, (_s, res) => ok(res, [{ from: 'b' }]));
  const pool = new ConnectionPool({ nodes: [a.url, b.url], maxConnections: 4, healthCheckInterval: 100, maxRetries: 3, retryBackoff: noWait });
  t.teardown(() => pool.close());
  await pool.ready;
  t.same(pool.nodes().map((n) => n.healthy), [false, true]);
  {
    await using conn = await pool.acquire();
    t.equal(conn.url, b.url, 'bound to the healthy node');
  }
  firstHealthy = true;
  const deadline = Date.now() + 10_000;
  while (pool.nodes()[0]?.healthy !== true && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(pool.nodes()[0]?.healthy, true, 'the periodic check saw node a come back');
  await using onA = await pool.acquire();
  t.equal(onA.url, a.url, 'fewest leases: a');
  const [result, meta] = await onA.query('MATCH (n) RETURN n');
  t.equal(result.rows[0]?.['from'], 'b', 'a reset connection failed over to b');
  t.equal(meta.attempts, 2);
});

t.test('Retry-After parses seconds and HTTP dates', async (t) => {
  t.equal(retryAfterMs({ 'retry-after': '2' }), 2_000);
  t.equal(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000), 6_000);
  t.equal(retryAfterMs({}), undefined);
  t.equal(retryAfterMs({ 'retry-after': 'soon' }), undefined);
});

t.test('options are validated', async (t) => {
  t.throws(() => new Client({}), TypeError);
  t.throws(() => new Client({ url: 'http://a', primary: 'http://b' }), TypeError);
  t.throws(() => new Client({ primary: 'http://a', maxReplicationLag: -1 }), RangeError);
  t.throws(() => new ConnectionPool({ nodes: [] }), TypeError);
  t.throws(() => new ConnectionPool({ nodes: ['a:1'], minConnections: 5, maxConnections: 2 }), RangeError);
});
