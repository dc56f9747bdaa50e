/** The gateway's public surface for the CLI and tests. */
export { build, startGateway } from './gateway.js';
export type { GatewayBuildOptions, RunningGateway } from './gateway.js';
export { GATEWAY_DEFAULTS, loadGatewayConfig, parseGatewayConfig } from './config.js';
export type { Consistency, GatewayConfig, QueryCacheConfig, ReadPreference, RegionConfig, RegionRole } from './config.js';
export { SESSION_HEADER, SessionCodec } from './session/index.js';
export type { Session } from './session/index.js';
export { WS_PATH } from './api/ws.js';
export { relayAcknowledgedIndexes } from './acknowledged-index.js';
export type { WorkerHub } from './acknowledged-index.js';
