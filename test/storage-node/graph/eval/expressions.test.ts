import t from 'tap';
import { parse } from '../../../../shared/gql/index.js';
import type { Expr, QueryStatement } from '../../../../shared/gql/ast.js';
import { NodeValue, RelationshipValue, TemporalValue } from '../../../../shared/gql/values.js';
import type { Value, ValueMap } from '../../../../shared/gql/values.js';
import { GeodeError } from '../../../../shared/protocol/errors.js';
import { compileExpression } from '../../../../storage-node/graph/eval/index.js';
import { StatementBudget } from '../../../../storage-node/graph/eval/index.js';
import type { EvalContext, Row } from '../../../../storage-node/graph/eval/index.js';

const nodeA = new NodeValue(1, ['A', 'B'], { name: 'a', num: 1n });
const nodeB = new NodeValue(2, [], {});
const rel = new RelationshipValue(7, 'T', 1, 2, { w: 0.5 });

function context(params: ValueMap = {}, deleted: Set<number> = new Set()): EvalContext {
  let seed = 1;
  return {
    params,
    now: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
    randomUUID: () => '00000000-0000-4000-8000-000000000000',
    isDeleted: (e) => e instanceof NodeValue && deleted.has(e.id),
    nodeById: (id) => (id === 1 ? nodeA : id === 2 ? nodeB : null),
    budget: new StatementBudget(),
    patterns: {
      matchPattern: () => [],
      runSubquery: () => [],
    },
  };
}

/** Parses `text` as a RETURN item; `vars` are declared (as null) so the semantic checker accepts them. */
function exprOf(text: string, vars: string[]): Expr {
  const declared = vars.length > 0 ? vars.map((v) => `null AS ${v}`).join(', ') : '1 AS dummy';
  const stmt = parse(`WITH ${declared} RETURN ${text} AS result`) as QueryStatement;
  const clause = stmt.parts[0]?.clauses[1];
  if (clause?.kind !== 'Return') throw new Error('no RETURN');
  const item = clause.projection.items[0];
  if (item === undefined) throw new Error('no item');
  return item.expr;
}

/** Evaluates `text` with the given variables in scope (they are bound by the row, not parsed). */
function run(text: string, vars: Record<string, Value> = {}, ctx: EvalContext = context()): Value {
  const row: Row = new Map(Object.entries(vars));
  return compileExpression(exprOf(text, Object.keys(vars)))(row, ctx);
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

t.test('three-valued logic follows the truth tables', async (t) => {
  const cases: [string, Value][] = [
    ['true AND null', null],
    ['false AND null', false],
    ['null AND null', null],
    ['true OR null', true],
    ['false OR null', null],
    ['true XOR null', null],
    ['true XOR false', true],
    ['NOT null', null],
    ['NOT false', true],
  ];
  for (const [text, expected] of cases) t.equal(run(text), expected, text);
});

t.test('integer and float arithmetic keep their types', async (t) => {
  t.equal(run('1 + 2'), 3n);
  t.equal(run('1 + 2.0'), 3);
  t.equal(run('7 / 2'), 3n);
  t.equal(run('-7 / 2'), -3n);
  t.equal(run('7 % 3'), 1n);
  t.equal(run('-7 % 3'), -1n);
  t.equal(run('2 ^ 3'), 8);
  t.equal(run('7.0 / 2'), 3.5);
  t.equal(run('1.0 / 0'), Infinity);
  t.ok(Number.isNaN(run('0.0 / 0.0') as number));
  t.equal(run('1 + null'), null);
  t.equal(run('-(3)'), -3n);
});

t.test('integer overflow and division by zero raise arithmetic errors', async (t) => {
  t.equal(code(() => run('9223372036854775807 + 1')), 'ARITHMETIC_ERROR/IntegerOverflow');
  t.equal(code(() => run('x * 2', { x: 1n << 62n })), 'ARITHMETIC_ERROR/IntegerOverflow');
  t.equal(code(() => run('1 / 0')), 'ARITHMETIC_ERROR/DivisionByZero');
  t.equal(code(() => run('1 % 0')), 'ARITHMETIC_ERROR/DivisionByZero');
  t.equal(code(() => run('1 + true')), 'TYPE_ERROR/InvalidArgumentType');
});

t.test('string and list concatenation', async (t) => {
  t.equal(run("'a' + 'b'"), 'ab');
  t.equal(run("'a' + 1"), 'a1');
  t.equal(run("'a' + 1.0"), 'a1.0');
  t.equal(run("'a' || 'b'"), 'ab');
  t.same(run('[1] + [2]'), [1n, 2n]);
  t.same(run('[1] + 2'), [1n, 2n]);
  t.same(run('0 + [1]'), [0n, 1n]);
  t.same(run('[1] || [2]'), [1n, 2n]);
});

t.test('equality is ternary and crosses int/float', async (t) => {
  t.equal(run('1 = 1.0'), true);
  t.equal(run("'1' = 1"), false);
  t.equal(run('null = null'), null);
  t.equal(run('null <> null'), null);
  t.equal(run('[null] = [1]'), null);
  t.equal(run("['a'] = [1]"), false);
  t.equal(run('[[1], [2]] = [[1], [null]]'), null);
  t.equal(run('[[1], [2, 3]] = [[1], [null]]'), false);
  t.equal(run('{k: null} = {k: null}'), null);
  t.equal(run('{k: 1} = {k: 1, l: null}'), false);
  t.equal(run('{k: 1, l: null} = {k: 1, l: 1}'), null);
  t.equal(run('0.0 / 0.0 = 0.0 / 0.0'), false);
  t.equal(run('0.0 / 0.0 <> 1'), true);
  t.equal(run('a = b', { a: nodeA, b: nodeA }), true);
  t.equal(run('a = b', { a: nodeA, b: nodeB }), false);
  t.equal(run('9223372036854775807 = 9223372036854775806'), false);
});

t.test('inequalities yield null across types and false with NaN', async (t) => {
  t.equal(run('1 < 1.5'), true);
  t.equal(run("'a' < 'b'"), true);
  t.equal(run("1 < 'a'"), null);
  t.equal(run('false < true'), true);
  t.equal(run('[1, 0] >= [1]'), true);
  t.equal(run('[1, null] >= [1]'), true);
  t.equal(run('[1, 2] >= [1, null]'), null);
  t.equal(run("[1, 'a'] >= [1, null]"), null);
  t.equal(run('[1, 2] >= [3, null]'), false);
  t.equal(run('0.0 / 0.0 > 1'), false);
  t.equal(run('0.0 / 0.0 <= 0.0 / 0.0'), false);
  t.equal(run("0.0 / 0.0 > 'a'"), null);
  t.equal(run('a < b', { a: nodeA, b: nodeB }), null);
  t.equal(run('1 < 2 < 3'), true);
});

t.test('IN uses ternary equality', async (t) => {
  t.equal(run('1 IN [1, 2]'), true);
  t.equal(run('3 IN [1, 2]'), false);
  t.equal(run('3 IN [1, null]'), null);
  t.equal(run('null IN []'), false);
  t.equal(run('null IN [1]'), null);
  t.equal(run('[1] IN [[1], 2]'), true);
  t.equal(run('1 IN null'), null);
});

t.test('string predicates and regex', async (t) => {
  t.equal(run("'abc' STARTS WITH 'ab'"), true);
  t.equal(run("'abc' ENDS WITH 'bc'"), true);
  t.equal(run("'abc' CONTAINS 'x'"), false);
  t.equal(run("1 CONTAINS 'x'"), null);
  t.equal(run("'abc' =~ 'a.*'"), true);
  t.equal(run("'abc' =~ 'b'"), false);
  t.equal(run("'ABC' =~ '(?i)abc'"), true);
  t.equal(run("null =~ 'a'"), null);
});

t.test('property access, indexing and slicing', async (t) => {
  t.equal(run('n.name', { n: nodeA }), 'a');
  t.equal(run('n.missing', { n: nodeA }), null);
  t.equal(run('n.toString', { n: nodeA }), null, 'prototype keys are not properties');
  t.equal(run('r.w', { r: rel }), 0.5);
  t.equal(run('m.k', { m: { k: 1n } }), 1n);
  t.equal(run('m.k', { m: null }), null);
  t.equal(code(() => run('m.k', { m: 1n })), 'TYPE_ERROR/InvalidArgumentType');
  t.equal(code(() => run('n.name', { n: nodeA }, context({}, new Set([1])))), 'ENTITY_NOT_FOUND/DeletedEntityAccess');
  t.equal(run('[1, 2, 3][0]'), 1n);
  t.equal(run('[1, 2, 3][-1]'), 3n);
  t.equal(run('[1, 2, 3][5]'), null);
  t.same(run('[1, 2, 3][1..]'), [2n, 3n]);
  t.same(run('[1, 2, 3][..-1]'), [1n, 2n]);
  t.same(run('[1, 2, 3][-2..]'), [2n, 3n]);
  t.same(run('[1, 2, 3][2..1]'), []);
  t.equal(run('[1, 2, 3][null..]'), null);
  t.equal(run("{a: 1}['a']"), 1n);
  t.equal(code(() => run('m[0]', { m: { a: 1n } })), 'TYPE_ERROR/MapElementAccessByNonString');
  t.equal(code(() => run('[1][1.0]')), 'TYPE_ERROR/InvalidArgumentType');
  t.equal(run('n:A:B', { n: nodeA }), true);
  t.equal(run('n:C', { n: nodeA }), false);
  t.equal(run('n:A', { n: null }), null);
});

t.test('parameters resolve and a missing one is an error', async (t) => {
  t.equal(run('$p', {}, context({ p: 5n })), 5n);
  t.equal(run('$p', {}, context({ p: null })), null);
  t.equal(code(() => run('$q')), 'PARAMETER_MISSING/MissingParameter');
});

t.test('CASE, comprehensions, quantifiers, reduce and map projection', async (t) => {
  t.equal(run("CASE 1 WHEN 1.0 THEN 'one' ELSE 'other' END"), 'one');
  t.equal(run("CASE WHEN null THEN 'x' WHEN 2 > 1 THEN 'y' END"), 'y');
  t.equal(run("CASE 3 WHEN 1 THEN 'one' END"), null);
  t.same(run('[x IN [1, 2, 3] WHERE x > 1 | x * 10]'), [20n, 30n]);
  t.same(run('[x IN [1, 2] | x + y]', { y: 1n }), [2n, 3n]);
  t.equal(run('all(x IN [1, 2] WHERE x > 0)'), true);
  t.equal(run('all(x IN [1, null] WHERE x > 0)'), null);
  t.equal(run('all(x IN [0, null] WHERE x > 0)'), false);
  t.equal(run('any(x IN [0, null] WHERE x > 0)'), null);
  t.equal(run('any(x IN [1, null] WHERE x > 0)'), true);
  t.equal(run('none(x IN [0, null] WHERE x > 0)'), null);
  t.equal(run('none(x IN [] WHERE x > 0)'), true);
  t.equal(run('single(x IN [1, 0] WHERE x > 0)'), true);
  t.equal(run('single(x IN [1, 1] WHERE x > 0)'), false);
  t.equal(run('single(x IN [1, null] WHERE x > 0)'), null);
  t.equal(run('reduce(acc = 0, x IN [1, 2, 3] | acc + x)'), 6n);
  t.same(run('n {.name, .nope, k: 1, x}', { n: nodeA, x: 'v' }), { name: 'a', nope: null, k: 1n, x: 'v' });
  t.same(run('n {.*}', { n: nodeA }), { name: 'a', num: 1n });
  t.equal(run('n {.name}', { n: null }), null);
});

t.test('graph functions', async (t) => {
  t.equal(run('id(n)', { n: nodeA }), 1n);
  t.same(run('labels(n)', { n: nodeA }), ['A', 'B']);
  t.equal(run('type(r)', { r: rel }), 'T');
  t.same(run('keys(n)', { n: nodeA }), ['name', 'num']);
  t.same(run('properties(r)', { r: rel }), { w: 0.5 });
  t.equal(run('startNode(r)', { r: rel }), nodeA);
  t.equal(run('endNode(r)', { r: rel }), nodeB);
  t.equal(code(() => run('labels(x)', { x: 1n })), 'TYPE_ERROR/InvalidArgumentValue');
  t.equal(code(() => run('labels(n)', { n: nodeA }, context({}, new Set([1])))), 'ENTITY_NOT_FOUND/DeletedEntityAccess');
  t.equal(run('exists(n.name)', { n: nodeA }), true);
  t.equal(run('exists(n.zzz)', { n: nodeA }), false);
});

t.test('list and string functions', async (t) => {
  t.equal(run('size([1, 2])'), 2n);
  t.equal(run("size('abc')"), 3n);
  t.equal(run('size(null)'), null);
  t.equal(run('head([1, 2])'), 1n);
  t.equal(run('head([])'), null);
  t.equal(run('last([1, 2])'), 2n);
  t.same(run('tail([1, 2])'), [2n]);
  t.same(run('range(1, 5, 2)'), [1n, 3n, 5n]);
  t.same(run('range(3, 1)'), []);
  t.same(run('range(3, 1, -1)'), [3n, 2n, 1n]);
  t.equal(code(() => run('range(2, 8, 0)')), 'ARGUMENT_ERROR/NumberOutOfRange');
  t.equal(code(() => run('range(1.0, 2)')), 'ARGUMENT_ERROR/InvalidArgumentType');
  t.same(run('reverse([1, 2])'), [2n, 1n]);
  t.equal(run("reverse('ab')"), 'ba');
  t.equal(run('coalesce(null, 2, 3)'), 2n);
  t.equal(run('coalesce(null, null)'), null);
  t.equal(run("toUpper('ab')"), 'AB');
  t.equal(run("trim('  a ')"), 'a');
  t.equal(run("ltrim('  a ')"), 'a ');
  t.equal(run("substring('hello', 1, 3)"), 'ell');
  t.equal(run("substring('hello', 2)"), 'llo');
  t.equal(run("left('hello', 2)"), 'he');
  t.equal(run("right('hello', 2)"), 'lo');
  t.equal(run("replace('aXbX', 'X', '-')"), 'a-b-');
  t.same(run("split('a,b,', ',')"), ['a', 'b', '']);
  t.equal(code(() => run('toUpper(1)')), 'TYPE_ERROR/InvalidArgumentType');
});

t.test('type conversion functions', async (t) => {
  t.equal(run('toInteger(82.9)'), 82n);
  t.equal(run("toInteger('2.9')"), 2n);
  t.equal(run("toInteger('foo')"), null);
  t.equal(run("toInteger(' 42 ')"), 42n);
  t.equal(run('toFloat(3)'), 3);
  t.equal(run("toFloat('5')"), 5);
  t.equal(run("toBoolean('true')"), true);
  t.equal(run("toBoolean(' tru ')"), null);
  t.equal(run('toString(1.0)'), '1.0');
  t.equal(run('toString(2.3)'), '2.3');
  t.equal(run('toString(1e20)'), '1.0E20');
  t.equal(run('toString(true)'), 'true');
  t.equal(code(() => run('toInteger([])')), 'TYPE_ERROR/InvalidArgumentValue');
  t.equal(code(() => run('toFloat(true)')), 'TYPE_ERROR/InvalidArgumentValue');
  t.equal(code(() => run('toBoolean(1.0)')), 'TYPE_ERROR/InvalidArgumentValue');
  t.equal(code(() => run('toString({})')), 'TYPE_ERROR/InvalidArgumentValue');
  t.equal(run('toStringOrNull([])'), null);
  t.equal(run("toIntegerOrNull('x')"), null);
});

t.test('math functions', async (t) => {
  t.equal(run('abs(-3)'), 3n);
  t.equal(run('abs(-3.5)'), 3.5);
  t.equal(run('ceil(1.2)'), 2);
  t.equal(run('floor(1.8)'), 1);
  t.equal(run('round(2.5)'), 3);
  t.equal(run('round(-2.5)'), -2);
  t.equal(run('round(3.14159, 2)'), 3.14);
  t.equal(run('sign(-4)'), -1n);
  t.equal(run('sqrt(16)'), 4);
  t.equal(run('e()'), Math.E);
  t.equal(run('pi()'), Math.PI);
  t.equal(run('degrees(pi())'), 180);
  t.equal(run('haversin(0.0)'), 0);
  const r = run('rand()') as number;
  t.ok(r >= 0 && r < 1);
  t.equal(run('randomUUID()'), '00000000-0000-4000-8000-000000000000');
  t.equal(run('timestamp()'), BigInt(Date.UTC(2024, 0, 2, 3, 4, 5, 678)));
});

t.test('temporal constructors without arguments use the statement clock', async (t) => {
  const dt = run('datetime()');
  t.ok(dt instanceof TemporalValue);
  t.equal((dt as TemporalValue).kind, 'datetime');
  t.match((dt as TemporalValue).iso, /^2024-01-02T03:04:05\.678/);
  t.equal((run('date()') as TemporalValue).iso, '2024-01-02');
});

t.test('unknown functions and misplaced aggregates fail at compile time', async (t) => {
  const pos = { offset: 0, line: 1, column: 1 };
  t.equal(
    code(() => compileExpression({ kind: 'FunctionCall', pos, name: 'foo', lowerName: 'foo', distinct: false, args: [] })),
    'SYNTAX_ERROR/UnknownFunction',
  );
  t.equal(code(() => compileExpression({ kind: 'CountStar', pos })), 'SYNTAX_ERROR/InvalidAggregation');
});

t.test('pattern comprehensions and predicates delegate to the pattern host', async (t) => {
  const ctx = context();
  const seen: string[] = [];
  ctx.patterns = {
    matchPattern: (_parts, _where, row) => {
      seen.push('match');
      return [new Map([...row, ['m', nodeB]])];
    },
    runSubquery: () => [],
  };
  t.same(run('[(n)-->(m) | id(m)]', { n: nodeA }, ctx), [2n]);
  t.equal(run('exists((n)-->())', { n: nodeA }, ctx), true);
  t.ok(seen.length >= 2);
});
