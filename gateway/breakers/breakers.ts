/**
 * One opossum circuit breaker per storage node. Only node failures count
 * (refused or reset connections, no answer from a node that also stopped
 * answering health checks, 5xx INTERNAL): a client's syntax error, a
 * statement's own TIMEOUT / MEMORY_LIMIT / WORK_LIMIT, a statement still
 * running on a live node past its time, or a lagging replica says nothing
 * about the node's health.
 * Opens after `volumeThreshold` calls with `errorThresholdPercentage` failing
 * in the rolling window; after `resetTimeoutMs` it half-opens and lets a trial
 * call through.
 */
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { BreakerState } from '../routing/pipeline.js';

export interface BreakerOptions {
  /** Failure percentage (of calls in the window) that opens the breaker. */
  errorThresholdPercentage?: number;
  /** Calls in the window before the breaker may open. */
  volumeThreshold?: number;
  resetTimeoutMs?: number;
  rollingWindowMs?: number;
}

/**
 * Why a node call failed: `refused` never reached the node (connection refused, stream not open), so
 * the statement did not run there; `lost` (the connection dropped with the request outstanding),
 * `timeout` (no answer and no sign of life) and `server` (5xx INTERNAL) may have run it. `lane`: a
 * read lane's socket closed while the node stayed alive (the node replaced the read worker behind
 * it, one it stopped for a runaway statement, say): the read may have run, but the node is fine, so
 * it counts against no breaker.
 */
export type NodeFailureReason = 'refused' | 'lost' | 'timeout' | 'server' | 'lane';

/** Thrown by a node call for failures that should count against the node. */
export class NodeFailure extends Error {
  constructor(
    message: string,
    readonly reason: NodeFailureReason,
  ) {
    super(message);
    this.name = 'NodeFailure';
  }

  /** The request may have reached the node (and the statement may have run there). */
  get reached(): boolean {
    return this.reason !== 'refused';
  }

  /** Says something about the node's health (everything but a lost read lane of a live node). */
  get countsAgainstNode(): boolean {
    return this.reason !== 'lane';
  }
}

/** Raised instead of calling a node whose breaker is open. */
export class BreakerOpen extends Error {
  constructor(readonly url: string) {
    super(`circuit breaker for ${url} is open`);
    this.name = 'BreakerOpen';
  }
}

type Action = () => Promise<unknown>;

export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 1, open: 2 };

export class Breakers extends EventEmitter {
  private readonly breakers = new Map<string, CircuitBreaker<[Action], unknown>>();

  constructor(private readonly options: BreakerOptions = {}) {
    super();
  }

  private breaker(url: string): CircuitBreaker<[Action], unknown> {
    let breaker = this.breakers.get(url);
    if (breaker === undefined) {
      breaker = new CircuitBreaker<[Action], unknown>((action: Action) => action(), {
        // Timeouts are the attempt's own (undici); opossum would leave the call running.
        timeout: false,
        errorThresholdPercentage: this.options.errorThresholdPercentage ?? 50,
        volumeThreshold: this.options.volumeThreshold ?? 5,
        resetTimeout: this.options.resetTimeoutMs ?? 5000,
        rollingCountTimeout: this.options.rollingWindowMs ?? 10_000,
        errorFilter: (error: unknown) => !(error instanceof NodeFailure && error.countsAgainstNode),
        // Only counts decide; latency percentiles and per-second snapshots would cost on every call
        // (each snapshot concatenates and sorts every latency in the window) and nobody reads them.
        rollingPercentilesEnabled: false,
        enableSnapshots: false,
      });
      const announce = (): void => {
        this.emit('state', url, this.state(url));
      };
      breaker.on('open', announce);
      breaker.on('halfOpen', announce);
      breaker.on('close', announce);
      this.breakers.set(url, breaker);
    }
    return breaker;
  }

  state(url: string): BreakerState {
    const breaker = this.breakers.get(url);
    if (breaker === undefined) return 'closed';
    if (breaker.halfOpen) return 'half_open';
    return breaker.opened ? 'open' : 'closed';
  }

  states(): Map<string, BreakerState> {
    return new Map([...this.breakers.keys()].map((url) => [url, this.state(url)]));
  }

  /** Runs `action` through the node's breaker; BreakerOpen when it refuses. */
  async run<T>(url: string, action: () => Promise<T>): Promise<T> {
    const breaker = this.breaker(url);
    try {
      return (await breaker.fire(action)) as T;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EOPENBREAKER') throw new BreakerOpen(url);
      throw error;
    }
  }

  close(): void {
    for (const breaker of this.breakers.values()) breaker.shutdown();
    this.breakers.clear();
    this.removeAllListeners();
  }
}
