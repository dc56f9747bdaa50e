import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphEngine } from '../../../storage-node/graph/engine.js';
import { NodeValue, RelationshipValue } from '../../../shared/gql/values.js';
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import { GeodeError } from '../../../shared/protocol/errors.js';

const ctx = { now: 1_700_000_000_000, seed: 'test-seed' };

function open(): GraphEngine {
  return GraphEngine.open(':memory:');
}

function rows(engine: GraphEngine, query: string, params: ValueMap = {}): Value[][] {
  return engine.execute(query, params, ctx).rows;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof GeodeError ? err.code : `non-Geode: ${String(err)}`;
  }
  return undefined;
}

t.test('properties round-trip with INTEGER and FLOAT kept apart', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute(
    "CREATE (:P {i: 1, f: 1.0, neg: -0.5, big: 9007199254740993, s: 'x', b: true, l: [1, 2.0, 'a'], nested: [[1], [2.5]]})",
    {},
    ctx,
  );
  const [[node]] = rows(engine, 'MATCH (n:P) RETURN n') as [[NodeValue]];
  t.ok(node instanceof NodeValue);
  t.same(node.labels, ['P']);
  t.equal(node.properties['i'], 1n);
  t.equal(node.properties['f'], 1.0);
  t.equal(typeof node.properties['f'], 'number');
  t.equal(node.properties['neg'], -0.5);
  t.equal(node.properties['big'], 9007199254740993n);
  t.equal(node.properties['s'], 'x');
  t.equal(node.properties['b'], true);
  t.same(node.properties['l'], [1n, 2.0, 'a']);
  t.equal(typeof (node.properties['l'] as Value[])[1], 'number');
  t.same(node.properties['nested'], [[1n], [2.5]]);
});

t.test('storing a map as a property is a TYPE_ERROR', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  t.equal(codeOf(() => engine.execute('CREATE (:P {m: {a: 1}})', {}, ctx)), 'TYPE_ERROR');
  t.same(rows(engine, 'MATCH (n) RETURN count(n)'), [[0n]]);
});

t.test('CRUD: create, match, set, remove, delete', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const created = engine.execute("CREATE (a:A {name: 'a'})-[:KNOWS {since: 2020}]->(b:B {name: 'b'}) RETURN a, b", {}, ctx);
  t.equal(created.stats.nodesCreated, 2);
  t.equal(created.stats.relationshipsCreated, 1);
  t.equal(created.kind, 'write');
  t.same(rows(engine, 'MATCH (a:A)-[r:KNOWS]->(b) RETURN a.name, r.since, b.name'), [['a', 2020n, 'b']]);
  t.same(rows(engine, 'MATCH (b)<-[:KNOWS]-(a) RETURN b.name'), [['b']]);
  engine.execute("MATCH (a:A) SET a.age = 3, a:Extra REMOVE a.name", {}, ctx);
  const [[a]] = rows(engine, 'MATCH (a:A) RETURN a') as [[NodeValue]];
  t.same(a.properties, { age: 3n });
  t.same([...a.labels].sort(), ['A', 'Extra']);
  engine.execute('MATCH (a:A) SET a.age = null', {}, ctx);
  t.same(rows(engine, 'MATCH (a:A) RETURN keys(a)'), [[[]]]);
  const deleted = engine.execute('MATCH (n) DETACH DELETE n', {}, ctx);
  t.equal(deleted.stats.nodesDeleted, 2);
  t.equal(deleted.stats.relationshipsDeleted, 1);
  t.same(rows(engine, 'MATCH (n) RETURN count(*)'), [[0n]]);
});

t.test('a clause applies to every row before the next clause runs', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute('CREATE (), (), ()', {}, ctx);
  const result = engine.execute('MATCH (n) CREATE (m:New) RETURN count(*) AS c', {}, ctx);
  t.same(result.rows, [[3n]]);
  t.same(rows(engine, 'MATCH (m:New) RETURN count(m)'), [[3n]]);
  // LIMIT 0 after a write still writes.
  engine.execute('MATCH (m:New) SET m.x = 1 RETURN m LIMIT 0', {}, ctx);
  t.same(rows(engine, 'MATCH (m:New) WHERE m.x = 1 RETURN count(m)'), [[3n]]);
});

t.test('DELETE of a connected node without DETACH fails and changes nothing', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute('CREATE (:A)-[:R]->(:B)', {}, ctx);
  t.equal(codeOf(() => engine.execute('MATCH (a:A) DELETE a', {}, ctx)), 'CONSTRAINT_VIOLATION');
  t.same(rows(engine, 'MATCH (n) RETURN count(n)'), [[2n]]);
  // Deleting the relationship in the same statement makes it legal.
  engine.execute('MATCH (a:A)-[r]->() DELETE r, a', {}, ctx);
  t.same(rows(engine, 'MATCH (n) RETURN labels(n)'), [[['B']]]);
});

t.test('an error mid-statement rolls back every write of the statement', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute('CREATE (:Keep {v: 1})', {}, ctx);
  const before = engine.observe();
  t.equal(codeOf(() => engine.execute("UNWIND [1, 2, 0] AS x CREATE (:T {v: 10 / x}) SET x.bad = 1", {}, ctx)) !== undefined, true);
  t.equal(codeOf(() => engine.execute('UNWIND [1, 2, 3] AS x CREATE (:T {v: x}) WITH x WHERE x = 3 CREATE (:T {m: {a: x}})', {}, ctx)), 'TYPE_ERROR');
  t.same(engine.observe(), before);
  // Ids allocated by the failed statement are not burnt: the next node gets the next id.
  const [[node]] = rows(engine, 'CREATE (n:After) RETURN n') as [[NodeValue]];
  t.equal(node.id, 2);
});

t.test('a deadline in the past fails with TIMEOUT and rolls back', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const code = codeOf(() => engine.execute('UNWIND range(1, 5000) AS i CREATE (:T {i: i})', {}, ctx, { deadline: Date.now() - 1 }));
  t.equal(code, 'TIMEOUT');
  t.same(rows(engine, 'MATCH (n) RETURN count(n)'), [[0n]]);
});

t.test('the work budget stops runaway statements deterministically', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  t.equal(codeOf(() => engine.execute('UNWIND range(1, 1000) AS i CREATE (:T)', {}, ctx, { workBudget: 100 })), 'WORK_LIMIT');
  t.same(rows(engine, 'MATCH (n) RETURN count(n)'), [[0n]]);
  t.same(engine.execute('UNWIND range(1, 10) AS i CREATE (:T)', {}, ctx, { workBudget: 100 }).stats.nodesCreated, 10);
});

t.test('readOnly refuses writes; missing parameters are reported before running', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  t.equal(codeOf(() => engine.execute('CREATE ()', {}, ctx, { readOnly: true })), 'UNSUPPORTED');
  t.same(engine.execute('RETURN 1 AS one', {}, ctx, { readOnly: true }).rows, [[1n]]);
  t.equal(codeOf(() => engine.execute('CREATE (:T {v: $v})', {}, ctx)), 'PARAMETER_MISSING');
  t.same(rows(engine, 'MATCH (n) RETURN count(n)'), [[0n]]);
  t.equal(codeOf(() => engine.execute('SET SESSION CONSISTENCY linearizable', {}, ctx)), 'UNSUPPORTED');
  t.equal(codeOf(() => engine.execute('CALL nope.nothing()', {}, ctx)), 'PROCEDURE_ERROR');
});

t.test('same context and same state give the same ids, UUIDs and random numbers', async (t) => {
  const query = 'UNWIND range(1, 3) AS i CREATE (n:T {u: randomUUID(), r: rand()}) RETURN id(n), n.u, n.r';
  const a = open();
  const b = open();
  t.teardown(() => {
    a.close();
    b.close();
  });
  const first = a.execute(query, {}, ctx).rows;
  const second = b.execute(query, {}, ctx).rows;
  t.same(first, second);
  t.match(String(first[0]?.[1]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(first[0]?.[1], first[1]?.[1], 'successive UUIDs differ');
  const other = open();
  t.teardown(() => other.close());
  t.not(other.execute(query, {}, { ...ctx, seed: 'another' }).rows[0]?.[1], first[0]?.[1]);
});

t.test('CREATE INDEX makes the planner seek through the index', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute("UNWIND range(1, 50) AS i CREATE (:User {id: i, email: 'u' + toString(i)})", {}, ctx);
  const query = 'MATCH (u:User {email: $e}) RETURN u.id';
  t.same(engine.explain(query).slice(0, 1), ['NodeByLabelScan']);
  const created = engine.execute('CREATE INDEX ON :User(email)', {}, ctx);
  t.equal(created.stats.indexesAdded, 1);
  t.equal(created.kind, 'schema');
  t.same(engine.explain(query).slice(0, 1), ['NodeByIndexSeek']);
  t.same(engine.explain("MATCH (u:User) WHERE u.email = 'u7' RETURN u").slice(0, 1), ['NodeByIndexSeek']);
  t.same(rows(engine, query, { e: 'u7' }), [[7n]]);
  // The index follows writes.
  engine.execute("MATCH (u:User {id: 7}) SET u.email = 'seven'", {}, ctx);
  t.same(rows(engine, query, { e: 'u7' }), []);
  t.same(rows(engine, query, { e: 'seven' }), [[7n]]);
  engine.execute("CREATE (:User {id: 99, email: 'new'})", {}, ctx);
  t.same(rows(engine, query, { e: 'new' }), [[99n]]);
  engine.execute('MATCH (u:User {id: 99}) REMOVE u:User', {}, ctx);
  t.same(rows(engine, query, { e: 'new' }), []);
  engine.execute('DROP INDEX ON :User(email)', {}, ctx);
  t.same(engine.explain(query).slice(0, 1), ['NodeByLabelScan']);
  t.same(rows(engine, query, { e: 'seven' }), [[7n]]);
});

t.test('one-hop expansion and variable-length paths', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute("CREATE (a:U {id: 1})-[:FOLLOWS]->(b:U {id: 2})-[:FOLLOWS]->(c:U {id: 3}), (a)-[:LIKES]->(c)", {}, ctx);
  t.same(rows(engine, 'MATCH (u:U {id: 1})-[:FOLLOWS]->(f) RETURN f.id'), [[2n]]);
  t.same(rows(engine, 'MATCH (u:U {id: 1})-[:FOLLOWS*1..2]->(f) RETURN f.id ORDER BY f.id'), [[2n], [3n]]);
  t.same(rows(engine, 'MATCH (u:U {id: 3})<-[*]-(f) RETURN count(*)'), [[3n]]);
  const [[path]] = rows(engine, 'MATCH p = (:U {id: 1})-[:FOLLOWS*2]->() RETURN length(p)') as [[Value]];
  t.equal(path, 2n);
  t.same(rows(engine, 'MATCH (a)-[r1]->(b)-[r2]->(c) RETURN count(*)'), [[1n]], 'no relationship repeats in one pattern');
  t.same(rows(engine, 'OPTIONAL MATCH (u:U {id: 3})-[:FOLLOWS]->(x) RETURN x'), [[null]]);
});

t.test('MERGE matches or creates the whole pattern', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const first = engine.execute("MERGE (n:City {name: 'Oslo'}) ON CREATE SET n.created = true ON MATCH SET n.matched = true RETURN n", {}, ctx);
  t.equal(first.stats.nodesCreated, 1);
  const second = engine.execute("MERGE (n:City {name: 'Oslo'}) ON CREATE SET n.created = false ON MATCH SET n.matched = true RETURN n", {}, ctx);
  t.equal(second.stats.nodesCreated, 0);
  const [[city]] = second.rows as [[NodeValue]];
  t.same(city.properties, { name: 'Oslo', created: true, matched: true });
  engine.execute("MATCH (c:City) MERGE (c)-[:IN]->(:Country {name: 'Norway'})", {}, ctx);
  engine.execute("MATCH (c:City) MERGE (c)-[:IN]->(:Country {name: 'Norway'})", {}, ctx);
  t.same(rows(engine, 'MATCH (:City)-[r:IN]->(:Country) RETURN count(r)'), [[1n]]);
  // Rows of one MERGE see what earlier rows created.
  engine.execute("UNWIND ['x', 'x', 'y'] AS k MERGE (:Key {k: k})", {}, ctx);
  t.same(rows(engine, 'MATCH (k:Key) RETURN k.k ORDER BY k.k'), [['x'], ['y']]);
});

t.test('returned entities are snapshots the caller may keep', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const [[node]] = rows(engine, 'CREATE (n:S {v: 1}) RETURN n') as [[NodeValue]];
  engine.execute('MATCH (n:S) SET n.v = 2, n:More', {}, ctx);
  t.same(node.properties, { v: 1n });
  t.same(node.labels, ['S']);
  const [[rel]] = rows(engine, 'CREATE ()-[r:R {w: 1}]->() RETURN r') as [[RelationshipValue]];
  t.ok(rel instanceof RelationshipValue);
  t.equal(rel.type, 'R');
});

t.test('online index build happens in background steps while reads continue', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute('UNWIND range(1, 250) AS i CREATE (:Item {sku: i})', {}, ctx);
  engine.execute('CREATE INDEX ON :Item(sku) WITH MODE online', {}, ctx);
  const query = 'MATCH (i:Item {sku: 200}) RETURN i.sku';
  t.same(engine.explain(query).slice(0, 1), ['NodeByLabelScan'], 'not used before it is complete');
  let steps = 0;
  while (engine.backgroundStep(100)) {
    steps++;
    t.same(rows(engine, query), [[200n]], 'reads keep working mid-build');
    engine.execute('CREATE (:Item {sku: 1000 + $n})', { n: BigInt(steps) }, ctx);
  }
  t.ok(steps >= 2, 'took several bounded steps');
  t.same(engine.explain(query).slice(0, 1), ['NodeByIndexSeek']);
  t.same(rows(engine, query), [[200n]]);
  t.same(rows(engine, 'MATCH (i:Item {sku: 1001}) RETURN i.sku'), [[1001n]], 'writes during the build are indexed');
  t.equal(engine.backgroundStep(100), false);
});

t.test('ALTER GRAPH ADD PROPERTY online: defaults visible at once, backfilled in steps', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute("UNWIND range(1, 120) AS i CREATE (:Acct {n: i})", {}, ctx);
  engine.execute("CREATE (:Acct {n: 0, tier: 'gold'})", {}, ctx);
  t.equal(
    codeOf(() => engine.execute("ALTER GRAPH ADD PROPERTY Acct.tier STRING DEFAULT 5", {}, ctx)),
    'TYPE_ERROR',
    'default must match the type',
  );
  engine.execute("ALTER GRAPH ADD PROPERTY Acct.tier STRING DEFAULT 'basic' WITH MIGRATION STRATEGY online", {}, ctx);
  const count = "MATCH (a:Acct) RETURN a.tier AS tier, count(*) AS c ORDER BY tier";
  t.same(rows(engine, count), [['basic', 120n], ['gold', 1n]], 'visible before any backfill');
  let steps = 0;
  while (engine.backgroundStep(50)) {
    steps++;
    t.same(rows(engine, count), [['basic', 120n], ['gold', 1n]]);
  }
  t.ok(steps >= 2);
  t.same(rows(engine, count), [['basic', 120n], ['gold', 1n]]);
  // Physically stored now: the stored JSON has it.
  const stored = engine.database.prepare("SELECT count(*) FROM nodes WHERE json_extract(props, '$.tier') = 'basic'").pluck().get();
  t.equal(stored, 120n);
});

t.test('cluster settings persist; system views answer SELECT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geode-engine-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'graph.db');
  const engine = GraphEngine.open(file);
  t.equal(engine.execute('SET CLUSTER REPLICATION MODE semi_synchronous', {}, ctx).kind, 'cluster');
  engine.execute('SET CLUSTER QUORUM SIZE 2', {}, ctx);
  engine.execute('CREATE (:Durable)', {}, ctx);
  engine.close();
  const reopened = GraphEngine.open(file);
  t.teardown(() => reopened.close());
  t.equal(reopened.getSetting('replication_mode'), 'semi_synchronous');
  t.equal(reopened.getSetting('quorum_size'), 2n);
  t.equal(reopened.getSetting('sync_replicas'), null);
  const [[n]] = reopened.execute('CREATE (n) RETURN id(n)', {}, ctx).rows as [[Value]];
  t.equal(n, 2n, 'ids continue after reopen');
  const lag = reopened.execute('SELECT MAX(replication_lag_ms) AS max_lag FROM system.replication_status', {}, ctx);
  t.same(lag.columns, ['max_lag']);
  t.same(lag.rows, [[null]]);
  t.equal(lag.kind, 'admin');
  t.same(reopened.execute('SELECT node_id FROM system.cluster_nodes', {}, ctx).rows, [['local']]);

  const withViews = GraphEngine.open(':memory:', {
    systemViews: () => ({ replication_status: [{ node_id: 'n2', replication_lag_ms: 40n }, { node_id: 'n3', replication_lag_ms: 75n }] }),
  });
  t.teardown(() => withViews.close());
  t.same(withViews.execute('SELECT MAX(replication_lag_ms) AS max_lag FROM system.replication_status', {}, ctx).rows, [[75n]]);
  t.same(withViews.execute("SELECT node_id FROM system.replication_status WHERE replication_lag_ms > 50", {}, ctx).rows, [['n3']]);
});

t.test('observe() counts nodes, relationships, properties and labels', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute("CREATE (:A {x: 1})-[:R {y: 2.0}]->(:B)", {}, ctx);
  const seen = engine.observe();
  t.equal(seen.nodes.size, 2);
  t.equal(seen.relationships.size, 1);
  t.equal(seen.properties.size, 2);
  t.same([...seen.labels].sort(), ['A', 'B']);
});

t.test('a read that needs one SQLite statement runs without a transaction; one that needs more runs again in one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geode-engine-snap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const engine = GraphEngine.open(join(dir, 'graph.db'));
  t.teardown(() => engine.close());
  engine.execute("UNWIND range(1, 50) AS i CREATE (:U {email: 'u' + toString(i)})-[:K]->(:V {i: i})", {}, ctx);
  engine.execute('CREATE INDEX ON :U(email)', {}, ctx);
  while (engine.backgroundStep());
  // Count the transactions the engine opens by watching its BEGIN statement.
  const store = (engine as unknown as { store: { begin: { run(): unknown } } }).store;
  const begin = store.begin;
  let begins = 0;
  store.begin = { run: () => (begins++, begin.run()) };
  t.same(rows(engine, 'MATCH (u:U {email: $e}) RETURN u.email AS e', { e: 'u7' }), [['u7']]);
  t.same(rows(engine, 'MATCH (u:U {email: $e}) RETURN u.email AS e', { e: 'u8' }), [['u8']]);
  t.equal(begins, 0, 'an indexed point lookup is one statement: no BEGIN, no COMMIT');
  t.same(rows(engine, 'MATCH (u:U {email: $e})-[:K]->(v) RETURN v.i AS i', { e: 'u7' }), [[7n]], 'a two-statement read answers right');
  t.equal(begins, 1, 'it needed a second statement, so it ran again in a transaction');
  t.same(rows(engine, 'MATCH (u:U {email: $e})-[:K]->(v) RETURN v.i AS i', { e: 'u9' }), [[9n]]);
  t.equal(begins, 2, 'and its text goes straight to a transaction from then on');
  t.equal(codeOf(() => rows(engine, 'MATCH (u:U {email: $e}) RETURN u.email - 1 AS x', { e: 'u1' })), 'TYPE_ERROR', 'a one-statement read fails as before');
  t.same(rows(engine, 'MATCH (u:U {email: $e}) RETURN u.email AS e', { e: 'u9' }), [['u9']], 'and the engine goes on');
});
