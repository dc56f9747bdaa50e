/**
 * One mapping from what an HTTP framework throws (fastify's body parser and
 * validator, a client error with a 4xx `statusCode`) to our error codes, for
 * the node and the gateway alike. Unknown failures become INTERNAL without
 * their message: a stack or an internal message never reaches a client.
 * Duck-typed on `code` and `statusCode`, so nothing here imports fastify.
 */
import { ErrorCode, GeodeError, errorCodeSpecs, isGeodeError } from './errors.js';
import { describeIssues } from './query.js';
import type { ValidationIssue } from './query.js';

/** Fastify's own request errors, by their `code`, with the message a client should read. */
const FRAMEWORK_CODES: Readonly<Record<string, { code: ErrorCode; message?: string }>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: ErrorCode.BAD_REQUEST, message: 'request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: ErrorCode.BAD_REQUEST, message: 'request body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: ErrorCode.BAD_REQUEST, message: 'unsupported content type; send application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: ErrorCode.BAD_REQUEST },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: ErrorCode.PAYLOAD_TOO_LARGE, message: 'request body is larger than the server accepts' },
  FST_ERR_VALIDATION: { code: ErrorCode.BAD_REQUEST },
};

interface FrameworkError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: readonly ValidationIssue[];
  validationContext?: string;
}

/** Any thrown value as a GeodeError; GeodeErrors pass through unchanged. */
export function toGeodeError(error: unknown): GeodeError {
  if (isGeodeError(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as FrameworkError;
  const mapped = typeof e.code === 'string' ? FRAMEWORK_CODES[e.code] : undefined;
  const message = typeof e.message === 'string' ? e.message : '';
  if (mapped !== undefined) {
    const issues = e.validation ?? [];
    const described = issues.length > 0 ? describeIssues(issues, e.validationContext ?? 'body') : message;
    return new GeodeError(mapped.code, mapped.message ?? described);
  }
  // Other client errors a framework raises carry a 4xx statusCode (a JSON body with __proto__, say).
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && message !== '') {
    const code = e.statusCode === 413 ? ErrorCode.PAYLOAD_TOO_LARGE : e.statusCode === 404 ? ErrorCode.NOT_FOUND : ErrorCode.BAD_REQUEST;
    return new GeodeError(code, message);
  }
  return new GeodeError(ErrorCode.INTERNAL, 'internal error');
}

/** The headers an error answer carries besides its body: `Retry-After` where the condition is transient. */
export function errorHeaders(error: GeodeError): Record<string, string> {
  return errorCodeSpecs[error.code].retryAfter ? { 'retry-after': '1' } : {};
}
