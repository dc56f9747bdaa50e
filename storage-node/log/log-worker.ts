/**
 * The log's writer thread: owns the Raft log's SQLite connection and commits
 * each batch the host hands over (one transaction, one fsync), in the order
 * posted, so the thread that drives Raft never blocks on the disk.
 */
import { workerData } from 'node:worker_threads';
import { LogFile } from './durable-log.js';
import type { LogWorkerData, PersistBatch } from './durable-log.js';
import type { Snapshot } from '../raft/messages.js';
import { serveCalls } from '../replication/worker-rpc.js';

const { path, sync } = workerData as LogWorkerData;
const file = new LogFile(path, sync);

serveCalls({
  write: (batch: PersistBatch) => {
    file.write(batch);
    return null;
  },
  compact: (args: { snapshot: Snapshot; compactTo: number; compactTerm: number }) => {
    file.compact(args.snapshot, args.compactTo, args.compactTerm);
    return null;
  },
  close: () => {
    file.close();
    return null;
  },
});
