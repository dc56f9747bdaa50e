/** The pure Raft consensus core: see README.md. */
export * from './messages.js';
export type { Random } from './prng.js';
export { Prng } from './prng.js';
export type { VoteResult } from './quorum.js';
export { committedIndex, hasQuorum, majority, voteResult } from './quorum.js';
export type { InitialState, Storage } from './storage.js';
export { MemoryStorage } from './storage.js';
export { RaftLog } from './log.js';
export { Unstable } from './unstable.js';
export type { ProgressState, SnapshotTransfer } from './progress.js';
export { Inflights, Progress } from './progress.js';
export { ProgressTracker } from './tracker.js';
export type { ConfChange, ConfChangeType } from './confchange.js';
export { applyConfChange, checkConfChange, decodeConfChange, encodeConfChange } from './confchange.js';
export type { ProposeResult, RaftConfig, Rejected, RejectReason, RequestResult } from './raft.js';
export { Raft } from './raft.js';
export type { Status } from './rawnode.js';
export { RawNode } from './rawnode.js';
