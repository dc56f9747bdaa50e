/**
 * One logical call with failover: candidates in order, `leader_url` followed
 * on 421, `Retry-After` honoured on 503, exponential backoff once every
 * candidate has been tried, bounded by `maxRetries` and a total deadline. The
 * body (and so its `request_id`) is the same on every attempt, so a write the
 * server already applied is not applied twice.
 */
import { ErrorCode, GeodeConnectionError, GeodeError, errorFromBody } from './errors.js';
import { TransportError } from './endpoint.js';
import type { Endpoint, EndpointRegistry, HttpAnswer } from './endpoint.js';
import { encodeBody } from './json.js';
import { SESSION_HEADER } from './session.js';
import type { SessionState } from './session.js';

export interface RetryPolicy {
  /** Attempts after the first. */
  maxRetries: number;
  /** Wait before retry number `attempt` (1-based) once every candidate has been tried (ms). */
  backoff: (attempt: number) => number;
  /** Bound on the whole call, waits included (ms). */
  deadlineMs: number;
  /** Bound on one HTTP exchange (ms). */
  attemptTimeoutMs: number;
}

/** 100 ms, 200 ms, 400 ms, ... capped at 2 s, with +-25% jitter so that clients do not retry in step. */
export function defaultBackoff(attempt: number): number {
  const base = Math.min(2_000, 100 * 2 ** Math.max(0, attempt - 1));
  return base * (0.75 + Math.random() * 0.5);
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 6, backoff: defaultBackoff, deadlineMs: 30_000, attemptTimeoutMs: 10_000 };

export interface CallPlan {
  /** Where to send, best first; later ones are fallbacks. */
  candidates: readonly Endpoint[];
  /** A node named the leader (421 `leader_url`). */
  onLeader?: (leader: Endpoint) => void;
}

export interface CallResult {
  answer: HttpAnswer;
  endpoint: Endpoint;
  attempts: number;
}

/** `Retry-After` as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: HttpAnswer['headers'], now = Date.now()): number | undefined {
  const raw = headers['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1_000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function callWithFailover(registry: EndpointRegistry, plan: CallPlan, body: Record<string, unknown>, session: SessionState, policy: RetryPolicy): Promise<CallResult> {
  const candidates = dedupe(plan.candidates);
  if (candidates.length === 0) throw new GeodeConnectionError('no server URL to send to');
  const deadline = Date.now() + policy.deadlineMs;
  const text = encodeBody(body);
  const tried = new Set<Endpoint>();
  const urls: string[] = [];
  let position = 0;
  let redirect: Endpoint | undefined;
  let lastError: GeodeError | TransportError | undefined;
  let serverWait: number | undefined;

  for (let attempt = 1; ; attempt++) {
    const endpoint: Endpoint = redirect ?? (candidates[position % candidates.length] as Endpoint);
    redirect = undefined;
    if (attempt > 1) {
      // Untried candidates go first, at once; going back to a tried one waits the backoff, or Retry-After if longer.
      const wait = tried.has(endpoint) ? Math.max(serverWait ?? 0, policy.backoff(attempt - 1)) : 0;
      if (Date.now() + wait >= deadline) {
        return giveUp(lastError, urls, attempt - 1, `deadline of ${policy.deadlineMs} ms${serverWait !== undefined ? ` (Retry-After ${serverWait} ms)` : ''}`);
      }
      if (wait > 0) await sleep(wait);
    }
    serverWait = undefined;
    const remaining = deadline - Date.now();
    if (remaining <= 0) return giveUp(lastError, urls, attempt - 1, `deadline of ${policy.deadlineMs} ms`);
    tried.add(endpoint);
    urls.push(endpoint.url);
    const headers: Record<string, string> = session.token !== undefined ? { [SESSION_HEADER]: session.token } : {};
    let answer: HttpAnswer;
    try {
      answer = await endpoint.send('POST', '/v1/query', text, headers, Math.min(policy.attemptTimeoutMs, remaining));
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      lastError = error;
      position++;
      if (attempt > policy.maxRetries) return giveUp(lastError, urls, attempt, `${policy.maxRetries} retries`);
      continue;
    }
    const meta = (answer.body as { meta?: { index?: unknown; applied_index?: unknown } } | null)?.meta;
    if (answer.status >= 200 && answer.status < 300) {
      session.observe(answer.headers, meta);
      return { answer, endpoint, attempts: attempt };
    }
    // Gateways send a token with errors too (e.g. a SET SESSION refused): keep it.
    session.observe(answer.headers, undefined);
    const error = errorFromBody(answer.status, answer.body);
    lastError = error;
    if (error.code === ErrorCode.NOT_LEADER) {
      const leaderUrl = error.extra?.['leader_url'];
      if (typeof leaderUrl === 'string' && leaderUrl.length > 0) {
        const leader = registry.get(leaderUrl);
        plan.onLeader?.(leader);
        redirect = leader;
      } else {
        position++;
      }
    } else if (isRetryable(answer, error)) {
      serverWait = retryAfterMs(answer.headers);
      position++;
    } else {
      throw error;
    }
    if (attempt > policy.maxRetries) return giveUp(lastError, urls, attempt, `${policy.maxRetries} retries`);
  }
}

/** The server labels every error (shared/protocol/errors.ts); a proxy's bare 502/503/504 is transient too. */
function isRetryable(answer: HttpAnswer, error: GeodeError): boolean {
  if (error.retryable) return true;
  // A proxy's own 502/503/504 page (no Geode error body).
  const body = answer.body as { error?: unknown } | null;
  return (answer.status === 502 || answer.status === 503 || answer.status === 504) && (typeof body !== 'object' || body === null || body.error === undefined);
}

function giveUp(lastError: GeodeError | TransportError | undefined, urls: readonly string[], attempts: number, bound: string): never {
  if (lastError instanceof GeodeError) throw lastError;
  const tried = [...new Set(urls)].join(', ');
  throw new GeodeConnectionError(`no server answered after ${attempts} attempt(s) within ${bound} (tried ${tried})${lastError !== undefined ? `: ${lastError.message}` : ''}`, {
    urls,
    attempts,
    ...(lastError !== undefined ? { cause: lastError } : {}),
  });
}

function dedupe(endpoints: readonly Endpoint[]): Endpoint[] {
  return [...new Set(endpoints)];
}
