import t from 'tap';
import { committedIndex, hasQuorum, majority, voteResult } from '../../../storage-node/raft/quorum.js';

t.test('majority is more than half', async (t) => {
  t.same([1, 2, 3, 4, 5].map(majority), [1, 2, 2, 3, 3]);
});

t.test('committed index is the highest index a majority of voters stored', async (t) => {
  const match = new Map([[1, 10], [2, 7], [3, 3]]);
  t.equal(committedIndex([1, 2, 3], (id) => match.get(id) ?? 0), 7);
  const five = new Map([[1, 9], [2, 9], [3, 5], [4, 1], [5, 0]]);
  t.equal(committedIndex([1, 2, 3, 4, 5], (id) => five.get(id) ?? 0), 5);
  t.equal(committedIndex([1, 2, 3, 4], (id) => ({ 1: 8, 2: 6, 3: 4, 4: 2 })[id] ?? 0), 4);
  t.equal(committedIndex([], () => 5), 0);
});

t.test('vote results are won, lost, or pending', async (t) => {
  t.equal(voteResult([1, 2, 3], new Map([[1, true]])), 'pending');
  t.equal(voteResult([1, 2, 3], new Map([[1, true], [2, true]])), 'won');
  t.equal(voteResult([1, 2, 3], new Map([[1, true], [2, false], [3, false]])), 'lost');
  t.equal(voteResult([1, 2, 3, 4], new Map([[1, true], [2, true]])), 'pending');
  t.equal(voteResult([1, 2, 3, 4], new Map([[1, true], [2, false], [3, false]])), 'lost');
});

t.test('hasQuorum ignores non-voters', async (t) => {
  t.equal(hasQuorum([1, 2, 3], new Set([1, 9, 10])), false);
  t.equal(hasQuorum([1, 2, 3], new Set([1, 3])), true);
});
