import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { WebSocket } from 'ws';
import type { FastifyInstance } from 'fastify';
import { StorageNode } from '../../../storage-node/node.js';
import type { ClusterStatus } from '../../../storage-node/node.js';
import { build } from '../../../storage-node/api/server.js';
import { QUERY_STREAM_PATH, decodeFrame, encodeFrame } from '../../../shared/protocol/query-stream.js';

/** Three StorageNodes in this process, each behind its own server on 127.0.0.1 port 0. */
const NAMES = ['alpha', 'bravo', 'charlie'] as const;
const TOKEN = 'test-admin-token';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Member {
  name: string;
  url: string;
  app: FastifyInstance;
  node: StorageNode;
}

const root = mkdtempSync(join(tmpdir(), 'geode-api-cluster-'));
const holders = new Map<string, StorageNode>();
const members: Member[] = [];

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value other than undefined; fails after `ms`. */
async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: Record<string, unknown> };
}

async function call(url: string, path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token !== undefined) headers['authorization'] = `Bearer ${init.token}`;
  const response = await fetch(`${url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : (JSON.parse(text) as Answer['body']) };
}

const query = (member: Member, body: Record<string, unknown>) => call(member.url, '/v1/query', { body });

/** The member every node agrees leads, once they do. */
async function leader(): Promise<Member> {
  return eventually('an agreed leader', () => {
    const views = members.map((m) => m.node.clusterStatus().leader);
    const named = views[0];
    if (named === null || named === undefined || views.some((v) => v !== named)) return undefined;
    return members.find((m) => m.name === named && m.node.isLeader);
  });
}

async function follower(): Promise<Member> {
  const lead = await leader();
  const other = members.find((m) => m !== lead);
  if (other === undefined) throw new Error('no follower');
  return other;
}

/** A write on the current leader; an election in between (loaded machine) is retried with the same request id. */
async function write(body: Record<string, unknown>): Promise<Answer> {
  const requestId = `req-${Math.random().toString(36).slice(2)}`;
  return eventually('a write on the leader', async () => {
    const answer = await query(await leader(), { request_id: requestId, ...body });
    return answer.status === 421 ? undefined : answer;
  });
}

t.before(async () => {
  for (const name of NAMES) {
    const app = build({ node: () => holders.get(name), nodeId: name, adminToken: TOKEN });
    await app.listen({ host: '127.0.0.1', port: 0 });
    members.push({ name, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app, node: undefined as unknown as StorageNode });
  }
  const specs = members.map((m) => ({ name: m.name, url: m.url }));
  for (const member of members) {
    member.node = new StorageNode({
      name: member.name,
      dataDir: join(root, member.name),
      members: specs,
      clusterSecret: 'api-test-secret',
      clusterId: 'api-test',
      // Slow ticks: a loaded 2-core machine must not see spurious elections.
      tickMs: 100,
      electionTicks: 10,
      readWorkers: 1,
      readLanes: { host: '127.0.0.1' },
      logger: silent,
    });
    holders.set(member.name, member.node);
  }
  await Promise.all(members.map((m) => m.node.start()));
  await leader();
});

t.teardown(async () => {
  await Promise.all(members.map((m) => m.node.stop({ transfer: false }).catch(() => undefined)));
  await Promise.all(members.map((m) => m.app.close()));
  rmSync(root, { recursive: true, force: true });
});

t.test('a write on the leader answers rows, snake_case stats and the entry index in meta', async (t) => {
  const created = await write({ query: 'CREATE (p:Person {name: $name}) RETURN p.name AS name', params: { name: 'Ada' } });
  t.equal(created.status, 200, JSON.stringify(created.body));
  t.same(created.body['columns'], ['name']);
  t.same(created.body['rows'], [{ name: 'Ada' }]);
  t.match(created.body['stats'], { nodes_created: 1, properties_set: 1 });
  const meta = created.body['meta'] as Record<string, unknown>;
  t.match(meta, { role: 'primary', term: Number, index: Number, applied: true, request_id: /^req-/ });
  t.ok((meta['index'] as number) > 0, 'the write has a log index');
});

t.test('a write on a follower is 421 NOT_LEADER naming the leader and its URL', async (t) => {
  const lead = await leader();
  const other = await follower();
  const refused = await query(other, { query: 'CREATE (:Nope)' });
  t.equal(refused.status, 421);
  t.match(refused.body.error, { code: 'NOT_LEADER', leader_id: lead.name, leader_url: lead.url, retryable: true, request_id: String });
});

t.test('every error answer to a write carries its request id: the client’s, or one the node minted', async (t) => {
  const lead = await leader();
  const failing = await query(lead, { query: 'CREATE (n:Bad {x: 1 / 0})' });
  t.equal(failing.status, 400);
  t.match(failing.body.error, { code: 'ARITHMETIC_ERROR', request_id: String, retryable: false }, 'a statement that fails in apply');
  const badParam = await query(lead, { query: 'CREATE (n:Bad {x: $x})', params: { x: 2 ** 80 }, request_id: 'mine-1' });
  t.equal(badParam.status, 400);
  t.match(badParam.body.error, { code: 'BAD_REQUEST', request_id: 'mine-1' }, 'refused before it entered the log');
  const minted = await query(lead, { query: 'CREATE (n:Bad {x: $x})', params: { x: 2 ** 80 } });
  t.match(minted.body.error, { request_id: String }, 'minted when the client sent none');
  const unparsed = await query(lead, { query: 'CREATE (n:Bad', request_id: 'mine-2' });
  t.match(unparsed.body.error, { code: 'SYNTAX_ERROR', request_id: 'mine-2' }, "a statement that does not parse still answers the client's id");
});

t.test('a read on a follower with after_index sees the write it follows', async (t) => {
  const created = await write({ query: 'CREATE (c:Causal {v: 42}) RETURN c.v AS v' });
  t.equal(created.status, 200);
  const index = (created.body['meta'] as { index: number }).index;
  const other = await follower();
  const read = await query(other, { query: 'MATCH (c:Causal) RETURN c.v AS v', after_index: index, timeout_ms: 20_000 });
  t.equal(read.status, 200, JSON.stringify(read.body));
  t.same(read.body['rows'], [{ v: 42 }]);
  t.ok((read.body['meta'] as { applied_index: number }).applied_index >= index);
  t.match(read.body['meta'], { node: other.name, role: 'standby' });
});

t.test('a linearizable read on a follower is 421; on the leader it answers', async (t) => {
  const other = await follower();
  const refused = await query(other, { query: 'RETURN 1 AS one', consistency: 'linearizable' });
  t.equal(refused.status, 421);
  t.equal(refused.body.error?.['code'], 'NOT_LEADER');
  const answered = await eventually('a linearizable read on the leader', async () => {
    const answer = await query(await leader(), { query: 'RETURN 1 AS one', consistency: 'linearizable' });
    return answer.status === 421 ? undefined : answer;
  });
  t.equal(answered.status, 200);
  t.same(answered.body['rows'], [{ one: 1 }]);
});

t.test('session statements are refused: the gateway answers them', async (t) => {
  const answer = await query(members[0] as Member, { query: 'SET SESSION CONSISTENCY linearizable' });
  t.equal(answer.status, 400);
  t.match(answer.body.error, { code: 'BAD_REQUEST', message: /gateway/ });
});

t.test('cluster status has the seed shape plus Raft extras', async (t) => {
  const lead = await leader();
  const other = await follower();
  const status = await eventually('every member healthy in the leader view', async () => {
    const answer = await call(lead.url, '/api/v1/cluster/status');
    const body = answer.body as unknown as ClusterStatus;
    return body.nodes.length === 3 && body.nodes.every((n) => n.status === 'healthy') ? answer : undefined;
  });
  t.equal(status.status, 200);
  t.match(status.body, {
    cluster_id: 'api-test',
    quorum_status: 'healthy',
    leader: lead.name,
    leader_url: lead.url,
    term: Number,
    commit_index: Number,
    applied_index: Number,
    replication: { mode: String, quorum_size: Number, sync_replicas: Number },
  });
  const nodes = (status.body as unknown as ClusterStatus).nodes;
  t.same(nodes.map((n) => n.id).sort(), [...NAMES].sort());
  for (const node of nodes) t.match(node, { id: String, role: /^(primary|standby)$/, status: 'healthy', replication_lag: Number, url: /^http:/ });
  t.equal(nodes.filter((n) => n.role === 'primary').length, 1);
  const seen = await call(other.url, '/api/v1/cluster/status');
  t.equal((seen.body as unknown as ClusterStatus).leader, lead.name, 'a follower reports the same leader');
});

t.test('readyz is 200 once the node knows a leader', async (t) => {
  for (const member of members) {
    const ready = await call(member.url, '/readyz');
    t.equal(ready.status, 200, member.name);
    t.same(ready.body, { status: 'ready' });
  }
});

t.test('admin routes need the bearer token', async (t) => {
  const lead = await leader();
  const without = await call(lead.url, '/api/v1/admin/checksum');
  t.equal(without.status, 401);
  t.equal(without.body.error?.['code'], 'UNAUTHORIZED');
  const wrong = await call(lead.url, '/api/v1/admin/transfer-leadership', { body: { target: 'bravo' }, token: 'nope' });
  t.equal(wrong.status, 401);
  t.equal(lead.node.clusterStatus().leader, lead.name, 'a refused transfer moved nothing');
  const sum = await call(lead.url, '/api/v1/admin/checksum', { token: TOKEN });
  t.equal(sum.status, 200);
  t.match(sum.body, { node: lead.name, applied_index: Number, checksum: String });
  const unknown = await call(lead.url, '/api/v1/admin/transfer-leadership', { body: { target: 'zulu' }, token: TOKEN });
  t.equal(unknown.status, 404);
  t.match(unknown.body.error, { code: 'NOT_FOUND', detail: 'UnknownNode' });
  const other = await follower();
  const onFollower = await call(other.url, '/api/v1/admin/transfer-leadership', { body: { target: other.name }, token: TOKEN });
  t.equal(onFollower.status, 421);
  t.match(onFollower.body.error, { code: 'NOT_LEADER', leader_url: lead.url });
});

t.test('the watch socket pushes status on connect and when leadership is transferred', async (t) => {
  const lead = await leader();
  const other = await follower();
  const watched = members.find((m) => m !== lead && m !== other) as Member;
  const socket = new WebSocket(`${watched.url.replace('http', 'ws')}/api/v1/cluster/watch`);
  const messages: { type: string; reason: string; status: ClusterStatus }[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as (typeof messages)[number]));
  t.teardown(() => socket.terminate());
  await eventually('the first watch message', () => (messages.length > 0 ? true : undefined));
  t.match(messages[0], { type: 'status', reason: 'connect', status: { cluster_id: 'api-test', leader: lead.name } });

  const moved = await call(lead.url, '/api/v1/admin/transfer-leadership', { body: { target: other.name }, token: TOKEN });
  t.equal(moved.status, 200, JSON.stringify(moved.body));
  t.match(moved.body, { leader: other.name, term: Number });
  const pushed = await eventually('a pushed status naming the new leader', () => messages.find((m) => m.status.leader === other.name));
  t.equal(pushed.type, 'status');
  t.not(pushed.reason, 'connect');
});

t.test('a misdirected upgrade is refused without taking the server down', async (t) => {
  const member = members[0] as Member;
  const socket = new WebSocket(`${member.url.replace('http', 'ws')}/somewhere/else`);
  const outcome = await new Promise<string>((resolve) => {
    socket.on('open', () => resolve('open'));
    socket.on('error', () => resolve('refused'));
  });
  t.equal(outcome, 'refused');
  t.equal((await call(member.url, '/healthz')).status, 200);
});

t.test('metrics carry the seed HA names and Raft gauges', async (t) => {
  const lead = await leader();
  t.equal((await query(lead, { query: 'MATCH (n) RETURN count(n) AS total' })).status, 200);
  const response = await fetch(`${lead.url}/metrics`);
  t.equal(response.status, 200);
  const text = await response.text();
  for (const name of ['geode_replication_lag_seconds', 'geode_failover_total', 'geode_node_health', 'geode_quorum_healthy', 'geode_raft_term', 'geode_raft_commit_index', 'geode_raft_applied_index', 'geode_raft_is_leader', 'geode_queries_total']) {
    t.match(text, new RegExp(`^${name}`, 'm'), name);
  }
  for (const name of NAMES) t.match(text, new RegExp(`^geode_node_health\\{node="${name}"\\} [01]$`, 'm'), `health of ${name}`);
  t.match(text, /^geode_raft_is_leader\{node="[a-z]+"\} 1$/m, 'the leader says so');
  t.match(text, new RegExp(`^geode_queries_total\\{kind="read",outcome="ok",node="${lead.name}"\\} [1-9]`, 'm'));
});

t.test('metrics count the Raft log writes and the apply work, and only go up', async (t) => {
  const lead = await leader();
  const sampleOf = (text: string, name: string): number => {
    const match = new RegExp(`^${name}\\{node="${lead.name}"\\} ([0-9.e+-]+)$`, 'm').exec(text);
    return match === null ? NaN : Number(match[1]);
  };
  const scrape = async (): Promise<string> => (await fetch(`${lead.url}/metrics`)).text();
  const names = ['geode_raft_log_writes_total', 'geode_raft_log_entries_written_total', 'geode_raft_log_write_seconds_total', 'geode_apply_batches_total', 'geode_applied_entries_total', 'geode_apply_seconds_total'];
  const before = await scrape();
  for (let i = 0; i < 3; i++) t.equal((await write({ query: 'CREATE (:Metered {i: $i})', params: { i } })).status, 200);
  const after = await scrape();
  for (const name of names) {
    t.ok(sampleOf(after, name) > 0, `${name} is counted`);
    t.ok(sampleOf(after, name) >= sampleOf(before, name), `${name} never goes down`);
  }
  t.ok(sampleOf(after, 'geode_raft_log_entries_written_total') - sampleOf(before, 'geode_raft_log_entries_written_total') >= 3, 'the three writes reached the log');
  t.ok(sampleOf(after, 'geode_applied_entries_total') - sampleOf(before, 'geode_applied_entries_total') >= 3, 'and were applied');
});

t.test('SET CLUSTER REPLICATION MODE through the query route reaches every follower', async (t) => {
  const set = await write({ query: 'SET CLUSTER REPLICATION MODE asynchronous' });
  t.equal(set.status, 200, JSON.stringify(set.body));
  const other = await follower();
  const mode = await eventually('the follower to report asynchronous mode', async () => {
    const status = (await call(other.url, '/api/v1/cluster/status')).body as unknown as ClusterStatus;
    return status.replication.mode === 'asynchronous' ? status.replication.mode : undefined;
  });
  t.equal(mode, 'asynchronous');
});

t.test('an impossible cluster setting is 400 and changes nothing', async (t) => {
  const before = (await leader()).node.replicationSettings.quorumSize;
  const refused = await write({ query: 'SET CLUSTER QUORUM SIZE 9' });
  t.equal(refused.status, 400);
  t.match(refused.body.error, { code: 'BAD_REQUEST', detail: 'InvalidClusterSetting' });
  t.equal((await leader()).node.replicationSettings.quorumSize, before);
});

t.test('membership routes add and remove a learner through the node', async (t) => {
  const lead = await leader();
  const probe = StorageNode.prototype as unknown as Record<string, unknown>;
  const body = { name: 'delta', url: 'http://127.0.0.1:1', role: 'learner' };
  if (typeof probe['addMember'] !== 'function') {
    const added = await call(lead.url, '/api/v1/admin/members', { body, token: TOKEN });
    t.equal(added.status, 501);
    t.equal(added.body.error?.['code'], 'UNSUPPORTED');
    return;
  }
  t.equal((await call(lead.url, '/api/v1/admin/members', { body })).status, 401, 'needs the token');
  const other = await follower();
  const onFollower = await call(other.url, '/api/v1/admin/members', { body, token: TOKEN });
  t.equal(onFollower.status, 421);
  t.equal(onFollower.body.error?.['code'], 'NOT_LEADER');

  const added = await call(lead.url, '/api/v1/admin/members', { body, token: TOKEN });
  t.equal(added.status, 200, JSON.stringify(added.body));
  const delta = (added.body['status'] as ClusterStatus).nodes.find((n) => n.id === 'delta');
  t.match(delta, { role: 'learner', voter: false, url: 'http://127.0.0.1:1' });
  const notLearner = await call(lead.url, `/api/v1/admin/members/${other.name}/promote`, { method: 'POST', token: TOKEN });
  t.equal(notLearner.status, 400, 'only learners are promoted');

  const removed = await call(lead.url, '/api/v1/admin/members/delta', { method: 'DELETE', token: TOKEN });
  t.equal(removed.status, 200, JSON.stringify(removed.body));
  t.notOk((removed.body['status'] as ClusterStatus).nodes.some((n) => n.id === 'delta'));
  const gone = await call(lead.url, '/api/v1/admin/members/delta', { method: 'DELETE', token: TOKEN });
  t.equal(gone.status, 404);
});

/** Opens a node's query stream; with a lane, follows the node's redirect to that read lane and says where it went. */
function openStream(member: Member, lane?: number): Promise<{ ws: WebSocket; redirectedTo: string | undefined }> {
  return new Promise((resolve, reject) => {
    const base = member.url.replace('http', 'ws') + QUERY_STREAM_PATH;
    const ws = new WebSocket(lane === undefined ? base : `${base}?lane=${lane}`, { followRedirects: lane !== undefined });
    let redirectedTo: string | undefined;
    ws.on('redirect', (url: string) => (redirectedTo = url));
    ws.once('open', () => resolve({ ws, redirectedTo }));
    ws.once('error', reject);
  });
}

for (const where of ['main thread', 'read lane'] as const) {
  t.test(`the query stream (${where}) multiplexes /v1/query exchanges with the same answers and errors`, async (t) => {
    const label = where === 'read lane' ? 'StreamedLane' : 'Streamed';
    const written = await write({ query: `CREATE (:${label} {n: 1})` });
    t.equal(written.status, 200, JSON.stringify(written.body));
    const lead = await leader();
    const other = await follower();
    const { ws, redirectedTo } = await openStream(other, where === 'read lane' ? 3 : undefined);
    t.teardown(() => ws.terminate());
    if (where === 'read lane') {
      t.match(redirectedTo, /^ws:\/\/127\.0\.0\.1:\d+\/v1\/stream$/, 'the node sends the stream to its read lane');
      t.not(redirectedTo, other.url.replace('http', 'ws') + QUERY_STREAM_PATH, 'on a port of its own');
    } else t.equal(redirectedTo, undefined, 'without a lane parameter the main thread serves the stream');
    const answers = new Map<number, { status: number; body: Record<string, unknown> }>();
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        for (const item of decodeFrame(data, true)) answers.set(item.id, { status: item.status ?? 0, body: JSON.parse(item.body) as Record<string, unknown> });
        if (answers.size === 6) resolve();
      });
    });
    // The write's own index is the causal token: a read after it must see it.
    const read = { query: `MATCH (s:${label}) RETURN count(s) AS c`, after_index: (written.body['meta'] as { index: number }).index };
    ws.send(
      encodeFrame(
        [
          { id: 1, body: JSON.stringify(read) },
          { id: 2, body: JSON.stringify({ query: 'CREATE (:Nope)' }) },
          { id: 3, body: '{"query": ' },
          { id: 4, body: JSON.stringify({ query: 'RETURN 1', bogus: true }) },
          { id: 5, body: JSON.stringify({ query: 'MATCH (n RETURN n' }) },
          { id: 6, body: JSON.stringify({ query: 'RETURN $missing AS x' }) },
        ],
        false,
      ),
    );
    await done;
    const http = await query(other, read);
    t.same(answers.get(1), { status: 200, body: http.body }, 'a read answers exactly what HTTP answers');
    t.same(http.body['rows'], [{ c: 1 }], 'and sees the write it follows');
    t.match(answers.get(2), { status: 421, body: { error: { code: 'NOT_LEADER', leader_url: lead.url } } }, 'a write on a follower is 421 as over HTTP');
    t.match(answers.get(3), { status: 400, body: { error: { code: 'BAD_REQUEST' } } }, 'a body that is not JSON');
    t.match(answers.get(4), { status: 400, body: { error: { code: 'BAD_REQUEST', message: /bogus/ } } }, 'an unknown field');
    t.match(answers.get(5), { status: 400, body: { error: { code: 'SYNTAX_ERROR' } } });
    t.match(answers.get(6), { status: 400, body: { error: { code: 'PARAMETER_MISSING' } } });
  });
}

t.test('a read lane answers what only the main thread can answer by handing it over', async (t) => {
  const lead = await leader();
  const other = await follower();
  const exchange = async (member: Member, bodies: Record<string, unknown>[]): Promise<Map<number, { status: number; body: Record<string, unknown> }>> => {
    const { ws, redirectedTo } = await openStream(member, 0);
    t.ok(redirectedTo, 'on a lane');
    const answers = new Map<number, { status: number; body: Record<string, unknown> }>();
    await new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        for (const item of decodeFrame(data, true)) answers.set(item.id, { status: item.status ?? 0, body: JSON.parse(item.body) as Record<string, unknown> });
        if (answers.size === bodies.length) resolve();
      });
      ws.send(encodeFrame(bodies.map((body, i) => ({ id: i + 1, body: JSON.stringify(body) })), false));
    });
    ws.terminate();
    return answers;
  };
  const onLeader = await exchange(lead, [
    { query: 'CREATE (:Laned {n: 2}) RETURN 1 AS one', request_id: `lane-${Math.random()}` },
    { query: 'MATCH (l:Laned) RETURN count(l) AS c', consistency: 'linearizable' },
    { query: 'RETURN 1 AS one', consistency: 'leader' },
    { query: 'SELECT * FROM system.cluster_nodes' },
  ]);
  t.match(onLeader.get(1), { status: 200, body: { rows: [{ one: 1 }], meta: { role: 'primary', applied: true } } }, 'a write goes to the Raft loop');
  t.match(onLeader.get(2), { status: 200, body: { meta: { role: 'primary' } } }, 'a linearizable read is confirmed by the leader');
  t.match(onLeader.get(3), { status: 200, body: { rows: [{ one: 1 }], meta: { node: lead.name, role: 'primary' } } }, 'a leader read on the leader stays on the lane');
  t.equal(onLeader.get(4)?.status, 200, 'system views come from the main thread');
  const onFollower = await exchange(other, [
    { query: 'RETURN 1 AS one', consistency: 'leader' },
    { query: 'RETURN 1 AS one', after_index: 1e9, timeout_ms: 100 },
    { query: 'RETURN 1 AS one', max_lag_ms: 0 },
  ]);
  t.match(onFollower.get(1), { status: 421, body: { error: { code: 'NOT_LEADER', leader_url: lead.url } } }, 'a leader read on a follower is refused as over HTTP');
  t.match(onFollower.get(2), { status: 408, body: { error: { code: 'TIMEOUT', detail: 'AfterIndexNotReached' } } }, 'a causal index not reached times out');
  t.equal(onFollower.get(3)?.status, 200, 'a caught-up replica is within a bound of 0 ms');
  t.match(onFollower.get(3)?.body, { meta: { node: other.name, role: 'standby' } });

  // The lane's own reads reach the node's query metrics.
  const count = async (): Promise<number> => {
    const text = await (await fetch(`${other.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('geode_queries_total{') && l.includes('kind="read"') && l.includes('outcome="ok"'));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  const before = await count();
  await exchange(other, [{ query: 'RETURN 2 AS two' }, { query: 'RETURN 3 AS three' }]);
  await eventually('lane reads in the metrics', async () => ((await count()) >= before + 2 ? true : undefined), 10_000);
  t.pass('counted');
});

t.test('a query stream frame that does not parse closes that stream only', async (t) => {
  const member = await follower();
  for (const bad of [Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 123]), 'text frame']) {
    const ws = new WebSocket(member.url.replace('http', 'ws') + QUERY_STREAM_PATH);
    const code = await new Promise<number>((resolve, reject) => {
      ws.once('open', () => ws.send(bad));
      ws.once('close', (c: number) => resolve(c));
      ws.once('error', reject);
    });
    t.equal(code, 1007, `closed as unreadable: ${typeof bad === 'string' ? 'text' : 'truncated'} frame`);
  }
  const still = await query(member, { query: 'RETURN 1 AS one' });
  t.equal(still.status, 200, 'the node still answers');
});
