/**
 * Durations in configuration: strings as the seed writes them (`100ms`, `5s`,
 * `1m`, `30d`), read by the `ms` package, or plain numbers, which are
 * milliseconds (so every existing `*_ms: 300` key reads as before).
 *
 * Stricter than `ms` itself: a negative duration or a fraction of a
 * millisecond (`1.5ms`) is refused rather than rounded, and so is anything
 * `ms` does not read (`5 sec ago`, `1e3`): a config value is never a guess.
 * Note `m` is minutes (`ms`'s grammar): `5m` = 300000.
 */
import ms from 'ms';

export interface DurationBounds {
  /** Smallest accepted value in ms (default 0). */
  min?: number;
  /** Largest accepted value in ms (default: the largest safe integer). */
  max?: number;
}

/**
 * The duration `value` in whole milliseconds; undefined (with nothing reported) when `value` is
 * undefined, and undefined with one `at: problem` line pushed onto `issues` when it is not a
 * duration or is out of `bounds`.
 */
export function parseDurationMs(value: unknown, at: string, issues: string[], bounds: DurationBounds = {}): number | undefined {
  if (value === undefined) return undefined;
  const millis = durationMs(value);
  if (millis === undefined) {
    issues.push(`${at}: expected a duration such as 100ms, 5s or 1m, or a whole number of milliseconds`);
    return undefined;
  }
  const min = bounds.min ?? 0;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (millis < min) {
    issues.push(`${at}: ${String(value)} is below the minimum of ${formatDurationMs(min)}`);
    return undefined;
  }
  if (millis > max) {
    issues.push(`${at}: ${String(value)} is above the maximum of ${formatDurationMs(max)}`);
    return undefined;
  }
  return millis;
}

/** The grammar alone: whole non-negative milliseconds, or undefined. */
export function durationMs(value: unknown): number | undefined {
  let millis: number | undefined;
  if (typeof value === 'number') millis = value;
  else if (typeof value === 'string' && value.trim() !== '') millis = ms(value.trim() as ms.StringValue) as number | undefined;
  if (millis === undefined || !Number.isSafeInteger(millis) || millis < 0) return undefined;
  return millis === 0 ? 0 : millis; // `-0ms` is 0
}

/** `1500` -> `1500ms`, `5000` -> `5s`: what `parseDurationMs` reads back to the same number. */
export function formatDurationMs(millis: number): string {
  return millis !== 0 && millis % 1000 === 0 ? `${millis / 1000}s` : `${millis}ms`;
}
