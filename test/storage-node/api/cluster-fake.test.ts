import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { WebSocket } from 'ws';
import { build } from '../../../storage-node/api/server.js';
import type { ClusterNode } from '../../../storage-node/api/server.js';
import { planStatement } from '../../../storage-node/api/cluster-backend.js';
import { parse } from '../../../shared/gql/index.js';
import { ErrorCode, GeodeError } from '../../../shared/protocol/errors.js';
import type { ClusterStatus, ReadRequest, WriteRequest } from '../../../storage-node/node.js';
import type { WireResult } from '../../../storage-node/replication/state-machine.js';

const stats = {
  nodesCreated: 0,
  nodesDeleted: 0,
  relationshipsCreated: 0,
  relationshipsDeleted: 0,
  propertiesSet: 0,
  labelsAdded: 0,
  labelsRemoved: 0,
  indexesAdded: 0,
  indexesRemoved: 0,
};

/** A scripted stand-in for StorageNode: records calls, answers what the test sets. */
class FakeNode extends EventEmitter implements ClusterNode {
  readonly name = 'node1';
  isLeader = true;
  appliedIndex = 5;
  failovers = 0;
  writes: WriteRequest[] = [];
  reads: ReadRequest[] = [];
  failWith: GeodeError | undefined;
  status: ClusterStatus = {
    cluster_id: 'fake',
    node: 'node1',
    view: 'complete',
    nodes: [
      { id: 'node1', role: 'primary', status: 'healthy', replication_lag: 0, applied_index: 5, match_index: 5, region: null, url: 'http://n1', voter: true },
      { id: 'node2', role: 'standby', status: 'healthy', replication_lag: 1500, applied_index: null, match_index: 4, region: null, url: 'http://n2', voter: true },
      { id: 'node3', role: 'standby', status: 'unreachable', replication_lag: -1, applied_index: null, match_index: null, region: null, url: 'http://n3', voter: true },
    ],
    quorum_status: 'degraded',
    term: 4,
    leader: 'node1',
    leader_url: 'http://n1',
    commit_index: 5,
    applied_index: 5,
    replication: { mode: 'synchronous', quorum_size: 2, sync_replicas: 1 },
  };

  private answer(kind: WireResult['kind']) {
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    const result: WireResult = { columns: ['x'], rows: [{ x: 1 }], stats: { ...stats, nodesCreated: kind === 'write' ? 1 : 0 }, kind };
    return Promise.resolve({ result, meta: { node: this.name, role: 'primary' as const, term: 4, index: 5, applied_index: 5 } });
  }
  write(request: WriteRequest) {
    this.writes.push(request);
    return this.answer('write');
  }
  read(request: ReadRequest) {
    this.reads.push(request);
    return this.answer('read');
  }
  clusterStatus(): ClusterStatus {
    return this.status;
  }
  handleUpgrade(): boolean {
    return false;
  }
  transferLeadership(): Promise<void> {
    return Promise.resolve();
  }
  snapshotNow() {
    return Promise.resolve({ index: 5, bytes: 100 });
  }
  checksum() {
    return Promise.resolve({ applied: 5, checksum: 'abc' });
  }
}

function harness(t: Test, options: { adminToken?: string; node?: FakeNode | null } = {}) {
  const node = options.node === null ? undefined : (options.node ?? new FakeNode());
  const app = build({ node: () => node, nodeId: 'node1', ...(options.adminToken !== undefined ? { adminToken: options.adminToken } : {}), watchCoalesceMs: 20 });
  t.teardown(() => app.close());
  const post = async (body: unknown) => {
    const response = await app.inject({ method: 'POST', url: '/v1/query', payload: body as object });
    return { status: response.statusCode, headers: response.headers, body: response.json() as Record<string, unknown> & { error?: Record<string, unknown> } };
  };
  return { app, node, post };
}

t.test('statements are planned by kind, with returnsRows from the last clause of the last part', async (t) => {
  t.match(planStatement(parse('CREATE (n) RETURN n')), { kind: 'write', returnsRows: true, clusterSetting: undefined });
  t.match(planStatement(parse('CREATE (n)')), { kind: 'write', returnsRows: false });
  t.match(planStatement(parse('MATCH (n) RETURN n UNION CREATE (m) RETURN m AS n')), { kind: 'write', returnsRows: true });
  t.match(planStatement(parse('MATCH (n) SET n.x = 1')), { kind: 'write', returnsRows: false });
  t.match(planStatement(parse('CREATE INDEX ON :User(email)')), { kind: 'schema', returnsRows: false });
  t.match(planStatement(parse('SET CLUSTER QUORUM SIZE 2')), { kind: 'cluster', clusterSetting: { kind: 'ClusterSet', setting: 'quorum_size', value: 2 } });
  t.match(planStatement(parse('SET SESSION CONSISTENCY linearizable')), { kind: 'session' });
});

t.test('writes go to node.write and reads to node.read with the request options', async (t) => {
  const { node, post } = harness(t);
  const fake = node as FakeNode;
  const written = await post({ query: 'CREATE (n) RETURN n', params: { a: 1 }, request_id: 'r1' });
  t.equal(written.status, 200);
  t.match(written.body, { columns: ['x'], rows: [{ x: 1 }], stats: { nodes_created: 1 }, meta: { node: 'node1', index: 5 } });
  t.match(fake.writes[0], { query: 'CREATE (n) RETURN n', params: { a: 1 }, requestId: 'r1', timeoutMs: 30_000, returnsRows: true });
  await post({ query: 'SET CLUSTER REPLICATION MODE asynchronous', timeout_ms: 500 });
  t.match(fake.writes[1], { returnsRows: false, timeoutMs: 500, clusterSetting: { setting: 'replication_mode', value: 'asynchronous' } });

  await post({ query: 'MATCH (n) RETURN n' });
  t.match(fake.reads[0], { consistency: 'any', maxLagMs: undefined, afterIndex: undefined, timeoutMs: 30_000 });
  await post({ query: 'MATCH (n) RETURN n', max_lag_ms: 100 });
  t.match(fake.reads[1], { consistency: 'bounded', maxLagMs: 100 });
  await post({ query: 'MATCH (n) RETURN n', consistency: 'linearizable', after_index: 9 });
  t.match(fake.reads[2], { consistency: 'linearizable', afterIndex: 9 });
  t.equal(fake.writes.length, 2, 'reads never reach node.write');
});

t.test('refused statements never reach the node', async (t) => {
  const { node, post } = harness(t);
  const fake = node as FakeNode;
  const session = await post({ query: 'SET SESSION MAX REPLICATION LAG 100' });
  t.equal(session.status, 400);
  t.match(session.body.error, { code: 'BAD_REQUEST', message: 'session settings are answered by the gateway' });
  const syntax = await post({ query: 'MATCH (n RETURN n' });
  t.equal(syntax.status, 400);
  t.equal(syntax.body.error?.['code'], 'SYNTAX_ERROR');
  const huge = await post({ query: 'CREATE (n {x: $x})', params: { x: 1e30 } });
  t.equal(huge.status, 400);
  t.match(huge.body.error, { code: 'BAD_REQUEST', message: /params\.x/ });
  t.equal(fake.writes.length + fake.reads.length, 0);
});

t.test('NOT_LEADER is 421 with the leader; REPLICA_LAGGING is 503 with Retry-After', async (t) => {
  const { node, post } = harness(t);
  const fake = node as FakeNode;
  fake.failWith = new GeodeError(ErrorCode.NOT_LEADER, 'not the leader', { extra: { leader_id: 'node2', leader_url: 'http://n2' } });
  const moved = await post({ query: 'CREATE (n)' });
  t.equal(moved.status, 421);
  t.same(moved.body.error, { code: 'NOT_LEADER', message: 'not the leader', retryable: true, leader_id: 'node2', leader_url: 'http://n2' });
  fake.failWith = new GeodeError(ErrorCode.REPLICA_LAGGING, 'lagging', { extra: { lag_ms: 900 } });
  const lagging = await post({ query: 'MATCH (n) RETURN n', max_lag_ms: 10 });
  t.equal(lagging.status, 503);
  t.equal(lagging.headers['retry-after'], '1');
  t.match(lagging.body.error, { code: 'REPLICA_LAGGING', lag_ms: 900 });
});

t.test('before the node exists, queries and status answer 503 and readyz says why', async (t) => {
  const { app, post } = harness(t, { node: null });
  const answer = await post({ query: 'RETURN 1' });
  t.equal(answer.status, 503);
  t.equal(answer.body.error?.['code'], 'OVERLOADED');
  t.equal((await app.inject({ url: '/api/v1/cluster/status' })).statusCode, 503);
  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.match(ready.json(), { status: 'not_ready', reason: /starting/ });
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
});

t.test('readyz follows whether a leader is known', async (t) => {
  const { app, node } = harness(t);
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  (node as FakeNode).status = { ...(node as FakeNode).status, leader: null, leader_url: null };
  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.match(ready.json(), { status: 'not_ready', reason: /no leader/ });
});

t.test('admin routes are closed without a configured token and check the presented one', async (t) => {
  const closed = harness(t);
  const refused = await closed.app.inject({ url: '/api/v1/admin/checksum', headers: { authorization: 'Bearer anything' } });
  t.equal(refused.statusCode, 401);
  t.match(refused.json(), { error: { code: 'UNAUTHORIZED', message: /no admin token/ } });

  const open = harness(t, { adminToken: 's3cret' });
  for (const header of [undefined, 'Bearer s3cre', 'Bearer s3cret2', 'Basic s3cret', 's3cret']) {
    const response = await open.app.inject({ url: '/api/v1/admin/checksum', headers: header === undefined ? {} : { authorization: header } });
    t.equal(response.statusCode, 401, String(header));
  }
  const ok = await open.app.inject({ url: '/api/v1/admin/checksum', headers: { authorization: 'Bearer s3cret' } });
  t.same(ok.json(), { node: 'node1', applied_index: 5, checksum: 'abc' });
  const snap = await open.app.inject({ method: 'POST', url: '/api/v1/admin/snapshot', headers: { authorization: 'Bearer s3cret' } });
  t.same(snap.json(), { node: 'node1', index: 5, bytes: 100 });
  const add = await open.app.inject({
    method: 'POST',
    url: '/api/v1/admin/members',
    headers: { authorization: 'Bearer s3cret' },
    payload: { name: 'node4', url: 'http://n4', role: 'learner' },
  });
  t.equal(add.statusCode, 501, 'the fake has no addMember');
  t.equal(add.json().error.code, 'UNSUPPORTED');
});

t.test('membership routes call the node when it offers them', async (t) => {
  const fake = new FakeNode() as FakeNode & Required<Pick<ClusterNode, 'addMember' | 'removeMember' | 'promoteLearner'>>;
  const calls: unknown[] = [];
  fake.addMember = (spec) => Promise.resolve(calls.push(['add', spec]));
  fake.removeMember = (name) => Promise.resolve(calls.push(['remove', name]));
  fake.promoteLearner = (name) => Promise.resolve(calls.push(['promote', name]));
  const { app } = harness(t, { adminToken: 'tok', node: fake });
  const headers = { authorization: 'Bearer tok' };
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/admin/members', headers, payload: { name: 'node4', url: 'http://n4', role: 'voter' } })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/admin/members/node4/promote', headers })).statusCode, 200);
  t.equal((await app.inject({ method: 'DELETE', url: '/api/v1/admin/members/node4', headers })).statusCode, 200);
  t.same(calls, [['add', { name: 'node4', url: 'http://n4', learner: false }], ['promote', 'node4'], ['remove', 'node4']]);
  const bad = await app.inject({ method: 'POST', url: '/api/v1/admin/members', headers, payload: { name: 'node5', url: 'http://n5', role: 'boss' } });
  t.equal(bad.statusCode, 400);
});

/** The value of one series line in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('HA metrics are read from the node at scrape time; unknown lags are left out', async (t) => {
  const { app, node } = harness(t);
  const fake = node as FakeNode;
  let text = (await app.inject({ url: '/metrics' })).body;
  t.equal(sample(text, 'geode_replication_lag_seconds{node="node2"}'), 1.5);
  t.equal(sample(text, 'geode_replication_lag_seconds{node="node1"}'), 0);
  t.notMatch(text, /geode_replication_lag_seconds\{node="node3"\}/);
  t.equal(sample(text, 'geode_node_health{node="node3"}'), 0);
  t.equal(sample(text, 'geode_node_health{node="node2"}'), 1);
  t.equal(sample(text, 'geode_quorum_healthy{node="node1"}'), 0, 'degraded is not healthy');
  t.equal(sample(text, 'geode_raft_term{node="node1"}'), 4);
  t.equal(sample(text, 'geode_raft_is_leader{node="node1"}'), 1);
  t.equal(sample(text, 'geode_failover_total{node="node1"}'), 0);
  fake.failovers = 3;
  fake.status = { ...fake.status, quorum_status: 'healthy', term: 6 };
  text = (await app.inject({ url: '/metrics' })).body;
  t.equal(sample(text, 'geode_failover_total{node="node1"}'), 3);
  t.equal(sample(text, 'geode_quorum_healthy{node="node1"}'), 1);
  t.equal(sample(text, 'geode_raft_term{node="node1"}'), 6);
});

t.test('a follower exports only what it knows: its own lag, no health or quorum gauges', async (t) => {
  const { app, node } = harness(t);
  const fake = node as FakeNode;
  fake.isLeader = false;
  fake.status = {
    ...fake.status,
    view: 'partial',
    leader: 'node2',
    nodes: [
      { id: 'node1', role: 'standby', status: 'healthy', replication_lag: 40, applied_index: 5, match_index: 5, region: null, url: 'http://n1', voter: true },
      { id: 'node2', role: 'primary', status: 'healthy', replication_lag: 0, applied_index: null, match_index: null, region: null, url: 'http://n2', voter: true },
      { id: 'node3', role: 'standby', status: 'unknown', replication_lag: -1, applied_index: null, match_index: null, region: null, url: 'http://n3', voter: true },
    ],
    quorum_status: 'healthy',
  };
  const text = (await app.inject({ url: '/metrics' })).body;
  t.equal(sample(text, 'geode_replication_lag_seconds{node="node1"}'), 0.04, 'its own lag');
  t.notMatch(text, /geode_replication_lag_seconds\{node="node2"\}/, "not the leader's: it is the leader's to report");
  t.notMatch(text, /^geode_node_health\{/m, 'no health gauge: a follower cannot see its peers');
  t.notMatch(text, /^geode_quorum_healthy\{/m, 'no quorum gauge: a follower cannot count the quorum');
});

t.test('the watch socket coalesces a burst of changes into few messages with the latest status', async (t) => {
  const { app, node } = harness(t);
  const fake = node as FakeNode;
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/cluster/watch`;
  const socket = new WebSocket(url);
  t.teardown(() => socket.terminate());
  const messages: { type: string; reason: string; status: ClusterStatus }[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as (typeof messages)[number]));
  const deadline = Date.now() + 10_000;
  while (messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.match(messages, [{ type: 'status', reason: 'connect', status: { term: 4 } }]);

  for (let term = 5; term <= 104; term++) {
    fake.status = { ...fake.status, term };
    fake.emit('change', term === 50 ? 'leader' : 'lag');
  }
  while (messages.at(-1)?.status.term !== 104 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(messages.at(-1)?.status.term, 104, 'the latest status arrived');
  t.ok(messages.length <= 3, `a synchronous burst of 100 changes was sent as ${messages.length - 1} message(s)`);
  t.equal(messages.at(-1)?.reason, 'leader', 'the most important reason of the burst is reported');
});

t.test('a node that is constructed but not started yet is treated as starting', async (t) => {
  const fake = new FakeNode();
  let started = false;
  const realStatus = fake.clusterStatus.bind(fake);
  fake.clusterStatus = () => {
    if (!started) throw new TypeError("Cannot read properties of undefined (reading 'confState')");
    return realStatus();
  };
  const { app, post } = harness(t, { node: fake });
  t.equal((await post({ query: 'RETURN 1 AS x' })).status, 503);
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 503);
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200, 'a scrape during start still answers');
  t.equal(fake.reads.length, 0);
  started = true;
  t.equal((await post({ query: 'RETURN 1 AS x' })).status, 200);
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
});
