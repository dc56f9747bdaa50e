/**
 * The backup line of `geode cluster status` (cli/cluster.ts), from the
 * status's `backup` field (shared/protocol/backup.ts BackupStatus): where
 * the leader archives, how far, the lag, and the last failure if archiving
 * is failing. Read tolerantly: a node without backups sends no field.
 */
/** Empty when backups are off or the field is absent. */
export function backupStatusText(backup: unknown): string {
  if (typeof backup !== 'object' || backup === null) return '';
  const b = backup as { mode?: string; state?: string; destination?: string | null; archiver?: string | null; archived_index?: number | null; archived_time?: string | null; lag_ms?: number | null; last_success_at?: string | null; last_error?: { message: string; at: string } | null; failing_since?: string | null };
  if (b.mode !== 'continuous') return '';
  const parts = [`backup ${b.state ?? '-'} to ${b.destination ?? '-'}`, `archiver ${b.archiver ?? '(none)'}`, `archived through ${b.archived_index ?? '-'}${b.archived_time === null || b.archived_time === undefined ? '' : ` (${b.archived_time})`}`];
  if (b.lag_ms !== null && b.lag_ms !== undefined) parts.push(`lag ${Math.round(b.lag_ms)} ms`);
  if (b.last_success_at !== null && b.last_success_at !== undefined) parts.push(`last success ${b.last_success_at}`);
  let text = `${parts.join('  ')}\n`;
  if (b.last_error !== null && b.last_error !== undefined) text += `backup FAILING since ${b.failing_since ?? b.last_error.at}: ${b.last_error.message}\n`;
  return text;
}
