/**
 * Session state that travels with the client: `base64url(JSON).base64url(HMAC-SHA256)`
 * in the `geode-session` header. Any gateway holding the same secret accepts
 * it, so gateways keep no session state; a token whose signature or shape is
 * wrong is refused (401 UNAUTHORIZED), never silently reset.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { CONSISTENCY_LEVELS, READ_PREFERENCES } from '../config.js';
import type { Consistency, ReadPreference } from '../config.js';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import type { Position } from './position.js';

export const SESSION_HEADER = 'geode-session';
export const SESSION_VERSION = 1;
/** Tokens are small; anything longer is not ours. */
const MAX_TOKEN_LENGTH = 1024;

export interface Session {
  readPreference: ReadPreference;
  /** Lag bound for replica reads (ms). */
  maxLagMs: number;
  consistency: Consistency;
  /** Reads wait until the serving node applied at least this index (read-your-writes, monotonic reads). */
  causalIndex: number;
  /**
   * The region epoch of `causalIndex` (session/position.ts); absent means 1, which is every position of a
   * single-group deployment, and of tokens written before regions existed.
   */
  causalEpoch?: number;
}

/** The session's causal position. */
export function sessionPosition(session: Session): Position {
  return { epoch: session.causalEpoch ?? 1, index: session.causalIndex };
}

/** The session at `position`; epoch 1 is left implicit, so single-group tokens keep their shape. */
export function withPosition(session: Session, position: Position): Session {
  const { causalEpoch: _omitted, ...rest } = session;
  return position.epoch > 1 ? { ...rest, causalIndex: position.index, causalEpoch: position.epoch } : { ...rest, causalIndex: position.index };
}

interface WireSession {
  read_preference: ReadPreference;
  max_lag_ms: number;
  consistency: Consistency;
  causal_index: number;
  /**
   * Written only when above 1. Not a new token version: a gateway that does not know the field ignores
   * it (reading the index as epoch 1's), and one that does reads a token without it as epoch 1.
   */
  causal_epoch?: number;
  v: number;
}

/** Tokens remembered per direction: most clients hold a session that changes only after a write. */
const TOKEN_CACHE_ENTRIES = 4096;

export class SessionCodec {
  private readonly key: Buffer;
  // Keyed by the whole session (encode) or the whole signed token (decode), so a cache hit is exactly
  // what the HMAC would have given: a tampered token never matches an entry.
  private readonly encoded = new LRUCache<string, string>({ max: TOKEN_CACHE_ENTRIES });
  private readonly decoded = new LRUCache<string, Session>({ max: TOKEN_CACHE_ENTRIES });

  constructor(secret: string) {
    this.key = Buffer.from(secret, 'utf8');
  }

  private sign(payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload).digest();
  }

  encode(session: Session): string {
    const cacheKey = `${session.readPreference}|${session.maxLagMs}|${session.consistency}|${session.causalIndex}|${session.causalEpoch ?? 1}`;
    const hit = this.encoded.get(cacheKey);
    if (hit !== undefined) return hit;
    const token = this.encodeFresh(session);
    this.encoded.set(cacheKey, token);
    return token;
  }

  private encodeFresh(session: Session): string {
    const wire: WireSession = {
      read_preference: session.readPreference,
      max_lag_ms: session.maxLagMs,
      consistency: session.consistency,
      causal_index: session.causalIndex,
      ...(session.causalEpoch !== undefined && session.causalEpoch > 1 ? { causal_epoch: session.causalEpoch } : {}),
      v: SESSION_VERSION,
    };
    const payload = Buffer.from(JSON.stringify(wire)).toString('base64url');
    return `${payload}.${this.sign(payload).toString('base64url')}`;
  }

  /** Throws UNAUTHORIZED when the token is forged, tampered with or malformed. */
  decode(token: string): Session {
    const hit = this.decoded.get(token);
    if (hit !== undefined) return { ...hit };
    const session = this.decodeFresh(token);
    this.decoded.set(token, { ...session });
    return session;
  }

  private decodeFresh(token: string): Session {
    const refuse = (why: string): GeodeError => new GeodeError(ErrorCode.UNAUTHORIZED, `invalid ${SESSION_HEADER} token: ${why}`, { detail: 'InvalidSessionToken' });
    if (token.length > MAX_TOKEN_LENGTH) throw refuse('too long');
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) throw refuse('malformed');
    const payload = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.sign(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refuse('signature does not match');
    let wire: unknown;
    try {
      wire = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw refuse('malformed payload');
    }
    const w = wire as Partial<Record<keyof WireSession, unknown>>;
    if (typeof wire !== 'object' || wire === null || w.v !== SESSION_VERSION) throw refuse('unknown version');
    if (!READ_PREFERENCES.includes(w.read_preference as ReadPreference)) throw refuse('bad read_preference');
    if (!CONSISTENCY_LEVELS.includes(w.consistency as Consistency)) throw refuse('bad consistency');
    if (!isNonNegativeInt(w.max_lag_ms) || !isNonNegativeInt(w.causal_index)) throw refuse('bad numbers');
    if (w.causal_epoch !== undefined && (!isNonNegativeInt(w.causal_epoch) || w.causal_epoch < 1)) throw refuse('bad causal_epoch');
    const session: Session = {
      readPreference: w.read_preference as ReadPreference,
      consistency: w.consistency as Consistency,
      maxLagMs: w.max_lag_ms,
      causalIndex: w.causal_index,
    };
    if (w.causal_epoch !== undefined && w.causal_epoch > 1) session.causalEpoch = w.causal_epoch;
    return session;
  }
}

function isNonNegativeInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
