/**
 * Drives the engine's resumable background work (online index builds, online
 * property migrations) one small step per event-loop turn, so queries and
 * health checks interleave with it instead of waiting for it.
 */

export interface BackgroundWorkOptions {
  /** One bounded unit of work; returns true while more remains. */
  step: () => boolean;
  onError: (error: unknown) => void;
}

export class BackgroundWork {
  private pending: NodeJS.Immediate | undefined;
  private stopped = false;

  constructor(private readonly options: BackgroundWorkOptions) {}

  /** Ensures the loop runs; cheap to call after every schema statement. */
  kick(): void {
    if (this.stopped || this.pending !== undefined) return;
    this.pending = setImmediate(() => this.runOnce());
  }

  stop(): void {
    this.stopped = true;
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.pending = undefined;
  }

  get running(): boolean {
    return this.pending !== undefined;
  }

  private runOnce(): void {
    this.pending = undefined;
    if (this.stopped) return;
    let more: boolean;
    try {
      more = this.options.step();
    } catch (error) {
      // A failing step must not spin: report it and wait for the next kick.
      this.options.onError(error);
      return;
    }
    if (more) this.kick();
  }
}
