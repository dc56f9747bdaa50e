/** Request bodies and answers of `POST /v1/query`. */
import { newRequestId } from '../protocol/request-id.js';
import type { CallResult } from './caller.js';
import type { SessionState } from './session.js';
import type { Consistency, JsonValue, Meta, Params, QueryOptions, QueryResult, QueryStats, Row } from './types.js';

export interface BodyDefaults {
  consistency?: Consistency | undefined;
  maxLagMs?: number | undefined;
}

/** The body of one call; its `request_id` is minted here and reused by every retry. */
export function queryBody(text: string, params: Params | undefined, options: QueryOptions | undefined, session: SessionState, defaults: BodyDefaults): Record<string, unknown> {
  const body: Record<string, unknown> = { query: text, request_id: newRequestId() };
  if (params !== undefined && Object.keys(params).length > 0) body['params'] = params;
  if (options?.timeoutMs !== undefined) body['timeout_ms'] = options.timeoutMs;
  const maxLagMs = options?.maxLagMs ?? defaults.maxLagMs;
  const consistency = options?.consistency ?? defaults.consistency ?? (maxLagMs !== undefined ? 'bounded' : undefined);
  if (consistency !== undefined) body['consistency'] = consistency;
  if (maxLagMs !== undefined && consistency === 'bounded') body['max_lag_ms'] = maxLagMs;
  if (session.causalIndex > 0) body['after_index'] = session.causalIndex;
  return body;
}

const asNumber = (value: unknown, fallback = 0): number => (typeof value === 'number' ? value : fallback);

export function decodeAnswer(call: CallResult): [QueryResult, Meta] {
  const body = (call.answer.body ?? {}) as { columns?: unknown; rows?: unknown; stats?: unknown; meta?: Record<string, unknown>; degraded?: unknown };
  const rows = Array.isArray(body.rows) ? (body.rows as Row[]) : [];
  const columns = Array.isArray(body.columns) ? body.columns.filter((c): c is string => typeof c === 'string') : rows[0] !== undefined ? Object.keys(rows[0]) : [];
  const stats: QueryStats = {};
  if (typeof body.stats === 'object' && body.stats !== null) {
    for (const [key, value] of Object.entries(body.stats)) if (typeof value === 'number') stats[key] = value;
  }
  const m = body.meta ?? {};
  const meta: Meta = {
    node: typeof m['node'] === 'string' ? m['node'] : '',
    role: typeof m['role'] === 'string' ? m['role'] : '',
    term: asNumber(m['term']),
    index: asNumber(m['index']),
    applied_index: asNumber(m['applied_index']),
    url: call.endpoint.url,
    attempts: call.attempts,
  };
  if (typeof m['applied'] === 'boolean') meta.applied = m['applied'];
  if (typeof m['request_id'] === 'string') meta.request_id = m['request_id'];
  return [{ columns, rows, stats, degraded: body.degraded === true }, meta];
}

/** An answer made up by the client (a SET SESSION it handled itself). */
export function localAnswer(url: string): [QueryResult, Meta] {
  return [
    { columns: [], rows: [], stats: {}, degraded: false },
    { node: 'client', role: 'client', term: 0, index: 0, applied_index: 0, url, attempts: 0 },
  ];
}

export type { JsonValue };
