/** Latency samples and the few statistics the benchmarks print. */

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Rounds for printing; NaN and infinities become null so the JSON stays valid. */
export function round(value: number, digits = 2): number | null {
  if (!Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Growable store of latencies in milliseconds. */
export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private size = 0;

  record(ms: number): void {
    if (this.size === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.size++] = ms;
  }

  get count(): number {
    return this.size;
  }

  /** Ascending copy of the samples. */
  sorted(): number[] {
    return Array.from(this.samples.subarray(0, this.size)).sort((a, b) => a - b);
  }

  percentiles(...ps: number[]): number[] {
    const sorted = this.sorted();
    return ps.map((p) => percentile(sorted, p));
  }
}
