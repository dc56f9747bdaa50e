/**
 * A small leader-following HTTP client for a Geode cluster: keep-alive undici
 * pools per node, writes that follow 421 NOT_LEADER to `leader_url`, and
 * retries of transient failures (node down, no leader yet, timeout) with the
 * same request body, so a retried write keeps its request_id.
 */
import { Pool } from 'undici';
import { sleep } from './run.js';

/** The write every replication benchmark issues: one small node with a ~100-byte value. */
export const KV_WRITE = 'CREATE (:Kv {k: $k, v: $v})';
export const KV_VALUE = 'v'.repeat(100);

export interface QueryBody {
  query: string;
  params?: Record<string, unknown>;
  request_id?: string;
  timeout_ms?: number;
  consistency?: 'linearizable' | 'leader' | 'bounded' | 'any';
}

export interface QueryResponseBody {
  columns: string[];
  rows: Record<string, unknown>[];
  meta?: { node?: string; index?: number; request_id?: string };
}

export interface ClusterStatusBody {
  leader: string | null;
  leader_url: string | null;
  term: number;
  commit_index: number;
  applied_index: number;
  nodes: { id: string; role: string; status: string; replication_lag: number; match_index: number | null; applied_index: number | null; url: string }[];
}

/** A failure the retry loop will not retry (bad query, unexpected status). */
export class QueryFailed extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface GeodeClientOptions {
  /** Every node's base URL (`http://127.0.0.1:port`). */
  urls: string[];
  /** Keep-alive connections per node. */
  connections: number;
  /** Client-side bound on one HTTP attempt. */
  attemptTimeoutMs?: number;
}

export interface QueryOptions {
  /** Absolute time (Date.now()) after which the query is given up. */
  deadline: number;
  /** Called before every attempt (the first included), e.g. to count retries. */
  onAttempt?: (url: string) => void;
  /**
   * false: a successful answer's body is read but not parsed, and query() resolves to undefined
   * (error bodies are always parsed: the retry logic reads them). A load generator that only counts
   * successes does what the etcd side of bench:raft does with etcd's answers.
   */
  parse?: boolean;
}

const trimUrl = (url: string): string => url.replace(/\/+$/, '');

interface ErrorBodyShape {
  error?: { code?: unknown; message?: unknown; leader_url?: unknown };
}

export class GeodeClient {
  private readonly urls: string[];
  private readonly pools = new Map<string, Pool>();
  /** Where writes go first; learned from successes and 421 answers. */
  leader: string | undefined;
  private next = 0;
  /** Nodes that just refused a connection, and until when to avoid them. */
  private readonly downUntil = new Map<string, number>();
  private readonly attemptTimeoutMs: number;

  constructor(private readonly options: GeodeClientOptions) {
    this.urls = options.urls.map(trimUrl);
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 5_000;
  }

  private pool(url: string): Pool {
    let pool = this.pools.get(url);
    if (pool === undefined) {
      pool = new Pool(url, { connections: this.options.connections, pipelining: 1, keepAliveTimeout: 30_000, connectTimeout: 1_000 });
      this.pools.set(url, pool);
    }
    return pool;
  }

  /** One HTTP exchange; network failures throw. With `parseOk` false a 200 answer's body is left unparsed (undefined). */
  async request(url: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = this.attemptTimeoutMs, parseOk = true): Promise<{ status: number; body: unknown }> {
    const response = await this.pool(url).request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await response.body.text();
    if (!parseOk && response.statusCode === 200) return { status: 200, body: undefined };
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: response.statusCode, body: parsed };
  }

  private pickTarget(): string {
    if (this.leader !== undefined && !this.isDown(this.leader)) return this.leader;
    for (let i = 0; i < this.urls.length; i++) {
      const url = this.urls[this.next++ % this.urls.length] as string;
      if (!this.isDown(url)) return url;
    }
    return this.urls[this.next++ % this.urls.length] as string;
  }

  private isDown(url: string): boolean {
    const until = this.downUntil.get(url);
    return until !== undefined && until > Date.now();
  }

  /** Runs a statement on the leader, following redirects and retrying transient failures until the deadline. */
  async query(body: QueryBody, options: QueryOptions & { parse: false }): Promise<undefined>;
  async query(body: QueryBody, options: QueryOptions): Promise<QueryResponseBody>;
  async query(body: QueryBody, options: QueryOptions): Promise<QueryResponseBody | undefined> {
    let lastProblem = 'no attempt made';
    while (Date.now() < options.deadline) {
      const target = this.pickTarget();
      options.onAttempt?.(target);
      let answer: { status: number; body: unknown };
      try {
        answer = await this.request(target, 'POST', '/v1/query', body, Math.max(100, Math.min(this.attemptTimeoutMs, options.deadline - Date.now())), options.parse !== false);
      } catch (error) {
        lastProblem = `${target}: ${error instanceof Error ? error.message : String(error)}`;
        this.downUntil.set(target, Date.now() + 250);
        if (this.leader === target) this.leader = undefined;
        await sleep(5);
        continue;
      }
      if (answer.status === 200) {
        this.leader = target;
        return answer.body as QueryResponseBody | undefined;
      }
      const error = (answer.body as ErrorBodyShape | undefined)?.error;
      const code = typeof error?.code === 'string' ? error.code : 'UNKNOWN';
      lastProblem = `${target}: ${answer.status} ${code} ${typeof error?.message === 'string' ? error.message : ''}`;
      if (answer.status === 421) {
        const leaderUrl = typeof error?.leader_url === 'string' ? trimUrl(error.leader_url) : undefined;
        if (leaderUrl !== undefined && leaderUrl !== target && !this.isDown(leaderUrl)) {
          this.leader = leaderUrl;
          continue;
        }
        // No leader known yet (election under way), or it points at a node that just went away.
        this.leader = undefined;
        await sleep(20);
        continue;
      }
      if (answer.status === 503 || answer.status === 408 || answer.status === 502 || answer.status === 504) {
        if (this.leader === target && code !== 'TIMEOUT') this.leader = undefined;
        await sleep(20);
        continue;
      }
      throw new QueryFailed(answer.status, code, lastProblem);
    }
    throw new Error(`query not answered before its deadline; last problem: ${lastProblem}`);
  }

  /** `GET /api/v1/cluster/status` of one node, or undefined when it does not answer. */
  async status(url: string, timeoutMs = 1_000): Promise<ClusterStatusBody | undefined> {
    try {
      const answer = await this.request(trimUrl(url), 'GET', '/api/v1/cluster/status', undefined, timeoutMs);
      return answer.status === 200 ? (answer.body as ClusterStatusBody) : undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}
