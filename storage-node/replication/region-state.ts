/**
 * The region state every group replicates: which region writes at which
 * epoch, the history of epochs, and the source position this region has
 * applied. It lives in the graph database (`region_state`, one row), written
 * in the same transaction as the entries that change it, so a position can
 * never disagree with the graph it describes.
 *
 * Invariants:
 * - `epoch` only grows; an entry naming an older epoch changes nothing.
 * - Exactly one region is `primary` per epoch: the one a promotion named.
 *   A region applies a write of its own only while it is `primary`; any
 *   other write entry is refused at apply, identically on every replica
 *   (the fence that holds even when a stale leader proposed the write).
 * - `position` is (epoch, index) in the primary's log. On the primary it is
 *   its own applied index at its epoch; in a follower region it moves only
 *   through applied stream entries, one source entry at a time, never back
 *   and never past a gap (`prev` must equal the position's index).
 * - A former primary that learns of a higher epoch after accepting writes
 *   the new primary never received (its position is past the new epoch's
 *   fork) is `fenced`: it refuses writes and waits to be asked to rejoin.
 *   Its diverged entries are then set aside (QuarantineRecord), never
 *   merged, and it takes the new primary's image.
 *
 * Pure functions over plain objects, so the rules are tested without SQLite.
 */
import type { EpochRecord, Position, QuarantineRecord, RegionState as RegionStateName } from '../../shared/protocol/region.js';
import type { RegionCommand } from './command.js';

export type { EpochRecord, Position, QuarantineRecord } from '../../shared/protocol/region.js';

export interface RegionState {
  epoch: number;
  primary: string;
  state: RegionStateName;
  position: Position;
  history: EpochRecord[];
  quarantined: QuarantineRecord[];
  /** Automatic failover: the vote this group recorded for a coming epoch (one per epoch, replicated, so a new leader cannot vote again). */
  vote?: { epoch: number; candidate: string };
}

/** Who this group is: its region's name and the region the deployment starts with as primary. */
export interface RegionIdentity {
  self: string;
  initialPrimary: string;
}

/** A group that has applied nothing yet: epoch 1, the configured primary, position (1, 0). */
export function initialRegionState(identity: RegionIdentity): RegionState {
  return {
    epoch: 1,
    primary: identity.initialPrimary,
    state: identity.self === identity.initialPrimary ? 'primary' : 'follower',
    position: { epoch: 1, index: 0 },
    history: [{ epoch: 1, primary: identity.initialPrimary, fork: null, start: 0 }],
    quarantined: [],
  };
}

/**
 * The epoch in which this region, as the write region, wrote its own log entry `index`: the record of
 * an epoch it led that started at or before `index` and had not ended before it. Undefined when it was
 * not the write region at that index. A write's answer names this epoch, not the region's current
 * one: a write applied just before a planned handover is answered after the handover entry applied
 * too, and naming the new epoch would tell a gateway that this region writes at it.
 */
export function epochOfOwnEntry(state: RegionState, self: string, index: number): number | undefined {
  const history = state.history;
  for (let i = history.length - 1; i >= 0; i--) {
    const r = history[i] as EpochRecord;
    if (r.primary !== self || r.start === null || index < r.start) continue;
    // An epoch's end is recorded as the fork of the epoch that followed it.
    for (let j = i + 1; j < history.length; j++) {
      const fork = (history[j] as EpochRecord).fork;
      if (fork !== null && fork.epoch === r.epoch && index > fork.index) return undefined;
    }
    return r.epoch;
  }
  return undefined;
}

/** a < b, a = b or a > b within one epoch; undefined across epochs (see `covers`). */
export function comparePositions(a: Position, b: Position): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  return a.index - b.index;
}

/**
 * Whether a region at `position`, with `history`, holds every entry up to `target` of the primary
 * lineage. Within an epoch, by index. A target of an older epoch is held if the region went past that
 * epoch's end through its fork point and the target is at or before the fork (entries after a fork
 * were never part of the lineage this region follows). A target of a newer epoch is not held yet.
 */
export function covers(position: Position, history: readonly EpochRecord[], target: Position): boolean {
  if (target.epoch === position.epoch) return position.index >= target.index;
  if (target.epoch > position.epoch) return false;
  const next = history.find((r) => r.epoch === target.epoch + 1);
  if (next === undefined || next.fork === null) return false;
  return target.index <= next.fork.index;
}

/** What applying a region command does to the state (`index`: the command's own log index in this group). */
export function applyRegionCommand(state: RegionState, identity: RegionIdentity, command: RegionCommand, index: number): RegionState {
  if (command.vote !== undefined) {
    const { vote } = command;
    // One vote per epoch, and only for an epoch still to come.
    if (vote.epoch <= state.epoch || (state.vote !== undefined && state.vote.epoch >= vote.epoch)) return state;
    return { ...state, vote: { ...vote } };
  }
  if (command.rejoin === true) {
    if (command.epoch !== state.epoch || state.state !== 'fenced') return state;
    return { ...state, state: 'follower' };
  }
  if (command.epoch < state.epoch) return state;
  if (command.epoch === state.epoch) {
    // The same epoch again: fill in what was unknown when this region first learned of it.
    const history = state.history.map((r) =>
      r.epoch === command.epoch && r.primary === command.primary ? { ...r, fork: r.fork ?? command.fork, start: r.start ?? command.start } : r,
    );
    return { ...state, history };
  }
  const wasPrimary = state.state === 'primary';
  let fork = command.fork;
  if (wasPrimary && fork === null) {
    // A planned handover asks the primary itself to stop: the epoch ends here, at this very entry.
    fork = { epoch: state.epoch, index: index };
  }
  const becomesPrimary = command.primary === identity.self;
  const record: EpochRecord = { epoch: command.epoch, primary: command.primary, fork, start: becomesPrimary ? index : command.start };
  const history = [...state.history.filter((r) => r.epoch < command.epoch), record];
  if (becomesPrimary) return { ...state, epoch: command.epoch, primary: command.primary, state: 'primary', position: { epoch: command.epoch, index }, history };
  let next: RegionStateName = 'follower';
  let position = state.position;
  if (wasPrimary) {
    // A primary's position is its own applied index: the entry before this one, or this one when the handover ends the epoch here.
    position = { epoch: state.epoch, index: command.fork === null ? index : index - 1 };
    // Writes accepted after the new primary's fork diverged: refuse writes until asked to rejoin.
    if (fork !== null && fork.epoch === state.epoch && position.index > fork.index) next = 'fenced';
  }
  return { ...state, epoch: command.epoch, primary: command.primary, state: next, position, history };
}

/**
 * How a source region serves a follower region that asks from `from`: stream its own log from a local
 * index (`entries`, up to `until` when that epoch has ended here), send its image (`image`: it cannot
 * replay what is asked, or the follower diverged, in which case `fork` says from where), or point at the
 * region that can (`redirect`).
 *
 * The follower's position is walked forward through the history's fork points: a follower exactly at
 * the end of an epoch continues at the start of the next one.
 */
export type StreamPlan =
  | { kind: 'entries'; epoch: number; after: number; until: number | null }
  | { kind: 'image'; diverged: Position | null }
  | { kind: 'redirect'; primary: string; epoch: number };

export function planStream(state: RegionState, self: string, from: Position): StreamPlan {
  let { epoch, index } = from;
  const byEpoch = new Map(state.history.map((r) => [r.epoch, r]));
  if (!byEpoch.has(epoch)) {
    // An epoch this region never heard of: only an image can bring the follower onto this history.
    return state.state === 'primary' ? { kind: 'image', diverged: null } : { kind: 'redirect', primary: state.primary, epoch: state.epoch };
  }
  for (;;) {
    const record = byEpoch.get(epoch)!;
    const next = byEpoch.get(epoch + 1);
    const end = next?.fork ?? null;
    if (record.primary === self) {
      if (next === undefined) return { kind: 'entries', epoch, after: index, until: null };
      if (end === null) return { kind: 'redirect', primary: next.primary, epoch: next.epoch };
      if (index < end.index) return { kind: 'entries', epoch, after: index, until: end.index };
      if (index > end.index) return { kind: 'image', diverged: end };
    } else {
      if (next === undefined || end === null) return { kind: 'redirect', primary: state.primary, epoch: state.epoch };
      if (index > end.index) return state.state === 'primary' ? { kind: 'image', diverged: end } : { kind: 'redirect', primary: state.primary, epoch: state.epoch };
      if (index < end.index) return state.state === 'primary' ? { kind: 'image', diverged: null } : { kind: 'redirect', primary: state.primary, epoch: state.epoch };
    }
    // Exactly at the end of this epoch: continue where the next one began.
    if (next.start === null) return { kind: 'redirect', primary: next.primary, epoch: next.epoch };
    epoch = next.epoch;
    index = next.start;
  }
}
