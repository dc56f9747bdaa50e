export {
  ConfigError,
  DEFAULT_CLUSTER_ID,
  DEFAULT_ELECTION_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_QUERY_MEMORY_LIMIT_BYTES,
  MIN_QUERY_MEMORY_LIMIT_BYTES,
  MIN_SECRET_LENGTH,
  clientHost,
  formatByteSize,
  formatHostPort,
  loadNodeConfig,
  parseByteSize,
  parseHostPort,
  parseNodeConfig,
  parsePeer,
  raftTiming,
} from './node-config.js';
export type {
  ClusterMember,
  ConfiguredRole,
  HostPort,
  NodeConfig,
  ParseNodeConfigOptions,
  PeerAddress,
  ReplicationMode,
} from './node-config.js';
export { durationMs, formatDurationMs, parseDurationMs } from './duration.js';
export type { DurationBounds } from './duration.js';
export {
  DEFAULT_FAILOVER_AFTER_MS,
  DEFAULT_FAILOVER_POLICY,
  DEFAULT_REGION_HEALTH_CHECK_MS,
  DEFAULT_ROUTING_STRATEGY,
  MIN_REGION_HEALTH_CHECK_MS,
  defaultFailoverAfterMs,
  isRegionName,
  normalizeRegionNodeUrl,
  parseRegions,
  primaryRegion,
  regionsToYaml,
} from './regions.js';
export type { FailoverPolicy, NodeRegions, RegionDeployment, RegionRole, RegionRouting, RegionSpec } from './regions.js';
