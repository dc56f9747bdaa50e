/**
 * `POST /v1/query`: validates the request, hands it to the backend (local
 * engine or cluster node) and answers `{columns, rows, stats, meta}`.
 * Metrics count every answer by statement kind and outcome.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorCode, isGeodeError } from '../../../shared/protocol/errors.js';
import type { BackendAnswer, QueryBackend } from '../backend.js';
import type { NodeMetrics, QueryKindLabel } from '../metrics.js';
import { QueryRequest, QueryResponse, errorResponses } from '../schemas.js';

export interface QueryRouteOptions {
  backend: QueryBackend;
  metrics: NodeMetrics;
  defaultTimeoutMs: number;
}

/**
 * The JSON text of a successful answer: `{columns, rows, stats, meta}`, in that order (gateways read
 * `meta` from the tail). A read worker's answer arrives serialized and only `meta` is added here.
 */
export function answerText(answer: BackendAnswer): string {
  const meta = JSON.stringify(answer.meta);
  if ('json' in answer) return `{${answer.json},"meta":${meta}}`;
  return `{"columns":${JSON.stringify(answer.columns)},"rows":${JSON.stringify(answer.rows)},"stats":${JSON.stringify(answer.stats)},"meta":${meta}}`;
}

/** Runs one validated query body to its answer's JSON text; the HTTP route and the query stream share it. Throws the query's error. */
export type QueryRunner = (body: QueryRequest) => Promise<string>;

export function createQueryRunner(options: QueryRouteOptions): QueryRunner {
  const { backend, metrics, defaultTimeoutMs } = options;
  return async (body) => {
    const started = performance.now();
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
        afterEpoch: body.after_epoch,
      });
      kind = answer.kind;
      metrics.queriesTotal.inc({ kind, outcome: 'ok' });
      return answerText(answer);
    } catch (error) {
      kind = backend.kindOf(body.query);
      metrics.queriesTotal.inc({ kind, outcome: isGeodeError(error) ? error.code : ErrorCode.INTERNAL });
      // The client's request id comes back with any error, even one raised before its statement was classified.
      if (body.request_id !== undefined && isGeodeError(error) && error.extra?.['request_id'] === undefined) throw error.withExtra({ request_id: body.request_id });
      throw error;
    } finally {
      metrics.queryDurationSeconds.observe({ kind }, (performance.now() - started) / 1000);
    }
  };
}

export const queryRoutes: FastifyPluginAsyncTypebox<{ run: QueryRunner }> = async (app, options) => {
  const { run } = options;

  app.post(
    '/v1/query',
    { schema: { body: QueryRequest, response: { 200: QueryResponse, ...errorResponses } } },
    async (request, reply) => {
      const body = request.body;
      try {
        // Already JSON in QueryResponse's shape: fastify sends a string with a content type as it is
        // (no second serialization); the type provider only knows the schema's object form.
        const text: unknown = await run(body);
        return reply.type('application/json; charset=utf-8').send(text as QueryResponse);
      } catch (error) {
        if (body.request_id !== undefined) request.log.info({ request_id: body.request_id }, 'query failed');
        throw error;
      }
    },
  );
};
