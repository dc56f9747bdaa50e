/**
 * The log's writer thread: owns the Raft log's SQLite connection and commits
 * each batch the host hands over (one transaction, one fsync), in the order
 * posted, so the thread that drives Raft never blocks on the disk.
 */
import { workerData } from 'node:worker_threads';
import { LogFile } from './durable-log.js';
import type { LogWorkerData, PostedBatch, SnapshotFile } from './durable-log.js';
import { unpackEntries } from '../replication/packed-entries.js';
import type { Snapshot } from '../raft/messages.js';
import { serveCalls } from '../replication/worker-rpc.js';

const { path, sync } = workerData as LogWorkerData;
const file = new LogFile(path, sync);

serveCalls({
  /** Answers the seconds the write took here (SQLite and fsync), for the log's metrics. */
  write: (batch: PostedBatch) => {
    const started = performance.now();
    file.write({ hardState: batch.hardState, snapshot: batch.snapshot, entries: unpackEntries(batch.entries) });
    return (performance.now() - started) / 1000;
  },
  compact: (args: { meta: Snapshot['meta']; image: SnapshotFile; compactTo: number; compactTerm: number }) => {
    file.compact(args.meta, args.image, args.compactTo, args.compactTerm);
    return null;
  },
  close: () => {
    file.close();
    return null;
  },
});
