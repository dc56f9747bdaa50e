/**
 * Aggregate functions and the rewrite that lifts them out of projection
 * expressions into hidden slots (see the protocol in index.ts).
 */
import type { Expr, FunctionCallExpr } from '../../../shared/gql/ast.js';
import { ErrorCode, GeodeError, typeError } from '../../../shared/protocol/errors.js';
import type { Value } from '../../../shared/gql/values.js';
import { TemporalValue, typeName } from '../../../shared/gql/values.js';
import { BIGINT_BYTES, MAX_LIST_LENGTH, SET_ENTRY_BYTES, SLOT_BYTES, sortWithBudget, stringBytes } from './budget.js';
import type { StatementBudget } from './budget.js';
import { compareValues, valueKey } from './compare.js';
import { compileExpression } from './compile.js';
import type { AggregateSlot, Aggregator, CompiledExpr, EvalContext, Row } from './index.js';
import { add, argumentError, checkInt, textWork } from './ops.js';

export const AGGREGATE_FUNCTIONS: ReadonlySet<string> = new Set([
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'collect',
  'stdev',
  'stdevp',
  'percentilecont',
  'percentiledisc',
]);

export function isAggregateCall(expr: Expr): boolean {
  return expr.kind === 'CountStar' || (expr.kind === 'FunctionCall' && AGGREGATE_FUNCTIONS.has(expr.lowerName));
}

/** The direct sub-expressions of `expr` in the same scope level (not inside subqueries or pattern comprehensions). */
function children(expr: Expr): Expr[] {
  switch (expr.kind) {
    case 'Property':
      return [expr.object];
    case 'Index':
      return [expr.object, expr.index];
    case 'Slice':
      return [expr.object, ...(expr.from ? [expr.from] : []), ...(expr.to ? [expr.to] : [])];
    case 'List':
      return expr.items;
    case 'Map':
      return expr.entries.map((e) => e.value);
    case 'MapProjection':
      return expr.items.flatMap((i) => (i.kind === 'literal' ? [i.value] : []));
    case 'Binary':
      return [expr.left, expr.right];
    case 'Unary':
    case 'IsNull':
      return [expr.operand];
    case 'HasLabels':
      return [expr.object];
    case 'FunctionCall':
      return expr.args;
    case 'Case':
      return [
        ...(expr.test ? [expr.test] : []),
        ...expr.alternatives.flatMap((a) => [a.when, a.then]),
        ...(expr.otherwise ? [expr.otherwise] : []),
      ];
    case 'ListComprehension':
      return [expr.list, ...(expr.where ? [expr.where] : []), ...(expr.map ? [expr.map] : [])];
    case 'Quantifier':
      return [expr.list, ...(expr.where ? [expr.where] : [])];
    case 'Reduce':
      return [expr.init, expr.list, expr.expr];
    default:
      return [];
  }
}

export function containsAggregate(expr: Expr): boolean {
  if (isAggregateCall(expr)) return true;
  for (const c of children(expr)) if (containsAggregate(c)) return true;
  return false;
}

/** A copy of `expr` with each direct child replaced by `f(child)`. */
function mapChildren(expr: Expr, f: (e: Expr) => Expr): Expr {
  switch (expr.kind) {
    case 'Property':
      return { ...expr, object: f(expr.object) };
    case 'Index':
      return { ...expr, object: f(expr.object), index: f(expr.index) };
    case 'Slice':
      return {
        ...expr,
        object: f(expr.object),
        from: expr.from ? f(expr.from) : null,
        to: expr.to ? f(expr.to) : null,
      };
    case 'List':
      return { ...expr, items: expr.items.map(f) };
    case 'Map':
      return { ...expr, entries: expr.entries.map((e) => ({ key: e.key, value: f(e.value) })) };
    case 'MapProjection':
      return { ...expr, items: expr.items.map((i) => (i.kind === 'literal' ? { ...i, value: f(i.value) } : i)) };
    case 'Binary':
      return { ...expr, left: f(expr.left), right: f(expr.right) };
    case 'Unary':
      return { ...expr, operand: f(expr.operand) };
    case 'IsNull':
      return { ...expr, operand: f(expr.operand) };
    case 'HasLabels':
      return { ...expr, object: f(expr.object) };
    case 'FunctionCall':
      return { ...expr, args: expr.args.map(f) };
    case 'Case':
      return {
        ...expr,
        test: expr.test ? f(expr.test) : null,
        alternatives: expr.alternatives.map((a) => ({ when: f(a.when), then: f(a.then) })),
        otherwise: expr.otherwise ? f(expr.otherwise) : null,
      };
    case 'ListComprehension':
      return {
        ...expr,
        list: f(expr.list),
        where: expr.where ? f(expr.where) : null,
        map: expr.map ? f(expr.map) : null,
      };
    case 'Quantifier':
      return { ...expr, list: f(expr.list), where: expr.where ? f(expr.where) : null };
    case 'Reduce':
      return { ...expr, init: f(expr.init), list: f(expr.list), expr: f(expr.expr) };
    default:
      return expr;
  }
}

/**
 * Rewrites `expr` so every aggregate call becomes a Variable named
 * `slotPrefix + ordinal`, and returns a factory per slot.
 */
export function planAggregates(expr: Expr, slotPrefix: string): { rewritten: Expr; slots: AggregateSlot[] } {
  const slots: AggregateSlot[] = [];
  const visit = (e: Expr): Expr => {
    if (isAggregateCall(e)) {
      const slot = `${slotPrefix}${slots.length}`;
      slots.push({ slot, call: e, create: aggregatorFactory(e) });
      return { kind: 'Variable', pos: e.pos, name: slot };
    }
    return mapChildren(e, visit);
  };
  return { rewritten: visit(expr), slots };
}

// ---- aggregators ------------------------------------------------------------------

/** Accumulates non-null values of one argument; `result` reads the state. */
interface Accumulator {
  add(v: Value, row: Row, ctx: EvalContext): void;
  result(): Value;
}

function aggregatorFactory(call: Expr): () => Aggregator {
  if (call.kind === 'CountStar') {
    return () => {
      let n = 0n;
      return {
        step: () => {
          n++;
        },
        result: () => n,
      };
    };
  }
  const fn = call as FunctionCallExpr;
  const arity = fn.lowerName.startsWith('percentile') ? 2 : 1;
  if (fn.args.length !== arity) {
    throw new GeodeError(ErrorCode.SYNTAX_ERROR, `wrong number of arguments to ${fn.name}()`, {
      phase: 'compile',
      detail: 'InvalidNumberOfArguments',
      position: fn.pos,
    });
  }
  const arg = compileExpression(fn.args[0] as Expr);
  const extra = fn.args[1] === undefined ? null : compileExpression(fn.args[1]);
  const make = accumulatorFactory(fn.lowerName, extra);
  const distinct = fn.distinct;
  return () => {
    const acc = make();
    const seen = distinct ? new Set<string>() : null;
    return {
      step(row: Row, ctx: EvalContext): void {
        const v = arg(row, ctx);
        if (v === null) return;
        if (seen !== null) {
          const k = valueKey(v);
          ctx.budget.work(textWork(k.length));
          if (seen.has(k)) return;
          ctx.budget.retain(SET_ENTRY_BYTES + stringBytes(k.length), `${fn.name}(DISTINCT ...)`);
          seen.add(k);
        }
        acc.add(v, row, ctx);
      },
      result: () => acc.result(),
    };
  };
}

function numeric(fn: string, v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw typeError(`${fn}() expects numbers, got ${typeName(v)}`);
}

function accumulatorFactory(name: string, extra: CompiledExpr | null): () => Accumulator {
  switch (name) {
    case 'count':
      return () => {
        let n = 0n;
        return {
          add: () => {
            n++;
          },
          result: () => n,
        };
      };
    case 'collect':
      return () => {
        const out: Value[] = [];
        return {
          add: (v, _row, ctx) => {
            if (out.length >= MAX_LIST_LENGTH) ctx.budget.list(out.length + 1, 0, 'collect()');
            ctx.budget.retainValue(v, 'collect()');
            out.push(v);
          },
          result: () => out,
        };
      };
    case 'sum':
      return () => {
        let intSum = 0n;
        let floatSum = 0;
        let isFloat = false;
        let duration: Value = null;
        return {
          add: (v) => {
            if (typeof v === 'bigint') intSum = checkInt(intSum + v);
            else if (typeof v === 'number') {
              floatSum += v;
              isFloat = true;
            } else if (v instanceof TemporalValue && v.kind === 'duration') duration = duration === null ? v : add(duration, v);
            else throw typeError(`sum() expects numbers, got ${typeName(v)}`);
          },
          result: () => (duration !== null ? duration : isFloat ? floatSum + Number(intSum) : intSum),
        };
      };
    case 'avg':
      return () => {
        let sum = 0;
        let n = 0;
        return {
          add: (v) => {
            sum += numeric('avg', v);
            n++;
          },
          result: () => (n === 0 ? null : sum / n),
        };
      };
    case 'min':
    case 'max': {
      const sign = name === 'min' ? 1 : -1;
      return () => {
        let best: Value = null;
        return {
          add: (v) => {
            if (best === null || sign * compareValues(v, best) < 0) best = v;
          },
          result: () => best,
        };
      };
    }
    case 'stdev':
    case 'stdevp': {
      const sample = name === 'stdev';
      return () => {
        // Welford's algorithm: numerically stable single pass
        let n = 0;
        let mean = 0;
        let m2 = 0;
        return {
          add: (v) => {
            const x = numeric(name, v);
            n++;
            const d = x - mean;
            mean += d / n;
            m2 += d * (x - mean);
          },
          result: () => {
            const denom = sample ? n - 1 : n;
            return denom <= 0 ? 0 : Math.sqrt(m2 / denom);
          },
        };
      };
    }
    case 'percentilecont':
    case 'percentiledisc': {
      const continuous = name === 'percentilecont';
      return () => {
        const values: (bigint | number)[] = [];
        let p: number | null = null;
        let budget: StatementBudget | undefined;
        return {
          add: (v, row, ctx) => {
            if (p === null) p = percentileArg(extra, row, ctx);
            if (typeof v !== 'bigint' && typeof v !== 'number') throw typeError(`${name}() expects numbers, got ${typeName(v)}`);
            budget = ctx.budget;
            if (values.length >= MAX_LIST_LENGTH) budget.list(values.length + 1, 0, `${name}()`);
            budget.retain(SLOT_BYTES + BIGINT_BYTES, `${name}() buffer`);
            values.push(v);
          },
          result: () => {
            if (values.length === 0 || p === null || budget === undefined) return null;
            sortWithBudget(values, compareValues, budget);
            const n = values.length;
            if (continuous) {
              const pos = p * (n - 1);
              const lo = Math.floor(pos);
              const hi = Math.ceil(pos);
              const a = Number(values[lo]);
              const b = Number(values[hi]);
              return a + (b - a) * (pos - lo);
            }
            const idx = Math.max(0, Math.ceil(p * n) - 1);
            return values[Math.min(idx, n - 1)] ?? null;
          },
        };
      };
    }
    default:
      throw new GeodeError(ErrorCode.INTERNAL, `no aggregator for ${name}`);
  }
}

function percentileArg(extra: CompiledExpr | null, row: Row, ctx: EvalContext): number {
  const v = extra === null ? null : extra(row, ctx);
  if (typeof v !== 'number' && typeof v !== 'bigint') {
    throw typeError(`percentile must be a number, got ${typeName(v)}`);
  }
  const p = Number(v);
  if (!(p >= 0 && p <= 1)) throw argumentError(`percentile ${p} is not between 0.0 and 1.0`, 'NumberOutOfRange');
  return p;
}
