/**
 * The backup worker thread: runs the archiver (archiver.ts) for the main
 * thread's BackupHost. Compression, checksums, the S3 SDK and file IO all
 * live here, so archiving never holds up the thread that drives Raft. Calls
 * that return promises run concurrently (a base upload and segments); the
 * archiver serializes what touches the manifest.
 */
import { setPriority } from 'node:os';
import { rm } from 'node:fs/promises';
import { serveCalls } from '../replication/worker-rpc.js';
import { unpackEntries } from '../replication/packed-entries.js';
import type { PackedEntries } from '../replication/packed-entries.js';
import { Archiver } from './archiver.js';
import type { Session } from './archiver.js';
import { openDestination } from './destination.js';

/**
 * Archiving is background work: this thread runs at a lower CPU priority than the threads that drive
 * Raft, apply and serve (nice +10, as RocksDB lowers its compaction threads). On Linux a nice value
 * belongs to a thread, and `setPriority(0, ...)` sets the calling thread's alone. On an idle core it
 * changes nothing; on a saturated machine the archiver takes its CPU in the gaps instead of in a burst
 * on the write path each time a segment closes (bench:backup measured the bursts as p99 write latency
 * tripling and a 10-25% lower closed-loop throughput with a 3-node cluster on two cores). Under
 * sustained saturation it still gets a share (about a tenth of a core against one busy thread); if it
 * falls behind, `geode_backup_lag_seconds` shows it. Where the call is refused, it runs as it is.
 */
export const BACKUP_WORKER_NICE = 10;
try {
  setPriority(0, BACKUP_WORKER_NICE);
} catch {
  // Not permitted or not supported: the archiver runs at the process's priority.
}

const archiver = new Archiver();

// A GeodeError crosses back as its JSON body (worker-rpc.ts), code and detail included, so the host
// tells a manifest conflict from a failing destination.
const guarded = <T>(work: () => Promise<T>): Promise<T> => work();

serveCalls({
  activate: (session: Session) => guarded(() => archiver.activate(session)),
  deactivate: () => {
    archiver.deactivate();
    return null;
  },
  markGap: () => {
    archiver.markGap();
    return null;
  },
  segment: (args: { entries: PackedEntries }) => guarded(() => archiver.segment(unpackEntries(args.entries))),
  base: (args: { path: string }) =>
    guarded(async () => {
      try {
        return await archiver.base(args.path);
      } finally {
        await rm(args.path, { force: true });
      }
    }),
  retain: (args: { now: number; retentionMs: number }) => guarded(() => archiver.retain(args.now, args.retentionMs)),
  restorePoints: () => guarded(() => archiver.restorePoints()),
  bytesTotal: () => archiver.bytesTotal,
  /** Can the destination be written? (configure checks before the setting is replicated) */
  probe: (args: { destination: string }) =>
    guarded(async () => {
      const destination = await openDestination(args.destination);
      try {
        const key = `.geode-probe-${process.pid}-${Date.now()}`;
        await destination.put(key, 'probe\n');
        await destination.delete([key]);
        const manifest = await destination.get('manifest.json');
        return { empty: manifest === undefined };
      } finally {
        destination.close();
      }
    }),
});
