/** TypeBox wire schemas of the gateway's routes (the query body is the node's). */
import { Type } from 'typebox';
import type { Static } from 'typebox';

export const ConsistencyLevel = Type.Union([Type.Literal('linearizable'), Type.Literal('leader'), Type.Literal('bounded'), Type.Literal('any')]);

export const QueryRequest = Type.Object(
  {
    query: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
    request_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    consistency: Type.Optional(ConsistencyLevel),
    max_lag_ms: Type.Optional(Type.Integer({ minimum: 0 })),
    after_index: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type QueryRequest = Static<typeof QueryRequest>;
