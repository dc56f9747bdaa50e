/**
 * The apply worker: owns the graph database's write connection and applies
 * committed entries in log order (state-machine.ts), off the thread that
 * drives Raft. Between batches it advances online schema work.
 */
import { workerData } from 'node:worker_threads';
import { GraphStateMachine } from './state-machine.js';
import type { ApplyOutcome } from './state-machine.js';
import { unpackEntries } from './packed-entries.js';
import type { PackedEntries } from './packed-entries.js';
import type { ReplicationSettings } from './modes.js';
import { serveCalls } from './worker-rpc.js';
import type { RegionIdentity, RegionState } from './region-state.js';
import type { BackupState } from './backup-state.js';

export interface ApplyWorkerData {
  graphPath: string;
  /** This group's region and the deployment's first primary (region-state.ts); absent: a single region. */
  region?: RegionIdentity;
}

export interface AppliedBatch {
  /** Empty when the call asked for none. */
  outcomes: ApplyOutcome[];
  applied: number;
  /** Replicated settings; only filled in when `schemaChanged`. */
  settings: Partial<ReplicationSettings>;
  /** A schema statement or setting changed state that readers cache. */
  schemaChanged: boolean;
  /** Seconds the batch took here (one SQLite transaction), for metrics. */
  seconds: number;
  /** The region state, when it changed in this batch (a primary's position follows `applied` and is not a change). */
  region?: RegionState;
  /** A stream entry was refused for a gap (or an image for its digest): the DR stream must resume from the position. */
  regionGap?: boolean;
  /** An image from the DR stream replaced the graph: readers must reopen it. */
  imageInstalled?: boolean;
  /** The backup state (backup-state.ts), when it changed in this batch. */
  backup?: BackupState;
}

const { graphPath, region } = workerData as ApplyWorkerData;
const machine = new GraphStateMachine(graphPath, region);
let regionSeen = -1;
let backupSeen = -1;

/** The backup state if it changed since the main thread last heard it. */
function backupChange(): { backup?: BackupState } {
  if (machine.backupVersion === backupSeen) return {};
  backupSeen = machine.backupVersion;
  return { backup: machine.backupState() };
}

/** The region state if it changed since the main thread last heard it. */
function regionChange(): { region?: RegionState } {
  if (machine.regionVersion === regionSeen) return {};
  regionSeen = machine.regionVersion;
  return { region: machine.regionState() };
}
let backgroundScheduled = false;
let backgroundFinished = false;

function scheduleBackground(): void {
  if (backgroundScheduled) return;
  backgroundScheduled = true;
  setImmediate(function step() {
    // Small slices, so an apply call never waits long behind online index builds.
    if (machine.runBackground(500)) setImmediate(step);
    else {
      backgroundScheduled = false;
      backgroundFinished = true;
    }
  });
}

serveCalls({
  info: () => {
    regionSeen = machine.regionVersion;
    backupSeen = machine.backupVersion;
    return { applied: machine.appliedIndex, settings: machine.settings(), region: machine.regionState(), backup: machine.backupState() };
  },
  apply: (args: { entries: PackedEntries; outcomes?: boolean }): AppliedBatch => {
    const started = performance.now();
    const outcomes = machine.apply(unpackEntries(args.entries));
    const seconds = (performance.now() - started) / 1000;
    let schemaChanged = backgroundFinished;
    backgroundFinished = false;
    for (const o of outcomes) {
      if (o.ok && o.result !== null && (o.result.kind === 'schema' || o.result.kind === 'cluster') && !o.duplicate) schemaChanged = true;
    }
    if (schemaChanged) scheduleBackground();
    // The caller may not need the outcomes (nobody waits on a follower): then they are not copied back.
    // Settings are read back only when a statement may have changed them (the caller looks at them only then).
    const imageInstalled = machine.takeImageInstalled();
    if (imageInstalled) schemaChanged = true;
    const gap = machine.takeRegionGap();
    return {
      outcomes: args.outcomes === false ? [] : outcomes,
      applied: machine.appliedIndex,
      settings: schemaChanged ? machine.settings() : {},
      schemaChanged,
      seconds,
      ...regionChange(),
      ...backupChange(),
      ...(gap ? { regionGap: true } : {}),
      ...(imageInstalled ? { imageInstalled: true } : {}),
    };
  },
  // Answers when the copy is done; applies keep running between its slices.
  snapshot: (args: { path: string }) => machine.snapshotTo(args.path),
  // Synchronous: an apply call posted after it (entries past the snapshot) must run on the restored graph.
  restore: (args: { path: string }) => {
    const applied = machine.restoreFrom(args.path);
    regionSeen = machine.regionVersion;
    backupSeen = machine.backupVersion;
    return { applied, settings: machine.settings(), region: machine.regionState(), backup: machine.backupState() };
  },
  checksum: () => {
    // Online work changes physical layout only; finish it so replicas compare equal at the same index.
    while (machine.runBackground(10_000));
    return { applied: machine.appliedIndex, checksum: machine.checksum(), position: machine.regionState().position };
  },
});
