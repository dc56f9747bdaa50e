/**
 * Membership as of each applied index, for stamping snapshots. Raft itself
 * runs on the newest configuration in its log, committed or not; a snapshot
 * must instead record the configuration in force at the index it covers,
 * or a node restored from it would act on a membership that may never
 * commit. Fed with committed entries in log order, as they are handed to
 * the state machine.
 *
 * Invariant: `history` is ordered by index, and its first element is the
 * configuration at or before the oldest index a snapshot may still be taken at.
 */
import { applyConfChange, decodeConfChange } from '../raft/index.js';
import type { ConfState, Entry } from '../raft/index.js';

export class AppliedMembership {
  private history: { index: number; conf: ConfState }[];

  /** `base`: the configuration at `baseIndex` (the stored snapshot's). */
  constructor(base: ConfState, baseIndex: number) {
    this.history = [{ index: baseIndex, conf: base }];
  }

  /** Committed entries, in log order, as they go to the state machine. */
  committed(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.type !== 'confChange' || e.index <= this.latestIndex()) continue;
      let conf: ConfState;
      try {
        conf = applyConfChange(this.latest(), decodeConfChange(e.data));
      } catch {
        continue;
      }
      this.history.push({ index: e.index, conf });
    }
  }

  /** A snapshot from the leader replaced the state: its configuration is the one at its index. */
  restored(conf: ConfState, index: number): void {
    this.history = [{ index, conf }];
  }

  /** The configuration in force at `index` (the newest change at or before it). */
  at(index: number): ConfState {
    let conf = (this.history[0] as { conf: ConfState }).conf;
    for (const h of this.history) {
      if (h.index > index) break;
      conf = h.conf;
    }
    return conf;
  }

  /** Forgets changes that no snapshot at or after `index` needs. */
  compacted(index: number): void {
    while (this.history.length > 1 && (this.history[1] as { index: number }).index <= index) this.history.shift();
  }

  private latest(): ConfState {
    return (this.history[this.history.length - 1] as { conf: ConfState }).conf;
  }

  private latestIndex(): number {
    return (this.history[this.history.length - 1] as { index: number }).index;
  }
}
