/**
 * Circuit breaker (seed: "Circuit Breaker Pattern") with opossum around
 * `client.query`: after repeated failures the breaker opens and calls go to a
 * fallback data source at once instead of waiting on a failing cluster.
 * Client errors (bad query) do not count as failures.
 *
 *   node --import tsx examples/circuit-breaker.ts <url>
 */
import CircuitBreaker from 'opossum';
import { Client, GeodeError } from '../shared/client/index.js';
import type { Params, QueryResult } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

type QueryBreaker = CircuitBreaker<[query: string, params?: Params | undefined], QueryResult>;

/** Codes that are the caller's fault: they say nothing about the cluster's health. */
const CALLER_FAULTS: ReadonlySet<string> = new Set(['BAD_REQUEST', 'SYNTAX_ERROR', 'SEMANTIC_ERROR', 'TYPE_ERROR', 'ARGUMENT_ERROR', 'PARAMETER_MISSING', 'CONSTRAINT_VIOLATION']);

/** Execute query with circuit breaker protection (failure_threshold=5, recovery_timeout=30 s). */
export function queryWithCircuitBreaker(client: Client, options: { failureThreshold?: number; recoveryTimeoutMs?: number } = {}): QueryBreaker {
  return new CircuitBreaker(
    async (query: string, params?: Params | undefined): Promise<QueryResult> => {
      const [result] = await client.query(query, params);
      return result;
    },
    {
      volumeThreshold: options.failureThreshold ?? 5,
      errorThresholdPercentage: 50,
      resetTimeout: options.recoveryTimeoutMs ?? 30_000,
      // The client has its own deadline; opossum's timer would only race it.
      timeout: false,
      errorFilter: (error: unknown) => error instanceof GeodeError && CALLER_FAULTS.has(error.code),
    },
  );
}

/** Stands in for a cache or secondary store. */
async function fallbackDataSource(): Promise<QueryResult> {
  return { columns: ['u'], rows: [], stats: {}, degraded: true };
}

async function guarded(breaker: QueryBreaker, query: string, params: Params): Promise<{ result: QueryResult; fromFallback: boolean }> {
  try {
    return { result: await breaker.fire(query, params), fromFallback: false };
  } catch (error) {
    // Circuit open (EOPENBREAKER) or the call failed: use cached data or degraded mode.
    if (breaker.opened || !(error instanceof GeodeError && CALLER_FAULTS.has(error.code))) return { result: await fallbackDataSource(), fromFallback: true };
    throw error;
  }
}

export interface BreakerReport {
  rows: number;
  /** The healthy cluster's breaker stayed closed. */
  healthyClosed: boolean;
  /** A breaker around an unreachable cluster opened after repeated failures. */
  unreachableOpened: boolean;
  /** Calls on the open breaker that failed fast (no request sent). */
  rejectedWhileOpen: number;
  /** Calls answered by the fallback. */
  fallbacks: number;
}

export async function main(url: string = DEFAULT_URL, unreachableUrl = 'http://127.0.0.1:1'): Promise<BreakerReport> {
  await using client = new Client({ url });
  const breaker = queryWithCircuitBreaker(client);
  // Usage
  const { result } = await guarded(breaker, 'MATCH (u:User) RETURN u', {});
  const healthyClosed = breaker.closed;
  breaker.shutdown();

  // The same protection in front of a cluster that cannot be reached.
  await using down = new Client({ url: unreachableUrl, maxRetries: 1, deadlineMs: 1_000, retryBackoff: () => 10 });
  const downBreaker = queryWithCircuitBreaker(down);
  let fallbacks = 0;
  for (let i = 0; i < 8; i++) if ((await guarded(downBreaker, 'MATCH (u:User) RETURN u', {})).fromFallback) fallbacks++;
  const report: BreakerReport = {
    rows: result.rows.length,
    healthyClosed,
    unreachableOpened: downBreaker.opened,
    rejectedWhileOpen: downBreaker.stats.rejects,
    fallbacks,
  };
  downBreaker.shutdown();
  return report;
}

runIfMain(import.meta.url, (args) => main(args[0]));
