export { Topology, UNASSIGNED_REGION } from './topology.js';
export type { TopologyOptions } from './topology.js';
export { lagOf, nextRtt } from './node-view.js';
export type { NodeRoleView, NodeView } from './node-view.js';
export { parseStatus } from './status.js';
export type { MemberSnapshot, StatusSnapshot } from './status.js';
