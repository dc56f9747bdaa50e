/**
 * What the gateway knows about one storage node: role, lag, health, measured
 * round-trip time. Plain data the routing functions read; only the Topology
 * writes it.
 */
export type NodeRoleView = 'primary' | 'standby' | 'learner' | 'candidate' | 'unknown';

export interface NodeView {
  /** Base URL (identity inside the gateway). */
  readonly url: string;
  /** Raft member name, once a status told us. */
  name: string | undefined;
  /** Region from the gateway config; discovered members get the node's own region or `unassigned`. */
  region: string;
  role: NodeRoleView;
  /** Last active health check (or request) succeeded. */
  healthy: boolean;
  /** Health checks failed in a row (0 after one passes). */
  failedChecks: number;
  /** performance.now() of the node's last sign of life the topology saw: a health check, a status, an answer (-Infinity: none yet). */
  lastSeenAt: number;
  /** The leader's view of this node's lag (ms), from the leader's status. */
  leaderViewLagMs: number | undefined;
  /** The node's own view of its lag (ms), from its status. */
  ownLagMs: number | undefined;
  appliedIndex: number;
  /** Highest term this node reported. */
  term: number;
  /** EWMA of /healthz round trips (ms). */
  rttMs: number | undefined;
  /** Requests the gateway has outstanding on this node. */
  inflight: number;
  /** The watch stream is open. */
  watching: boolean;
  /** Configured (true) or learned from a status / NOT_LEADER answer. */
  configured: boolean;
}

/** The node's lag as routing sees it: the worse of the leader's view and its own; undefined when nobody has said. */
export function lagOf(view: NodeView): number | undefined {
  const { leaderViewLagMs: a, ownLagMs: b } = view;
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

export const RTT_EWMA_WEIGHT = 0.3;

export function nextRtt(previous: number | undefined, sample: number): number {
  return previous === undefined ? sample : previous + RTT_EWMA_WEIGHT * (sample - previous);
}
