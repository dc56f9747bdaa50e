/**
 * Graph engine benchmark: bulk load, indexed point lookup and one-hop
 * expansion, each beside the hand-written better-sqlite3 query over the same
 * file and the engine's own schema (storage-node/graph/store.ts), so
 * `ratio` is the engine's overhead over the best plain SQL. Then the cost of
 * the per-statement budgets: the same point lookup with deadline, memory and
 * work budgets on against none, in interleaved windows.
 *
 *   node --import tsx bench/engine.ts [--json] [--users N] [--iterations N]
 *
 * Prints one JSON object; without --json, progress goes to stderr first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { ValueMap } from '../shared/gql/values.js';
import { DEFAULT_MEMORY_BUDGET, DEFAULT_WRITE_WORK_BUDGET, GraphEngine } from '../storage-node/graph/engine.js';
import type { ExecuteOptions } from '../storage-node/graph/types.js';

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    users: { type: 'string', default: '100000' },
    iterations: { type: 'string', default: '20000' },
  },
});
const USERS = Number(flags.users);
const ITERATIONS = Number(flags.iterations);
const WARMUP = Math.min(2000, ITERATIONS);
const BATCH = 10_000;
/** Timed calls per side are split into this many A B B A rounds (interleaved()). */
const ROUNDS = 5;
const FOLLOWS_PER_USER = 10;

const progress = (message: string): void => {
  if (!flags.json) process.stderr.write(`${message}\n`);
};

/** Deterministic PRNG (mulberry32): the same run picks the same keys. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Latency {
  p50_us: number;
  p99_us: number;
}

/**
 * Times each side's body one call at a time, in windows that alternate A B B A (then B A A B), after a
 * warm-up of every side: drifting machine load and the JIT's progress land on every side alike, so the
 * ratio holds on a noisy machine. Each side gets ITERATIONS timed calls; `body(i)` is called with
 * i = 0, 1, 2, ... per side.
 */
function interleaved<K extends string>(sides: Record<K, (i: number) => void>): Record<K, Latency> {
  const names = Object.keys(sides) as K[];
  const samples = {} as Record<K, Float64Array>;
  const next = {} as Record<K, number>;
  for (const name of names) {
    for (let i = 0; i < WARMUP; i += 1) sides[name](i);
    samples[name] = new Float64Array(ITERATIONS);
    next[name] = 0;
  }
  const window = Math.max(1, Math.floor(ITERATIONS / (2 * ROUNDS)));
  for (let round = 0; next[names[0] as K] < ITERATIONS; round += 1) {
    const forward = round % 2 === 0 ? names : [...names].reverse();
    for (const name of [...forward, ...[...forward].reverse()]) {
      const body = sides[name];
      const out = samples[name];
      for (let k = 0; k < window && next[name] < ITERATIONS; k += 1) {
        const i = next[name]++;
        const start = process.hrtime.bigint();
        body(WARMUP + i);
        out[i] = Number(process.hrtime.bigint() - start) / 1000;
      }
    }
  }
  const result = {} as Record<K, Latency>;
  for (const name of names) {
    const sorted = samples[name].sort();
    const at = (q: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10;
    result[name] = { p50_us: at(0.5), p99_us: at(0.99) };
  }
  return result;
}

function side(geode: Latency, sqlite: Latency) {
  return {
    geode_p50_us: geode.p50_us,
    geode_p99_us: geode.p99_us,
    sqlite_p50_us: sqlite.p50_us,
    sqlite_p99_us: sqlite.p99_us,
    ratio: Math.round((geode.p50_us / sqlite.p50_us) * 100) / 100,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'geode-bench-'));
const file = join(dir, 'graph.db');
const engine = GraphEngine.open(file);
const context = () => ({ now: Date.now(), seed: 'bench' });
const run = (query: string, params: ValueMap = {}) => engine.execute(query, params, context());
/** Index builds may finish in background steps; a benchmark wants them done. */
const finishBackgroundWork = (): void => {
  while (engine.backgroundStep()) {
    // keep stepping
  }
};

try {
  // (a) bulk load
  progress(`bulk loading ${USERS} users`);
  const loadStart = process.hrtime.bigint();
  for (let first = 0; first < USERS; first += BATCH) {
    const rows: ValueMap[] = [];
    for (let id = first; id < Math.min(USERS, first + BATCH); id += 1) {
      rows.push({ id: BigInt(id), email: `user${id}@example.com`, name: `User ${id}` });
    }
    run('UNWIND $rows AS r CREATE (:User {id: r.id, email: r.email, name: r.name})', { rows });
  }
  const loadSeconds = Number(process.hrtime.bigint() - loadStart) / 1e9;
  const bulkLoad = { nodes: USERS, seconds: Math.round(loadSeconds * 100) / 100, nodes_per_s: Math.round(USERS / loadSeconds) };

  // (b) indexed point lookup
  progress('indexing :User(email), point lookups');
  run('CREATE INDEX ON :User(email)');
  finishBackgroundWork();
  const sql = new Database(file, { readonly: true });
  const indexId = (property: string): number => {
    const row = sql.prepare('SELECT id FROM property_indexes WHERE label = ? AND property = ?').get('User', property) as
      | { id: number | bigint }
      | undefined;
    if (row === undefined) throw new Error(`no index on :User(${property})`);
    return Number(row.id);
  };
  const emailIndex = indexId('email');
  const pointSql = sql
    .prepare(
      `SELECT json_extract(n.props, '$.name') FROM index_entries e JOIN nodes n ON n.id = e.node_id
       WHERE e.index_id = ? AND e.value = ?`,
    )
    .raw(true);
  const emails = (seed: number): string[] => {
    const random = prng(seed);
    return Array.from({ length: WARMUP + ITERATIONS }, () => `user${Math.floor(random() * USERS)}@example.com`);
  };
  const geodeEmails = emails(1);
  const sqliteEmails = emails(2);
  const budgetEmails = emails(6);
  let misses = 0;
  let budgetMisses = 0;
  const lookup = (email: string, options: ExecuteOptions = {}): number =>
    engine.execute('MATCH (u:User {email: $e}) RETURN u.name', { e: email }, context(), options).rows.length;
  const point = interleaved({
    geode: (i) => {
      if (lookup(geodeEmails[i % geodeEmails.length] ?? '') !== 1) misses += 1;
    },
    sqlite: (i) => {
      if (pointSql.all(emailIndex, sqliteEmails[i % sqliteEmails.length]).length !== 1) misses += 1;
    },
  });

  // (b2) the same point lookup with every budget on, against none.
  progress('point lookups with and without budgets, interleaved');
  const budgets = interleaved({
    on: (i) => {
      const options: ExecuteOptions = { deadline: Date.now() + 30_000, memoryBudget: DEFAULT_MEMORY_BUDGET, workBudget: DEFAULT_WRITE_WORK_BUDGET };
      if (lookup(budgetEmails[i % budgetEmails.length] ?? '', options) !== 1) budgetMisses += 1;
    },
    off: (i) => {
      if (lookup(budgetEmails[i % budgetEmails.length] ?? '') !== 1) budgetMisses += 1;
    },
  });
  const budgetOverhead = {
    lookups_per_side: ITERATIONS,
    p50_on_us: budgets.on.p50_us,
    p50_off_us: budgets.off.p50_us,
    ratio: Math.round((budgets.on.p50_us / budgets.off.p50_us) * 1000) / 1000,
    misses: budgetMisses,
  };

  // (c) one hop
  progress('indexing :User(id), creating follows, one-hop lookups');
  run('CREATE INDEX ON :User(id)');
  finishBackgroundWork();
  const followRandom = prng(3);
  const followStart = process.hrtime.bigint();
  let pairs: ValueMap[] = [];
  const flush = (): void => {
    if (pairs.length === 0) return;
    run('UNWIND $pairs AS p MATCH (a:User {id: p.a}), (b:User {id: p.b}) CREATE (a)-[:FOLLOWS]->(b)', { pairs });
    pairs = [];
  };
  for (let id = 0; id < USERS; id += 1) {
    for (let k = 0; k < FOLLOWS_PER_USER; k += 1) {
      pairs.push({ a: BigInt(id), b: BigInt(Math.floor(followRandom() * USERS)) });
      if (pairs.length === BATCH) flush();
    }
  }
  flush();
  const followSeconds = Number(process.hrtime.bigint() - followStart) / 1e9;
  const idIndex = indexId('id');
  const hopSql = sql
    .prepare(
      `SELECT json_extract(f.props, '$.name') FROM index_entries e
       JOIN rels r ON r.start_id = e.node_id AND r.type = 'FOLLOWS'
       JOIN nodes f ON f.id = r.end_id
       WHERE e.index_id = ? AND e.value = ?`,
    )
    .raw(true);
  const ids = (seed: number): bigint[] => {
    const random = prng(seed);
    return Array.from({ length: WARMUP + ITERATIONS }, () => BigInt(Math.floor(random() * USERS)));
  };
  const geodeIds = ids(4);
  const sqliteIds = ids(5);
  let geodeHopRows = 0;
  let sqliteHopRows = 0;
  const hop = interleaved({
    geode: (i) => {
      geodeHopRows += engine.execute('MATCH (u:User {id: $id})-[:FOLLOWS]->(f) RETURN f.name', { id: geodeIds[i % geodeIds.length] ?? 0n }, context()).rows.length;
    },
    sqlite: (i) => {
      sqliteHopRows += hopSql.all(idIndex, sqliteIds[i % sqliteIds.length]).length;
    },
  });
  sql.close();

  const expectedRows = (WARMUP + ITERATIONS) * FOLLOWS_PER_USER;
  const report = {
    bulk_load: bulkLoad,
    point_lookup: { iterations: ITERATIONS, ...side(point.geode, point.sqlite), misses },
    budget_overhead: budgetOverhead,
    one_hop: {
      iterations: ITERATIONS,
      relationships: USERS * FOLLOWS_PER_USER,
      create_rels_per_s: Math.round((USERS * FOLLOWS_PER_USER) / followSeconds),
      ...side(hop.geode, hop.sqlite),
      // Both sides must see every FOLLOWS edge, or the comparison means nothing.
      rows_checked: geodeHopRows === expectedRows && sqliteHopRows === expectedRows,
    },
  };
  process.stdout.write(`${flags.json ? JSON.stringify(report) : JSON.stringify(report, null, 2)}\n`);
} finally {
  engine.close();
  rmSync(dir, { recursive: true, force: true });
}
