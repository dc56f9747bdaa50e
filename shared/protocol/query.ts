/**
 * The query request body, the same at a node and at a gateway: one TypeBox
 * schema that both servers validate with, so the two can never drift apart.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';

export const ConsistencyLevel = Type.Union([
  Type.Literal('linearizable'),
  Type.Literal('leader'),
  Type.Literal('bounded'),
  Type.Literal('any'),
]);
export type ConsistencyLevel = Static<typeof ConsistencyLevel>;

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
