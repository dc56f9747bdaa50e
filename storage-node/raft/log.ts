/** The Raft log: stable storage plus the unstable tail, and the commit/applied cursors. */
import type { Entry, Snapshot } from './messages.js';
import { limitSize } from './messages.js';
import type { Storage } from './storage.js';
import { Unstable } from './unstable.js';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed. */
  committed: number;
  /** Highest index the host has applied (as told through advance()). */
  applied: number;

  constructor(storage: Storage) {
    this.storage = storage;
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term at `index`, or undefined when compacted or not yet written. */
  term(index: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** The Raft paper's "at least as up-to-date" comparison of a candidate's last entry with ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Highest index whose entry is durable in storage (everything not in the unstable tail). */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    if (this.unstable.entries.length === 0) return this.lastIndex();
    return this.unstable.offset - 1;
  }

  /** Index of the first entry of `ents` that is new or conflicts with ours; 0 when all are present. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /** The largest index <= `index` whose term is <= `term`: where a rejected leader should probe next. */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    if (index > this.lastIndex()) return { index, term: 0 };
    for (let i = index; ; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
  }

  /** Appends `ents` if the entry before them matches; returns the last new index, or undefined on mismatch. */
  maybeAppend(index: number, logTerm: number, ents: readonly Entry[]): { lastNew: number; appendedFrom: number } | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci === 0) return { lastNew, appendedFrom: 0 };
    if (ci <= this.committed) throw new Error(`raft: conflict at ${ci} would overwrite committed ${this.committed}`);
    this.append(ents.slice(ci - index - 1));
    return { lastNew, appendedFrom: ci };
  }

  append(ents: readonly Entry[]): number {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    if (first.index - 1 < this.committed) throw new Error(`raft: append at ${first.index} below commit ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Entries in [lo, hi) bounded by `maxBytes`; undefined when lo was compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    if (hi > this.lastIndex() + 1) hi = this.lastIndex() + 1;
    if (lo >= hi) return [];
    const uOff = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < uOff) {
      out = this.storage.entries(lo, Math.min(hi, uOff), maxBytes);
      if (out.length < Math.min(hi, uOff) - lo) return out;
    }
    if (hi > uOff) out = out.concat(this.unstable.slice(Math.max(lo, uOff), hi));
    return limitSize(out, maxBytes);
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes) ?? [];
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) throw new Error(`raft: commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed) throw new Error(`raft: applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  restore(snap: Snapshot): void {
    this.committed = snap.meta.index;
    this.unstable.restore(snap);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
