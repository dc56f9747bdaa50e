/**
 * Error codes: defined once, here. Every error that crosses a process boundary
 * is `{error: {code, message, ...}}` with one of these codes; clients switch on
 * the code, never on the message.
 */

export const ErrorCode = {
  /** The request body is not valid JSON or does not match the route's schema. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The query text does not parse, or fails compile-time checks (undefined variable, ...). */
  SYNTAX_ERROR: 'SYNTAX_ERROR',
  /** A compile-time check that is not about grammar (the TCK's SemanticError). */
  SEMANTIC_ERROR: 'SEMANTIC_ERROR',
  /** A value has the wrong type at run time (`1 + true`, `n.x` on a list, ...). */
  TYPE_ERROR: 'TYPE_ERROR',
  /** A function got an argument outside its domain (`range(1, 2, 0)`, negative LIMIT, ...). */
  ARGUMENT_ERROR: 'ARGUMENT_ERROR',
  /** A query referred to an entity that was deleted in the same statement. */
  ENTITY_NOT_FOUND: 'ENTITY_NOT_FOUND',
  /** A `$name` parameter is used but not supplied. */
  PARAMETER_MISSING: 'PARAMETER_MISSING',
  /** DELETE of a node that still has relationships, and similar integrity failures. */
  CONSTRAINT_VIOLATION: 'CONSTRAINT_VIOLATION',
  /** An unknown procedure, or a procedure called wrongly. */
  PROCEDURE_ERROR: 'PROCEDURE_ERROR',
  /** Integer overflow and other arithmetic failures. */
  ARITHMETIC_ERROR: 'ARITHMETIC_ERROR',
  /** A statement exceeded its deterministic work budget (rows touched, list elements built, path steps). */
  WORK_LIMIT: 'WORK_LIMIT',
  /** A statement exceeded its memory budget (lists, strings, aggregation state, sort buffers, result rows). */
  MEMORY_LIMIT: 'MEMORY_LIMIT',
  /** The query ran past its time limit; anything it wrote was rolled back. */
  TIMEOUT: 'TIMEOUT',
  /** The request body is larger than the server accepts. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** A write reached a node that is not the Raft leader. */
  NOT_LEADER: 'NOT_LEADER',
  /** A bounded-staleness read reached a replica whose lag is over the bound; try another replica. */
  REPLICA_LAGGING: 'REPLICA_LAGGING',
  /** No quorum is reachable; the write cannot be committed. */
  NO_QUORUM: 'NO_QUORUM',
  /**
   * A write reached a region that is not the write region at the current region epoch (a follower
   * region, or a former primary fenced by a promotion). `primary_region` and `epoch` name where writes go.
   */
  NOT_PRIMARY_REGION: 'NOT_PRIMARY_REGION',
  /**
   * The primary region has not confirmed its epoch with the other regions recently (its process was
   * paused, or its leader is new), so it cannot tell whether another region was promoted meanwhile:
   * writes wait for the next confirmation round. Retry shortly.
   */
  EPOCH_UNCONFIRMED: 'EPOCH_UNCONFIRMED',
  /**
   * A backup object is missing, truncated or fails its checksum (the message names it), or the
   * archive's manifest does not hold together (a gap, an overlap, another cluster's lineage).
   */
  BACKUP_CORRUPT: 'BACKUP_CORRUPT',
  /**
   * The backup destination could not be reached or refused the request (credentials, bucket, disk).
   * Not marked retryable: no client resends on it; the archiver itself retries with backoff.
   */
  BACKUP_DESTINATION: 'BACKUP_DESTINATION',
  /** Missing or wrong credentials. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A concurrency limit is full; retry after the time in `Retry-After`. */
  OVERLOADED: 'OVERLOADED',
  /** The route or resource does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** Valid syntax that this server does not support. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** A bug: something that should not happen did. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Source position of a query error, 1-based line and column, 0-based offset. */
export interface SourcePosition {
  offset: number;
  line: number;
  column: number;
}

/** When an error was detected, as the openCypher TCK distinguishes it. */
export type ErrorPhase = 'compile' | 'runtime';

/**
 * What each code means for the caller, defined once: its HTTP status, whether
 * sending the same request again (with the same `request_id`, so a write is
 * applied at most once) may succeed without changing it, and whether the
 * answer carries `Retry-After`. Clients, gateways and nodes all read this
 * table; none keeps its own list.
 *
 * Retryable: NOT_LEADER (follow `leader_url`), REPLICA_LAGGING (another
 * replica), NO_QUORUM and OVERLOADED (later). Everything else is the
 * statement's own outcome and would fail again the same way, TIMEOUT
 * included: a statement that ran out of time is slow everywhere. One
 * exception is marked per error, not per code: a write that was proposed but
 * not acknowledged in time (TIMEOUT with `retryable: true`), whose outcome is
 * unknown and which is safe to resend with its `request_id`.
 */
export interface ErrorCodeSpec {
  readonly status: number;
  readonly retryable: boolean;
  /** The answer carries `Retry-After: 1`: the condition is transient. */
  readonly retryAfter: boolean;
}

const spec = (status: number, retryable = false, retryAfter = false): ErrorCodeSpec => ({ status, retryable, retryAfter });

export const errorCodeSpecs: Readonly<Record<ErrorCode, ErrorCodeSpec>> = {
  BAD_REQUEST: spec(400),
  SYNTAX_ERROR: spec(400),
  SEMANTIC_ERROR: spec(400),
  TYPE_ERROR: spec(400),
  ARGUMENT_ERROR: spec(400),
  ENTITY_NOT_FOUND: spec(400),
  PARAMETER_MISSING: spec(400),
  CONSTRAINT_VIOLATION: spec(409),
  PROCEDURE_ERROR: spec(400),
  ARITHMETIC_ERROR: spec(400),
  WORK_LIMIT: spec(400),
  MEMORY_LIMIT: spec(400),
  TIMEOUT: spec(408),
  PAYLOAD_TOO_LARGE: spec(413),
  NOT_LEADER: spec(421, true),
  REPLICA_LAGGING: spec(503, true, true),
  NO_QUORUM: spec(503, true, true),
  NOT_PRIMARY_REGION: spec(421, true),
  EPOCH_UNCONFIRMED: spec(503, true, true),
  BACKUP_CORRUPT: spec(422),
  BACKUP_DESTINATION: spec(502),
  UNAUTHORIZED: spec(401),
  OVERLOADED: spec(503, true, true),
  NOT_FOUND: spec(404),
  UNSUPPORTED: spec(400),
  INTERNAL: spec(500),
};

/** HTTP status for each code (from errorCodeSpecs). */
export const httpStatusFor: Readonly<Record<ErrorCode, number>> = Object.fromEntries(
  Object.entries(errorCodeSpecs).map(([code, s]) => [code, s.status]),
) as Record<ErrorCode, number>;

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value);
}

export interface GeodeErrorOptions {
  position?: SourcePosition;
  /** A finer, stable reason, e.g. `UndefinedVariable`, `VariableAlreadyBound`, `InvalidArgumentType`. */
  detail?: string;
  phase?: ErrorPhase;
  /** Extra JSON-safe fields copied into the error body (e.g. `leader_id`, `leader_url`). */
  extra?: Record<string, unknown>;
  /** Overrides the code's retryability for this one error (see errorCodeSpecs). */
  retryable?: boolean;
}

/** An error as a value: a stable code, a human message, and optional position and detail. */
export class GeodeError extends Error {
  readonly code: ErrorCode;
  readonly position: SourcePosition | undefined;
  readonly detail: string | undefined;
  readonly phase: ErrorPhase | undefined;
  readonly extra: Record<string, unknown> | undefined;
  /** Sending the same request again may succeed (see errorCodeSpecs); on the wire as `retryable`. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: GeodeErrorOptions = {}) {
    super(message);
    this.name = 'GeodeError';
    this.code = code;
    this.position = options.position;
    this.detail = options.detail;
    this.phase = options.phase;
    this.extra = options.extra;
    this.retryable = options.retryable ?? errorCodeSpecs[code].retryable;
  }

  get status(): number {
    return errorCodeSpecs[this.code].status;
  }

  /** The same error with more fields in its body (a `request_id`, say). */
  withExtra(extra: Record<string, unknown>): GeodeError {
    return new GeodeError(this.code, this.message, {
      ...(this.position !== undefined ? { position: this.position } : {}),
      ...(this.detail !== undefined ? { detail: this.detail } : {}),
      ...(this.phase !== undefined ? { phase: this.phase } : {}),
      extra: { ...this.extra, ...extra },
      retryable: this.retryable,
    });
  }

  toJSON(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.position !== undefined) error.position = this.position;
    if (this.detail !== undefined) error.detail = this.detail;
    if (this.phase !== undefined) error.phase = this.phase;
    if (this.extra !== undefined) Object.assign(error, this.extra);
    return { error };
  }
}

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    retryable?: boolean;
    position?: SourcePosition;
    detail?: string;
    phase?: ErrorPhase;
    [extra: string]: unknown;
  };
}

export function isGeodeError(value: unknown): value is GeodeError {
  return value instanceof GeodeError;
}

/**
 * Rebuilds a GeodeError from the `error` member of a wire body (another
 * process's answer, a worker thread's failure). An unknown or missing code
 * becomes INTERNAL, keeping the foreign code as `detail`.
 */
export function errorFromWire(error: unknown, fallbackMessage = 'error without a message'): GeodeError {
  if (typeof error !== 'object' || error === null) return new GeodeError(ErrorCode.INTERNAL, fallbackMessage);
  const { code, message, position, detail, phase, retryable, ...extra } = error as Record<string, unknown>;
  const known = isErrorCode(code);
  return new GeodeError(known ? code : ErrorCode.INTERNAL, typeof message === 'string' ? message : fallbackMessage, {
    ...(isPosition(position) ? { position } : {}),
    ...(typeof detail === 'string' ? { detail } : !known && typeof code === 'string' ? { detail: code } : {}),
    ...(phase === 'compile' || phase === 'runtime' ? { phase } : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    ...(typeof retryable === 'boolean' ? { retryable } : {}),
  });
}

function isPosition(value: unknown): value is SourcePosition {
  const p = value as Partial<SourcePosition> | null;
  return typeof p === 'object' && p !== null && typeof p.offset === 'number' && typeof p.line === 'number' && typeof p.column === 'number';
}

/** Shorthands for the errors the query path raises most. */
export const syntaxError = (message: string, position?: SourcePosition, detail?: string): GeodeError =>
  new GeodeError(ErrorCode.SYNTAX_ERROR, message, {
    phase: 'compile',
    ...(position ? { position } : {}),
    ...(detail ? { detail } : {}),
  });

export const typeError = (message: string, detail = 'InvalidArgumentType'): GeodeError =>
  new GeodeError(ErrorCode.TYPE_ERROR, message, { phase: 'runtime', detail });
