/**
 * What a client carries between calls: the gateway's signed `geode-session`
 * token (opaque here) and the highest log index it has seen, sent as
 * `after_index` so that reads on any node or gateway see the client's writes.
 */
import type { Consistency } from './types.js';

/** The response/request header that carries a gateway session token. */
export const SESSION_HEADER = 'geode-session';

/** A portable copy of a session, to hand to another client (`client.catchUp(other.session)`). */
export interface SessionSnapshot {
  token: string | undefined;
  causalIndex: number;
}

export class SessionState {
  token: string | undefined;
  causalIndex = 0;

  constructor(seed?: Partial<SessionSnapshot>) {
    this.token = seed?.token;
    this.causalIndex = seed?.causalIndex ?? 0;
  }

  snapshot(): SessionSnapshot {
    return { token: this.token, causalIndex: this.causalIndex };
  }

  /** Adopts another session's token and never lowers the causal index. */
  merge(other: Partial<SessionSnapshot>): void {
    if (other.token !== undefined) this.token = other.token;
    if (other.causalIndex !== undefined && other.causalIndex > this.causalIndex) this.causalIndex = other.causalIndex;
  }

  /** Keeps the token of an answer and raises the causal index by its meta. */
  observe(headers: Record<string, string | string[] | undefined>, meta: { index?: unknown; applied_index?: unknown } | undefined): void {
    const header = headers[SESSION_HEADER];
    const token = Array.isArray(header) ? header[0] : header;
    if (token !== undefined && token.length > 0) this.token = token;
    for (const value of [meta?.index, meta?.applied_index]) {
      if (typeof value === 'number' && Number.isSafeInteger(value) && value > this.causalIndex) this.causalIndex = value;
    }
  }
}

export type SessionSetting =
  | { setting: 'read_preference'; value: 'round_robin' | 'least_connections' | 'nearest' }
  | { setting: 'max_replication_lag'; value: number }
  | { setting: 'consistency'; value: Consistency };

const SET_SESSION = /^\s*SET\s+SESSION\s+(READ\s+PREFERENCE|MAX\s+REPLICATION\s+LAG|CONSISTENCY)\s+([A-Za-z_0-9]+)\s*;?\s*$/i;

/**
 * `SET SESSION ...` text, for clients that talk to nodes directly (a gateway
 * answers these itself). Undefined when the text is not a session statement
 * this client understands; a known setting with a bad value throws.
 */
export function parseSessionSetting(text: string): SessionSetting | undefined {
  const match = SET_SESSION.exec(text);
  if (match === null) return undefined;
  const setting = (match[1] ?? '').toLowerCase().replace(/\s+/g, '_');
  const raw = (match[2] ?? '').toLowerCase();
  switch (setting) {
    case 'read_preference':
      if (raw === 'round_robin' || raw === 'least_connections' || raw === 'nearest') return { setting, value: raw };
      throw new RangeError(`SET SESSION READ PREFERENCE: expected round_robin | least_connections | nearest, got ${raw}`);
    case 'consistency':
      if (raw === 'linearizable' || raw === 'leader' || raw === 'bounded' || raw === 'any') return { setting, value: raw };
      throw new RangeError(`SET SESSION CONSISTENCY: expected linearizable | leader | bounded | any, got ${raw}`);
    default: {
      const ms = Number(raw);
      if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`SET SESSION MAX REPLICATION LAG: expected an integer number of ms, got ${raw}`);
      return { setting: 'max_replication_lag', value: ms };
    }
  }
}
