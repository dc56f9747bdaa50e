/**
 * The replicated backup state (storage-node/backup/): the setting, and how far
 * the archiving leader has stored the log. Applied from `backup` log entries
 * in the same SQLite transaction as the graph (state-machine.ts, table
 * `backup_state`), so every node knows both at the same index and a new leader
 * takes over with them. Pure: tested alone.
 *
 * - A new setting replaces the old one; turning backups off (null) or moving
 *   to another lineage forgets the recorded progress.
 * - Progress is recorded only for the current lineage and only forward: a
 *   late entry from a deposed leader can never move it back.
 */
import type { BackupConfig } from '../../shared/protocol/backup.js';
import type { BackupCommand } from './command.js';

export interface BackupState {
  config: BackupConfig | null;
  /** The archive holds the log through `index` (commit time `time`, ms), for `lineage`. */
  archived: { index: number; time: number; lineage: string } | null;
}

export const NO_BACKUP: BackupState = { config: null, archived: null };

export function applyBackupCommand(state: BackupState, command: BackupCommand): BackupState {
  let next = state;
  if (command.config !== undefined) {
    const config = command.config;
    const keep = config !== null && state.archived !== null && state.archived.lineage === config.lineage;
    next = { config, archived: keep ? state.archived : null };
  }
  const archived = command.archived;
  if (archived !== undefined && next.config !== null && archived.lineage === next.config.lineage && (next.archived === null || archived.index > next.archived.index)) {
    next = { ...next, archived: { ...archived } };
  }
  return next;
}

/** The stored JSON read back; anything unreadable is no backup. */
export function parseBackupState(text: string | undefined): BackupState {
  if (text === undefined) return NO_BACKUP;
  try {
    const parsed = JSON.parse(text) as Partial<BackupState>;
    return { config: parsed.config ?? null, archived: parsed.archived ?? null };
  } catch {
    return NO_BACKUP;
  }
}
