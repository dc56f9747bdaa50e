/**
 * `POST /api/v1/admin/regions/promote` `{region, force?, timeout_ms?}` and
 * `POST /api/v1/admin/regions/rejoin` `{region, timeout_ms?}`: forwarded to the leader of
 * the region the body names (only that region's leader can promote it, or
 * rejoin it as a follower), not to the write leader as the other admin
 * routes are. The generic passthrough cannot do this: it forwards the body
 * unread. Same admin token check; the node checks the token again.
 *
 * Where: the region group's leader as the gateway knows it, else the leader
 * the region last named, else its other healthy nodes; a node that is not
 * its region's leader answers 421 NOT_LEADER with `leader_url`, which is
 * followed (a few hops at most). A node that does not answer is passed over
 * for the next address. The node's answer is relayed as it came. After a
 * promotion the gateway adopts the new epoch and primary at once (writes go
 * there without waiting for the next region poll); after a rejoin it polls
 * the regions now.
 *
 * In a single-group deployment both go to the leader, like every admin
 * route; the node answers what it makes of them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { PromoteRequest } from '../../shared/protocol/region.js';
import { normalizeNodeUrl } from '../config.js';
import type { GatewayCore } from '../core.js';
import { errorCodeOf, errorField } from '../node-client.js';

export const PROMOTE_PATH = '/api/v1/admin/regions/promote';
export const REJOIN_PATH = '/api/v1/admin/regions/rejoin';

/** The node's rejoin body (storage-node/api/schemas.ts; the gateway may not import the node). */
export const RejoinRequest = Type.Object({ region: Type.String({ minLength: 1, maxLength: 200 }), timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })) });

/** NOT_LEADER redirects followed before the answer is relayed as it is. */
const MAX_HOPS = 3;
/** A promotion's own default bound when the body gives none, and the margin over it for the node's answer. */
const DEFAULT_ADMIN_TIMEOUT_MS = 30_000;
const ANSWER_MARGIN_MS = 5_000;

export interface RelayedAnswer {
  status: number;
  text: string;
  contentType: string;
}

/**
 * Sends `body` to `path` on the leader of `region`, following NOT_LEADER. Throws NOT_FOUND for a region
 * the gateway does not know, NO_QUORUM when none of its nodes answers.
 */
export async function forwardToRegion(core: GatewayCore, region: string, path: string, body: string, authorization: string | undefined, timeoutMs: number): Promise<RelayedAnswer> {
  const { topology, pools } = core;
  const addresses = topology.addressesOf(region);
  if (addresses.length === 0) {
    if (!topology.regional) throw new GeodeError(ErrorCode.NO_QUORUM, 'no reachable leader for admin requests', { detail: 'NoLeader' });
    throw new GeodeError(ErrorCode.NOT_FOUND, `unknown region ${JSON.stringify(region)}; the gateway knows ${topology.regionNames().join(', ') || 'none'}`, { detail: 'UnknownRegion' });
  }
  const tried = new Set<string>();
  const queue = [...addresses];
  let hops = 0;
  let lastFailure = '';
  while (queue.length > 0) {
    const url = queue.shift() as string;
    if (tried.has(url)) continue;
    tried.add(url);
    let status: number;
    let text: string;
    let contentType: string;
    try {
      const response = await pools.get(url).request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
        body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = response.statusCode;
      text = await response.body.text();
      const type = response.headers['content-type'];
      contentType = typeof type === 'string' ? type : 'application/json; charset=utf-8';
    } catch (error) {
      lastFailure = `${url}: ${error instanceof Error ? error.message : String(error)}`;
      continue;
    }
    if (status === 421 && hops < MAX_HOPS) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const leaderUrl = errorField(json, 'leader_url');
      const next = errorCodeOf(json) === ErrorCode.NOT_LEADER && typeof leaderUrl === 'string' ? normalizeNodeUrl(leaderUrl) : undefined;
      if (next !== undefined && !tried.has(next)) {
        hops++;
        queue.unshift(next);
        continue;
      }
    }
    return { status, text, contentType };
  }
  throw new GeodeError(ErrorCode.NO_QUORUM, `no node of region ${JSON.stringify(region)} answered${lastFailure === '' ? '' : `; last: ${lastFailure}`}`, { detail: 'RegionUnreachable' });
}

/**
 * Registers the two routes (before the generic admin passthrough, whose wildcard they take precedence
 * over). `authorize` throws UNAUTHORIZED; it runs before the body is read.
 */
export function registerRegionAdmin(app: FastifyInstance, core: GatewayCore, authorize: (request: FastifyRequest) => void): void {
  const onRequest = (request: FastifyRequest, _reply: unknown, done: (error?: Error) => void): void => {
    try {
      authorize(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  };
  const relay = (path: string, region: string, raw: unknown, request: FastifyRequest, timeoutMs: number): Promise<RelayedAnswer> =>
    forwardToRegion(core, region, path, JSON.stringify(raw), request.headers.authorization, timeoutMs + ANSWER_MARGIN_MS);
  app.post(PROMOTE_PATH, { onRequest, schema: { body: PromoteRequest }, validatorCompiler: TypeBoxValidatorCompiler }, async (request, reply) => {
    const body = request.body as PromoteRequest;
    const answer = await relay(PROMOTE_PATH, body.region, body, request, body.timeout_ms ?? DEFAULT_ADMIN_TIMEOUT_MS);
    if (answer.status === 200) {
      try {
        const result = JSON.parse(answer.text) as { region?: unknown; epoch?: unknown };
        if (typeof result.epoch === 'number' && typeof result.region === 'string') core.topology.observePrimary(result.epoch, result.region);
      } catch {
        // relayed as it came; the next region poll tells the gateway anyway
      }
    }
    return reply.code(answer.status).header('content-type', answer.contentType).send(answer.text);
  });
  app.post(REJOIN_PATH, { onRequest, schema: { body: RejoinRequest }, validatorCompiler: TypeBoxValidatorCompiler }, async (request, reply) => {
    const body = request.body as { region: string; timeout_ms?: number };
    const answer = await relay(REJOIN_PATH, body.region, body, request, body.timeout_ms ?? DEFAULT_ADMIN_TIMEOUT_MS);
    core.topology.refresh();
    return reply.code(answer.status).header('content-type', answer.contentType).send(answer.text);
  });
}
