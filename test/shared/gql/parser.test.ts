import t from 'tap';
import type { Test } from 'tap';
import { parse } from '../../../shared/gql/index.js';
import type {
  Clause,
  Expr,
  QueryStatement,
  ReturnClause,
  Statement,
  WithClause,
} from '../../../shared/gql/index.js';
import { parseStatement } from '../../../shared/gql/parser.js';
import { GeodeError } from '../../../shared/protocol/errors.js';

const query = (text: string): QueryStatement => {
  const s = parse(text);
  if (s.kind !== 'Query') throw new Error(`expected a query, got ${s.kind}`);
  return s;
};
const clauses = (text: string): Clause[] => query(text).parts[0]?.clauses ?? [];
const returned = (text: string): ReturnClause => {
  const last = clauses(text).at(-1);
  if (last?.kind !== 'Return') throw new Error('last clause is not RETURN');
  return last;
};
/** The single RETURN item of `RETURN <expr>`, parsed without the semantic checks (free variables are fine). */
const expr = (text: string): Expr => {
  const s = parseStatement(`RETURN ${text}`);
  const ret = s.kind === 'Query' ? s.parts[0]?.clauses[0] : undefined;
  const item = ret?.kind === 'Return' ? ret.projection.items[0] : undefined;
  if (!item) throw new Error('no item');
  return item.expr;
};
/** Renders an expression as a fully parenthesized string, to assert on precedence. */
const show = (e: Expr): string => {
  switch (e.kind) {
    case 'Literal':
      return typeof e.value === 'string' ? `'${e.value}'` : String(e.value);
    case 'Variable':
      return e.name;
    case 'Parameter':
      return `$${e.name}`;
    case 'Binary':
      return `(${show(e.left)} ${e.op} ${show(e.right)})`;
    case 'Unary':
      return `(${e.op} ${show(e.operand)})`;
    case 'IsNull':
      return `(${show(e.operand)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'Property':
      return `${show(e.object)}.${e.key}`;
    case 'HasLabels':
      return `${show(e.object)}:${e.labels.join(':')}`;
    case 'Index':
      return `${show(e.object)}[${show(e.index)}]`;
    case 'Slice':
      return `${show(e.object)}[${e.from ? show(e.from) : ''}..${e.to ? show(e.to) : ''}]`;
    case 'FunctionCall':
      return `${e.name}(${e.distinct ? 'DISTINCT ' : ''}${e.args.map(show).join(', ')})`;
    case 'CountStar':
      return 'count(*)';
    case 'List':
      return `[${e.items.map(show).join(', ')}]`;
    default:
      return e.kind;
  }
};
const syntaxFailure = (t: Test, text: string, detail: string, line?: number, column?: number): void => {
  try {
    parse(text);
    t.fail(`expected ${detail} for: ${text}`);
  } catch (err) {
    t.ok(err instanceof GeodeError, 'a GeodeError');
    const g = err as GeodeError;
    t.equal(g.detail, detail, `${text} -> ${g.message}`);
    t.equal(g.phase, 'compile');
    if (line !== undefined) t.equal(g.position?.line, line, 'line');
    if (column !== undefined) t.equal(g.position?.column, column, 'column');
  }
};

t.test('operator precedence follows openCypher', async (t) => {
  t.equal(show(expr('a OR b XOR c AND NOT d')), '(a OR (b XOR (c AND (NOT d))))');
  t.equal(show(expr('NOT a = b')), '(NOT (a = b))');
  t.equal(show(expr('a = b IS NULL')), '(a = (b IS NULL))');
  t.equal(show(expr('x IN [1] = true')), '((x IN [1]) = true)');
  t.equal(show(expr('1 + 2 * 3 ^ 2')), '(1 + (2 * (3 ^ 2)))');
  t.equal(show(expr('-3 ^ 2')), '((- 3) ^ 2)');
  t.equal(show(expr('2 ^ 3 ^ 2')), '((2 ^ 3) ^ 2)', '^ is left-associative');
  t.equal(show(expr('a - b - c')), '((a - b) - c)');
  t.equal(show(expr("s STARTS WITH 'a' AND s ENDS WITH 'b' OR s CONTAINS 'c'")), "(((s STARTS WITH 'a') AND (s ENDS WITH 'b')) OR (s CONTAINS 'c'))");
  t.equal(show(expr("s =~ 'a.*'")), "(s =~ 'a.*')");
  t.equal(show(expr('n.a.b[0][1..2]')), 'n.a.b[0][1..2]');
  t.equal(show(expr('n:A:B')), 'n:A:B');
  t.equal(show(expr('x IS NOT NULL')), '(x IS NOT NULL)');
  t.equal(show(expr("'a' || 'b'")), "('a' || 'b')");
});

t.test('chained comparisons become a conjunction', async (t) => {
  t.equal(show(expr('1 < x <= 3 < y')), '(((1 < x) AND (x <= 3)) AND (3 < y))');
});

t.test('literals: integers are bigint, floats are number, strings unescape', async (t) => {
  t.same(expr('42'), { kind: 'Literal', value: 42n, pos: { offset: 7, line: 1, column: 8 } });
  t.equal((expr('0x1F') as { value: unknown }).value, 31n);
  t.equal((expr('0o17') as { value: unknown }).value, 15n);
  t.equal((expr('1e10') as { value: unknown }).value, 1e10);
  t.equal((expr('.5') as { value: unknown }).value, 0.5);
  t.equal((expr('3.25') as { value: unknown }).value, 3.25);
  t.equal((expr('-9223372036854775808') as { value: unknown }).value, -9223372036854775808n);
  t.equal((expr("'a\\nb\\t\\'\\\"\\\\\\u00e9'") as { value: unknown }).value, 'a\nb\t\'"\\é');
  t.equal((expr('"double"') as { value: unknown }).value, 'double');
  t.equal((expr('true') as { value: unknown }).value, true);
  t.equal((expr('NULL') as { value: unknown }).value, null);
});

t.test('bad literals raise the TCK details', async (t) => {
  syntaxFailure(t, 'RETURN 9223372036854775808', 'IntegerOverflow', 1, 8);
  syntaxFailure(t, 'RETURN -9223372036854775809', 'IntegerOverflow');
  syntaxFailure(t, 'RETURN 0x8000000000000000', 'IntegerOverflow');
  syntaxFailure(t, 'RETURN 0x', 'InvalidNumberLiteral');
  syntaxFailure(t, 'RETURN 12abc', 'InvalidNumberLiteral');
  syntaxFailure(t, 'RETURN {1B2c3e67: 1}', 'UnexpectedSyntax');
  syntaxFailure(t, "RETURN '\\uH'", 'InvalidUnicodeLiteral');
  syntaxFailure(t, 'RETURN 42 \u2014 41', 'InvalidUnicodeCharacter', 1, 11);
  syntaxFailure(t, 'RETURN 1.34E999', 'FloatingPointOverflow');
});

t.test('syntax errors name what was expected and where', async (t) => {
  try {
    parse('MATCH (n\nRETURN n');
    t.fail('should throw');
  } catch (err) {
    const g = err as GeodeError;
    t.equal(g.code, 'SYNTAX_ERROR');
    t.equal(g.detail, 'UnexpectedSyntax');
    t.match(g.message, /expected '\)' but found 'RETURN'/);
    t.same(g.position, { offset: 9, line: 2, column: 1 });
  }
  syntaxFailure(t, 'RETURN [, ]', 'UnexpectedSyntax', 1, 9);
  syntaxFailure(t, 'MATCH (n) RETURN n;;', 'UnexpectedSyntax');
  syntaxFailure(t, '', 'UnexpectedSyntax');
});

t.test('comments, case-insensitive keywords, backticks, parameters, trailing semicolon', async (t) => {
  const text = 'match (`my var`:`A B`) // comment\n /* block\n comment */ where `my var`.x = $p AND $0 = 1 return `my var`;';
  const cs = clauses(text);
  const m = cs[0];
  t.equal(m?.kind, 'Match');
  if (m?.kind !== 'Match') return;
  t.equal(m.pattern[0]?.start.variable, 'my var');
  t.same(m.pattern[0]?.start.labels, ['A B']);
  t.equal(show(m.where as Expr), "((my var.x = $p) AND ($0 = 1))");
  const offset = text.indexOf('`my var`.x');
  t.same(m.where?.pos, { offset, line: 3, column: offset - text.lastIndexOf('\n', offset) });
});

t.test('patterns: directions, types, variable length, properties, named paths', async (t) => {
  const m = clauses('MATCH p = (a:A:B {x: 1})-[r:T|U*1..3]->(b)<-[:V|:W]-(c)-[*]-(d)-[*2]->(e)-[*..3]->(f)-[*2..]->(g) RETURN p')[0];
  if (m?.kind !== 'Match') return t.fail('not a match');
  const part = m.pattern[0];
  if (!part) return t.fail('no part');
  t.equal(part.variable, 'p');
  t.same(part.start.labels, ['A', 'B']);
  t.equal(part.start.properties?.kind, 'Map');
  const rels = part.chain.map((s) => s.rel);
  t.same(rels.map((r) => r.direction), ['out', 'in', 'both', 'out', 'out', 'out']);
  t.same(rels[0]?.types, ['T', 'U']);
  t.same(rels[1]?.types, ['V', 'W']);
  t.same(rels.map((r) => r.length), [
    { min: 1, max: 3 },
    null,
    { min: null, max: null },
    { min: 2, max: 2 },
    { min: null, max: 3 },
    { min: 2, max: null },
  ]);
  t.equal(rels[0]?.variable, 'r');
  const sp = clauses('MATCH p = shortestPath((a)-[*]-(b)), q = allShortestPaths((a)-->(b)) RETURN p, q')[0];
  if (sp?.kind !== 'Match') return t.fail('not a match');
  t.same(sp.pattern.map((x) => x.shortest), ['shortest', 'all']);
  syntaxFailure(t, 'MATCH (a)-[:T..]->(b) RETURN a', 'InvalidRelationshipPattern');
});

t.test('clauses: OPTIONAL MATCH, UNWIND, WITH, MERGE, SET, REMOVE, DELETE, CALL', async (t) => {
  const cs = clauses(
    'OPTIONAL MATCH (a) WITH DISTINCT a, 1 AS one ORDER BY a.x DESC, one SKIP 1 LIMIT 2 WHERE one = 1 ' +
      'UNWIND [1, 2] AS x MERGE (b:B {id: x}) ON CREATE SET b.new = true ON MATCH SET b.seen = b.seen + 1, b += {k: 1} ' +
      'SET b = {a: 1}, b:C:D, (b).z = 2 REMOVE b.x, b:C DETACH DELETE a WITH b CALL db.proc(1, b) YIELD out AS o, other WHERE o > 1 RETURN *',
  );
  t.same(
    cs.map((c) => c.kind),
    ['Match', 'With', 'Unwind', 'Merge', 'Set', 'Remove', 'Delete', 'With', 'Call', 'Return'],
  );
  const w = cs[1] as WithClause;
  t.equal(w.projection.distinct, true);
  t.same(w.projection.orderBy.map((s) => s.descending), [true, false]);
  t.ok(w.projection.skip && w.projection.limit && w.where);
  const merge = cs[3];
  if (merge?.kind === 'Merge') {
    t.equal(merge.onCreate.length, 1);
    t.same(merge.onMatch.map((i) => i.kind), ['SetProperty', 'MergeProperties']);
  }
  const set = cs[4];
  if (set?.kind === 'Set') t.same(set.items.map((i) => i.kind), ['SetAllProperties', 'SetLabels', 'SetProperty']);
  const rem = cs[5];
  if (rem?.kind === 'Remove') t.same(rem.items.map((i) => i.kind), ['RemoveProperty', 'RemoveLabels']);
  const del = cs[6];
  if (del?.kind === 'Delete') t.equal(del.detach, true);
  const call = cs[8];
  if (call?.kind === 'Call') {
    t.equal(call.procedure, 'db.proc');
    t.equal(call.args?.length, 2);
    t.same(call.yield, [
      { name: 'out', alias: 'o' },
      { name: 'other', alias: null },
    ]);
    t.ok(call.where);
  }
  const bare = clauses('CALL db.labels')[0];
  if (bare?.kind === 'Call') {
    t.equal(bare.args, null);
    t.equal(bare.yield, null);
  }
  t.equal(returned('MATCH (n) RETURN *').projection.star, true);
});

t.test('projection item text is the exact source text', async (t) => {
  const items = returned('MATCH (n) RETURN count(*), n.name, n.a  +  1, count(DISTINCT n) AS c').projection.items;
  t.same(items.map((i) => i.text), ['count(*)', 'n.name', 'n.a  +  1', 'count(DISTINCT n)']);
  t.same(items.map((i) => i.alias), [null, null, null, 'c']);
  const cd = items[3]?.expr;
  t.ok(cd?.kind === 'FunctionCall' && cd.distinct && cd.lowerName === 'count');
});

t.test('expressions: CASE, comprehensions, quantifiers, reduce, map projection, functions, subqueries', async (t) => {
  t.equal(expr('CASE 1 WHEN 1 THEN 2 ELSE 3 END').kind, 'Case');
  const searched = expr('CASE WHEN true THEN 1 END');
  t.ok(searched.kind === 'Case' && searched.test === null && searched.otherwise === null);
  const lc = expr('[x IN [1, 2] WHERE x > 1 | x * 2]');
  t.ok(lc.kind === 'ListComprehension' && lc.where && lc.map);
  const q = expr('none(x IN [1] WHERE x > 1)');
  t.ok(q.kind === 'Quantifier' && q.quantifier === 'none');
  const r = expr('reduce(acc = 0, x IN [1, 2] | acc + x)');
  t.ok(r.kind === 'Reduce' && r.accumulator === 'acc' && r.variable === 'x');
  const mp = returned('MATCH (n) WITH n, 1 AS c RETURN n{.a, b: 1, c, .*}').projection.items[0]?.expr;
  t.same(mp?.kind === 'MapProjection' ? mp.items.map((i) => i.kind) : null, ['property', 'literal', 'variable', 'allProperties']);
  const ns = expr("date.truncate('day', date())");
  t.ok(ns.kind === 'FunctionCall' && ns.name === 'date.truncate' && ns.lowerName === 'date.truncate');
  t.equal(expr('count(*)').kind, 'CountStar');
  const pc = returned('MATCH (a) RETURN [p = (a)-->(b) WHERE b.x > 1 | b.name]').projection.items[0]?.expr;
  t.ok(pc?.kind === 'PatternComprehension' && pc.pattern.variable === 'p' && pc.where);
  const where = clauses('MATCH (a), (b) WHERE (a)-[:T]->(b) AND NOT (a)<--(b) RETURN a')[0];
  t.ok(where?.kind === 'Match' && where.where?.kind === 'Binary' && where.where.left.kind === 'PatternPredicate');
  const ex = clauses('MATCH (n) WHERE EXISTS { MATCH (n)-->(m) WHERE m.x = 1 RETURN m } RETURN n')[0];
  t.ok(ex?.kind === 'Match' && ex.where?.kind === 'ExistsSubquery' && ex.where.query !== null);
  const ex2 = clauses('MATCH (n) WHERE exists { (n)-->(m) WHERE m.x = 1 } RETURN n')[0];
  t.ok(ex2?.kind === 'Match' && ex2.where?.kind === 'ExistsSubquery' && ex2.where.pattern?.length === 1 && ex2.where.where);
  t.equal(expr('(1 + 2)').kind, 'Binary');
});

t.test('UNION and UNION ALL', async (t) => {
  const q = query('RETURN 1 AS a UNION RETURN 2 AS a');
  t.equal(q.parts.length, 2);
  t.same(q.unionAll, [false]);
  t.same(query('RETURN 1 AS a UNION ALL RETURN 2 AS a UNION ALL RETURN 3 AS a').unionAll, [true, true]);
});

t.test('GQL spellings normalize to the openCypher forms', async (t) => {
  const ins = clauses('INSERT (a:Person&Admin)-[:KNOWS]->(b IS Person)')[0];
  if (ins?.kind !== 'Create') return t.fail('INSERT is a Create');
  t.same(ins.pattern[0]?.start.labels, ['Person', 'Admin']);
  t.same(ins.pattern[0]?.chain[0]?.node.labels, ['Person']);
  const cs = clauses('MATCH (n) FILTER n.x > 1 LET y = n.x * 2, z = 1 FOR w IN [1] RETURN n.a || y AS s ORDER BY s NULLS FIRST OFFSET 1');
  t.same(cs.map((c) => c.kind), ['Match', 'With', 'With', 'Unwind', 'Return']);
  const filter = cs[1] as WithClause;
  t.ok(filter.projection.star && filter.projection.items.length === 0 && filter.where);
  const let_ = cs[2] as WithClause;
  t.ok(let_.projection.star);
  t.same(let_.projection.items.map((i) => [i.alias, i.text]), [['y', 'n.x * 2'], ['z', '1']]);
  const unwind = cs[3];
  t.ok(unwind?.kind === 'Unwind' && unwind.variable === 'w');
  const ret = cs[4] as ReturnClause;
  t.equal(ret.projection.orderBy[0]?.nulls, 'first');
  t.ok(ret.projection.skip);
  const del = clauses('MATCH (n) NODETACH DELETE n')[1];
  t.ok(del?.kind === 'Delete' && !del.detach);
});

t.test('schema, session, cluster and system statements', async (t) => {
  const expectKind = (s: Statement, kind: Statement['kind']): void => {
    t.equal(s.kind, kind);
  };
  t.match(parse('CREATE INDEX idx IF NOT EXISTS ON :User(email, name) WITH MODE online'), {
    kind: 'CreateIndex', name: 'idx', label: 'User', properties: ['email', 'name'], ifNotExists: true, online: true,
  });
  t.match(parse('create index for (n:User) on (n.email)'), { kind: 'CreateIndex', name: null, label: 'User', properties: ['email'], online: false });
  t.match(parse('DROP INDEX ON :User(email)'), { kind: 'DropIndex', name: null, label: 'User', properties: ['email'] });
  t.match(parse('DROP INDEX idx IF EXISTS'), { kind: 'DropIndex', name: 'idx', label: null, ifExists: true });
  t.match(parse('ALTER GRAPH ADD PROPERTY User.verified boolean DEFAULT false WITH MIGRATION STRATEGY online'), {
    kind: 'AlterGraphAddProperty', label: 'User', property: 'verified', valueType: 'BOOLEAN', online: true,
  });
  t.match(parse('SET SESSION READ PREFERENCE least_connections'), { kind: 'SessionSet', setting: 'read_preference', value: 'least_connections' });
  t.match(parse('SET SESSION MAX REPLICATION LAG 100 ms'), { kind: 'SessionSet', setting: 'max_replication_lag', value: 100 });
  t.match(parse('SET SESSION CONSISTENCY Linearizable'), { kind: 'SessionSet', setting: 'consistency', value: 'linearizable' });
  t.match(parse('SET CLUSTER REPLICATION MODE synchronous'), { kind: 'ClusterSet', setting: 'replication_mode', value: 'synchronous' });
  t.match(parse('SET CLUSTER QUORUM SIZE 2'), { kind: 'ClusterSet', setting: 'quorum_size', value: 2 });
  t.match(parse('SET CLUSTER SYNC REPLICAS 1;'), { kind: 'ClusterSet', setting: 'sync_replicas', value: 1 });
  const sel = parse('SELECT node_id, MAX(replication_lag_ms) as max_lag FROM system.replication_status WHERE lag > 1');
  t.match(sel, { kind: 'SystemSelect', view: 'replication_status' });
  if (sel.kind === 'SystemSelect') t.same(sel.items?.map((i) => [i.text, i.alias]), [['node_id', null], ['MAX(replication_lag_ms)', 'max_lag']]);
  expectKind(parse('SELECT * FROM SYSTEM.CLUSTER_NODES'), 'SystemSelect');
  syntaxFailure(t, 'SET SESSION CONSISTENCY sometimes', 'UnexpectedSyntax', 1, 25);
  syntaxFailure(t, 'SELECT * FROM system.nope', 'UnexpectedSyntax');
  syntaxFailure(t, 'SET CLUSTER QUORUM SIZE many', 'UnexpectedSyntax');
});

t.test('every node carries a source position', async (t) => {
  const s = parse('MATCH (a)-[r]->(b)\nWHERE a.x IN [1, 2]\nRETURN a.x + 1 AS y');
  let count = 0;
  const visit = (v: unknown, path: string): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${path}[${i}]`));
    const o = v as Record<string, unknown>;
    if ('kind' in o || 'variable' in o && 'labels' in o) {
      count++;
      t.ok(o['pos'], `${path} has pos`);
    }
    for (const [k, x] of Object.entries(o)) if (k !== 'pos') visit(x, `${path}.${k}`);
  };
  visit(s, 'stmt');
  t.ok(count > 10);
});
