/**
 * Prometheus metrics of one node server. Each server owns its Registry, so
 * several servers in one process (tests, `geode dev`) never share counters.
 * Label values are bounded: `kind` is a StatementKind or `unknown`,
 * `outcome` is `ok` or an error code.
 */
import { Type } from 'typebox';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { StatementKind } from '../../shared/gql/ast.js';
import type { ErrorCode } from '../../shared/protocol/errors.js';

export type QueryKindLabel = StatementKind | 'unknown';
export type QueryOutcomeLabel = 'ok' | ErrorCode;

export interface NodeMetrics {
  registry: Registry;
  queriesTotal: Counter<'kind' | 'outcome'>;
  queryDurationSeconds: Histogram<'kind'>;
  sqliteSeconds: Histogram;
}

/** From 100 µs (an indexed point read) to 30 s (the default timeout). */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createNodeMetrics(nodeId: string): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry, prefix: 'geode_' });
  return {
    registry,
    queriesTotal: new Counter({
      name: 'geode_queries_total',
      help: 'Queries answered, by statement kind and outcome (ok or error code).',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    queryDurationSeconds: new Histogram({
      name: 'geode_query_duration_seconds',
      help: 'Time from request body parsed to response ready, by statement kind.',
      labelNames: ['kind'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    sqliteSeconds: new Histogram({
      name: 'geode_sqlite_seconds',
      help: 'Time spent inside the graph engine (SQLite and the query executor) per statement.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}

/** `GET /metrics` in the Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, metrics: NodeMetrics): void {
  app.get('/metrics', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
