/**
 * TypeBox schemas of the node API's wire shapes: validation of requests and
 * serialization of responses both come from these.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';

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

export const NodeRole = Type.Union([Type.Literal('primary'), Type.Literal('standby'), Type.Literal('learner'), Type.Literal('candidate')]);
export type NodeRole = Static<typeof NodeRole>;

/** Where the answer came from: lets a client build its causal token (`after_index`). */
export const QueryMeta = Type.Object({
  node: Type.String(),
  role: NodeRole,
  term: Type.Integer({ minimum: 0 }),
  index: Type.Integer({ minimum: 0 }),
  applied_index: Type.Integer({ minimum: 0 }),
  /** Cluster writes: false when the replication mode acknowledged before the entry was applied. */
  applied: Type.Optional(Type.Boolean()),
  /** Cluster writes: the id to retry with (the client's, or one the node generated). */
  request_id: Type.Optional(Type.String()),
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

// ---- cluster ------------------------------------------------------------------

export const NodeStatusEntryBody = Type.Object({
  id: Type.String(),
  role: Type.Union([NodeRole, Type.Literal('unknown')]),
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unreachable'), Type.Literal('unknown')]),
  /** Milliseconds behind the leader; -1 when this node cannot tell. */
  replication_lag: Type.Number(),
  applied_index: Type.Union([Type.Integer(), Type.Null()]),
  match_index: Type.Union([Type.Integer(), Type.Null()]),
  region: Type.Union([Type.String(), Type.Null()]),
  url: Type.String(),
  voter: Type.Boolean(),
});

/** The seed's `cluster/status` JSON plus Raft's view from the answering node. */
export const ClusterStatusBody = Type.Object({
  cluster_id: Type.String(),
  node: Type.String(),
  nodes: Type.Array(NodeStatusEntryBody),
  quorum_status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('lost')]),
  term: Type.Integer({ minimum: 0 }),
  leader: Type.Union([Type.String(), Type.Null()]),
  leader_url: Type.Union([Type.String(), Type.Null()]),
  commit_index: Type.Integer({ minimum: 0 }),
  applied_index: Type.Integer({ minimum: 0 }),
  replication: Type.Object({ mode: Type.String(), quorum_size: Type.Integer(), sync_replicas: Type.Integer() }),
});

// ---- admin --------------------------------------------------------------------

export const TransferLeadershipRequest = Type.Object({ target: Type.String({ minLength: 1 }) }, { additionalProperties: false });
export const TransferLeadershipResponse = Type.Object({ leader: Type.String(), term: Type.Integer() });

export const SnapshotResponse = Type.Object({ node: Type.String(), index: Type.Integer(), bytes: Type.Integer() });

export const ChecksumResponse = Type.Object({ node: Type.String(), applied_index: Type.Integer(), checksum: Type.String() });

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
