/**
 * `POST /v1/query`: runs one statement on the local engine and answers
 * `{columns, rows, stats, meta}`. Wire conversion lives here; the engine
 * sees only values.ts values.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { classify, parse } from '../../../shared/gql/index.js';
import type { StatementKind } from '../../../shared/gql/ast.js';
import { fromJson, toJson } from '../../../shared/gql/values.js';
import type { JsonValue, Value, ValueMap } from '../../../shared/gql/values.js';
import { ErrorCode, GeodeError, isGeodeError } from '../../../shared/protocol/errors.js';
import type { QueryResult, QueryStats } from '../../graph/types.js';
import type { BackgroundWork } from '../background.js';
import type { NodeMetrics, QueryKindLabel } from '../metrics.js';
import type { ApiEngine, NodeState } from '../node-state.js';
import { QueryRequest, QueryResponse, errorResponses } from '../schemas.js';
import type { QueryStatsBody } from '../schemas.js';

export interface QueryRouteOptions {
  engine: ApiEngine;
  state: NodeState;
  metrics: NodeMetrics;
  background: BackgroundWork;
  defaultTimeoutMs: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Longest query text we re-parse just to label a failure's metrics. */
const MAX_CLASSIFY_LENGTH = 64 * 1024;

export const queryRoutes: FastifyPluginAsyncTypebox<QueryRouteOptions> = async (app, options) => {
  const { engine, state, metrics, background, defaultTimeoutMs } = options;

  app.post(
    '/v1/query',
    { schema: { body: QueryRequest, response: { 200: QueryResponse, ...errorResponses } } },
    async (request) => {
      const started = performance.now();
      const body = request.body;
      // consistency, max_lag_ms and after_index need replicas to mean anything; a single node always serves its own state.
      let kind: QueryKindLabel = 'unknown';
      try {
        const params = paramsFromJson(body.params ?? {});
        const now = Date.now();
        // The replication layer makes the leader fix now and seed before proposing, so replicas agree.
        const context = { now, seed: randomBytes(16).toString('hex') };
        const deadline = now + (body.timeout_ms ?? defaultTimeoutMs);
        const engineStarted = performance.now();
        let result: QueryResult;
        try {
          result = engine.execute(body.query, params, context, { deadline });
        } finally {
          metrics.sqliteSeconds.observe((performance.now() - engineStarted) / 1000);
        }
        kind = result.kind;
        if (kind === 'write' || kind === 'schema') state.recordWrite();
        if (kind === 'schema') background.kick();
        const response = {
          columns: result.columns,
          rows: rowsToJson(result.columns, result.rows),
          stats: statsToJson(result.stats),
          meta: state.meta(),
        };
        metrics.queriesTotal.inc({ kind, outcome: 'ok' });
        return response;
      } catch (error) {
        kind = kindOf(body.query);
        metrics.queriesTotal.inc({ kind, outcome: isGeodeError(error) ? error.code : ErrorCode.INTERNAL });
        if (body.request_id !== undefined) request.log.info({ request_id: body.request_id }, 'query failed');
        throw error;
      } finally {
        metrics.queryDurationSeconds.observe({ kind }, (performance.now() - started) / 1000);
      }
    },
  );
};

/** Best-effort statement kind of a failed query, for metric labels only. */
function kindOf(query: string): StatementKind | 'unknown' {
  if (query.length > MAX_CLASSIFY_LENGTH) return 'unknown';
  try {
    return classify(parse(query));
  } catch {
    return 'unknown';
  }
}

function paramsFromJson(json: Record<string, unknown>): ValueMap {
  const params: ValueMap = Object.create(null) as ValueMap;
  for (const [name, item] of Object.entries(json)) {
    const value = fromJson(item);
    checkIntegers(value, `params.${name}`);
    params[name] = value;
  }
  return params;
}

/** JSON numbers beyond 64 bits would reach the engine as out-of-range INTEGERs; refuse them at the door. */
function checkIntegers(value: Value, path: string): void {
  if (typeof value === 'bigint') {
    if (value < INT64_MIN || value > INT64_MAX) {
      throw new GeodeError(ErrorCode.BAD_REQUEST, `${path}: integer outside the 64-bit range`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkIntegers(item, `${path}[${index}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value as ValueMap)) checkIntegers(item, `${path}.${key}`);
  }
}

function rowsToJson(columns: string[], rows: Value[][]): Record<string, JsonValue>[] {
  return rows.map((row) => {
    // No prototype, so a column named `__proto__` is data like any other.
    const out = Object.create(null) as Record<string, JsonValue>;
    columns.forEach((column, index) => {
      out[column] = toJson(row[index] ?? null);
    });
    return out;
  });
}

function statsToJson(stats: QueryStats): QueryStatsBody {
  return {
    nodes_created: stats.nodesCreated,
    nodes_deleted: stats.nodesDeleted,
    relationships_created: stats.relationshipsCreated,
    relationships_deleted: stats.relationshipsDeleted,
    properties_set: stats.propertiesSet,
    labels_added: stats.labelsAdded,
    labels_removed: stats.labelsRemoved,
    indexes_added: stats.indexesAdded,
    indexes_removed: stats.indexesRemoved,
  };
}
