/**
 * Bulkhead isolation (seed: "Bulkhead Isolation"): separate semaphores for
 * reads and writes, so that a flood of slow or failing writes cannot take the
 * slots reads need.
 *
 *   node --import tsx examples/bulkhead.ts <url>
 */
import { Client } from '../shared/client/index.js';
import type { QueryResult } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

/** A counting semaphore; `acquire()` resolves to the release function. */
export class Semaphore {
  private available: number;
  private readonly waiting: (() => void)[] = [];
  /** Most permits held at once (for the demo's report). */
  peak = 0;

  constructor(private readonly permits: number) {
    this.available = permits;
  }

  async acquire(): Promise<() => void> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.peak = Math.max(this.peak, this.permits - this.available);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Hand the permit straight to the next waiter, or give it back.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.available++;
    };
  }

  async with<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

export class BulkheadPool {
  readonly readSemaphore: Semaphore;
  readonly writeSemaphore: Semaphore;

  constructor(
    private readonly client: Client,
    maxConcurrent = 100,
  ) {
    this.readSemaphore = new Semaphore(Math.floor(maxConcurrent / 2));
    this.writeSemaphore = new Semaphore(Math.floor(maxConcurrent / 2));
  }

  executeRead(query: string): Promise<QueryResult> {
    return this.readSemaphore.with(async () => {
      const [result] = await this.client.query(query);
      return result;
    });
  }

  executeWrite(query: string): Promise<void> {
    return this.writeSemaphore.with(async () => {
      await this.client.execute(query);
    });
  }
}

export interface BulkheadReport {
  readRows: number;
  writesDone: number;
  peakReads: number;
  peakWrites: number;
}

export async function main(url: string = DEFAULT_URL, maxConcurrent = 8): Promise<BulkheadReport> {
  await using client = new Client({ url });
  // Reads and writes isolated - write failures don't block reads
  const pool = new BulkheadPool(client, maxConcurrent);
  const writes = Array.from({ length: 3 * maxConcurrent }, (_, i) => pool.executeWrite(`CREATE (:Bulkhead {i: ${i}})`));
  const reads = Array.from({ length: 2 * maxConcurrent }, () => pool.executeRead('MATCH (n) RETURN n LIMIT 10'));
  const readResults = await Promise.all(reads);
  await Promise.all(writes);
  return {
    readRows: readResults[0]?.rows.length ?? 0,
    writesDone: writes.length,
    peakReads: pool.readSemaphore.peak,
    peakWrites: pool.writeSemaphore.peak,
  };
}

runIfMain(import.meta.url, (args) => main(args[0]));
