/**
 * Supervision of node processes (opt-in; `geode dev` turns it on): what a
 * supervised process's state is, what is reported when it exits or comes
 * back, and the restart policy.
 *
 * The policy is Kubernetes' CrashLoopBackOff in small: a process that exits
 * without being asked to is started again after a delay that doubles with
 * each consecutive exit (0.5 s, 1 s, 2 s ... capped at 30 s), and the count
 * starts over once a process has stayed up for a minute. A node that dies at
 * once on every start therefore costs one start per 30 s, never a busy loop.
 * Pure: callers pass the uptime; the launcher (launcher.ts) owns the
 * processes and the timers.
 */

export interface RestartPolicy {
  /** Delay before the first restart after a stable run. */
  initialDelayMs: number;
  /** Cap of the doubling delay. */
  maxDelayMs: number;
  /** A process that ran at least this long before exiting starts the backoff over. */
  stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = { initialDelayMs: 500, maxDelayMs: 30_000, stableAfterMs: 60_000 };

/** running: the process is alive; restarting: it exited and a restart is scheduled; stopped: down and staying down. */
export type ProcessState = 'running' | 'restarting' | 'stopped';

export interface ProcessExit {
  code: number | null;
  signal: string | null;
  /** ISO 8601 time of the exit. */
  at: string;
}

export interface SupervisionStatus {
  state: ProcessState;
  /** Restarts the supervisor made (deliberate starts are not counted). */
  restarts: number;
  lastExit: ProcessExit | null;
  /** When the scheduled restart runs (state `restarting` only). */
  nextRestartAt: string | null;
}

/**
 * `exit`: the process exited unasked; restart number `attempt` of this run of
 * quick exits follows after `delayMs`. `restart`: the supervisor started it
 * again. `stopped` / `started`: the owner stopped or started it on purpose
 * (`kill()`, `stop()`, `start()`); a stopped node stays down until started.
 */
export type SupervisionEvent =
  | { kind: 'exit'; node: string; pid: number | undefined; code: number | null; signal: string | null; uptimeMs: number; attempt: number; delayMs: number; error?: string }
  | { kind: 'restart'; node: string; pid: number | undefined; attempt: number; restarts: number }
  | { kind: 'stopped'; node: string; pid: number | undefined }
  | { kind: 'started'; node: string; pid: number | undefined };

export interface SupervisionOptions extends Partial<RestartPolicy> {
  /** Called on every event, synchronously; a listener that throws does not stop supervision. */
  onEvent?: (event: SupervisionEvent) => void;
}

/** Consecutive quick exits and the delay before the next restart. */
export class RestartBackoff {
  private quickExits = 0;

  constructor(readonly policy: Readonly<RestartPolicy>) {
    if (!(policy.initialDelayMs > 0 && policy.maxDelayMs >= policy.initialDelayMs && policy.stableAfterMs >= 0)) {
      throw new Error(`restart policy: need 0 < initialDelayMs <= maxDelayMs and stableAfterMs >= 0 (got ${JSON.stringify(policy)})`);
    }
  }

  /** After an exit of a process that had run `uptimeMs`: which restart of the run this is, and how long to wait. */
  next(uptimeMs: number): { attempt: number; delayMs: number } {
    if (uptimeMs >= this.policy.stableAfterMs) this.quickExits = 0;
    this.quickExits++;
    // The exponent is bounded so a long crash loop never overflows to Infinity before the cap applies.
    const delayMs = Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** Math.min(this.quickExits - 1, 40));
    return { attempt: this.quickExits, delayMs };
  }

  /** A deliberate start begins a fresh run. */
  reset(): void {
    this.quickExits = 0;
  }
}

export function restartPolicy(options: SupervisionOptions): RestartPolicy {
  return {
    initialDelayMs: options.initialDelayMs ?? DEFAULT_RESTART_POLICY.initialDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RESTART_POLICY.maxDelayMs,
    stableAfterMs: options.stableAfterMs ?? DEFAULT_RESTART_POLICY.stableAfterMs,
  };
}

/** `code 1`, `signal SIGKILL`, or both when a runtime reports both. */
export function describeExit(code: number | null, signal: string | null): string {
  const parts = [...(code === null ? [] : [`code ${code}`]), ...(signal === null ? [] : [`signal ${signal}`])];
  return parts.length === 0 ? 'no exit status (it never started)' : parts.join(', ');
}
