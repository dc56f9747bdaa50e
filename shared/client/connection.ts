/** What `client.connection()` and `pool.acquire()` hand out: query/execute with a lifetime. */
import type { Meta, Params, QueryOptions, QueryResult } from './types.js';

export interface Queryable {
  /** Runs a statement (usually a read); resolves `[result, meta]`. */
  query(text: string, params?: Params, options?: QueryOptions): Promise<[QueryResult, Meta]>;
  /** Runs a statement meant as a write (sent to the leader first). */
  execute(text: string, params?: Params, options?: QueryOptions): Promise<[QueryResult, Meta]>;
}

/** A handle valid until `close()` (or the end of an `await using` block). */
export class Connection implements Queryable, AsyncDisposable {
  private closed = false;

  constructor(
    private readonly target: Queryable,
    private readonly onClose: () => void = () => {},
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  query(text: string, params?: Params, options?: QueryOptions): Promise<[QueryResult, Meta]> {
    this.assertOpen();
    return this.target.query(text, params, options);
  }

  execute(text: string, params?: Params, options?: QueryOptions): Promise<[QueryResult, Meta]> {
    this.assertOpen();
    return this.target.execute(text, params, options);
  }

  /** Idempotent; returns the connection to its pool when it came from one. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('connection is closed');
  }
}
