/**
 * Turns on V8's linear-time regexp engine for this process, once, before any
 * regexp of the engine is created (modules that build regexps import this
 * file first).
 *
 * - `--enable-experimental-regexp-engine-on-excessive-backtracks`: a regexp
 *   that backtracks more than 50,000 times re-runs on the linear-time engine,
 *   so catastrophic backtracking (`(a+)+$`) cannot hang the thread. It applies
 *   only to regexps that engine can run (see `canRunInLinearTime`).
 * - `--enable-experimental-regexp-engine`: recognizes the `l` flag, which is
 *   how we ask V8 whether a pattern can run in linear time.
 * The flags are process-wide (worker threads included) and setting them again is harmless.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** Whether V8's linear-time engine accepts `source` with `flags` (it refuses backreferences, lookaround, `i`, and counts above 16). */
export function canRunInLinearTime(source: string, flags: string): boolean {
  try {
    new RegExp(source, flags + 'l');
    return true;
  } catch {
    return false;
  }
}
