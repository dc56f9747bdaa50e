/**
 * Every failure -> `{error: {code, message, retryable, ...}}` with the status
 * and `Retry-After` from shared/protocol/errors.ts; framework errors are
 * mapped once, in shared/protocol/framework-errors.ts, for the node and the
 * gateway alike. Unknown failures become INTERNAL without their message.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode, GeodeError, errorCodeSpecs } from '../../shared/protocol/errors.js';
import { errorHeaders, toGeodeError } from '../../shared/protocol/framework-errors.js';

export { toGeodeError };

/** Seconds for `Retry-After` on an answer with this code, or undefined when the code is not transient. */
export function retryAfterFor(code: string | undefined): number | undefined {
  return code !== undefined && code in errorCodeSpecs && errorCodeSpecs[code as ErrorCode].retryAfter ? 1 : undefined;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const geode = toGeodeError(error);
    if (geode.code === ErrorCode.INTERNAL) request.log.error({ err: error }, 'internal error');
    void reply.code(geode.status).headers(errorHeaders(geode)).send(geode.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(new GeodeError(ErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0] ?? ''}`).toJSON());
  });
}
