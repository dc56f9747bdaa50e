/**
 * The backup worker thread: runs the archiver (archiver.ts) for the main
 * thread's BackupHost. Compression, checksums, the S3 SDK and file IO all
 * live here, so archiving never holds up the thread that drives Raft. Calls
 * that return promises run concurrently (a base upload and segments); the
 * archiver serializes what touches the manifest.
 */
import { rm } from 'node:fs/promises';
import { serveCalls } from '../replication/worker-rpc.js';
import { unpackEntries } from '../replication/packed-entries.js';
import type { PackedEntries } from '../replication/packed-entries.js';
import { Archiver } from './archiver.js';
import type { Session } from './archiver.js';
import { openDestination } from './destination.js';

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
