/**
 * One server URL: a keep-alive undici Pool, the calls in flight through this
 * client, a round-trip-time estimate from /healthz probes, and a health flag.
 */
import { Pool } from 'undici';

export interface EndpointOptions {
  /** Sockets kept to this URL. */
  connections: number;
  /** How long an unused socket stays open (ms). */
  idleTimeoutMs: number;
  /** TCP connect bound (ms). */
  connectTimeoutMs: number;
}

export const DEFAULT_ENDPOINT_OPTIONS: EndpointOptions = { connections: 16, idleTimeoutMs: 30_000, connectTimeoutMs: 5_000 };

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** The request never got an HTTP answer (refused, reset, timed out, aborted). */
export class TransportError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`${url}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TransportError';
  }
}

/** Weight of a new RTT sample in the moving average. */
const RTT_ALPHA = 0.3;

export class Endpoint {
  readonly url: string;
  private readonly pool: Pool;
  /** Calls in flight through this client (LEAST_CONNECTIONS). */
  inflight = 0;
  /** Smoothed /healthz round trip, undefined until measured (NEAREST). */
  rttMs: number | undefined;
  /** False after a connection failure or failed probe, true again after a good answer. */
  healthy = true;
  private closed = false;

  constructor(url: string, options: EndpointOptions = DEFAULT_ENDPOINT_OPTIONS) {
    this.url = normalizeUrl(url);
    this.pool = new Pool(this.url, {
      connections: options.connections,
      keepAliveTimeout: options.idleTimeoutMs,
      keepAliveMaxTimeout: Math.max(options.idleTimeoutMs, 1_000),
      connect: { timeout: options.connectTimeoutMs },
    });
  }

  /** One HTTP exchange; a missing answer is a TransportError, any status is an answer. */
  async send(method: 'GET' | 'POST', path: string, body: string | undefined, headers: Record<string, string>, timeoutMs: number): Promise<HttpAnswer> {
    if (this.closed) throw new TransportError(this.url, new Error('client closed'));
    const started = performance.now();
    this.inflight++;
    try {
      const response = await this.pool.request({
        method,
        path,
        headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs))),
      });
      const text = await response.body.text();
      let parsed: unknown = text;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text) as unknown;
        } catch {
          // Not JSON (a proxy's error page): keep the text.
        }
      }
      this.healthy = true;
      if (method === 'GET' && path === '/healthz') this.observeRtt(performance.now() - started);
      return { status: response.statusCode, headers: response.headers, body: parsed };
    } catch (error) {
      this.healthy = false;
      throw new TransportError(this.url, error);
    } finally {
      this.inflight--;
    }
  }

  /** GET /healthz; true when it answers 200. Updates health and RTT. */
  async probe(timeoutMs: number): Promise<boolean> {
    try {
      const answer = await this.send('GET', '/healthz', undefined, {}, timeoutMs);
      this.healthy = answer.status === 200;
      return this.healthy;
    } catch {
      return false;
    }
  }

  private observeRtt(sampleMs: number): void {
    this.rttMs = this.rttMs === undefined ? sampleMs : this.rttMs + RTT_ALPHA * (sampleMs - this.rttMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close().catch(() => this.pool.destroy());
  }
}

/** `host:port` or a URL -> `http://host:port` without a trailing slash or path. */
export function normalizeUrl(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  return new URL(withScheme).origin;
}

/** Endpoints by URL, created on first use (e.g. a `leader_url` we were redirected to). */
export class EndpointRegistry {
  private readonly byUrl = new Map<string, Endpoint>();

  constructor(private readonly options: EndpointOptions = DEFAULT_ENDPOINT_OPTIONS) {}

  get(url: string): Endpoint {
    const key = normalizeUrl(url);
    let endpoint = this.byUrl.get(key);
    if (endpoint === undefined) {
      endpoint = new Endpoint(key, this.options);
      this.byUrl.set(key, endpoint);
    }
    return endpoint;
  }

  all(): Endpoint[] {
    return [...this.byUrl.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((e) => e.close()));
  }
}
