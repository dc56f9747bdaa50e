import t from 'tap';
import { clusterStatus, systemViews } from '../../../storage-node/host/cluster-status.js';
import type { StatusInputs } from '../../../storage-node/host/cluster-status.js';
import type { Status } from '../../../storage-node/raft/index.js';

const members = new Map([
  [1, { name: 'node1', url: 'http://n1' }],
  [2, { name: 'node2', url: 'http://n2' }],
  [3, { name: 'node3', url: 'http://n3' }],
]);

function inputs(raft: Partial<Status>, overrides: Partial<StatusInputs> = {}): StatusInputs {
  const status: Status = { id: 1, term: 3, vote: 1, commit: 10, applied: 10, lastIndex: 10, leader: 1, role: 'leader', confState: { voters: [1, 2, 3], learners: [] }, progress: new Map(), ...raft };
  return {
    clusterId: 'prod',
    selfId: 1,
    selfName: 'node1',
    raft: status,
    applied: 10,
    lastIndex: 10,
    member: (id) => members.get(id),
    lagOf: () => undefined,
    heardAt: () => undefined,
    appliedOf: () => undefined,
    now: 10_000,
    electionTimeoutMs: 300,
    settings: { mode: 'synchronous', quorumSize: 0, syncReplicas: 1 },
    ...overrides,
  };
}

t.test("the leader's view is complete: every member's health, lag and applied index", async (t) => {
  const status = clusterStatus(
    inputs(
      { progress: new Map([[1, { match: 10, next: 11, state: 'replicate' }], [2, { match: 10, next: 11, state: 'replicate' }], [3, { match: 4, next: 5, state: 'probe' }]]) },
      { lagOf: (id) => (id === 1 ? 0 : id === 2 ? 5 : undefined), heardAt: (id) => (id === 2 ? 9_990 : id === 3 ? 1_000 : undefined), appliedOf: (id) => (id === 2 ? 10 : id === 3 ? 4 : undefined) },
    ),
  );
  t.equal(status.view, 'complete');
  t.equal(status.cluster_id, 'prod');
  t.match(status.nodes, [
    { id: 'node1', role: 'primary', status: 'healthy', replication_lag: 0, applied_index: 10 },
    { id: 'node2', role: 'standby', status: 'healthy', replication_lag: 5, applied_index: 10 },
    { id: 'node3', role: 'standby', status: 'unreachable', replication_lag: -1, applied_index: 4, match_index: 4 },
  ]);
  t.equal(status.quorum_status, 'degraded', 'two of three voters healthy');
  const views = systemViews(status);
  t.same(views['replication_status']?.map((r) => r['replication_lag_ms']), [0, 5, null], 'an unknown lag is null in the view, never a guess');
});

t.test("a follower's view is partial: itself and the leader it hears; the others are unknown", async (t) => {
  const status = clusterStatus(inputs({ id: 2, role: 'follower', leader: 1 }, { selfId: 2, selfName: 'node2', lagOf: (id) => (id === 2 ? 12 : undefined), heardAt: (id) => (id === 1 ? 9_950 : undefined) }));
  t.equal(status.view, 'partial');
  t.match(status.nodes, [
    { id: 'node1', role: 'primary', status: 'healthy', replication_lag: 0, applied_index: null },
    { id: 'node2', role: 'standby', status: 'healthy', replication_lag: 12, applied_index: 10 },
    { id: 'node3', role: 'standby', status: 'unknown', replication_lag: -1, applied_index: null },
  ]);
  t.equal(status.quorum_status, 'healthy', 'it hears a leader, which steps down without a quorum');
  const cut = clusterStatus(inputs({ id: 2, role: 'follower', leader: 1 }, { selfId: 2, selfName: 'node2', heardAt: () => 5_000 }));
  t.equal(cut.quorum_status, 'lost', 'a leader not heard for long is not vouched for');
  t.equal(cut.nodes[0]?.status, 'unreachable');
});

t.test('no leader: quorum lost', async (t) => {
  const status = clusterStatus(inputs({ role: 'candidate', leader: 0 }));
  t.equal(status.quorum_status, 'lost');
  t.equal(status.leader, null);
  t.equal(status.nodes[0]?.role, 'candidate');
});
