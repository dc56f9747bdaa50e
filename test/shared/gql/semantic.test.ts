import t from 'tap';
import type { Test } from 'tap';
import { collectParameters, parse } from '../../../shared/gql/index.js';
import { GeodeError } from '../../../shared/protocol/errors.js';

/** Asserts that `query` fails at compile time with `detail` (and `code`, SYNTAX_ERROR by default). */
function rejects(t: Test, query: string, detail: string, code = 'SYNTAX_ERROR'): void {
  try {
    parse(query);
    t.fail(`expected ${detail}: ${query}`);
  } catch (err) {
    if (!(err instanceof GeodeError)) throw err;
    t.equal(err.detail, detail, `${query} -> ${err.message}`);
    t.equal(err.code, code, 'code');
    t.equal(err.phase, 'compile', 'phase');
  }
}

t.test('undefined variables are reported with their position', async (t) => {
  rejects(t, 'MATCH () RETURN foo', 'UndefinedVariable');
  rejects(t, 'MATCH (a) SET a.name = missing RETURN a', 'UndefinedVariable');
  rejects(t, 'MATCH (a) DELETE x', 'UndefinedVariable');
  rejects(t, 'MATCH (n) WHERE (n)-[r]->(a) RETURN n', 'UndefinedVariable');
  rejects(t, 'MATCH (a), (b) WITH a RETURN b', 'UndefinedVariable');
  try {
    parse('MATCH (n)\nRETURN n, m');
  } catch (err) {
    t.same((err as GeodeError).position, { offset: 20, line: 2, column: 11 });
  }
});

t.test('scoping accepts what openCypher accepts', async (t) => {
  for (const q of [
    'MATCH (a) WITH a.x AS x WHERE a.y = 1 RETURN x',
    'MATCH (a) RETURN a.x AS x ORDER BY a.y',
    'MATCH (a) RETURN a.name, count(*) ORDER BY a.name',
    'MATCH (a) WITH DISTINCT a.name AS name WHERE a.name = "x" RETURN name',
    'MATCH ()-[r]->() MATCH ()-[r]->() RETURN r',
    'MATCH (a) CREATE (a)-[:T]->(b) RETURN b',
    'UNWIND [1, 2] AS x WITH x WHERE x > 1 RETURN [y IN range(1, x) | y * x] AS ys',
    'MATCH (n) RETURN n{.name, total: reduce(s = 0, x IN [1] | s + x)}',
    'MATCH (n) WHERE EXISTS { MATCH (n)-->(m) RETURN m } RETURN n',
    'MATCH (me)--(you) RETURN me.age, me.age + count(you) AS c',
    'MERGE (a)-[r:KNOWS]-(b) RETURN r',
    'MATCH (n) WITH n SKIP toInteger(rand() * 3) RETURN n',
  ]) {
    t.doesNotThrow(() => parse(q), q);
  }
});

t.test('binding conflicts', async (t) => {
  rejects(t, 'MATCH ()-[r]-() MATCH (r) RETURN r', 'VariableTypeConflict');
  rejects(t, 'MATCH (r) MATCH ()-[r]-() RETURN r', 'VariableTypeConflict');
  rejects(t, 'WITH 1 AS n MATCH (n) RETURN n', 'VariableTypeConflict');
  rejects(t, 'MATCH (a) CREATE (a)', 'VariableAlreadyBound');
  rejects(t, 'CREATE (n:Foo)-[:T]->(), (n:Bar)-[:T]->()', 'VariableAlreadyBound');
  rejects(t, 'MATCH ()-[r]->() CREATE ()-[r]->()', 'VariableAlreadyBound');
  rejects(t, 'MATCH (p) MATCH p = ()-->() RETURN p', 'VariableAlreadyBound');
  rejects(t, 'MATCH (a)-[r]->()-[r]->(a) RETURN r', 'RelationshipUniquenessViolation');
});

t.test('CREATE and MERGE relationship shape', async (t) => {
  rejects(t, 'CREATE ()-->()', 'NoSingleRelationshipType');
  rejects(t, 'CREATE ()-[:A|B]->()', 'NoSingleRelationshipType');
  rejects(t, 'CREATE (a)-[:T]-(b)', 'RequiresDirectedRelationship');
  rejects(t, 'CREATE ()-[:T*2]->()', 'CreatingVarLength');
  rejects(t, 'MERGE (n $param) RETURN n', 'InvalidParameterUse');
  t.doesNotThrow(() => parse('CREATE (n $props) RETURN n'));
});

t.test('aggregation rules', async (t) => {
  rejects(t, 'MATCH (a) WHERE count(a) > 10 RETURN a', 'InvalidAggregation');
  rejects(t, 'RETURN count(count(*))', 'NestedAggregation');
  rejects(t, 'RETURN count(rand())', 'NonConstantExpression');
  rejects(t, 'MATCH (me)--(you) RETURN me.age + count(you.age)', 'AmbiguousAggregationExpression');
  rejects(t, 'MATCH (n) RETURN n.a ORDER BY max(n.b)', 'InvalidAggregation');
  rejects(t, 'MATCH (a) RETURN DISTINCT a.name ORDER BY a.age', 'UndefinedVariable');
  rejects(t, 'MATCH (n) RETURN [x IN [1] | count(*)]', 'InvalidAggregation');
});

t.test('projection rules', async (t) => {
  rejects(t, 'RETURN 1 AS a, 2 AS a', 'ColumnNameConflict');
  rejects(t, 'MATCH (a) WITH a, count(*) RETURN a', 'NoExpressionAlias');
  rejects(t, 'MATCH () RETURN *', 'NoVariablesInScope');
  rejects(t, 'RETURN 1 AS a UNION RETURN 2 AS b', 'DifferentColumnsInUnion');
  rejects(t, 'RETURN 1 AS a UNION RETURN 2 AS a UNION ALL RETURN 3 AS a', 'InvalidClauseComposition');
  rejects(t, 'MATCH (n) RETURN n SKIP n.x', 'NonConstantExpression');
  rejects(t, 'MATCH (n) RETURN n LIMIT -1', 'NegativeIntegerArgument');
  rejects(t, 'MATCH (n) RETURN n LIMIT 1.5', 'InvalidArgumentType');
  rejects(t, 'MATCH (n)', 'InvalidClauseComposition');
});

t.test('literal type errors', async (t) => {
  rejects(t, 'RETURN 123 AND true', 'InvalidArgumentType');
  rejects(t, "RETURN NOT 'foo'", 'InvalidArgumentType');
  rejects(t, 'RETURN 1 IN 123', 'InvalidArgumentType');
  rejects(t, 'MATCH () DELETE 1 + 1', 'InvalidArgumentType');
  rejects(t, 'MATCH (n) DELETE n:Person', 'InvalidDelete');
  rejects(t, 'WITH 123 AS x RETURN x.num', 'InvalidArgumentType', 'TYPE_ERROR');
  rejects(t, 'MATCH p = (a) RETURN labels(p)', 'InvalidArgumentType');
  rejects(t, "RETURN any(x IN ['a'] WHERE x % 2 = 0)", 'InvalidArgumentType');
  rejects(t, 'MATCH (a) RETURN foo(a)', 'UnknownFunction');
  t.doesNotThrow(() => parse('RETURN null AND true, $p OR false, date.truncate("day", date()) AS d'));
});

t.test('patterns as values are only allowed as predicates', async (t) => {
  rejects(t, 'MATCH (n) RETURN (n)-[]->()', 'UnexpectedSyntax');
  t.doesNotThrow(() => parse('MATCH (n) WHERE NOT (n)-->() AND exists((n)<--()) RETURN n'));
});

t.test('collectParameters finds parameters everywhere', async (t) => {
  const params = collectParameters(parse('MATCH (n {id: $id}) WHERE n.x IN $list SET n.y = $0 RETURN n LIMIT $limit'));
  t.same([...params].sort(), ['0', 'id', 'limit', 'list']);
  t.same([...collectParameters(parse('RETURN 1 AS x'))], []);
});
