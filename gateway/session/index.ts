export { SESSION_HEADER, SESSION_VERSION, SessionCodec, sessionPosition, withPosition } from './token.js';
export type { Session } from './token.js';
export { applySessionSetting } from './settings.js';
export { ORIGIN, appliedTowards, comparePositions, epochOr1, isPastOrigin, laterPosition, positionFrom } from './position.js';
export type { Position } from './position.js';
