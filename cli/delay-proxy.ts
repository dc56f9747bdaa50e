/**
 * A TCP proxy that adds a fixed one-way delay to every chunk, in both
 * directions: what `geode dev --wan-latency 40ms` puts between regions, so
 * that DR streams, cross-region polls and a gateway's requests to a far
 * region pay a WAN's latency on loopback (a request and its answer cost
 * twice the delay). Bandwidth is not limited and connection setup is not
 * delayed: the connections that matter (WebSockets, keep-alive HTTP) are
 * long-lived.
 *
 * Each direction is a FIFO of (chunk, due time): chunks leave in arrival
 * order, each no earlier than the delay after it arrived. An end (FIN) is
 * queued like data, so a half-close reaches the other side after the bytes
 * before it. Buffers are bounded: past `maxBufferedBytes` held in one
 * direction the sending socket is paused until half of that has gone out,
 * and a receiver that does not drain stops delivery until it does (its own
 * backlog then counts against the bound). A reset or error on either side
 * destroys both (what a reset would do end to end); nothing throws. A side
 * that closes normally gets its last bytes and its end delivered first; once
 * they are out, the other side is closed too (nothing sent to a closed side
 * could arrive), so a peer that never closes its half does not leak.
 */
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

export interface DelayProxyOptions {
  /** Where each accepted connection is forwarded. */
  target: { host: string; port: number };
  /** One-way delay in ms added to each chunk in each direction (0: none, order still kept). */
  delayMs: number;
  /** Listen host; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (any free port, bound at once). */
  port?: number;
  /** Bytes held per direction of a connection before the sender is paused; default 4 MiB. */
  maxBufferedBytes?: number;
}

export interface DelayProxy {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, for proxying an HTTP/WebSocket peer. */
  readonly url: string;
  /** The delay applied to chunks arriving from now on (changeable while running). */
  delayMs: number;
  /** Connections currently open. */
  readonly connections: number;
  /**
   * A cut link (a partition, for fault tests): setting it ends every open connection, and while it is
   * set every new one is closed as soon as it is accepted. Clearing it lets new connections through.
   */
  cut: boolean;
  /** Stops listening and destroys every connection; queued chunks are dropped. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;

/** One direction of a proxied connection: from `source` to `sink`, each chunk held for the delay. */
class DelayedDirection {
  private readonly queue: { due: number; chunk: Buffer | null }[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** `sink.write` returned false: deliver nothing more until it drains. */
  private blocked = false;
  private stopped = false;
  /** The source's end has been delivered and flushed to the sink. */
  ended = false;

  constructor(
    readonly source: Socket,
    private readonly sink: Socket,
    private readonly delay: () => number,
    private readonly maxBuffered: number,
    private readonly onEnded: () => void,
  ) {
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.on('end', () => this.push(null));
    sink.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  /** A chunk, or null for the source's end, due after the delay. */
  private push(chunk: Buffer | null): void {
    if (this.stopped) return;
    this.queue.push({ due: performance.now() + this.delay(), chunk });
    if (chunk !== null) {
      this.bytes += chunk.length;
      if (this.bytes >= this.maxBuffered) this.source.pause();
    }
    this.flush();
  }

  private flush(): void {
    if (this.stopped || this.blocked || this.timer !== undefined) return;
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.due > now) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flush();
        }, Math.max(1, Math.ceil(head.due - now)));
        return;
      }
      this.queue.shift();
      if (this.sink.destroyed) return;
      if (head.chunk === null) {
        this.sink.end(() => {
          this.ended = true;
          this.onEnded();
        });
        continue;
      }
      this.bytes -= head.chunk.length;
      if (this.bytes < this.maxBuffered / 2 && this.source.isPaused() && !this.source.destroyed) this.source.resume();
      if (!this.sink.write(head.chunk)) {
        this.blocked = true;
        return;
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.bytes = 0;
  }
}

export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  if (!Number.isFinite(options.delayMs) || options.delayMs < 0) throw new Error(`delay proxy: delayMs must be >= 0, got ${options.delayMs}`);
  const host = options.host ?? '127.0.0.1';
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
  const open = new Set<() => void>();
  let delayMs = options.delayMs;
  let cut = false;

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    if (cut) {
      client.on('error', () => undefined);
      client.destroy();
      return;
    }
    const upstream = connect({ host: options.target.host, port: options.target.port, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const delay = (): number => delayMs;
    const settle = (): void => {
      // Over when everything each side sent has arrived, or a side is closed and what it sent has arrived.
      if ((up.ended && down.ended) || (client.destroyed && up.ended) || (upstream.destroyed && down.ended)) teardown();
    };
    const up = new DelayedDirection(client, upstream, delay, maxBuffered, settle);
    const down = new DelayedDirection(upstream, client, delay, maxBuffered, settle);
    let done = false;
    const teardown = (): void => {
      if (done) return;
      done = true;
      open.delete(teardown);
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
    };
    open.add(teardown);
    // A reset, a refused upstream or a write after the peer went away: end both sides, never throw.
    client.on('error', teardown);
    upstream.on('error', teardown);
    // A normal close: its last chunks and end may still be on their way to the other side.
    client.on('close', (hadError) => (hadError ? teardown() : settle()));
    upstream.on('close', (hadError) => (hadError ? teardown() : settle()));
  });
  // An accept error (EMFILE) must not take the process down; the listener keeps accepting.
  server.on('error', () => undefined);
  await new Promise<void>((resolveListen, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ host, port: options.port ?? 0, exclusive: true }, () => {
      server.off('error', onError);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    url: `http://${urlHost}:${port}`,
    get delayMs() {
      return delayMs;
    },
    set delayMs(value: number) {
      if (!Number.isFinite(value) || value < 0) throw new Error(`delay proxy: delayMs must be >= 0, got ${value}`);
      delayMs = value;
    },
    get connections() {
      return open.size;
    },
    get cut() {
      return cut;
    },
    set cut(value: boolean) {
      cut = value;
      if (value) for (const teardown of [...open]) teardown();
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        for (const teardown of [...open]) teardown();
      }),
  };
}
