/** Wire shapes of `POST /v1/query` as the client returns them. */

/** A JSON value as the server sends it (INTEGERs beyond +-2^53 arrive as decimal strings). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type Row = Record<string, JsonValue>;

export type Consistency = 'linearizable' | 'leader' | 'bounded' | 'any';

export interface QueryStats {
  [counter: string]: number;
}

export interface QueryResult {
  columns: string[];
  rows: Row[];
  stats: QueryStats;
  /** True when a gateway answered from its degraded cache (no replica could serve). */
  degraded: boolean;
}

/** Who answered and at which log position. */
export interface Meta {
  /** Node name, `gateway` for SET SESSION answered by a gateway, `client` for ones answered locally. */
  node: string;
  role: string;
  term: number;
  /** Commit index (writes: the entry's index). */
  index: number;
  applied_index: number;
  /** Writes: false when the replication mode acknowledged before apply. */
  applied?: boolean;
  request_id?: string;
  /** The URL that answered (after redirects and failovers). */
  url: string;
  /** Attempts this call took (1 = first try). */
  attempts: number;
}

/** Query parameters: JSON values plus bigint (sent as exact JSON integers). */
export type Params = Record<string, unknown>;

/** Per-call options. */
export interface QueryOptions {
  /** Statement timeout on the server. */
  timeoutMs?: number;
  consistency?: Consistency;
  /** Bounded-staleness bound for this call (ms). */
  maxLagMs?: number;
  /** Overrides the client's total deadline for this call (ms). */
  deadlineMs?: number;
}
