/**
 * The gateway's side of each node's query stream (contract and frame format
 * in shared/protocol/query-stream.ts): STREAM_LANES WebSockets per node,
 * requests tagged with ids. Each socket asks the node for a read lane
 * (`?lane=K`): a node with lanes redirects it to read worker K's own stream
 * (storage-node/api/read-lane.ts), so replica reads skip the thread that
 * drives Raft; a node without lanes serves it itself.
 *
 * Reads go to one socket, the gateway's primary lane for that node (chosen
 * at random, so that gateways spread over a node's read workers), while it
 * keeps answering: everything on one lane packs into fewer frames and wakes
 * one worker. Measured on one node: 0.064 ms of node CPU per read on one
 * lane against 0.081 ms spread over two, and 8% more gateway throughput.
 * A lane that has had reads outstanding and sent nothing for STALL_MS (a
 * long scan holds its worker; the worker or the node is paused) or that has
 * SPILL reads outstanding, gets no more: the next read takes the open socket
 * with the fewest outstanding. A lane the gateway cannot reach (a container
 * that publishes only the API port) costs one failed attempt: the next one
 * asks for no lane.
 *
 * Writes take one more socket per node, opened on the first write to it:
 * the node's own stream, without a lane, because only the node's Raft
 * thread can run a write and a lane would just hand it over (one thread hop
 * each way). Measured with bench/raft.ts (3-node loopback cluster, three
 * runs), against one HTTP exchange per write: 1.4 to 1.9 times the writes/s
 * at 64 and 256 clients, with 15 to 35% less server CPU per write and a
 * sixth of the client's at most. A write that was sent on
 * a socket that then closes fails as a connection error, exactly like an
 * HTTP write whose connection dropped: the caller resends it with the same
 * request_id, which the node applies at most once.
 *
 * A request to an idle socket goes out at once; while answers are
 * outstanding, everything sent in one turn of the event loop is packed into
 * one frame. Reads go this way when a socket is open; while none is
 * (connecting, or the node is down) callers use HTTP, so a stream problem
 * costs speed, never availability.
 *
 * Failures map onto the HTTP ones: no answer within the request's time is a
 * timeout; a connection that closes fails every request in flight on it as
 * lost (the node may have run it), and a request with no open socket as a
 * connection error (it never went out). It reconnects
 * with backoff (100 ms doubling to 2 s) until closed.
 */
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { QUERY_STREAM_MAX_FRAME, QUERY_STREAM_PATH, decodeFrame, encodeFrame } from '../shared/protocol/query-stream.js';
import type { StreamItem } from '../shared/protocol/query-stream.js';
import { zeroMask } from '../shared/protocol/ws-mask.js';

/**
 * `connect`: the request never went out (no open socket); `lost`: the socket closed while it was
 * outstanding (the node may have run it); `timeout`: no answer within the request's time.
 */
export class StreamFailure extends Error {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'connect' | 'lost',
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
/** Sockets per node: one per read worker of a node with the default two. */
export const STREAM_LANES = 2;
/** A primary lane with reads outstanding that has sent nothing for this long takes no more. */
const STALL_MS = 20;
/** Nor does one with this many reads outstanding. */
const SPILL = 256;

/** The sockets to one node, seen as one stream. */
export class NodeStream {
  private readonly sockets: StreamSocket[] = [];
  /** Undefined with no lanes (a stream for writes only). */
  private readonly primary: StreamSocket | undefined;
  /** The node's own stream (no lane), for writes; opened on the first write. */
  private own: StreamSocket | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    lanes = STREAM_LANES,
  ) {
    for (let k = 0; k < lanes; k++) this.sockets.push(new StreamSocket(url, k));
    this.primary = this.sockets[Math.floor(Math.random() * lanes)];
  }

  /** Whether reads can go this way now (some lane socket is open). */
  get ready(): boolean {
    for (const s of this.sockets) if (s.ready) return true;
    return false;
  }

  /**
   * Whether writes can go this way now: the node's own stream is open. The first call opens it,
   * and answers false until it is; the caller uses HTTP meanwhile.
   */
  get writeReady(): boolean {
    if (this.own === undefined && !this.closed) this.own = new StreamSocket(this.url, undefined);
    return this.own?.ready === true;
  }

  /** performance.now() when the node last sent anything on any socket: a frame or a pong (-Infinity: nothing yet). */
  get lastHeardAt(): number {
    let last = this.own?.lastHeardAt ?? Number.NEGATIVE_INFINITY;
    for (const s of this.sockets) if (s.lastHeardAt > last) last = s.lastHeardAt;
    return last;
  }

  /**
   * A write (or anything else only the node's Raft thread can answer) over the node's own stream:
   * a read lane would only hand it over to that thread, one more thread hop each way.
   */
  write(payload: string, timeoutMs: number): Promise<StreamAnswer> {
    if (this.own === undefined) return Promise.reject(new StreamFailure(`${this.url}: query stream is not open`, 'connect'));
    return this.own.request(payload, timeoutMs);
  }

  request(payload: string, timeoutMs: number): Promise<StreamAnswer> {
    const primary = this.primary;
    if (primary === undefined) return Promise.reject(new StreamFailure(`${this.url}: no read lanes on this stream`, 'connect'));
    if (primary.ready && primary.inflight < SPILL && primary.stalledFor(performance.now()) < STALL_MS) return primary.request(payload, timeoutMs);
    let best: StreamSocket | undefined;
    for (const s of this.sockets) if (s.ready && s !== primary && (best === undefined || s.inflight < best.inflight)) best = s;
    return (best ?? primary).request(payload, timeoutMs);
  }

  /** Where each open socket ended up: a read lane's URL, or the node's own stream (diagnostics, tests). */
  endpoints(): string[] {
    const urls: string[] = [];
    for (const s of this.sockets) if (s.endpoint !== undefined) urls.push(s.endpoint);
    return urls;
  }

  /** Where the write socket is open to (the node's own stream), while it is open. */
  get writeEndpoint(): string | undefined {
    return this.own?.endpoint;
  }

  /** Asks the node for a sign of life on every open socket (a pong updates lastHeardAt). */
  probe(): void {
    for (const s of this.sockets) s.probe();
    this.own?.probe();
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets) s.close();
    this.own?.close();
  }
}

/** One WebSocket of a node's stream. */
class StreamSocket {
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
  /** performance.now() when the last request went out to an idle socket. */
  private busySince = 0;
  /** The next attempt asks for no lane (the last lane attempt failed before it opened, or this socket wants none). */
  private direct: boolean;

  constructor(
    private readonly url: string,
    /** The read lane to ask for; undefined: the node's own stream, never redirected. */
    private readonly lane: number | undefined,
  ) {
    this.direct = lane === undefined;
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

  /** The URL this socket is open to (after the node's redirect), while it is open. */
  get endpoint(): string | undefined {
    return this.open ? this.ws?.url : undefined;
  }

  /** How long (ms, at performance.now() `now`) this socket has had requests outstanding without a word from the node. */
  stalledFor(now: number): number {
    return this.waiting.size === 0 ? 0 : now - Math.max(this.lastHeardAt, this.busySince);
  }

  request(payload: string, timeoutMs: number): Promise<StreamAnswer> {
    if (!this.open) return Promise.reject(new StreamFailure(`${this.url}: query stream is not open`, 'connect'));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<StreamAnswer>((resolve, reject) => {
      const idle = this.waiting.size === 0;
      if (idle) this.busySince = performance.now();
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
    const direct = this.direct;
    const ws = new WebSocket(this.url.replace(/^http/, 'ws') + QUERY_STREAM_PATH + (direct ? '' : `?lane=${this.lane}`), {
      perMessageDeflate: false,
      maxPayload: QUERY_STREAM_MAX_FRAME,
      handshakeTimeout: 2000,
      generateMask: zeroMask,
      // Only the node's redirect to one of its read lanes.
      followRedirects: !direct,
      maxRedirects: 1,
    });
    this.ws = ws;
    let redirected = false;
    let opened = false;
    ws.on('redirect', () => {
      redirected = true;
    });
    ws.on('open', () => {
      opened = true;
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
      // A lane that could not be reached: ask for none next time. A lane-less stream that was lost: try a lane again.
      if (redirected && !opened) this.direct = true;
      else if (direct && opened && this.lane !== undefined) this.direct = false;
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
    for (const waiter of waiters) waiter.reject(new StreamFailure(message, 'lost'));
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

  /** performance.now() when the node at `url` last sent anything on its stream (-Infinity: nothing, or no stream). */
  lastHeardAt(url: string): number {
    return this.streams.get(url)?.lastHeardAt ?? Number.NEGATIVE_INFINITY;
  }

  /** Pings every open socket of the stream to `url`, if there is one. */
  probe(url: string): void {
    this.streams.get(url)?.probe();
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
