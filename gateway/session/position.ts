/**
 * Causal positions: (region epoch, index), an index in the log of the
 * region that was primary at that epoch (shared/protocol/region.ts). A
 * single-group deployment is always at epoch 1, so there a position is its
 * index and everything here reduces to comparing indexes.
 *
 * Order: a higher epoch wins, then the higher index. That is the order a
 * reader needs: a later epoch starts from the previous epoch's fork, so
 * (e + 1, j) covers every (e, i) that survived the promotion, and an (e, i)
 * past the fork was set aside by the promotion and is visible nowhere.
 * Waiting for it could not help, so the later epoch's position is the one
 * to ask for.
 */
import type { Position } from '../../shared/protocol/region.js';

export type { Position };

/** Nothing written yet: what a session or a gateway starts from. */
export const ORIGIN: Position = Object.freeze({ epoch: 1, index: 0 });

/** A write answer's or a token's epoch: absent means epoch 1 (a single-group deployment, or a token from before regions). */
export function epochOr1(epoch: unknown): number {
  return typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 1 ? epoch : 1;
}

/** Negative when `a` comes before `b`, 0 when equal, positive after. */
export function comparePositions(a: Position, b: Position): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.index - b.index;
}

/** The later of two positions (`a` on a tie, so unchanged sessions stay the same object). */
export function laterPosition(a: Position, b: Position): Position {
  return comparePositions(b, a) > 0 ? b : a;
}

/** Whether a read after `position` waits for anything: past epoch 1's start. */
export function isPastOrigin(position: Position): boolean {
  return position.index > 0 || position.epoch > 1;
}

/**
 * What a replica has applied, as a number comparable with `after.index`, for routing's "replicas known
 * to be behind go last" (routing/pipeline.ts `preferApplied`). `applied` is the replica's applied
 * source position (undefined: unknown, counted as behind). At a later epoch than `after`, it has
 * everything of `after` that anyone can have: Number.MAX_SAFE_INTEGER; at an earlier one, nothing: 0.
 */
export function appliedTowards(applied: Position | undefined, after: Position): number {
  if (applied === undefined) return 0;
  if (applied.epoch > after.epoch) return Number.MAX_SAFE_INTEGER;
  if (applied.epoch < after.epoch) return 0;
  return applied.index;
}

/** `{epoch, index}` from JSON (a node's `meta.position`), or undefined when it is not one. */
export function positionFrom(value: unknown): Position | undefined {
  const p = value as { epoch?: unknown; index?: unknown } | null;
  if (typeof p !== 'object' || p === null) return undefined;
  const { epoch, index } = p;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) return undefined;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) return undefined;
  return { epoch, index };
}
