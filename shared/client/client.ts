/**
 * `Client`: one URL (a gateway, or a list of hosts tried in order), or a
 * primary with replicas for direct node use (writes to the leader, reads
 * spread over replicas by a `ReplicaSelector` within `maxReplicationLag`).
 */
import { callWithFailover, defaultBackoff, DEFAULT_RETRY_POLICY } from './caller.js';
import type { CallPlan, RetryPolicy } from './caller.js';
import { Connection } from './connection.js';
import type { Queryable } from './connection.js';
import { EndpointRegistry } from './endpoint.js';
import type { Endpoint } from './endpoint.js';
import { GeodeConnectionError, errorFromBody } from './errors.js';
import { ReplicaOrder, ReplicaSelector } from './selector.js';
import { SessionState, parseSessionSetting } from './session.js';
import type { SessionSnapshot } from './session.js';
import type { Consistency, Meta, Params, QueryOptions, QueryResult } from './types.js';
import { decodeAnswer, localAnswer, queryBody } from './wire.js';

export interface ClientOptions {
  /** A gateway URL (or a node's), or several hosts tried in order. `host:port` is read as http. */
  url?: string | readonly string[];
  /** Direct node use: the node writes go to first (a 421 redirect to the real leader is followed and remembered). */
  primary?: string;
  /** Direct node use: nodes that serve reads. */
  replicas?: readonly string[];
  /** How reads pick a replica; default ROUND_ROBIN. */
  replicaSelector?: ReplicaSelector;
  /** Reads accept a replica at most this far behind (ms); sent as `max_lag_ms` with `bounded` consistency. */
  maxReplicationLag?: number;
  /** Default consistency of reads (server default when unset). */
  consistency?: Consistency;
  /** Retries after the first attempt; default 6. */
  maxRetries?: number;
  /** Wait before retry `attempt` (1-based), ms; default 100 ms doubling to 2 s, jittered. */
  retryBackoff?: (attempt: number) => number;
  /** Bound on one call including retries (ms); default 30 s. */
  deadlineMs?: number;
  /** Bound on one HTTP exchange (ms); default 10 s. */
  attemptTimeoutMs?: number;
  /** Keep-alive sockets per server; default 16. */
  connections?: number;
  /** TCP connect bound (ms); default 5 s. */
  connectTimeoutMs?: number;
  /** Idle keep-alive socket lifetime (ms); default 30 s. */
  idleTimeoutMs?: number;
  /** Start from another client's session (read-your-writes across clients). */
  session?: Partial<SessionSnapshot>;
  /** NEAREST: how often replica round trips are re-measured (ms); default 5 s. */
  probeIntervalMs?: number;
}

export class Client implements Queryable, AsyncDisposable {
  private readonly registry: EndpointRegistry;
  private readonly policy: RetryPolicy;
  private readonly sessionState: SessionState;
  /** URL mode: the hosts in order. */
  private readonly hosts: Endpoint[];
  /** Direct mode: configured primary and replicas. */
  private readonly primary: Endpoint | undefined;
  private readonly replicas: Endpoint[];
  private readonly order = new ReplicaOrder();
  private selector: ReplicaSelector;
  private maxLagMs: number | undefined;
  private consistency: Consistency | undefined;
  /** The last node known to lead (from a 421 or a successful write). */
  private leader: Endpoint | undefined;
  /** URL mode: the host that last answered, tried first. */
  private preferred: Endpoint | undefined;
  private readonly probeIntervalMs: number;
  private probeTimer: NodeJS.Timeout | undefined;
  private probed: Promise<void> | undefined;
  private closed = false;

  constructor(options: ClientOptions) {
    const urls = options.url === undefined ? [] : typeof options.url === 'string' ? [options.url] : [...options.url];
    if ((urls.length > 0) === (options.primary !== undefined)) throw new TypeError('Client: give either `url` or `primary` (with optional `replicas`)');
    if (options.replicas !== undefined && options.primary === undefined) throw new TypeError('Client: `replicas` need a `primary`');
    if (options.maxReplicationLag !== undefined && (!Number.isInteger(options.maxReplicationLag) || options.maxReplicationLag < 0)) {
      throw new RangeError('Client: maxReplicationLag must be an integer number of ms >= 0');
    }
    this.registry = new EndpointRegistry({
      connections: options.connections ?? 16,
      idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    });
    this.policy = {
      maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
      backoff: options.retryBackoff ?? defaultBackoff,
      deadlineMs: options.deadlineMs ?? DEFAULT_RETRY_POLICY.deadlineMs,
      attemptTimeoutMs: options.attemptTimeoutMs ?? DEFAULT_RETRY_POLICY.attemptTimeoutMs,
    };
    this.sessionState = new SessionState(options.session);
    this.hosts = urls.map((u) => this.registry.get(u));
    this.primary = options.primary !== undefined ? this.registry.get(options.primary) : undefined;
    this.replicas = (options.replicas ?? []).map((u) => this.registry.get(u));
    this.selector = options.replicaSelector ?? ReplicaSelector.ROUND_ROBIN;
    this.maxLagMs = options.maxReplicationLag;
    this.consistency = options.consistency;
    this.probeIntervalMs = options.probeIntervalMs ?? 5_000;
  }

  /** True when configured with `primary` (client-side routing) rather than `url`. */
  get direct(): boolean {
    return this.primary !== undefined;
  }

  /** A copy of this client's session (gateway token and causal index). */
  get session(): SessionSnapshot {
    return this.sessionState.snapshot();
  }

  /** Makes this client's next reads see everything `other` has seen (its writes included). */
  catchUp(other: Partial<SessionSnapshot>): void {
    this.sessionState.merge(other);
  }

  /** The node writes go to first. */
  get leaderUrl(): string | undefined {
    return (this.leader ?? this.primary)?.url;
  }

  get replicaSelector(): ReplicaSelector {
    return this.selector;
  }

  query(text: string, params?: Params, options?: QueryOptions): Promise<[QueryResult, Meta]> {
    return this.run(text, params, options, 'read');
  }

  execute(text: string, params?: Params, options?: QueryOptions): Promise<[QueryResult, Meta]> {
    return this.run(text, params, options, 'write');
  }

  /** A handle sharing this client's session and sockets; `close()` or `await using` ends it. */
  connection(): Connection {
    this.assertOpen();
    return new Connection(this);
  }

  /** `GET /api/v1/cluster/status` from the first server that answers (a gateway's merged view, or a node's). */
  async clusterStatus(): Promise<Record<string, unknown>> {
    this.assertOpen();
    const candidates = this.direct ? this.writeCandidates() : this.readCandidates();
    let last: unknown;
    for (const endpoint of new Set(candidates)) {
      try {
        const answer = await endpoint.send('GET', '/api/v1/cluster/status', undefined, {}, this.policy.attemptTimeoutMs);
        if (answer.status === 200 && typeof answer.body === 'object' && answer.body !== null) return answer.body as Record<string, unknown>;
        last = errorFromBody(answer.status, answer.body);
      } catch (error) {
        last = error;
      }
    }
    if (last instanceof Error && !(last.name === 'TransportError')) throw last;
    throw new GeodeConnectionError('no server answered /api/v1/cluster/status', { urls: candidates.map((c) => c.url), attempts: candidates.length, cause: last });
  }

  /** Probes every configured server's /healthz; url -> healthy. */
  async ping(timeoutMs = 2_000): Promise<Record<string, boolean>> {
    const endpoints = [...new Set([...this.hosts, ...(this.primary !== undefined ? [this.primary] : []), ...this.replicas])];
    const results = await Promise.all(endpoints.map(async (e) => [e.url, await e.probe(timeoutMs)] as const));
    return Object.fromEntries(results);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    await this.registry.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async run(text: string, params: Params | undefined, options: QueryOptions | undefined, intent: 'read' | 'write'): Promise<[QueryResult, Meta]> {
    this.assertOpen();
    if (this.direct) {
      const setting = parseSessionSetting(text);
      if (setting !== undefined) return this.applySetting(setting);
    }
    if (intent === 'read' && this.direct && this.selector === ReplicaSelector.NEAREST) await this.ensureProbed();
    const body = queryBody(text, params, options, this.sessionState, {
      consistency: this.consistency,
      maxLagMs: intent === 'read' ? this.maxLagMs : undefined,
    });
    const plan: CallPlan = {
      candidates: intent === 'write' ? this.writeCandidates() : this.readCandidates(),
      onLeader: (leader) => {
        this.leader = leader;
      },
    };
    const policy = options?.deadlineMs !== undefined ? { ...this.policy, deadlineMs: options.deadlineMs } : this.policy;
    const call = await callWithFailover(this.registry, plan, body, this.sessionState, policy);
    if (!this.direct) this.preferred = call.endpoint;
    const answer = decodeAnswer(call);
    if (this.direct && answer[1].role === 'primary') this.leader = call.endpoint;
    return answer;
  }

  private applySetting(setting: NonNullable<ReturnType<typeof parseSessionSetting>>): [QueryResult, Meta] {
    switch (setting.setting) {
      case 'read_preference':
        this.selector = setting.value as ReplicaSelector;
        break;
      case 'max_replication_lag':
        this.maxLagMs = setting.value;
        if (this.consistency === undefined || this.consistency === 'any') this.consistency = 'bounded';
        break;
      case 'consistency':
        this.consistency = setting.value;
        break;
    }
    return localAnswer(this.primary?.url ?? '');
  }

  private readCandidates(): Endpoint[] {
    if (!this.direct) return this.urlOrder();
    const leaderFirst = this.consistency === 'linearizable' || this.consistency === 'leader';
    const leaders = [this.leader, this.primary].filter((e): e is Endpoint => e !== undefined);
    if (leaderFirst) return [...leaders, ...this.replicas];
    return [...this.order.order(this.replicas, this.selector), ...leaders];
  }

  private writeCandidates(): Endpoint[] {
    if (!this.direct) return this.leader !== undefined ? [this.leader, ...this.urlOrder()] : this.urlOrder();
    // Replicas last: if the primary is down, any of them can name the new leader.
    return [this.leader, this.primary, ...this.replicas].filter((e): e is Endpoint => e !== undefined);
  }

  /** URL mode: the last host that answered first, then the rest in the given order. */
  private urlOrder(): Endpoint[] {
    return this.preferred !== undefined ? [this.preferred, ...this.hosts] : this.hosts;
  }

  /** NEAREST needs round trips before the first read; then they are refreshed in the background. */
  private ensureProbed(): Promise<void> {
    if (this.probed === undefined) {
      const probeAll = async (): Promise<void> => {
        await Promise.all(this.replicas.map((r) => r.probe(1_000)));
      };
      this.probed = probeAll();
      this.probeTimer = setInterval(() => void probeAll(), this.probeIntervalMs);
      this.probeTimer.unref();
    }
    return this.probed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('client is closed');
  }
}
