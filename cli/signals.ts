/**
 * Clean shutdown on SIGINT/SIGTERM: close every registered resource (servers
 * first finish in-flight requests, then databases close), exit 0, or 1 if
 * closing failed. A second signal exits 1 at once, for an operator who will
 * not wait. A signal during startup exits without waiting for the start:
 * SQLite's journal leaves a half-opened database consistent.
 */
export class ShutdownOnSignals {
  private readonly closers: (() => Promise<void>)[] = [];
  private shuttingDown: Promise<void> | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.shuttingDown !== undefined) {
      this.log(`${signal} again: exiting without a clean shutdown`);
      process.exit(1);
    }
    this.log(`${signal}: shutting down`);
    this.shuttingDown = this.closeAll().then(
      () => process.exit(0),
      (error: unknown) => {
        this.log(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };

  constructor(private readonly log: (line: string) => void) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Shuts down as on SIGTERM, unless a shutdown is already under way (then nothing happens). */
  stop(): void {
    if (this.shuttingDown === undefined) this.onSignal('SIGTERM');
  }

  add(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** For commands that end on their own: let the default signal behaviour return. */
  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private async closeAll(): Promise<void> {
    await Promise.all(this.closers.map((close) => close()));
  }
}
