import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { GraphEngine } from '../../../storage-node/graph/engine.js';
import { build } from '../../../storage-node/api/server.js';
import type { ApiEngine } from '../../../storage-node/api/server.js';

interface Harness {
  app: FastifyInstance;
  engine: GraphEngine;
  backgroundSteps: () => number;
}

/** A server on an in-memory engine; the query `boom` makes the engine throw a plain (non-Geode) error. */
async function harness(t: Test): Promise<Harness> {
  const engine = GraphEngine.open(':memory:');
  let steps = 0;
  const api: ApiEngine = {
    execute: (query, params, ctx, options) => {
      if (query === 'boom') throw new Error('secret internal detail at /srv/geode/engine.ts:42');
      return engine.execute(query, params, ctx, options);
    },
    backgroundStep: () => {
      steps += 1;
      return engine.backgroundStep();
    },
  };
  const app = build({ engine: api, nodeId: 'node1' });
  t.teardown(async () => {
    await app.close();
    engine.close();
  });
  await app.ready();
  return { app, engine, backgroundSteps: () => steps };
}


async function query(app: FastifyInstance, body: unknown) {
  const response = await app.inject({ method: 'POST', url: '/v1/query', payload: body as object });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> & { error?: Record<string, unknown> } };
}

async function nodeCount(app: FastifyInstance): Promise<unknown> {
  const { status, body } = await query(app, { query: 'MATCH (n) RETURN count(n) AS total' });
  if (status !== 200) throw new Error(`count failed: ${JSON.stringify(body)}`);
  return (body['rows'] as Record<string, unknown>[])[0]?.['total'];
}

/** The graph still holds `expected` nodes and the server still answers queries. */
async function assertIntact(t: Test, app: FastifyInstance, expected: number): Promise<void> {
  t.equal(await nodeCount(app), expected, 'graph unchanged and server answering');
}

async function seed(app: FastifyInstance, count: number): Promise<void> {
  const { status } = await query(app, { query: 'UNWIND range(1, $n) AS i CREATE (:Seed {i: i})', params: { n: count } });
  if (status !== 200) throw new Error('seed failed');
}

t.test('a query answers rows keyed by column, snake_case stats and meta', async (t) => {
  const { app } = await harness(t);
  const created = await query(app, {
    query: 'CREATE (u:User {id: $id, name: $name, tags: $tags}) RETURN u, u.id AS id',
    params: { id: 7, name: 'Ada', tags: ['a', 1.5] },
  });
  t.equal(created.status, 200);
  t.same(created.body['columns'], ['u', 'id']);
  const row = (created.body['rows'] as Record<string, unknown>[])[0];
  t.match(row, { u: { labels: ['User'], properties: { id: 7, name: 'Ada', tags: ['a', 1.5] } }, id: 7 });
  t.match(created.body['stats'], { nodes_created: 1, properties_set: 3, labels_added: 1, relationships_created: 0 });
  t.same(created.body['meta'], { node: 'node1', role: 'primary', term: 0, index: 1, applied_index: 1 });

  const counted = await query(app, { query: 'MATCH (n:User) RETURN COUNT(n) AS total' });
  t.same(counted.body['rows'], [{ total: 1 }]);
  t.equal((counted.body['meta'] as Record<string, unknown>)['index'], 1, 'reads do not advance the index');
});

t.test('malformed JSON is 400 BAD_REQUEST and changes nothing', async (t) => {
  const { app } = await harness(t);
  await seed(app, 3);
  const response = await app.inject({
    method: 'POST',
    url: '/v1/query',
    headers: { 'content-type': 'application/json' },
    payload: '{"query": "CREATE (:X)"',
  });
  t.equal(response.statusCode, 400);
  t.equal(response.json().error.code, 'BAD_REQUEST');
  await assertIntact(t, app, 3);
});

t.test('a body that breaks the schema is 400 BAD_REQUEST naming the field', async (t) => {
  const { app } = await harness(t);
  const cases: [unknown, RegExp][] = [
    [{}, /missing field query/],
    [{ query: 5 }, /body\.query/],
    [{ query: 'RETURN 1', params: [1] }, /body\.params/],
    [{ query: 'RETURN 1', timeout_ms: 'soon' }, /body\.timeout_ms/],
    [{ query: 'RETURN 1', consistency: 'eventual' }, /body\.consistency/],
    [{ query: 'RETURN 1', parmas: {} }, /unknown field parmas/],
    [[{ query: 'RETURN 1' }], /body/],
  ];
  for (const [body, message] of cases) {
    const { status, body: answer } = await query(app, body);
    t.equal(status, 400, JSON.stringify(body));
    t.match(answer.error, { code: 'BAD_REQUEST', message }, JSON.stringify(body));
  }
  await assertIntact(t, app, 0);
});

t.test('a syntax error is 400 SYNTAX_ERROR with line and column', async (t) => {
  const { app } = await harness(t);
  await seed(app, 2);
  const { status, body } = await query(app, { query: 'MATCH (n)\nRETURN n +' });
  t.equal(status, 400);
  t.match(body.error, { code: 'SYNTAX_ERROR', position: { line: 2, column: Number } });
  await assertIntact(t, app, 2);
});

t.test('a missing parameter is 400 PARAMETER_MISSING and creates nothing', async (t) => {
  const { app } = await harness(t);
  const { status, body } = await query(app, { query: 'CREATE (n:Node {id: $id})' });
  t.equal(status, 400);
  t.equal(body.error?.['code'], 'PARAMETER_MISSING');
  await assertIntact(t, app, 0);
});

t.test('a parameter beyond 64-bit integers is 400 BAD_REQUEST', async (t) => {
  const { app } = await harness(t);
  const { status, body } = await query(app, { query: 'CREATE (n:Node {id: $id})', params: { id: 1e30 } });
  t.equal(status, 400);
  t.match(body.error, { code: 'BAD_REQUEST', message: /params\.id/ });
  await assertIntact(t, app, 0);
});

t.test('a body over the limit is 413 PAYLOAD_TOO_LARGE', async (t) => {
  const { app } = await harness(t);
  const { status, body } = await query(app, { query: 'CREATE (n:Big {s: $s})', params: { s: 'x'.repeat(1024 * 1024) } });
  t.equal(status, 413);
  t.equal(body.error?.['code'], 'PAYLOAD_TOO_LARGE');
  await assertIntact(t, app, 0);
});

t.test('a write past its timeout is TIMEOUT and everything it wrote is rolled back', async (t) => {
  const { app } = await harness(t);
  await seed(app, 200);
  // 200^3 = 8M rows of CREATE: far more than 50 ms of work.
  const { status, body } = await query(app, {
    query: 'MATCH (a:Seed), (b:Seed), (c:Seed) CREATE (:Junk {a: a.i, b: b.i, c: c.i})',
    timeout_ms: 50,
  });
  t.equal(status, 408);
  t.equal(body.error?.['code'], 'TIMEOUT');
  await assertIntact(t, app, 200);
});

t.test('a runtime type error is 400 TYPE_ERROR and its earlier writes are rolled back', async (t) => {
  const { app } = await harness(t);
  const { status, body } = await query(app, { query: "UNWIND [1, 2, 'three'] AS v CREATE (:T {v: v}) RETURN v * 2 AS twice" });
  t.equal(status, 400);
  t.equal(body.error?.['code'], 'TYPE_ERROR');
  await assertIntact(t, app, 0);
});

t.test('an unexpected failure is 500 INTERNAL without leaking its message', async (t) => {
  const { app } = await harness(t);
  const response = await app.inject({ method: 'POST', url: '/v1/query', payload: { query: 'boom' } });
  t.equal(response.statusCode, 500);
  t.same(response.json(), { error: { code: 'INTERNAL', message: 'internal error', retryable: false } });
  t.notMatch(response.body, /secret|\/srv|engine\.ts/);
  await assertIntact(t, app, 0);
});

t.test('an unknown route is a JSON 404 NOT_FOUND', async (t) => {
  const { app } = await harness(t);
  const response = await app.inject({ method: 'GET', url: '/v2/nothing' });
  t.equal(response.statusCode, 404);
  t.equal(response.json().error.code, 'NOT_FOUND');
  const wrongMethod = await app.inject({ method: 'GET', url: '/v1/query' });
  t.equal(wrongMethod.statusCode, 404);
  t.equal(wrongMethod.json().error.code, 'NOT_FOUND');
});

t.test('bad input over a real socket never takes the server down', async (t) => {
  const { app } = await harness(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const post = (body: string, type = 'application/json') =>
    fetch(`${url}/v1/query`, { method: 'POST', headers: { 'content-type': type }, body });
  const malformed = await post('{"query": ');
  t.equal(malformed.status, 400);
  t.equal(((await malformed.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  const oversized = await post(JSON.stringify({ query: 'RETURN 1', params: { s: 'y'.repeat(2 * 1024 * 1024) } }));
  t.equal(oversized.status, 413);
  const wrongType = await post('query=RETURN 1', 'application/x-www-form-urlencoded');
  t.equal(wrongType.status, 400);
  const proto = await post('{"query": "RETURN $p AS p", "params": {"__proto__": {"admin": true}}}');
  t.equal(proto.status, 400);
  const ok = await post(JSON.stringify({ query: 'RETURN 1 AS one' }));
  t.same(((await ok.json()) as { rows: unknown }).rows, [{ one: 1 }]);
});

t.test('healthz answers while the process lives; readyz follows the engine', async (t) => {
  const { app, engine } = await harness(t);
  const health = await app.inject({ url: '/healthz' });
  t.same(health.json(), { status: 'ok', node: 'node1' });
  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ready' });
  engine.close();
  const closed = await app.inject({ url: '/readyz' });
  t.equal(closed.statusCode, 503);
  t.equal(closed.json().status, 'not_ready');
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
});

/** The value of the series `name` whose labels include `labels` (and `node="node1"`), in Prometheus text. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries({ ...labels, node: 'node1' }).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',');
    if (present.length === wanted.length && wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return undefined;
}

t.test('metrics count queries by kind and outcome and include process metrics', async (t) => {
  const { app } = await harness(t);
  await query(app, { query: 'CREATE (:M)' });
  await query(app, { query: 'MATCH (n) RETURN n' });
  await query(app, { query: 'RETURN $missing' });
  await query(app, { query: 'RETURN (' });
  const response = await app.inject({ url: '/metrics' });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^text\/plain/);
  const text = response.body;
  t.equal(sample(text, 'geode_queries_total', { kind: 'write', outcome: 'ok' }), 1);
  t.equal(sample(text, 'geode_queries_total', { kind: 'read', outcome: 'ok' }), 1);
  t.equal(sample(text, 'geode_queries_total', { kind: 'read', outcome: 'PARAMETER_MISSING' }), 1);
  t.equal(sample(text, 'geode_queries_total', { kind: 'unknown', outcome: 'SYNTAX_ERROR' }), 1);
  t.equal(sample(text, 'geode_query_duration_seconds_count', { kind: 'write' }), 1);
  t.equal(sample(text, 'geode_sqlite_seconds_count', {}), 4);
  t.match(text, /geode_process_cpu_seconds_total/);
});

t.test('schema statements start background steps that run until the engine has no more work', async (t) => {
  const { app, backgroundSteps } = await harness(t);
  await seed(app, 2000);
  const before = backgroundSteps();
  const created = await query(app, { query: 'CREATE INDEX ON :Seed(i) WITH MODE online' });
  t.equal(created.status, 200);
  const altered = await query(app, {
    query: 'ALTER GRAPH ADD PROPERTY Seed.verified BOOLEAN DEFAULT false WITH MIGRATION STRATEGY online',
  });
  t.equal(altered.status, 200);
  // Wait (bounded) until the loop went idle: the engine reported no more work.
  for (let i = 0; i < 500 && backgroundSteps() === before; i += 1) await new Promise((r) => setImmediate(r));
  t.ok(backgroundSteps() > before, 'background steps ran');
  const found = await query(app, { query: 'MATCH (s:Seed {i: 1234}) RETURN s.verified AS verified' });
  t.same(found.body['rows'], [{ verified: false }]);
});
