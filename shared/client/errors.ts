/**
 * Client-side errors. A server's refusal is a `GeodeError` carrying the server's
 * stable code (shared/protocol/errors.ts); "no node answered at all" is a
 * `GeodeConnectionError` (alias `PrimaryUnavailable`, the seed's name).
 */
import { ErrorCode, GeodeError, errorFromWire } from '../protocol/errors.js';
import type { ErrorBody } from '../protocol/errors.js';

export { ErrorCode, GeodeError, isGeodeError } from '../protocol/errors.js';

/** No node could be reached (refused, reset, timed out) within the retry budget. */
export class GeodeConnectionError extends Error {
  /** URLs that were tried, in order, without one answering. */
  readonly urls: readonly string[];
  /** Attempts made before giving up. */
  readonly attempts: number;

  constructor(message: string, options: { urls?: readonly string[]; attempts?: number; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'GeodeConnectionError';
    this.urls = options.urls ?? [];
    this.attempts = options.attempts ?? 0;
  }
}

/** The seed's name for the same condition (`except PrimaryUnavailable`). */
export const PrimaryUnavailable = GeodeConnectionError;
export type PrimaryUnavailable = GeodeConnectionError;

/** Rebuilds the server's `{error: {code, message, ...}}` body as a GeodeError; anything else becomes INTERNAL. */
export function errorFromBody(status: number, body: unknown): GeodeError {
  const error = (body as Partial<ErrorBody> | null)?.error;
  if (error === undefined || typeof error !== 'object' || error === null) {
    return new GeodeError(ErrorCode.INTERNAL, `unexpected HTTP ${status} without an error body`, { extra: { status } });
  }
  return errorFromWire(error, `HTTP ${status}`);
}
