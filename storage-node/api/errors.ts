/**
 * Turns anything a request can throw into the wire error `{error: {code, message, ...}}`
 * and its HTTP status (shared/protocol/framework-errors.ts maps framework errors, once for
 * both servers). Unknown failures become INTERNAL without their message or stack.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { ErrorBody } from '../../shared/protocol/errors.js';
import { errorHeaders, toGeodeError } from '../../shared/protocol/framework-errors.js';

export interface WireError {
  status: number;
  body: ErrorBody;
  /** True when the failure is our bug, not the client's input: log it with its stack. */
  internal: boolean;
}

/** Maps a thrown value to the wire error; never leaks a stack or an internal message. */
export function toWireError(error: unknown): WireError {
  const geode = toGeodeError(error);
  return { status: geode.status, body: geode.toJSON(), internal: geode.code === ErrorCode.INTERNAL };
}

/** Installs the error and not-found handlers: every failure answers JSON with a stable code. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request, reply) => {
    const geode = toGeodeError(error);
    if (geode.code === ErrorCode.INTERNAL) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: geode.code }, 'request refused');
    return reply.code(geode.status).headers(errorHeaders(geode)).type('application/json').send(geode.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new GeodeError(ErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`);
    return reply.code(error.status).send(error.toJSON());
  });
}
