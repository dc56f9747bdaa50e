/** Wire and persistence types of the consensus core. Plain data: the host encodes them. */

/** A member's id. 0 means "nobody" (no leader known, no vote cast). */
export type NodeId = number;
export const NO_NODE: NodeId = 0;

export type EntryType = 'normal' | 'confChange';

/** An entry type as a number, where the host stores or sends entries (log rows, frames, thread hand-offs). */
export function entryTypeCode(type: EntryType): number {
  return type === 'confChange' ? 1 : 0;
}

/** The entry type of a code from entryTypeCode(); anything else reads as normal. */
export function entryTypeOf(code: number): EntryType {
  return code === 1 ? 'confChange' : 'normal';
}

/** One log entry. `data` is opaque to the core except for confChange entries (see confchange.ts). */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** Membership: voters count toward elections and commit; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's image at `meta.index`, opaque to the core. */
  readonly data: Uint8Array;
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state worth telling the host about; never persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** A confirmed linearizable read point: serve `ctx` once applied index >= `index`. */
export interface ReadState {
  readonly index: number;
  readonly ctx: string;
}

export type MessageType =
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snap'
  | 'snapResp'
  | 'readIndex'
  | 'readIndexResp'
  | 'timeoutNow';

/** One piece of an InstallSnapshot transfer. */
export interface SnapshotChunk {
  /** Byte offset of `data` within the whole snapshot image. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** True on the last chunk. */
  readonly done: boolean;
}

/**
 * A message between members. Field meanings follow etcd's raftpb.Message:
 * `index`/`logTerm` describe the entry preceding `entries` (app) or the sender's
 * last entry (votes); on responses `index` is what is acknowledged or rejected.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  /** The leader's commit index (app), or min(match, commit) on heartbeats (a follower may not hold more). */
  commit: number;
  /**
   * The leader's own commit index, on app and heartbeat messages: what a follower must have applied
   * to be caught up (its replication lag), even when `commit` is capped by what it holds.
   */
  leaderCommit?: number;
  reject: boolean;
  /** On a rejected appResp: the follower's guess for the last matching index. On snapResp: bytes received. */
  rejectHint: number;
  /** ReadIndex context on heartbeats, their responses and readIndex messages. */
  context: string;
  /** A vote requested on behalf of a leadership transfer: voters ignore their leader lease. */
  transfer: boolean;
  snapshot?: SnapshotMeta;
  chunk?: SnapshotChunk;
  /**
   * Never set by the core. The leader's host stamps its clock here on outgoing
   * app/heartbeat messages so a follower's host can compute replication lag in time.
   */
  leaderTime?: number;
  /**
   * Never set by the core. A follower's host stamps its applied index on appResp and heartbeatResp, so
   * the leader knows how far each member has applied (status, replication lag), not only what it holds.
   */
  applied?: number;
}

/** A message with defaults for every field not given. */
export function message(fields: Pick<Message, 'type' | 'from' | 'to'> & Partial<Message>): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: '',
    transfer: false,
    ...fields,
  };
}

export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed; persist before sending `messages`. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage (may overwrite a conflicting tail). */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: persist it and install it into the state machine. */
  readonly snapshot?: Snapshot;
  /** Send only after `hardState`, `entries` and `snapshot` are durable. */
  readonly messages: readonly Message[];
  /** Committed entries to apply, in order. */
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

export const emptyConfState: ConfState = { voters: [], learners: [] };
export const emptyHardState: HardState = { term: 0, vote: NO_NODE, commit: 0 };

export function entrySize(entry: Entry): number {
  return entry.data.byteLength;
}

/** Keeps a prefix of `entries` within `maxBytes`, but always at least one entry. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entrySize(entries[i] as Entry);
    if (size > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}
