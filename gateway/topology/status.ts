/** Narrowing of a node's `/api/v1/cluster/status` JSON into what the gateway uses. */
import type { NodeRoleView } from './node-view.js';

export interface MemberSnapshot {
  id: string;
  role: NodeRoleView;
  healthy: boolean;
  /** ms; undefined when the answering node cannot tell. */
  lagMs: number | undefined;
  appliedIndex: number | undefined;
  url: string | undefined;
  region: string | undefined;
}

export interface StatusSnapshot {
  /** The Raft group's name as the node is configured (`cluster_id`); undefined from a node too old to say. */
  clusterId: string | undefined;
  node: string;
  term: number;
  leader: string | null;
  leaderUrl: string | null;
  appliedIndex: number;
  commitIndex: number;
  quorumStatus: string;
  members: MemberSnapshot[];
  /** The node's `backup` block (shared/protocol/backup.ts BackupStatus), passed through as it came; undefined when absent. */
  backup: Record<string, unknown> | undefined;
}

const ROLES = new Set(['primary', 'standby', 'learner', 'candidate']);

const rec = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** undefined when the body is not a cluster status. */
export function parseStatus(body: unknown): StatusSnapshot | undefined {
  const s = rec(body);
  if (s === undefined) return undefined;
  const node = str(s['node']);
  const term = num(s['term']);
  if (node === undefined || term === undefined || !Array.isArray(s['nodes'])) return undefined;
  const members: MemberSnapshot[] = [];
  for (const entry of s['nodes']) {
    const m = rec(entry);
    const id = str(m?.['id']);
    if (m === undefined || id === undefined) continue;
    const role = str(m['role']);
    const lag = num(m['replication_lag']);
    members.push({
      id,
      role: role !== undefined && ROLES.has(role) ? (role as NodeRoleView) : 'unknown',
      healthy: m['status'] === 'healthy',
      lagMs: lag !== undefined && lag >= 0 ? lag : undefined,
      appliedIndex: num(m['applied_index']),
      url: str(m['url']),
      region: str(m['region']),
    });
  }
  return {
    clusterId: str(s['cluster_id']),
    node,
    term,
    leader: str(s['leader']) ?? null,
    leaderUrl: str(s['leader_url']) ?? null,
    appliedIndex: num(s['applied_index']) ?? 0,
    commitIndex: num(s['commit_index']) ?? 0,
    quorumStatus: str(s['quorum_status']) ?? 'unknown',
    members,
    backup: rec(s['backup']),
  };
}
