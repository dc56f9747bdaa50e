import t from 'tap';
import { NodeValue, PathValue, RelationshipValue, TemporalValue, type Value } from '../../shared/gql/values.js';
import { canonicalKey, compareTables, valuesEqual } from './lib/compare.js';
import { formatTckValue, parseTckValue } from './lib/values.js';

t.test('scalars parse to the value model: integers as bigint, floats as number', async (t) => {
  t.equal(parseTckValue('null'), null);
  t.equal(parseTckValue('true'), true);
  t.equal(parseTckValue('false'), false);
  t.equal(parseTckValue('1'), 1n);
  t.equal(parseTckValue('-42'), -42n);
  t.equal(parseTckValue('-9223372036854775808'), -9223372036854775808n);
  t.equal(parseTckValue('1.0'), 1);
  t.equal(typeof parseTckValue('1.0'), 'number');
  t.equal(parseTckValue('-0.5'), -0.5);
  t.equal(parseTckValue('1e-10'), 1e-10);
  t.equal(parseTckValue('1.2635418652381264e305'), 1.2635418652381264e305);
  t.equal(parseTckValue('.5'), 0.5);
  t.ok(Number.isNaN(parseTckValue('NaN')));
  t.equal(parseTckValue('Inf'), Infinity);
  t.equal(parseTckValue('-Inf'), -Infinity);
  t.equal(parseTckValue('  7  '), 7n);
});

t.test('strings are single-quoted with backslash escapes', async (t) => {
  t.equal(parseTckValue("'abc'"), 'abc');
  t.equal(parseTckValue("''"), '');
  t.equal(parseTckValue("'Don\\'t'"), "Don't");
  t.equal(parseTckValue("'a\\\\b'"), 'a\\b');
  t.equal(parseTckValue("'\\tFoo\\t'"), '\tFoo\t');
  t.equal(parseTckValue("'\\u01FF'"), '\u01FF');
  t.equal(parseTckValue("'a, [b]'"), 'a, [b]');
  t.throws(() => parseTckValue("'open"), /unterminated/);
});

t.test('lists and maps nest', async (t) => {
  t.same(parseTckValue('[]'), []);
  t.same(parseTckValue("[1, 'a', null, [2]]"), [1n, 'a', null, [2n]]);
  t.same(parseTckValue('{}'), {});
  t.same(parseTckValue("{k: 1, name: 'x', l: [1.5]}"), { k: 1n, name: 'x', l: [1.5] });
  t.same(parseTckValue('{`a b`: true}'), { 'a b': true });
  t.throws(() => parseTckValue('[1, 2'), /expected/);
  t.throws(() => parseTckValue('1 2'), /unexpected/);
});

t.test('nodes parse with labels and properties', async (t) => {
  const n = parseTckValue("(:A:B {p: 1, q: 'string'})");
  t.ok(n instanceof NodeValue);
  const node = n as NodeValue;
  t.same(node.labels, ['A', 'B']);
  t.same(node.properties, { p: 1n, q: 'string' });
  const empty = parseTckValue('()') as NodeValue;
  t.same(empty.labels, []);
  t.same(empty.properties, {});
  t.same((parseTckValue('({name: 1})') as NodeValue).properties, { name: 1n });
});

t.test('relationships parse with a type and properties, told apart from lists', async (t) => {
  const r = parseTckValue('[:T {p: 1}]');
  t.ok(r instanceof RelationshipValue);
  t.equal((r as RelationshipValue).type, 'T');
  t.same((r as RelationshipValue).properties, { p: 1n });
  t.equal((parseTckValue('[:KNOWS]') as RelationshipValue).type, 'KNOWS');
  t.ok(Array.isArray(parseTckValue('[[:T]]')));
  t.ok((parseTckValue('[[:T]]') as Value[])[0] instanceof RelationshipValue);
});

t.test('paths record the direction of each relationship', async (t) => {
  const p = parseTckValue('<(:A)-[:T]->(:B)<-[:U]-(:C)>') as PathValue;
  t.ok(p instanceof PathValue);
  t.equal(p.nodes.length, 3);
  t.equal(p.relationships.length, 2);
  const [a, b, c] = p.nodes as [NodeValue, NodeValue, NodeValue];
  const [t1, u] = p.relationships as [RelationshipValue, RelationshipValue];
  t.equal(t1.start, a.id);
  t.equal(t1.end, b.id);
  t.equal(u.start, c.id);
  t.equal(u.end, b.id);
  const zero = parseTckValue('<()>') as PathValue;
  t.equal(zero.nodes.length, 1);
  t.equal(zero.relationships.length, 0);
  t.throws(() => parseTckValue('<(:A)<-[:T]->(:B)>'), /direction/);
});

t.test('formatting writes TCK notation back', async (t) => {
  for (const text of ["[1, 2.5, 'x', null]", '{a: 1.0}', '(:A:B {p: 1})', '[:T {p: 1}]', '<(:A)-[:T]->(:B)<-[:U]-()>']) {
    t.equal(formatTckValue(parseTckValue(text)), text);
  }
  t.equal(formatTckValue(NaN), 'NaN');
  t.equal(formatTckValue(-Infinity), '-Inf');
  t.equal(formatTckValue("it's"), "'it\\'s'");
});

t.test('INTEGER never equals FLOAT; NaN equals NaN', async (t) => {
  t.notOk(valuesEqual(1n, 1));
  t.notOk(valuesEqual(parseTckValue('1'), parseTckValue('1.0')));
  t.ok(valuesEqual(1n, 1n));
  t.ok(valuesEqual(NaN, NaN));
  t.ok(valuesEqual(0, -0));
  t.notOk(valuesEqual('1', 1n));
  t.notOk(valuesEqual(null, false));
  t.notOk(valuesEqual([1n], 1n));
  t.notOk(valuesEqual({ a: 1n }, [1n]));
});

t.test('lists are ordered unless list order is ignored, also when nested', async (t) => {
  t.notOk(valuesEqual([1n, 2n], [2n, 1n]));
  t.ok(valuesEqual([1n, 2n], [2n, 1n], { ignoreListOrder: true }));
  t.ok(valuesEqual([[1n, 2n], [3n]], [[3n], [2n, 1n]], { ignoreListOrder: true }));
  t.notOk(valuesEqual([1n, 1n, 2n], [1n, 2n, 2n], { ignoreListOrder: true }));
  t.notOk(valuesEqual([1n], [1n, 1n]));
});

t.test('maps compare by keys and values, not key order', async (t) => {
  t.ok(valuesEqual({ a: 1n, b: 'x' }, { b: 'x', a: 1n }));
  t.notOk(valuesEqual({ a: 1n }, { a: 1n, b: null }));
  t.notOk(valuesEqual({ a: 1n }, { a: 1 }));
  const nullProto = Object.create(null) as Record<string, Value>;
  nullProto['a'] = 1n;
  t.ok(valuesEqual({ a: 1n }, nullProto));
});

t.test('nodes compare by label set and properties, ignoring identity', async (t) => {
  const expected = parseTckValue("(:A:B {name: 'x'})");
  t.ok(valuesEqual(expected, new NodeValue(17, ['B', 'A'], { name: 'x' })));
  t.notOk(valuesEqual(expected, new NodeValue(17, ['A'], { name: 'x' })));
  t.notOk(valuesEqual(expected, new NodeValue(17, ['A', 'B'], { name: 'y' })));
  t.notOk(valuesEqual(expected, new NodeValue(17, ['A', 'B'], { name: 'x', extra: 1n })));
  t.notOk(valuesEqual(parseTckValue('()'), parseTckValue('[:T]')));
});

t.test('relationships compare by type and properties', async (t) => {
  const expected = parseTckValue('[:T {p: 1}]');
  t.ok(valuesEqual(expected, new RelationshipValue(9, 'T', 1, 2, { p: 1n })));
  t.notOk(valuesEqual(expected, new RelationshipValue(9, 'U', 1, 2, { p: 1n })));
  t.notOk(valuesEqual(expected, new RelationshipValue(9, 'T', 1, 2, { p: 1 })));
});

t.test('paths compare structurally including relationship direction', async (t) => {
  const a = new NodeValue(10, ['A'], {});
  const b = new NodeValue(11, ['B'], {});
  const forward = new PathValue([a, b], [new RelationshipValue(5, 'T', 10, 11, {})]);
  const backward = new PathValue([a, b], [new RelationshipValue(5, 'T', 11, 10, {})]);
  t.ok(valuesEqual(parseTckValue('<(:A)-[:T]->(:B)>'), forward));
  t.notOk(valuesEqual(parseTckValue('<(:A)-[:T]->(:B)>'), backward));
  t.ok(valuesEqual(parseTckValue('<(:A)<-[:T]-(:B)>'), backward));
  t.notOk(valuesEqual(parseTckValue('<(:A)>'), forward));
  t.ok(valuesEqual(parseTckValue('<(:A)>'), new PathValue([a], [])));
  const loop = new PathValue([a, a], [new RelationshipValue(6, 'T', 10, 10, {})]);
  t.ok(valuesEqual(parseTckValue('<(:A)-[:T]->(:A)>'), loop));
});

t.test('an expected string matches a temporal value with that ISO text', async (t) => {
  t.ok(valuesEqual('1816-01-01', new TemporalValue('date', '1816-01-01')));
  t.notOk(valuesEqual('1816-01-02', new TemporalValue('date', '1816-01-01')));
  t.equal(canonicalKey([new TemporalValue('duration', 'P1D')]), canonicalKey(['P1D']));
});

t.test('tables: columns in order, rows as a bag or a sequence', async (t) => {
  const rows = (...texts: string[][]): Value[][] => texts.map((r) => r.map(parseTckValue));
  const expected = { columns: ['a', 'b'], rows: rows(['1', "'x'"], ['1', "'x'"], ['2', 'null']), ordered: false, ignoreListOrder: false };
  t.equal(compareTables(expected, { columns: ['a', 'b'], rows: rows(['2', 'null'], ['1', "'x'"], ['1', "'x'"]) }), null);
  t.match(compareTables(expected, { columns: ['b', 'a'], rows: rows(['2', 'null'], ['1', "'x'"], ['1', "'x'"]) }), /columns differ/);
  t.match(compareTables(expected, { columns: ['a', 'b'], rows: rows(['2', 'null'], ['2', 'null'], ['1', "'x'"]) }), /1 of 3 expected rows not found/);
  t.match(compareTables(expected, { columns: ['a', 'b'], rows: rows(['2', 'null']) }), /row count/);
  const ordered = { ...expected, ordered: true };
  t.match(compareTables(ordered, { columns: ['a', 'b'], rows: rows(['2', 'null'], ['1', "'x'"], ['1', "'x'"]) }), /row 1 differs/);
  t.equal(compareTables(ordered, { columns: ['a', 'b'], rows: rows(['1', "'x'"], ['1', "'x'"], ['2', 'null']) }), null);
  const lists = { columns: ['l'], rows: rows(['[1, 2]']), ordered: false, ignoreListOrder: true };
  t.equal(compareTables(lists, { columns: ['l'], rows: [[[2n, 1n]]] }), null);
});
