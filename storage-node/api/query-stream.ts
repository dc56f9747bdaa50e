/**
 * `GET /v1/stream`: the multiplexed query stream (frame format and contract in
 * shared/protocol/query-stream.ts). Each request in a frame runs exactly as a
 * `POST /v1/query` would (the same schema check, backend call, metrics and
 * error JSON); the answers that finish in the same turn of the event loop go
 * back in one frame.
 *
 * The same connection class serves read lanes (read-lane.ts) in read
 * workers, whose runner answers reads at once and hands the rest over.
 *
 * Limits: a frame is at most QUERY_STREAM_MAX_FRAME bytes and each body at
 * most the node's HTTP body limit (413 PAYLOAD_TOO_LARGE, like the route); a
 * connection has at most MAX_INFLIGHT requests running (more answer 503
 * OVERLOADED at once); a frame that does not parse closes the connection
 * with 1007 (the peer is broken, not one of its requests); a client that
 * stops reading is dropped once MAX_BUFFERED_BYTES of answers pile up.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import { ErrorCode, GeodeError, httpStatusFor } from '../../shared/protocol/errors.js';
import { queryRequestProblem } from '../../shared/protocol/query.js';
import type { QueryRequest } from '../../shared/protocol/query.js';
import { QUERY_STREAM_MAX_FRAME, decodeFrame, encodeFrame } from '../../shared/protocol/query-stream.js';
import type { StreamItem } from '../../shared/protocol/query-stream.js';
import { toWireError } from './errors.js';

const MAX_INFLIGHT = 4096;
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** An answer relayed as it is: its status and JSON body (a read lane relays the main thread's answers so). */
export interface StreamReply {
  status: number;
  body: string;
}

/**
 * Runs one validated query body: a 200's JSON text or a relayed reply, at once or later; a query's
 * error is thrown (or rejected with) and answered as the HTTP route would answer it.
 */
export type StreamRunner = (body: QueryRequest) => string | StreamReply | Promise<string | StreamReply>;

export interface QueryStreamOptions {
  run: StreamRunner;
  /** Read per request, so a read lane can learn the node's limit after it started. */
  bodyLimit: number;
  onError: (error: unknown) => void;
}

export class QueryStreamServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: QUERY_STREAM_MAX_FRAME, perMessageDeflate: false });
  private closed = false;

  constructor(private readonly options: QueryStreamOptions) {}

  accept(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => new Connection(ws, this.options));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}

class Connection {
  private inflight = 0;
  private out: StreamItem[] = [];
  private flushScheduled = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: QueryStreamOptions,
  ) {
    ws.on('message', (data: RawData, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('error', (error) => {
      options.onError(error);
      ws.terminate();
    });
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    let items: StreamItem[];
    try {
      if (!isBinary) throw new RangeError('query stream frames are binary');
      items = decodeFrame(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data), false);
    } catch (error) {
      this.ws.close(1007, error instanceof Error ? error.message.slice(0, 120) : 'bad frame');
      return;
    }
    for (const item of items) this.start(item);
  }

  private start(item: StreamItem): void {
    if (this.inflight >= MAX_INFLIGHT) {
      this.answerError(item.id, new GeodeError(ErrorCode.OVERLOADED, 'too many queries in flight on this stream'));
      return;
    }
    if (Buffer.byteLength(item.body) > this.options.bodyLimit) {
      this.answerError(item.id, new GeodeError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body is larger than the server accepts'));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(item.body);
    } catch {
      this.answerError(item.id, new GeodeError(ErrorCode.BAD_REQUEST, 'request body is not valid JSON'));
      return;
    }
    // The same wording as the HTTP route's validation errors.
    const problem = queryRequestProblem(body);
    if (problem !== undefined) {
      this.answerError(item.id, new GeodeError(ErrorCode.BAD_REQUEST, problem));
      return;
    }
    let answer: ReturnType<StreamRunner>;
    try {
      answer = this.options.run(body as QueryRequest);
    } catch (error) {
      this.answerError(item.id, error);
      return;
    }
    if (typeof answer === 'string') {
      this.push({ id: item.id, status: 200, body: answer });
      return;
    }
    if (!(answer instanceof Promise)) {
      this.push({ id: item.id, status: answer.status, body: answer.body });
      return;
    }
    this.inflight++;
    answer.then(
      (done) => {
        this.inflight--;
        this.push(typeof done === 'string' ? { id: item.id, status: 200, body: done } : { id: item.id, status: done.status, body: done.body });
      },
      (error: unknown) => {
        this.inflight--;
        this.answerError(item.id, error);
      },
    );
  }

  private answerError(id: number, error: unknown): void {
    const wire = toWireError(error);
    if (wire.internal) this.options.onError(error);
    this.push({ id, status: wire.status ?? httpStatusFor[ErrorCode.INTERNAL], body: JSON.stringify(wire.body) });
  }

  private push(item: StreamItem): void {
    this.out.push(item);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const items = this.out;
    this.out = [];
    if (items.length === 0 || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.ws.terminate();
      return;
    }
    this.ws.send(encodeFrame(items, true), { binary: true });
  }
}
