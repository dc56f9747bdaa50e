/**
 * TypeBox schemas of the node API's wire shapes: validation of requests and
 * serialization of responses both come from these.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';
import { ClusterStatus as ClusterStatusBody, QueryMeta } from '../../shared/protocol/cluster.js';

export { ConsistencyLevel, MAX_TIMEOUT_MS, QueryRequest } from '../../shared/protocol/query.js';

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

// The cluster wire types (meta, status) are declared once, in shared/protocol/cluster.ts.
export { ClusterStatusBody, QueryMeta };
export { NodeRole, NodeStatusEntry as NodeStatusEntryBody } from '../../shared/protocol/cluster.js';

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

// ---- cluster ------------------------------------------------------------------

// ---- admin --------------------------------------------------------------------

export const TransferLeadershipRequest = Type.Object({ target: Type.String({ minLength: 1 }) }, { additionalProperties: false });
export const TransferLeadershipResponse = Type.Object({ leader: Type.String(), term: Type.Integer() });

export const SnapshotResponse = Type.Object({ node: Type.String(), index: Type.Integer(), bytes: Type.Integer() });

export const ChecksumResponse = Type.Object({
  node: Type.String(),
  applied_index: Type.Integer(),
  checksum: Type.String(),
  /** The primary position the graph holds (regions: compare checksums across regions at the same position). */
  position: Type.Optional(Type.Object({ epoch: Type.Integer(), index: Type.Integer() })),
});

export const RejoinRequest = Type.Object({ region: Type.String({ minLength: 1, maxLength: 200 }), timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })) }, { additionalProperties: false });

export const AddMemberRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    url: Type.String({ minLength: 1 }),
    role: Type.Union([Type.Literal('voter'), Type.Literal('learner')]),
    region: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type AddMemberRequest = Static<typeof AddMemberRequest>;

export const MemberNameParams = Type.Object({ name: Type.String({ minLength: 1 }) });

/** Membership changes answer the cluster status after the change. */
export const MembershipResponse = Type.Object({ ok: Type.Literal(true), status: ClusterStatusBody });
