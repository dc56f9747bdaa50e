export { SESSION_HEADER, SESSION_VERSION, SessionCodec } from './token.js';
export type { Session } from './token.js';
export { applySessionSetting } from './settings.js';
