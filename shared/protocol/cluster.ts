/**
 * Wire types of a node's cluster surface, declared once with TypeBox: the
 * `meta` of every query answer, `GET /api/v1/cluster/status` (the seed's
 * JSON plus Raft's view), and the rows of the `system.*` views. The node
 * serializes with these schemas; gateways and clients read the same types.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';
import { BackupStatus } from './backup.js';

export const NodeRole = Type.Union([Type.Literal('primary'), Type.Literal('standby'), Type.Literal('learner'), Type.Literal('candidate')]);
export type NodeRole = Static<typeof NodeRole>;

/**
 * Whose knowledge an answer carries. Only the leader hears from every member, so only its view of
 * peers' health and lag is `complete`; any other node answers what it knows and says `partial`.
 */
export const ViewScope = Type.Union([Type.Literal('complete'), Type.Literal('partial')]);
export type ViewScope = Static<typeof ViewScope>;

/** Where an answer came from and how fresh it is: lets a client build its causal token (`after_index`). */
export const QueryMeta = Type.Object({
  node: Type.String(),
  role: NodeRole,
  term: Type.Integer({ minimum: 0 }),
  index: Type.Integer({ minimum: 0 }),
  applied_index: Type.Integer({ minimum: 0 }),
  /** Reads: this node's replication lag in ms when it served the read; null when it could not know it. */
  lag_ms: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  /** Reads of `system.*` views: whose knowledge the rows carry. */
  view: Type.Optional(ViewScope),
  /** Cluster writes: false when the replication mode acknowledged before the entry was applied. */
  applied: Type.Optional(Type.Boolean()),
  /** Cluster writes: the id to retry with (the client's, or one the node generated). */
  request_id: Type.Optional(Type.String()),
  /**
   * The region epoch of the answering region (regions, DESIGN.md). A write's (epoch, index) is its
   * position in the primary's log: a causal token holds both, and any region that applied it may serve.
   */
  epoch: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Reads in a multi-region deployment: the primary position this region had applied. */
  position: Type.Optional(Type.Object({ epoch: Type.Integer(), index: Type.Integer() })),
  /**
   * Writes applied before the answer: the write's commit time in ms since the epoch (its replicated
   * entry clock), the instant a point-in-time restore compares `--timestamp` with (shared/protocol/backup.ts).
   */
  committed_at: Type.Optional(Type.Integer()),
});
export type QueryMeta = Static<typeof QueryMeta>;

export const NodeStatusEntry = Type.Object({
  id: Type.String(),
  role: Type.Union([NodeRole, Type.Literal('unknown')]),
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unreachable'), Type.Literal('unknown')]),
  /** Milliseconds behind the leader; -1 when the answering node cannot tell. */
  replication_lag: Type.Number(),
  applied_index: Type.Union([Type.Integer(), Type.Null()]),
  match_index: Type.Union([Type.Integer(), Type.Null()]),
  region: Type.Union([Type.String(), Type.Null()]),
  url: Type.String(),
  voter: Type.Boolean(),
});
export type NodeStatusEntry = Static<typeof NodeStatusEntry>;

export const QuorumStatus = Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('lost')]);
export type QuorumStatus = Static<typeof QuorumStatus>;

/** The seed's `cluster/status` JSON plus Raft's view from the answering node. */
export const ClusterStatus = Type.Object({
  cluster_id: Type.String(),
  /** The answering node. */
  node: Type.String(),
  /** `complete` from the leader; `partial` elsewhere (peers' health and lag are then `unknown` / -1). */
  view: ViewScope,
  nodes: Type.Array(NodeStatusEntry),
  /**
   * The leader's count of healthy voters: `healthy` (all), `degraded` (a majority), `lost` (no majority
   * or no leader). A follower cannot count and says `healthy` only while it hears a leader, else `lost`.
   */
  quorum_status: QuorumStatus,
  term: Type.Integer({ minimum: 0 }),
  leader: Type.Union([Type.String(), Type.Null()]),
  leader_url: Type.Union([Type.String(), Type.Null()]),
  commit_index: Type.Integer({ minimum: 0 }),
  applied_index: Type.Integer({ minimum: 0 }),
  replication: Type.Object({ mode: Type.String(), quorum_size: Type.Integer(), sync_replicas: Type.Integer() }),
  /** Backups (shared/protocol/backup.ts): the setting, who archives, how far, and the last failure. */
  backup: Type.Optional(BackupStatus),
});
export type ClusterStatus = Static<typeof ClusterStatus>;
