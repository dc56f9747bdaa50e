/**
 * One call to a storage node's `POST /v1/query` over its keep-alive pool, or
 * over the node's query stream when that is open (node-stream.ts; same
 * request, same answer; reads take a read lane, writes the node's own
 * stream), through the node's circuit breaker, counted in its in-flight
 * gauge.
 *
 * Connection failures and 5xx INTERNAL throw NodeFailure (they count against
 * the breaker); every other answer is returned as is, the statement's own
 * errors (TIMEOUT, MEMORY_LIMIT, WORK_LIMIT, ...) included. When the call's
 * time runs out without an answer, the node's liveness decides: a node that
 * still shows signs of life (health checks, stream frames or pongs, other
 * answers) is running a statement past its time, StatementTimeout, which
 * does not count against it; a silent one is a NodeFailure.
 */
import { errors } from 'undici';
import { NodeFailure } from './breakers/breakers.js';
import type { Breakers } from './breakers/breakers.js';
import type { NodePools } from './pools.js';
import { StreamFailure } from './node-stream.js';
import type { NodeStreams } from './node-stream.js';
import type { NodeView } from './topology/node-view.js';

export interface NodeAnswer {
  url: string;
  status: number;
  /** The node's JSON body as sent, relayed to the client without re-serializing. */
  text: string;
  json: unknown;
  /** Present on error answers. */
  errorCode: string | undefined;
}

/** The node is alive but gave no answer within the statement's time (plus a margin for its own TIMEOUT answer): the statement's fault, not the node's. */
export class StatementTimeout extends Error {
  constructor(
    readonly url: string,
    readonly waitedMs: number,
  ) {
    super(`${url} is alive but did not answer the statement within ${waitedMs} ms`);
    this.name = 'StatementTimeout';
  }
}

/** What the client needs of the topology: a node's view (in-flight count) and its signs of life. */
export interface NodeLiveness {
  view(url: string): NodeView | undefined;
  isAlive(url: string, heardAt?: number): boolean;
  markSeen(url: string): void;
  checkNow(url: string): void;
  markDown(url: string): void;
}

export class NodeClient {
  constructor(
    private readonly pools: NodePools,
    private readonly breakers: Breakers,
    private readonly topology: NodeLiveness,
    /** Query streams; without them every call is HTTP. */
    private readonly streams?: NodeStreams,
  ) {}

  /** `read`: the request changes nothing, so it may take a read lane of the node's query stream; otherwise it takes the node's own stream. */
  async query(url: string, payload: string, attemptTimeoutMs: number, read = false): Promise<NodeAnswer> {
    const view = this.topology.view(url);
    if (view !== undefined) view.inflight++;
    try {
      return await this.breakers.run(url, () => this.send(url, payload, attemptTimeoutMs, read));
    } finally {
      if (view !== undefined) view.inflight--;
    }
  }

  /**
   * Whether `url` has shown no sign of life since `since` (performance.now()): no frame or pong on its
   * query stream, no answer over HTTP, no passed health check or status since.
   */
  silentSince(url: string, since: number): boolean {
    return this.lastHeardAt(url) < since;
  }

  /** The node is alive: it passes health checks and showed a sign of life lately (Topology.isAlive). */
  alive(url: string): boolean {
    return this.topology.isAlive(url, this.streams?.lastHeardAt(url));
  }

  /**
   * Asks `url` for a sign of life: a ping on each socket of its query stream and a health check over
   * HTTP, which the node's main thread answers even while every read worker is busy with a long
   * statement (a read lane's socket cannot answer a ping then).
   */
  probe(url: string): void {
    this.streams?.probe(url);
    this.topology.checkNow(url);
  }

  /** performance.now() of the last sign of life from `url` (-Infinity: none). */
  private lastHeardAt(url: string): number {
    const seen = this.topology.view(url)?.lastSeenAt ?? Number.NEGATIVE_INFINITY;
    const heard = this.streams?.lastHeardAt(url) ?? Number.NEGATIVE_INFINITY;
    return heard > seen ? heard : seen;
  }

  private async send(url: string, payload: string, timeoutMs: number, read: boolean): Promise<NodeAnswer> {
    let status: number;
    let text: string;
    const stream = this.streams?.get(url);
    try {
      if (read && stream?.ready === true) {
        ({ status, text } = await stream.request(payload, timeoutMs));
      } else if (!read && stream?.writeReady === true) {
        ({ status, text } = await stream.write(payload, timeoutMs));
      } else {
        ({ status, text } = await this.http(url, payload, timeoutMs));
        this.topology.markSeen(url);
      }
    } catch (error) {
      const message = `${url}: ${error instanceof Error ? error.message : String(error)}`;
      const timeout = error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError || (error instanceof StreamFailure && error.reason === 'timeout');
      if (timeout) {
        if (this.alive(url)) throw new StatementTimeout(url, timeoutMs);
        throw new NodeFailure(message, 'timeout');
      }
      // A read lane's socket lives in one of the node's read workers: when the node replaces that worker, the
      // reads queued on it are lost while the node itself serves on, which says nothing about its health.
      if (read && error instanceof StreamFailure && error.reason === 'lost' && this.alive(url)) throw new NodeFailure(message, 'lane');
      this.topology.markDown(url);
      throw new NodeFailure(message, neverSent(error) ? 'refused' : 'lost');
    }
    let json: unknown;
    try {
      json = status === 200 ? parseSuccess(text) : JSON.parse(text);
    } catch {
      throw new NodeFailure(`${url}: answered ${status} with a body that is not JSON`, 'server');
    }
    const errorCode = status === 200 ? undefined : errorCodeOf(json);
    if (status >= 500 && (errorCode === undefined || errorCode === 'INTERNAL')) throw new NodeFailure(`${url}: answered ${status}`, 'server');
    return { url, status, text, json, errorCode };
  }

  private async http(url: string, payload: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    const response = await this.pools.get(url).request({
      path: '/v1/query',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: payload,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return { status: response.statusCode, text: await response.body.text() };
  }
}

/**
 * A node's 200 answer is relayed to the client as it came; the gateway itself
 * needs only its trailing `meta` (index, term). The node serializes `meta`
 * last (its response schema orders columns, rows, stats, meta), so parse
 * just that tail instead of the whole result; fall back to a full parse.
 */
export function parseSuccess(text: string): unknown {
  const at = text.lastIndexOf(',"meta":{');
  if (at > 0 && text.endsWith('}')) {
    try {
      return { meta: JSON.parse(text.slice(at + 8, -1)) as unknown };
    } catch {
      // not the layout we expected: parse it all
    }
  }
  return JSON.parse(text);
}

/** The request surely did not reach the node: refused, or no socket to send it on. */
function neverSent(error: unknown): boolean {
  if (error instanceof StreamFailure) return error.reason === 'connect';
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

export function errorCodeOf(body: unknown): string | undefined {
  const error = (body as { error?: { code?: unknown } } | null)?.error;
  return typeof error?.code === 'string' ? error.code : undefined;
}

export function errorField(body: unknown, field: string): unknown {
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  return error?.[field];
}
