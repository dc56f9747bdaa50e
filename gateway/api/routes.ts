/**
 * HTTP routes: `POST /v1/query`, `GET /api/v1/cluster/status` (merged view),
 * `/metrics`, `/healthz`, `/readyz`, and the admin passthrough to the leader.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import proxy from '@fastify/http-proxy';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { GatewayCore } from '../core.js';
import { lagOf } from '../topology/node-view.js';
import { QUERY_PATH } from './query-endpoint.js';
import type { QueryEndpoint } from './query-endpoint.js';

const sha = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Constant-time bearer check; always refuses when no token is configured. */
export function checkAdmin(request: FastifyRequest, token: string | undefined): void {
  const header = request.headers.authorization;
  const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined;
  if (token === undefined || given === undefined || !timingSafeEqual(sha(given), sha(token))) {
    throw new GeodeError(ErrorCode.UNAUTHORIZED, 'admin routes need Authorization: Bearer <admin_token>');
  }
}

export function mergedStatus(core: GatewayCore): Record<string, unknown> {
  const { topology, breakers, config } = core;
  const leader = topology.leader();
  const nodeEntry = (url: string): Record<string, unknown> => {
    const v = topology.view(url);
    if (v === undefined) return { url };
    const lag = lagOf(v);
    return {
      id: v.name ?? null,
      url: v.url,
      role: v.role,
      status: v.healthy ? 'healthy' : 'unreachable',
      replication_lag: lag ?? -1,
      applied_index: v.appliedIndex,
      term: v.term,
      breaker: breakers.state(v.url),
      rtt_ms: v.rttMs === undefined ? null : Math.round(v.rttMs * 100) / 100,
      inflight: v.inflight,
      watching: v.watching,
      // Reads travel over the node's multiplexed query stream when it is open (else HTTP).
      query_stream: core.streams?.isOpen(v.url) ?? false,
    };
  };
  const configured = new Set(config.regions.flatMap((r) => r.nodes));
  const regions = config.regions.map((r) => ({ name: r.name, role: r.role, lat: r.lat, lon: r.lon, nodes: r.nodes.map(nodeEntry) }));
  const discovered = topology.views().filter((v) => !configured.has(v.url));
  if (discovered.length > 0) regions.push({ name: 'unassigned', role: 'secondary', lat: 0, lon: 0, nodes: discovered.map((v) => nodeEntry(v.url)) });
  const nodes = regions.flatMap((r) => r.nodes.map((n) => ({ ...n, region: r.name })));
  return {
    gateway_region: config.region ?? null,
    leader: leader?.name ?? null,
    leader_url: leader?.url ?? null,
    term: topology.term,
    quorum_status: leader === undefined ? 'lost' : topology.quorumStatus,
    failovers: topology.failovers,
    writes_waiting: core.service.writesWaiting,
    regions,
    nodes,
  };
}

export async function registerRoutes(app: FastifyInstance, core: GatewayCore, queries: QueryEndpoint): Promise<void> {
  // Real connections reach QueryEndpoint before fastify routes anything (see gateway.ts); this route gives
  // `inject()` the same handler. Its body is left unread for the endpoint to read and check.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    scope.post(QUERY_PATH, (request, reply) => {
      reply.hijack();
      queries.serve(request.raw, reply.raw);
    });
  });

  app.get('/api/v1/cluster/status', async () => mergedStatus(core));

  app.get('/metrics', async (_request, reply) => {
    const text = await core.metrics.registry.metrics();
    return reply.header('content-type', core.metrics.registry.contentType).send(text);
  });

  app.get('/healthz', async () => ({ status: 'ok', gateway: true, region: core.config.region ?? null }));

  app.get('/readyz', async (_request, reply) => {
    if (core.topology.availableLeader() !== undefined) return { status: 'ready' };
    return reply.code(503).send({ status: 'not_ready', reason: `no reachable leader is known (term ${core.topology.term})` });
  });

  const upstream = core.config.regions[0]?.nodes[0] ?? 'http://127.0.0.1:1';
  await app.register(proxy, {
    upstream,
    prefix: '/api/v1/admin',
    rewritePrefix: '/api/v1/admin',
    preHandler: (request, _reply, done) => {
      try {
        checkAdmin(request, core.config.adminToken);
        if (core.topology.availableLeader() === undefined) throw new GeodeError(ErrorCode.NO_QUORUM, 'no reachable leader for admin requests', { detail: 'NoLeader' });
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    replyOptions: {
      getUpstream: () => core.topology.availableLeader()?.url ?? upstream,
    },
  });
}
