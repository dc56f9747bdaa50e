/**
 * The read-only view of stable storage the core needs, and MemoryStorage,
 * the in-memory implementation used by tests and the simulator. The host
 * writes to its storage itself (after each Ready), then calls advance().
 */
import type { ConfState, Entry, HardState, Snapshot } from './messages.js';
import { emptyConfState, emptyHardState, limitSize } from './messages.js';

export interface InitialState {
  readonly hardState: HardState;
  /** Membership as of the storage's snapshot (conf changes in the log after it are replayed by the core). */
  readonly confState: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at most `maxBytes` (but at least one). Callers keep lo >= firstIndex(), hi <= lastIndex()+1. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry `index`; firstIndex()-1 (the snapshot's index) is answerable; undefined outside. */
  term(index: number): number | undefined;
  /** First index still held as an entry (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot; index 0 means none exists. */
  snapshot(): Snapshot;
}

const emptySnapshot: Snapshot = {
  meta: { index: 0, term: 0, confState: emptyConfState },
  data: new Uint8Array(0),
};

/** Storage held in memory. entries[0] is a dummy carrying the snapshot's index and term. */
export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot = emptySnapshot;
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }];

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.meta.confState };
  }

  hardStateNow(): HardState {
    return this.hardState;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private offset(): number {
    return (this.ents[0] as Entry).index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(index: number): number | undefined {
    const off = this.offset();
    if (index < off || index > this.lastIndex()) return undefined;
    return this.ents[index - off]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new RangeError(`entries(${lo}) is compacted (first ${off + 1})`);
    if (hi > this.lastIndex() + 1) throw new RangeError(`entries up to ${hi - 1} beyond last ${this.lastIndex()}`);
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  /** Every stored entry after the snapshot (for tests and checkers). */
  allEntries(): Entry[] {
    return this.ents.slice(1);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces everything with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = snap;
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: 'normal', data: new Uint8Array(0) }];
  }

  /** Records a snapshot of the state machine at `index` (<= last index). Does not drop entries: see compact(). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) return this.snap;
    const term = this.term(index);
    if (term === undefined) throw new RangeError(`snapshot index ${index} not in log`);
    this.snap = { meta: { index, term, confState }, data };
    return this.snap;
  }

  /** Drops entries up to and including `index`; a snapshot at or after `index` must exist. */
  compact(index: number): void {
    const off = this.offset();
    if (index <= off) return;
    if (index > this.lastIndex()) throw new RangeError(`compact ${index} beyond last ${this.lastIndex()}`);
    if (index > this.snap.meta.index) throw new RangeError(`compact ${index} beyond snapshot ${this.snap.meta.index}`);
    const dummyTerm = this.term(index) ?? 0;
    this.ents = [{ term: dummyTerm, index, type: 'normal', data: new Uint8Array(0) }, ...this.ents.slice(index - off + 1)];
  }

  /** Appends entries, truncating any conflicting tail first. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const off = this.offset();
    const last = (entries[entries.length - 1] as Entry).index;
    if (last <= off) return;
    const usable = first.index <= off ? entries.slice(off + 1 - first.index) : entries;
    const start = (usable[0] as Entry).index;
    if (start > this.lastIndex() + 1) throw new RangeError(`append at ${start} leaves a gap after ${this.lastIndex()}`);
    // In place: a conflicting tail is cut, then the new entries are pushed. Copying the whole array
    // instead (slice + concat) costs time proportional to the log held, on every append: with tens
    // of thousands of entries between snapshots that was a millisecond per batch, and a large
    // short-lived array each time for the garbage collector.
    const ents = this.ents;
    ents.length = start - off;
    for (let i = 0; i < usable.length; i++) ents.push(usable[i] as Entry);
  }
}
