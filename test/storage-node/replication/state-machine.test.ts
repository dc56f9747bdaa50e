import t from 'tap';
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphStateMachine, REQUEST_TTL_MS } from '../../../storage-node/replication/state-machine.js';
import type { EntryToApply } from '../../../storage-node/replication/state-machine.js';
import { decodeCommand, encodeCommand } from '../../../storage-node/replication/command.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-sm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let clock = 1_700_000_000_000;
const write = (index: number, query: string, requestId: string, params: Record<string, unknown> = {}): EntryToApply => ({
  index,
  term: 1,
  type: 'normal',
  data: encodeCommand({ kind: 'query', query, params, now: (clock += 1000), seed: `seed-${index}`, requestId }),
});
/** `CREATE (:Order)` at index `index` with the leader time `now`. */
const orderAt = (index: number, now: number, requestId: string): EntryToApply => ({
  index,
  term: 1,
  type: 'normal',
  data: encodeCommand({ kind: 'query', query: 'CREATE (:Order)', params: {}, now, seed: `s${index}`, requestId }),
});
const count = (sm: GraphStateMachine): unknown =>
  sm.graph.execute('MATCH (n) RETURN count(n) AS c', {}, { now: 0, seed: '' }).rows[0]?.[0];

t.test('applies writes in order and records the applied index with them', async (t) => {
  const path = join(tempDir(t), 'graph.db');
  const sm = new GraphStateMachine(path);
  const out = sm.apply([
    { index: 1, term: 1, type: 'normal', data: new Uint8Array(0) },
    write(2, 'CREATE (:User {id: $id})', 'r1', { id: 1 }),
    write(3, 'CREATE (:User {id: $id}) RETURN 42 AS x', 'r2', { id: 2 }),
  ]);
  t.equal(out.length, 3);
  t.equal(sm.appliedIndex, 3);
  const third = out[2];
  t.ok(third?.ok && third.result !== null && third.result.rows[0]?.['x'] === 42);
  sm.close();
  const again = new GraphStateMachine(path);
  t.equal(again.appliedIndex, 3, 'applied index survives a restart');
  t.equal(again.apply([write(3, 'CREATE (:User {id: 99})', 'r-old')]).length, 0, 'entries at or below applied are skipped');
  t.equal(count(again), 2n);
  again.close();
});

t.test('a retried request id applies once and returns the first result', async (t) => {
  const sm = new GraphStateMachine(join(tempDir(t), 'graph.db'));
  const first = sm.apply([write(1, 'CREATE (n:Order) RETURN id(n) AS id', 'same')]);
  const retry = sm.apply([write(2, 'CREATE (n:Order) RETURN id(n) AS id', 'same')]);
  t.equal(count(sm), 1n, 'one node, not two');
  const a = first[0];
  const b = retry[0];
  t.ok(a?.ok && b?.ok);
  if (a?.ok && b?.ok && a.result !== null && b.result !== null) {
    t.same(b.result.rows, a.result.rows);
    t.equal(b.duplicate, true);
  }
  t.equal(sm.appliedIndex, 2);
  sm.close();
});

t.test('a fresh id (minted by the leader for its entry) skips the lookup but is recorded for retries', async (t) => {
  const sm = new GraphStateMachine(join(tempDir(t), 'graph.db'));
  const fresh: EntryToApply = {
    index: 1,
    term: 1,
    type: 'normal',
    data: encodeCommand({ kind: 'query', query: 'CREATE (n:Order) RETURN id(n) AS id', params: {}, now: (clock += 1000), seed: 's1', requestId: 'minted', fresh: true }),
  };
  const first = sm.apply([fresh]);
  // The client timed out and retries with the id the leader handed back in the TIMEOUT error.
  const retry = sm.apply([write(2, 'CREATE (n:Order) RETURN id(n) AS id', 'minted')]);
  t.equal(count(sm), 1n, 'the retry did not apply again');
  const a = first[0];
  const b = retry[0];
  t.ok(a?.ok && b?.ok && b.duplicate);
  if (a?.ok && b?.ok && a.result !== null && b.result !== null) t.same(b.result.rows, a.result.rows);
  sm.close();
});

t.test('command encoding: five fields, a sixth for a fresh id, a seventh for the memory budget; anything else is a no-op', async (t) => {
  const base = { kind: 'query' as const, query: 'RETURN 1', params: { a: 1 }, now: 5, seed: 's', requestId: 'r' };
  t.same(decodeCommand(encodeCommand(base)), base);
  t.same(decodeCommand(encodeCommand({ ...base, fresh: true })), { ...base, fresh: true });
  t.same(decodeCommand(encodeCommand({ ...base, memoryBudget: 1024 })), { ...base, memoryBudget: 1024 }, 'a budget without a fresh id');
  t.same(decodeCommand(encodeCommand({ ...base, fresh: true, memoryBudget: 1024 })), { ...base, fresh: true, memoryBudget: 1024 });
  t.same(decodeCommand(new TextEncoder().encode('["RETURN 1",{},5,"s","r",1,2,3]')), { kind: 'noop' });
  t.same(decodeCommand(new TextEncoder().encode('["RETURN 1",{},5,"s"]')), { kind: 'noop' });
});

t.test('the entry clock never goes backwards: a leader whose clock is behind applies at the clock of the entry before', async (t) => {
  const path = join(tempDir(t), 'graph.db');
  const sm = new GraphStateMachine(path);
  const t0 = 1_950_000_000_000;
  const stamp = (index: number, now: number, requestId: string): EntryToApply => ({
    index,
    term: index,
    type: 'normal',
    data: encodeCommand({ kind: 'query', query: 'CREATE (n:Tick {i: $i}) RETURN timestamp() AS ts', params: { i: index }, now, seed: `s${index}`, requestId }),
  });
  // Leader A stamps t0 + 5000; then leader B, whose clock is 4 s behind, stamps t0 + 1000.
  const out = sm.apply([stamp(1, t0 + 5000, 'a'), stamp(2, t0 + 1000, 'b'), stamp(3, t0 + 6000, 'c')]);
  const ts = out.map((o) => (o.ok && o.result !== null ? o.result.rows[0]?.['ts'] : undefined));
  t.same(ts, [t0 + 5000, t0 + 5000, t0 + 6000], 'timestamp() held at the previous clock, then moved on');
  t.equal(sm.entryClock, t0 + 6000);
  sm.close();
  const again = new GraphStateMachine(path);
  t.equal(again.entryClock, t0 + 6000, 'the clock is replicated state: it survives a restart (and travels in snapshots)');
  const late = again.apply([stamp(4, t0 + 2000, 'd')])[0];
  t.equal(late?.ok && late.result !== null ? late.result.rows[0]?.['ts'] : undefined, t0 + 6000);
  again.close();
});

t.test('request-id expiry gives the same outcome on every replica however their batches fall, across leaders with skewed clocks', async (t) => {
  const dir = tempDir(t);
  const t0 = 1_960_000_000_000;
  const first = orderAt(1, t0, 'paid');
  // A leader with a fast clock, then one with a slow clock that retries 'paid'.
  const fast = orderAt(2, t0 + REQUEST_TTL_MS + 10_000, 'other');
  const retry = orderAt(3, t0 + 1_000, 'paid');
  const a = new GraphStateMachine(join(dir, 'a.db'));
  const b = new GraphStateMachine(join(dir, 'b.db'));
  // Replica A applies each entry in its own batch (its expiry runs between them); replica B gets the last two together.
  a.apply([first]);
  a.apply([fast]);
  a.apply([retry]);
  b.apply([first]);
  b.apply([fast, retry]);
  t.equal(count(a), count(b), 'both replicas hold the same graph');
  t.equal(count(a), 3n, "by the replicated clock the retry came after the id's window, so it applied");
  a.close();
  b.close();
});

t.test('expired request rows are deleted, oldest first, and live ones kept', async (t) => {
  const path = join(tempDir(t), 'graph.db');
  const sm = new GraphStateMachine(path);
  const t0 = 1_900_000_000_000;
  sm.apply([orderAt(1, t0, 'old-1'), orderAt(2, t0 + 1, 'old-2'), orderAt(3, t0 + REQUEST_TTL_MS, 'young')]);
  // One entry whose leader time is past the first two rows' expiry (and not the third's).
  sm.apply([orderAt(4, t0 + REQUEST_TTL_MS + 2, 'now')]);
  sm.close();
  const db = new Database(path);
  t.same(db.prepare('SELECT request_id FROM request_results ORDER BY idx').pluck().all(), ['young', 'now']);
  db.close();
});

t.test('a database with the earlier request_results layout is migrated and keeps its results', async (t) => {
  const path = join(tempDir(t), 'graph.db');
  const old = new Database(path);
  old.exec(`
    CREATE TABLE request_results (request_id TEXT PRIMARY KEY, idx INTEGER NOT NULL, expires_at INTEGER NOT NULL, outcome TEXT NOT NULL);
    CREATE INDEX request_results_expiry ON request_results (expires_at);
  `);
  const first = { ok: true, result: { columns: ['x'], rows: [{ x: 7 }], stats: {}, kind: 'write' } };
  old.prepare('INSERT INTO request_results VALUES (?, ?, ?, ?)').run('before-upgrade', 3, clock + REQUEST_TTL_MS * 2, JSON.stringify(first));
  old.close();
  const sm = new GraphStateMachine(path);
  const retry = sm.apply([write(4, 'CREATE (n:Order) RETURN 1 AS x', 'before-upgrade')]);
  const outcome = retry[0];
  t.ok(outcome?.ok && outcome.duplicate, 'the retry is recognised');
  if (outcome?.ok && outcome.result !== null) t.same(outcome.result.rows, [{ x: 7 }], 'with the result stored before the upgrade');
  t.equal(count(sm), 0n, 'nothing applied twice');
  sm.close();
  const db = new Database(path);
  const columns = db.prepare('PRAGMA table_info(request_results)').all() as { name: string; pk: number }[];
  t.same(columns.filter((c) => c.pk === 1).map((c) => c.name), ['idx'], 'rows are keyed by log index now');
  t.equal(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'request_results_expiry'").pluck().get(), 0, 'the expiry index is gone');
  db.close();
});

t.test('a request id is remembered for REQUEST_TTL_MS of leader time, the same in any batching', async (t) => {
  const dir = tempDir(t);
  const t0 = 1_800_000_000_000;
  const history = [orderAt(1, t0, 'a'), orderAt(2, t0 + REQUEST_TTL_MS, 'a'), orderAt(3, t0 + REQUEST_TTL_MS + 1, 'a'), orderAt(4, t0 + REQUEST_TTL_MS + 2, 'a')];
  // One replica applies it as one batch, another entry by entry: outcomes and graphs must agree.
  const together = new GraphStateMachine(join(dir, 'one.db'));
  const apart = new GraphStateMachine(join(dir, 'many.db'));
  const a = together.apply(history);
  const b = history.flatMap((e) => apart.apply([e]));
  const dup = (o: (typeof a)[number] | undefined): boolean | undefined => (o?.ok === true && o.result !== null ? o.duplicate : undefined);
  t.same(a.map(dup), [false, true, false, true], 'a retry at exactly the TTL is a duplicate; one after it applies again and is remembered anew');
  t.same(b.map(dup), a.map(dup));
  t.equal(count(together), 2n);
  t.equal(count(apart), 2n);
  t.equal(together.checksum(), apart.checksum());
  together.close();
  apart.close();
});

t.test('a failing statement changes nothing but still advances the applied index', async (t) => {
  const sm = new GraphStateMachine(join(tempDir(t), 'graph.db'));
  const out = sm.apply([write(1, 'CREATE (:A) WITH 1 AS x RETURN 1 / 0 AS boom', 'bad')]);
  t.equal(out[0]?.ok, false);
  t.equal(count(sm), 0n);
  t.equal(sm.appliedIndex, 1);
  const retry = sm.apply([write(2, 'CREATE (:A)', 'bad')]);
  t.equal(retry[0]?.ok, false, 'the retry gets the first (failed) outcome');
  t.equal(count(sm), 0n);
  sm.close();
});

t.test('node ids inside a batch: a failed statement gives its id back; the batch saves the counter once', async (t) => {
  const path = join(tempDir(t), 'graph.db');
  const ids = (sm: GraphStateMachine): unknown[] =>
    sm.graph.execute('MATCH (n) RETURN id(n) AS id ORDER BY id', {}, { now: 0, seed: '' }).rows.map((r) => r[0]);
  const sm = new GraphStateMachine(path);
  sm.apply([
    write(1, 'CREATE (:A)', 'i1'),
    write(2, 'CREATE (:A) WITH 1 AS x RETURN 1 / 0 AS boom', 'i2'),
    write(3, 'CREATE (:A)', 'i3'),
  ]);
  t.same(ids(sm), [1n, 2n], 'the failed statement gave its id back');
  sm.close();
  const reopened = new GraphStateMachine(path);
  reopened.apply([write(4, 'CREATE (:A)', 'i4')]);
  t.same(ids(reopened), [1n, 2n, 3n], 'the counter reached the disk with the batch');
  reopened.close();
});

t.test('a crash between statement and commit leaves neither the write nor the index', async (t) => {
  const path = join(tempDir(t), 'graph.db');
  const sm = new GraphStateMachine(path);
  sm.apply([write(1, 'CREATE (:A)', 'a')]);
  sm.close();
  // Applying and recording the index are one transaction: see both or neither.
  const db = new Database(path);
  const applied = db.prepare('SELECT idx FROM raft_applied').pluck().get();
  const nodes = db.prepare('SELECT count(*) FROM nodes').pluck().get();
  db.close();
  t.equal(applied, 1);
  t.equal(nodes, 1);
});

t.test('SET CLUSTER settings are replicated state', async (t) => {
  const sm = new GraphStateMachine(join(tempDir(t), 'graph.db'));
  t.same(sm.settings(), {}, 'nothing set yet');
  sm.apply([write(1, 'SET CLUSTER REPLICATION MODE semi_synchronous', 's1'), write(2, 'SET CLUSTER SYNC REPLICAS 2', 's2')]);
  t.same(sm.settings(), { mode: 'semi_synchronous', syncReplicas: 2 });
  sm.close();
});

t.test('snapshot and restore carry the graph and the applied index; checksums agree', async (t) => {
  const dir = tempDir(t);
  const a = new GraphStateMachine(join(dir, 'a.db'));
  a.apply([write(1, 'CREATE (:U {id: 1})-[:F]->(:U {id: 2})', 'x'), write(2, 'MATCH (u:U) SET u.seen = true', 'y')]);
  const index = await a.snapshotTo(join(dir, 'image.db'));
  t.equal(index, 2);
  const b = new GraphStateMachine(join(dir, 'b.db'));
  b.apply([write(1, 'CREATE (:Other)', 'z')]);
  t.not(b.checksum(), a.checksum());
  t.equal(b.restoreFrom(join(dir, 'image.db')), 2);
  t.equal(b.checksum(), a.checksum());
  a.close();
  b.close();
});

t.test('a snapshot copy lets batches apply between its slices and ends at the index applied last', async (t) => {
  const dir = tempDir(t);
  const a = new GraphStateMachine(join(dir, 'a.db'));
  // About 3 MB of graph, so the copy takes several slices.
  const pad = 'x'.repeat(600);
  let index = 0;
  for (let batch = 0; batch < 10; batch++) {
    a.apply([write(++index, 'UNWIND range(1, 500) AS i CREATE (:Pad {i: i, pad: $pad})', `pad-${index}`, { pad })]);
  }
  const copy = a.snapshotTo(join(dir, 'image.db'));
  let appliedDuringCopy = 0;
  let settled = false;
  void copy.finally(() => (settled = true));
  while (!settled && appliedDuringCopy < 1000) {
    a.apply([write(++index, 'CREATE (:During {n: $n})', `during-${index}`, { n: index })]);
    appliedDuringCopy++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const imageIndex = await copy;
  t.ok(appliedDuringCopy > 1, `batches applied while the copy ran (${appliedDuringCopy})`);
  t.equal(imageIndex, index, 'the copy holds everything applied before it completed');
  t.same(readdirSync(dir).filter((name) => name.startsWith('image.db')), ['image.db'], 'the copy is one file, with no -wal or -shm beside it');
  const b = new GraphStateMachine(join(dir, 'b.db'));
  t.equal(b.restoreFrom(join(dir, 'image.db')), index);
  t.equal(b.checksum(), a.checksum(), 'the copy is the graph at that index');
  a.close();
  b.close();
});

t.test('a restore during a snapshot copy happens at once, in order; the copy fails', async (t) => {
  const dir = tempDir(t);
  const source = new GraphStateMachine(join(dir, 'source.db'));
  source.apply([write(1, 'CREATE (:FromLeader)', 'l1'), write(2, 'CREATE (:FromLeader)', 'l2')]);
  t.equal(await source.snapshotTo(join(dir, 'leader-image.db')), 2);
  const a = new GraphStateMachine(join(dir, 'a.db'));
  a.apply([write(1, 'UNWIND range(1, 3000) AS i CREATE (:Pad {i: i, pad: $pad})', 'pad', { pad: 'y'.repeat(600) })]);
  const copy = a.snapshotTo(join(dir, 'own-image.db'));
  t.equal(a.restoreFrom(join(dir, 'leader-image.db')), 2, 'restored without waiting');
  a.apply([write(3, 'CREATE (:AfterRestore)', 'l3')]);
  await t.rejects(copy, 'the copy whose source was closed fails');
  t.same(a.graph.execute('MATCH (n) RETURN labels(n)[0] AS l ORDER BY l', {}, { now: 0, seed: 's' }).rows, [['AfterRestore'], ['FromLeader'], ['FromLeader']], 'the entry after the restore applied to the restored graph');
  t.equal(a.appliedIndex, 3);
  a.close();
  source.close();
});
