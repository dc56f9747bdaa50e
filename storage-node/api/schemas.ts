/**
 * TypeBox schemas of the node API's wire shapes: validation of requests and
 * serialization of responses both come from these.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';

export const ConsistencyLevel = Type.Union([
  Type.Literal('linearizable'),
  Type.Literal('leader'),
  Type.Literal('bounded'),
  Type.Literal('any'),
]);

/** Upper bound on `timeout_ms`: ten minutes; longer work belongs in a background job. */
export const MAX_TIMEOUT_MS = 600_000;

export const QueryRequest = Type.Object(
  {
    query: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS })),
    request_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    consistency: Type.Optional(ConsistencyLevel),
    max_lag_ms: Type.Optional(Type.Integer({ minimum: 0 })),
    after_index: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type QueryRequest = Static<typeof QueryRequest>;

export const QueryStatsBody = Type.Object({
  nodes_created: Type.Integer(),
  nodes_deleted: Type.Integer(),
  relationships_created: Type.Integer(),
  relationships_deleted: Type.Integer(),
  properties_set: Type.Integer(),
  labels_added: Type.Integer(),
  labels_removed: Type.Integer(),
  indexes_added: Type.Integer(),
  indexes_removed: Type.Integer(),
});
export type QueryStatsBody = Static<typeof QueryStatsBody>;

export const NodeRole = Type.Union([Type.Literal('primary'), Type.Literal('standby'), Type.Literal('learner')]);
export type NodeRole = Static<typeof NodeRole>;

/** Where the answer came from: lets a client build its causal token (`after_index`). */
export const QueryMeta = Type.Object({
  node: Type.String(),
  role: NodeRole,
  term: Type.Integer({ minimum: 0 }),
  index: Type.Integer({ minimum: 0 }),
  applied_index: Type.Integer({ minimum: 0 }),
});
export type QueryMeta = Static<typeof QueryMeta>;

export const QueryResponse = Type.Object({
  columns: Type.Array(Type.String()),
  /** Each row is keyed by column name; values are the JSON form from values.ts toJson. */
  rows: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  stats: QueryStatsBody,
  meta: QueryMeta,
});
export type QueryResponse = Static<typeof QueryResponse>;

export const SourcePositionBody = Type.Object({
  offset: Type.Integer(),
  line: Type.Integer(),
  column: Type.Integer(),
});

/** `{error: {code, message, position?, detail?, phase?, ...extra}}`; extra fields (leader_url, ...) pass through. */
export const ErrorResponse = Type.Object({
  error: Type.Object(
    {
      code: Type.String(),
      message: Type.String(),
      position: Type.Optional(SourcePositionBody),
      detail: Type.Optional(Type.String()),
      phase: Type.Optional(Type.String()),
    },
    { additionalProperties: true },
  ),
});

export const HealthResponse = Type.Object({
  status: Type.Literal('ok'),
  node: Type.String(),
  region: Type.Optional(Type.String()),
});

export const ReadyResponse = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  reason: Type.Optional(Type.String()),
});

/** Every route answers errors in one shape. */
export const errorResponses = { '4xx': ErrorResponse, '5xx': ErrorResponse } as const;
