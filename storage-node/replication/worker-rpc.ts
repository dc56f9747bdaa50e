/**
 * Calls into worker threads. The thread that drives Raft never runs a query
 * (a long one would stall heartbeats and depose a healthy leader), so the
 * apply loop and reads live in workers; this is the channel to them.
 *
 * Calls on one worker are handled in the order they were posted, one at a
 * time, so the main thread can pipeline apply batches without waiting.
 *
 * Calls made in the same turn of the event loop travel as ONE message (an
 * array), and the replies to one such message come back as one message: a
 * thread hand-off costs a wake-up on the other side (expensive on a busy or
 * virtualized machine), so under load many queries share it.
 *
 * Calls on the commit path (a Raft log write, an apply batch) are made once
 * per pass of the node's loop and wait for nothing else to join them, so
 * their clients post at the end of the current callback (`post: 'now'`).
 * Posting at the turn's end would cost a full pass of the event loop first,
 * with every socket that became readable meanwhile read and handled. On a
 * loaded 2-core machine, posting at once gave about 3% more writes/s
 * (bench:raft load, 64 clients, interleaved A/B). That is the size of the
 * run-to-run noise there, so it is a small gain at best; the change is kept
 * because it takes a whole event-loop pass off each hop of the commit path.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';
import { parentPort } from 'node:worker_threads';

const TSX_API_URL = import.meta.resolve('tsx/esm/api');
const CPU_PROFILE_URL = new URL('../../bin/cpu-profile.js', import.meta.url).href;

/** Starts a worker running a TypeScript module; each worker registers tsx itself, as workers do not inherit loaders. */
export function startTsWorker(moduleUrl: URL, workerData: unknown, options: Omit<WorkerOptions, 'eval' | 'workerData'> = {}): Worker {
  // GEODE_CPU_PROFILE (diagnostics, see bin/cpu-profile.js) profiles workers too.
  const profile = process.env.GEODE_CPU_PROFILE ? `await import(${JSON.stringify(CPU_PROFILE_URL)}).then((p) => p.maybeStartCpuProfile());` : '';
  const boot = `(async () => { ${profile} const m = await import(${JSON.stringify(TSX_API_URL)}); m.register(); await import(${JSON.stringify(moduleUrl.href)}); })()`;
  return new Worker(boot, { ...options, eval: true, workerData });
}

interface Call {
  id: number;
  method: string;
  args: unknown;
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { code?: string; message: string; [k: string]: unknown } };

/** A worker-side error as it crosses back: a plain object with the GeodeError fields. */
export class WorkerCallError extends Error {
  constructor(readonly body: { code?: string; message: string; [k: string]: unknown }) {
    super(body.message);
  }
}

export class WorkerClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;
  /** Calls posted and not yet answered. */
  inflight = 0;

  private readonly schedule: (flush: () => void) => void;

  /**
   * `post`: `turn` (default) gathers the calls of one event-loop turn into one message; `now` posts
   * once the current callback is done (a microtask), for calls on the commit path.
   */
  constructor(
    readonly worker: Worker,
    private readonly onExit: (error: Error) => void = () => undefined,
    options: { post?: 'turn' | 'now' } = {},
  ) {
    this.schedule = options.post === 'now' ? queueMicrotask : setImmediate;
    worker.on('message', (replies: Reply[]) => {
      for (const reply of replies) {
        const waiter = this.waiting.get(reply.id);
        if (waiter === undefined) continue;
        this.waiting.delete(reply.id);
        this.inflight--;
        if (reply.ok) waiter.resolve(reply.value);
        else waiter.reject(new WorkerCallError(reply.error));
      }
    });
    const fail = (error: Error): void => {
      if (this.dead !== undefined) return;
      this.dead = error;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
      this.inflight = 0;
      this.onExit(error);
    };
    worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => fail(new Error(`worker exited with code ${code}`)));
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /** Calls made this turn that have not been posted yet (they will share one message). */
  get queued(): number {
    return this.outbox.length;
  }

  call<T>(method: string, args: unknown = null): Promise<T> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const id = this.nextId++;
    this.inflight++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.outbox.push({ id, method, args });
      if (this.outbox.length === 1) this.schedule(this.flush);
    });
  }

  private outbox: Call[] = [];

  private readonly flush = (): void => {
    const calls = this.outbox;
    this.outbox = [];
    if (calls.length === 0 || this.dead !== undefined) return;
    this.worker.postMessage(calls);
  };

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Answers gathered for longer than this go back before the next call of the same message runs. */
const SLOW_CALL_MS = 2;

/**
 * Worker side: answers calls with the given handlers, one at a time, in order. A handler that
 * returns a promise (a long job that yields, like a snapshot copy) lets the calls after it run
 * meanwhile, and its answer goes back on its own when it settles; a call whose effects must keep
 * their place among the others (a restore among applies) must stay synchronous.
 */
export function serveCalls(handlers: Record<string, (args: never) => unknown>): void {
  const port = parentPort;
  if (port === null) throw new Error('serveCalls() must run in a worker thread');
  port.on('message', (calls: Call[]) => {
    let replies: Reply[] = [];
    let since = performance.now();
    for (const call of calls) {
      // A slow call does not hold back the answers of the quick ones before it.
      const now = performance.now();
      if (replies.length > 0 && now - since > SLOW_CALL_MS) {
        port.postMessage(replies);
        replies = [];
      }
      since = now;
      const handler = handlers[call.method];
      try {
        if (handler === undefined) throw new Error(`unknown worker method ${call.method}`);
        const value = handler(call.args as never);
        if (value instanceof Promise) {
          // A long call that yields (a snapshot copy): later calls are served meanwhile, and its answer goes back alone when it settles.
          value.then(
            (settled: unknown) => port.postMessage([{ id: call.id, ok: true, value: settled }]),
            (err: unknown) => port.postMessage([{ id: call.id, ok: false, error: errorBody(err) }]),
          );
          continue;
        }
        replies.push({ id: call.id, ok: true, value });
      } catch (err) {
        replies.push({ id: call.id, ok: false, error: errorBody(err) });
      }
    }
    if (replies.length > 0) port.postMessage(replies);
  });
}

function errorBody(err: unknown): { code?: string; message: string } {
  return typeof err === 'object' && err !== null && 'toJSON' in err && typeof err.toJSON === 'function'
    ? (err.toJSON() as { error: { code?: string; message: string } }).error
    : { message: err instanceof Error ? err.message : String(err) };
}
