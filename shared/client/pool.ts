/**
 * `ConnectionPool`: a fixed set of servers (nodes or gateways) behind a
 * bounded number of leased connections. Each lease is bound to the healthy
 * server with the fewest leases; its calls fail over to the other servers
 * (and follow `leader_url`) with the pool's retry policy. `/healthz` is probed
 * every `healthCheckInterval`; sockets are undici keep-alive pools.
 */
import { callWithFailover, defaultBackoff } from './caller.js';
import type { RetryPolicy } from './caller.js';
import { Connection } from './connection.js';
import { EndpointRegistry } from './endpoint.js';
import type { Endpoint } from './endpoint.js';
import { GeodeConnectionError } from './errors.js';
import { SessionState } from './session.js';
import type { SessionSnapshot } from './session.js';
import type { Consistency, Meta, Params, QueryOptions, QueryResult } from './types.js';
import { decodeAnswer, queryBody } from './wire.js';

export interface ConnectionPoolOptions {
  /** Server URLs (`host:port` is read as http). */
  nodes: readonly string[];
  /** Sockets opened per server at start (warm keep-alive); default 1. */
  minConnections?: number;
  /** Connections that may be leased at once (and sockets per server); default 10. */
  maxConnections?: number;
  /** Bound on `acquire()` waiting for a free lease, and on TCP connect (ms); default 5 s. */
  connectionTimeout?: number;
  /** Idle keep-alive socket lifetime (ms); default 300 s. */
  idleTimeout?: number;
  /** Period of /healthz probes (ms); default 30 s; 0 disables them. */
  healthCheckInterval?: number;
  /** Retries of one call after its first attempt; default 3. */
  maxRetries?: number;
  /** Wait before retry `attempt` (1-based), ms; default 100 ms doubling to 2 s. */
  retryBackoff?: (attempt: number) => number;
  /** Bound on one call including retries (ms); default 30 s. */
  deadlineMs?: number;
  /** Bound on one HTTP exchange (ms); default 10 s. */
  attemptTimeoutMs?: number;
  consistency?: Consistency;
  session?: Partial<SessionSnapshot>;
}

/** `acquire()` found no free connection within `connectionTimeout`. */
export class PoolExhaustedError extends GeodeConnectionError {
  constructor(message: string) {
    super(message);
    this.name = 'PoolExhaustedError';
  }
}

export interface PoolNodeState {
  url: string;
  healthy: boolean;
  rttMs: number | undefined;
  leased: number;
  inflight: number;
}

interface Waiter {
  resolve: (connection: PooledConnection) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ConnectionPool implements AsyncDisposable {
  private readonly registry: EndpointRegistry;
  private readonly endpoints: Endpoint[];
  private readonly leases = new Map<Endpoint, number>();
  private readonly waiters: Waiter[] = [];
  private readonly policy: RetryPolicy;
  private readonly sessionState: SessionState;
  private readonly consistency: Consistency | undefined;
  private readonly maxConnections: number;
  private readonly connectionTimeout: number;
  private leader: Endpoint | undefined;
  private active = 0;
  private healthTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Resolves after the first health check and socket warm-up. */
  readonly ready: Promise<void>;

  constructor(options: ConnectionPoolOptions) {
    if (options.nodes.length === 0) throw new TypeError('ConnectionPool: nodes must not be empty');
    const minConnections = options.minConnections ?? 1;
    this.maxConnections = options.maxConnections ?? 10;
    if (!Number.isInteger(this.maxConnections) || this.maxConnections < 1) throw new RangeError('ConnectionPool: maxConnections must be an integer >= 1');
    if (!Number.isInteger(minConnections) || minConnections < 0 || minConnections > this.maxConnections) {
      throw new RangeError('ConnectionPool: minConnections must be an integer in [0, maxConnections]');
    }
    this.connectionTimeout = options.connectionTimeout ?? 5_000;
    this.registry = new EndpointRegistry({ connections: this.maxConnections, idleTimeoutMs: options.idleTimeout ?? 300_000, connectTimeoutMs: this.connectionTimeout });
    this.endpoints = [...new Set(options.nodes.map((n) => this.registry.get(n)))];
    this.policy = {
      maxRetries: options.maxRetries ?? 3,
      backoff: options.retryBackoff ?? defaultBackoff,
      deadlineMs: options.deadlineMs ?? 30_000,
      attemptTimeoutMs: options.attemptTimeoutMs ?? 10_000,
    };
    this.sessionState = new SessionState(options.session);
    this.consistency = options.consistency;
    // Concurrent probes open up to minConnections sockets per server, which keep-alive then keeps.
    this.ready = Promise.all(this.endpoints.map((e) => Promise.all(Array.from({ length: Math.max(1, minConnections) }, () => e.probe(this.connectionTimeout))))).then(() => {});
    const interval = options.healthCheckInterval ?? 30_000;
    if (interval > 0) {
      this.healthTimer = setInterval(() => void this.checkHealth(), interval);
      this.healthTimer.unref();
    }
  }

  /** A connection bound to a healthy server; waits up to `connectionTimeout` when `maxConnections` are leased. */
  acquire(): Promise<PooledConnection> {
    if (this.closed) return Promise.reject(new Error('pool is closed'));
    if (this.active < this.maxConnections) return Promise.resolve(this.lease());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(new PoolExhaustedError(`no connection free within ${this.connectionTimeout} ms (${this.maxConnections} leased)`));
        }, this.connectionTimeout),
      };
      this.waiters.push(waiter);
    });
  }

  /** Probes every server's /healthz now. */
  async checkHealth(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.probe(this.connectionTimeout)));
  }

  get session(): SessionSnapshot {
    return this.sessionState.snapshot();
  }

  /** Leased connections. */
  get size(): number {
    return this.active;
  }

  /** `acquire()` calls waiting for a free connection. */
  get pending(): number {
    return this.waiters.length;
  }

  nodes(): PoolNodeState[] {
    return this.endpoints.map((e) => ({ url: e.url, healthy: e.healthy, rttMs: e.rttMs, leased: this.leases.get(e) ?? 0, inflight: e.inflight }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error('pool is closed'));
    }
    await this.registry.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal one call for a lease bound to `home`. */
  async call(home: Endpoint, text: string, params: Params | undefined, options: QueryOptions | undefined, intent: 'read' | 'write'): Promise<[QueryResult, Meta]> {
    if (this.closed) throw new Error('pool is closed');
    const others = this.endpoints.filter((e) => e !== home);
    const fallbacks = [...others.filter((e) => e.healthy), ...others.filter((e) => !e.healthy)];
    const candidates = intent === 'write' && this.leader !== undefined ? [this.leader, home, ...fallbacks] : [home, ...fallbacks];
    const body = queryBody(text, params, options, this.sessionState, { consistency: this.consistency });
    const policy = options?.deadlineMs !== undefined ? { ...this.policy, deadlineMs: options.deadlineMs } : this.policy;
    const call = await callWithFailover(this.registry, { candidates, onLeader: (leader) => (this.leader = leader) }, body, this.sessionState, policy);
    const answer = decodeAnswer(call);
    if (answer[1].role === 'primary') this.leader = call.endpoint;
    return answer;
  }

  private lease(): PooledConnection {
    const healthy = this.endpoints.filter((e) => e.healthy);
    const pool = healthy.length > 0 ? healthy : this.endpoints;
    let home = pool[0] as Endpoint;
    for (const e of pool) if ((this.leases.get(e) ?? 0) < (this.leases.get(home) ?? 0)) home = e;
    this.leases.set(home, (this.leases.get(home) ?? 0) + 1);
    this.active++;
    return new PooledConnection(this, home, () => this.release(home));
  }

  private release(home: Endpoint): void {
    this.leases.set(home, Math.max(0, (this.leases.get(home) ?? 0) - 1));
    this.active--;
    const waiter = this.waiters.shift();
    if (waiter !== undefined && !this.closed) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.lease());
    }
  }
}

/** A leased connection: `close()` (or `await using`) returns it to the pool. */
export class PooledConnection extends Connection {
  readonly url: string;

  constructor(pool: ConnectionPool, home: Endpoint, release: () => void) {
    super(
      {
        query: (text, params, options) => pool.call(home, text, params, options, 'read'),
        execute: (text, params, options) => pool.call(home, text, params, options, 'write'),
      },
      release,
    );
    this.url = home.url;
  }
}
