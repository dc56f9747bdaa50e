/**
 * Public face of the expression evaluator. The executor compiles each AST
 * expression once with `compileExpression` and calls the closure per row.
 *
 * Aggregation protocol (projections with aggregates):
 *   1. For each projection item with `containsAggregate(item.expr)`, call
 *      `planAggregates(item.expr, prefix)` with a prefix unique per item
 *      (e.g. `\u0000agg3_`). Each aggregate call in the expression is replaced
 *      by a `Variable` named `slot` (prefix + ordinal).
 *   2. Grouping keys are the items without aggregates. Per group, call
 *      `slot.create()` once per slot and `step(row, ctx)` for every input row
 *      of the group (the aggregator evaluates its own argument and handles
 *      DISTINCT and null skipping).
 *   3. After the last row, build a row = the group's first input row (so that
 *      non-aggregated sub-expressions like `n.x` in `n.x + count(*)` resolve)
 *      plus `slot -> aggregator.result()`, then evaluate
 *      `compileExpression(rewritten)` on it.
 *   For an empty input with no grouping keys, produce one row from fresh
 *   aggregators (count = 0, collect = [], sum = 0, others null).
 */
import type { Expr, PatternPart, QueryStatement } from '../../../shared/gql/ast.js';
import type { NodeValue, RelationshipValue, Value, ValueMap } from '../../../shared/gql/values.js';
import type { StatementBudget } from './budget.js';

export type Row = Map<string, Value>;

export interface PatternHost {
  /** Every extension of `row` matching the pattern parts and `where` (pattern predicates, pattern comprehensions, EXISTS {pattern}). */
  matchPattern(parts: PatternPart[], where: Expr | null, row: Row, ctx: EvalContext): Iterable<Row>;
  /** Runs a full subquery (EXISTS { MATCH ... RETURN ... }) with `row` as the outer scope. */
  runSubquery(query: QueryStatement, row: Row, ctx: EvalContext): Iterable<Row>;
}

export interface EvalContext {
  params: ValueMap;
  /** Epoch ms: datetime(), timestamp(), date() use this, never Date.now(). */
  now: number;
  /** Seeded PRNG in [0,1): rand(). */
  random(): number;
  /** Seeded: randomUUID(). */
  randomUUID(): string;
  patterns: PatternHost;
  /** Property access on a deleted entity raises ENTITY_NOT_FOUND. */
  isDeleted(entity: NodeValue | RelationshipValue): boolean;
  /** startNode()/endNode(). */
  nodeById(id: number): NodeValue | null;
  /** The statement's memory, work and time budgets (see budget.ts); every loop and every value built charges it. */
  budget: StatementBudget;
}

export type CompiledExpr = (row: Row, ctx: EvalContext) => Value;

export interface Aggregator {
  step(row: Row, ctx: EvalContext): void;
  result(): Value;
}

export interface AggregateSlot {
  /** Name of the hidden variable that replaces the aggregate call in the rewritten expression. */
  slot: string;
  /** The aggregate call this slot computes (for diagnostics / EXPLAIN). */
  call: Expr;
  create(): Aggregator;
}

export { compileExpression } from './compile.js';
export { compareValues, equalsValues, valueKey, truthy, orderBy } from './compare.js';
export { isAggregateCall, containsAggregate, planAggregates, AGGREGATE_FUNCTIONS } from './aggregates.js';
export { isKnownFunction } from './functions.js';
export {
  StatementBudget,
  DEFAULT_MEMORY_BUDGET,
  MAX_MEMORY_BUDGET,
  ROW_WORK,
  sizeOf,
  sortWithBudget,
} from './budget.js';
export type { BudgetLimits } from './budget.js';
