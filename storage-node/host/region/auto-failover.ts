/**
 * Automatic failover between regions (`failover_policy: automatic`): the
 * rules, pure, so they are tested without processes. region-host.ts runs them.
 *
 * A promotion is decided by a majority of all configured regions, never by
 * one region or gateway alone. Each region's group is the voter (its leader
 * speaks for it, its vote is replicated in its own Raft group, so a leader
 * change cannot vote twice):
 *
 * 1. A follower region's leader that has not reached the primary region for
 *    `failover_after` looks at the regions it can see and picks the
 *    candidate: among regions with a `write_priority` (read replicas have
 *    none), reachable, and within their `replication_lag_max` (or not
 *    behind at all when they have none), the lowest priority, then the
 *    furthest position, then the name. If that is itself, it asks for votes.
 * 2. A region grants its vote for epoch E+1 to a candidate when it is still
 *    at epoch E, has not voted at E+1 for another region, does not reach the
 *    primary either (for at least half of `failover_after`, its own
 *    observation), and the candidate's position is not behind its own (the
 *    Raft rule: never elect a region that lacks what a voter has).
 * 3. With a majority of regions (itself included), the candidate promotes
 *    itself exactly as a forced promotion does (it waits out the old
 *    primary's epoch confirmation first).
 *
 * Fencing under a partition: in automatic mode a primary's confirmation
 * round counts only when a majority of regions answered it, so a primary cut
 * off from the majority stops taking writes within the confirmation window,
 * which is far shorter than `failover_after`. Automatic failover therefore
 * needs at least three regions (with two, the majority is both, and a dead
 * primary could never be replaced); with fewer it stays manual, and the node
 * says so in its log.
 */
import type { Position } from '../../replication/region-state.js';

export interface CandidateView {
  name: string;
  writePriority: number | undefined;
  reachable: boolean;
  /** The region's lag as it reports it; undefined when unknown. */
  lagMs: number | undefined;
  lagMaxMs: number | undefined;
  position: Position | undefined;
  /** Is this region the primary (never a candidate)? */
  primary: boolean;
}

export function majorityOf(regions: number): number {
  return Math.floor(regions / 2) + 1;
}

function ahead(a: Position | undefined, b: Position | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.index - b.index;
}

/** The region that should become primary, among those this region can see; undefined when none qualifies. */
export function chooseCandidate(regions: readonly CandidateView[]): string | undefined {
  const eligible = regions.filter((r) => {
    if (r.primary || !r.reachable || r.writePriority === undefined) return false;
    if (r.lagMaxMs === undefined) return true;
    return r.lagMs !== undefined && r.lagMs <= r.lagMaxMs;
  });
  eligible.sort((a, b) => (a.writePriority! - b.writePriority!) || -ahead(a.position, b.position) || a.name.localeCompare(b.name));
  return eligible[0]?.name;
}

export interface VoteRequest {
  epoch: number;
  candidate: string;
  position: Position;
}

export interface VoterState {
  epoch: number;
  /** The vote this region's group recorded, if any. */
  votedFor: { epoch: number; candidate: string } | undefined;
  /** How long this region has not reached the primary, ms; undefined when it reaches it. */
  primaryUnreachableMs: number | undefined;
  failoverAfterMs: number;
  position: Position;
  /** Is this region the primary itself? A primary never votes itself out. */
  primary: boolean;
  self: string;
}

/** Why the vote is refused, or undefined when it is granted. */
export function voteRefusal(voter: VoterState, request: VoteRequest): string | undefined {
  if (voter.primary) return `region ${voter.self} is the primary`;
  if (request.epoch !== voter.epoch + 1) return `region ${voter.self} is at epoch ${voter.epoch}; a vote is for epoch ${voter.epoch + 1}`;
  if (voter.votedFor !== undefined && voter.votedFor.epoch === request.epoch && voter.votedFor.candidate !== request.candidate) {
    return `region ${voter.self} voted for ${voter.votedFor.candidate} at epoch ${request.epoch}`;
  }
  if (request.candidate !== voter.self) {
    if (voter.primaryUnreachableMs === undefined || voter.primaryUnreachableMs < voter.failoverAfterMs / 2) return `region ${voter.self} still reaches the primary`;
    if (ahead(request.position, voter.position) < 0) return `the candidate is at (${request.position.epoch}, ${request.position.index}), behind region ${voter.self} at (${voter.position.epoch}, ${voter.position.index})`;
  }
  return undefined;
}
