/**
 * Probes: `/healthz` says the process serves HTTP; `/readyz` says the backend
 * can serve traffic (the local engine answers a trivial query; a cluster node
 * knows a leader), so a load balancer may send it requests.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { QueryBackend } from '../backend.js';
import type { NodeState } from '../node-state.js';
import { HealthResponse, ReadyResponse } from '../schemas.js';

export interface HealthRouteOptions {
  backend: QueryBackend;
  state: NodeState;
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRouteOptions> = async (app, options) => {
  const { backend, state } = options;

  app.get('/healthz', { schema: { response: { 200: HealthResponse } } }, async () => {
    return state.region === undefined
      ? { status: 'ok' as const, node: state.nodeId }
      : { status: 'ok' as const, node: state.nodeId, region: state.region };
  });

  app.get('/readyz', { schema: { response: { 200: ReadyResponse, 503: ReadyResponse } } }, async (request, reply) => {
    const readiness = await backend.readiness();
    if (readiness.ready) return { status: 'ready' as const };
    request.log.warn({ reason: readiness.reason }, 'readiness probe failed');
    return reply.code(503).send({ status: 'not_ready' as const, reason: readiness.reason });
  });
};
