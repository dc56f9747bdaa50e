/**
 * What a replicated log entry carries. A write is the statement text with its
 * parameters exactly as the client sent them (JSON), the context the leader
 * fixed before proposing ({now, seed}: the clock and the randomness every
 * replica must agree on), and the request id that makes it exactly-once.
 * Cluster settings (`SET CLUSTER ...`) and schema statements are plain query
 * commands too: applying them is deterministic like any other statement.
 */

export interface QueryCommand {
  kind: 'query';
  query: string;
  /** Parameters as JSON, converted to values identically on every replica. */
  params: Record<string, unknown>;
  now: number;
  seed: string;
  requestId: string;
  /**
   * The leader minted `requestId` for this very entry (the client sent none):
   * no earlier entry can carry it, so apply skips the exactly-once lookup.
   * The id is still recorded, as a client may retry with it after a timeout.
   */
  fresh?: boolean;
  /**
   * The statement's memory budget in bytes, fixed by the leader (its `query_memory_limit`), so every
   * replica refuses an oversized write the same way whatever its own config says. Absent in entries
   * written before budgets existed: apply then uses the default.
   */
  memoryBudget?: number;
}

/** The leader's first entry of a term carries no data; anything unreadable is also treated as a no-op. */
export interface NoopCommand {
  kind: 'noop';
}

export type Command = QueryCommand | NoopCommand;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A JSON array: [query, params, now, seed, requestId], a sixth element 1 when the id is fresh (else 0), a seventh the memory budget. */
export function encodeCommand(command: QueryCommand): Uint8Array {
  const fields: unknown[] = [command.query, command.params, command.now, command.seed, command.requestId];
  if (command.fresh === true || command.memoryBudget !== undefined) fields.push(command.fresh === true ? 1 : 0);
  if (command.memoryBudget !== undefined) fields.push(command.memoryBudget);
  return encoder.encode(JSON.stringify(fields));
}

export function decodeCommand(data: Uint8Array): Command {
  if (data.byteLength === 0) return { kind: 'noop' };
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (!Array.isArray(parsed) || parsed.length < 5 || parsed.length > 7) return { kind: 'noop' };
  const [query, params, now, seed, requestId, fresh, memoryBudget] = parsed as unknown[];
  if (typeof query !== 'string' || typeof now !== 'number' || typeof seed !== 'string' || typeof requestId !== 'string') {
    return { kind: 'noop' };
  }
  const safeParams = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {};
  const command: QueryCommand = { kind: 'query', query, params: safeParams, now, seed, requestId };
  if (fresh === 1) command.fresh = true;
  if (typeof memoryBudget === 'number' && memoryBudget > 0) command.memoryBudget = memoryBudget;
  return command;
}
