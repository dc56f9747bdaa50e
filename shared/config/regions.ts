/**
 * Regions as a deployment declares them: the seed's two YAML forms.
 *
 *     regions:                         global_deployment:
 *       us-east-1:                       regions:
 *         nodes: 3                         us-east-1: {nodes: 3, role: primary, write_priority: 1}
 *         role: primary_cluster            eu-west-1: {nodes: 3, role: secondary, write_priority: 2, replication_lag_max: 100ms}
 *       us-west-2:                         ap-southeast-1: {nodes: 2, role: read_replica, replication_mode: async}
 *         nodes: 3                       routing:
 *         role: disaster_recovery          strategy: geographic_proximity
 *         replication_mode: async          failover_policy: automatic
 *                                          health_check_interval: 5s
 *
 * `nodes` is a count (what `geode dev` starts) or a list of node base URLs
 * (what a node's and a gateway's config name). Parsing is in this module's
 * `parseRegions` (TODO: filled in by the config work of issue 16).
 */

import type { RegionRole } from '../protocol/region.js';

export type { RegionRole } from '../protocol/region.js';

export interface RegionSpec {
  name: string;
  /** `primary_cluster` is read as `primary`. */
  role: RegionRole;
  /** Base URLs of the region's nodes; empty when the deployment gave only a count. */
  nodes: string[];
  /** How many nodes (the list's length when URLs are given). */
  nodeCount: number;
  /** Lower is preferred when a new primary is chosen; undefined: after every region that has one. */
  writePriority?: number;
  /** The region's lag bound in ms (`replication_lag_max`); over it, the region serves no bounded read and raises an alarm. */
  replicationLagMaxMs?: number;
  /** Only `async` exists between regions. */
  replicationMode: 'async';
  /** Whether the region serves reads: default false for disaster_recovery, true otherwise (`serve_reads`). */
  serveReads: boolean;
  /** Location for nearest-region routing (`lat`, `lon`), when given. */
  lat?: number;
  lon?: number;
}

export type FailoverPolicy = 'manual' | 'automatic';

export interface RegionRouting {
  strategy: 'geographic_proximity' | 'round_robin' | 'least_connections';
  failoverPolicy: FailoverPolicy;
  /** How often each region's leader polls the other regions (epoch discovery, lag, reachability). */
  healthCheckIntervalMs: number;
  /** automatic: how long the primary region must have been unreachable before a majority of regions promotes another. */
  failoverAfterMs: number;
}

export interface RegionDeployment {
  regions: RegionSpec[];
  routing: RegionRouting;
}

/** A storage node's view: its own region's name plus the whole deployment. */
export interface NodeRegions extends RegionDeployment {
  self: string;
}

export const DEFAULT_REGION_HEALTH_CHECK_MS = 1_000;
export const DEFAULT_FAILOVER_AFTER_MS = 10_000;
