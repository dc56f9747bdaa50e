export { BREAKER_STATE_VALUE, BreakerOpen, Breakers, NodeFailure } from './breakers.js';
export type { BreakerOptions } from './breakers.js';
