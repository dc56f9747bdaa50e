import t from 'tap';
import type { Message, NodeId } from '../../../storage-node/raft/index.js';
import { TestNetwork } from '../../sim/network.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('pre-vote: a partitioned node rejoining does not disrupt the leader', async (t) => {
  for (const preVote of [true, false]) {
    const net = new TestNetwork([1, 2, 3], { preVote });
    net.campaign(1);
    const term = net.raft(1).term;
    net.isolate(3);
    net.tick(50);
    net.heal();
    net.tick(25);
    if (preVote) {
      t.equal(net.raft(3).term, term, 'the isolated node did not raise its term');
      t.equal(net.raft(1).role, 'leader', 'the leader kept its role');
      t.equal(net.raft(1).term, term);
    } else {
      t.ok(net.raft(1).term > term, 'without pre-vote the rejoining node forces a new term');
    }
  }
});

t.test('check-quorum: an isolated leader steps down within an election timeout', async (t) => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
  net.campaign(1);
  net.isolate(1);
  net.tick(25);
  t.not(net.raft(1).role, 'leader', 'old leader stepped down');
  const lead = net.leader();
  t.ok(lead === 2 || lead === 3, 'the majority elected a new leader');
  t.equal(net.raft(1).propose(enc('late')).accepted, false, 'the deposed leader refuses writes');
});

t.test('check-quorum lease: followers ignore votes while they hear from their leader', async (t) => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: true });
  net.campaign(1);
  const term = net.raft(1).term;
  net.campaign(3);
  net.stabilize();
  t.equal(net.raft(1).role, 'leader', 'the leader survives a disruptive campaign');
  t.equal(net.raft(2).term, term, 'follower kept its term');
});

t.test('ReadIndex: the leader confirms leadership with a heartbeat round before answering', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  const commit = net.raft(1).log.committed;
  t.ok(net.host(1).raw.readIndex('ctx-1').accepted);
  net.stabilize();
  t.same(net.host(1).readStates, [{ index: commit, ctx: 'ctx-1' }]);
  const hb = net.delivered.filter((m) => m.type === 'heartbeat' && m.context === 'ctx-1');
  t.equal(hb.length, 2, 'heartbeats carried the read context');

  t.ok(net.host(2).raw.readIndex('ctx-2').accepted, 'a follower forwards to the leader');
  net.stabilize();
  t.same(net.host(2).readStates, [{ index: commit, ctx: 'ctx-2' }]);

  net.isolate(1);
  net.host(1).raw.readIndex('ctx-3');
  net.stabilize();
  t.equal(net.host(1).readStates.length, 1, 'a leader cut off from the quorum cannot confirm a read');
});

t.test('ReadIndex waits for the new leader to commit an entry of its term', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.dropIf = (m) => m.type === 'appResp';
  net.campaign(2);
  t.equal(net.raft(2).role, 'leader');
  net.host(2).raw.readIndex('early');
  net.stabilize();
  t.equal(net.host(2).readStates.length, 0, 'no read point before the noop commits');
  net.dropIf = undefined;
  net.tick(2);
  t.equal(net.host(2).readStates.length, 1);
  t.equal(net.host(2).readStates[0]?.index, net.raft(2).log.committed);
});

t.test('learners receive the log but never vote or count toward commit', async (t) => {
  const net = new TestNetwork([1, 2, 3], {}, 1, [4]);
  net.campaign(1);
  net.propose(1, 'a');
  t.same(net.appliedText(4), ['a'], 'the learner applies committed entries');
  net.isolate(1);
  net.uncut(1, 4);
  const before = net.raft(1).log.committed;
  net.propose(1, 'b');
  net.tick(3, [1, 4]);
  t.equal(net.raft(4).log.lastIndex(), net.raft(1).log.lastIndex(), 'the learner stored the new entry');
  t.equal(net.raft(1).log.committed, before, 'leader + learner is not a quorum');
  net.heal();
  net.isolate(4);
  net.tick(100, [4]);
  t.equal(net.raft(4).role, 'follower', 'a learner never campaigns');
});

t.test('membership: add a learner, promote it, remove the leader; one change at a time', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  net.addHost(4);
  const add = net.host(1).raw.proposeConfChange({ type: 'addLearner', nodeId: 4 });
  t.ok(add.accepted);
  const second = net.host(1).raw.proposeConfChange({ type: 'addVoter', nodeId: 4 });
  t.same(second.accepted ? '' : second.reason, 'confChangePending', 'a second change waits for the first to commit');
  net.stabilize();
  net.tick(2);
  t.same(net.raft(1).confState(), { voters: [1, 2, 3], learners: [4] });
  t.same(net.raft(4).confState(), { voters: [1, 2, 3], learners: [4] }, 'the new node learned the configuration from the log');
  t.same(net.appliedText(4), ['a'], 'and caught up');

  t.ok(net.host(1).raw.proposeConfChange({ type: 'addVoter', nodeId: 4 }).accepted);
  net.stabilize();
  t.same(net.raft(1).confState().voters, [1, 2, 3, 4], 'promoted');

  t.ok(net.host(1).raw.proposeConfChange({ type: 'removeNode', nodeId: 1 }).accepted);
  net.stabilize();
  net.tick(2);
  t.not(net.raft(1).role, 'leader', 'the removed leader stepped down once its removal committed');
  const lead = net.electLeader();
  t.not(lead, 1);
  t.same(net.raft(lead).confState().voters, [2, 3, 4]);
  t.ok(net.propose(lead, 'b').accepted);
  t.same(net.appliedText(4), ['a', 'b']);
  t.equal(net.host(1).raw.proposeConfChange({ type: 'removeNode', nodeId: 9 }).accepted, false, 'non-leaders refuse');
});

t.test('leadership transfer: the leader catches up the target, stops taking writes, then sends TimeoutNow', async (t) => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: true, preVote: true });
  net.campaign(1);
  net.isolate(3);
  net.propose(1, 'a');
  net.heal();
  net.dropIf = (m) => m.type === 'timeoutNow';
  t.ok(net.host(1).raw.transferLeadership(3).accepted);
  const during = net.host(1).raw.propose(enc('x'));
  t.same(during.accepted ? '' : during.reason, 'transferring', 'writes are refused during the transfer');
  net.stabilize();
  t.equal(net.raft(3).log.lastIndex(), net.raft(1).log.lastIndex(), 'the target was caught up first');
  net.dropIf = undefined;
  net.tick(11);
  t.equal(net.raft(1).role, 'leader', 'an unfinished transfer is abandoned after an election timeout');
  t.ok(net.propose(1, 'b').accepted);
  t.ok(net.host(1).raw.transferLeadership(3).accepted);
  net.stabilize();
  t.equal(net.leader(), 3, 'the target campaigned despite the followers’ lease');
  t.same(net.appliedText(3), ['a', 'b']);
});

t.test('snapshot catch-up: a follower behind the compacted log receives the snapshot in chunks', async (t) => {
  const net = new TestNetwork([1, 2, 3], { maxSnapshotChunkBytes: 100, maxInflight: 3 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 30; i++) net.propose(1, `w${i}`);
  const leader = net.host(1);
  const image = new Uint8Array(1050).map((_, i) => i % 251);
  leader.storage.createSnapshot(leader.appliedIndex, net.raft(1).confState(), image);
  leader.storage.compact(leader.appliedIndex);
  net.heal();
  let inflightMax = 0;
  let acked = 0;
  let sent = 0;
  net.dropIf = (m: Message) => {
    if (m.type === 'snap' && m.to === 3) sent++;
    if (m.type === 'snapResp') acked++;
    inflightMax = Math.max(inflightMax, sent - acked);
    return false;
  };
  net.tick(3);
  const chunks = net.delivered.filter((m) => m.type === 'snap' && m.to === 3);
  t.equal(chunks.length, 11, 'eleven chunks of at most 100 bytes');
  t.ok(chunks.every((m) => (m.chunk?.data.byteLength ?? 0) <= 100));
  t.ok(inflightMax <= 3, `no more than maxInflight chunks outstanding (${inflightMax})`);
  t.equal(net.host(3).snapshotsInstalled, 1);
  t.same(Buffer.from(net.host(3).storage.snapshot().data), Buffer.from(image), 'the image arrived intact');
  t.equal(net.host(3).appliedIndex, net.host(1).appliedIndex);
  net.propose(1, 'after');
  t.same(net.appliedText(3), ['after'], 'replication continues after the snapshot');
});

t.test('snapshot transfer survives lost chunks', async (t) => {
  const net = new TestNetwork([1, 2, 3], { maxSnapshotChunkBytes: 10 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.propose(1, `w${i}`);
  const leader = net.host(1);
  leader.storage.createSnapshot(leader.appliedIndex, net.raft(1).confState(), new Uint8Array(95).fill(7));
  leader.storage.compact(leader.appliedIndex);
  net.heal();
  let n = 0;
  const lose = new Set([10, 40, 70]);
  net.dropIf = (m) => {
    if (m.type !== 'snap' || m.chunk === undefined) return false;
    n++;
    return lose.delete(m.chunk.offset);
  };
  net.tick(30);
  t.equal(lose.size, 0, 'three chunks were lost');
  t.ok(n > 10, `chunks were resent after losses (${n} sent)`);
  t.equal(net.host(3).snapshotsInstalled, 1);
  t.equal(net.host(3).appliedIndex, leader.appliedIndex);
});

t.test('flow control: no more than maxInflight appends outstanding to a follower', async (t) => {
  const net = new TestNetwork([1, 2, 3], { maxInflight: 2, maxEntriesPerMsg: 1 });
  net.campaign(1);
  net.propose(1, 'warm');
  t.equal(net.raft(1).tracker.progress.get(2)?.state, 'replicate');
  let appendsTo2 = 0;
  net.dropIf = (m) => {
    if (m.to === 2 && m.type === 'app' && m.entries.length > 0) appendsTo2++;
    return m.to === 2;
  };
  for (let i = 0; i < 10; i++) net.propose(1, `w${i}`);
  t.equal(appendsTo2, 2, 'the window is two appends');
  t.equal(net.raft(1).tracker.progress.get(2)?.inflights.count(), 2);
  net.dropIf = undefined;
  net.tick(3);
  t.equal(net.raft(2).log.lastIndex(), net.raft(1).log.lastIndex(), 'heartbeats reopen the window and replication resumes');
});

t.test('coalescing: small appends wait for the one in flight, then go out as one', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'warm');
  const held: Message[] = [];
  let appendsTo2: Message[] = [];
  let appendsTo3 = 0;
  net.dropIf = (m) => {
    if (m.type === 'app' && m.entries.length > 0) {
      if (m.to === 2) appendsTo2.push(m);
      if (m.to === 3) appendsTo3++;
    }
    // Node 2's answers are held back: its first append stays in flight.
    if (m.from === 2 && m.type === 'appResp') {
      held.push(m);
      return true;
    }
    return false;
  };
  for (let i = 0; i < 4; i++) net.propose(1, `w${i}`);
  t.equal(appendsTo3, 4, 'a follower that answers at once gets one append per proposal');
  t.equal(appendsTo2.length, 1, 'while its append is unanswered, node 2 gets no other');
  t.same(appendsTo2[0]?.entries.map((e) => new TextDecoder().decode(e.data)), ['w0']);
  appendsTo2 = [];
  const answer = held.shift() as Message;
  net.dropIf = undefined;
  net.host(1).raw.step(answer);
  net.stabilize();
  t.equal(appendsTo2.length, 0, '(counting stopped)');
  const lastTo2 = net.delivered.filter((m) => m.to === 2 && m.type === 'app' && m.entries.length > 0).at(-1);
  t.same(lastTo2?.entries.map((e) => new TextDecoder().decode(e.data)), ['w1', 'w2', 'w3'], 'the answer releases the waiting entries in one append');
  t.equal(net.raft(2).log.lastIndex(), net.raft(1).log.lastIndex());
  t.equal(net.raft(2).log.committed, net.raft(1).log.committed, 'and the commit index with them');

  t.test('a heartbeat answer sends what waits, so a lost append costs one heartbeat', async (t) => {
    // Every append to node 2 is lost for a while, the empty ones that carry the commit index included.
    net.dropIf = (m) => m.to === 2 && m.type === 'app';
    net.propose(1, 'lost');
    net.propose(1, 'waiting');
    t.ok(net.raft(2).log.lastIndex() < net.raft(1).log.lastIndex(), 'node 2 is missing entries');
    net.dropIf = undefined;
    net.tick(3);
    t.equal(net.raft(2).log.lastIndex(), net.raft(1).log.lastIndex(), 'caught up after a heartbeat');
  });

  t.test('without coalescing every proposal goes out at once', async (t) => {
    const plain = new TestNetwork([1, 2, 3], { coalesceAppends: false });
    plain.campaign(1);
    plain.propose(1, 'warm');
    let sent = 0;
    plain.dropIf = (m) => {
      if (m.to === 2 && m.type === 'app' && m.entries.length > 0) sent++;
      return m.from === 2 && m.type === 'appResp';
    };
    for (let i = 0; i < 4; i++) plain.propose(1, `w${i}`);
    t.equal(sent, 4);
  });
});

t.test('batching: entries proposed between Readies go out in one append per follower', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const before = net.delivered.length;
  for (let i = 0; i < 5; i++) net.host(1).raw.propose(enc(`w${i}`));
  net.stabilize();
  const appends = net.delivered.slice(before).filter((m) => m.type === 'app' && m.entries.length > 0);
  t.equal(appends.length, 2);
  t.ok(appends.every((m) => m.entries.length === 5));
});

t.test('heartbeats carry min(match, commit) and leave a field for the leader’s clock', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  net.propose(1, 'a');
  net.heal();
  const before = net.delivered.length;
  net.tick(1, [1]);
  const hbs = net.delivered.slice(before).filter((m) => m.type === 'heartbeat');
  const to2 = hbs.find((m) => m.to === 2);
  const to3 = hbs.find((m) => m.to === 3);
  t.equal(to2?.commit, net.raft(1).log.committed);
  t.ok((to3?.commit ?? Infinity) < net.raft(1).log.committed, 'a lagging follower gets its match, not the commit');
  t.equal(to2?.leaderTime, undefined, 'the core never sets leaderTime; the host stamps it');
  t.equal(to3?.leaderCommit, net.raft(1).log.committed, "a lagging follower still learns the leader's real commit (its lag)");
  t.equal(to2?.leaderCommit, net.raft(1).log.committed);
});

t.test('appends carry the leader’s real commit as leaderCommit', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  const before = net.delivered.length;
  net.propose(1, 'a');
  const apps = net.delivered.slice(before).filter((m) => m.type === 'app');
  t.ok(apps.length > 0);
  for (const m of apps) t.equal(m.leaderCommit, m.commit, 'an append carries the commit itself in both fields');
});

t.test('ReadIndex: a lost heartbeat round is retried by the next periodic heartbeat, as etcd does', async (t) => {
  const net = new TestNetwork([1, 2, 3], { heartbeatTick: 2, electionTick: 10 });
  net.campaign(1);
  net.propose(1, 'a');
  const commit = net.raft(1).log.committed;
  // The read's own heartbeat round is lost; nothing else is.
  net.dropIf = (m) => m.type === 'heartbeat' && m.context === 'lost-round';
  net.host(1).raw.readIndex('lost-round');
  net.stabilize();
  t.equal(net.host(1).readStates.length, 0, 'no answer while the round is lost');
  net.dropIf = undefined;
  net.tick(2, [1]);
  net.stabilize();
  t.same(net.host(1).readStates, [{ index: commit, ctx: 'lost-round' }], 'the next heartbeat carried the pending read and confirmed it');
});

t.test('restart: a node recovers term, vote, log and configuration from storage', async (t) => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  net.propose(1, 'a');
  const term = net.raft(2).term;
  const last = net.raft(2).log.lastIndex();
  net.restart(2);
  t.equal(net.raft(2).term, term);
  t.equal(net.raft(2).vote, 1);
  t.equal(net.raft(2).log.lastIndex(), last);
  t.same(net.raft(2).confState().voters, [1, 2, 3] as NodeId[]);
  net.propose(1, 'b');
  t.same(net.appliedText(2), ['a', 'b'], 'applies only new entries after restart');
});

t.test('a leader reported down is replaced within a few ticks, not an election timeout', async (t) => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: true, preVote: true, electionTick: 10, heartbeatTick: 2 });
  net.campaign(1);
  const term = net.raft(1).term;
  net.isolate(1);
  net.host(2).raw.reportLeaderDown(1);
  net.host(3).raw.reportLeaderDown(1);
  net.tick(3);
  const lead = net.leader();
  t.ok(lead === 2 || lead === 3, `a new leader after 3 ticks (election timeout is 10): ${String(lead)}`);
  t.ok(net.raft(2).term > term);
});

t.test('a false "leader down" report from one follower changes no term', async (t) => {
  const net = new TestNetwork([1, 2, 3], { checkQuorum: true, preVote: true, electionTick: 10, heartbeatTick: 2 });
  net.campaign(1);
  const term = net.raft(1).term;
  net.host(2).raw.reportLeaderDown(1);
  net.tick(5);
  t.equal(net.raft(1).role, 'leader', 'the live leader keeps leading');
  t.equal(net.raft(1).term, term, 'the pre-vote was refused under the lease, so no term was spent');
  t.equal(net.raft(2).lead, 1, 'the follower follows the leader again after its next heartbeat');
});
