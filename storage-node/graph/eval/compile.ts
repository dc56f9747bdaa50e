/**
 * Compiles an expression AST into a tree of closures once, so that rows are
 * evaluated without walking the AST. Constant sub-expressions (literals and
 * literal lists/maps) become constant closures.
 */
import type { Expr, FunctionCallExpr, MapProjectionExpr, QuantifierExpr } from '../../../shared/gql/ast.js';
import { ErrorCode, GeodeError, typeError } from '../../../shared/protocol/errors.js';
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import { NodeValue, RelationshipValue, isMap, typeName } from '../../../shared/gql/values.js';
import { isAggregateCall } from './aggregates.js';
import { CONS_BYTES, ITERATION_WORK, LIST_BYTES, MAP_BYTES, MAP_ENTRY_BYTES, SLOT_BYTES, flattenString, scalarBytes } from './budget.js';
import { compareForOperator, equalsValues, hasOwn, truthy } from './compare.js';
import type { CompiledExpr, EvalContext, Row } from './index.js';
import { lookupFunction } from './functions.js';
import {
  checkBool,
  concat,
  contains,
  deletedEntity,
  divide,
  endsWith,
  hasLabels,
  inList,
  indexOf,
  modulo,
  multiply,
  negate,
  plus,
  power,
  propertyOf,
  sliceOf,
  startsWith,
  subtract,
  textWork,
  unaryPlus,
} from './ops.js';
import { regexMatch } from './regex.js';

type Binary = (a: Value, b: Value, ctx: EvalContext) => Value;

/** Work of comparing two values: a list compares element by element. */
function comparisonWork(a: Value, ctx: EvalContext): void {
  if (Array.isArray(a)) ctx.budget.work(a.length);
  else if (typeof a === 'string' && a.length > 256) ctx.budget.work(textWork(a.length));
}

const BINARY: Partial<Record<string, Binary>> = {
  '+': (a, b, ctx) => plus(a, b, ctx.budget),
  '-': subtract,
  '*': multiply,
  '/': divide,
  '%': modulo,
  '^': power,
  '||': (a, b, ctx) => concat(a, b, ctx.budget),
  IN: (a, b, ctx) => inList(a, b, ctx.budget),
  'STARTS WITH': startsWith,
  'ENDS WITH': endsWith,
  CONTAINS: (a, b, ctx) => contains(a, b, ctx.budget),
  '=~': (a, b, ctx) => regexMatch(a, b, ctx.budget),
  '=': (a, b, ctx) => {
    comparisonWork(a, ctx);
    return equalsValues(a, b);
  },
  '<>': (a, b, ctx) => {
    comparisonWork(a, ctx);
    const e = equalsValues(a, b);
    return e === null ? null : !e;
  },
  '<': (a, b) => {
    const c = compareForOperator(a, b);
    return c === null ? null : c < 0; // NaN < 0 is false, as every NaN comparison must be
  },
  '<=': (a, b) => {
    const c = compareForOperator(a, b);
    return c === null ? null : c <= 0;
  },
  '>': (a, b) => {
    const c = compareForOperator(a, b);
    return c === null ? null : c > 0;
  },
  '>=': (a, b) => {
    const c = compareForOperator(a, b);
    return c === null ? null : c >= 0;
  },
};

function constant(v: Value): CompiledExpr {
  return () => v;
}

/** The value of a constant expression (literals, lists/maps of literals), or undefined if not constant. */
function constantValue(expr: Expr): Value | undefined {
  switch (expr.kind) {
    case 'Literal':
      return expr.value;
    case 'List': {
      const out: Value[] = [];
      for (const item of expr.items) {
        const v = constantValue(item);
        if (v === undefined) return undefined;
        out.push(v);
      }
      return out;
    }
    case 'Map': {
      const out: ValueMap = {};
      for (const { key, value } of expr.entries) {
        const v = constantValue(value);
        if (v === undefined) return undefined;
        out[key] = v;
      }
      return out;
    }
    default:
      return undefined;
  }
}

export function compileExpression(expr: Expr): CompiledExpr {
  const c = constantValue(expr);
  if (c !== undefined) return constant(c);
  switch (expr.kind) {
    case 'Literal':
      return constant(expr.value);
    case 'Parameter': {
      const name = expr.name;
      return (_row, ctx) => {
        const v = ctx.params[name];
        if (v === undefined && !hasOwn(ctx.params, name)) {
          throw new GeodeError(ErrorCode.PARAMETER_MISSING, `expected parameter $${name}`, {
            phase: 'runtime',
            detail: 'MissingParameter',
          });
        }
        return v ?? null;
      };
    }
    case 'Variable': {
      const name = expr.name;
      return (row) => {
        const v = row.get(name);
        return v === undefined ? null : v;
      };
    }
    case 'Property': {
      const key = expr.key;
      if (expr.object.kind === 'Variable') {
        const name = expr.object.name;
        return (row, ctx) => {
          const obj = row.get(name);
          return obj === undefined ? null : propertyOf(obj, key, ctx);
        };
      }
      const object = compileExpression(expr.object);
      return (row, ctx) => propertyOf(object(row, ctx), key, ctx);
    }
    case 'Index': {
      const object = compileExpression(expr.object);
      const index = compileExpression(expr.index);
      return (row, ctx) => indexOf(object(row, ctx), index(row, ctx), ctx);
    }
    case 'Slice': {
      const object = compileExpression(expr.object);
      const from = expr.from === null ? null : compileExpression(expr.from);
      const to = expr.to === null ? null : compileExpression(expr.to);
      return (row, ctx) =>
        sliceOf(object(row, ctx), from === null ? undefined : from(row, ctx), to === null ? undefined : to(row, ctx), ctx.budget);
    }
    case 'List': {
      const items = expr.items.map(compileExpression);
      return (row, ctx) => {
        const out: Value[] = new Array<Value>(items.length);
        // Strings and lists among the items were charged where they were built; scalars are boxed here.
        let bytes = LIST_BYTES + items.length * SLOT_BYTES;
        for (let i = 0; i < items.length; i++) {
          const v = (items[i] as CompiledExpr)(row, ctx);
          bytes += scalarBytes(v);
          out[i] = v;
        }
        ctx.budget.alloc(bytes, 'a list');
        return out;
      };
    }
    case 'Map': {
      const entries = expr.entries.map((e) => [e.key, compileExpression(e.value)] as const);
      return (row, ctx) => {
        const out: ValueMap = {};
        let bytes = MAP_BYTES + entries.length * MAP_ENTRY_BYTES;
        for (const [k, f] of entries) {
          const v = f(row, ctx);
          bytes += scalarBytes(v);
          out[k] = v;
        }
        ctx.budget.alloc(bytes, 'a map');
        return out;
      };
    }
    case 'MapProjection':
      return compileMapProjection(expr);
    case 'Binary':
      return compileBinary(expr.op, compileExpression(expr.left), compileExpression(expr.right));
    case 'Unary': {
      const operand = compileExpression(expr.operand);
      switch (expr.op) {
        case 'NOT':
          return (row, ctx) => {
            const v = checkBool(operand(row, ctx), 'NOT');
            return v === null ? null : !v;
          };
        case '-':
          return (row, ctx) => negate(operand(row, ctx));
        default:
          return (row, ctx) => unaryPlus(operand(row, ctx));
      }
    }
    case 'IsNull': {
      const operand = compileExpression(expr.operand);
      return expr.negated ? (row, ctx) => operand(row, ctx) !== null : (row, ctx) => operand(row, ctx) === null;
    }
    case 'HasLabels': {
      const object = compileExpression(expr.object);
      const labels = expr.labels;
      return (row, ctx) => {
        const v = object(row, ctx);
        if (v instanceof NodeValue && ctx.isDeleted(v)) throw deletedEntity();
        return hasLabels(v, labels);
      };
    }
    case 'FunctionCall':
      return compileFunction(expr);
    case 'CountStar':
      throw misplacedAggregate('count(*)');
    case 'Case':
      return compileCase(expr);
    case 'ListComprehension': {
      const list = compileExpression(expr.list);
      const where = expr.where === null ? null : compileExpression(expr.where);
      const map = expr.map === null ? null : compileExpression(expr.map);
      const variable = expr.variable;
      return (row, ctx) => {
        const l = list(row, ctx);
        if (l === null) return null;
        const items = asList(l, 'list comprehension');
        const budget = ctx.budget;
        budget.alloc(LIST_BYTES, 'list comprehension');
        const scope = new Map(row);
        const out: Value[] = [];
        for (const item of items) {
          budget.work(ITERATION_WORK);
          // What an iteration builds stays charged only if its element is kept.
          const before = budget.held;
          scope.set(variable, item);
          if (where !== null && !truthy(where(scope, ctx))) {
            budget.held = before;
            continue;
          }
          const v = map === null ? item : map(scope, ctx);
          budget.alloc(SLOT_BYTES + scalarBytes(v), 'list comprehension');
          out.push(v);
        }
        return out;
      };
    }
    case 'PatternComprehension': {
      const parts = [expr.pattern];
      const where = expr.where;
      const map = compileExpression(expr.map);
      return (row, ctx) => {
        const budget = ctx.budget;
        const out: Value[] = [];
        // The matcher resets `held` to its own marks as it moves on, so the elements kept here are
        // carried in `retained` until the list is complete, then handed back to `held`.
        let kept = LIST_BYTES;
        budget.retain(LIST_BYTES, 'pattern comprehension');
        for (const match of ctx.patterns.matchPattern(parts, where, row, ctx)) {
          const before = budget.held;
          const v = map(match, ctx);
          const bytes = budget.held - before + SLOT_BYTES + scalarBytes(v);
          budget.held = before;
          budget.retain(bytes, 'pattern comprehension');
          kept += bytes;
          out.push(v);
        }
        budget.retained -= kept;
        budget.alloc(kept, 'pattern comprehension');
        return out;
      };
    }
    case 'Quantifier':
      return compileQuantifier(expr);
    case 'Reduce': {
      const init = compileExpression(expr.init);
      const list = compileExpression(expr.list);
      const body = compileExpression(expr.expr);
      const { accumulator, variable } = expr;
      return (row, ctx) => {
        let acc = init(row, ctx);
        const l = list(row, ctx);
        if (l === null) return null;
        const items = asList(l, 'reduce');
        const budget = ctx.budget;
        const scope = new Map(row);
        // Only the latest accumulator stays charged: what earlier iterations built is garbage.
        const mark = budget.held;
        let accBytes = 0;
        // A string built by appending keeps one 32-byte node per append until it is flattened.
        let consBytes = 0;
        for (const item of items) {
          budget.work(ITERATION_WORK);
          scope.set(accumulator, acc);
          scope.set(variable, item);
          const before = budget.held;
          const next = body(scope, ctx);
          const built = budget.held - before;
          if (next === acc) accBytes += built;
          else {
            accBytes = built;
            if (typeof next === 'string' && typeof acc === 'string' && next.length > acc.length) consBytes += CONS_BYTES;
            else consBytes = 0;
          }
          if (consBytes > accBytes && typeof next === 'string') {
            flattenString(next);
            budget.work(textWork(next.length));
            consBytes = 0;
          }
          acc = next;
          budget.held = mark;
          budget.alloc(accBytes + consBytes, 'reduce() accumulator');
        }
        return acc;
      };
    }
    case 'PatternPredicate': {
      const parts = [expr.pattern];
      return (row, ctx) => any(ctx.patterns.matchPattern(parts, null, row, ctx));
    }
    case 'ExistsSubquery': {
      const { query, pattern, where } = expr;
      if (query !== null) return (row, ctx) => any(ctx.patterns.runSubquery(query, row, ctx));
      const parts = pattern ?? [];
      return (row, ctx) => any(ctx.patterns.matchPattern(parts, where, row, ctx));
    }
  }
}

function any(rows: Iterable<Row>): boolean {
  for (const _row of rows) return true;
  return false;
}

function asList(v: Value, what: string): readonly Value[] {
  if (Array.isArray(v)) return v;
  throw typeError(`${what} expects a LIST, got ${typeName(v)}`);
}

function misplacedAggregate(name: string): GeodeError {
  return new GeodeError(ErrorCode.SYNTAX_ERROR, `aggregate ${name} is not allowed here`, {
    phase: 'compile',
    detail: 'InvalidAggregation',
  });
}

function compileBinary(op: string, left: CompiledExpr, right: CompiledExpr): CompiledExpr {
  switch (op) {
    case 'AND':
      return (row, ctx) => {
        const l = checkBool(left(row, ctx), 'AND');
        if (l === false) return false;
        const r = checkBool(right(row, ctx), 'AND');
        if (r === false) return false;
        return l === null || r === null ? null : true;
      };
    case 'OR':
      return (row, ctx) => {
        const l = checkBool(left(row, ctx), 'OR');
        if (l === true) return true;
        const r = checkBool(right(row, ctx), 'OR');
        if (r === true) return true;
        return l === null || r === null ? null : false;
      };
    case 'XOR':
      return (row, ctx) => {
        const l = checkBool(left(row, ctx), 'XOR');
        const r = checkBool(right(row, ctx), 'XOR');
        return l === null || r === null ? null : l !== r;
      };
    default: {
      const f = BINARY[op];
      if (f === undefined) throw new GeodeError(ErrorCode.UNSUPPORTED, `operator ${op} is not supported`);
      return (row, ctx) => f(left(row, ctx), right(row, ctx), ctx);
    }
  }
}

function compileCase(expr: Extract<Expr, { kind: 'Case' }>): CompiledExpr {
  const alts = expr.alternatives.map((a) => ({ when: compileExpression(a.when), then: compileExpression(a.then) }));
  const otherwise = expr.otherwise === null ? constant(null) : compileExpression(expr.otherwise);
  if (expr.test === null) {
    return (row, ctx) => {
      for (const a of alts) if (truthy(a.when(row, ctx))) return a.then(row, ctx);
      return otherwise(row, ctx);
    };
  }
  const test = compileExpression(expr.test);
  return (row, ctx) => {
    const t = test(row, ctx);
    for (const a of alts) if (equalsValues(t, a.when(row, ctx)) === true) return a.then(row, ctx);
    return otherwise(row, ctx);
  };
}

function compileQuantifier(expr: QuantifierExpr): CompiledExpr {
  const list = compileExpression(expr.list);
  const where = expr.where === null ? null : compileExpression(expr.where);
  const { variable, quantifier } = expr;
  return (row, ctx) => {
    const l = list(row, ctx);
    if (l === null) return null;
    const items = asList(l, quantifier);
    const budget = ctx.budget;
    const scope = new Map(row);
    let trues = 0;
    let nulls = 0;
    const mark = budget.held;
    for (const item of items) {
      budget.work(ITERATION_WORK);
      budget.held = mark;
      scope.set(variable, item);
      const p = where === null ? item : where(scope, ctx);
      const b = checkBool(p, quantifier);
      if (b === true) {
        trues++;
        if (quantifier === 'any') return true;
        if (quantifier === 'none') return false;
        if (quantifier === 'single' && trues > 1) return false;
      } else if (b === null) {
        nulls++;
      } else if (quantifier === 'all') {
        return false;
      }
    }
    switch (quantifier) {
      case 'all':
        return nulls > 0 ? null : true;
      case 'any':
        return nulls > 0 ? null : false;
      case 'none':
        return nulls > 0 ? null : true;
      default:
        return nulls > 0 ? null : trues === 1;
    }
  };
}

function compileMapProjection(expr: MapProjectionExpr): CompiledExpr {
  const variable = expr.variable;
  const items = expr.items.map((item) =>
    item.kind === 'literal' ? { ...item, compiled: compileExpression(item.value) } : { ...item, compiled: null },
  );
  return (row, ctx) => {
    const base = row.get(variable) ?? null;
    if (base === null) return null;
    let props: ValueMap;
    if (base instanceof NodeValue || base instanceof RelationshipValue) {
      if (ctx.isDeleted(base)) throw deletedEntity();
      props = base.properties;
    } else if (isMap(base)) {
      props = base;
    } else {
      throw typeError(`map projection expects a MAP, NODE or RELATIONSHIP, got ${typeName(base)}`);
    }
    const out: ValueMap = {};
    let bytes = MAP_BYTES;
    for (const item of items) {
      switch (item.kind) {
        case 'property':
          out[item.key] = hasOwn(props, item.key) ? (props[item.key] ?? null) : null;
          break;
        case 'literal':
          out[item.key] = (item.compiled as CompiledExpr)(row, ctx);
          break;
        case 'variable':
          out[item.name] = row.get(item.name) ?? null;
          break;
        default:
          for (const k of Object.keys(props)) {
            out[k] = props[k] ?? null;
            bytes += MAP_ENTRY_BYTES;
          }
          break;
      }
    }
    ctx.budget.alloc(bytes + items.length * MAP_ENTRY_BYTES, 'a map projection');
    return out;
  };
}

function compileFunction(expr: FunctionCallExpr): CompiledExpr {
  const name = expr.lowerName;
  if (isAggregateCall(expr)) throw misplacedAggregate(`${expr.name}()`);
  const arg0 = expr.args[0];
  if (name === 'exists' && expr.args.length === 1 && arg0 !== undefined) {
    if (arg0.kind === 'PatternPredicate' || arg0.kind === 'ExistsSubquery') return compileExpression(arg0);
  }
  const def = lookupFunction(name);
  if (def === undefined) {
    throw new GeodeError(ErrorCode.SYNTAX_ERROR, `unknown function ${expr.name}`, {
      phase: 'compile',
      detail: 'UnknownFunction',
      position: expr.pos,
    });
  }
  const n = expr.args.length;
  if (n < def.min || n > def.max) {
    throw new GeodeError(ErrorCode.SYNTAX_ERROR, `wrong number of arguments to ${expr.name}()`, {
      phase: 'compile',
      detail: 'InvalidNumberOfArguments',
      position: expr.pos,
    });
  }
  const args = expr.args.map(compileExpression);
  const call = def.call;
  if (name === 'coalesce') {
    return (row, ctx) => {
      for (const a of args) {
        const v = a(row, ctx);
        if (v !== null) return v;
      }
      return null;
    };
  }
  switch (n) {
    case 0: {
      const none: Value[] = [];
      return (_row, ctx) => call(none, ctx);
    }
    case 1: {
      const a0 = args[0] as CompiledExpr;
      return (row, ctx) => call([a0(row, ctx)], ctx);
    }
    default:
      return (row, ctx: EvalContext) => {
        const values: Value[] = new Array<Value>(n);
        for (let i = 0; i < n; i++) values[i] = (args[i] as CompiledExpr)(row, ctx);
        return call(values, ctx);
      };
  }
}
