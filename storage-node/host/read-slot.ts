/**
 * The statement a read worker is running, shared with the main thread:
 * which read (the pool's id, or LANE_READ for one that arrived on the
 * worker's own read lane) and its deadline. One writer (the worker), one
 * reader (the main thread's watchdog); a torn read costs at most one late
 * or early look, never a wrong kill, because the watchdog only acts on a
 * deadline long past.
 */

/** No statement is running. */
export const IDLE = 0;
/** A read from the worker's lane (its client is on the lane's socket, not in the pool). */
export const LANE_READ = -1;

export class ReadSlot {
  readonly buffer: SharedArrayBuffer;
  private readonly id: Int32Array;
  private readonly deadline: Float64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(16);
    this.id = new Int32Array(this.buffer, 0, 1);
    this.deadline = new Float64Array(this.buffer, 8, 1);
  }

  running(id: number, deadline: number): void {
    this.deadline[0] = deadline;
    Atomics.store(this.id, 0, id);
  }

  idle(): void {
    Atomics.store(this.id, 0, IDLE);
  }

  /** The running statement, or undefined when idle. */
  current(): { id: number; deadline: number } | undefined {
    const id = Atomics.load(this.id, 0);
    if (id === IDLE) return undefined;
    return { id, deadline: this.deadline[0] as number };
  }
}
