import t from 'tap';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Transport } from '../../../storage-node/transport/transport.js';
import { decodeMessage, encodeMessage, FrameError } from '../../../storage-node/transport/codec.js';
import { message } from '../../../storage-node/raft/messages.js';
import type { Message } from '../../../storage-node/raft/messages.js';

interface Logged {
  level: 'info' | 'warn';
  obj: object;
  msg: string;
}

function recorder(): { logs: Logged[]; logger: { info(o: object, m: string): void; warn(o: object, m: string): void } } {
  const logs: Logged[] = [];
  return {
    logs,
    logger: {
      info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
      warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    },
  };
}

async function listen(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${port}` };
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('codec round-trips every field and payload bytes', async (t) => {
  const m = message({
    type: 'app',
    from: 1,
    to: 2,
    term: 7,
    logTerm: 6,
    index: 41,
    commit: 40,
    context: 'ctx',
    entries: [
      { index: 42, term: 7, type: 'normal', data: new Uint8Array([1, 2, 3]) },
      { index: 43, term: 7, type: 'confChange', data: new Uint8Array([9]) },
    ],
    snapshot: { index: 10, term: 2, confState: { voters: [1, 2, 3], learners: [4] } },
    chunk: { offset: 100, done: true, data: new Uint8Array([5, 6]) },
    leaderTime: 123456,
    leaderCommit: 40,
    applied: 39,
  });
  const back = decodeMessage(encodeMessage(m));
  t.same(back, m);
  t.ok(back.entries[0]?.data instanceof Uint8Array);
});

t.test('decoded entries own their bytes: reusing the frame buffer changes none of them', async (t) => {
  const frame = encodeMessage(message({ type: 'app', from: 1, to: 2, entries: [
    { index: 1, term: 1, type: 'normal', data: new Uint8Array([1, 2]) },
    { index: 2, term: 1, type: 'normal', data: new Uint8Array([3, 4, 5]) },
  ] }));
  const back = decodeMessage(frame);
  frame.fill(0);
  t.same(back.entries.map((e) => [...e.data]), [[1, 2], [3, 4, 5]]);
  t.equal(back.entries[0]?.data.buffer, back.entries[1]?.data.buffer, "one copy holds a frame's payloads");
});

t.test('codec rejects truncated and garbage frames with FrameError', async (t) => {
  const frame = encodeMessage(message({ type: 'app', from: 1, to: 2, entries: [{ index: 1, term: 1, type: 'normal', data: new Uint8Array(10) }] }));
  t.throws(() => decodeMessage(frame.subarray(0, frame.length - 3)), FrameError);
  t.throws(() => decodeMessage(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5])), FrameError);
  t.throws(() => decodeMessage(Buffer.from([1])), FrameError);
});

t.test('two peers with the same secret exchange messages both ways', async (t) => {
  const a = await listen();
  const b = await listen();
  const gotA: Message[] = [];
  const gotB: Message[] = [];
  const ta = new Transport({ selfId: 1, secret: 's3cret', peers: new Map([[2, b.url]]), onMessage: (m) => gotA.push(m), logger: recorder().logger });
  const tb = new Transport({ selfId: 2, secret: 's3cret', peers: new Map([[1, a.url]]), onMessage: (m) => gotB.push(m), logger: recorder().logger });
  a.server.on('upgrade', (req, sock, head) => ta.handleUpgrade(req, sock, head));
  b.server.on('upgrade', (req, sock, head) => tb.handleUpgrade(req, sock, head));
  t.teardown(() => {
    ta.close();
    tb.close();
    a.server.close();
    b.server.close();
  });
  await until(() => ta.isConnected(2) && tb.isConnected(1), 'links up');
  ta.send([message({ type: 'heartbeat', from: 1, to: 2, term: 3, commit: 5 })]);
  tb.send([message({ type: 'heartbeatResp', from: 2, to: 1, term: 3 })]);
  await until(() => gotA.length === 1 && gotB.length === 1, 'delivery');
  t.equal(gotB[0]?.type, 'heartbeat');
  t.equal(gotB[0]?.commit, 5);
  t.equal(gotA[0]?.type, 'heartbeatResp');
});

t.test('a peer without the cluster secret is refused and logged', async (t) => {
  const a = await listen();
  const rec = recorder();
  const got: Message[] = [];
  const ta = new Transport({ selfId: 1, secret: 'right', peers: new Map(), onMessage: (m) => got.push(m), logger: rec.logger });
  a.server.on('upgrade', (req, sock, head) => ta.handleUpgrade(req, sock, head));
  const intruder = new Transport({ selfId: 9, secret: 'wrong', peers: new Map([[1, a.url]]), onMessage: () => undefined, logger: recorder().logger });
  t.teardown(() => {
    intruder.close();
    ta.close();
    a.server.close();
  });
  await until(() => rec.logs.some((l) => l.level === 'warn' && /secret/.test(l.msg)), 'refusal logged');
  intruder.send([message({ type: 'vote', from: 9, to: 1, term: 100 })]);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(intruder.isConnected(1), false);
  t.equal(got.length, 0, 'nothing from the intruder is delivered');
});

t.test('a link reconnects after the peer restarts', async (t) => {
  const b = await listen();
  const port = Number(new URL(b.url).port);
  const got: Message[] = [];
  let tb = new Transport({ selfId: 2, secret: 's', peers: new Map(), onMessage: (m) => got.push(m), logger: recorder().logger });
  b.server.on('upgrade', (req, sock, head) => tb.handleUpgrade(req, sock, head));
  const ta = new Transport({ selfId: 1, secret: 's', peers: new Map([[2, b.url]]), onMessage: () => undefined, logger: recorder().logger, maxBackoffMs: 100 });
  await until(() => ta.isConnected(2), 'first link');
  tb.close();
  b.server.close();
  b.server.closeAllConnections();
  await until(() => !ta.isConnected(2), 'link down');
  const again = createServer();
  again.listen(port, '127.0.0.1');
  await once(again, 'listening');
  tb = new Transport({ selfId: 2, secret: 's', peers: new Map(), onMessage: (m) => got.push(m), logger: recorder().logger });
  again.on('upgrade', (req, sock, head) => tb.handleUpgrade(req, sock, head));
  t.teardown(() => {
    ta.close();
    tb.close();
    again.close();
  });
  await until(() => ta.isConnected(2), 'reconnected');
  ta.send([message({ type: 'app', from: 1, to: 2, term: 1 })]);
  await until(() => got.length === 1, 'delivery after reconnect');
  t.pass('delivered after reconnect');
});

t.test('a message claiming another sender is dropped', async (t) => {
  const b = await listen();
  const got: Message[] = [];
  const tb = new Transport({ selfId: 2, secret: 's', peers: new Map(), onMessage: (m) => got.push(m), logger: recorder().logger });
  b.server.on('upgrade', (req, sock, head) => tb.handleUpgrade(req, sock, head));
  const ta = new Transport({ selfId: 1, secret: 's', peers: new Map([[2, b.url]]), onMessage: () => undefined, logger: recorder().logger });
  t.teardown(() => {
    ta.close();
    tb.close();
    b.server.close();
  });
  await until(() => ta.isConnected(2), 'link');
  ta.send([message({ type: 'vote', from: 3, to: 2, term: 9 }), message({ type: 'vote', from: 1, to: 2, term: 9 })]);
  await until(() => got.length >= 1, 'delivery');
  await new Promise((r) => setTimeout(r, 50));
  t.same(got.map((m) => m.from), [1]);
});
