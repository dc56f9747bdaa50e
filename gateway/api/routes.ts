/**
 * HTTP routes: `POST /v1/query`, `GET /api/v1/cluster/status` (merged view),
 * `/metrics`, `/healthz`, `/readyz`, the admin passthrough to the leader, and
 * the region promote/rejoin routes, forwarded to the named region's leader
 * (region-admin.ts).
 */
import { adminAuthorized } from '../../shared/protocol/admin-token.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import proxy from '@fastify/http-proxy';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { GatewayCore } from '../core.js';
import { outOfRotation } from '../routing/pipeline.js';
import { lagOf } from '../topology/node-view.js';
import { QUERY_PATH } from './query-endpoint.js';
import type { QueryEndpoint } from './query-endpoint.js';
import { registerRegionAdmin } from './region-admin.js';

/** Constant-time bearer check; always refuses when no token is configured. */
export function checkAdmin(request: FastifyRequest, token: string | undefined): void {
  if (!adminAuthorized(request.headers.authorization, token)) {
    throw new GeodeError(ErrorCode.UNAUTHORIZED, 'admin routes need Authorization: Bearer <admin_token>');
  }
}

/**
 * `GET /api/v1/cluster/status`: the seed's shape (`cluster_id`, `nodes[{id, role, status,
 * replication_lag}]`, `quorum_status`) as the nodes report it (`cluster_id` is the nodes' own,
 * null until one answered), plus the leader and term, per node its URL, region and applied index,
 * and what this gateway observes of it: health checks, breaker, and whether it is in read rotation
 * under the gateway's default lag bound, with the reason when not, and `backup`: the leader's
 * backup state as its last status said (null until one did).
 *
 * Regional groups (`regional: true`): `leader`, `leader_url`, `term` and `quorum_status` are the
 * primary region's; `epoch` and `primary_region` say where writes go; each `regions` entry is that
 * region as its own nodes report it (region-book.ts `RegionRow`: role, state, epoch, primary_region,
 * position, lag_ms, over_lag_max, serve_reads, leader_url, ...) with its group's leader, term and
 * nodes, and a region the gateway learned from the others (`learned: true`, no location).
 */
export function mergedStatus(core: GatewayCore): Record<string, unknown> {
  const { topology, breakers, config, service } = core;
  const leader = topology.leader();
  const candidates = new Map(service.candidates().map((c) => [c.url, c]));
  const now = performance.now();
  const nodeEntry = (url: string): Record<string, unknown> => {
    const v = topology.view(url);
    if (v === undefined) return { id: null, url, role: 'unknown', status: 'unknown', replication_lag: -1, in_rotation: false, out_of_rotation: 'not known to the gateway' };
    const lag = lagOf(v);
    const candidate = candidates.get(v.url);
    const reason = candidate !== undefined ? outOfRotation(candidate, config.maxReplicationLagMs) : v.role === 'candidate' ? 'campaigning in an election' : 'role unknown: no status from it yet';
    return {
      id: v.name ?? null,
      role: v.role,
      status: v.healthy ? 'healthy' : 'unreachable',
      replication_lag: lag ?? -1,
      url: v.url,
      applied_index: v.appliedIndex,
      term: v.term,
      // What this gateway observes.
      failed_health_checks: v.failedChecks,
      last_seen_ms_ago: Number.isFinite(v.lastSeenAt) ? Math.round(now - v.lastSeenAt) : null,
      breaker: breakers.state(v.url),
      in_rotation: reason === undefined,
      out_of_rotation: reason ?? null,
      rtt_ms: v.rttMs === undefined ? null : Math.round(v.rttMs * 100) / 100,
      inflight: v.inflight,
      watching: v.watching,
      // Reads travel over the node's multiplexed query stream when it is open (else HTTP).
      query_stream: core.streams?.isOpen(v.url) ?? false,
    };
  };
  let regions: { name: string; nodes: Record<string, unknown>[]; [field: string]: unknown }[];
  if (topology.regional) {
    regions = topology.regionViews().map((r) => {
      const listed = new Set(r.config.nodes);
      const nodes = [...r.config.nodes, ...r.views.filter((v) => !listed.has(v.url)).map((v) => v.url)];
      return {
        name: r.name,
        ...(r.reportedAs !== undefined ? { reported_as: r.reportedAs } : {}),
        ...r.row,
        role: r.row.role ?? r.config.role,
        primary: r.primary,
        learned: r.learned,
        lat: Number.isFinite(r.config.lat) ? r.config.lat : null,
        lon: Number.isFinite(r.config.lon) ? r.config.lon : null,
        leader: r.leader?.name ?? null,
        term: r.term,
        quorum_status: r.leader === undefined ? 'lost' : r.quorumStatus,
        cluster_id: r.clusterId ?? null,
        nodes: nodes.map(nodeEntry),
      };
    });
  } else {
    const configured = new Set(config.regions.flatMap((r) => r.nodes));
    regions = config.regions.map((r) => ({ name: r.name, role: r.role, lat: r.lat, lon: r.lon, nodes: r.nodes.map(nodeEntry) }));
    const discovered = topology.views().filter((v) => !configured.has(v.url));
    if (discovered.length > 0) regions.push({ name: 'unassigned', role: 'secondary', lat: 0, lon: 0, nodes: discovered.map((v) => nodeEntry(v.url)) });
  }
  const nodes = regions.flatMap((r) => r.nodes.map((n) => ({ ...n, region: r.name })));
  const clusterIds = topology.clusterIdsSeen();
  return {
    cluster_id: topology.clusterId ?? null,
    nodes,
    quorum_status: leader === undefined ? 'lost' : topology.quorumStatus,
    leader: leader?.name ?? null,
    leader_url: leader?.url ?? null,
    term: topology.term,
    // Nodes configured with different cluster_ids behind one gateway: a deployment mistake worth seeing.
    ...(clusterIds.length > 1 ? { cluster_ids_seen: clusterIds } : {}),
    gateway_region: config.region ?? null,
    max_replication_lag_ms: config.maxReplicationLagMs,
    read_your_writes: config.readYourWrites,
    acknowledged_index: service.acknowledgedIndex,
    // In a worker of `geode gateway --workers N`: whether its siblings share that index (the primary relays).
    acknowledged_index_shared: service.acknowledgedIndexShared,
    failovers: topology.failovers,
    writes_waiting: service.writesWaiting,
    // The leader's backup state as it last reported it (with regions, the write region's leader's).
    backup: topology.backup ?? null,
    // Regional groups: where writes go, by the highest region epoch seen; the causal position the acknowledged index belongs to.
    regional: topology.regional,
    ...(topology.regional
      ? { epoch: topology.epoch, primary_region: topology.primaryRegion ?? null, acknowledged_position: service.acknowledgedPosition }
      : {}),
    regions,
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

  registerRegionAdmin(app, core, (request) => checkAdmin(request, core.config.adminToken));

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
