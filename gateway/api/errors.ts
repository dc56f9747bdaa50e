/**
 * Every failure -> `{error: {code, message, ...}}` with the status from
 * shared/protocol/errors.ts; unknown failures become INTERNAL without their
 * message. `Retry-After` on OVERLOADED / NO_QUORUM / REPLICA_LAGGING.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrorCode, GeodeError, isGeodeError } from '../../shared/protocol/errors.js';
import type { ErrorBody } from '../../shared/protocol/errors.js';
import { describeIssues } from '../../shared/protocol/query.js';

const FASTIFY_CODES: Readonly<Record<string, { code: ErrorCode; message?: string }>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: ErrorCode.BAD_REQUEST, message: 'request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: ErrorCode.BAD_REQUEST, message: 'request body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: ErrorCode.BAD_REQUEST, message: 'unsupported content type; send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: ErrorCode.BAD_REQUEST },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: ErrorCode.PAYLOAD_TOO_LARGE, message: 'request body is larger than the gateway accepts' },
  FST_ERR_VALIDATION: { code: ErrorCode.BAD_REQUEST },
};

export const RETRY_AFTER_CODES: ReadonlySet<string> = new Set([ErrorCode.OVERLOADED, ErrorCode.NO_QUORUM, ErrorCode.REPLICA_LAGGING]);

export function toGeodeError(error: unknown): GeodeError {
  if (isGeodeError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const mapped = typeof code === 'string' ? FASTIFY_CODES[code] : undefined;
  if (mapped !== undefined) return new GeodeError(mapped.code, mapped.message ?? describe(error as FastifyError));
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 && error instanceof Error) {
    return new GeodeError(statusCode === 413 ? ErrorCode.PAYLOAD_TOO_LARGE : statusCode === 404 ? ErrorCode.NOT_FOUND : ErrorCode.BAD_REQUEST, error.message);
  }
  return new GeodeError(ErrorCode.INTERNAL, 'internal error');
}

function describe(error: FastifyError): string {
  const issues = error.validation ?? [];
  return issues.length === 0 ? error.message : describeIssues(issues, error.validationContext ?? 'body');
}

export function errorBody(error: GeodeError): ErrorBody {
  return error.toJSON();
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const geode = toGeodeError(error);
    if (geode.code === ErrorCode.INTERNAL) request.log.error({ err: error }, 'internal error');
    if (RETRY_AFTER_CODES.has(geode.code)) void reply.header('retry-after', '1');
    void reply.code(geode.status).send(geode.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(new GeodeError(ErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`).toJSON());
  });
}
