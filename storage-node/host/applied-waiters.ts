/**
 * Reads that wait for this node's applied index to reach an index (a causal
 * token's `after_index`, a linearizable read's read point, a membership
 * change). Each waits until its deadline at most, then fails with TIMEOUT.
 *
 * Invariant: every waiter's index is above the applied index last passed to
 * advance() (a reached index resolves at once and never waits).
 */
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';

interface Waiter {
  index: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class AppliedWaiters {
  private waiters: Waiter[] = [];
  private applied = 0;

  /** Resolves once the applied index reaches `index`; TIMEOUT at `deadline` (epoch ms). */
  wait(index: number, deadline: number): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        index,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new GeodeError(ErrorCode.TIMEOUT, `applied index ${this.applied} did not reach ${index} in time`, { detail: 'AfterIndexNotReached', extra: { applied_index: this.applied } }));
        }, Math.max(0, deadline - Date.now())),
      };
      this.waiters.push(waiter);
    });
  }

  advance(applied: number): void {
    if (applied <= this.applied) return;
    this.applied = applied;
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.index <= applied) {
        clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  failAll(error: Error): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    this.waiters = [];
  }
}
