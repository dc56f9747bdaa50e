/**
 * The gateway's HTTP surface against a fake node (a tiny HTTP server that
 * claims to be the leader): input validation, session tokens, overload and
 * the per-node breaker, without starting a cluster.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { build } from '../../gateway/gateway.js';
import { parseGatewayConfig } from '../../gateway/config.js';

interface FakeNode {
  url: string;
  mode: 'ok' | 'slow' | 'crash';
  queries: number;
  close(): Promise<void>;
}

async function fakeNode(): Promise<FakeNode> {
  const node: FakeNode = { url: '', mode: 'ok', queries: 0, close: async () => undefined };
  const server = createServer((req, res) => {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/healthz') return json(200, { status: 'ok', node: 'fake' });
    if (req.url === '/api/v1/cluster/status') {
      return json(200, { node: 'fake', term: 3, leader: 'fake', leader_url: node.url, commit_index: 1, applied_index: 1, quorum_status: 'healthy', nodes: [{ id: 'fake', role: 'primary', status: 'healthy', replication_lag: 0, applied_index: 1, url: node.url }], backup: { mode: 'continuous', state: 'archiving', archiver: 'fake', archived_index: 1, lag_ms: 12 } });
    }
    if (req.url === '/v1/query') {
      node.queries++;
      req.resume();
      if (node.mode === 'crash') return void req.socket.destroy();
      const answer = (): void => json(200, { columns: ['x'], rows: [{ x: 1 }], stats: {}, meta: { node: 'fake', role: 'primary', term: 3, index: 1, applied_index: 1 } });
      if (node.mode === 'slow') setTimeout(answer, 1500);
      else answer();
      return;
    }
    json(404, { error: { code: 'NOT_FOUND', message: 'no' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  node.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return node;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function setup(t: { teardown(fn: () => Promise<void>): void }, extra: Record<string, unknown> = {}) {
  const node = await fakeNode();
  const config = parseGatewayConfig({ session_secret: 'k'.repeat(32), regions: { here: { lat: 0, lon: 0, role: 'primary', nodes: [node.url] } }, health_interval_ms: 200, ...extra }, 'test', {});
  const app = await build({ config, breakers: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 3000 } });
  t.teardown(async () => {
    await app.close();
    await node.close();
  });
  const deadline = Date.now() + 20_000;
  while (app.gateway.topology.availableLeader() === undefined && Date.now() < deadline) await sleep(20);
  return { node, app };
}

const post = (app: Awaited<ReturnType<typeof build>>, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/query', headers: { 'content-type': 'application/json', ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });

t.test("the gateway's cluster status carries the leader's backup state", async (t) => {
  const { app } = await setup(t);
  const body = (await app.inject({ method: 'GET', url: '/api/v1/cluster/status' })).json() as { backup: unknown; leader: string };
  t.equal(body.leader, 'fake');
  t.same(body.backup, { mode: 'continuous', state: 'archiving', archiver: 'fake', archived_index: 1, lag_ms: 12 }, 'as the leader reported it');
});

t.test('bad inputs get clear JSON errors and never reach the node', async (t) => {
  const { app, node } = await setup(t, { max_query_bytes: 64, body_limit: 1024 });
  const cases: [string, unknown, number, string, RegExp][] = [
    ['invalid JSON', '{"query":', 400, 'BAD_REQUEST', /not valid JSON/],
    ['missing query', {}, 400, 'BAD_REQUEST', /query/],
    ['unknown field', { query: 'RETURN 1', bogus: 1 }, 400, 'BAD_REQUEST', /bogus/],
    ['wrong type', { query: 'RETURN 1', timeout_ms: 'soon' }, 400, 'BAD_REQUEST', /timeout_ms/],
    ['syntax error', { query: 'MATCH (n RETURN n' }, 400, 'SYNTAX_ERROR', /./],
    ['query too large', { query: `RETURN '${'x'.repeat(100)}'` }, 413, 'PAYLOAD_TOO_LARGE', /bytes/],
    ['body too large', { query: 'RETURN 1', params: { p: 'y'.repeat(5000) } }, 413, 'PAYLOAD_TOO_LARGE', /larger/],
    ['bad session setting', { query: 'SET SESSION READ PREFERENCE fastest' }, 400, 'SYNTAX_ERROR|BAD_REQUEST' as string, /./],
  ];
  for (const [name, payload, status, code, message] of cases) {
    const res = await post(app, payload);
    t.equal(res.statusCode, status, `${name}: status`);
    const body = res.json() as { error?: { code?: string; message?: string } };
    t.match(body.error?.code, new RegExp(`^(${code})$`), `${name}: code`);
    t.match(body.error?.message, message, `${name}: message`);
  }
  const text = await app.inject({ method: 'POST', url: '/v1/query', headers: { 'content-type': 'text/plain' }, payload: 'RETURN 1' });
  t.equal(text.statusCode, 400);
  t.equal((await app.inject({ method: 'GET', url: '/nope' })).json().error.code, 'NOT_FOUND');
  t.equal(node.queries, 0, 'nothing reached the node');
  t.equal((await post(app, { query: 'RETURN 1' })).statusCode, 200, 'the gateway still serves');
});

t.test('a tampered session token gets 401; a good one is honoured', async (t) => {
  const { app } = await setup(t);
  const set = await post(app, { query: 'SET SESSION MAX REPLICATION LAG 250' });
  t.equal(set.statusCode, 200);
  const token = String(set.headers['geode-session']);
  t.same(app.gateway.codec.decode(token).maxLagMs, 250);
  const ok = await post(app, { query: 'RETURN 1' }, { 'geode-session': token });
  t.equal(ok.statusCode, 200);
  t.equal(app.gateway.codec.decode(String(ok.headers['geode-session'])).maxLagMs, 250, 'the session travels back');
  const tampered = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
  const res = await post(app, { query: 'RETURN 1' }, { 'geode-session': tampered });
  t.equal(res.statusCode, 401);
  t.equal(res.json().error.code, 'UNAUTHORIZED');
});

t.test('a full read bulkhead answers 503 OVERLOADED with Retry-After', async (t) => {
  const { app, node } = await setup(t, { read_concurrency: 1 });
  node.mode = 'slow';
  const slow = post(app, { query: 'RETURN 1', consistency: 'any' });
  await sleep(200);
  const res = await post(app, { query: 'RETURN 1', consistency: 'any' });
  t.equal(res.statusCode, 503);
  t.equal(res.json().error.code, 'OVERLOADED');
  t.equal(res.headers['retry-after'], '1');
  t.equal((await slow).statusCode, 200, 'the request holding the slot completes');
});

t.test('the node breaker opens after repeated failures and half-opens later', async (t) => {
  const { app, node } = await setup(t, { write_hold_ms: 100 });
  node.mode = 'crash';
  for (let i = 0; i < 4; i++) {
    const res = await post(app, { query: 'RETURN 1', consistency: 'leader' });
    t.not(res.statusCode, 200, 'a crashing node gives an error');
    t.type(res.json().error.code, 'string');
  }
  const status = () => app.inject({ method: 'GET', url: '/api/v1/cluster/status' }).then((r) => r.json() as { nodes: { breaker: string }[] });
  t.equal((await status()).nodes[0]?.breaker, 'open');
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /geode_gateway_breaker_state\{node="fake"\} 2/);
  node.mode = 'ok';
  const deadline = Date.now() + 20_000;
  let state = 'open';
  while (state === 'open' && Date.now() < deadline) {
    await sleep(50);
    state = (await status()).nodes[0]?.breaker ?? 'missing';
  }
  t.equal(state, 'half_open');
  let res = await post(app, { query: 'RETURN 1', consistency: 'leader' });
  while (res.statusCode !== 200 && Date.now() < deadline) {
    await sleep(100);
    res = await post(app, { query: 'RETURN 1', consistency: 'leader' });
  }
  t.equal(res.statusCode, 200, 'the trial succeeds');
  t.equal((await status()).nodes[0]?.breaker, 'closed');
});

t.test('over a real socket, POST /v1/query (served ahead of fastify) keeps the same contract', async (t) => {
  const { app, node } = await setup(t, { body_limit: 1024 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/query`;
  const send = async (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, headers: res.headers, json: (await res.json()) as { error?: { code?: string; message?: string }; rows?: unknown[] } };
  };
  const cases: [string, string, Record<string, string> | undefined, number, string, RegExp][] = [
    ['invalid JSON', '{"query":', undefined, 400, 'BAD_REQUEST', /not valid JSON/],
    ['empty body', '', undefined, 400, 'BAD_REQUEST', /empty/],
    ['not an object', '[1, 2]', undefined, 400, 'BAD_REQUEST', /body/],
    ['unknown field', '{"query": "RETURN 1", "bogus": 1}', undefined, 400, 'BAD_REQUEST', /unknown field bogus/],
    ['prototype key', '{"query": "RETURN 1", "__proto__": {"x": 1}}', undefined, 400, 'BAD_REQUEST', /unknown field __proto__/],
    ['missing query', '{"params": {}}', undefined, 400, 'BAD_REQUEST', /missing field query/],
    ['wrong content type', '{"query": "RETURN 1"}', { 'content-type': 'text/plain' }, 400, 'BAD_REQUEST', /content type/],
    ['syntax error', '{"query": "MATCH (n RETURN n"}', undefined, 400, 'SYNTAX_ERROR', /./],
    ['body too large', JSON.stringify({ query: 'RETURN 1', params: { p: 'y'.repeat(5000) } }), undefined, 413, 'PAYLOAD_TOO_LARGE', /larger/],
    ['bad session token', '{"query": "RETURN 1"}', { 'content-type': 'application/json', 'geode-session': 'not.a-token' }, 401, 'UNAUTHORIZED', /session/],
  ];
  for (const [name, body, headers, status, code, message] of cases) {
    const res = await send(body, headers);
    t.equal(res.status, status, `${name}: status`);
    t.equal(res.json.error?.code, code, `${name}: code`);
    t.match(res.json.error?.message, message, `${name}: message`);
  }
  // A chunked body (no content-length) over the limit is refused as it streams in.
  const chunked = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new ReadableStream({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new TextEncoder().encode(`${i === 0 ? '{"query": "RETURN 1", "params": {"p": "' : ''}${'z'.repeat(400)}`));
        controller.close();
      },
    }),
    duplex: 'half',
    signal: AbortSignal.timeout(10_000),
  } as RequestInit).then(async (res) => ({ status: res.status, json: (await res.json()) as { error?: { code?: string } } }));
  t.equal(chunked.status, 413, 'chunked body over the limit: 413');
  t.equal(chunked.json.error?.code, 'PAYLOAD_TOO_LARGE');
  t.equal(node.queries, 0, 'nothing reached the node');
  const ok = await send('{"query": "RETURN 1"}', { 'content-type': 'Application/JSON; charset=utf-8' });
  t.equal(ok.status, 200, 'the gateway still serves (media type matched without regard to case or parameters)');
  t.same(ok.json.rows, [{ x: 1 }]);
  t.ok(ok.headers.get('geode-session'), 'the answer carries the session token');
});
