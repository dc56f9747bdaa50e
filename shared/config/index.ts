export {
  ConfigError,
  DEFAULT_ELECTION_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  MIN_SECRET_LENGTH,
  formatHostPort,
  loadNodeConfig,
  parseHostPort,
  parseNodeConfig,
} from './node-config.js';
export type { ConfiguredRole, HostPort, NodeConfig, ParseNodeConfigOptions, ReplicationMode } from './node-config.js';
