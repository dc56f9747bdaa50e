/**
 * What `POST /v1/query` runs on. Two implementations: the local engine
 * (a single process, `build({engine})`) and a cluster StorageNode
 * (`build({node})`). The route owns validation, metrics and the wire shape;
 * a backend owns routing the statement and filling in `meta`.
 */
import type { StatementKind } from '../../shared/gql/ast.js';
import type { JsonValue } from '../../shared/gql/values.js';
import type { ConsistencyLevel as Consistency } from '../../shared/protocol/query.js';
import type { QueryMeta, QueryStatsBody } from './schemas.js';

export interface BackendQuery {
  query: string;
  /** Raw JSON parameters as the client sent them. */
  params: Record<string, unknown>;
  timeoutMs: number;
  requestId: string | undefined;
  consistency: Consistency;
  maxLagMs: number | undefined;
  afterIndex: number | undefined;
  afterEpoch?: number | undefined;
}

/** A statement's answer: its result as values, or (from a read worker) already serialized. */
export type BackendAnswer = { kind: StatementKind; meta: QueryMeta } & (
  | { columns: string[]; rows: Record<string, JsonValue>[]; stats: QueryStatsBody }
  /** The `"columns":…,"rows":…,"stats":…` members of the answer, without braces. */
  | { json: string }
);

export type Readiness = { ready: true } | { ready: false; reason: string };

export interface QueryBackend {
  execute(query: BackendQuery): Promise<BackendAnswer>;
  /** Best-effort statement kind of a failed query, for metric labels only. */
  kindOf(query: string): StatementKind | 'unknown';
  readiness(): Promise<Readiness>;
}
