/**
 * The gateway's Prometheus series (own Registry, prefix `geode_gateway_`).
 * Node-labelled gauges are read from the topology and breakers at scrape time.
 *
 * Regions, under the seed's own names (the nodes export the same series; a
 * gateway's say what it routes by): `geode_region_replication_lag_seconds{region}`,
 * each region's lag behind the primary (0 for the primary), exported only
 * while the gateway knows it: a region whose lag is unknown (no fresh region
 * status, or the region itself cannot tell) has no sample, as a node's
 * unknown lag has none in `geode_gateway_replication_lag_seconds`. The alarm
 * is `geode_region_over_lag_max{region}`: 1 when the lag is unknown or over
 * the region's `replication_lag_max`, the condition that keeps bounded reads
 * away. `geode_region_epoch`: the highest region epoch the gateway has seen
 * (from a single group's nodes too, which are at epoch 1; no sample before
 * any node answered). Region labels are the configured regions plus those
 * learned from the nodes: bounded.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BREAKER_STATE_VALUE } from '../breakers/breakers.js';
import type { Breakers } from '../breakers/breakers.js';
import { lagOf } from '../topology/node-view.js';
import type { RegionalTopology } from '../topology/regions.js';

export type RequestKind = 'read' | 'write' | 'schema' | 'cluster' | 'admin' | 'session' | 'unknown';
/** Where a request went: bounded set of values. */
export type RouteTarget = 'leader' | 'replica' | 'gateway' | 'cache' | 'none';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'kind' | 'target' | 'outcome'>;
  readonly duration: Histogram<'kind' | 'target' | 'outcome'>;
  readonly writesHeld: Counter;
  readonly writeHoldSeconds: Histogram;
  readonly readRetries: Counter;
  readonly readHedges: Counter;

  constructor(topology: RegionalTopology, breakers: Breakers) {
    const registers = [this.registry];
    const nodeName = (url: string): string => topology.view(url)?.name ?? url;
    this.requests = new Counter({ name: 'geode_gateway_requests_total', help: 'Queries answered, by statement kind, route target and outcome (ok or error code)', labelNames: ['kind', 'target', 'outcome'], registers });
    this.duration = new Histogram({
      name: 'geode_gateway_request_duration_seconds',
      help: 'Query latency through the gateway',
      labelNames: ['kind', 'target', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.writesHeld = new Counter({ name: 'geode_gateway_writes_held_total', help: 'Writes held while no leader could take them', registers });
    this.writeHoldSeconds = new Histogram({ name: 'geode_gateway_write_hold_seconds', help: 'How long held writes waited for a leader', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers });
    this.readRetries = new Counter({ name: 'geode_gateway_read_retries_total', help: 'Reads retried on another candidate', registers });
    this.readHedges = new Counter({ name: 'geode_gateway_read_hedges_total', help: 'Reads also sent to the next candidate because the first stayed silent past read_hedge_ms', registers });
    new Gauge({
      name: 'geode_gateway_failovers_total',
      help: 'Leader changes this gateway has seen',
      registers,
      collect() {
        this.set(topology.failovers);
      },
    });
    new Gauge({
      name: 'geode_gateway_breaker_state',
      help: 'Circuit breaker per node: 0 closed, 1 half-open, 2 open',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const view of topology.views()) this.set({ node: nodeName(view.url) }, BREAKER_STATE_VALUE[breakers.state(view.url)]);
      },
    });
    new Gauge({
      name: 'geode_gateway_replication_lag_seconds',
      help: 'Replication lag per node as the gateway routes by it',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const view of topology.views()) {
          const lag = lagOf(view);
          if (lag !== undefined) this.set({ node: nodeName(view.url) }, lag / 1000);
        }
      },
    });
    new Gauge({
      name: 'geode_gateway_node_health',
      help: 'Active health check per node: 1 healthy, 0 not',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const view of topology.views()) this.set({ node: nodeName(view.url) }, view.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'geode_gateway_node_inflight',
      help: 'Requests outstanding per node',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const view of topology.views()) this.set({ node: nodeName(view.url) }, view.inflight);
      },
    });
    new Gauge({
      name: 'geode_region_replication_lag_seconds',
      help: 'Region lag behind the primary region as the gateway routes by it (no sample while unknown)',
      labelNames: ['region'],
      registers,
      collect() {
        this.reset();
        for (const region of topology.regionViews()) if (region.lagMs !== null) this.set({ region: region.name }, region.lagMs / 1000);
      },
    });
    new Gauge({
      name: 'geode_region_over_lag_max',
      help: 'Region lag unknown or over its replication_lag_max (1): the region takes no bounded reads',
      labelNames: ['region'],
      registers,
      collect() {
        this.reset();
        for (const region of topology.regionViews()) this.set({ region: region.name }, region.row.over_lag_max ? 1 : 0);
      },
    });
    new Gauge({
      name: 'geode_region_epoch',
      help: 'The highest region epoch the gateway has seen',
      registers,
      collect() {
        this.reset();
        if (topology.epoch > 0) this.set(topology.epoch);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'geode_gateway_' });
  }

  observe(kind: RequestKind, target: RouteTarget, outcome: string, seconds: number): void {
    this.requests.inc({ kind, target, outcome });
    this.duration.observe({ kind, target, outcome }, seconds);
  }
}
