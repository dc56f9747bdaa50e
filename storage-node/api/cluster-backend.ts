/**
 * The query backend of a cluster node: parses and classifies each statement
 * once (cached by text), then sends writes, schema changes and cluster
 * settings to `node.write` (leader only) and reads to `node.read` with the
 * request's consistency.
 */
import { LRUCache } from 'lru-cache';
import { classify, parse } from '../../shared/gql/index.js';
import type { ClusterSetStatement, Statement, StatementKind } from '../../shared/gql/ast.js';
import { ErrorCode, GeodeError, isGeodeError } from '../../shared/protocol/errors.js';
import { newRequestId } from '../../shared/protocol/request-id.js';
import type { BackendAnswer, BackendQuery, QueryBackend, Readiness } from './backend.js';
import type { NodeHandle } from './cluster-node.js';
import { paramsFromJson, statsToJson } from './wire.js';

/** What routing needs of a parsed statement; small, so thousands fit in the cache. */
export interface StatementPlan {
  kind: StatementKind;
  /** The (last) query part ends in RETURN: every replication mode waits for apply to hand back rows. */
  returnsRows: boolean;
  clusterSetting: ClusterSetStatement | undefined;
}

/** Query texts longer than this are parsed every time rather than pinned in the cache. */
const MAX_CACHED_TEXT = 16 * 1024;

export function planStatement(statement: Statement): StatementPlan {
  const kind = classify(statement);
  let returnsRows = false;
  if (statement.kind === 'Query') {
    const last = statement.parts[statement.parts.length - 1];
    const lastClause = last?.clauses[last.clauses.length - 1];
    returnsRows = lastClause?.kind === 'Return';
  }
  return { kind, returnsRows, clusterSetting: statement.kind === 'ClusterSet' ? statement : undefined };
}

/** Statement plans by query text, so each text is parsed and classified once (the backend's, and each read lane's). */
export class PlanCache {
  private readonly plans = new LRUCache<string, StatementPlan>({ max: 2000 });

  /** Parses (or recalls) the statement; SYNTAX_ERROR and friends are thrown, never cached. */
  plan(query: string): StatementPlan {
    const cached = this.plans.get(query);
    if (cached !== undefined) return cached;
    const plan = planStatement(parse(query));
    if (query.length <= MAX_CACHED_TEXT) this.plans.set(query, plan);
    return plan;
  }
}

export class ClusterBackend implements QueryBackend {
  private readonly plans = new PlanCache();

  constructor(private readonly handle: NodeHandle) {}

  /** Parses (or recalls) the statement; SYNTAX_ERROR and friends are thrown, never cached. */
  plan(query: string): StatementPlan {
    return this.plans.plan(query);
  }

  async execute(request: BackendQuery): Promise<BackendAnswer> {
    const node = this.handle.require();
    const plan = this.plan(request.query);
    let answer: Awaited<ReturnType<typeof node.read>>;
    switch (plan.kind) {
      case 'session':
        throw new GeodeError(ErrorCode.BAD_REQUEST, 'session settings are answered by the gateway', { detail: 'SessionStatement' });
      case 'write':
      case 'schema':
      case 'cluster':
        // Only validation, before the statement enters the log: the node ships the raw JSON and the
        // apply worker converts it. (A read worker checks a read's parameters itself.) A write's error
        // names its request id, even this one's: the node mints it below when the client sent none.
        try {
          paramsFromJson(request.params);
        } catch (error) {
          throw isGeodeError(error) ? error.withExtra({ request_id: request.requestId ?? newRequestId(Date.now()) }) : error;
        }
        answer = await node.write({
          query: request.query,
          params: request.params,
          requestId: request.requestId,
          timeoutMs: request.timeoutMs,
          returnsRows: plan.returnsRows,
          clusterSetting: plan.clusterSetting,
        });
        break;
      case 'read':
      case 'admin':
        answer = await node.read({
          query: request.query,
          params: request.params,
          consistency: request.consistency,
          maxLagMs: request.maxLagMs,
          afterIndex: request.afterIndex,
          afterEpoch: request.afterEpoch,
          timeoutMs: request.timeoutMs,
          systemView: plan.kind === 'admin',
        });
        break;
    }
    const { result, meta } = answer;
    if ('json' in result) return { kind: plan.kind, json: result.json, meta };
    return { kind: plan.kind, columns: result.columns, rows: result.rows, stats: statsToJson(result.stats), meta };
  }

  kindOf(query: string): StatementKind | 'unknown' {
    try {
      return this.plan(query).kind;
    } catch {
      return 'unknown';
    }
  }

  readiness(): Promise<Readiness> {
    const node = this.handle.current();
    if (node === undefined) return Promise.resolve({ ready: false, reason: 'the storage node is starting' });
    const status = node.clusterStatus();
    if (status.leader === null) return Promise.resolve({ ready: false, reason: `no leader is known (term ${status.term}); an election is under way or quorum is lost` });
    return Promise.resolve({ ready: true });
  }
}
