import t from 'tap';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
