import t from 'tap';
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { DEFAULT_WRITE_WORK_BUDGET, GraphEngine } from '../../../storage-node/graph/engine.js';
import type { ExecuteOptions } from '../../../storage-node/graph/types.js';
import type { Value, ValueMap } from '../../../shared/gql/values.js';
import { GeodeError } from '../../../shared/protocol/errors.js';

const ctx = { now: 1_700_000_000_000, seed: 'budget-seed' };
const MiB = 1024 * 1024;
/** Only catches hangs: the shared 2-core machine may be slow, but never this slow. */
/**
 * Bounds here only catch a budget that does not stop a statement (which then runs minutes, or for
 * ever): generous, because a loaded 2-core machine makes a 1.5 s statement take several times that.
 */
const HANG_MARGIN_MS = 20_000;

function open(): GraphEngine {
  return GraphEngine.open(':memory:');
}

interface Refusal {
  code: string;
  detail: string | undefined;
  message: string;
  ms: number;
}

/** Runs a statement that must fail; `options` may hold `deadlineMs` (relative) besides the engine's options. */
function refusal(engine: GraphEngine, query: string, options: ExecuteOptions & { deadlineMs?: number } = {}, params: ValueMap = {}): Refusal {
  const { deadlineMs, ...rest } = options;
  const started = Date.now();
  const opts: ExecuteOptions = deadlineMs === undefined ? rest : { ...rest, deadline: started + deadlineMs };
  try {
    engine.execute(query, params, ctx, opts);
  } catch (err) {
    const ms = Date.now() - started;
    if (!(err instanceof GeodeError)) return { code: `non-Geode: ${String(err)}`, detail: undefined, message: String(err), ms };
    return { code: err.code, detail: err.detail, message: err.message, ms };
  }
  return { code: 'none', detail: undefined, message: 'the statement succeeded', ms: Date.now() - started };
}

function rows(engine: GraphEngine, query: string, params: ValueMap = {}, options: ExecuteOptions = {}): Value[][] {
  return engine.execute(query, params, ctx, options).rows;
}

/** A digest of the graph's canonical sets, to check that a refused statement changed nothing. */
function snapshotOf(engine: GraphEngine): string {
  const o = engine.observe();
  const text = JSON.stringify([[...o.nodes].sort(), [...o.relationships].sort(), [...o.properties].sort(), [...o.labels].sort()]);
  return `${o.nodes.size} nodes, ${o.relationships.size} relationships, ${createHash('sha256').update(text).digest('hex')}`;
}

function stillAnswers(t: Test, engine: GraphEngine): void {
  t.same(rows(engine, 'UNWIND range(1, 3) AS x RETURN sum(x), collect(x)'), [[6n, [1n, 2n, 3n]]], 'the engine still answers normally');
}

/** A 12-node clique (66 relationships, one per pair): var-length paths over it are astronomically many. */
function clique(engine: GraphEngine): void {
  engine.execute('UNWIND range(1, 12) AS i CREATE (:K {i: i})', {}, ctx);
  engine.execute('MATCH (a:K), (b:K) WHERE a.i < b.i CREATE (a)-[:R]->(b)', {}, ctx);
}

t.test('huge ranges are refused before they are built, with MEMORY_LIMIT', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  // On the old engine this ended the process (V8 fatal error: invalid array length).
  const huge = refusal(engine, 'RETURN size(range(1, 2000000000))', { deadlineMs: 1000 });
  t.equal(huge.code, 'MEMORY_LIMIT');
  t.match(huge.message, /range\(\)/);
  t.ok(huge.ms < 2_000, `refused before building anything (${huge.ms} ms)`);
  const overBudget = refusal(engine, 'RETURN size(range(1, 3000000))', { memoryBudget: 64 * MiB });
  t.equal(overBudget.code, 'MEMORY_LIMIT');
  t.match(overBudget.message, /memory budget of 67108864 bytes/);
  t.match(overBudget.message, /range\(\)/);
  t.ok(overBudget.ms < 2_000, `refused before building anything (${overBudget.ms} ms)`);
  t.same(rows(engine, 'RETURN size(range(1, 1000000))', {}, { memoryBudget: 64 * MiB }), [[1000000n]], 'a range within the budget is built');
  stillAnswers(t, engine);
});

t.test('strings built by reduce are bounded by the memory budget', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const tenMillion = refusal(engine, "RETURN reduce(s = '', x IN range(1, 10000000) | s + 'xxxxxxxxxx')", { deadlineMs: 1000 });
  t.equal(tenMillion.code, 'MEMORY_LIMIT', 'range(1, 10000000) alone is over the default 256 MiB');
  t.ok(tenMillion.ms < 1000 + HANG_MARGIN_MS);
  // 1,000,000 appends of 100 characters: the string itself goes over 64 MiB.
  const chunk = 'y'.repeat(100);
  const appended = refusal(engine, 'RETURN size(reduce(s = \'\', x IN range(1, 1000000) | s + $chunk))', { memoryBudget: 64 * MiB }, { chunk });
  t.equal(appended.code, 'MEMORY_LIMIT');
  t.match(appended.message, /string concatenation|reduce\(\) accumulator/);
  t.ok(appended.ms < HANG_MARGIN_MS, `${appended.ms} ms`);
  t.same(rows(engine, "RETURN size(reduce(s = '', x IN range(1, 100000) | s + 'ab'))"), [[200000n]], 'a string within the budget is built');
  stillAnswers(t, engine);
});

t.test('a quadratic reduce stops at the deadline, or at the work budget with no deadline', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const query = 'RETURN size(reduce(l = [], x IN range(1, 100000) | l + [x]))';
  const timed = refusal(engine, query, { deadlineMs: 1000 });
  t.equal(timed.code, 'TIMEOUT');
  t.match(timed.message, /time limit/);
  t.ok(timed.ms < 1000 + HANG_MARGIN_MS, `${timed.ms} ms`);
  const counted = refusal(engine, query, { workBudget: 200_000 });
  t.equal(counted.code, 'WORK_LIMIT');
  t.ok(counted.ms < HANG_MARGIN_MS, `${counted.ms} ms`);
  stillAnswers(t, engine);
});

t.test('collect() of millions is bounded by the memory budget', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  // range(1, 5000000) fits in 200 MiB; collecting it as well does not.
  const collected = refusal(engine, 'UNWIND range(1, 5000000) AS x RETURN collect(x)', { memoryBudget: 200 * MiB });
  t.equal(collected.code, 'MEMORY_LIMIT');
  t.match(collected.message, /collect\(\)/);
  const timed = refusal(engine, 'UNWIND range(1, 5000000) AS x RETURN collect(x)', { deadlineMs: 1000 });
  t.ok(timed.code === 'TIMEOUT' || timed.code === 'MEMORY_LIMIT', `a 1 s read ends with TIMEOUT or MEMORY_LIMIT (${timed.code})`);
  t.ok(timed.ms < 1000 + HANG_MARGIN_MS, `${timed.ms} ms`);
  stillAnswers(t, engine);
});

t.test('a runaway UNWIND stops at the deadline or the work budget', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const query = 'UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*)';
  const timed = refusal(engine, query, { deadlineMs: 1000 });
  t.equal(timed.code, 'TIMEOUT');
  t.ok(timed.ms < 1000 + HANG_MARGIN_MS, `${timed.ms} ms`);
  t.equal(refusal(engine, query, { workBudget: 100_000 }).code, 'WORK_LIMIT');
  stillAnswers(t, engine);
});

t.test('combinatorial variable-length paths stop at the deadline or the work budget', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  clique(engine);
  const timed = refusal(engine, 'MATCH p=(a)-[*]-(b) RETURN count(p)', { deadlineMs: 1000 });
  t.equal(timed.code, 'TIMEOUT');
  t.ok(timed.ms < 1000 + HANG_MARGIN_MS, `${timed.ms} ms`);
  t.equal(refusal(engine, 'MATCH p=(a)-[*]-(b) RETURN count(p)', { workBudget: 100_000 }).code, 'WORK_LIMIT');
  t.equal(refusal(engine, 'MATCH p = allShortestPaths((a:K)-[*]-(b:K)) RETURN count(p)', { workBudget: 20 }).code, 'WORK_LIMIT');
  // Bounded expansion still answers, in the same order as before.
  t.same(rows(engine, 'MATCH (a:K {i: 1})-[*1..2]->(b:K {i: 3}) RETURN count(*)'), [[2n]]);
  t.same(rows(engine, 'MATCH (a:K {i: 1})-[rs*0..2]->(b:K) WHERE b.i <= 3 RETURN b.i, size(rs) ORDER BY b.i, size(rs)'), [
    [1n, 0n],
    [2n, 1n],
    [3n, 1n],
    [3n, 2n],
  ]);
  stillAnswers(t, engine);
});

t.test('catastrophic regexes answer in linear time; non-linear patterns are refused', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const text = 'a'.repeat(52) + '!';
  for (const pattern of ['(a+)+$', '(?i)(A+)+$', '([a-z]{1,30})+$', '(a|aa)+$']) {
    const started = Date.now();
    t.same(rows(engine, 'RETURN $text =~ $pattern', { text, pattern }, { deadline: Date.now() + 1000 }), [[false]], pattern);
    // The old engine took minutes: `(?i)` and counts above 16 never fell back to the linear engine.
    t.ok(Date.now() - started < 1000, `${pattern} answered in ${Date.now() - started} ms`);
  }
  for (const [pattern, why] of [
    ['(a)\\1', /backreferences/],
    ['(?=a)a', /lookahead and lookbehind/],
    ['(?<!b)a', /lookahead and lookbehind/],
  ] as const) {
    const refused = refusal(engine, 'RETURN $text =~ $pattern', {}, { text: 'aa', pattern });
    t.equal(refused.code, 'ARGUMENT_ERROR', pattern);
    t.equal(refused.detail, 'UnsupportedRegex', pattern);
    t.match(refused.message, why, pattern);
  }
  t.equal(refusal(engine, "RETURN 'a' =~ '(a'").code, 'ARGUMENT_ERROR', 'an invalid pattern is still an ARGUMENT_ERROR');
  stillAnswers(t, engine);
});

t.test('regexes keep their meaning through the linear-time rewrites', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const cases: [string, string, boolean][] = [
    ['(?i)abc', 'ABC', true],
    ['(?i)a[b-d]e', 'ACE', true],
    ['(?i)[^a]', 'A', false],
    ['(?i)\\x41b', 'aB', true],
    ['(?i)é', 'É', false], // Java's default (?i) folds ASCII only
    ['[a-z]{2,30}@x\\.com', 'ab@x.com', true],
    ['[a-z]{2,30}@x\\.com', 'a@x.com', false],
    ['.{20}', 'x'.repeat(20), true],
    ['.{20}', 'x'.repeat(19), false],
    ['(a|b){20,}', 'ab'.repeat(10), true],
    ['(a|b){20,}', 'ab'.repeat(9), false],
    ['(?<n>a){17}', 'a'.repeat(17), true],
    ['a{b', 'a{b', true],
    ['(?s)a.b', 'a\nb', true],
    ['a.b', 'a\nb', false],
    ['foo', 'xfoox', false],
  ];
  for (const [pattern, text, expected] of cases) {
    t.same(rows(engine, 'RETURN $text =~ $pattern', { text, pattern }), [[expected]], `${JSON.stringify(text)} =~ ${pattern}`);
  }
});

t.test('values built per row in a long scan do not accumulate', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const name = 'n'.repeat(1000);
  engine.execute('UNWIND range(1, 20000) AS i CREATE (:P {name: $name, i: i})', { name }, ctx);
  // Each row builds a ~2 KB string: 40 MB over the scan, far over 8 MiB if it were never released.
  const query = "MATCH (n:P) WHERE n.name + 'x' = 'no such name' RETURN count(*)";
  t.same(rows(engine, query, {}, { memoryBudget: 8 * MiB }), [[0n]]);
  t.same(rows(engine, "MATCH (n:P) WITH n.name + toString(n.i) AS s WHERE size(s) > 5000 RETURN count(*)", {}, { memoryBudget: 8 * MiB }), [[0n]]);
  t.same(rows(engine, "MATCH (n:P) RETURN count(*), sum(size([c IN split(n.name + 'a,b', ',') | c]))", {}, { memoryBudget: 8 * MiB }), [[20000n, 40000n]]);
  // 14,652 paths, each with its relationship list and path value (~3 MB in all), under 1 MiB: only the current one counts.
  clique(engine);
  t.same(rows(engine, 'MATCH p=(a:K)-[rs*1..3]-(b) RETURN count(p), count(rs)', {}, { memoryBudget: 1 * MiB }), [[14652n, 14652n]]);
});

t.test('a read counts the entities it holds, not every entity it scanned', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute("CREATE (:Hub {name: 'hub'})", {}, ctx);
  engine.execute("MATCH (h:Hub) UNWIND range(1, 20000) AS i CREATE (h)-[:R]->(:Leaf {i: i, pad: 'pppppppppppppppppppppppppppppppppppppppp'})", {}, ctx);
  // 20,001 nodes scanned one at a time fit in 1 MiB.
  t.same(rows(engine, 'MATCH (n) RETURN count(n), sum(size(n.pad))', {}, { memoryBudget: 1 * MiB }), [[20001n, 800000n]]);
  // Expanding the hub loads its 20,000 relationships and leaves at once: several MB.
  const hub = refusal(engine, 'MATCH (:Hub)-[:R]->(x) RETURN count(x)', { memoryBudget: 1 * MiB });
  t.equal(hub.code, 'MEMORY_LIMIT');
  t.match(hub.message, /being read|relationships of a node/);
  t.same(rows(engine, 'MATCH (:Hub)-[:R]->(x) RETURN count(x)', {}, { memoryBudget: 32 * MiB }), [[20000n]]);
});

t.test('sort buffers, DISTINCT sets, result rows and nested lists count against the memory budget', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  const sorted = refusal(engine, 'UNWIND range(1, 300000) AS x WITH x ORDER BY x DESC RETURN count(x)', { memoryBudget: 32 * MiB });
  t.equal(sorted.code, 'MEMORY_LIMIT');
  t.match(sorted.message, /ORDER BY/);
  const distinct = refusal(engine, "UNWIND range(1, 1000000) AS x WITH DISTINCT 'key' + toString(x) AS k RETURN count(k)", { memoryBudget: 32 * MiB });
  t.equal(distinct.code, 'MEMORY_LIMIT');
  t.match(distinct.message, /DISTINCT/);
  const results = refusal(engine, 'UNWIND range(1, 1000000) AS x RETURN x', { memoryBudget: 32 * MiB });
  t.equal(results.code, 'MEMORY_LIMIT');
  t.match(results.message, /result rows/);
  // Each inner range fits the budget; twenty of them at once do not.
  const nested = refusal(engine, 'RETURN size([x IN range(1, 20) | range(1, 1000000)])', { memoryBudget: 128 * MiB });
  t.equal(nested.code, 'MEMORY_LIMIT');
  const literal = refusal(engine, 'RETURN size([range(1, 1000000), range(1, 1000000), range(1, 1000000), range(1, 1000000), range(1, 1000000)])', {
    memoryBudget: 128 * MiB,
  });
  t.equal(literal.code, 'MEMORY_LIMIT');
  const grouped = refusal(engine, 'UNWIND range(1, 500000) AS x RETURN x % 250000 AS k, collect(x) AS xs', { memoryBudget: 32 * MiB });
  t.equal(grouped.code, 'MEMORY_LIMIT');
  // The same statements within budget.
  t.same(rows(engine, 'UNWIND range(1, 3000) AS x WITH x ORDER BY x DESC RETURN collect(x)[0..3]', {}, { memoryBudget: 32 * MiB }), [[[3000n, 2999n, 2998n]]]);
  t.same(rows(engine, 'UNWIND range(1, 100000) AS x WITH DISTINCT x % 7 AS k RETURN count(k)', {}, { memoryBudget: 32 * MiB }), [[7n]]);
  stillAnswers(t, engine);
});

t.test('ORDER BY over more rows than one sorted run keeps a stable, correct order', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  // 20,000 rows: several runs of the interruptible merge sort; ties keep input order (x ascending).
  const sorted = rows(engine, 'UNWIND range(1, 20000) AS x WITH x ORDER BY (x * 7919) % 13 DESC RETURN collect(x) AS xs')[0]?.[0] as bigint[];
  const expected = Array.from({ length: 20000 }, (_, i) => BigInt(i + 1)).sort((a, b) => Number(((b * 7919n) % 13n) - ((a * 7919n) % 13n)));
  t.equal(sorted.length, 20000);
  t.same(sorted, expected);
  t.same(rows(engine, 'UNWIND range(1, 20000) AS x RETURN percentileDisc(x, 0.5), percentileCont(x, 0.25)'), [[10000n, 5000.75]]);
});

t.test('writes with only a work budget are refused deterministically and change nothing', async (t) => {
  const statements: [string, ValueMap, string][] = [
    ['UNWIND range(1, 100000000) AS x CREATE (:N {x: x})', {}, 'MEMORY_LIMIT'],
    ["CREATE (n {s: reduce(s = '', x IN range(1, 50000000) | s + 'x')})", {}, 'MEMORY_LIMIT'],
    ['UNWIND range(1, 1000) AS a UNWIND range(1, 1000) AS b CREATE (:N {a: a, b: b})', {}, 'WORK_LIMIT'],
    ['MATCH (a:K), (b:K), (c:K), (d:K), (e:K) CREATE (:Q {a: a.i, b: b.i, c: c.i, d: d.i, e: e.i})', {}, 'WORK_LIMIT'],
    ["MATCH (a:K) SET a.s = reduce(s = '', x IN range(1, 2000000) | s + 'xxxxxxxxxx')", {}, 'WORK_LIMIT'],
    ["MATCH (a:K {i: 1}) SET a.s = reduce(s = '', x IN range(1, 200000) | s + $chunk)", { chunk: 'z'.repeat(1000) }, 'MEMORY_LIMIT'],
    // Every path is kept by CREATE's input buffer: memory runs out before the work budget.
    ['MATCH p=(a:K)-[*]-(b:K) CREATE (:P {n: length(p)})', {}, 'MEMORY_LIMIT'],
  ];
  for (const [query, params, code] of statements) {
    const outcomes: Refusal[] = [];
    for (let replica = 0; replica < 2; replica++) {
      const engine = open();
      clique(engine);
      // The second replica has run other statements first (warm plan and size caches): the outcome must not depend on it.
      if (replica === 1) {
        rows(engine, 'UNWIND range(1, 1000) AS x RETURN collect([x, toString(x)])');
        rows(engine, query.startsWith('MATCH') ? 'MATCH (a:K) RETURN count(*)' : 'RETURN 1');
      }
      const before = snapshotOf(engine);
      outcomes.push(refusal(engine, query, { workBudget: DEFAULT_WRITE_WORK_BUDGET }, params));
      t.equal(snapshotOf(engine), before, `${query}: the graph is unchanged`);
      stillAnswers(t, engine);
      engine.close();
    }
    const [first, second] = outcomes as [Refusal, Refusal];
    t.equal(first.code, code, `${query}: ${first.message}`);
    t.equal(second.code, first.code, `${query}: same code on both replicas`);
    t.equal(second.message, first.message, `${query}: same message on both replicas`);
    t.ok(first.ms < 3000 + HANG_MARGIN_MS, `${query}: ${first.ms} ms`);
  }
});

t.test('a write refused by its memory budget leaves earlier writes of the statement undone', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute("CREATE (:Keep {v: 'x'})", {}, ctx);
  const before = snapshotOf(engine);
  const refused = refusal(engine, 'UNWIND range(1, 200000) AS i CREATE (:N {i: i, pad: $pad})', { memoryBudget: 16 * MiB }, { pad: 'p'.repeat(200) });
  t.equal(refused.code, 'MEMORY_LIMIT');
  t.match(refused.message, /nodes and relationships this write touched|CREATE/);
  t.equal(snapshotOf(engine), before);
  t.same(rows(engine, 'MATCH (n) RETURN count(n)'), [[1n]]);
});

t.test('a 10k-row bulk load fits the recommended write work budget with room to spare', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  engine.execute('CREATE INDEX ON :User(email)', {}, ctx);
  engine.execute('CREATE INDEX ON :User(id)', {}, ctx);
  const batch = (first: number): ValueMap[] =>
    Array.from({ length: 10_000 }, (_, k) => ({ id: BigInt(first + k), email: `user${first + k}@example.com`, name: `User ${first + k}` }));
  const load = 'UNWIND $rows AS r CREATE (:User {id: r.id, email: r.email, name: r.name})';
  // A fifth of the budget must be enough for a 10k-row batch.
  const tight = { workBudget: DEFAULT_WRITE_WORK_BUDGET / 5 };
  t.equal(engine.execute(load, { rows: batch(0) }, ctx, tight).stats.nodesCreated, 10_000);
  t.equal(engine.execute(load, { rows: batch(10_000) }, ctx, tight).stats.nodesCreated, 10_000);
  const pairs = Array.from({ length: 10_000 }, (_, k) => ({ a: BigInt(k), b: BigInt((k * 7) % 20_000) }));
  const follows = engine.execute('UNWIND $pairs AS p MATCH (a:User {id: p.a}), (b:User {id: p.b}) CREATE (a)-[:FOLLOWS]->(b)', { pairs }, ctx, tight);
  t.equal(follows.stats.relationshipsCreated, 10_000);
});

t.test('memory budgets are clamped, and absent ones default', async (t) => {
  const engine = open();
  t.teardown(() => engine.close());
  // Without a memory budget the default (256 MiB) still applies: range(1, 10000000) estimates 320 MB.
  t.equal(refusal(engine, 'RETURN size(range(1, 10000000))').code, 'MEMORY_LIMIT');
  // A budget above the ceiling is clamped to 1 GiB: 40,000,000 elements estimate 1.28 GB.
  const clamped = refusal(engine, 'RETURN size(range(1, 40000000))', { memoryBudget: 64 * 1024 * MiB });
  t.equal(clamped.code, 'MEMORY_LIMIT');
  t.match(clamped.message, /1073741824 bytes/);
});
