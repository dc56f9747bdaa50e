/**
 * Turns anything a request can throw into the wire error `{error: {code, message, ...}}`
 * and its HTTP status. Unknown failures become INTERNAL without their message or stack.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrorCode, GeodeError, httpStatusFor, isGeodeError } from '../../shared/protocol/errors.js';
import type { ErrorBody } from '../../shared/protocol/errors.js';
import { describeIssues } from '../../shared/protocol/query.js';

export interface WireError {
  status: number;
  body: ErrorBody;
  /** True when the failure is our bug, not the client's input: log it with its stack. */
  internal: boolean;
}

/** Fastify's own request errors (body parsing, routing) mapped to our codes. */
const fastifyCodes: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
  FST_ERR_VALIDATION: ErrorCode.BAD_REQUEST,
};

function hasStringProp<K extends string>(value: unknown, key: K): value is Record<K, string> {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[key] === 'string';
}

/** Maps a thrown value to the wire error; never leaks a stack or an internal message. */
export function toWireError(error: unknown): WireError {
  if (isGeodeError(error)) return { status: error.status, body: error.toJSON(), internal: error.code === 'INTERNAL' };
  const fastifyCode = hasStringProp(error, 'code') ? fastifyCodes[error.code] : undefined;
  if (fastifyCode !== undefined && hasStringProp(error, 'message')) {
    return fromCode(fastifyCode, describeFastifyError(error as FastifyError), false);
  }
  // Other client errors fastify raises carry a 4xx statusCode (e.g. a JSON body with __proto__).
  const statusCode = typeof error === 'object' && error !== null ? (error as { statusCode?: unknown }).statusCode : undefined;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 && hasStringProp(error, 'message')) {
    const code = statusCode === 413 ? ErrorCode.PAYLOAD_TOO_LARGE : statusCode === 404 ? ErrorCode.NOT_FOUND : ErrorCode.BAD_REQUEST;
    return fromCode(code, error.message, false);
  }
  return fromCode(ErrorCode.INTERNAL, 'internal error', true);
}

function fromCode(code: ErrorCode, message: string, internal: boolean): WireError {
  return { status: httpStatusFor[code], body: new GeodeError(code, message).toJSON(), internal };
}

function describeFastifyError(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'request body is not valid JSON';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content type; send application/json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'request body is larger than the server accepts';
    case 'FST_ERR_VALIDATION':
      return describeValidation(error);
    default:
      return error.message;
  }
}

function describeValidation(error: FastifyError): string {
  const issues = error.validation ?? [];
  if (issues.length === 0) return error.message;
  return describeIssues(issues, error.validationContext ?? 'body');
}

/** Installs the error and not-found handlers: every failure answers JSON with a stable code. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request, reply) => {
    const wire = toWireError(error);
    if (wire.internal) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: wire.body.error.code }, 'request refused');
    // Both are transient: another replica, or this one a moment later, can serve the request.
    if (wire.body.error.code === ErrorCode.REPLICA_LAGGING || wire.body.error.code === ErrorCode.OVERLOADED) void reply.header('retry-after', '1');
    return reply.code(wire.status).type('application/json').send(wire.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const wire = fromCode(ErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`, false);
    return reply.code(wire.status).send(wire.body);
  });
}
