/**
 * Closed-loop load: N clients, each issuing its next operation as soon as
 * the previous one finished, for a warm-up then a measured window.
 */
import { LatencyRecorder, round } from './stats.js';

export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** One operation; it must bound its own time (request timeouts), the loop only checks the clock between operations. */
  op: (client: number, seq: number) => Promise<void>;
  /** Pause after a failed operation so a down target is not spun against. */
  errorBackoffMs?: number;
  /** Called when the measured window opens and when it closes (e.g. to read CPU counters). */
  onWindow?: (edge: 'open' | 'close') => void;
  /**
   * Record latencies here instead of in a recorder of this run's own: windows that share one add up
   * (bench/raft.ts alternates systems in several windows). The result's percentiles then cover every
   * window recorded so far; its rate and op count are still this window's.
   */
  recorder?: LatencyRecorder;
}

export interface LoadResult {
  writes_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Operations completed inside the measured window. */
  ops: number;
  errors: number;
  /** First few distinct error messages, for diagnosis. */
  error_samples?: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const latencies = options.recorder ?? new LatencyRecorder();
  let count = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const measureTo = measureFrom + options.durationMs;
  let errors = 0;
  const samples = new Set<string>();
  const backoff = options.errorBackoffMs ?? 10;

  const client = async (id: number): Promise<void> => {
    for (let seq = 0; performance.now() < measureTo; seq++) {
      const began = performance.now();
      try {
        await options.op(id, seq);
        const ended = performance.now();
        // Only operations wholly inside the window count, so warm-up and the tail do not skew the rate.
        if (began >= measureFrom && ended <= measureTo) {
          latencies.record(ended - began);
          count++;
        }
      } catch (error) {
        if (began >= measureFrom) errors++;
        if (samples.size < 5) samples.add(error instanceof Error ? error.message : String(error));
        await sleep(backoff);
      }
    }
  };
  const onWindow = options.onWindow;
  let opened = false;
  let closed = false;
  const edge = (which: 'open' | 'close'): void => {
    if (which === 'open') opened = true;
    else if (!opened || closed) return;
    else closed = true;
    onWindow?.(which);
  };
  const timers = onWindow === undefined ? [] : [setTimeout(() => edge('open'), options.warmupMs), setTimeout(() => edge('close'), options.warmupMs + options.durationMs)];
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => client(i)));
  for (const timer of timers) clearTimeout(timer);
  // Every client can finish before the closing timer gets its turn (a server that answers many
  // requests in one frame ends them all at once, past the window's end): close the window now.
  edge('close');
  const [p50, p99] = latencies.percentiles(50, 99);
  const result: LoadResult = {
    writes_per_s: round(count / (options.durationMs / 1000), 1),
    p50_ms: round(p50 ?? Number.NaN),
    p99_ms: round(p99 ?? Number.NaN),
    ops: count,
    errors,
  };
  if (samples.size > 0) result.error_samples = [...samples];
  return result;
}
