import t from 'tap';
import { RaftLog } from '../../../storage-node/raft/log.js';
import type { Entry } from '../../../storage-node/raft/messages.js';
import { MemoryStorage } from '../../../storage-node/raft/storage.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array([index]) });

t.test('maybeAppend rejects a mismatching predecessor and truncates a conflicting tail', async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1), ent(3, 2)]);
  const log = new RaftLog(storage);
  t.equal(log.maybeAppend(3, 1, [ent(4, 3)]), undefined, 'term at 3 is 2, not 1');
  const r = log.maybeAppend(2, 1, [ent(3, 3), ent(4, 3)]);
  t.same(r, { lastNew: 4, appendedFrom: 3 });
  t.equal(log.term(3), 3);
  t.equal(log.lastIndex(), 4);
  t.same(log.unstable.entries.map((e) => e.index), [3, 4], 'the conflicting entry is rewritten in the unstable tail');
});

t.test('appending below commit is refused', async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1)]);
  const log = new RaftLog(storage);
  log.commitTo(2);
  t.throws(() => log.maybeAppend(1, 1, [ent(2, 2)]));
});

t.test('findConflictByTerm finds the last index with a term no greater than asked', async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 4)]);
  const log = new RaftLog(storage);
  t.same(log.findConflictByTerm(5, 3), { index: 4, term: 2 });
  t.same(log.findConflictByTerm(5, 1), { index: 2, term: 1 });
  t.same(log.findConflictByTerm(9, 4), { index: 9, term: 0 }, 'beyond our log');
});

t.test('compaction keeps the snapshot term answerable and entries after it', async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
  storage.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array([9]));
  storage.compact(3);
  t.equal(storage.firstIndex(), 4);
  t.equal(storage.term(3), 2);
  t.equal(storage.term(2), undefined);
  t.throws(() => storage.entries(3, 5, Infinity));
  const log = new RaftLog(storage);
  t.equal(log.slice(2, 5, Infinity), undefined, 'compacted');
  t.same(log.slice(4, 5, Infinity)?.map((e) => e.index), [4]);
});

t.test('entries are limited by bytes but never empty', async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
  t.equal(storage.entries(1, 4, 0).length, 1);
  t.equal(storage.entries(1, 4, 2).length, 2);
});

t.test('storage append cuts a conflicting tail, skips what compaction covers, refuses gaps, and hands out copies', async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)]);
  const before = storage.entries(1, 5, Infinity);
  storage.append([ent(3, 2), ent(4, 2), ent(5, 2)]);
  t.same(storage.allEntries().map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 2]], 'the tail from 3 on is replaced');
  t.same(before.map((e) => e.term), [1, 1, 1, 1], 'entries() returned earlier are not changed by a later append');
  storage.append([ent(2, 3)]);
  t.equal(storage.lastIndex(), 2, 'a conflict at 2 drops everything after it');
  t.equal(storage.term(2), 3);
  t.equal(storage.term(3), undefined);
  storage.append([ent(3, 3), ent(4, 3)]);
  storage.createSnapshot(3, { voters: [1], learners: [] }, new Uint8Array([7]));
  storage.compact(3);
  storage.append([ent(2, 3), ent(3, 3), ent(4, 3), ent(5, 3)]);
  t.same(storage.allEntries().map((e) => e.index), [4, 5], 'entries at or before the compaction point are skipped');
  t.equal(storage.firstIndex(), 4);
  t.throws(() => storage.append([ent(7, 3)]), /gap/, 'a gap after the last entry is refused');
  t.equal(storage.lastIndex(), 5, 'and changes nothing');
  storage.append([ent(1, 1)]);
  t.equal(storage.lastIndex(), 5, 'an append wholly behind the compaction point changes nothing');
});
