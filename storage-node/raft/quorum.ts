/** Majority arithmetic over a voter set; no state of its own. */
import type { NodeId } from './messages.js';

export type VoteResult = 'won' | 'lost' | 'pending';

export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The highest index that a majority of voters has durably stored. 0 with no voters. */
export function committedIndex(voters: Iterable<NodeId>, matchOf: (id: NodeId) => number): number {
  const matches: number[] = [];
  for (const id of voters) matches.push(matchOf(id));
  if (matches.length === 0) return 0;
  matches.sort((a, b) => b - a);
  return matches[majority(matches.length) - 1] ?? 0;
}

/** Outcome of an election given the votes received so far (absent voters have not answered). */
export function voteResult(voters: Iterable<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  let missing = 0;
  let count = 0;
  for (const id of voters) {
    count++;
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
    else rejected++;
  }
  if (count === 0) return 'won';
  const q = majority(count);
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

/** True when the members in `acked` form a majority of `voters`. */
export function hasQuorum(voters: Iterable<NodeId>, acked: ReadonlySet<NodeId>): boolean {
  let count = 0;
  let yes = 0;
  for (const id of voters) {
    count++;
    if (acked.has(id)) yes++;
  }
  return yes >= majority(count);
}
