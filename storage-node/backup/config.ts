/**
 * The backup setting: defaults, and the check of a configure request.
 *
 * The setting is replicated cluster state (a `backup` log entry applied into
 * the `backup_state` table, replication/state-machine.ts), so it survives
 * failover and the leader of the moment archives by it. Defaults:
 * - a segment closes 1 s after its first entry or at 4,096 entries
 *   (whichever comes first), so the archive trails the log by about a second;
 * - a base snapshot every 6 h (and after BASE_EVERY_ENTRIES entries, see
 *   archiver.ts): a restore replays at most that much log;
 * - retention 7 days when none is given (the seed configures 30d).
 */
import { randomBytes } from 'node:crypto';
import { durationMs } from '../../shared/config/duration.js';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { BackupConfig, BackupConfigureRequest } from '../../shared/protocol/backup.js';
import { parseDestination } from './destination.js';

export const DEFAULT_SEGMENT_MS = 1_000;
export const DEFAULT_SEGMENT_ENTRIES = 4_096;
export const DEFAULT_BASE_INTERVAL_MS = 6 * 60 * 60 * 1000;
export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The setting a configure request asks for (null: backups off), or BAD_REQUEST naming every
 * problem at once. `previous`'s lineage is kept while the destination stays the same.
 */
export function configFromRequest(request: BackupConfigureRequest, previous: BackupConfig | null, now: Date): BackupConfig | null {
  const issues: string[] = [];
  if (request.mode === 'off') {
    for (const key of ['destination', 'retention', 'segment_interval', 'segment_entries', 'base_interval'] as const) {
      if (request[key] !== undefined) issues.push(`${key}: not used with mode off`);
    }
    if (issues.length > 0) throw badRequest(issues);
    return null;
  }
  const destination = request.destination ?? previous?.destination;
  if (destination === undefined) issues.push('destination: required (file:///abs/path or s3://bucket/prefix)');
  else {
    try {
      parseDestination(destination);
    } catch (error) {
      issues.push(`destination: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const duration = (key: 'retention' | 'segment_interval' | 'base_interval', fallback: number, min: number): number => {
    const value = request[key];
    if (value === undefined) return fallback;
    const millis = durationMs(value);
    if (millis === undefined) issues.push(`${key}: expected a duration such as 1s, 6h or 30d, got ${JSON.stringify(value)}`);
    else if (millis < min) issues.push(`${key}: at least ${min} ms`);
    return millis ?? fallback;
  };
  const retention = duration('retention', previous?.retention_ms ?? DEFAULT_RETENTION_MS, 0);
  const segmentMs = duration('segment_interval', previous?.segment_ms ?? DEFAULT_SEGMENT_MS, 10);
  const baseInterval = duration('base_interval', previous?.base_interval_ms ?? DEFAULT_BASE_INTERVAL_MS, 100);
  if (issues.length > 0 || destination === undefined) throw badRequest(issues);
  const sameDestination = previous !== null && previous.destination === destination;
  return {
    mode: 'continuous',
    destination,
    retention_ms: retention,
    segment_ms: segmentMs,
    segment_entries: request.segment_entries ?? previous?.segment_entries ?? DEFAULT_SEGMENT_ENTRIES,
    base_interval_ms: baseInterval,
    lineage: sameDestination ? previous.lineage : randomBytes(8).toString('hex'),
    configured_at: now.toISOString(),
  };
}

function badRequest(issues: string[]): GeodeError {
  return new GeodeError(ErrorCode.BAD_REQUEST, `backup configuration refused: ${issues.join('; ')}`, { detail: 'InvalidBackupConfig', extra: { issues } });
}

/** A replicated setting read back from the state machine (anything malformed reads as off). */
export function isBackupConfig(value: unknown): value is BackupConfig {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    c['mode'] === 'continuous' &&
    typeof c['destination'] === 'string' &&
    typeof c['lineage'] === 'string' &&
    [c['retention_ms'], c['segment_ms'], c['segment_entries'], c['base_interval_ms']].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)
  );
}
