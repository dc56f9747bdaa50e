import t from 'tap';
import { PeerLag, SelfLag, selfLagMs } from '../../../storage-node/host/lag.js';

const TIMEOUT = 300;
const LEADER = 7;

/** A follower that has a delivery baseline from its leader: the leader's clock equals ours, deliveries are instant. */
function follower(): SelfLag {
  const lag = new SelfLag();
  lag.leaderMessage(LEADER, 0, 0, 0, false);
  return lag;
}

/** A leader message stamped `sentAt` arriving at `now` (at once by default). */
const hear = (lag: SelfLag, commit: number, sentAt: number, now = sentAt, stalled = false): void => lag.leaderMessage(LEADER, commit, sentAt, now, stalled);

t.test('a replica that never heard a leader has unknown lag, whatever its indexes say', async (t) => {
  const lag = new SelfLag();
  lag.appliedTo(0);
  t.equal(lag.lagMs(1_000, TIMEOUT), undefined, 'just started: applied 0 >= commit seen 0, but no leader was heard');
  t.equal(selfLagMs({ leader: false, applied: 10, leaderCommitSeen: 10, caughtUpAt: 1_000, leaderContactAt: undefined }, 1_000, TIMEOUT), undefined);
  lag.leaderMessage(LEADER, 0, 1_000, 1_001, false);
  t.equal(lag.lagMs(1_001, TIMEOUT), undefined, "a sender's first message only sets its baseline: it cannot be dated");
  lag.leaderMessage(LEADER, 0, 1_100, 1_101, false);
  t.equal(lag.lagMs(1_101, TIMEOUT), 0);
});

t.test('lag is how long ago the replica last had applied everything the leader had committed', async (t) => {
  const lag = follower();
  hear(lag, 5, 1_000);
  lag.appliedTo(5);
  t.equal(lag.lagMs(1_020, TIMEOUT), 0, 'caught up');
  hear(lag, 50, 1_100);
  t.equal(lag.lagMs(1_150, TIMEOUT), 150, 'behind since the news it had fully applied (sent at 1000)');
  lag.appliedTo(49);
  t.equal(lag.lagMs(1_170, TIMEOUT), 170, 'almost is not caught up');
  lag.appliedTo(50);
  t.equal(lag.lagMs(1_190, TIMEOUT), 0);
});

t.test("the leader's real commit counts, not the capped commit a lagging follower is sent", async (t) => {
  const lag = follower();
  hear(lag, 10, 0);
  lag.appliedTo(10);
  // A heartbeat to a follower holding only up to 10 carries commit = min(match, commit) = 10, and leaderCommit = 60.
  hear(lag, 60, 200);
  t.equal(lag.lagMs(250, TIMEOUT), 250, 'behind by what the leader committed, not by what it was allowed to hear');
});

t.test('a replica cut off from the leader for an election timeout has unknown lag, even if it was caught up', async (t) => {
  const lag = follower();
  hear(lag, 5, 1_000);
  lag.appliedTo(5);
  t.equal(lag.lagMs(1_000 + TIMEOUT, TIMEOUT), 0, 'at the edge it still knows');
  t.equal(lag.lagMs(1_001 + TIMEOUT, TIMEOUT), undefined, 'past it, it cannot know what it missed');
  hear(lag, 5, 2_000);
  t.equal(lag.lagMs(2_001, TIMEOUT), 0, 'known again once a leader is heard');
});

t.test('a backlog delivered late (a paused process, a healed link) is dated by when it was sent, not when it arrived', async (t) => {
  const lag = follower();
  hear(lag, 5, 1_000);
  lag.appliedTo(5);
  // Paused from 1010 to 3000: heartbeats sent meanwhile arrive together at 3000, oldest first.
  hear(lag, 6, 1_100, 3_000);
  t.equal(lag.lagMs(3_000, TIMEOUT), undefined, 'its newest dated news is from 1100: too old to know the lag');
  hear(lag, 30, 2_900, 3_001);
  t.equal(lag.lagMs(3_001, TIMEOUT), 2_001, 'behind since the news of 1000 it had applied, not caught up "just now"');
  lag.appliedTo(30);
  t.equal(lag.lagMs(3_010, TIMEOUT), 0, 'caught up with news sent at 2900: fresh');
});

t.test("news that arrives while this node's own loop was stalled is not contact", async (t) => {
  const lag = follower();
  hear(lag, 5, 1_000);
  lag.appliedTo(5);
  hear(lag, 5, 1_500, 1_501, true);
  t.equal(lag.lagMs(1_501, TIMEOUT), undefined, 'undatable: the last dated contact is from 1000');
  hear(lag, 5, 1_600);
  t.equal(lag.lagMs(1_601, TIMEOUT), 0);
});

t.test('a sender whose clock is far ahead or behind ours is dated by its own baseline', async (t) => {
  const lag = new SelfLag();
  // The leader's clock runs 1 h ahead of ours; deliveries take 2 ms.
  const ahead = 3_600_000;
  lag.leaderMessage(LEADER, 1, 1_000 + ahead, 1_002, false);
  lag.leaderMessage(LEADER, 1, 1_100 + ahead, 1_102, false);
  lag.appliedTo(1);
  t.equal(lag.lagMs(1_102, TIMEOUT), 0);
  lag.leaderMessage(LEADER, 2, 1_150 + ahead, 1_900, false);
  t.equal(lag.lagMs(1_900, TIMEOUT), undefined, 'a message 750 ms late is old news, whatever the clocks say');
});

t.test('a leader is never behind itself; stepping down forgets the contact until a new leader is heard', async (t) => {
  const lag = follower();
  lag.setLeader(true);
  t.equal(lag.lagMs(100_000, TIMEOUT), 0);
  lag.setLeader(false);
  t.equal(lag.lagMs(201, TIMEOUT), undefined);
  hear(lag, 0, 300);
  t.equal(lag.lagMs(301, TIMEOUT), 0);
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
