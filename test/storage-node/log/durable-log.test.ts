import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DurableLog } from '../../../storage-node/log/durable-log.js';
import type { Entry } from '../../../storage-node/raft/messages.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const entry = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: 'normal', data: bytes(text) });
const decode = (e: Entry): string => new TextDecoder().decode(e.data);

function tempPath(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'raft.db');
}

t.test('entries and hard state survive a reopen', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [entry(1, 1), entry(2, 1), entry(3, 2)], hardState: { term: 2, vote: 3, commit: 2 } });
  log.close();
  const again = DurableLog.open(path);
  t.equal(again.lastIndex(), 3);
  t.equal(again.firstIndex(), 1);
  t.equal(again.term(3), 2);
  t.same(again.initialState().hardState, { term: 2, vote: 3, commit: 2 });
  t.same(again.entries(1, 4, Infinity).map(decode), ['e1', 'e2', 'e3']);
  again.close();
});

t.test('entries with empty payloads (a new leader\'s first entry) survive a reopen', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [entry(1, 1), { index: 2, term: 2, type: 'normal', data: new Uint8Array(0) }, entry(3, 2)] });
  log.close();
  const torn: number[] = [];
  const again = DurableLog.open(path, { onTornEntry: (i) => torn.push(i) });
  t.same(torn, [], 'nothing is mistaken for a torn write');
  t.equal(again.lastIndex(), 3);
  again.close();
});

t.test('an append at an existing index replaces the conflicting tail on disk too', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)] });
  log.persist({ entries: [entry(3, 2, 'new3')] });
  t.equal(log.lastIndex(), 3);
  log.close();
  const again = DurableLog.open(path);
  t.equal(again.lastIndex(), 3);
  t.same(again.entries(1, 4, Infinity).map(decode), ['e1', 'e2', 'new3']);
  t.equal(again.term(3), 2);
  again.close();
});

t.test('a damaged tail entry is cut on open, with everything after it', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)), hardState: { term: 1, vote: 1, commit: 5 } });
  log.close();
  // Simulate a torn write: entry 4's payload no longer matches its checksum.
  const raw = new Database(path);
  raw.prepare('UPDATE entries SET data = ? WHERE idx = 4').run(Buffer.from('garbage'));
  raw.close();
  const torn: number[] = [];
  const again = DurableLog.open(path, { onTornEntry: (i) => torn.push(i) });
  t.equal(again.lastIndex(), 3, 'log ends before the damaged entry');
  t.same(torn, [4, 5]);
  t.equal(again.initialState().hardState.commit, 3, 'commit never points past the log');
  again.close();
  const third = DurableLog.open(path);
  t.equal(third.lastIndex(), 3, 'the cut is durable');
  third.close();
});

t.test('a gap in indexes is treated as the end of the log', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [1, 2, 3].map((i) => entry(i, 1)) });
  log.close();
  const raw = new Database(path);
  raw.prepare('DELETE FROM entries WHERE idx = 2').run();
  raw.close();
  const again = DurableLog.open(path);
  t.equal(again.lastIndex(), 1);
  again.close();
});

t.test('snapshot and compaction keep the requested tail and survive a reopen', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [1, 2, 3, 4, 5, 6].map((i) => entry(i, i < 4 ? 1 : 2)) });
  await log.snapshotAndCompact(5, { voters: [1, 2, 3], learners: [] }, bytes('image@5'), 2);
  t.equal(log.firstIndex(), 4);
  t.equal(log.term(3), 1, 'the term just before the first entry is still known');
  log.close();
  const again = DurableLog.open(path);
  t.equal(again.firstIndex(), 4);
  t.equal(again.lastIndex(), 6);
  t.equal(again.snapshot().meta.index, 5);
  t.same(again.snapshot().meta.confState, { voters: [1, 2, 3], learners: [] });
  t.equal(new TextDecoder().decode(again.snapshot().data), 'image@5');
  t.throws(() => again.entries(2, 4, Infinity), 'compacted entries are gone');
  again.close();
});

t.test('an installed snapshot replaces the whole log', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path);
  log.persist({ entries: [1, 2, 3].map((i) => entry(i, 1)) });
  log.persist({
    entries: [],
    snapshot: { meta: { index: 10, term: 3, confState: { voters: [1, 2, 3], learners: [4] } }, data: bytes('img') },
    hardState: { term: 3, vote: 0, commit: 10 },
  });
  t.equal(log.firstIndex(), 11);
  t.equal(log.lastIndex(), 10);
  log.persist({ entries: [entry(11, 3)] });
  log.close();
  const again = DurableLog.open(path);
  t.equal(again.firstIndex(), 11);
  t.equal(again.lastIndex(), 11);
  t.equal(again.term(10), 3);
  t.same(again.initialState().confState, { voters: [1, 2, 3], learners: [4] });
  again.close();
});

t.test('on the writer thread a batch reaches the mirror only once durable, and in order', async (t) => {
  const path = tempPath(t);
  const log = DurableLog.open(path, { writer: 'thread' });
  const first = log.persist({ entries: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: 1, commit: 0 } });
  t.ok(first instanceof Promise, 'a batch with entries goes to the writer thread');
  t.equal(log.lastIndex(), 0, 'not in the mirror before the write is durable');
  t.throws(() => log.persist({ entries: [entry(3, 1)] }), /in flight/, 'one write at a time');
  await first;
  t.equal(log.lastIndex(), 2);
  t.equal(log.persist({ entries: [], hardState: { term: 1, vote: 1, commit: 2 } }), undefined, 'a commit-only change needs no disk write');
  t.equal(log.hardState().commit, 2);
  await log.persist({ entries: [entry(3, 2, 'new3')], hardState: { term: 2, vote: 1, commit: 2 } });
  await log.snapshotAndCompact(2, { voters: [1], learners: [] }, bytes('image@2'), 0);
  t.equal(log.firstIndex(), 3);
  await log.close();
  const again = DurableLog.open(path);
  t.same(again.entries(3, 4, Infinity).map(decode), ['new3']);
  t.equal(again.snapshot().meta.index, 2);
  t.same(again.initialState().hardState, { term: 2, vote: 1, commit: 2 }, 'the deferred commit index is saved with the next write');
  again.close();
});

t.test('snapshot images are files beside the log: adopted without a copy, replaced, strays removed, loss reported', async (t) => {
  const path = tempPath(t);
  const dir = dirname(path);
  const images = (): string[] => readdirSync(dir).filter((n) => n.includes('.snap-')).sort();
  const log = DurableLog.open(path, { writer: 'thread' });
  await log.persist({ entries: [1, 2, 3, 4, 5, 6].map((i) => entry(i, 1)), hardState: { term: 1, vote: 1, commit: 6 } });
  const made = join(dir, 'made-by-the-state-machine.db');
  writeFileSync(made, 'image@3');
  await log.snapshotAndCompact(3, { voters: [1], learners: [] }, bytes('image@3'), 0, made);
  t.notOk(existsSync(made), 'the image file is moved, not copied');
  t.same(images(), ['raft.db.snap-3']);
  await log.snapshotAndCompact(5, { voters: [1], learners: [] }, bytes('image@5'), 0);
  t.same(images(), ['raft.db.snap-5'], 'the replaced image is deleted once the new one is recorded');
  t.equal(readFileSync(join(dir, 'raft.db.snap-5'), 'utf8'), 'image@5');
  const raw = new Database(path, { readonly: true });
  const row = raw.prepare('SELECT file, bytes, length(data) AS inline FROM snapshot').get();
  raw.close();
  t.same(row, { file: 'raft.db.snap-5', bytes: 7, inline: 0 }, 'the row names the file and holds no bytes');
  await log.close();

  writeFileSync(join(dir, 'raft.db.snap-9.part'), 'torn');
  writeFileSync(join(dir, 'raft.db.snap-7'), 'never recorded');
  const again = DurableLog.open(path);
  t.equal(new TextDecoder().decode(again.snapshot().data), 'image@5');
  t.equal(again.firstIndex(), 6);
  t.same(images(), ['raft.db.snap-5'], 'image files no row names are removed on open');
  again.close();

  writeFileSync(join(dir, 'raft.db.snap-5'), 'image@');
  t.throws(() => DurableLog.open(path), /has 6 bytes, the log recorded 7/, 'a shortened image is refused');
  rmSync(join(dir, 'raft.db.snap-5'));
  t.throws(() => DurableLog.open(path), /snapshot image .* is missing/, 'a missing image is refused with its path');
});

t.test('a received snapshot is written to its own file and the older image goes', async (t) => {
  const path = tempPath(t);
  const dir = dirname(path);
  const log = DurableLog.open(path);
  log.persist({ entries: [1, 2].map((i) => entry(i, 1)) });
  await log.snapshotAndCompact(2, { voters: [1], learners: [] }, bytes('mine@2'), 0);
  log.persist({ entries: [], snapshot: { meta: { index: 10, term: 2, confState: { voters: [1, 2], learners: [] } }, data: bytes('leader@10') }, hardState: { term: 2, vote: 0, commit: 10 } });
  t.same(readdirSync(dir).filter((n) => n.includes('.snap-')), ['raft.db.snap-10']);
  log.close();
  const again = DurableLog.open(path);
  t.equal(new TextDecoder().decode(again.snapshot().data), 'leader@10');
  again.close();
});

t.test('a log whose snapshot image is stored inline (older format) still loads', async (t) => {
  const path = tempPath(t);
  const raw = new Database(path);
  raw.exec(`
    CREATE TABLE entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, conf TEXT NOT NULL, data BLOB NOT NULL);
  `);
  raw.prepare('INSERT INTO snapshot VALUES (1, 4, 2, ?, ?)').run(JSON.stringify({ voters: [1], learners: [] }), Buffer.from('inline@4'));
  raw.prepare('INSERT INTO meta VALUES (?, ?)').run('compacted', JSON.stringify({ index: 4, term: 2 }));
  raw.close();
  const log = DurableLog.open(path);
  t.equal(log.snapshot().meta.index, 4);
  t.equal(new TextDecoder().decode(log.snapshot().data), 'inline@4');
  t.equal(log.firstIndex(), 5);
  log.close();
});

t.test('compaction frees the log a slice per write, and rows not yet deleted stay invisible', async (t) => {
  const path = tempPath(t);
  const count = (): number => {
    const raw = new Database(path, { readonly: true });
    const n = (raw.prepare('SELECT count(*) AS n FROM entries WHERE idx <= 2400').get() as { n: number }).n;
    raw.close();
    return n;
  };
  const log = DurableLog.open(path);
  const all = Array.from({ length: 2500 }, (_, i) => entry(i + 1, 1));
  log.persist({ entries: all, hardState: { term: 1, vote: 1, commit: 2500 } });
  await log.snapshotAndCompact(2400, { voters: [1], learners: [] }, bytes('image@2400'), 0);
  t.equal(count(), 2400, 'the compaction only moves the compaction point');
  t.equal(log.firstIndex(), 2401);
  log.persist({ entries: [entry(2501, 1)] });
  t.equal(count(), 1400, 'the next write deletes one slice (1000 rows)');
  log.close();
  const again = DurableLog.open(path);
  t.equal(again.firstIndex(), 2401, 'rows at or below the compaction point are not read back');
  t.equal(again.lastIndex(), 2501);
  t.same(again.entries(2401, 2403, Infinity).map(decode), ['e2401', 'e2402']);
  again.persist({ entries: [entry(2502, 1)] });
  t.equal(count(), 400, 'each write deletes another slice, after a reopen too');
  again.persist({ entries: [entry(2503, 1)] });
  t.equal(count(), 0, 'until none is left');
  again.persist({ entries: [entry(2504, 1)] });
  t.equal(again.lastIndex(), 2504);
  again.close();
});
