/**
 * Backup metrics (storage-node/backup/), read from the node at scrape time
 * like the cluster metrics (metrics.ts), and exported only by the node that
 * archives (the leader), so a max over nodes is right:
 * - `geode_backup_last_success_timestamp_seconds`: when the archiver last
 *   stored something (alert on `time() - it` growing);
 * - `geode_backup_lag_seconds`: how long committed entries have waited to be
 *   archived (0 when all are; about the segment interval under load);
 * - `geode_backup_bytes_total`: bytes stored in the destination by this node;
 * - `geode_backup_failures_total`: failed attempts (each is logged and retried).
 */
import { Gauge } from 'prom-client';
import type { NodeHandle } from './cluster-node.js';
import { runningTotal } from './metrics.js';
import type { NodeMetrics } from './metrics.js';

export function registerBackupMetrics(metrics: NodeMetrics, handle: NodeHandle): void {
  const registers = [metrics.registry];
  const view = () => handle.current()?.backupMetrics?.();
  new Gauge({
    name: 'geode_backup_last_success_timestamp_seconds',
    help: 'Unix time the archiver last stored a segment, base or manifest (exported by the archiving leader once it has).',
    registers,
    collect() {
      this.reset();
      const v = view();
      if (v?.archiving === true && v.lastSuccessAt !== null) this.set(v.lastSuccessAt / 1000);
    },
  });
  new Gauge({
    name: 'geode_backup_lag_seconds',
    help: 'How long committed entries have waited to be archived, in seconds (0 when all are; exported by the archiving leader).',
    registers,
    collect() {
      this.reset();
      const v = view();
      if (v?.archiving === true && v.lagMs !== null) this.set(v.lagMs / 1000);
    },
  });
  const total = (name: string, help: string, read: (v: NonNullable<ReturnType<typeof view>>) => number): void => {
    runningTotal(metrics, name, help, () => {
      const v = view();
      return v === undefined ? undefined : read(v);
    });
  };
  total('geode_backup_bytes_total', 'Bytes this node stored in the backup destination (segments, bases, pages, manifests).', (v) => v.bytesTotal);
  total('geode_backup_failures_total', 'Failed archiving attempts on this node (each logged and retried with backoff).', (v) => v.failures);
}
