/**
 * `POST /v1/query`: validates the request, hands it to the backend (local
 * engine or cluster node) and answers `{columns, rows, stats, meta}`.
 * Metrics count every answer by statement kind and outcome.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorCode, isGeodeError } from '../../../shared/protocol/errors.js';
import type { QueryBackend } from '../backend.js';
import type { NodeMetrics, QueryKindLabel } from '../metrics.js';
import { QueryRequest, QueryResponse, errorResponses } from '../schemas.js';

export interface QueryRouteOptions {
  backend: QueryBackend;
  metrics: NodeMetrics;
  defaultTimeoutMs: number;
}

export const queryRoutes: FastifyPluginAsyncTypebox<QueryRouteOptions> = async (app, options) => {
  const { backend, metrics, defaultTimeoutMs } = options;

  app.post(
    '/v1/query',
    { schema: { body: QueryRequest, response: { 200: QueryResponse, ...errorResponses } } },
    async (request) => {
      const started = performance.now();
      const body = request.body;
      let kind: QueryKindLabel = 'unknown';
      try {
        const answer = await backend.execute({
          query: body.query,
          params: body.params ?? {},
          timeoutMs: body.timeout_ms ?? defaultTimeoutMs,
          requestId: body.request_id,
          // A lag bound alone asks for a bounded read; no level at all reads local state.
          consistency: body.consistency ?? (body.max_lag_ms !== undefined ? 'bounded' : 'any'),
          maxLagMs: body.max_lag_ms,
          afterIndex: body.after_index,
        });
        kind = answer.kind;
        metrics.queriesTotal.inc({ kind, outcome: 'ok' });
        return { columns: answer.columns, rows: answer.rows, stats: answer.stats, meta: answer.meta };
      } catch (error) {
        kind = backend.kindOf(body.query);
        metrics.queriesTotal.inc({ kind, outcome: isGeodeError(error) ? error.code : ErrorCode.INTERNAL });
        if (body.request_id !== undefined) request.log.info({ request_id: body.request_id }, 'query failed');
        throw error;
      } finally {
        metrics.queryDurationSeconds.observe({ kind }, (performance.now() - started) / 1000);
      }
    },
  );
};
