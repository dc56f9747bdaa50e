import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { startDelayProxy } from '../../cli/delay-proxy.js';
import type { DelayProxy } from '../../cli/delay-proxy.js';

/** Hang bound for anything awaited here: far above what any step needs, even on a loaded machine. */
const HANG_MS = 20_000;

async function listen(t: Test, onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

async function proxyTo(t: Test, port: number, delayMs: number, maxBufferedBytes?: number): Promise<DelayProxy> {
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs, ...(maxBufferedBytes === undefined ? {} : { maxBufferedBytes }) });
  t.teardown(() => proxy.close());
  return proxy;
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function within<T>(what: string, promise: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hung: ${what}`)), HANG_MS);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Everything the socket receives until it ends or closes, and how it ended. */
function collect(socket: Socket): Promise<{ data: Buffer; how: 'end' | 'close' | 'error' }> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    let settled = false;
    const finish = (how: 'end' | 'close' | 'error'): void => {
      if (settled) return;
      settled = true;
      resolve({ data: Buffer.concat(chunks), how });
    };
    socket.once('end', () => finish('end'));
    socket.once('close', () => finish('close'));
    socket.once('error', () => finish('error'));
  });
}

t.test('each direction is delayed: an echo round trip takes at least twice the one-way delay', async (t) => {
  const { port } = await listen(t, (socket) => socket.pipe(socket));
  const proxy = await proxyTo(t, port, 80);
  t.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const client = await dial(proxy.port);
  t.teardown(() => client.destroy());
  const echoed = new Promise<number>((resolve) => client.once('data', () => resolve(performance.now())));
  const sent = performance.now();
  client.write('ping');
  const took = (await within('the echo', echoed)) - sent;
  // A lower bound only (a loaded machine is slower, never faster); 2 ms for timer rounding.
  t.ok(took >= 2 * 80 - 2, `round trip ${took.toFixed(1)} ms >= 160 ms`);

  // The delay can be changed while running; it applies to chunks arriving from then on.
  proxy.delayMs = 0;
  const again = new Promise<void>((resolve) => client.once('data', () => resolve()));
  client.write('pong');
  await within('the echo at 0 ms', again);
  t.equal(proxy.connections, 1);
  t.throws(() => (proxy.delayMs = -1), /must be >= 0/);
});

t.test('order is kept across many chunks, in both directions, with a delay', async (t) => {
  const { port } = await listen(t, (socket) => socket.pipe(socket));
  const proxy = await proxyTo(t, port, 15);
  const client = await dial(proxy.port);
  const received = collect(client);
  const lines: string[] = [];
  for (let i = 0; i < 2_000; i++) lines.push(`message ${i}\n`);
  // Separate writes spread over several event-loop turns, so chunks arrive at different times.
  for (let i = 0; i < lines.length; i += 100) {
    client.write(lines.slice(i, i + 100).join(''));
    await new Promise((r) => setImmediate(r));
  }
  client.end();
  const { data, how } = await within('the echoed stream', received);
  t.equal(how, 'end', 'the half-close travelled through and back');
  t.equal(data.toString(), lines.join(''), 'every byte, in order');
});

t.test('an upstream that answers and closes closes the client side after its last bytes', async (t) => {
  const { port } = await listen(t, (socket) => socket.end('bye'));
  const proxy = await proxyTo(t, port, 30);
  const client = await dial(proxy.port);
  const { data, how } = await within('the close', collect(client));
  t.equal(data.toString(), 'bye', 'the last bytes arrive before the end');
  t.equal(how, 'end');
  await within('the client closes', new Promise<void>((resolve) => (client.destroyed ? resolve() : client.once('close', () => resolve()))));
  await within('the proxy forgets the connection', waitFor(() => proxy.connections === 0));
  t.pass('no connection left open in the proxy');
});

t.test('resets and refused upstreams close the other side without crashing the proxy', async (t) => {
  // The upstream reads (and drops) what it gets, so it notices its connection closing.
  const { port, sockets } = await listen(t, (socket) => socket.resume());
  const proxy = await proxyTo(t, port, 10);

  // The upstream resets the connection.
  const first = await dial(proxy.port);
  const firstEnd = collect(first);
  first.write('hello');
  await within('the upstream accepts', waitFor(() => sockets.length === 1));
  sockets[0]!.resetAndDestroy();
  const reset = await within('the client side closes after an upstream reset', firstEnd);
  t.ok(['end', 'close', 'error'].includes(reset.how), `client side closed (${reset.how})`);

  // The client resets its connection: the upstream side is closed.
  const second = await dial(proxy.port);
  second.write('x');
  await within('the second upstream connection', waitFor(() => sockets.length === 2));
  // The test's server is half-open capable: the proxy's close reaches it as an end.
  const upstreamClosed = new Promise<void>((resolve) => {
    sockets[1]!.once('end', () => resolve());
    sockets[1]!.once('close', () => resolve());
  });
  second.resetAndDestroy();
  await within('the upstream side closes after a client reset', upstreamClosed);
  t.pass('upstream closed');

  // Nothing listens at the target: the client is closed, the proxy keeps going.
  const nowhere = await listen(t, () => undefined);
  await new Promise<void>((resolve) => nowhere.server.close(() => resolve()));
  const dead = await proxyTo(t, nowhere.port, 10);
  const refused = await dial(dead.port);
  const refusedEnd = await within('the client side closes when the upstream refuses', collect(refused));
  t.ok(['end', 'close', 'error'].includes(refusedEnd.how), `closed (${refusedEnd.how})`);

  // The first proxy still serves new connections.
  const echo = await listen(t, (socket) => socket.pipe(socket));
  const third = await proxyTo(t, echo.port, 5);
  const client = await dial(third.port);
  const answered = collect(client);
  client.end('still alive');
  t.equal((await within('the echo after the failures', answered)).data.toString(), 'still alive');
  await within('connections forgotten', waitFor(() => proxy.connections === 0 && dead.connections === 0));
});

t.test('buffers are bounded: a receiver that does not read stalls the sender; everything arrives once it reads', async (t) => {
  const bound = 256 * 1024;
  let upstream: Socket | undefined;
  const { port } = await listen(t, (socket) => {
    upstream = socket;
    socket.pause();
  });
  const proxy = await proxyTo(t, port, 5, bound);
  const client = await dial(proxy.port);
  t.teardown(() => client.destroy());
  const chunk = Buffer.alloc(64 * 1024);
  const total = 64 * 1024 * 1024;
  let written = 0;
  let stalled = false;
  // Write until the socket refuses more and does not drain for a while (or everything was taken: unbounded).
  while (written < total) {
    chunk.fill(written / chunk.length % 251);
    const more = client.write(Buffer.from(chunk));
    written += chunk.length;
    if (!more) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1_000);
        client.once('drain', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) {
        stalled = true;
        break;
      }
    }
  }
  t.ok(stalled, `the sender stalled after ${written} of ${total} bytes instead of the proxy taking them all`);
  t.ok(written < total / 2, `bounded: ${written} bytes written before the stall`);

  // The receiver reads: every byte arrives, in order.
  const expected = written;
  const got = new Promise<Buffer>((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    upstream!.on('data', (part: Buffer) => {
      parts.push(part);
      size += part.length;
      if (size >= expected) resolve(Buffer.concat(parts));
    });
  });
  upstream!.resume();
  const data = await within('the backlog to arrive', got);
  t.equal(data.length, expected);
  let inOrder = true;
  for (let i = 0; i < expected / chunk.length && inOrder; i++) inOrder = data[i * chunk.length] === i % 251 && data[(i + 1) * chunk.length - 1] === i % 251;
  t.ok(inOrder, 'chunks arrived in order');
});

t.test('close() ends every connection and stops listening', async (t) => {
  const { port } = await listen(t, () => undefined);
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs: 1_000 });
  const client = await dial(proxy.port);
  const ended = collect(client);
  client.write('queued for a second');
  await proxy.close();
  t.ok(['end', 'close', 'error'].includes((await within('the client side closes', ended)).how));
  await t.rejects(dial(proxy.port), 'nothing listens any more');
  await t.rejects(startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs: -5 }), /must be >= 0/);
});

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

t.test('a cut link ends the connections it carries and closes new ones until it is restored', async (t) => {
  const { port } = await listen(t, (socket) => socket.pipe(socket));
  const proxy = await proxyTo(t, port, 0);
  const before = await dial(proxy.port);
  const ended = collect(before);
  before.write('x');
  await within('the echo through the proxy', new Promise((resolve) => before.once('data', resolve)));
  proxy.cut = true;
  t.not((await within('the open connection ends when the link is cut', ended)).how, undefined);
  const during = await dial(proxy.port).catch(() => undefined);
  if (during !== undefined) {
    const outcome = await within('a new connection is closed at once', collect(during));
    t.equal(outcome.data.length, 0, 'nothing reaches the target while cut');
  } else t.pass('a new connection is refused while cut');
  proxy.cut = false;
  const after = await dial(proxy.port);
  after.write('y');
  const echoed = await within('the echo once restored', new Promise<Buffer>((resolve) => after.once('data', resolve)));
  t.equal(echoed.toString(), 'y', 'restored: traffic flows again');
  after.destroy();
});
