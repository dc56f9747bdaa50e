/** What the leader knows about one follower's log, and the flow control that bounds what it sends. */
import type { Snapshot } from './messages.js';

/**
 * probe: we do not know where the follower's log matches ours; send one append per heartbeat.
 * replicate: it matches; stream appends optimistically, up to maxInflight unacknowledged.
 * snapshot: its next entry was compacted; an InstallSnapshot transfer is in progress.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded FIFO of the last indexes of appends sent but not yet acknowledged. */
export class Inflights {
  private readonly items: number[] = [];
  constructor(readonly capacity: number) {}

  add(lastIndex: number): void {
    if (this.full()) throw new Error('raft: inflights full');
    this.items.push(lastIndex);
  }

  /** Acknowledges every append whose last index is <= `index`. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.items.length && (this.items[n] as number) <= index) n++;
    if (n > 0) this.items.splice(0, n);
  }

  freeFirstOne(): void {
    this.items.shift();
  }

  full(): boolean {
    return this.items.length >= this.capacity;
  }

  count(): number {
    return this.items.length;
  }

  reset(): void {
    this.items.length = 0;
  }
}

/** An InstallSnapshot transfer: the leader pins one snapshot image and sends it chunk by chunk. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** Bytes the follower has acknowledged. */
  acked: number;
  /** Bytes sent so far; chunks in [acked, sent) are in flight (at most maxInflight of them). */
  sent: number;
  /** The last chunk has been sent (since the last rewind). */
  doneSent: boolean;
  /** Heartbeat answers since the last acknowledged progress; a stalled transfer is resent from `acked`. */
  idleHeartbeats: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is outstanding, wait for its answer (or a heartbeat answer). */
  probeSent = false;
  /** Index of the snapshot being sent, in snapshot state. */
  pendingSnapshot = 0;
  transfer: SnapshotTransfer | undefined;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.transfer = undefined;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshot.meta.index;
    this.transfer = { snapshot, acked: 0, sent: 0, doneSent: false, idleHeartbeats: 0 };
  }

  /** An acknowledgement of entries up to `index`; true when it moved `match`. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append whose preceding index was `rejected`; `matchHint` is
   * the follower's guess of where our logs agree. Returns false for stale rejections.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append just sent whose entries end at `lastIndex` (undefined for an empty append). */
  sentEntries(lastIndex: number | undefined): void {
    if (this.state === 'replicate') {
      if (lastIndex !== undefined) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
