/**
 * Probes: `/healthz` says the process serves HTTP; `/readyz` says the engine is
 * open and answers a trivial query, so a load balancer may send it traffic.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiEngine, NodeState } from '../node-state.js';
import { HealthResponse, ReadyResponse } from '../schemas.js';

export interface HealthRouteOptions {
  engine: ApiEngine;
  state: NodeState;
}

/** A readiness probe must answer fast even when the engine is busy or broken. */
const READY_QUERY_TIMEOUT_MS = 1000;

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRouteOptions> = async (app, options) => {
  const { engine, state } = options;

  app.get('/healthz', { schema: { response: { 200: HealthResponse } } }, async () => {
    return state.region === undefined
      ? { status: 'ok' as const, node: state.nodeId }
      : { status: 'ok' as const, node: state.nodeId, region: state.region };
  });

  app.get('/readyz', { schema: { response: { 200: ReadyResponse, 503: ReadyResponse } } }, async (request, reply) => {
    try {
      const now = Date.now();
      const result = engine.execute('RETURN 1 AS ready', {}, { now, seed: 'readyz' }, {
        deadline: now + READY_QUERY_TIMEOUT_MS,
        readOnly: true,
      });
      if (result.rows.length !== 1) throw new Error('probe query returned no row');
      return { status: 'ready' as const };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness probe failed');
      return reply.code(503).send({ status: 'not_ready' as const, reason: 'engine does not answer queries' });
    }
  });
};
