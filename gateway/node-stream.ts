/**
 * The gateway's side of each node's query stream (contract and frame format
 * in shared/protocol/query-stream.ts): one WebSocket per node, requests
 * tagged with ids. A request to an idle stream goes out at once; while
 * answers are outstanding, everything sent in one turn of the event loop is
 * packed into one frame. Reads go this way when the stream is open; while it is not
 * (connecting, or the node is down) callers use HTTP, so a stream problem
 * costs speed, never availability.
 *
 * Failures map onto the HTTP ones: no answer within the request's time is a
 * timeout; a connection that closes fails every request in flight on it as
 * a connection error (the caller retries reads elsewhere). It reconnects
 * with backoff (100 ms doubling to 2 s) until closed.
 */
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { QUERY_STREAM_MAX_FRAME, QUERY_STREAM_PATH, decodeFrame, encodeFrame } from '../shared/protocol/query-stream.js';
import type { StreamItem } from '../shared/protocol/query-stream.js';
import { zeroMask } from '../shared/protocol/ws-mask.js';

export class StreamFailure extends Error {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'connect',
  ) {
    super(message);
  }
}

export interface StreamAnswer {
  status: number;
  text: string;
}

interface Waiter {
  resolve: (answer: StreamAnswer) => void;
  reject: (error: StreamFailure) => void;
  deadline: number;
}

/** How often requests are checked against their deadlines. */
const SWEEP_MS = 20;
const MAX_BACKOFF_MS = 2000;

export class NodeStream {
  private ws: WebSocket | undefined;
  private open = false;
  private closed = false;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private queue: StreamItem[] = [];
  private flushScheduled = false;
  private backoffMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly sweeper: NodeJS.Timeout;
  /** performance.now() when the node last sent anything: a frame or a pong (-Infinity: nothing yet). */
  lastHeardAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly url: string) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
    this.connect();
  }

  /** Whether requests can go this way now. */
  get ready(): boolean {
    return this.open;
  }

  get inflight(): number {
    return this.waiting.size;
  }

  request(payload: string, timeoutMs: number): Promise<StreamAnswer> {
    if (!this.open) return Promise.reject(new StreamFailure(`${this.url}: query stream is not open`, 'connect'));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<StreamAnswer>((resolve, reject) => {
      const idle = this.waiting.size === 0;
      this.waiting.set(id, { resolve, reject, deadline: Date.now() + timeoutMs });
      this.queue.push({ id, body: payload });
      // An idle stream sends at once, so the node works while we parse what came with this request;
      // a busy one packs everything of this turn into one frame (one write, one wake-up of the node).
      // Sending every request at once while a few are outstanding measured slower: more frames, more wake-ups.
      if (idle && !this.flushScheduled) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushLater);
      }
    });
  }

  /** Asks the node for a sign of life (a WebSocket ping; its pong updates lastHeardAt). */
  probe(): void {
    if (!this.open || this.ws === undefined) return;
    try {
      this.ws.ping();
    } catch {
      // Closing meanwhile: the close handler fails what is in flight.
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.ws?.terminate();
    this.failAll('query stream closed');
  }

  private readonly flushLater = (): void => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    const items = this.queue;
    this.queue = [];
    if (items.length === 0) return;
    if (!this.open || this.ws === undefined) {
      for (const item of items) this.settle(item.id, undefined, new StreamFailure(`${this.url}: query stream closed`, 'connect'));
      return;
    }
    this.ws.send(encodeFrame(items, false), { binary: true });
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.url.replace(/^http/, 'ws') + QUERY_STREAM_PATH, {
      perMessageDeflate: false,
      maxPayload: QUERY_STREAM_MAX_FRAME,
      handshakeTimeout: 2000,
      generateMask: zeroMask,
    });
    this.ws = ws;
    ws.on('open', () => {
      this.open = true;
      this.backoffMs = 100;
    });
    ws.on('message', (data: RawData) => this.onFrame(data));
    ws.on('pong', () => {
      this.lastHeardAt = performance.now();
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.open = false;
      this.ws = undefined;
      this.failAll(`${this.url}: query stream lost`);
      if (this.closed) return;
      this.retryTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.retryTimer.unref();
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    });
  }

  private onFrame(data: RawData): void {
    this.lastHeardAt = performance.now();
    let items: StreamItem[];
    try {
      items = decodeFrame(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data), true);
    } catch {
      // A node that sends frames we cannot read is not one to keep talking to.
      this.ws?.terminate();
      return;
    }
    for (const item of items) this.settle(item.id, { status: item.status ?? 500, text: item.body }, undefined);
  }

  private settle(id: number, answer: StreamAnswer | undefined, error: StreamFailure | undefined): void {
    const waiter = this.waiting.get(id);
    if (waiter === undefined) return;
    this.waiting.delete(id);
    if (answer !== undefined) waiter.resolve(answer);
    else waiter.reject(error as StreamFailure);
  }

  private sweep(): void {
    if (this.waiting.size === 0) return;
    const now = Date.now();
    for (const [id, waiter] of this.waiting) {
      if (waiter.deadline > now) continue;
      this.waiting.delete(id);
      waiter.reject(new StreamFailure(`${this.url}: no answer within the request timeout`, 'timeout'));
    }
  }

  private failAll(message: string): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of waiters) waiter.reject(new StreamFailure(message, 'connect'));
  }
}

/** One stream per node URL, opened on first use. */
export class NodeStreams {
  private readonly streams = new Map<string, NodeStream>();

  get(url: string): NodeStream {
    let stream = this.streams.get(url);
    if (stream === undefined) {
      stream = new NodeStream(url);
      this.streams.set(url, stream);
    }
    return stream;
  }

  /** Closes and forgets the stream to `url` (the topology dropped that address). */
  drop(url: string): void {
    this.streams.get(url)?.close();
    this.streams.delete(url);
  }

  /** Whether the stream to `url` is open (false when none was ever opened). */
  isOpen(url: string): boolean {
    return this.streams.get(url)?.ready ?? false;
  }

  close(): void {
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }
}
