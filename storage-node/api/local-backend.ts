/**
 * The query backend of a single process: runs each statement on the local
 * engine and reports the local write count as the index.
 */
import { randomBytes } from 'node:crypto';
import { classify, parse } from '../../shared/gql/index.js';
import type { StatementKind } from '../../shared/gql/ast.js';
import type { QueryResult } from '../graph/types.js';
import type { BackgroundWork } from './background.js';
import type { BackendAnswer, BackendQuery, QueryBackend, Readiness } from './backend.js';
import type { NodeMetrics } from './metrics.js';
import type { ApiEngine, NodeState } from './node-state.js';
import { paramsFromJson, rowsToJson, statsToJson } from './wire.js';

/** Longest query text we re-parse just to label a failure's metrics. */
const MAX_CLASSIFY_LENGTH = 64 * 1024;

/** A readiness probe must answer fast even when the engine is busy or broken. */
const READY_QUERY_TIMEOUT_MS = 1000;

export class LocalBackend implements QueryBackend {
  constructor(
    private readonly engine: ApiEngine,
    private readonly state: NodeState,
    private readonly metrics: NodeMetrics,
    private readonly background: BackgroundWork,
  ) {}

  async execute(request: BackendQuery): Promise<BackendAnswer> {
    // consistency, max_lag_ms and after_index need replicas to mean anything; a single node always serves its own state.
    const params = paramsFromJson(request.params);
    const now = Date.now();
    const context = { now, seed: randomBytes(16).toString('hex') };
    const engineStarted = performance.now();
    let result: QueryResult;
    try {
      result = this.engine.execute(request.query, params, context, { deadline: now + request.timeoutMs });
    } finally {
      this.metrics.sqliteSeconds.observe((performance.now() - engineStarted) / 1000);
    }
    if (result.kind === 'write' || result.kind === 'schema') this.state.recordWrite();
    if (result.kind === 'schema') this.background.kick();
    return {
      kind: result.kind,
      columns: result.columns,
      rows: rowsToJson(result.columns, result.rows),
      stats: statsToJson(result.stats),
      meta: this.state.meta(),
    };
  }

  kindOf(query: string): StatementKind | 'unknown' {
    if (query.length > MAX_CLASSIFY_LENGTH) return 'unknown';
    try {
      return classify(parse(query));
    } catch {
      return 'unknown';
    }
  }

  readiness(): Promise<Readiness> {
    try {
      const now = Date.now();
      // A statement that reads the graph's storage (one page of a scan, LIMIT 1): `RETURN 1` touches no
      // table, and would answer from an engine whose database is gone.
      const result = this.engine.execute('MATCH (n) RETURN id(n) AS id LIMIT 1', {}, { now, seed: 'readyz' }, {
        deadline: now + READY_QUERY_TIMEOUT_MS,
        readOnly: true,
      });
      if (result.rows.length > 1) return Promise.resolve({ ready: false, reason: 'engine does not answer queries' });
      return Promise.resolve({ ready: true });
    } catch {
      return Promise.resolve({ ready: false, reason: 'engine does not answer queries' });
    }
  }
}
