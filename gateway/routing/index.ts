export { available, leastConnections, nearest, order, planRead, regionsOpen, roundRobin, tiers, withinLag } from './pipeline.js';
export type { BreakerState, Candidate, ReadPlanContext } from './pipeline.js';
export { clientAddress, distanceKm, locate, nearestRegion, trustedProxyList } from './geo.js';
export type { GeoPoint, RegionPoint } from './geo.js';
