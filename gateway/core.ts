/**
 * The gateway without HTTP: topology, breakers, pools, the query service,
 * limits and metrics, shared by the HTTP route and the WebSocket session.
 * `run` never throws: every failure becomes an error answer. A write gets a
 * request_id here when the client sent none, before any limit is checked, so
 * that every error answer to a write, the gateway's own included (bulkhead
 * full, write queue full, no leader within write_hold_ms), carries the id
 * the client can resend it with.
 */
import { ErrorCode, GeodeError } from '../shared/protocol/errors.js';
import { newRequestId } from '../shared/protocol/request-id.js';
import { GatewayMetrics } from './api/metrics.js';
import type { RequestKind } from './api/metrics.js';
import { retryAfterFor, toGeodeError } from './api/errors.js';
import { Breakers } from './breakers/breakers.js';
import type { BreakerOptions } from './breakers/breakers.js';
import type { GatewayConfig } from './config.js';
import { NodeClient } from './node-client.js';
import { NodePools } from './pools.js';
import { NodeStreams } from './node-stream.js';
import { QueryService } from './query-service.js';
import type { QueryBody } from './query-service.js';
import { SessionCodec } from './session/token.js';
import type { Session } from './session/token.js';
import { RegionalTopology } from './topology/regions.js';

export interface GatewayAnswer {
  status: number;
  body: string;
  session: Session;
  /** Seconds, for 503s the client should retry. */
  retryAfter: number | undefined;
}

export interface GatewayCoreOptions {
  breakers?: BreakerOptions;
}

export class GatewayCore {
  readonly pools = new NodePools();
  readonly streams: NodeStreams | undefined;
  /** One Raft group, or one per region once the nodes say they are regional (topology/regions.ts). */
  readonly topology: RegionalTopology;
  readonly breakers: Breakers;
  readonly client: NodeClient;
  readonly metrics: GatewayMetrics;
  readonly service: QueryService;
  readonly codec: SessionCodec;
  private readsInFlight = 0;
  private writesInFlight = 0;

  constructor(
    readonly config: GatewayConfig,
    options: GatewayCoreOptions = {},
  ) {
    this.topology = new RegionalTopology({ regions: config.regions, pools: this.pools, healthIntervalMs: config.healthIntervalMs, pollIntervalMs: config.pollIntervalMs });
    this.breakers = new Breakers(options.breakers);
    this.streams = config.queryStream ? new NodeStreams() : undefined;
    this.client = new NodeClient(this.pools, this.breakers, this.topology, this.streams);
    this.metrics = new GatewayMetrics(this.topology, this.breakers);
    this.service = new QueryService({ config, topology: this.topology, breakers: this.breakers, client: this.client, metrics: this.metrics });
    this.codec = new SessionCodec(config.sessionSecret);
    this.topology.on('forget', (url: string) => {
      this.streams?.drop(url);
      this.pools.drop(url);
    });
  }

  start(): void {
    this.topology.start();
  }

  async close(): Promise<void> {
    this.service.close();
    this.topology.close();
    this.breakers.close();
    this.streams?.close();
    await this.pools.close();
  }

  /** The session a request carries (UNAUTHORIZED when its token is bad), or the default one. */
  sessionFrom(token: string | undefined): Session {
    return token === undefined || token === '' ? this.service.defaultSession() : this.codec.decode(token);
  }

  async run(body: QueryBody, session: Session, clientAddress: string | undefined): Promise<GatewayAnswer> {
    const started = performance.now();
    let kind: RequestKind = 'unknown';
    let target: 'leader' | 'replica' | 'gateway' | 'cache' | 'none' = 'none';
    let outcome = 'ok';
    let requestId: string | undefined;
    try {
      if (Buffer.byteLength(body.query) > this.config.maxQueryBytes) {
        throw new GeodeError(ErrorCode.PAYLOAD_TOO_LARGE, `query text is over ${this.config.maxQueryBytes} bytes`, { detail: 'QueryTooLarge' });
      }
      const plan = this.service.classify(body.query);
      kind = plan.kind;
      if (plan.setting !== undefined) {
        const answer = this.service.answerSessionSetting(session, plan.setting);
        target = 'gateway';
        return { status: 200, body: answer.body, session: answer.session, retryAfter: undefined };
      }
      const isRead = plan.kind === 'read' || plan.kind === 'admin';
      if (!isRead) {
        requestId = body.request_id ?? newRequestId();
        if (body.request_id === undefined) body = { ...body, request_id: requestId };
      }
      // Separate bulkheads for reads and writes: a full one answers OVERLOADED at once instead of queueing.
      const limit = isRead ? this.config.readConcurrency : this.config.writeConcurrency;
      if ((isRead ? this.readsInFlight : this.writesInFlight) >= limit) {
        throw new GeodeError(ErrorCode.OVERLOADED, `too many ${isRead ? 'reads' : 'writes'} in flight (limit ${limit})`, { detail: 'ConcurrencyLimit' });
      }
      if (isRead) this.readsInFlight++;
      else this.writesInFlight++;
      let result;
      try {
        result = await this.service.execute(body, plan.kind, session, clientAddress);
      } finally {
        if (isRead) this.readsInFlight--;
        else this.writesInFlight--;
      }
      target = result.target;
      outcome = result.outcome;
      return { status: result.status, body: result.body, session: result.session, retryAfter: retryAfterFor(result.outcome) };
    } catch (error) {
      let geode = toGeodeError(error);
      if (requestId !== undefined) geode = geode.withExtra({ request_id: requestId });
      outcome = geode.code;
      return { status: geode.status, body: JSON.stringify(geode.toJSON()), session, retryAfter: retryAfterFor(geode.code) };
    } finally {
      this.metrics.observe(kind, target, outcome, (performance.now() - started) / 1000);
    }
  }
}
