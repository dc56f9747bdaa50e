/**
 * The query request body, the same at a node and at a gateway: one TypeBox
 * schema that both servers validate with, so the two can never drift apart.
 */
import { Type } from 'typebox';
import type { Static } from 'typebox';
import { Compile } from 'typebox/compile';

export const ConsistencyLevel = Type.Union([
  Type.Literal('linearizable'),
  Type.Literal('leader'),
  Type.Literal('bounded'),
  Type.Literal('any'),
]);
export type ConsistencyLevel = Static<typeof ConsistencyLevel>;

/** Upper bound on `timeout_ms`: ten minutes; longer work belongs in a background job. */
export const MAX_TIMEOUT_MS = 600_000;

export const QueryRequest = Type.Object(
  {
    query: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_MS })),
    request_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    consistency: Type.Optional(ConsistencyLevel),
    max_lag_ms: Type.Optional(Type.Integer({ minimum: 0 })),
    after_index: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The region epoch of `after_index`: a position in the primary region's log (multi-region deployments). */
    after_epoch: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type QueryRequest = Static<typeof QueryRequest>;

const checkQueryRequest = Compile(QueryRequest);

/**
 * Checks a parsed body against QueryRequest for servers that read bodies
 * themselves (the node's query stream, the gateway's query route): undefined
 * when it is valid, else the same `body.field: problem` text the fastify
 * routes give.
 */
export function queryRequestProblem(body: unknown): string | undefined {
  if (checkQueryRequest.Check(body)) return undefined;
  return describeIssues([...checkQueryRequest.Errors(body)], 'body') || 'body: does not match the query request schema';
}

/** One schema violation as TypeBox (and ajv) report it. */
export interface ValidationIssue {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: unknown;
  message?: string | undefined;
}

/** `body.params: must be object` style, one clause per violation (at most five), so the client sees which field. */
export function describeIssues(issues: readonly ValidationIssue[], context: string): string {
  return (
    issues
      // TypeBox also reports each extra key as `schema is false`; the additionalProperties entry names it better.
      .filter((issue) => issue.keyword === 'additionalProperties' || !issue.schemaPath.endsWith('/additionalProperties'))
      .slice(0, 5)
      .map((issue) => {
        const path = [context, ...issue.instancePath.split('/').filter((part) => part !== '')].join('.');
        const params = issue.params as Record<string, unknown>;
        const extra = params['additionalProperties'] ?? params['additionalProperty'];
        if (issue.keyword === 'additionalProperties' && extra !== undefined) return `${path}: unknown field ${Array.isArray(extra) ? extra.map(String).join(', ') : String(extra)}`;
        const missing = params['requiredProperties'] ?? params['missingProperty'];
        if (issue.keyword === 'required' && missing !== undefined) return `${path}: missing field ${Array.isArray(missing) ? missing.map(String).join(', ') : String(missing)}`;
        return `${path}: ${issue.message ?? 'invalid'}`;
      })
      .join('; ')
  );
}
