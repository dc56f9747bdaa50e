import t from 'tap';
import { parse } from '../../../../shared/gql/index.js';
import type { Expr, QueryStatement } from '../../../../shared/gql/ast.js';
import { NodeValue, PathValue, RelationshipValue } from '../../../../shared/gql/values.js';
import type { Value, ValueMap } from '../../../../shared/gql/values.js';
import { GeodeError } from '../../../../shared/protocol/errors.js';
import {
  compareValues,
  compileExpression,
  containsAggregate,
  equalsValues,
  orderBy,
  planAggregates,
  valueKey,
} from '../../../../storage-node/graph/eval/index.js';
import { StatementBudget } from '../../../../storage-node/graph/eval/index.js';
import type { EvalContext, Row } from '../../../../storage-node/graph/eval/index.js';

function context(params: ValueMap = {}): EvalContext {
  return {
    params,
    now: 0,
    random: () => 0.5,
    randomUUID: () => 'u',
    isDeleted: () => false,
    nodeById: () => null,
    budget: new StatementBudget(),
    patterns: { matchPattern: () => [], runSubquery: () => [] },
  };
}

function exprOf(text: string): Expr {
  // `x` is projected as a grouping key so that items may mix it with aggregates
  const stmt = parse(`WITH 1 AS x RETURN x AS k, ${text} AS result`) as QueryStatement;
  const clause = stmt.parts[0]?.clauses[1];
  if (clause?.kind !== 'Return') throw new Error('no RETURN');
  const item = clause.projection.items[1];
  if (item === undefined) throw new Error('no item');
  return item.expr;
}

/** Aggregates `text` over rows binding `x` to each of `values`, following the index.ts protocol. */
function aggregate(text: string, values: Value[], ctx: EvalContext = context()): Value {
  const { rewritten, slots } = planAggregates(exprOf(text), '\u0000agg_');
  const aggs = slots.map((s) => s.create());
  const rows: Row[] = values.map((v) => new Map([['x', v]]));
  for (const row of rows) for (const a of aggs) a.step(row, ctx);
  const out: Row = new Map(rows[0] ?? []);
  slots.forEach((s, i) => out.set(s.slot, aggs[i]?.result() ?? null));
  return compileExpression(rewritten)(out, ctx);
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof GeodeError) return `${err.code}/${err.detail ?? ''}`;
    throw err;
  }
  return 'no error';
}

t.test('containsAggregate finds nested aggregate calls only', async (t) => {
  t.ok(containsAggregate(exprOf('count(*) + 1')));
  t.ok(containsAggregate(exprOf('[y IN collect(x) | y]')));
  t.notOk(containsAggregate(exprOf('size([1, x])')));
});

t.test('count, sum, avg, min, max and collect skip nulls', async (t) => {
  const xs: Value[] = [1n, null, 3n, 3n];
  t.equal(aggregate('count(*)', xs), 4n);
  t.equal(aggregate('count(x)', xs), 3n);
  t.equal(aggregate('count(DISTINCT x)', xs), 2n);
  t.equal(aggregate('sum(x)', xs), 7n);
  t.equal(aggregate('sum(x)', [1n, 2.5]), 3.5);
  t.equal(aggregate('sum(x)', []), 0n);
  t.equal(aggregate('avg(x)', [1n, 2n]), 1.5);
  t.equal(aggregate('avg(x)', []), null);
  t.equal(aggregate('min(x)', xs), 1n);
  t.equal(aggregate('max(x)', xs), 3n);
  t.equal(aggregate('max(x)', [1n, 'a', null, [1n, 2n], 0.2, 'b']), 1n);
  t.same(aggregate('min(x)', [1n, 'a', null, [1n, 2n], 0.2, 'b']), [1n, 2n]);
  t.same(aggregate('collect(x)', xs), [1n, 3n, 3n]);
  t.same(aggregate('collect(DISTINCT x)', [1n, 1.0, null, 2n]), [1n, 2n]);
  t.same(aggregate('collect(x)', [null]), []);
  t.equal(aggregate('count(*) * 10 + x', [5n, 6n]), 25n, 'non-aggregate parts read the group row');
});

t.test('sum overflows are errors, large sums within range are not', async (t) => {
  t.equal(aggregate('sum(x)', [1_000_000n, 2_000_000n]), 3_000_000n);
  t.equal(code(() => aggregate('sum(x)', [9223372036854775807n, 1n])), 'ARITHMETIC_ERROR/IntegerOverflow');
  t.equal(code(() => aggregate('sum(x)', ['a'])), 'TYPE_ERROR/InvalidArgumentType');
});

t.test('standard deviation and percentiles', async (t) => {
  t.equal(aggregate('stDevP(x)', [2n, 4n, 4n, 4n, 5n, 5n, 7n, 9n]), 2);
  t.equal(aggregate('stDev(x)', [1n, 3n]), Math.SQRT2);
  t.equal(aggregate('stDev(x)', [1n]), 0);
  const prices: Value[] = [10.0, 20.0, 30.0];
  t.equal(aggregate('percentileDisc(x, 0.5)', prices), 20);
  t.equal(aggregate('percentileDisc(x, 0.0)', prices), 10);
  t.equal(aggregate('percentileDisc(x, 1.0)', prices), 30);
  t.equal(aggregate('percentileCont(x, 0.25)', prices), 15);
  t.equal(aggregate('percentileCont(x, $p)', prices, context({ p: 1.0 })), 30);
  t.equal(code(() => aggregate('percentileCont(x, 1.1)', prices)), 'ARGUMENT_ERROR/NumberOutOfRange');
  t.equal(code(() => aggregate('percentileDisc(x, -1)', prices)), 'ARGUMENT_ERROR/NumberOutOfRange');
});

t.test('orderability sorts every type into one total order', async (t) => {
  const n = new NodeValue(1, ['N'], {});
  const m = new NodeValue(2, [], {});
  const r = new RelationshipValue(3, 'REL', 1, 2, {});
  const p = new PathValue([n, m], [r]);
  const values: Value[] = [n, r, p, 1.5, ['list'], 'text', null, false, Number.NaN, { a: 'map' }];
  const sorted = [...values].sort(compareValues);
  t.same(sorted, [{ a: 'map' }, n, r, ['list'], p, 'text', false, 1.5, Number.NaN, null]);
  const lists: Value[] = [[null, 2n], [1n, null], [], ['a', 1n], [1n], [null, 1n], ['a'], [1n, 'a']];
  t.same([...lists].sort(compareValues), [[], ['a'], ['a', 1n], [1n], [1n, 'a'], [1n, null], [null, 1n], [null, 2n]]);
  t.ok(compareValues(1n, 1.5) < 0);
  t.equal(compareValues(2n, 2.0), 0);
  t.ok(compareValues(9007199254740993n, 9007199254740992) > 0, 'int/float comparison is exact');
});

t.test('orderBy honours direction and NULLS FIRST/LAST', async (t) => {
  const asc = [{ descending: false, nulls: null }] as const;
  const desc = [{ descending: true, nulls: null }] as const;
  const ascNullsFirst = [{ descending: false, nulls: 'first' }] as const;
  t.ok(orderBy(asc, [null], [1n]) > 0, 'nulls last ascending');
  t.ok(orderBy(desc, [null], [1n]) < 0, 'nulls first descending');
  t.ok(orderBy(ascNullsFirst, [null], [1n]) < 0);
  t.ok(orderBy(desc, [1n], [2n]) > 0);
});

t.test('valueKey groups equivalent values', async (t) => {
  t.equal(valueKey(1n), valueKey(1.0));
  t.equal(valueKey(null), valueKey(null));
  t.equal(valueKey(Number.NaN), valueKey(Number.NaN));
  t.equal(valueKey([1n, { a: 2.0 }]), valueKey([1.0, { a: 2n }]));
  t.not(valueKey('1'), valueKey(1n));
  t.not(valueKey(['a,b']), valueKey(['a', 'b']));
  t.equal(valueKey(new NodeValue(4, [], {})), valueKey(new NodeValue(4, ['X'], { a: 1n })));
  t.not(valueKey({ a: 1n, b: 2n }), valueKey({ a: 1n }));
});

t.test('equalsValues is ternary', async (t) => {
  t.equal(equalsValues(1n, 1.0), true);
  t.equal(equalsValues(null, null), null);
  t.equal(equalsValues([1n, null], [2n, null]), false);
  t.equal(equalsValues([1n, null], [1n, null]), null);
});
