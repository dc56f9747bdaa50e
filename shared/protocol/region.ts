/**
 * Wire types of regions, declared once with TypeBox: a source position, a
 * region's status as its nodes report it (`GET /api/v1/region/status`), the
 * promotion request and answer, and the frames of the disaster-recovery
 * stream (`GET /v1/dr/stream`, a WebSocket between regions).
 *
 * A **source position** is (region epoch, index): an index in the log of the
 * region that was primary at that epoch. An entry applied in a follower region
 * keeps the position it had in the primary's log, so positions compare across
 * regions. Within one epoch, positions order by index; a later epoch starts
 * where the previous one was forked (`fork`), so (e, i) precedes (e+1, j) when
 * i is at or before epoch e's fork point.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';

export const Position = Type.Object({
  epoch: Type.Integer({ minimum: 0 }),
  index: Type.Integer({ minimum: 0 }),
});
export type Position = Static<typeof Position>;

/** The configured role of a region (the seed's `primary_cluster` is `primary`). */
export const RegionRole = Type.Union([Type.Literal('primary'), Type.Literal('secondary'), Type.Literal('read_replica'), Type.Literal('disaster_recovery')]);
export type RegionRole = Static<typeof RegionRole>;

/**
 * What a region's group is now, by its replicated state: the write region (`primary`), a region that
 * follows the primary over the stream (`follower`), or a former primary that saw a higher epoch and no
 * longer takes writes, until it has rejoined as a follower (`fenced`).
 */
export const RegionState = Type.Union([Type.Literal('primary'), Type.Literal('follower'), Type.Literal('fenced')]);
export type RegionState = Static<typeof RegionState>;

/** One epoch of the region history: who was primary from which position on. */
export const EpochRecord = Type.Object({
  epoch: Type.Integer({ minimum: 1 }),
  primary: Type.String(),
  /** The last position of the previous epoch that this epoch's primary had applied (null for epoch 1, or not yet known). */
  fork: Type.Union([Position, Type.Null()]),
  /** The index in the new primary's own log where the epoch began (null until known). */
  start: Type.Union([Type.Integer(), Type.Null()]),
});
export type EpochRecord = Static<typeof EpochRecord>;

/** Entries a fenced former primary accepted after the fork: set aside, never merged. */
export const QuarantineRecord = Type.Object({
  epoch: Type.Integer(),
  /** First and last index (of that epoch) set aside. */
  from: Type.Integer(),
  to: Type.Integer(),
  /** Write entries among them. */
  writes: Type.Integer(),
  /** Where each node that held them wrote them out (JSON lines), relative to its data dir. */
  file: Type.String(),
});
export type QuarantineRecord = Static<typeof QuarantineRecord>;

/** Another region as this region's leader last saw it (it polls every region each health-check interval). */
export const PeerRegionStatus = Type.Object({
  name: Type.String(),
  role: RegionRole,
  state: Type.Union([RegionState, Type.Literal('unknown')]),
  epoch: Type.Union([Type.Integer(), Type.Null()]),
  primary_region: Type.Union([Type.String(), Type.Null()]),
  position: Type.Union([Position, Type.Null()]),
  lag_ms: Type.Union([Type.Number(), Type.Null()]),
  reachable: Type.Boolean(),
  leader_url: Type.Union([Type.String(), Type.Null()]),
  /** When this region last answered, ms since the epoch; null if never. */
  seen_at: Type.Union([Type.Number(), Type.Null()]),
});
export type PeerRegionStatus = Static<typeof PeerRegionStatus>;

/** `GET /api/v1/region/status` on any node: its region as that node knows it (complete on the region's leader). */
export const RegionStatus = Type.Object({
  region: Type.String(),
  role: RegionRole,
  state: RegionState,
  epoch: Type.Integer({ minimum: 1 }),
  primary_region: Type.String(),
  /** The last source position this region applied (for the primary: its own applied index at its epoch). */
  position: Position,
  /** The source's newest committed position, as the stream last said; null on the primary or before contact. */
  source_commit: Type.Union([Position, Type.Null()]),
  /** Source entries this region has not applied yet (positions, not clocks); 0 on the primary. */
  behind_entries: Type.Union([Type.Integer(), Type.Null()]),
  /** How long ago this region had applied everything the primary had committed; 0 on the primary, null when unknown. */
  lag_ms: Type.Union([Type.Number(), Type.Null()]),
  replication_lag_max_ms: Type.Union([Type.Number(), Type.Null()]),
  /** lag unknown or over `replication_lag_max`: skipped for bounded reads, and raised as an alarm. */
  over_lag_max: Type.Boolean(),
  serve_reads: Type.Boolean(),
  write_priority: Type.Union([Type.Integer(), Type.Null()]),
  /** The stream this region's leader pulls (follower regions). */
  stream: Type.Union([
    Type.Object({ source_region: Type.String(), source_url: Type.Union([Type.String(), Type.Null()]), connected: Type.Boolean(), resumes: Type.Integer(), snapshots: Type.Integer() }),
    Type.Null(),
  ]),
  node: Type.String(),
  leader: Type.Boolean(),
  leader_url: Type.Union([Type.String(), Type.Null()]),
  history: Type.Array(EpochRecord),
  quarantined: Type.Array(QuarantineRecord),
  regions: Type.Array(PeerRegionStatus),
  /** Automatic failover: the vote this region's group recorded for a coming epoch (null: none). */
  vote: Type.Union([Type.Object({ epoch: Type.Integer(), candidate: Type.String() }), Type.Null()]),
  /** This region's lag at the moment it last heard the primary (what automatic failover judges a candidate by); null when unknown. */
  lag_at_contact_ms: Type.Union([Type.Number(), Type.Null()]),
  /** How long since this region's leader last reached the primary region, ms (null on the primary or when it reaches it now). */
  primary_unreachable_ms: Type.Union([Type.Number(), Type.Null()]),
});
export type RegionStatus = Static<typeof RegionStatus>;

/** `POST /api/v1/admin/regions/promote`, to any node of any region (it is forwarded to the target region's leader). */
export const PromoteRequest = Type.Object({
  region: Type.String({ minLength: 1, maxLength: 200 }),
  force: Type.Optional(Type.Boolean()),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
});
export type PromoteRequest = Static<typeof PromoteRequest>;

export const PromoteResult = Type.Object({
  region: Type.String(),
  epoch: Type.Integer(),
  previous_primary: Type.String(),
  planned: Type.Boolean(),
  /** The last position of the previous epoch the new primary holds. */
  fork: Position,
  /** Source entries the new primary may lack: the previous primary's last known commit minus the fork (0 when planned). */
  lost_entries_estimate: Type.Integer({ minimum: 0 }),
  /** Whether that estimate is exact (the previous primary answered) or from the last position its stream reported. */
  estimate_basis: Type.Union([Type.Literal('exact'), Type.Literal('last_reported_commit'), Type.Literal('unknown')]),
  took_ms: Type.Number(),
});
export type PromoteResult = Static<typeof PromoteResult>;
