import t from 'tap';
import { PeerLag, SelfLag, selfLagMs } from '../../../storage-node/host/lag.js';

const TIMEOUT = 300;

t.test('a replica that never heard a leader has unknown lag, whatever its indexes say', async (t) => {
  const lag = new SelfLag();
  lag.appliedTo(0, 1_000);
  t.equal(lag.lagMs(1_000, TIMEOUT), undefined, 'just started: applied 0 >= commit seen 0, but no leader was heard');
  t.equal(selfLagMs({ leader: false, applied: 10, leaderCommitSeen: 10, caughtUpAt: 1_000, leaderContactAt: undefined }, 1_000, TIMEOUT), undefined);
});

t.test('lag is how long ago the replica last had applied everything the leader had committed', async (t) => {
  const lag = new SelfLag();
  lag.leaderMessage(5, 1_000);
  lag.appliedTo(5, 1_010);
  t.equal(lag.lagMs(1_020, TIMEOUT), 0, 'caught up');
  lag.leaderMessage(50, 1_100);
  t.equal(lag.lagMs(1_150, TIMEOUT), 140, 'behind since it was last caught up at 1010');
  lag.appliedTo(49, 1_160);
  t.equal(lag.lagMs(1_170, TIMEOUT), 160, 'almost is not caught up');
  lag.appliedTo(50, 1_180);
  t.equal(lag.lagMs(1_190, TIMEOUT), 0);
});

t.test("the leader's real commit counts, not the capped commit a lagging follower is sent", async (t) => {
  const lag = new SelfLag();
  lag.leaderMessage(10, 0);
  lag.appliedTo(10, 0);
  // A heartbeat to a follower holding only up to 10 carries commit = min(match, commit) = 10, and leaderCommit = 60.
  lag.leaderMessage(60, 200);
  t.equal(lag.lagMs(250, TIMEOUT), 250, 'behind by what the leader committed, not by what it was allowed to hear');
});

t.test('a replica cut off from the leader for an election timeout has unknown lag, even if it was caught up', async (t) => {
  const lag = new SelfLag();
  lag.leaderMessage(5, 1_000);
  lag.appliedTo(5, 1_000);
  t.equal(lag.lagMs(1_000 + TIMEOUT, TIMEOUT), 0, 'at the edge it still knows');
  t.equal(lag.lagMs(1_001 + TIMEOUT, TIMEOUT), undefined, 'past it, it cannot know what it missed');
  lag.leaderMessage(5, 5_000);
  t.equal(lag.lagMs(5_000, TIMEOUT), 0, 'known again once a leader is heard');
});

t.test('a leader is never behind itself; stepping down forgets the contact until a new leader is heard', async (t) => {
  const lag = new SelfLag();
  lag.setLeader(true, 100);
  t.equal(lag.lagMs(100_000, TIMEOUT), 0);
  lag.setLeader(false, 200);
  t.equal(lag.lagMs(201, TIMEOUT), undefined);
  lag.leaderMessage(0, 300);
  t.equal(lag.lagMs(300, TIMEOUT), 0);
});

t.test('the leader sees each member by the applied index it reports; silence makes it unknown', async (t) => {
  const peers = new PeerLag();
  t.equal(peers.lagMs(2, 10, 0, TIMEOUT), undefined, 'never heard');
  peers.heard(2, 10, 10, 1_000);
  t.equal(peers.lagMs(2, 10, 1_000, TIMEOUT), 0);
  t.equal(peers.appliedOf(2), 10);
  peers.committed(20, 1_100);
  peers.heard(2, 12, 20, 1_150);
  t.equal(peers.lagMs(2, 20, 1_200, TIMEOUT), 200, 'behind since 1000');
  peers.heard(2, undefined, 20, 1_250);
  t.equal(peers.appliedOf(2), 12, 'a message without a report keeps the last one');
  peers.heard(2, 20, 20, 1_300);
  t.equal(peers.lagMs(2, 20, 1_300, TIMEOUT), 0);
  t.equal(peers.lagMs(2, 20, 1_300 + TIMEOUT + 1, TIMEOUT), undefined, 'silent for an election timeout: unknown, never a stale 0');
  peers.forget(2);
  t.equal(peers.heardAt(2), undefined);
});
