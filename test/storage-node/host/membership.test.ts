import t from 'tap';
import { encodeConfChange } from '../../../storage-node/raft/index.js';
import type { ConfChange, Entry } from '../../../storage-node/raft/index.js';
import { AppliedMembership } from '../../../storage-node/host/membership.js';

const conf = (index: number, change: ConfChange): Entry => ({ index, term: 2, type: 'confChange', data: encodeConfChange(change) });
const write = (index: number): Entry => ({ index, term: 2, type: 'normal', data: new Uint8Array([1]) });

t.test('a snapshot at an index gets the membership applied at that index, not a later one', async (t) => {
  const m = new AppliedMembership({ voters: [1, 2, 3], learners: [] }, 0);
  m.committed([write(1), conf(2, { type: 'addLearner', nodeId: 4 }), write(3), conf(4, { type: 'addVoter', nodeId: 4 }), write(5)]);
  t.same(m.at(1), { voters: [1, 2, 3], learners: [] });
  t.same(m.at(3), { voters: [1, 2, 3], learners: [4] }, 'the learner is in from index 2');
  t.same(m.at(5), { voters: [1, 2, 3, 4], learners: [] }, 'promoted at 4');
  m.compacted(3);
  t.same(m.at(3), { voters: [1, 2, 3], learners: [4] }, 'what a later snapshot needs is kept');
  t.same(m.at(5), { voters: [1, 2, 3, 4], learners: [] });
});

t.test('entries already seen are not applied twice; a restored snapshot replaces the history', async (t) => {
  const m = new AppliedMembership({ voters: [1], learners: [] }, 0);
  const add = conf(2, { type: 'addVoter', nodeId: 2 });
  m.committed([add]);
  m.committed([add]);
  t.same(m.at(9), { voters: [1, 2], learners: [] });
  m.restored({ voters: [1, 2, 3], learners: [] }, 100);
  t.same(m.at(150), { voters: [1, 2, 3], learners: [] });
  m.committed([conf(120, { type: 'removeNode', nodeId: 3 })]);
  t.same(m.at(119), { voters: [1, 2, 3], learners: [] });
  t.same(m.at(120), { voters: [1, 2], learners: [] });
});
