/**
 * When a write is acknowledged to the client, per replication mode. Pure
 * arithmetic over the leader's view of its followers, so each rule is tested
 * on its own.
 *
 * - `synchronous` (default): the entry is durable on max(majority, QUORUM SIZE)
 *   voters (the leader counts) and applied on the leader. Nothing acknowledged
 *   is lost while a majority of voters survives.
 * - `semi_synchronous`: durable on the leader and on SYNC REPLICAS other
 *   voters. When 1 + SYNC REPLICAS is less than a majority, an acknowledged
 *   write that has not yet reached a majority is lost if the leader dies
 *   before it does (the new leader may not have it).
 * - `asynchronous`: durable on the leader's disk. Lost on failover unless a
 *   majority had it. A write whose query returns rows still waits for apply,
 *   because the rows come from the applied state.
 *
 * Raft's commit rule never changes: an entry is applied only once a majority
 * of voters has it, whatever the mode.
 */

export type ReplicationMode = 'synchronous' | 'semi_synchronous' | 'asynchronous';

export const REPLICATION_MODES: readonly ReplicationMode[] = ['synchronous', 'semi_synchronous', 'asynchronous'];

export interface ReplicationSettings {
  mode: ReplicationMode;
  /** Voters (leader included) that must hold the entry in synchronous mode; raised to a majority if lower. */
  quorumSize: number;
  /** Followers (voters other than the leader) that must hold the entry in semi-synchronous mode. */
  syncReplicas: number;
}

export const DEFAULT_REPLICATION: ReplicationSettings = { mode: 'synchronous', quorumSize: 0, syncReplicas: 1 };

export interface AckInputs {
  /** The entry's log index. */
  index: number;
  /** The leader's own durable (persisted) last index. */
  leaderDurable: number;
  /** Match index of every OTHER voter, as the leader tracks it (durable on that voter). */
  followerMatches: readonly number[];
  /** Whether the entry has been applied on the leader. */
  applied: boolean;
  /** The statement returns rows, so the client must wait for apply in every mode. */
  needsResult: boolean;
  /**
   * The leader is a voter of its configuration (default). A leader that has appended its own removal
   * is not: its copy then counts toward no quorum, and the voters are the followers alone.
   */
  leaderVotes?: boolean;
}

export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Voters holding the entry durably (the leader among them while it votes). */
function durableCopies(inputs: AckInputs): number {
  let copies = inputs.leaderVotes !== false && inputs.leaderDurable >= inputs.index ? 1 : 0;
  for (const match of inputs.followerMatches) if (match >= inputs.index) copies++;
  return copies;
}

/** Whether the client may be answered now. */
export function isAcknowledged(settings: ReplicationSettings, inputs: AckInputs): boolean {
  const leaderVote = inputs.leaderVotes === false ? 0 : 1;
  const voters = inputs.followerMatches.length + leaderVote;
  switch (settings.mode) {
    case 'synchronous': {
      if (!inputs.applied) return false;
      const needed = Math.min(voters, Math.max(majority(voters), settings.quorumSize));
      return durableCopies(inputs) >= needed;
    }
    case 'semi_synchronous': {
      if (inputs.needsResult && !inputs.applied) return false;
      const needed = leaderVote + Math.min(settings.syncReplicas, voters - leaderVote);
      return inputs.leaderDurable >= inputs.index && durableCopies(inputs) >= needed;
    }
    case 'asynchronous':
      if (inputs.needsResult && !inputs.applied) return false;
      return inputs.leaderDurable >= inputs.index;
  }
}

/** Checks a new setting before it is proposed; returns the error text, or undefined when valid. */
export function validateSetting(setting: 'replication_mode' | 'quorum_size' | 'sync_replicas', value: string | number, voters: number): string | undefined {
  switch (setting) {
    case 'replication_mode':
      return REPLICATION_MODES.includes(value as ReplicationMode) ? undefined : `replication mode must be one of ${REPLICATION_MODES.join(', ')}`;
    case 'quorum_size':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) return 'QUORUM SIZE must be a positive integer';
      return value > voters ? `QUORUM SIZE ${value} is more than the ${voters} voters of this cluster` : undefined;
    case 'sync_replicas':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return 'SYNC REPLICAS must be a non-negative integer';
      return value > voters - 1 ? `SYNC REPLICAS ${value} is more than the ${voters - 1} other voters` : undefined;
  }
}
