/** The TypeScript client's public surface. */
export { Client } from './client.js';
export type { ClientOptions } from './client.js';
export { ConnectionPool, PooledConnection, PoolExhaustedError } from './pool.js';
export type { ConnectionPoolOptions, PoolNodeState } from './pool.js';
export { Connection } from './connection.js';
export type { Queryable } from './connection.js';
export { ReplicaSelector } from './selector.js';
export { ErrorCode, GeodeConnectionError, GeodeError, PrimaryUnavailable, isGeodeError } from './errors.js';
export { SESSION_HEADER } from './session.js';
export type { SessionSnapshot } from './session.js';
export { defaultBackoff, retryAfterMs } from './caller.js';
export type { RetryPolicy } from './caller.js';
export type { Consistency, JsonValue, Meta, Params, QueryOptions, QueryResult, QueryStats, Row } from './types.js';
