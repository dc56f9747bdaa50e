/**
 * The cluster status a node reports (`GET /api/v1/cluster/status`, the
 * watch stream, metrics) and the rows of the `system.*` views, from the
 * node's own knowledge. Pure: the host hands in a snapshot of its state.
 *
 * Only the leader hears from every member, so only its answer is
 * `view: complete`. A follower reports itself and the leader it follows
 * (healthy while it hears it) and says `partial`: peers it cannot see are
 * `unknown` with lag -1 (null in the views), never guessed.
 */
import { NO_NODE } from '../raft/index.js';
import type { NodeId, Status } from '../raft/index.js';
import type { ClusterStatus, NodeRole, NodeStatusEntry } from '../../shared/protocol/cluster.js';
import { majority } from '../replication/modes.js';
import type { ReplicationSettings } from '../replication/modes.js';
import type { MemberSpec } from '../replication/members.js';

export interface StatusInputs {
  clusterId: string;
  selfId: NodeId;
  selfName: string;
  raft: Status;
  applied: number;
  /** This node's durable last log index. */
  lastIndex: number;
  member(id: NodeId): MemberSpec | undefined;
  /** A member's lag as this node knows it (ms), undefined when unknown (host/lag.ts). */
  lagOf(id: NodeId): number | undefined;
  /** Local time of the last message from a member. */
  heardAt(id: NodeId): number | undefined;
  /** How far a member has applied, as it last reported (leader only). */
  appliedOf(id: NodeId): number | undefined;
  now: number;
  electionTimeoutMs: number;
  settings: ReplicationSettings;
}

export function roleOf(raft: Status, selfId: NodeId, id: NodeId): NodeRole | 'unknown' {
  if (raft.confState.learners.includes(id)) return 'learner';
  if (id === raft.leader) return 'primary';
  if (id === selfId) return raft.role === 'candidate' || raft.role === 'preCandidate' ? 'candidate' : 'standby';
  return raft.confState.voters.includes(id) ? 'standby' : 'unknown';
}

export function clusterStatus(inputs: StatusInputs): ClusterStatus {
  const { raft, selfId, now } = inputs;
  const leading = raft.role === 'leader';
  const ids = [...new Set([...raft.confState.voters, ...raft.confState.learners])];
  const heardLately = (id: NodeId): boolean => {
    const at = inputs.heardAt(id);
    return at !== undefined && now - at <= inputs.electionTimeoutMs * 2;
  };
  const nodes: NodeStatusEntry[] = ids.map((id) => {
    const member = inputs.member(id);
    const self = id === selfId;
    // Health is known of oneself, by the leader of everyone, and by a follower of the leader it hears.
    const knows = self || leading || id === raft.leader;
    const status: NodeStatusEntry['status'] = self || (knows && heardLately(id)) ? 'healthy' : knows ? 'unreachable' : 'unknown';
    const lag = self || leading ? inputs.lagOf(id) : id === raft.leader ? 0 : undefined;
    return {
      id: member?.name ?? String(id),
      role: roleOf(raft, selfId, id),
      status,
      replication_lag: lag ?? -1,
      applied_index: self ? inputs.applied : leading ? (inputs.appliedOf(id) ?? null) : null,
      match_index: raft.progress.get(id)?.match ?? (self ? inputs.lastIndex : null),
      region: member?.region ?? null,
      url: member?.url ?? '',
      voter: raft.confState.voters.includes(id),
    };
  });
  let quorum: ClusterStatus['quorum_status'];
  if (raft.leader === NO_NODE) quorum = 'lost';
  else if (!leading) quorum = heardLately(raft.leader) ? 'healthy' : 'lost';
  else {
    const voters = raft.confState.voters.length;
    const healthy = nodes.filter((n) => n.voter && n.status === 'healthy').length;
    quorum = healthy === voters ? 'healthy' : healthy >= majority(voters) ? 'degraded' : 'lost';
  }
  const leader = raft.leader === NO_NODE ? undefined : inputs.member(raft.leader);
  return {
    cluster_id: inputs.clusterId,
    node: inputs.selfName,
    view: leading ? 'complete' : 'partial',
    nodes,
    quorum_status: quorum,
    term: raft.term,
    leader: leader?.name ?? null,
    leader_url: leader?.url ?? null,
    commit_index: raft.commit,
    applied_index: inputs.applied,
    replication: { mode: inputs.settings.mode, quorum_size: inputs.settings.quorumSize, sync_replicas: inputs.settings.syncReplicas },
  };
}

/**
 * Rows of `system.replication_status` (one per member: lag, indexes) and
 * `system.cluster_nodes` (one per member: role, health, address), from a status.
 */
export function systemViews(status: ClusterStatus): Record<string, Record<string, unknown>[]> {
  return {
    replication_status: status.nodes.map((n) => ({
      node_id: n.id,
      role: n.role,
      replication_lag_ms: n.replication_lag < 0 ? null : n.replication_lag,
      applied_index: n.applied_index,
      match_index: n.match_index,
      status: n.status,
    })),
    cluster_nodes: status.nodes.map((n) => ({
      node_id: n.id,
      role: n.role,
      status: n.status,
      url: n.url,
      region: n.region,
      voter: n.voter,
      is_leader: n.id === status.leader,
    })),
  };
}
