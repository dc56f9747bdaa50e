import t from 'tap';
import { chooseCandidate, majorityOf, voteRefusal } from '../../../storage-node/host/region/auto-failover.js';
import type { CandidateView, VoterState } from '../../../storage-node/host/region/auto-failover.js';

const view = (over: Partial<CandidateView> & { name: string }): CandidateView => ({ writePriority: 1, reachable: true, lagMs: 0, lagMaxMs: 100, position: { epoch: 1, index: 10 }, primary: false, ...over });

t.test('a majority of all configured regions', async (t) => {
  t.same([1, 2, 3, 4, 5].map(majorityOf), [1, 2, 2, 3, 3]);
});

t.test('the candidate: lowest write_priority among reachable regions within their lag bound, then the furthest position', async (t) => {
  t.equal(chooseCandidate([view({ name: 'us', primary: true, writePriority: 0 }), view({ name: 'eu', writePriority: 2 }), view({ name: 'ap', writePriority: 3 })]), 'eu', 'never the primary');
  t.equal(chooseCandidate([view({ name: 'eu', writePriority: 2, lagMs: 500 }), view({ name: 'ap', writePriority: 3 })]), 'ap', 'a region over its replication_lag_max is passed over');
  t.equal(chooseCandidate([view({ name: 'eu', writePriority: 2, lagMs: undefined }), view({ name: 'ap', writePriority: 3 })]), 'ap', 'unknown lag is not within a bound');
  t.equal(chooseCandidate([view({ name: 'eu', writePriority: 2, reachable: false }), view({ name: 'ap', writePriority: 3 })]), 'ap', 'an unreachable region is passed over');
  t.equal(chooseCandidate([view({ name: 'eu', writePriority: undefined }), view({ name: 'ap', writePriority: 3 })]), 'ap', 'a region without write_priority (a read replica) never takes writes');
  t.equal(chooseCandidate([view({ name: 'eu', position: { epoch: 1, index: 5 } }), view({ name: 'ap', position: { epoch: 1, index: 9 } })]), 'ap', 'same priority: the furthest position');
  t.equal(chooseCandidate([view({ name: 'eu', writePriority: undefined })]), undefined, 'none qualifies');
});

t.test('a vote: once per epoch, only without the primary, never for a region behind the voter', async (t) => {
  const voter: VoterState = { epoch: 1, votedFor: undefined, primaryUnreachableMs: 8_000, failoverAfterMs: 10_000, position: { epoch: 1, index: 10 }, primary: false, self: 'ap' };
  const request = { epoch: 2, candidate: 'eu', position: { epoch: 1, index: 10 } };
  t.equal(voteRefusal(voter, request), undefined, 'granted');
  t.match(voteRefusal({ ...voter, primaryUnreachableMs: undefined }, request), /still reaches the primary/);
  t.match(voteRefusal({ ...voter, primaryUnreachableMs: 2_000 }, request), /still reaches the primary/, 'not for long enough');
  t.match(voteRefusal({ ...voter, votedFor: { epoch: 2, candidate: 'us' } }, request), /voted for us/);
  t.equal(voteRefusal({ ...voter, votedFor: { epoch: 2, candidate: 'eu' } }, request), undefined, 'asking again gets the same vote');
  t.match(voteRefusal({ ...voter, position: { epoch: 1, index: 11 } }, request), /behind region ap/);
  t.match(voteRefusal({ ...voter, epoch: 2 }, request), /is at epoch 2/, 'a region already at that epoch does not vote for it');
  t.match(voteRefusal({ ...voter, primary: true }, request), /is the primary/);
  t.equal(voteRefusal({ ...voter, self: 'eu', primaryUnreachableMs: undefined }, request), undefined, 'a candidate votes for itself on its own judgement');
});
