import t from 'tap';
import { isAcknowledged, validateSetting } from '../../../storage-node/replication/modes.js';
import type { AckInputs, ReplicationSettings } from '../../../storage-node/replication/modes.js';

const sync: ReplicationSettings = { mode: 'synchronous', quorumSize: 0, syncReplicas: 1 };
const at = (over: Partial<AckInputs>): AckInputs => ({
  index: 10,
  leaderDurable: 10,
  followerMatches: [0, 0],
  applied: false,
  needsResult: false,
  ...over,
});

t.test('synchronous waits for apply on the leader and a majority of durable copies', async (t) => {
  t.notOk(isAcknowledged(sync, at({ followerMatches: [10, 10], applied: false })), 'not before apply');
  t.notOk(isAcknowledged(sync, at({ followerMatches: [9, 9], applied: true })), 'leader alone is not a majority of 3');
  t.ok(isAcknowledged(sync, at({ followerMatches: [10, 0], applied: true })), 'leader + 1 of 3');
});

t.test('synchronous with QUORUM SIZE above a majority waits for that many copies', async (t) => {
  const q3 = { ...sync, quorumSize: 3 };
  t.notOk(isAcknowledged(q3, at({ followerMatches: [10, 0], applied: true })));
  t.ok(isAcknowledged(q3, at({ followerMatches: [10, 12], applied: true })));
  const q1 = { ...sync, quorumSize: 1 };
  t.notOk(isAcknowledged(q1, at({ followerMatches: [0, 0], applied: true })), 'never below a majority');
});

t.test('semi-synchronous answers once the leader and SYNC REPLICAS followers hold the entry', async (t) => {
  const semi: ReplicationSettings = { mode: 'semi_synchronous', quorumSize: 0, syncReplicas: 1 };
  t.notOk(isAcknowledged(semi, at({ followerMatches: [0, 0, 0, 0] })));
  t.ok(isAcknowledged(semi, at({ followerMatches: [10, 0, 0, 0] })), 'before a majority of 5, before apply');
  t.notOk(isAcknowledged(semi, at({ leaderDurable: 9, followerMatches: [10, 10, 0, 0] })), 'the leader must hold it too');
  t.notOk(isAcknowledged(semi, at({ followerMatches: [10, 0, 0, 0], needsResult: true })), 'rows wait for apply');
});

t.test('a leader that appended its own removal counts toward no quorum: only the voters left do', async (t) => {
  // Seed 803 of the simulation: voters [1,2,3,5] after leader 4 removes itself; the entry is on 4, 1 and 2.
  const q4 = { ...sync, quorumSize: 4 };
  const leaving = { index: 178, leaderDurable: 178, followerMatches: [178, 178, 178, 0], applied: true, needsResult: false };
  t.ok(isAcknowledged(q4, leaving), 'counted as a voter, the leader makes four copies');
  t.notOk(isAcknowledged(q4, { ...leaving, leaderVotes: false, followerMatches: [178, 178, 0, 0] }), 'not a voter: two of the four voters hold it');
  t.ok(isAcknowledged(q4, { ...leaving, leaderVotes: false, followerMatches: [178, 178, 178, 178] }));
  t.notOk(isAcknowledged(sync, at({ leaderVotes: false, followerMatches: [10, 0, 0], applied: true })), 'a majority of the three voters left');
  t.ok(isAcknowledged(sync, at({ leaderVotes: false, followerMatches: [10, 10, 0], applied: true })));
  const semi: ReplicationSettings = { mode: 'semi_synchronous', quorumSize: 0, syncReplicas: 1 };
  t.notOk(isAcknowledged(semi, at({ leaderVotes: false, followerMatches: [0, 0] })), 'its own copy is not a voter copy');
  t.ok(isAcknowledged(semi, at({ leaderVotes: false, followerMatches: [10, 0] })));
});

t.test('asynchronous answers once the leader holds the entry durably', async (t) => {
  const async: ReplicationSettings = { mode: 'asynchronous', quorumSize: 0, syncReplicas: 0 };
  t.ok(isAcknowledged(async, at({})));
  t.notOk(isAcknowledged(async, at({ leaderDurable: 9 })));
  t.notOk(isAcknowledged(async, at({ needsResult: true })));
  t.ok(isAcknowledged(async, at({ needsResult: true, applied: true })));
});

t.test('settings are validated against the cluster size', async (t) => {
  t.equal(validateSetting('replication_mode', 'synchronous', 3), undefined);
  t.match(validateSetting('replication_mode', 'eventual', 3), /one of/);
  t.match(validateSetting('quorum_size', 4, 3), /more than/);
  t.match(validateSetting('quorum_size', 0, 3), /positive/);
  t.equal(validateSetting('sync_replicas', 2, 3), undefined);
  t.match(validateSetting('sync_replicas', 3, 3), /more than/);
});
