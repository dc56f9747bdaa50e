/**
 * Cluster routes of a StorageNode: `GET /api/v1/cluster/status` for anyone,
 * and the admin routes (leadership transfer, snapshot, checksum, membership)
 * behind `Authorization: Bearer <admin_token>`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorCode, GeodeError } from '../../../shared/protocol/errors.js';
import { adminAuthorized } from '../../../shared/protocol/admin-token.js';
import type { NodeHandle } from '../cluster-node.js';
import { PromoteRequest, PromoteResult } from '../../../shared/protocol/region.js';
import {
  AddMemberRequest,
  ChecksumResponse,
  ClusterStatusBody,
  MemberNameParams,
  MembershipResponse,
  RejoinRequest,
  SnapshotResponse,
  TransferLeadershipRequest,
  TransferLeadershipResponse,
  errorResponses,
} from '../schemas.js';

const RegionStatusQuery = Type.Object({ from: Type.Optional(Type.String({ maxLength: 200 })) });

export interface ClusterRouteOptions {
  handle: NodeHandle;
  adminToken: string | undefined;
}


export const clusterRoutes: FastifyPluginAsyncTypebox<ClusterRouteOptions> = async (app, options) => {
  const { handle, adminToken } = options;

  app.get('/api/v1/cluster/status', { schema: { response: { 200: ClusterStatusBody, ...errorResponses } } }, async () => {
    return handle.require().clusterStatus();
  });

  // `?from=<region>`: the polling region's leader names itself (a forced promotion waits out its epoch confirmation).
  // No response schema: compiling a serializer for RegionStatus's unions took 50 to 700 ms of this thread on the
  // first request (measured by the gateway work), long enough to miss heartbeats on the thread that drives Raft;
  // the node builds the object from the same TypeBox type (shared/protocol/region.ts) and JSON.stringify sends it.
  app.get('/api/v1/region/status', { schema: { querystring: RegionStatusQuery } }, async (request, reply) => {
    const node = handle.require();
    if (node.regionStatus === undefined) return unsupported(reply, 'regions');
    return node.regionStatus(request.query.from);
  });

  // Between regions: authenticated by the deployment's DR token (host/region/region-host.ts), not the admin token.
  app.post('/v1/dr/epoch', { bodyLimit: 64 * 1024 }, async (request, reply) => {
    const node = handle.require();
    if (node.epochFromPeer === undefined) return unsupported(reply, 'regions');
    return node.epochFromPeer(request.headers.authorization, request.body);
  });

  app.post('/v1/dr/vote', { bodyLimit: 64 * 1024 }, async (request, reply) => {
    const node = handle.require();
    if (node.voteFromPeer === undefined) return unsupported(reply, 'regions');
    return node.voteFromPeer(request.headers.authorization, request.body);
  });

  await app.register(adminRoutes, { handle, adminToken });
};

/** Encapsulated, so the token check guards the admin routes only. */
const adminRoutes: FastifyPluginAsyncTypebox<ClusterRouteOptions> = async (admin, options) => {
  const { handle, adminToken } = options;
  admin.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // No configured token means the admin surface is closed, not open.
    if (!adminAuthorized(request.headers.authorization, adminToken)) {
      void reply.header('www-authenticate', 'Bearer');
      throw new GeodeError(ErrorCode.UNAUTHORIZED, adminToken === undefined || adminToken === '' ? 'admin routes are disabled: no admin token is configured' : 'admin routes need Authorization: Bearer <admin_token>');
    }
  });

  admin.post(
    '/api/v1/admin/transfer-leadership',
    { schema: { body: TransferLeadershipRequest, response: { 200: TransferLeadershipResponse, ...errorResponses } } },
    async (request) => {
      const node = handle.require();
      // StorageNode refuses unknown names (404 UnknownNode) before leadership (421 NOT_LEADER with leader_url).
      await node.transferLeadership(request.body.target);
      const status = node.clusterStatus();
      return { leader: status.leader ?? request.body.target, term: status.term };
    },
  );

  admin.post('/api/v1/admin/snapshot', { schema: { response: { 200: SnapshotResponse, ...errorResponses } } }, async () => {
    const node = handle.require();
    const taken = await node.snapshotNow();
    return { node: node.name, index: taken.index, bytes: taken.bytes };
  });

  admin.get('/api/v1/admin/checksum', { schema: { response: { 200: ChecksumResponse, ...errorResponses } } }, async () => {
    const node = handle.require();
    const sum = await node.checksum();
    return { node: node.name, applied_index: sum.applied, checksum: sum.checksum, ...(sum.position !== undefined ? { position: sum.position } : {}) };
  });

  admin.post('/api/v1/admin/regions/promote', { schema: { body: PromoteRequest, response: { 200: PromoteResult, ...errorResponses } } }, async (request, reply) => {
    const node = handle.require();
    if (node.promoteRegion === undefined) return unsupported(reply, 'regions');
    return node.promoteRegion(request.body.region, request.body.force === true, request.body.timeout_ms ?? 30_000);
  });

  admin.post('/api/v1/admin/regions/rejoin', { schema: { body: RejoinRequest } }, async (request, reply) => {
    const node = handle.require();
    if (node.rejoinRegion === undefined) return unsupported(reply, 'regions');
    return node.rejoinRegion(request.body.region, request.body.timeout_ms ?? 30_000);
  });

  admin.post(
    '/api/v1/admin/members',
    { schema: { body: AddMemberRequest, response: { 200: MembershipResponse, ...errorResponses } } },
    async (request, reply) => {
      const node = handle.require();
      if (node.addMember === undefined) return unsupported(reply, 'adding members');
      const { name, url, role, region } = request.body;
      await node.addMember({ name, url, learner: role === 'learner', ...(region !== undefined ? { region } : {}) });
      return { ok: true as const, status: node.clusterStatus() };
    },
  );

  admin.delete(
    '/api/v1/admin/members/:name',
    { schema: { params: MemberNameParams, response: { 200: MembershipResponse, ...errorResponses } } },
    async (request, reply) => {
      const node = handle.require();
      if (node.removeMember === undefined) return unsupported(reply, 'removing members');
      await node.removeMember(request.params.name);
      return { ok: true as const, status: node.clusterStatus() };
    },
  );

  admin.post(
    '/api/v1/admin/members/:name/promote',
    { schema: { params: MemberNameParams, response: { 200: MembershipResponse, ...errorResponses } } },
    async (request, reply) => {
      const node = handle.require();
      if (node.promoteLearner === undefined) return unsupported(reply, 'promoting learners');
      await node.promoteLearner(request.params.name);
      return { ok: true as const, status: node.clusterStatus() };
    },
  );
};

/** 501: the route exists, but this node's build cannot change membership yet. */
function unsupported(reply: FastifyReply, what: string): FastifyReply {
  const body = new GeodeError(ErrorCode.UNSUPPORTED, `${what} is not supported by this node yet`).toJSON();
  return reply.code(501).send(body);
}
