/** The leader's view of every member (Progress), the current configuration, and votes in an election. */
import type { ConfState, NodeId } from './messages.js';
import { Progress } from './progress.js';
import type { VoteResult } from './quorum.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';

export class ProgressTracker {
  voters: ReadonlySet<NodeId> = new Set();
  learners: ReadonlySet<NodeId> = new Set();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort((a, b) => a - b), learners: [...this.learners].sort((a, b) => a - b) };
  }

  /** Switches to `conf`: new members get a fresh Progress at `nextIndex`, removed ones are dropped. */
  setConf(conf: ConfState, nextIndex: number): void {
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    for (const id of [...this.progress.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id)) this.progress.delete(id);
    }
    for (const id of [...conf.voters, ...conf.learners]) {
      const existing = this.progress.get(id);
      const isLearner = this.learners.has(id);
      if (existing === undefined) {
        const pr = new Progress(nextIndex, this.maxInflight, isLearner);
        // A new member gets an election timeout's grace before check-quorum counts it as absent.
        pr.recentActive = true;
        this.progress.set(id, pr);
      } else {
        existing.isLearner = isLearner;
      }
    }
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }

  /** The highest index durable on a majority of voters. */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return voteResult(this.voters, this.votes);
  }

  /** True when a majority of voters was heard from recently; `self` always counts. */
  quorumActive(self: NodeId): boolean {
    const active = new Set<NodeId>();
    for (const [id, pr] of this.progress) if (id === self || pr.recentActive) active.add(id);
    return hasQuorum(this.voters, active);
  }

  /** A single voter that is `self`: no one else to ask. */
  isSingletonVoter(self: NodeId): boolean {
    return this.voters.size === 1 && this.voters.has(self);
  }
}
