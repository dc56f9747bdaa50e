export {
  ConfigError,
  DEFAULT_ELECTION_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  MIN_SECRET_LENGTH,
  clientHost,
  formatHostPort,
  loadNodeConfig,
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
