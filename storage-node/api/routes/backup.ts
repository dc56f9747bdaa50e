/**
 * Backup admin routes (storage-node/backup/), behind the admin token like the
 * other admin routes; the leader answers (a follower says NOT_LEADER with the
 * leader's URL, and a gateway forwards `/api/v1/admin/*` to the leader):
 *
 * - `POST /api/v1/admin/backup/config` `{mode, destination?, retention?, segment_interval?,
 *   segment_entries?, base_interval?}`: checks that the destination can be written from the
 *   leader, replicates the setting, answers `{config, index, status}` once it is applied there.
 * - `POST /api/v1/admin/backup/now` `{timeout_ms?}`: a base snapshot now; answers `{base, status}`
 *   once it is stored.
 * - `GET /api/v1/admin/backup`: `{config, status, restore_points}` (the restorable windows).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorCode, GeodeError } from '../../../shared/protocol/errors.js';
import { adminAuthorized } from '../../../shared/protocol/admin-token.js';
import { BackupConfigureRequest, BackupConfigureResponse, BackupListResponse, BackupNowRequest, BackupNowResponse } from '../../../shared/protocol/backup.js';
import type { NodeHandle } from '../cluster-node.js';
import { errorResponses } from '../schemas.js';

export interface BackupRouteOptions {
  handle: NodeHandle;
  adminToken: string | undefined;
}

export const backupRoutes: FastifyPluginAsyncTypebox<BackupRouteOptions> = async (admin, options) => {
  const { handle, adminToken } = options;
  admin.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!adminAuthorized(request.headers.authorization, adminToken)) {
      void reply.header('www-authenticate', 'Bearer');
      throw new GeodeError(ErrorCode.UNAUTHORIZED, adminToken === undefined || adminToken === '' ? 'admin routes are disabled: no admin token is configured' : 'admin routes need Authorization: Bearer <admin_token>');
    }
  });

  admin.post('/api/v1/admin/backup/config', { schema: { body: BackupConfigureRequest, response: { 200: BackupConfigureResponse, ...errorResponses } } }, async (request, reply) => {
    const node = handle.require();
    if (node.configureBackup === undefined) return unsupported(reply);
    return node.configureBackup(request.body);
  });

  admin.post('/api/v1/admin/backup/now', { schema: { body: BackupNowRequest, response: { 200: BackupNowResponse, ...errorResponses } } }, async (request, reply) => {
    const node = handle.require();
    if (node.backupNow === undefined) return unsupported(reply);
    return node.backupNow(request.body.timeout_ms ?? 600_000);
  });

  admin.get('/api/v1/admin/backup', { schema: { response: { 200: BackupListResponse, ...errorResponses } } }, async (_request, reply) => {
    const node = handle.require();
    if (node.backupList === undefined) return unsupported(reply);
    return node.backupList();
  });
};

function unsupported(reply: FastifyReply): FastifyReply {
  return reply.code(501).send(new GeodeError(ErrorCode.UNSUPPORTED, 'backups are not supported by this node').toJSON());
}
