/**
 * Compile-time checks run by parse(): variable scoping and binding rules,
 * aggregation placement, projection rules and the literal type errors the
 * openCypher TCK expects "at compile time". Every check here must be certain:
 * a false error breaks a query that would otherwise run, so when a type or a
 * rule is not known for sure the checker stays quiet and leaves it to runtime.
 */
import { ErrorCode, GeodeError, type SourcePosition } from '../protocol/errors.js';
import type {
  Clause,
  Expr,
  NodePattern,
  PatternPart,
  Projection,
  QueryStatement,
  RelationshipPattern,
  SetItem,
  SingleQuery,
  Statement,
} from './ast.js';

/** What is statically known about a variable or expression; `any` means unknown. */
type VarType = 'node' | 'rel' | 'relList' | 'path' | 'bool' | 'int' | 'float' | 'string' | 'list' | 'map' | 'null' | 'any';

type Scope = Map<string, VarType>;

const AGGREGATES = new Set(['count', 'sum', 'avg', 'min', 'max', 'collect', 'stdev', 'stdevp', 'percentilecont', 'percentiledisc']);

/** Functions known to the engine (lower case); namespaced names are not checked here. */
export const KNOWN_FUNCTIONS: ReadonlySet<string> = new Set([
  ...AGGREGATES,
  // scalar
  'coalesce', 'endnode', 'head', 'id', 'elementid', 'element_id', 'last', 'length', 'properties', 'size', 'startnode',
  'timestamp', 'toboolean', 'tobooleanornull', 'tofloat', 'tofloatornull', 'tointeger', 'tointegerornull', 'type',
  'nullif', 'valuetype', 'randomuuid', 'exists', 'isempty', 'path_length', 'cardinality',
  // lists
  'keys', 'labels', 'nodes', 'range', 'relationships', 'reverse', 'tail', 'tobooleanlist', 'tofloatlist',
  'tointegerlist', 'tostringlist',
  // math
  'abs', 'ceil', 'floor', 'isnan', 'rand', 'round', 'sign', 'e', 'exp', 'log', 'ln', 'log10', 'sqrt', 'power', 'mod',
  'acos', 'asin', 'atan', 'atan2', 'cos', 'cot', 'degrees', 'haversin', 'pi', 'radians', 'sin', 'tan', 'sinh',
  'cosh', 'tanh', 'coth',
  // strings
  'left', 'ltrim', 'replace', 'right', 'rtrim', 'split', 'substring', 'tolower', 'tostring', 'tostringornull',
  'toupper', 'trim', 'btrim', 'lower', 'upper', 'normalize', 'char_length', 'character_length', 'byte_length',
  'octet_length', 'lpad', 'rpad',
  // temporal and spatial
  'date', 'datetime', 'localdatetime', 'localtime', 'time', 'duration', 'point', 'distance',
  'current_date', 'current_time', 'current_timestamp', 'local_time', 'local_datetime', 'zoned_datetime', 'zoned_time',
  'date.truncate', 'datetime.truncate', 'localdatetime.truncate', 'time.truncate', 'localtime.truncate',
  'duration.between', 'duration.inmonths', 'duration.indays', 'duration.inseconds',
  // predicates and lists written as functions
  'all', 'any', 'none', 'single', 'reduce', 'shortestpath', 'allshortestpaths',
]);

/** Functions whose value differs per call: not allowed where a constant is required. */
const NON_DETERMINISTIC = new Set(['rand', 'randomuuid']);

function err(code: ErrorCode, detail: string, message: string, position: SourcePosition): GeodeError {
  return new GeodeError(code, message, { detail, phase: 'compile', position });
}
const syntax = (detail: string, message: string, pos: SourcePosition): GeodeError =>
  err(ErrorCode.SYNTAX_ERROR, detail, message, pos);

const PRIMITIVE: ReadonlySet<VarType> = new Set(['bool', 'int', 'float', 'string', 'list', 'map']);
const ENTITY: ReadonlySet<VarType> = new Set(['node', 'rel', 'relList', 'path']);

function describeType(t: VarType): string {
  switch (t) {
    case 'rel':
      return 'Relationship';
    case 'relList':
      return 'List<Relationship>';
    case 'bool':
      return 'Boolean';
    case 'int':
      return 'Integer';
    default:
      return t.charAt(0).toUpperCase() + t.slice(1);
  }
}

/** Structural identity of an expression (positions ignored), for matching ORDER BY to projected items. */
function exprKey(e: Expr): string {
  return keyOf(e);
}

function keyOf(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'bigint':
      return `${v}n`;
    case 'string':
      return JSON.stringify(v);
    case 'object':
      break;
    default:
      return String(v);
  }
  if (Array.isArray(v)) return `[${v.map(keyOf).join(',')}]`;
  const o = v as Record<string, unknown>;
  let out = '{';
  for (const k in o) if (k !== 'pos') out += `${k}:${keyOf(o[k])},`;
  return out + '}';
}

/** Projected expressions, by kind, so most sub-expressions are rejected without computing a key. */
class AvailableExprs {
  private readonly byKind = new Map<string, Set<string>>();
  constructor(exprs: Expr[]) {
    for (const e of exprs) {
      let set = this.byKind.get(e.kind);
      if (!set) this.byKind.set(e.kind, (set = new Set()));
      set.add(exprKey(e));
    }
  }
  has(e: Expr): boolean {
    const set = this.byKind.get(e.kind);
    return set !== undefined && set.has(exprKey(e));
  }
}

interface ExprCtx {
  scope: Scope;
  /** Where an aggregate may appear: 'allowed' in projections, else the reason it is not. */
  aggregates: 'allowed' | 'forbidden';
  inAggregate: boolean;
  /** Keys of expressions available as whole values (projected items, seen from ORDER BY). */
  available: AvailableExprs | null;
  /** After `CALL ... YIELD *` the variables in scope are not known: skip undefined-variable checks. */
  open: boolean;
}

type PatternMode = 'match' | 'create' | 'merge' | 'predicate' | 'comprehension';

/** Runs all compile-time checks; throws the first error found. */
export function checkStatement(stmt: Statement): void {
  switch (stmt.kind) {
    case 'Query':
      checkQuery(stmt, new Map(), false, true);
      checkPatternPlacementInQuery(stmt);
      return;
    case 'AlterGraphAddProperty':
      checkExpr(stmt.defaultValue, ctxFor(new Map(), 'forbidden'));
      return;
    case 'SystemSelect': {
      // System views expose their columns as variables; names are checked by the view itself.
      const ctx: ExprCtx = { scope: new Map(), aggregates: 'allowed', inAggregate: false, available: null, open: true };
      for (const item of stmt.items ?? []) checkExpr(item.expr, ctx);
      if (stmt.where) checkExpr(stmt.where, { ...ctx, aggregates: 'forbidden' });
      return;
    }
    default:
      return;
  }
}

function ctxFor(scope: Scope, aggregates: ExprCtx['aggregates'], open = false): ExprCtx {
  return { scope, aggregates, inAggregate: false, available: null, open };
}

/** Returns the column names of the query (null when unknown). */
function checkQuery(q: QueryStatement, outer: Scope, inSubquery: boolean, topLevel: boolean): void {
  if (q.unionAll.length > 1 && q.unionAll.some((u) => u !== q.unionAll[0])) {
    throw syntax('InvalidClauseComposition', 'UNION and UNION ALL cannot be mixed', q.pos);
  }
  let columns: string[] | null | undefined;
  for (const part of q.parts) {
    const cols = checkSingleQuery(part, new Map(outer), inSubquery, topLevel);
    if (columns === undefined) columns = cols;
    else if (columns !== null && cols !== null) {
      const a = [...columns].sort().join('\u0000');
      const b = [...cols].sort().join('\u0000');
      if (a !== b) throw syntax('DifferentColumnsInUnion', 'all parts of a UNION must return the same column names', part.pos);
    }
  }
}

const UPDATING: ReadonlySet<Clause['kind']> = new Set(['Create', 'Merge', 'Set', 'Remove', 'Delete']);

function checkSingleQuery(sq: SingleQuery, scope: Scope, inSubquery: boolean, topLevel: boolean): string[] | null {
  const open = false;
  let columns: string[] | null = null;
  const clauses = sq.clauses;
  for (let i = 0; i < clauses.length; i++) {
    const c = clauses[i] as Clause;
    if (inSubquery && UPDATING.has(c.kind)) {
      throw syntax('InvalidClauseComposition', `${c.kind.toUpperCase()} is not allowed inside EXISTS { ... }`, c.pos);
    }
    switch (c.kind) {
      case 'Match': {
        bindPattern(c.pattern, scope, 'match', open);
        if (c.where) checkPredicate(c.where, ctxFor(scope, 'forbidden', open));
        break;
      }
      case 'Unwind': {
        checkExpr(c.expr, ctxFor(scope, 'forbidden', open));
        if (scope.has(c.variable)) {
          throw syntax('VariableAlreadyBound', `variable \`${c.variable}\` is already declared`, c.pos);
        }
        scope.set(c.variable, 'any');
        break;
      }
      case 'With': {
        const r = checkProjection(c.projection, scope, 'WITH', c.pos, open);
        if (c.where) checkPredicate(c.where, { ...r.afterCtx, aggregates: 'forbidden' });
        scope = r.scope;
        break;
      }
      case 'Return': {
        const r = checkProjection(c.projection, scope, 'RETURN', c.pos, open);
        if (i !== clauses.length - 1) {
          throw syntax('InvalidClauseComposition', 'RETURN can only be the last clause of a query', (clauses[i + 1] as Clause).pos);
        }
        columns = open && c.projection.star ? null : r.columns;
        scope = r.scope;
        break;
      }
      case 'Create':
        bindPattern(c.pattern, scope, 'create', open);
        break;
      case 'Merge':
        bindPattern([c.pattern], scope, 'merge', open);
        for (const item of c.onCreate) checkSetItem(item, scope, open);
        for (const item of c.onMatch) checkSetItem(item, scope, open);
        break;
      case 'Set':
        for (const item of c.items) checkSetItem(item, scope, open);
        break;
      case 'Remove':
        for (const item of c.items) {
          if (item.kind === 'RemoveLabels') requireVariable(item.variable, scope, item.pos, open);
          else checkExpr(item.target, ctxFor(scope, 'forbidden', open));
        }
        break;
      case 'Delete':
        for (const e of c.exprs) {
          if (e.kind === 'HasLabels') throw syntax('InvalidDelete', 'DELETE removes nodes and relationships; use REMOVE for labels', e.pos);
          const t = checkExpr(e, ctxFor(scope, 'forbidden', open));
          if (PRIMITIVE.has(t) && t !== 'list') {
            throw syntax('InvalidArgumentType', `DELETE expects a node, relationship or path, not ${describeType(t)}`, e.pos);
          }
        }
        break;
      case 'Call': {
        const ctx = ctxFor(scope, 'forbidden', open);
        for (const a of c.args ?? []) checkExpr(a, ctx);
        if (c.yield === '*' && clauses.length > 1) {
          throw syntax('UnexpectedSyntax', 'YIELD * is only allowed in a standalone CALL', c.pos);
        }
        // Without YIELD, an in-query call's outputs are not visible to later clauses.
        if (c.yield && c.yield !== '*') {
          for (const y of c.yield) {
            const name = y.alias ?? y.name;
            if (scope.has(name)) throw syntax('VariableAlreadyBound', `variable \`${name}\` is already declared`, c.pos);
            scope.set(name, 'any');
          }
        }
        if (c.where) checkPredicate(c.where, ctxFor(scope, 'forbidden', open));
        break;
      }
    }
  }
  const last = clauses[clauses.length - 1];
  if (topLevel && last && (last.kind === 'Match' || last.kind === 'With' || last.kind === 'Unwind')) {
    throw syntax(
      'InvalidClauseComposition',
      `a query cannot end with ${last.kind.toUpperCase()}; add a RETURN clause`,
      last.pos,
    );
  }
  return columns;
}

function requireVariable(name: string, scope: Scope, pos: SourcePosition, open: boolean): VarType {
  const t = scope.get(name);
  if (t === undefined) {
    if (open) return 'any';
    throw syntax('UndefinedVariable', `variable \`${name}\` is not defined`, pos);
  }
  return t;
}

function checkSetItem(item: SetItem, scope: Scope, open: boolean): void {
  const ctx = ctxFor(scope, 'forbidden', open);
  switch (item.kind) {
    case 'SetProperty':
      checkExpr(item.target.object, ctx);
      checkExpr(item.value, ctx);
      return;
    case 'SetAllProperties':
    case 'MergeProperties':
      requireVariable(item.variable, scope, item.pos, open);
      checkExpr(item.value, ctx);
      return;
    case 'SetLabels':
      requireVariable(item.variable, scope, item.pos, open);
      return;
  }
}

/** A WHERE predicate: must not be a value that can never be boolean. */
function checkPredicate(e: Expr, ctx: ExprCtx): void {
  const t = checkExpr(e, ctx);
  if (t !== 'bool' && t !== 'any' && t !== 'null') {
    throw syntax('InvalidArgumentType', `WHERE expects a boolean, not ${describeType(t)}`, e.pos);
  }
}

// ---- patterns -------------------------------------------------------------------

function bindPattern(parts: PatternPart[], scope: Scope, mode: PatternMode, open: boolean): void {
  // Variables introduced by this clause (a relationship may not repeat within one pattern).
  const here = new Map<string, VarType>();
  const propertyChecks: { expr: Expr; isNode: boolean }[] = [];
  for (const part of parts) {
    bindNode(part.start, part, scope, here, mode, open, propertyChecks);
    for (const step of part.chain) {
      bindRel(step.rel, scope, here, mode, open, propertyChecks);
      bindNode(step.node, part, scope, here, mode, open, propertyChecks);
    }
    if (part.variable !== null) {
      if (mode === 'predicate') throw syntax('UnexpectedSyntax', 'a path variable cannot be declared inside an expression', part.pos);
      if (scope.has(part.variable)) {
        throw syntax('VariableAlreadyBound', `variable \`${part.variable}\` is already declared`, part.pos);
      }
      scope.set(part.variable, 'path');
      here.set(part.variable, 'path');
    }
  }
  const ctx = ctxFor(scope, 'forbidden', open);
  for (const { expr } of propertyChecks) {
    if (expr.kind === 'Parameter' && (mode === 'match' || mode === 'merge')) {
      throw syntax('InvalidParameterUse', `a parameter cannot be used as a property map in ${mode.toUpperCase()}; use {key: $param.key}`, expr.pos);
    }
    checkExpr(expr, ctx);
  }
}

function bindNode(
  node: NodePattern,
  part: PatternPart,
  scope: Scope,
  here: Map<string, VarType>,
  mode: PatternMode,
  open: boolean,
  propertyChecks: { expr: Expr; isNode: boolean }[],
): void {
  if (node.properties) propertyChecks.push({ expr: node.properties, isNode: true });
  const v = node.variable;
  if (v === null) return;
  const prev = scope.get(v);
  if (prev === undefined) {
    if (mode === 'predicate' && !open) throw syntax('UndefinedVariable', `variable \`${v}\` is not defined`, node.pos);
    scope.set(v, 'node');
    here.set(v, 'node');
    return;
  }
  if (prev !== 'node' && prev !== 'any' && prev !== 'null') {
    throw syntax('VariableTypeConflict', `variable \`${v}\` is a ${describeType(prev)}, not a Node`, node.pos);
  }
  if ((mode === 'create' || mode === 'merge') && (node.labels.length > 0 || node.properties !== null || part.chain.length === 0)) {
    throw syntax('VariableAlreadyBound', `variable \`${v}\` is already declared; it cannot be created again`, node.pos);
  }
}

function bindRel(
  rel: RelationshipPattern,
  scope: Scope,
  here: Map<string, VarType>,
  mode: PatternMode,
  open: boolean,
  propertyChecks: { expr: Expr; isNode: boolean }[],
): void {
  if (rel.properties) propertyChecks.push({ expr: rel.properties, isNode: false });
  bindRelVariable(rel, scope, here, mode, open);
  if (mode === 'create' || mode === 'merge') checkCreatableRel(rel, mode);
}

/** CREATE and MERGE make exactly one directed relationship of one type. */
function checkCreatableRel(rel: RelationshipPattern, mode: 'create' | 'merge'): void {
  const verb = mode.toUpperCase();
  if (rel.length !== null) throw syntax('CreatingVarLength', `${verb} cannot create a variable-length relationship`, rel.pos);
  // MERGE accepts an undirected pattern (it matches either way and creates left to right).
  if (rel.direction === 'both' && mode === 'create') throw syntax('RequiresDirectedRelationship', `${verb} needs a directed relationship`, rel.pos);
  if (rel.types.length !== 1) throw syntax('NoSingleRelationshipType', `${verb} needs exactly one relationship type`, rel.pos);
}

function bindRelVariable(rel: RelationshipPattern, scope: Scope, here: Map<string, VarType>, mode: PatternMode, open: boolean): void {
  const v = rel.variable;
  if (v === null) return;
  const prev = scope.get(v);
  const type: VarType = rel.length === null ? 'rel' : 'relList';
  if (prev === undefined) {
    if (mode === 'predicate' && !open) throw syntax('UndefinedVariable', `variable \`${v}\` is not defined`, rel.pos);
    scope.set(v, type);
    here.set(v, type);
    return;
  }
  if (mode === 'create' || mode === 'merge') {
    if (prev === 'node' || prev === 'path') {
      throw syntax('VariableTypeConflict', `variable \`${v}\` is a ${describeType(prev)}, not a Relationship`, rel.pos);
    }
    throw syntax('VariableAlreadyBound', `variable \`${v}\` is already declared; it cannot be created again`, rel.pos);
  }
  if (prev === 'rel' || prev === 'relList') {
    if (here.has(v)) {
      throw syntax('RelationshipUniquenessViolation', `relationship \`${v}\` cannot be used twice in one pattern`, rel.pos);
    }
    return;
  }
  if (prev === 'any' || prev === 'null' || (prev === 'list' && type === 'relList')) return;
  throw syntax('VariableTypeConflict', `variable \`${v}\` is a ${describeType(prev)}, not a Relationship`, rel.pos);
}

// ---- projections ------------------------------------------------------------------

interface ProjectionResult {
  scope: Scope;
  columns: string[];
  /** What ORDER BY (and WITH ... WHERE) may see. */
  afterCtx: ExprCtx;
}

function containsAggregate(e: Expr): boolean {
  let found = false;
  walkExpr(e, (x) => {
    if (found) return false;
    if (x.kind === 'CountStar' || (x.kind === 'FunctionCall' && AGGREGATES.has(x.lowerName))) {
      found = true;
      return false;
    }
    // Aggregates inside nested scopes are reported by checkExpr, not treated as this item's aggregation.
    return !(x.kind === 'ListComprehension' || x.kind === 'Quantifier' || x.kind === 'Reduce' || x.kind === 'PatternComprehension' || x.kind === 'ExistsSubquery');
  });
  return found;
}

function checkProjection(p: Projection, scope: Scope, clause: 'WITH' | 'RETURN', pos: SourcePosition, open: boolean): ProjectionResult {
  const columns: string[] = [];
  const next: Scope = p.star ? new Map(scope) : new Map();
  if (p.star) {
    if (clause === 'RETURN' && scope.size === 0 && p.items.length === 0 && !open) {
      throw syntax('NoVariablesInScope', `${clause} * is not allowed when there are no variables in scope`, pos);
    }
    columns.push(...[...scope.keys()].sort());
  }
  const ctx = ctxFor(scope, 'allowed', open);
  const seen = new Set<string>();
  const itemTypes: VarType[] = [];
  const aggregating: boolean[] = [];
  let unaliased: { pos: SourcePosition; text: string } | null = null;
  for (const item of p.items) {
    const t = checkExpr(item.expr, ctx);
    itemTypes.push(t);
    aggregating.push(containsAggregate(item.expr));
    const name = item.alias ?? (item.expr.kind === 'Variable' ? item.expr.name : item.text);
    if (clause === 'WITH' && item.alias === null && item.expr.kind !== 'Variable' && unaliased === null) {
      unaliased = { pos: item.expr.pos, text: item.text };
    }
    if (seen.has(name)) throw syntax('ColumnNameConflict', `multiple result columns with the same name \`${name}\``, item.expr.pos);
    seen.add(name);
    columns.push(name);
    next.set(name, t);
  }
  const isAggregating = aggregating.some((a) => a);
  const groupingKeys = p.items.filter((_, i) => !aggregating[i]).map((item) => item.expr);
  const groupingKeySet = new Set(isAggregating ? groupingKeys.map(exprKey) : []);
  const groupingVars = new Set(groupingKeys.flatMap((e) => (e.kind === 'Variable' ? [e.name] : [])));
  p.items.forEach((item, i) => {
    if (aggregating[i]) checkAmbiguous(item.expr, groupingKeySet, groupingVars, null);
  });

  let afterCtx: ExprCtx;
  if (isAggregating || p.distinct) {
    // Only projected values remain after grouping or DISTINCT.
    const available = new AvailableExprs(p.items.map((item) => item.expr));
    afterCtx = { scope: next, aggregates: isAggregating ? 'allowed' : 'forbidden', inAggregate: false, available, open };
  } else {
    // Without grouping, both the projected names and the variables before the projection are visible.
    const merged: Scope = new Map(scope);
    for (const [k, v] of next) merged.set(k, v);
    afterCtx = ctxFor(merged, 'forbidden', open);
  }
  for (const s of p.orderBy) {
    checkExpr(s.expr, afterCtx);
    if (isAggregating && containsAggregate(s.expr)) checkAmbiguous(s.expr, groupingKeySet, groupingVars, new Set(seen));
  }
  if (p.skip) checkCount(p.skip, 'SKIP');
  if (p.limit) checkCount(p.limit, 'LIMIT');
  if (unaliased) throw syntax('NoExpressionAlias', `expression in WITH must be aliased (use AS): ${unaliased.text}`, unaliased.pos);
  return { scope: next, columns, afterCtx };
}

/**
 * In an item that aggregates, everything outside the aggregate calls must be
 * a grouping key: a projected variable, or a property of one, or exactly a
 * projected property lookup. Larger projected expressions do not count.
 */
function checkAmbiguous(e: Expr, keys: Set<string>, vars: Set<string>, aliases: Set<string> | null): void {
  walkExpr(e, (x) => {
    if (x.kind === 'CountStar') return false;
    if (x.kind === 'FunctionCall' && AGGREGATES.has(x.lowerName)) return false;
    if (x.kind === 'Literal' || x.kind === 'Parameter') return false;
    if (x.kind === 'ListComprehension' || x.kind === 'Quantifier' || x.kind === 'Reduce' || x.kind === 'PatternComprehension' || x.kind === 'ExistsSubquery' || x.kind === 'PatternPredicate' || x.kind === 'MapProjection') {
      return false;
    }
    if (x.kind === 'Variable') {
      if (vars.has(x.name) || aliases?.has(x.name)) return false;
      throw syntax(
        'AmbiguousAggregationExpression',
        `\`${x.name}\` is used next to an aggregate but is not a grouping key; project it on its own`,
        x.pos,
      );
    }
    if (x.kind === 'Property') {
      if (keys.has(exprKey(x))) return false;
      let root: Expr = x;
      while (root.kind === 'Property') root = root.object;
      if (root.kind === 'Variable') {
        if (vars.has(root.name) || aliases?.has(root.name)) return false;
        throw syntax(
          'AmbiguousAggregationExpression',
          `\`${root.name}\` is used next to an aggregate but is not a grouping key; project it on its own`,
          x.pos,
        );
      }
    }
    return true;
  });
}

/** SKIP / LIMIT: a constant, non-negative INTEGER. */
function checkCount(e: Expr, what: string): void {
  try {
    checkExpr(e, ctxFor(new Map(), 'forbidden'));
  } catch (error) {
    if (error instanceof GeodeError && error.detail === 'UndefinedVariable') {
      throw syntax('NonConstantExpression', `${what} must be a constant expression; it cannot use variables`, e.pos);
    }
    throw error;
  }
  let value: unknown = undefined;
  if (e.kind === 'Literal') value = e.value;
  else if (e.kind === 'Unary' && e.op === '-' && e.operand.kind === 'Literal') {
    const v = e.operand.value;
    if (typeof v === 'bigint') value = -v;
    else if (typeof v === 'number') value = -v;
  }
  if (value === undefined) return;
  if (typeof value === 'bigint') {
    if (value < 0n) throw syntax('NegativeIntegerArgument', `${what} must be a non-negative integer, got ${value}`, e.pos);
    return;
  }
  if (value === null) return;
  throw syntax('InvalidArgumentType', `${what} must be an INTEGER, got ${String(value)}`, e.pos);
}

// ---- expressions ------------------------------------------------------------------

/** Visits `e` and its sub-expressions (not descending into sub-queries); `visit` returns false to skip children. */
function walkExpr(e: Expr, visit: (x: Expr) => boolean): void {
  if (!visit(e)) return;
  const go = (x: Expr | null): void => {
    if (x) walkExpr(x, visit);
  };
  switch (e.kind) {
    case 'Property':
      go(e.object);
      return;
    case 'Index':
      go(e.object);
      go(e.index);
      return;
    case 'Slice':
      go(e.object);
      go(e.from);
      go(e.to);
      return;
    case 'List':
      e.items.forEach(go);
      return;
    case 'Map':
      for (const en of e.entries) go(en.value);
      return;
    case 'MapProjection':
      for (const it of e.items) if (it.kind === 'literal') go(it.value);
      return;
    case 'Binary':
      go(e.left);
      go(e.right);
      return;
    case 'Unary':
    case 'IsNull':
      go(e.operand);
      return;
    case 'HasLabels':
      go(e.object);
      return;
    case 'FunctionCall':
      e.args.forEach(go);
      return;
    case 'Case':
      go(e.test);
      for (const a of e.alternatives) {
        go(a.when);
        go(a.then);
      }
      go(e.otherwise);
      return;
    case 'ListComprehension':
      go(e.list);
      go(e.where);
      go(e.map);
      return;
    case 'Quantifier':
      go(e.list);
      go(e.where);
      return;
    case 'Reduce':
      go(e.init);
      go(e.list);
      go(e.expr);
      return;
    case 'PatternComprehension':
      go(e.where);
      go(e.map);
      return;
    default:
      return;
  }
}

function literalType(v: null | boolean | bigint | number | string): VarType {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    default:
      return 'string';
  }
}

const NOT_BOOLEAN: ReadonlySet<VarType> = new Set(['int', 'float', 'string', 'list', 'map', 'node', 'rel', 'relList', 'path']);

/** The element type of a list literal whose items are all literals of one type; otherwise unknown. */
function elementType(list: Expr): VarType {
  if (list.kind !== 'List' || list.items.length === 0) return 'any';
  let t: VarType | null = null;
  for (const item of list.items) {
    if (item.kind !== 'Literal' || item.value === null) return 'any';
    const it = literalType(item.value);
    if (t !== null && t !== it) return 'any';
    t = it;
  }
  return t ?? 'any';
}

function withLocal(ctx: ExprCtx, names: string[], firstType: VarType = 'any'): ExprCtx {
  const scope = new Map(ctx.scope);
  names.forEach((n, i) => scope.set(n, i === 0 ? firstType : 'any'));
  // Aggregates are not allowed inside list-building scopes.
  return { scope, aggregates: 'forbidden', inAggregate: ctx.inAggregate, available: null, open: ctx.open };
}

function checkExpr(e: Expr, ctx: ExprCtx): VarType {
  if (ctx.available !== null && ctx.available.has(e)) return 'any';
  switch (e.kind) {
    case 'Literal':
      return literalType(e.value);
    case 'Parameter':
      return 'any';
    case 'Variable': {
      const t = ctx.scope.get(e.name);
      if (t === undefined) {
        if (ctx.open) return 'any';
        throw syntax('UndefinedVariable', `variable \`${e.name}\` is not defined`, e.pos);
      }
      return t === 'relList' ? 'list' : t;
    }
    case 'Property': {
      const t = checkExpr(e.object, ctx);
      if (t === 'int' || t === 'float' || t === 'bool' || t === 'string' || t === 'list') {
        throw err(ErrorCode.TYPE_ERROR, 'InvalidArgumentType', `cannot read property \`${e.key}\` of a ${describeType(t)}`, e.pos);
      }
      if (t === 'path') throw syntax('InvalidArgumentType', `cannot read property \`${e.key}\` of a Path`, e.pos);
      return 'any';
    }
    case 'Index': {
      const t = checkExpr(e.object, ctx);
      checkExpr(e.index, ctx);
      if (t === 'int' || t === 'float' || t === 'bool') {
        throw err(ErrorCode.TYPE_ERROR, 'InvalidArgumentType', `cannot index into a ${describeType(t)}`, e.pos);
      }
      return 'any';
    }
    case 'Slice':
      checkExpr(e.object, ctx);
      if (e.from) checkExpr(e.from, ctx);
      if (e.to) checkExpr(e.to, ctx);
      return 'any';
    case 'List':
      for (const x of e.items) checkExpr(x, ctx);
      return 'list';
    case 'Map':
      for (const en of e.entries) checkExpr(en.value, ctx);
      return 'map';
    case 'MapProjection': {
      const t = requireVariableIn(e.variable, ctx, e.pos);
      if (t === 'int' || t === 'float' || t === 'bool' || t === 'string' || t === 'list') {
        throw err(ErrorCode.TYPE_ERROR, 'InvalidArgumentType', `cannot project properties of a ${describeType(t)}`, e.pos);
      }
      for (const it of e.items) {
        if (it.kind === 'literal') checkExpr(it.value, ctx);
        else if (it.kind === 'variable') requireVariableIn(it.name, ctx, e.pos);
      }
      return 'map';
    }
    case 'Binary':
      return checkBinary(e.op, e.left, e.right, e.pos, ctx);
    case 'Unary': {
      const t = checkExpr(e.operand, ctx);
      if (e.op === 'NOT') {
        if (NOT_BOOLEAN.has(t)) throw syntax('InvalidArgumentType', `NOT expects a boolean, not ${describeType(t)}`, e.operand.pos);
        return 'bool';
      }
      return t === 'int' || t === 'float' ? t : 'any';
    }
    case 'IsNull':
      checkExpr(e.operand, ctx);
      return 'bool';
    case 'HasLabels':
      checkExpr(e.object, ctx);
      return 'bool';
    case 'FunctionCall':
      return checkCall(e, ctx);
    case 'CountStar':
      checkAggregatePlacement(e.pos, 'count(*)', ctx);
      return 'int';
    case 'Case': {
      if (e.test) checkExpr(e.test, ctx);
      for (const a of e.alternatives) {
        checkExpr(a.when, ctx);
        checkExpr(a.then, ctx);
      }
      if (e.otherwise) checkExpr(e.otherwise, ctx);
      return 'any';
    }
    case 'ListComprehension': {
      checkExpr(e.list, ctx);
      const inner = withLocal(ctx, [e.variable], elementType(e.list));
      if (e.where) checkExpr(e.where, inner);
      if (e.map) checkExpr(e.map, inner);
      return 'list';
    }
    case 'Quantifier': {
      checkExpr(e.list, ctx);
      const inner = withLocal(ctx, [e.variable], elementType(e.list));
      if (e.where) checkExpr(e.where, inner);
      return 'bool';
    }
    case 'Reduce': {
      checkExpr(e.init, ctx);
      checkExpr(e.list, ctx);
      checkExpr(e.expr, withLocal(ctx, [e.accumulator, e.variable]));
      return 'any';
    }
    case 'PatternComprehension': {
      const inner = withLocal(ctx, []);
      bindPattern([e.pattern], inner.scope, 'comprehension', ctx.open);
      if (e.where) checkExpr(e.where, inner);
      checkExpr(e.map, inner);
      return 'list';
    }
    case 'PatternPredicate': {
      const inner = withLocal(ctx, []);
      bindPattern([e.pattern], inner.scope, e.pattern.shortest ? 'comprehension' : 'predicate', ctx.open);
      return e.pattern.shortest ? 'path' : 'bool';
    }
    case 'ExistsSubquery': {
      const inner = withLocal(ctx, []);
      if (e.query) checkQuery(e.query, inner.scope, true, false);
      else {
        bindPattern(e.pattern ?? [], inner.scope, 'comprehension', ctx.open);
        if (e.where) checkExpr(e.where, inner);
      }
      return 'bool';
    }
  }
}

function requireVariableIn(name: string, ctx: ExprCtx, pos: SourcePosition): VarType {
  return requireVariable(name, ctx.scope, pos, ctx.open);
}

function checkBinary(op: string, left: Expr, right: Expr, pos: SourcePosition, ctx: ExprCtx): VarType {
  const lt = checkExpr(left, ctx);
  const rt = checkExpr(right, ctx);
  switch (op) {
    case 'AND':
    case 'OR':
    case 'XOR':
      if (NOT_BOOLEAN.has(lt)) throw syntax('InvalidArgumentType', `${op} expects booleans, not ${describeType(lt)}`, left.pos);
      if (NOT_BOOLEAN.has(rt)) throw syntax('InvalidArgumentType', `${op} expects booleans, not ${describeType(rt)}`, right.pos);
      return 'bool';
    case 'IN':
      if (rt === 'bool' || rt === 'int' || rt === 'float' || rt === 'string' || rt === 'map' || rt === 'node' || rt === 'rel') {
        throw syntax('InvalidArgumentType', `IN expects a list on its right, not ${describeType(rt)}`, right.pos);
      }
      return 'bool';
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '^':
      if (op !== '+') {
        for (const [t, side] of [[lt, left], [rt, right]] as const) {
          if (t === 'bool' || t === 'string' || t === 'list' || t === 'map' || ENTITY.has(t)) {
            throw syntax('InvalidArgumentType', `${op} expects numbers, not ${describeType(t)}`, side.pos);
          }
        }
      }
      if ((lt === 'int' || lt === 'float') && (rt === 'int' || rt === 'float')) {
        if (op === '^') return 'float';
        return lt === 'int' && rt === 'int' ? 'int' : 'float';
      }
      if (op === '+' && lt === 'string' && rt === 'string') return 'string';
      return 'any';
    case '||':
      return lt === 'string' && rt === 'string' ? 'string' : 'any';
    default:
      void pos;
      return 'bool';
  }
}

function checkAggregatePlacement(pos: SourcePosition, name: string, ctx: ExprCtx): void {
  if (ctx.inAggregate) throw syntax('NestedAggregation', `aggregate ${name} cannot be nested inside another aggregate`, pos);
  if (ctx.aggregates !== 'allowed') throw syntax('InvalidAggregation', `aggregate ${name} is not allowed here`, pos);
}

function checkCall(e: Extract<Expr, { kind: 'FunctionCall' }>, ctx: ExprCtx): VarType {
  const name = e.lowerName;
  if (!name.includes('.') && !KNOWN_FUNCTIONS.has(name)) {
    throw syntax('UnknownFunction', `unknown function '${e.name}'`, e.pos);
  }
  if (AGGREGATES.has(name)) {
    checkAggregatePlacement(e.pos, `${e.name}()`, ctx);
    const inner: ExprCtx = { ...ctx, inAggregate: true };
    for (const a of e.args) {
      checkExpr(a, inner);
      walkExpr(a, (x) => {
        if (x.kind === 'FunctionCall' && NON_DETERMINISTIC.has(x.lowerName)) {
          throw syntax('NonConstantExpression', `${e.name}() cannot aggregate a non-deterministic expression`, x.pos);
        }
        return true;
      });
    }
    if (name === 'count') return 'int';
    if (name === 'collect') return 'list';
    return 'any';
  }
  if (name === 'size' && e.args[0]?.kind === 'PatternPredicate') {
    throw syntax('UnexpectedSyntax', 'size() of a pattern is not supported; use COUNT { pattern } or size([pattern | 1])', e.args[0].pos);
  }
  const types = e.args.map((a) => checkExpr(a, ctx));
  const t0 = types[0];
  const bad = (what: string): never => {
    throw syntax('InvalidArgumentType', `${e.name}() does not accept a ${what}`, e.args[0]?.pos ?? e.pos);
  };
  if (t0 !== undefined) {
    switch (name) {
      case 'labels':
        if (t0 === 'path' || t0 === 'rel' || PRIMITIVE.has(t0)) bad(describeType(t0));
        return 'list';
      case 'type':
        if (t0 === 'node' || t0 === 'path' || PRIMITIVE.has(t0)) bad(describeType(t0));
        return 'string';
      case 'length':
        if (t0 === 'node' || t0 === 'rel') bad(describeType(t0));
        return 'int';
      case 'size':
        if (t0 === 'path' || t0 === 'node' || t0 === 'rel') bad(describeType(t0));
        return 'int';
      case 'properties':
        if (t0 === 'int' || t0 === 'float' || t0 === 'bool' || t0 === 'string' || t0 === 'list') bad(describeType(t0));
        return 'map';
      case 'nodes':
      case 'relationships':
        if (t0 === 'node' || t0 === 'rel' || PRIMITIVE.has(t0)) bad(describeType(t0));
        return 'list';
      default:
        break;
    }
  }
  return 'any';
}

// ---- where a pattern may stand as an expression ------------------------------------

/**
 * A bare pattern `(a)-->(b)` is a predicate: allowed in WHERE (and boolean
 * combinations there), in exists(), and in the filters of comprehensions;
 * anywhere else (RETURN, SET, function arguments) it is a syntax error.
 */
function checkPatternPlacementInQuery(q: QueryStatement): void {
  for (const part of q.parts) {
    for (const c of part.clauses) {
      switch (c.kind) {
        case 'Match':
          if (c.where) placement(c.where, true);
          for (const pp of c.pattern) patternPlacement(pp);
          break;
        case 'With':
        case 'Return': {
          const p = c.projection;
          for (const item of p.items) placement(item.expr, false);
          for (const s of p.orderBy) placement(s.expr, false);
          if (p.skip) placement(p.skip, false);
          if (p.limit) placement(p.limit, false);
          if (c.kind === 'With' && c.where) placement(c.where, true);
          break;
        }
        case 'Unwind':
          placement(c.expr, false);
          break;
        case 'Create':
          for (const pp of c.pattern) patternPlacement(pp);
          break;
        case 'Merge':
          patternPlacement(c.pattern);
          for (const item of [...c.onCreate, ...c.onMatch]) if (item.kind !== 'SetLabels') placement(item.value, false);
          break;
        case 'Set':
          for (const item of c.items) if (item.kind !== 'SetLabels') placement(item.value, false);
          break;
        case 'Delete':
          for (const e of c.exprs) placement(e, false);
          break;
        case 'Call':
          for (const a of c.args ?? []) placement(a, false);
          if (c.where) placement(c.where, true);
          break;
        case 'Remove':
          break;
      }
    }
  }
}

function patternPlacement(pp: PatternPart): void {
  const nodes = [pp.start, ...pp.chain.map((s) => s.node)];
  for (const n of nodes) if (n.properties) placement(n.properties, false);
  for (const s of pp.chain) if (s.rel.properties) placement(s.rel.properties, false);
}

function placement(e: Expr, predicate: boolean): void {
  switch (e.kind) {
    case 'PatternPredicate':
      if (!predicate && e.pattern.shortest === null) {
        throw syntax('UnexpectedSyntax', 'a pattern can only be used as a predicate here; use EXISTS { pattern } or [pattern | value]', e.pos);
      }
      patternPlacement(e.pattern);
      return;
    case 'Binary':
      if (e.op === 'AND' || e.op === 'OR' || e.op === 'XOR') {
        placement(e.left, predicate);
        placement(e.right, predicate);
      } else {
        placement(e.left, false);
        placement(e.right, false);
      }
      return;
    case 'Unary':
      placement(e.operand, e.op === 'NOT' && predicate);
      return;
    case 'FunctionCall':
      for (const a of e.args) placement(a, e.lowerName === 'exists');
      return;
    case 'Case':
      if (e.test) placement(e.test, false);
      for (const a of e.alternatives) {
        placement(a.when, e.test === null);
        placement(a.then, false);
      }
      if (e.otherwise) placement(e.otherwise, false);
      return;
    case 'ListComprehension':
      placement(e.list, false);
      if (e.where) placement(e.where, true);
      if (e.map) placement(e.map, false);
      return;
    case 'Quantifier':
      placement(e.list, false);
      if (e.where) placement(e.where, true);
      return;
    case 'PatternComprehension':
      patternPlacement(e.pattern);
      if (e.where) placement(e.where, true);
      placement(e.map, false);
      return;
    case 'ExistsSubquery':
      if (e.query) checkPatternPlacementInQuery(e.query);
      if (e.where) placement(e.where, true);
      return;
    default:
      walkExpr(e, (x) => {
        if (x === e) return true;
        placement(x, false);
        return false;
      });
  }
}

// ---- parameters -------------------------------------------------------------------

/** Names of all `$parameters` the statement uses (so the engine can report PARAMETER_MISSING up front). */
export function collectParameters(stmt: Statement): Set<string> {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    const o = v as Record<string, unknown>;
    if (o['kind'] === 'Parameter' && typeof o['name'] === 'string') out.add(o['name']);
    for (const k in o) if (k !== 'pos') visit(o[k]);
  };
  visit(stmt);
  return out;
}
