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
  /** A statement exceeded its deterministic work budget (rows touched). */
  WORK_LIMIT: 'WORK_LIMIT',
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

/** HTTP status for each code. */
export const httpStatusFor: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  SYNTAX_ERROR: 400,
  SEMANTIC_ERROR: 400,
  TYPE_ERROR: 400,
  ARGUMENT_ERROR: 400,
  ENTITY_NOT_FOUND: 400,
  PARAMETER_MISSING: 400,
  CONSTRAINT_VIOLATION: 409,
  PROCEDURE_ERROR: 400,
  ARITHMETIC_ERROR: 400,
  WORK_LIMIT: 400,
  TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  NOT_LEADER: 421,
  REPLICA_LAGGING: 503,
  NO_QUORUM: 503,
  UNAUTHORIZED: 401,
  OVERLOADED: 503,
  NOT_FOUND: 404,
  UNSUPPORTED: 400,
  INTERNAL: 500,
};

export interface GeodeErrorOptions {
  position?: SourcePosition;
  /** A finer, stable reason, e.g. `UndefinedVariable`, `VariableAlreadyBound`, `InvalidArgumentType`. */
  detail?: string;
  phase?: ErrorPhase;
  /** Extra JSON-safe fields copied into the error body (e.g. `leader_id`, `leader_url`). */
  extra?: Record<string, unknown>;
}

/** An error as a value: a stable code, a human message, and optional position and detail. */
export class GeodeError extends Error {
  readonly code: ErrorCode;
  readonly position: SourcePosition | undefined;
  readonly detail: string | undefined;
  readonly phase: ErrorPhase | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: GeodeErrorOptions = {}) {
    super(message);
    this.name = 'GeodeError';
    this.code = code;
    this.position = options.position;
    this.detail = options.detail;
    this.phase = options.phase;
    this.extra = options.extra;
  }

  get status(): number {
    return httpStatusFor[this.code];
  }

  toJSON(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
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
    position?: SourcePosition;
    detail?: string;
    phase?: ErrorPhase;
    [extra: string]: unknown;
  };
}

export function isGeodeError(value: unknown): value is GeodeError {
  return value instanceof GeodeError;
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
