import type { Expr } from '../../../shared/gql/ast.js';
import type { AggregateSlot } from './index.js';
export const AGGREGATE_FUNCTIONS: ReadonlySet<string> = new Set(['count', 'sum', 'avg', 'min', 'max', 'collect', 'stdev', 'stdevp', 'percentilecont', 'percentiledisc']);
export function isAggregateCall(expr: Expr): boolean { return expr.kind === 'CountStar' || (expr.kind === 'FunctionCall' && AGGREGATE_FUNCTIONS.has(expr.lowerName)); }
export function containsAggregate(expr: Expr): boolean { void expr; throw new Error('not implemented'); }
export function planAggregates(expr: Expr, slotPrefix: string): { rewritten: Expr; slots: AggregateSlot[] } { void expr; void slotPrefix; throw new Error('not implemented'); }
