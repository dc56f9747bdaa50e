/**
 * The gateway's query streams against a real storage node with read lanes:
 * reads go to the lanes the node redirects to, and a lane the gateway cannot
 * reach (the node seen through a port mapping) costs one failed attempt before
 * the stream settles on the node's own port. Writes take the node's own stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NodeStream, StreamFailure } from '../../gateway/node-stream.js';
import { build } from '../../storage-node/api/server.js';
import { StorageNode } from '../../storage-node/node.js';
import { FaultProxy } from '../helpers/fault-proxy.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
// The node listens on a second loopback address; the proxy publishes only its API port on 127.0.0.1.
const NODE_HOST = '127.0.0.2';

const root = mkdtempSync(join(tmpdir(), 'geode-node-stream-'));
let node: StorageNode | undefined;
const app = build({ node: () => node, nodeId: 'solo' });
let nodeUrl = '';
let proxy: FaultProxy;

async function eventually<T>(what: string, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.before(async () => {
  await app.listen({ host: NODE_HOST, port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  nodeUrl = `http://${NODE_HOST}:${port}`;
  node = new StorageNode({
    name: 'solo',
    dataDir: join(root, 'solo'),
    members: [{ name: 'solo', url: nodeUrl }],
    clusterSecret: 'node-stream-test-secret',
    readWorkers: 2,
    readLanes: { host: NODE_HOST },
    logger: silent,
  });
  await node.start();
  await eventually('a leader', () => (node?.isLeader === true ? true : undefined));
  await eventually('two listening lanes', () => (node?.readLanePorts().length === 2 ? true : undefined));
  proxy = new FaultProxy(port, '127.0.0.1', NODE_HOST);
  await proxy.listen();
});

t.teardown(async () => {
  await proxy?.close();
  await node?.stop({ transfer: false });
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

const READ = JSON.stringify({ query: 'RETURN 41 + 1 AS answer', consistency: 'any', timeout_ms: 2000 });

t.test('reads go over the read lanes the node redirects to, one socket per lane', async (t) => {
  const stream = new NodeStream(nodeUrl);
  t.teardown(() => stream.close());
  const endpoints = await eventually('both sockets open', () => (stream.endpoints().length === 2 ? stream.endpoints() : undefined));
  const lanes = (node as StorageNode).readLanePorts().map((p) => `ws://${NODE_HOST}:${p}/v1/stream`);
  t.same([...endpoints].sort(), [...lanes].sort(), 'each socket sits on its own lane');
  const answers = await Promise.all(Array.from({ length: 20 }, () => stream.request(READ, 2000)));
  for (const answer of answers) t.match(JSON.parse(answer.text), { rows: [{ answer: 42 }], meta: { node: 'solo', role: 'primary' } });
  t.ok(answers.every((a) => a.status === 200), 'every read answered');
});

t.test('a lane the gateway cannot reach: the stream falls back to the node port', async (t) => {
  const published = `http://127.0.0.1:${proxy.port}`;
  const stream = new NodeStream(published);
  t.teardown(() => stream.close());
  // The redirect names 127.0.0.1 (the host the gateway dialled) and a lane port that only 127.0.0.2 serves.
  const endpoints = await eventually('both sockets open', () => (stream.endpoints().length === 2 ? stream.endpoints() : undefined));
  t.same(endpoints, [`ws://127.0.0.1:${proxy.port}/v1/stream`, `ws://127.0.0.1:${proxy.port}/v1/stream`], 'both on the node port, without a lane');
  const answer = await stream.request(READ, 2000);
  t.equal(answer.status, 200);
  t.match(JSON.parse(answer.text), { rows: [{ answer: 42 }] });
});

t.test('a lane busy with a long read takes no more reads: they go to the other lane', async (t) => {
  const stream = new NodeStream(nodeUrl);
  t.teardown(() => stream.close());
  await eventually('both sockets open', () => (stream.endpoints().length === 2 ? true : undefined));
  let slowDone = false;
  const slow = stream.request(JSON.stringify({ query: 'UNWIND range(1, 4000000) AS x RETURN count(x) AS c', consistency: 'any', timeout_ms: 60_000 }), 60_000).then((answer) => {
    slowDone = true;
    return answer;
  });
  // The slow read holds one lane's worker; after the stall window the next reads take the other lane.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const quick = await stream.request(READ, 10_000);
  t.equal(quick.status, 200);
  t.notOk(slowDone, 'a quick read was answered while the long one still ran');
  const long = await slow;
  t.equal(long.status, 200, long.text.slice(0, 200));
});

t.test("writes take the node's own stream (no lane), opened on the first write; a resent write applies once", async (t) => {
  const stream = new NodeStream(nodeUrl);
  t.teardown(() => stream.close());
  t.equal(stream.writeEndpoint, undefined, 'no write socket before anything asks for one');
  await eventually('the write socket open', () => (stream.writeReady ? true : undefined));
  t.equal(stream.writeEndpoint, `${nodeUrl.replace('http', 'ws')}/v1/stream`, 'the node port itself, not a read lane');
  const body = (i: number): string => JSON.stringify({ query: 'CREATE (w:StreamWrite {i: $i}) RETURN w.i AS i', params: { i }, request_id: `stream-write-${i}`, timeout_ms: 5000 });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => stream.write(body(i), 5000)));
  t.ok(answers.every((a) => a.status === 200), 'every write answered 200');
  t.same(answers.map((a) => (JSON.parse(a.text) as { rows: { i: number }[] }).rows[0]?.i), Array.from({ length: 20 }, (_, i) => i), 'each write answered with its own result');
  const again = await stream.write(body(3), 5000);
  t.equal(again.status, 200);
  t.same((JSON.parse(again.text) as { rows: unknown[] }).rows, [{ i: 3 }], 'the resent write answers its first result');
  const count = await stream.request(JSON.stringify({ query: 'MATCH (w:StreamWrite) RETURN count(w) AS n', consistency: 'leader', timeout_ms: 5000 }), 5000);
  t.same((JSON.parse(count.text) as { rows: unknown[] }).rows, [{ n: 20 }], 'twenty nodes: the resent write was not applied again');
});

t.test('a write on a closed stream fails as a connection error, and a closed stream opens no write socket', async (t) => {
  const stream = new NodeStream(nodeUrl);
  stream.close();
  t.equal(stream.writeReady, false);
  t.equal(stream.writeEndpoint, undefined);
  const error = await stream.write(JSON.stringify({ query: 'CREATE (:Never)' }), 1000).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof StreamFailure && error.reason === 'connect', 'rejected as a connection failure, which the gateway retries');
});

t.test('a stream with no read lanes carries writes only', async (t) => {
  const stream = new NodeStream(nodeUrl, 0);
  t.teardown(() => stream.close());
  t.equal(stream.ready, false, 'no socket for reads');
  const error = await stream.request(READ, 1000).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof StreamFailure && error.reason === 'connect', 'a read is refused as a connection failure (the caller uses HTTP)');
  await eventually('the write socket open', () => (stream.writeReady ? true : undefined));
  const answer = await stream.write(JSON.stringify({ query: 'CREATE (w:WriteOnly) RETURN 1 AS one', timeout_ms: 5000 }), 5000);
  t.equal(answer.status, 200, answer.text.slice(0, 200));
});
