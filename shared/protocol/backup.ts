/**
 * Wire types of backups (storage-node/backup/), declared once with TypeBox:
 * the replicated backup setting, the configure request, the archiver's status
 * (the `backup` field of `GET /api/v1/cluster/status`), restore points, and
 * the admin answers of `geode backup configure | now | list`.
 *
 * Times on the wire are ISO 8601 strings; `*_ms` fields are milliseconds.
 * An entry's **commit time** is its replicated entry clock: the leader fixes
 * `now` before proposing and apply keeps the clock monotonic
 * (storage-node/replication/state-machine.ts), so every replica, the archive
 * and a restore agree on it. A write's answer carries it as `meta.committed_at`.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';

export const BackupMode = Type.Union([Type.Literal('continuous'), Type.Literal('off')]);
export type BackupMode = Static<typeof BackupMode>;

/**
 * The backup setting as the cluster replicates it (a `backup` log entry, applied into the
 * `backup_state` table): it survives failover, and the leader of the moment archives by it.
 */
export const BackupConfig = Type.Object({
  mode: Type.Literal('continuous'),
  /** `file:///abs/path` or `s3://bucket/prefix` (`?path_style=true` for S3-compatible servers). */
  destination: Type.String({ minLength: 1, maxLength: 2048 }),
  /** Restore points are kept for this long (objects no restore inside the window needs are deleted). */
  retention_ms: Type.Integer({ minimum: 0 }),
  /** A log segment is closed this long after its first entry... */
  segment_ms: Type.Integer({ minimum: 1 }),
  /** ...or once it holds this many entries, whichever comes first. */
  segment_entries: Type.Integer({ minimum: 1 }),
  /** A new base snapshot this long after the previous one (restores replay at most this much log). */
  base_interval_ms: Type.Integer({ minimum: 1 }),
  /**
   * Names this cluster's chain of backups: drawn when a destination is first configured, kept while it
   * stays the same. An archiver refuses a destination whose manifest names another lineage, so two
   * clusters (a restored copy, say) never interleave their logs in one place.
   */
  lineage: Type.String({ minLength: 1, maxLength: 64 }),
  configured_at: Type.String(),
});
export type BackupConfig = Static<typeof BackupConfig>;

/** `POST /api/v1/admin/backup/config` (`geode backup configure`). Durations as `30d`, `1s` or milliseconds. */
export const BackupConfigureRequest = Type.Object(
  {
    mode: BackupMode,
    destination: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    retention: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 0 })])),
    segment_interval: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 1 })])),
    segment_entries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    base_interval: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 1 })])),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type BackupConfigureRequest = Static<typeof BackupConfigureRequest>;

export const BackupError = Type.Object({
  message: Type.String(),
  /** A stable code (shared/protocol/errors.ts) when the failure had one. */
  code: Type.Union([Type.String(), Type.Null()]),
  at: Type.String(),
});
export type BackupError = Static<typeof BackupError>;

/** A base snapshot in the archive. */
export const BaseSummary = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  /** Commit time of the last entry the base holds. */
  time: Type.String(),
  bytes: Type.Integer({ minimum: 0 }),
  key: Type.String(),
});
export type BaseSummary = Static<typeof BaseSummary>;

/**
 * What the `backup` field of the cluster status says. `state`: `off` (not configured), `standby` (a
 * follower: the leader archives), `starting` (this leader is reading the manifest or taking the first
 * base), `archiving`, or `failing` (the last attempt failed; `last_error` says why, and it is retried).
 * Followers know only the replicated part (setting and the archived position the leader last recorded).
 */
export const BackupStatus = Type.Object({
  mode: BackupMode,
  state: Type.Union([Type.Literal('off'), Type.Literal('standby'), Type.Literal('starting'), Type.Literal('archiving'), Type.Literal('failing')]),
  destination: Type.Union([Type.String(), Type.Null()]),
  retention_ms: Type.Union([Type.Integer(), Type.Null()]),
  /** The node that archives (the leader this node knows), null when none. */
  archiver: Type.Union([Type.String(), Type.Null()]),
  /** The last log index in the archive, and its commit time. */
  archived_index: Type.Union([Type.Integer(), Type.Null()]),
  archived_time: Type.Union([Type.String(), Type.Null()]),
  /** When the archiver last stored something (a segment, a base, a manifest); null when never (on this node). */
  last_success_at: Type.Union([Type.String(), Type.Null()]),
  /** How long committed entries have waited to be archived: 0 when all are; null off the archiving node. */
  lag_ms: Type.Union([Type.Number(), Type.Null()]),
  /** Bytes this node stored in the destination since it started. */
  bytes_total: Type.Integer({ minimum: 0 }),
  last_base: Type.Union([BaseSummary, Type.Null()]),
  last_error: Type.Union([BackupError, Type.Null()]),
  /** Since when every attempt has failed (null while working). */
  failing_since: Type.Union([Type.String(), Type.Null()]),
});
export type BackupStatus = Static<typeof BackupStatus>;

/** The span of instants a restore can reach exactly, and the bases inside it. */
export const RestorePoints = Type.Object({
  cluster_id: Type.String(),
  lineage: Type.String(),
  /** The earliest instant a restore can reach (the oldest base's commit time); null when the archive holds no base. */
  earliest: Type.Union([Type.String(), Type.Null()]),
  /** The commit time of the last archived entry: `--timestamp` must be before it; no timestamp restores it all. */
  latest: Type.Union([Type.String(), Type.Null()]),
  first_index: Type.Union([Type.Integer(), Type.Null()]),
  last_index: Type.Union([Type.Integer(), Type.Null()]),
  bases: Type.Array(BaseSummary),
  segments: Type.Integer({ minimum: 0 }),
  /** Holes in the log (a leader found the entries it needed compacted away); a restore cannot land inside one. */
  breaks: Type.Array(Type.Object({ after: Type.Integer(), resume: Type.Integer(), from: Type.String(), to: Type.String(), reason: Type.String() })),
  /** Restorable spans: [from, to] commit times with no break inside. */
  windows: Type.Array(Type.Object({ from: Type.String(), to: Type.String() })),
});
export type RestorePoints = Static<typeof RestorePoints>;

export const BackupConfigureResponse = Type.Object({ config: Type.Union([BackupConfig, Type.Null()]), index: Type.Integer({ minimum: 0 }), status: BackupStatus });
export type BackupConfigureResponse = Static<typeof BackupConfigureResponse>;

export const BackupNowRequest = Type.Object({ timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })) }, { additionalProperties: false });
export type BackupNowRequest = Static<typeof BackupNowRequest>;

export const BackupNowResponse = Type.Object({ base: BaseSummary, status: BackupStatus });
export type BackupNowResponse = Static<typeof BackupNowResponse>;

export const BackupListResponse = Type.Object({ config: Type.Union([BackupConfig, Type.Null()]), status: BackupStatus, restore_points: Type.Union([RestorePoints, Type.Null()]) });
export type BackupListResponse = Static<typeof BackupListResponse>;
