/**
 * Query plans and their execution. A query compiles once into a list of
 * clause operators over rows (`Map<string, Value>`); reading operators stream
 * (generators), updating operators are eager: they drain their input before
 * writing and hand on a materialized list, so each update clause sees the
 * graph as the previous clause left it, for all rows (Cypher's clause
 * semantics), and LIMIT 0 after a write still performs the write.
 *
 * Budgets (eval/budget.ts): each operator takes a mark of `budget.held` when
 * it receives a row and restores it before asking for the next, so values
 * built for a row stop counting once the row has moved on; what an operator
 * keeps (aggregation groups, DISTINCT keys, sort buffers, drained rows) is
 * charged to `budget.retained`.
 */
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { NodeValue, PathValue, RelationshipValue, isMap } from '../../shared/gql/values.js';
import type { Value, ValueMap } from '../../shared/gql/values.js';
import type {
  CallClause,
  Clause,
  CreateClause,
  DeleteClause,
  Expr,
  MatchClause,
  MergeClause,
  PatternPart,
  Projection,
  ProjectionItem,
  QueryStatement,
  RemoveClause,
  SetClause,
  SetItem,
  SingleQuery,
  SortItem,
  UnwindClause,
} from '../../shared/gql/ast.js';
import { compileExpression, containsAggregate, orderBy, planAggregates, sortWithBudget, valueKey } from './eval/index.js';
import { LIST_BYTES, ROW_WORK, SET_ENTRY_BYTES, SLOT_BYTES, scalarBytes, stringBytes } from './eval/budget.js';
import type { StatementBudget } from './eval/budget.js';
import { textWork } from './eval/ops.js';
import type { AggregateSlot, Aggregator, CompiledExpr, EvalContext, Row } from './eval/index.js';
import { PatternMatcher, anchorOperator, partVariables } from './patterns.js';
import type { MatchEnv } from './patterns.js';
import type { GraphTransaction } from './transaction.js';

export type Execution = MatchEnv;

type RowSource = Iterable<Row>;

interface ClausePlan {
  /** Operator names for explain(). */
  describe(tx: GraphTransaction): string[];
  run(input: RowSource, ex: Execution): RowSource;
  /** Drains input and output eagerly (update clauses). */
  eager: boolean;
}

interface SinglePlan {
  clauses: ClausePlan[];
  columns: string[];
}

export interface QueryPlan {
  parts: SinglePlan[];
  unionAll: boolean[];
  columns: string[];
  writes: boolean;
}

const HIDDEN = '\u0000';

function runtimeError(code: GeodeError['code'], message: string, detail: string): GeodeError {
  return new GeodeError(code, message, { phase: 'runtime', detail });
}

// ---- expression analysis -----------------------------------------------------

/** Structural key of an expression, ignoring source positions. */
export function exprKey(expr: Expr): string {
  return JSON.stringify(expr, (key, value: unknown) => (key === 'pos' ? undefined : typeof value === 'bigint' ? `${value}n` : value));
}

function referencedVariables(expr: unknown, out = new Set<string>()): Set<string> {
  if (expr === null || typeof expr !== 'object') return out;
  if (Array.isArray(expr)) {
    for (const item of expr) referencedVariables(item, out);
    return out;
  }
  const node = expr as Record<string, unknown>;
  if (node['kind'] === 'Variable' && typeof node['name'] === 'string') out.add(node['name']);
  if (node['kind'] === 'MapProjection' && typeof node['variable'] === 'string') out.add(node['variable']);
  for (const key in node) if (key !== 'pos') referencedVariables(node[key], out);
  return out;
}

/** `v.prop = expr` conjuncts of WHERE whose other side does not use the pattern's own variables. */
function seekablePredicates(where: Expr | null, patternVars: ReadonlySet<string>): Map<string, [string, CompiledExpr][]> {
  const out = new Map<string, [string, CompiledExpr][]>();
  const visit = (e: Expr): void => {
    if (e.kind === 'Binary' && e.op === 'AND') {
      visit(e.left);
      visit(e.right);
      return;
    }
    if (e.kind !== 'Binary' || e.op !== '=') return;
    for (const [side, other] of [
      [e.left, e.right],
      [e.right, e.left],
    ] as const) {
      if (side.kind !== 'Property' || side.object.kind !== 'Variable' || !patternVars.has(side.object.name)) continue;
      const refs = referencedVariables(other);
      if ([...refs].some((v) => patternVars.has(v))) continue;
      const list = out.get(side.object.name) ?? [];
      list.push([side.key, compileExpression(other)]);
      out.set(side.object.name, list);
    }
  };
  if (where !== null) visit(where);
  return out;
}

// ---- compilation -------------------------------------------------------------

export function compileQuery(stmt: QueryStatement, outer: ReadonlySet<string> = new Set()): QueryPlan {
  const parts = stmt.parts.map((part) => compileSingle(part, outer));
  const first = parts[0] as SinglePlan;
  for (const part of parts) {
    if (part.columns.length !== first.columns.length || part.columns.some((c, i) => c !== first.columns[i])) {
      throw new GeodeError(ErrorCode.SYNTAX_ERROR, 'All sub queries in a UNION must have the same column names', {
        phase: 'compile',
        detail: 'DifferentColumnsInUnion',
      });
    }
  }
  const writes = stmt.parts.some((p) => p.clauses.some((c) => ['Create', 'Merge', 'Set', 'Remove', 'Delete'].includes(c.kind)));
  return { parts, unionAll: stmt.unionAll, columns: first.columns, writes };
}

function compileSingle(query: SingleQuery, outer: ReadonlySet<string>): SinglePlan {
  let scope: string[] = [...outer];
  const clauses: ClausePlan[] = [];
  let columns: string[] = [];
  for (const clause of query.clauses) {
    const compiled = compileClause(clause, scope);
    clauses.push(compiled.plan);
    scope = compiled.scope;
    if (clause.kind === 'Return') columns = compiled.scope;
  }
  return { clauses, columns };
}

function compileClause(clause: Clause, scope: string[]): { plan: ClausePlan; scope: string[] } {
  switch (clause.kind) {
    case 'Match':
      return compileMatch(clause, scope);
    case 'Unwind':
      return compileUnwind(clause, scope);
    case 'With': {
      const proj = compileProjection(clause.projection, scope, clause.where);
      return { plan: proj.plan, scope: proj.columns };
    }
    case 'Return': {
      const proj = compileProjection(clause.projection, scope, null);
      return { plan: proj.plan, scope: proj.columns };
    }
    case 'Create':
      return compileCreate(clause, scope);
    case 'Merge':
      return compileMerge(clause, scope);
    case 'Set':
      return { plan: compileSet(clause), scope };
    case 'Remove':
      return { plan: compileRemove(clause), scope };
    case 'Delete':
      return { plan: compileDelete(clause), scope };
    case 'Call':
      return compileCall(clause);
  }
}

function addScope(scope: string[], names: Iterable<string>): string[] {
  const out = [...scope];
  for (const name of names) if (!out.includes(name)) out.push(name);
  return out;
}

function compileMatch(clause: MatchClause, scope: string[]): { plan: ClausePlan; scope: string[] } {
  const bound = new Set(scope);
  const patternVars = new Set(clause.pattern.flatMap(partVariables).filter((v) => !bound.has(v)));
  const matcher = new PatternMatcher(clause.pattern, seekablePredicates(clause.where, patternVars));
  const where = clause.where === null ? null : compileExpression(clause.where);
  const newVars = [...patternVars];
  const optional = clause.optional;
  const plan: ClausePlan = {
    eager: false,
    describe: (tx) => [
      ...matcher.parts.map((p, i) => (i === 0 ? anchorOperator(p, bound, tx) : anchorOperator(p, new Set([...bound, ...patternVars]), tx))),
      ...(matcher.parts.some((p) => p.rels.length > 0) ? ['Expand'] : []),
      ...(where !== null ? ['Filter'] : []),
      ...(optional ? ['Optional'] : []),
    ],
    *run(input, ex) {
      const ctx = ex.ctx;
      const budget = ctx.budget;
      for (const row of input) {
        let matched = false;
        for (const candidate of matcher.match(row, ex)) {
          const mark = budget.held;
          if (where !== null && where(candidate, ctx) !== true) {
            budget.held = mark;
            continue;
          }
          matched = true;
          yield candidate;
          budget.held = mark;
        }
        if (optional && !matched) {
          const padded = new Map(row);
          for (const name of newVars) if (!padded.has(name)) padded.set(name, null);
          yield padded;
        }
      }
    },
  };
  return { plan, scope: addScope(scope, patternVars) };
}

function compileUnwind(clause: UnwindClause, scope: string[]): { plan: ClausePlan; scope: string[] } {
  const expr = compileExpression(clause.expr);
  const variable = clause.variable;
  const plan: ClausePlan = {
    eager: false,
    describe: () => ['Unwind'],
    *run(input, ex) {
      const budget = ex.ctx.budget;
      for (const row of input) {
        const mark = budget.held;
        const list = expr(row, ex.ctx);
        if (list === null) {
          budget.held = mark;
          continue;
        }
        if (!Array.isArray(list)) {
          const out = new Map(row);
          out.set(variable, list);
          yield out;
          budget.held = mark;
          continue;
        }
        // The list stays charged while its items are handed on.
        const listMark = budget.held;
        for (const item of list) {
          ex.tx.touch();
          const out = new Map(row);
          out.set(variable, item);
          yield out;
          budget.held = listMark;
        }
        budget.held = mark;
      }
    },
  };
  return { plan, scope: addScope(scope, [variable]) };
}

function compileCall(clause: CallClause): never {
  throw new GeodeError(ErrorCode.PROCEDURE_ERROR, `There is no procedure with the name \`${clause.procedure}\` registered`, {
    phase: 'compile',
    detail: 'ProcedureNotFound',
  });
}

// ---- projection --------------------------------------------------------------

interface Column {
  name: string;
  expr: CompiledExpr;
}

/** SKIP/LIMIT argument: a non-negative INTEGER, checked when known at compile time and again per run. */
function compileCount(expr: Expr | null, what: string): ((ctx: EvalContext) => number) | null {
  if (expr === null) return null;
  if (referencedVariables(expr).size > 0) {
    throw new GeodeError(ErrorCode.SYNTAX_ERROR, `${what} must be a constant expression`, { phase: 'compile', detail: 'NonConstantExpression' });
  }
  const compiled = compileExpression(expr);
  const check = (value: Value, phase: 'compile' | 'runtime'): number => {
    if (typeof value !== 'bigint') {
      throw new GeodeError(ErrorCode.SYNTAX_ERROR, `${what} must be an INTEGER`, { phase, detail: 'InvalidArgumentType' });
    }
    if (value < 0n) {
      throw new GeodeError(ErrorCode.SYNTAX_ERROR, `${what} must not be negative`, { phase, detail: 'NegativeIntegerArgument' });
    }
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  };
  if (expr.kind === 'Literal' || (expr.kind === 'Unary' && expr.operand.kind === 'Literal')) {
    const value = compiled(new Map(), { params: {} } as unknown as EvalContext);
    const n = check(value, 'compile');
    return () => n;
  }
  const empty: Row = new Map();
  return (ctx) => check(compiled(empty, ctx), 'runtime');
}

function compileProjection(
  projection: Projection,
  scope: string[],
  where: Expr | null,
): { plan: ClausePlan; columns: string[] } {
  const starNames = projection.star ? scope.filter((n) => !n.startsWith(HIDDEN)).sort() : [];
  const itemName = (item: ProjectionItem): string => item.alias ?? item.text;
  const columns = [...starNames.filter((n) => !projection.items.some((i) => itemName(i) === n)), ...projection.items.map(itemName)];
  const aggregating = projection.items.some((i) => containsAggregate(i.expr));
  const itemKeys = new Map(projection.items.map((i) => [exprKey(i.expr), itemName(i)]));

  // ORDER BY expressions equal to a projected expression read its column.
  const sortExprs: Expr[] = projection.orderBy.map((s: SortItem) => {
    const name = itemKeys.get(exprKey(s.expr));
    return name !== undefined ? ({ kind: 'Variable', pos: s.expr.pos, name } as Expr) : s.expr;
  });
  const hiddenAggregates: ProjectionItem[] = [];
  const sortKeys: CompiledExpr[] = sortExprs.map((e, i) => {
    if (aggregating && containsAggregate(e)) {
      const name = `${HIDDEN}sort${i}`;
      hiddenAggregates.push({ expr: e, alias: name, text: name });
      return compileExpression({ kind: 'Variable', pos: e.pos, name });
    }
    return compileExpression(e);
  });
  const skip = compileCount(projection.skip, 'SKIP');
  const limit = compileCount(projection.limit, 'LIMIT');
  const filter = where === null ? null : compileExpression(where);
  const distinct = projection.distinct;
  const sortItems = projection.orderBy;
  const hasHidden = hiddenAggregates.length > 0;

  const project = aggregating
    ? compileAggregation([...projection.items, ...hiddenAggregates], starNames, itemName)
    : compilePlainProjection(projection.items, starNames, itemName);

  const ops: string[] = [aggregating ? 'Aggregation' : 'Projection'];
  if (distinct) ops.push('Distinct');
  if (sortItems.length > 0) ops.push('Sort');
  if (skip !== null) ops.push('Skip');
  if (limit !== null) ops.push('Limit');
  if (filter !== null) ops.push('Filter');

  const plan: ClausePlan = {
    eager: false,
    describe: () => ops,
    *run(input, ex) {
      const ctx = ex.ctx;
      const budget = ctx.budget;
      // Each entry: [projected row, scope row for ORDER BY].
      let rows: Iterable<[Row, Row]> = project(input, ex);
      if (distinct) rows = distinctRows(rows, columns, budget);
      if (sortItems.length > 0) {
        const keyed: { out: Row; scope: Row; keys: Value[] }[] = [];
        for (const [out, scopeRow] of rows) {
          const merged = mergeScope(scopeRow, out);
          const keys = sortKeys.map((k) => k(merged, ctx));
          // The sort buffer keeps the row, its scope and its keys until the statement ends.
          budget.touch();
          budget.retainRow(out, 'ORDER BY (sort buffer)');
          budget.retainRow(merged, 'ORDER BY (sort buffer)');
          let keyBytes = LIST_BYTES + SORT_ENTRY_BYTES;
          for (const key of keys) keyBytes += SLOT_BYTES + (typeof key === 'string' ? stringBytes(key.length) : scalarBytes(key));
          budget.retain(keyBytes, 'ORDER BY (sort keys)');
          keyed.push({ out, scope: merged, keys });
        }
        sortWithBudget(keyed, (a, b) => orderBy(sortItems, a.keys, b.keys), budget);
        rows = keyed.map((k) => [k.out, k.scope] as [Row, Row]);
      }
      let toSkip = skip === null ? 0 : skip(ctx);
      let remaining = limit === null ? Number.POSITIVE_INFINITY : limit(ctx);
      if (remaining === 0) return;
      for (const [out, scopeRow] of rows) {
        if (toSkip > 0) {
          toSkip--;
          continue;
        }
        const mark = budget.held;
        // WITH ... WHERE sees the projected names and, where not shadowed, the variables before WITH.
        if (filter !== null && filter(mergeScope(scopeRow, out), ctx) !== true) {
          budget.held = mark;
          remaining--;
          if (remaining <= 0) return;
          continue;
        }
        if (hasHidden) for (const key of out.keys()) if (key.startsWith(HIDDEN)) out.delete(key);
        yield out;
        budget.held = mark;
        if (--remaining <= 0) return;
      }
    },
  };
  return { plan, columns };
}

function mergeScope(scopeRow: Row, out: Row): Row {
  if (scopeRow === out) return out;
  const merged = new Map(scopeRow);
  for (const [k, v] of out) merged.set(k, v);
  return merged;
}

/** Work of hashing a row's grouping or DISTINCT key (about half a row touched). */
const KEY_WORK = ROW_WORK / 2;

/** Bytes of one sort buffer entry besides its rows and keys. */
const SORT_ENTRY_BYTES = 48;

/** Adds `key` to a DISTINCT or UNION set, charged to the budget; false when it was there already. */
function addDistinctKey(seen: Set<string>, key: string, budget: StatementBudget, what: string): boolean {
  budget.work(KEY_WORK + textWork(key.length));
  if (seen.has(key)) return false;
  budget.retain(SET_ENTRY_BYTES + stringBytes(key.length), what);
  seen.add(key);
  return true;
}

function* distinctRows(rows: Iterable<[Row, Row]>, columns: string[], budget: StatementBudget): Generator<[Row, Row]> {
  const seen = new Set<string>();
  for (const entry of rows) {
    let key = '';
    for (const c of columns) key += valueKey(entry[0].get(c) ?? null) + '\u0001';
    if (!addDistinctKey(seen, key, budget, 'DISTINCT')) continue;
    yield entry;
  }
}

type Projector = (input: RowSource, ex: Execution) => Iterable<[Row, Row]>;

function compilePlainProjection(items: ProjectionItem[], starNames: string[], itemName: (i: ProjectionItem) => string): Projector {
  const cols: Column[] = items.map((i) => ({ name: itemName(i), expr: compileExpression(i.expr) }));
  return function* (input, ex) {
    const ctx = ex.ctx;
    const budget = ctx.budget;
    for (const row of input) {
      const mark = budget.held;
      const out: Row = new Map();
      for (const name of starNames) out.set(name, row.get(name) ?? null);
      for (const col of cols) out.set(col.name, col.expr(row, ctx));
      yield [out, row];
      budget.held = mark;
    }
  };
}

/** Bytes of an aggregation group besides its key, first row and aggregator state (the group object and its map entry). */
const GROUP_BYTES = 120;
/** Bytes of one aggregator's closures and counters. */
const AGGREGATOR_BYTES = 96;

interface Group {
  first: Row;
  keys: Value[];
  aggregators: Aggregator[];
}

function compileAggregation(items: ProjectionItem[], starNames: string[], itemName: (i: ProjectionItem) => string): Projector {
  const keyCols: Column[] = starNames.map((name) => ({ name, expr: (row: Row) => row.get(name) ?? null }));
  const aggCols: Column[] = [];
  const slots: AggregateSlot[] = [];
  items.forEach((item, i) => {
    const name = itemName(item);
    if (!containsAggregate(item.expr)) {
      keyCols.push({ name, expr: compileExpression(item.expr) });
      return;
    }
    const planned = planAggregates(item.expr, `${HIDDEN}agg${i}_`);
    slots.push(...planned.slots);
    aggCols.push({ name, expr: compileExpression(planned.rewritten) });
  });
  return function* (input, ex) {
    const ctx = ex.ctx;
    const budget = ctx.budget;
    const groups = new Map<string, Group>();
    for (const row of input) {
      const mark = budget.held;
      const keys = keyCols.map((c) => c.expr(row, ctx));
      let groupKey = '';
      for (const k of keys) groupKey += valueKey(k) + '\u0001';
      budget.work(KEY_WORK + textWork(groupKey.length));
      let group = groups.get(groupKey);
      if (group === undefined) {
        // A group keeps its key, its key values, its first row and its aggregators' state.
        budget.retainRow(row, 'aggregation groups');
        let bytes = GROUP_BYTES + stringBytes(groupKey.length) + slots.length * AGGREGATOR_BYTES;
        for (const k of keys) bytes += SLOT_BYTES + (typeof k === 'string' ? stringBytes(k.length) : scalarBytes(k));
        budget.retain(bytes, 'aggregation groups');
        group = { first: row, keys, aggregators: slots.map((s) => s.create()) };
        groups.set(groupKey, group);
      }
      for (const agg of group.aggregators) agg.step(row, ctx);
      budget.held = mark;
    }
    if (groups.size === 0 && keyCols.length === 0) {
      groups.set('', { first: new Map(), keys: [], aggregators: slots.map((s) => s.create()) });
    }
    for (const group of groups.values()) {
      const mark = budget.held;
      const scopeRow = new Map(group.first);
      slots.forEach((slot, i) => scopeRow.set(slot.slot, (group.aggregators[i] as Aggregator).result()));
      const out: Row = new Map();
      keyCols.forEach((c, i) => out.set(c.name, group.keys[i] ?? null));
      for (const c of aggCols) out.set(c.name, c.expr(scopeRow, ctx));
      yield [out, scopeRow];
      budget.held = mark;
    }
  };
}

// ---- updates -----------------------------------------------------------------

function toPropertyMap(value: Value, what: string): ValueMap {
  if (value === null) return {};
  if (isMap(value)) return value;
  if (value instanceof NodeValue || value instanceof RelationshipValue) return { ...value.properties };
  throw runtimeError(ErrorCode.TYPE_ERROR, `${what} must be a map, got ${typeof value}`, 'InvalidArgumentType');
}

interface CreatePart {
  pathVariable: string | null;
  nodes: { variable: string | null; labels: string[]; labelsJson: string; props: CompiledExpr | null }[];
  rels: { variable: string | null; type: string; direction: 'out' | 'in' | 'both'; props: CompiledExpr | null }[];
}

function compileCreateParts(parts: PatternPart[]): CreatePart[] {
  return parts.map((part) => ({
    pathVariable: part.variable,
    nodes: [part.start, ...part.chain.map((s) => s.node)].map((n) => ({
      variable: n.variable,
      labels: [...new Set(n.labels)],
      labelsJson: JSON.stringify([...new Set(n.labels)]),
      props: n.properties === null ? null : compileExpression(n.properties),
    })),
    rels: part.chain.map((s) => {
      const type = s.rel.types[0];
      if (type === undefined || s.rel.types.length !== 1) {
        throw new GeodeError(ErrorCode.SYNTAX_ERROR, 'A relationship to create needs exactly one type', { phase: 'compile', detail: 'NoSingleRelationshipType' });
      }
      if (s.rel.length !== null) {
        throw new GeodeError(ErrorCode.SYNTAX_ERROR, 'Cannot create a variable-length relationship', { phase: 'compile', detail: 'CreatingVarLength' });
      }
      return { variable: s.rel.variable, type, direction: s.rel.direction, props: s.rel.properties === null ? null : compileExpression(s.rel.properties) };
    }),
  }));
}

/**
 * Drains an updating clause's input, each row charged as retained (the clause
 * keeps them all), and runs `apply` on each row with the values it builds
 * counted only while that row is processed.
 */
function drain(input: RowSource, ex: Execution, what: string, apply: ((row: Row) => void) | null): Row[] {
  const budget = ex.ctx.budget;
  const rows: Row[] = [];
  for (const row of input) {
    budget.retainRow(row, what);
    rows.push(row);
  }
  if (apply !== null) {
    for (const row of rows) {
      const mark = budget.held;
      apply(row);
      budget.held = mark;
    }
  }
  return rows;
}

/** Creates what the parts describe, reusing variables already bound in `row` (which it extends). */
function createParts(parts: CreatePart[], row: Row, ex: Execution): void {
  const { tx, ctx } = ex;
  for (const part of parts) {
    const nodes: NodeValue[] = [];
    for (const spec of part.nodes) {
      const existing = spec.variable === null ? undefined : row.get(spec.variable);
      if (existing !== undefined) {
        if (!(existing instanceof NodeValue)) {
          throw runtimeError(ErrorCode.TYPE_ERROR, `Variable '${spec.variable ?? ''}' is not a node`, 'VariableTypeConflict');
        }
        if (tx.isDeleted(existing)) throw runtimeError(ErrorCode.ENTITY_NOT_FOUND, 'Cannot create a relationship to a deleted node', 'DeletedEntityAccess');
        nodes.push(existing);
        continue;
      }
      const node = tx.createNode(spec.labels, spec.props === null ? {} : toPropertyMap(spec.props(row, ctx), 'Node properties'), spec.labelsJson);
      if (spec.variable !== null) row.set(spec.variable, node);
      nodes.push(node);
    }
    const rels: RelationshipValue[] = [];
    part.rels.forEach((spec, i) => {
      const left = nodes[i] as NodeValue;
      const right = nodes[i + 1] as NodeValue;
      const [start, end] = spec.direction === 'in' ? [right, left] : [left, right];
      const rel = tx.createRelationship(spec.type, start, end, spec.props === null ? {} : toPropertyMap(spec.props(row, ctx), 'Relationship properties'));
      if (spec.variable !== null) row.set(spec.variable, rel);
      rels.push(rel);
    });
    if (part.pathVariable !== null) row.set(part.pathVariable, new PathValue(nodes, rels));
  }
}

function compileCreate(clause: CreateClause, scope: string[]): { plan: ClausePlan; scope: string[] } {
  const parts = compileCreateParts(clause.pattern);
  const plan: ClausePlan = {
    eager: true,
    describe: () => ['Create'],
    run(input, ex) {
      return drain(input, ex, 'CREATE (its input rows)', (row) => createParts(parts, row, ex));
    },
  };
  return { plan, scope: addScope(scope, clause.pattern.flatMap(partVariables)) };
}

function compileMerge(clause: MergeClause, scope: string[]): { plan: ClausePlan; scope: string[] } {
  const part = clause.pattern;
  const matcher = new PatternMatcher([part]);
  const createSpec = compileCreateParts([part]);
  const onCreate = compileSetItems(clause.onCreate);
  const onMatch = compileSetItems(clause.onMatch);
  const propertyExprs = [part.start, ...part.chain.flatMap((s) => [s.rel, s.node])]
    .map((p) => p.properties)
    .filter((e): e is Expr => e !== null)
    .map(compileExpression);
  const plan: ClausePlan = {
    eager: true,
    describe: (tx) => ['Merge', ...matcher.parts.map((p) => anchorOperator(p, new Set(scope), tx))],
    run(input, ex) {
      const budget = ex.ctx.budget;
      const out: Row[] = [];
      for (const row of drain(input, ex, 'MERGE (its input rows)', null)) {
        // Everything built for this row is kept in `out` (charged there) or garbage once it is done.
        const mark = budget.held;
        const matches: Row[] = [];
        for (const m of matcher.match(row, ex)) {
          budget.retainRow(m, 'MERGE (matched rows)');
          matches.push(m);
        }
        if (matches.length > 0) {
          for (const m of matches) {
            applySetItems(onMatch, m, ex);
            out.push(m);
          }
          budget.held = mark;
          continue;
        }
        for (const props of propertyExprs) {
          const map = props(row, ex.ctx);
          if (isMap(map)) {
            for (const key in map) {
              if (map[key] === null) {
                throw runtimeError(ErrorCode.SEMANTIC_ERROR, `Cannot merge the pattern with a null property value for '${key}'`, 'MergeReadOwnWrites');
              }
            }
          }
        }
        const created = new Map(row);
        createParts(createSpec, created, ex);
        applySetItems(onCreate, created, ex);
        budget.held = mark;
        budget.retainRow(created, 'MERGE (created rows)');
        out.push(created);
      }
      return out;
    },
  };
  return { plan, scope: addScope(scope, partVariables(part)) };
}

type CompiledSetItem =
  | { kind: 'property'; target: CompiledExpr; key: string; value: CompiledExpr }
  | { kind: 'replace' | 'merge'; variable: string; value: CompiledExpr }
  | { kind: 'labels' | 'removeLabels'; variable: string; labels: string[] };

function compileSetItems(items: SetItem[]): CompiledSetItem[] {
  return items.map((item) => {
    switch (item.kind) {
      case 'SetProperty':
        return { kind: 'property', target: compileExpression(item.target.object), key: item.target.key, value: compileExpression(item.value) };
      case 'SetAllProperties':
        return { kind: 'replace', variable: item.variable, value: compileExpression(item.value) };
      case 'MergeProperties':
        return { kind: 'merge', variable: item.variable, value: compileExpression(item.value) };
      case 'SetLabels':
        return { kind: 'labels', variable: item.variable, labels: item.labels };
    }
  });
}

function entityOf(value: Value, allowNode = true): NodeValue | RelationshipValue | null {
  if (value === null) return null;
  if (value instanceof RelationshipValue || (allowNode && value instanceof NodeValue)) return value;
  throw runtimeError(ErrorCode.TYPE_ERROR, 'Expected a node or relationship', 'InvalidArgumentType');
}

/** One SET item's effect, with its right-hand side already evaluated. */
type SetEffect = () => void;

function evaluateSetItems(items: CompiledSetItem[], row: Row, ex: Execution, effects: SetEffect[]): void {
  const { tx, ctx } = ex;
  for (const item of items) {
    switch (item.kind) {
      case 'property': {
        const entity = entityOf(item.target(row, ctx));
        const value = item.value(row, ctx);
        if (entity !== null) effects.push(() => tx.setProperty(entity, item.key, value));
        break;
      }
      case 'replace':
      case 'merge': {
        const entity = entityOf(row.get(item.variable) ?? null);
        const map = toPropertyMap(item.value(row, ctx), 'SET value');
        if (entity === null) break;
        const copy = { ...map };
        if (item.kind === 'replace') effects.push(() => tx.replaceProperties(entity, copy));
        else effects.push(() => {
          for (const key in copy) tx.setProperty(entity, key, copy[key] ?? null);
        });
        break;
      }
      case 'labels':
      case 'removeLabels': {
        const node = row.get(item.variable) ?? null;
        if (node === null) break;
        if (!(node instanceof NodeValue)) throw runtimeError(ErrorCode.TYPE_ERROR, 'Labels can only be set on nodes', 'InvalidArgumentType');
        effects.push(() => {
          for (const label of item.labels) {
            if (item.kind === 'labels') tx.addLabel(node, label);
            else tx.removeLabel(node, label);
          }
        });
        break;
      }
    }
  }
}

function applySetItems(items: CompiledSetItem[], row: Row, ex: Execution): void {
  if (items.length === 0) return;
  const effects: SetEffect[] = [];
  evaluateSetItems(items, row, ex, effects);
  for (const effect of effects) effect();
}

function compileSet(clause: SetClause): ClausePlan {
  const items = compileSetItems(clause.items);
  return {
    eager: true,
    describe: () => ['SetProperties'],
    run(input, ex) {
      return drain(input, ex, 'SET (its input rows)', (row) => applySetItems(items, row, ex));
    },
  };
}

function compileRemove(clause: RemoveClause): ClausePlan {
  const items: CompiledSetItem[] = clause.items.map((item) =>
    item.kind === 'RemoveProperty'
      ? { kind: 'property', target: compileExpression(item.target.object), key: item.target.key, value: () => null }
      : { kind: 'removeLabels', variable: item.variable, labels: item.labels },
  );
  return {
    eager: true,
    describe: () => ['Remove'],
    run(input, ex) {
      return drain(input, ex, 'REMOVE (its input rows)', (row) => applySetItems(items, row, ex));
    },
  };
}

function compileDelete(clause: DeleteClause): ClausePlan {
  const exprs = clause.exprs.map(compileExpression);
  const detach = clause.detach;
  const remove = (value: Value, ex: Execution): void => {
    if (value === null) return;
    if (value instanceof NodeValue) ex.tx.deleteNode(value, detach);
    else if (value instanceof RelationshipValue) ex.tx.deleteRelationship(value);
    else if (value instanceof PathValue) {
      for (const rel of value.relationships) ex.tx.deleteRelationship(rel);
      for (const node of value.nodes) ex.tx.deleteNode(node, detach);
    } else if (Array.isArray(value)) {
      for (const item of value) remove(item, ex);
    } else {
      throw runtimeError(ErrorCode.TYPE_ERROR, 'DELETE expects a node, relationship or path', 'InvalidArgumentType');
    }
  };
  return {
    eager: true,
    describe: () => [detach ? 'DetachDelete' : 'Delete'],
    run(input, ex) {
      const rows = drain(input, ex, 'DELETE (its input rows)', null);
      const targets: Value[] = [];
      ex.ctx.budget.retain(LIST_BYTES + rows.length * exprs.length * SLOT_BYTES, 'DELETE (its targets)');
      for (const row of rows) for (const expr of exprs) targets.push(expr(row, ex.ctx));
      // Relationships first, so a path or list deleting both ends and links succeeds.
      for (const value of targets) if (value instanceof RelationshipValue) remove(value, ex);
      for (const value of targets) if (!(value instanceof RelationshipValue)) remove(value, ex);
      return rows;
    },
  };
}

// ---- running -----------------------------------------------------------------

function runSingle(plan: SinglePlan, start: Row, ex: Execution): RowSource {
  let rows: RowSource = [start];
  for (const clause of plan.clauses) {
    rows = clause.run(rows, ex);
    if (clause.eager) rows = Array.isArray(rows) ? rows : [...rows];
  }
  return rows;
}

/** Runs a plan; rows of a RETURN-less query are still drained so every write happens. */
export function* runQuery(plan: QueryPlan, ex: Execution, start: Row = new Map()): Generator<Row> {
  if (plan.parts.length === 1) {
    const only = plan.parts[0] as SinglePlan;
    const rows = runSingle(only, new Map(start), ex);
    if (only.columns.length === 0) {
      for (const _ of rows) ex.tx.touch(0);
      return;
    }
    yield* rows;
    return;
  }
  const seen = new Set<string>();
  // Mixing UNION and UNION ALL is rejected at compile time, so one flag decides.
  const distinct = plan.unionAll.some((u) => !u);
  for (const part of plan.parts) {
    for (const row of runSingle(part, new Map(start), ex)) {
      if (distinct) {
        let key = '';
        for (const c of plan.columns) key += valueKey(row.get(c) ?? null) + '\u0001';
        if (!addDistinctKey(seen, key, ex.ctx.budget, 'UNION')) continue;
      }
      yield row;
    }
  }
}

export function explainPlan(plan: QueryPlan, tx: GraphTransaction): string[] {
  const out: string[] = [];
  plan.parts.forEach((part, i) => {
    if (i > 0) out.push(plan.unionAll[i - 1] === true ? 'UnionAll' : 'Union');
    for (const clause of part.clauses) out.push(...clause.describe(tx));
  });
  return out;
}
