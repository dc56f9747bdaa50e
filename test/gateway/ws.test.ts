/**
 * Real processes: the gateway's WebSocket session (`GET /v1/ws`) over a
 * 3-node loopback cluster in two regions.
 * - `SET SESSION READ PREFERENCE` / `MAX REPLICATION LAG` persist for the
 *   connection: later queries on the socket are routed by them (a GB client
 *   reads from the eu-west follower once it asks for `nearest`) and carry the
 *   lag bound to the node, without the client sending a token;
 * - queries sent back to back with different ids get answers matched to them;
 * - a write then a read on the same socket sees the write, also when the
 *   replica serving the read is SIGSTOPped (behind) as the read reaches it;
 * - bad input (malformed JSON, unknown fields, bad types, a syntax error, a bad
 *   SET SESSION value) gets an error answer with a stable code, the socket
 *   stays open and the session is unchanged.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { WS_PATH } from '../../gateway/api/ws.js';
import { startTwoRegions } from '../helpers/two-regions.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface WsAnswer {
  id: unknown;
  columns?: string[];
  rows?: Record<string, unknown>[];
  meta?: { node?: string; index?: number; applied_index?: number };
  session?: string;
  error?: { code: string; message: string; [extra: string]: unknown };
  [extra: string]: unknown;
}

/** One `/v1/ws` connection: answers are matched to requests by id; answers without a usable id queue up. */
class WsSession {
  private readonly waiters = new Map<string, (answer: WsAnswer) => void>();
  private readonly unmatched: WsAnswer[] = [];
  private unmatchedWaiter: ((answer: WsAnswer) => void) | undefined;
  /** Every answer, in arrival order. */
  readonly received: WsAnswer[] = [];
  closed = false;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const answer = JSON.parse(String(data)) as WsAnswer;
      this.received.push(answer);
      const waiter = this.waiters.get(JSON.stringify(answer.id ?? null));
      if (waiter !== undefined) {
        this.waiters.delete(JSON.stringify(answer.id ?? null));
        waiter(answer);
      } else if (this.unmatchedWaiter !== undefined) {
        const w = this.unmatchedWaiter;
        this.unmatchedWaiter = undefined;
        w(answer);
      } else this.unmatched.push(answer);
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<WsSession> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
      socket.once('open', () => resolve(new WsSession(socket)));
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
  }

  /** Sends `{id, ...body}`; resolves with the answer carrying that id. */
  send(id: string | number, body: Record<string, unknown>, timeoutMs = 30_000): Promise<WsAnswer> {
    const key = JSON.stringify(id);
    if (this.waiters.has(key)) throw new Error(`id ${key} already in flight`);
    const answered = this.wait(key, timeoutMs);
    this.socket.send(JSON.stringify({ id, ...body }));
    return answered;
  }

  /** Sends raw text; resolves with the next answer that no request is waiting for. */
  sendRaw(text: string, timeoutMs = 10_000): Promise<WsAnswer> {
    const answered = new Promise<WsAnswer>((resolve, reject) => {
      const queued = this.unmatched.shift();
      if (queued !== undefined) return resolve(queued);
      const timer = setTimeout(() => reject(new Error(`no answer to ${text} within ${timeoutMs} ms`)), timeoutMs);
      this.unmatchedWaiter = (answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
    });
    this.socket.send(text);
    return answered;
  }

  private wait(key: string, timeoutMs: number): Promise<WsAnswer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no answer for id ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  }

  close(): void {
    this.socket.terminate();
  }
}

t.test('/v1/ws over a real cluster', async (t) => {
  const { fa, fb, gw } = await startTwoRegions(t, 'ws');
  const core = gw.app.gateway;

  // What the gateway sends to the nodes, to see that a session setting reaches them.
  const sent: { url: string; body: Record<string, unknown> }[] = [];
  const original = core.client.query.bind(core.client);
  core.client.query = (url, payload, attemptTimeoutMs, read) => {
    sent.push({ url, body: JSON.parse(payload) as Record<string, unknown> });
    return original(url, payload, attemptTimeoutMs, read);
  };
  t.teardown(() => {
    core.client.query = original;
  });

  const wsUrl = `${gw.url.replace('http', 'ws')}${WS_PATH}`;
  // A client in Great Britain behind a trusted proxy: `nearest` means the eu-west follower for it,
  // while the default round_robin reads from the gateway's home region (us-east) first.
  const ws = await WsSession.open(wsUrl, { 'x-forwarded-for': '81.2.69.142' });
  t.teardown(() => ws.close());
  let seq = 0;
  const nextId = (): string => `m${++seq}`;
  const read = (body: Record<string, unknown> = {}): Promise<WsAnswer> => ws.send(nextId(), { query: 'MATCH (n:WsR) RETURN count(n) AS c', ...body });
  t.equal((await ws.send(nextId(), { query: 'CREATE (:WsR {v: 1})' })).error, undefined, 'a write over the socket is answered');

  await t.test('SET SESSION READ PREFERENCE and MAX REPLICATION LAG persist for the connection', async (t) => {
    // The claim is about a home follower that can serve: healthy, breaker closed, within the default
    // lag bound. On a loaded machine it can miss a health check for a moment; wait until it is eligible.
    // Its lag must be known: a node whose lag is unknown refuses bounded reads (REPLICA_LAGGING).
    const eligible = (url: string): boolean => core.service.candidates().some((c) => c.url === url && c.healthy && c.breaker === 'closed' && c.lagMs !== undefined && c.lagMs <= 1000);
    const waitEligible = async (url: string): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!eligible(url) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    await waitEligible(fa.url);
    const firstSent = sent.length;
    const before = await read();
    t.equal(before.meta?.node, fa.name, `the default session (round_robin) reads from the home-region follower (tried: ${JSON.stringify(sent.slice(firstSent).map((s) => s.url))}; fa ${fa.url})`);
    const set = await ws.send(nextId(), { query: 'SET SESSION READ PREFERENCE nearest' });
    t.equal(set.meta?.node, 'gateway', 'the gateway answers SET SESSION itself');
    t.equal(core.codec.decode(set.session ?? '').readPreference, 'nearest', 'the answer carries the new session');
    // Likewise for the eu-west follower, which `nearest` means for this client.
    await waitEligible(fb.url);
    const nearestSent = sent.length;
    const nodes: (string | undefined)[] = [];
    for (let i = 0; i < 10; i++) nodes.push((await read()).meta?.node);
    const view = JSON.stringify(core.service.candidates().map((c) => [c.url, c.region, c.leader, c.healthy, c.breaker, c.lagMs]));
    t.same(nodes, Array(10).fill(fb.name), `later reads on the socket (no token sent) follow nearest: the eu-west follower (tried: ${JSON.stringify(sent.slice(nearestSent).map((s) => s.url))}; fb ${fb.url}; candidates after: ${view})`);

    const lag = await ws.send(nextId(), { query: 'SET SESSION MAX REPLICATION LAG 100' });
    const session = core.codec.decode(lag.session ?? '');
    t.same({ readPreference: session.readPreference, maxLagMs: session.maxLagMs, consistency: session.consistency }, { readPreference: 'nearest', maxLagMs: 100, consistency: 'bounded' }, 'both settings are held');
    const mark = sent.length;
    const after: WsAnswer[] = [];
    for (let i = 0; i < 5; i++) after.push(await read());
    t.same(
      after.map((a) => a.meta?.node),
      Array(5).fill(fb.name),
      'still nearest after the second setting',
    );
    const reads = sent.slice(mark);
    t.equal(reads.length, 5, 'one node request per read');
    t.ok(
      reads.every((r) => r.body['max_lag_ms'] === 100 && r.body['consistency'] === 'bounded'),
      `each read carried the session's lag bound to the node: ${JSON.stringify(reads.map((r) => [r.body['consistency'], r.body['max_lag_ms']]))}`,
    );
    for (const a of after) {
      const s = core.codec.decode(a.session ?? '');
      t.same([s.readPreference, s.maxLagMs], ['nearest', 100], 'every later answer carries the same settings');
    }
    // A second socket seeded with the token starts from that session.
    const seeded = await WsSession.open(`${wsUrl}?session=${encodeURIComponent(lag.session ?? '')}`, { 'x-forwarded-for': '81.2.69.142' });
    t.teardown(() => seeded.close());
    const s = await seeded.send('x', { query: 'MATCH (n:WsR) RETURN count(n) AS c' });
    t.equal(s.meta?.node, fb.name, 'a socket seeded with ?session= reads with that session (nearest)');
    t.same(core.codec.decode(s.session ?? '').maxLagMs, 100);
  });

  await t.test('queries sent back to back get answers matched to their ids', async (t) => {
    const ids: (string | number)[] = [];
    const pending: Promise<WsAnswer>[] = [];
    // A slow read first, so that quicker answers may overtake it.
    ids.push('slow');
    pending.push(ws.send('slow', { query: 'UNWIND range(1, 300000) AS x WITH x WHERE x % 3 = 0 RETURN count(x) AS k, $tag AS tag', params: { tag: 'slow' } }));
    for (let i = 0; i < 30; i++) {
      const id = i % 3 === 0 ? 1000 + i : `q${i}`;
      ids.push(id);
      pending.push(ws.send(id, { query: 'RETURN $tag AS tag, $i * 2 AS k', params: { tag: String(id), i } }));
    }
    const answers = await Promise.all(pending);
    const mismatched = answers.filter((a, i) => a.id !== ids[i] || a.rows?.[0]?.['tag'] !== String(ids[i]));
    t.same(mismatched, [], 'every answer carries its request id and that request\'s result');
    t.same(answers[0]?.rows, [{ k: 100000, tag: 'slow' }]);
    t.ok(answers.slice(1).every((a, i) => a.rows?.[0]?.['k'] === i * 2), 'each quick answer holds its own parameter');
    const order = ws.received.slice(-answers.length).map((a) => a.id);
    t.comment(`arrival order: ${order.join(',')}`);
    t.equal(new Set(order).size, ids.length, 'one answer per id');
  });

  await t.test('a write then a read on the same socket sees the write, even on a replica that is behind', async (t) => {
    // The session reads from fb (nearest). In some rounds fb is SIGSTOPped before the write and continued
    // shortly after the read was sent: the read reaches it together with the entries it missed. A loose lag
    // bound keeps fb eligible although it is behind; only the causal index protects the read.
    const loose = await ws.send(nextId(), { query: 'SET SESSION MAX REPLICATION LAG 10000' });
    t.equal(core.codec.decode(loose.session ?? '').readPreference, 'nearest', 'the read preference set before still holds');
    t.teardown(() => fb.resume());
    let stale = 0;
    let servedByStopped = 0;
    for (let i = 0; i < 30; i++) {
      const stop = i % 3 === 0;
      if (stop) await fb.pause();
      const w = await ws.send(nextId(), { query: 'CREATE (:WsC {i: $i})', params: { i } });
      t.equal(w.error, undefined, `write ${i}`);
      const reading = ws.send(nextId(), { query: 'MATCH (n:WsC {i: $i}) RETURN count(n) AS c', params: { i } });
      if (stop) {
        await sleep(200);
        fb.resume();
      }
      const r = await reading;
      if (stop && r.meta?.node === fb.name) servedByStopped++;
      if (r.rows?.[0]?.['c'] !== 1) {
        stale++;
        t.comment(`round ${i}: ${JSON.stringify(r)}`);
      }
      t.ok(w.meta?.index !== undefined && (core.codec.decode(r.session ?? '').causalIndex >= (w.meta?.index ?? Infinity)), 'the session\'s causal index covers the write');
    }
    t.equal(stale, 0, 'no read missed the write before it');
    t.ok(servedByStopped >= 5, `${servedByStopped} of the reads were served by ${fb.name} after reaching it while it was stopped`);
  });

  await t.test('bad input gets an error with a stable code and the socket stays usable', async (t) => {
    const sessionBefore = core.codec.decode((await read()).session ?? '');

    const malformed = await ws.sendRaw('{"id": "broken", "query": ');
    t.equal(malformed.error?.code, 'BAD_REQUEST', `malformed JSON: ${JSON.stringify(malformed)}`);
    t.equal(malformed.id, null, 'its id could not be read, so it is null');

    const notObject = await ws.sendRaw('[1, 2, 3]');
    t.equal(notObject.error?.code, 'BAD_REQUEST', 'a JSON array is refused');

    const unknownField = await ws.sendRaw(JSON.stringify({ id: 'u1', query: 'RETURN 1 AS one', bogus: true }));
    t.equal(unknownField.error?.code, 'BAD_REQUEST', 'an unknown field is refused');
    t.match(unknownField.error?.message, /bogus/, 'the message names the field');
    t.equal(unknownField.id, 'u1', `the answer carries the request id at the top level, like every other answer: ${JSON.stringify(unknownField)}`);

    const badParams = await ws.sendRaw(JSON.stringify({ id: 'p1', query: 'RETURN 1 AS one', params: [1] }));
    t.equal(badParams.error?.code, 'BAD_REQUEST', 'params must be an object');
    t.match(badParams.error?.message, /params/);
    t.equal(badParams.id, 'p1', `the answer carries the request id at the top level: ${JSON.stringify(badParams)}`);

    const noQuery = await ws.sendRaw(JSON.stringify({ id: 'n1' }));
    t.equal(noQuery.error?.code, 'BAD_REQUEST', 'a message without a query is refused');

    const syntax = await ws.send('s1', { query: 'MATCH (n RETURN n' });
    t.equal(syntax.error?.code, 'SYNTAX_ERROR', 'a syntax error comes back with its code');
    t.type(syntax.error?.['position'], 'object', 'and its position');

    for (const [id, query] of [
      ['b1', 'SET SESSION MAX REPLICATION LAG -5'],
      ['b2', 'SET SESSION MAX REPLICATION LAG 99999999999'],
      ['b3', 'SET SESSION READ PREFERENCE sideways'],
    ] as const) {
      const bad = await ws.send(id, { query });
      t.ok(bad.error?.code === 'BAD_REQUEST' || bad.error?.code === 'SYNTAX_ERROR', `${query} is refused: ${JSON.stringify(bad.error)}`);
    }

    // Validation errors are answered before the message is run; sendRaw takes the answer whatever its id.
    const badConsistency = await ws.sendRaw(JSON.stringify({ id: 'c1', query: 'RETURN 1 AS one', consistency: 'sometimes' }));
    t.equal(badConsistency.error?.code, 'BAD_REQUEST', 'an unknown consistency level is refused');

    t.equal(ws.closed, false, 'the socket is still open');
    const after = await read();
    t.equal(after.error, undefined, 'and answers the next query');
    t.equal(after.meta?.node, fb.name, 'with the session it had (nearest)');
    const sessionAfter = core.codec.decode(after.session ?? '');
    t.same([sessionAfter.readPreference, sessionAfter.maxLagMs, sessionAfter.consistency], [sessionBefore.readPreference, sessionBefore.maxLagMs, sessionBefore.consistency], 'the errors left the session settings alone');
  });

  await t.test('a query sent right behind SET SESSION (without waiting for its answer) runs with the new setting', async (t) => {
    // The gateway applies SET SESSION to the connection when the message arrives, so a query pipelined
    // behind it (both frames read in one turn) already runs with the new setting.
    const fresh = await WsSession.open(wsUrl, { 'x-forwarded-for': '81.2.69.142' });
    t.teardown(() => fresh.close());
    const [set, r] = await Promise.all([fresh.send('set', { query: 'SET SESSION READ PREFERENCE nearest' }), fresh.send('read', { query: 'MATCH (n:WsR) RETURN count(n) AS c' })]);
    t.equal(set.error, undefined);
    t.equal(r.error, undefined);
    t.equal(r.meta?.node, fb.name, `the pipelined read followed nearest (served by ${r.meta?.node}; nearest is ${fb.name}, round_robin's home follower ${fa.name})`);
  });

  await t.test('a bad session token refuses the upgrade', async (t) => {
    await t.rejects(WsSession.open(`${wsUrl}?session=not-a-token`), /upgrade refused: 401/);
  });
});
