/**
 * What a replicated log entry carries. A write is the statement text with its
 * parameters exactly as the client sent them (JSON), the context the leader
 * fixed before proposing ({now, seed}: the clock and the randomness every
 * replica must agree on), and the request id that makes it exactly-once.
 * Cluster settings (`SET CLUSTER ...`) and schema statements are plain query
 * commands too: applying them is deterministic like any other statement.
 */
import type { BackupConfig } from '../../shared/protocol/backup.js';

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

/**
 * Source entries of the primary region, as a follower region's leader received them over the DR stream
 * (host/region/), proposed into its own group in one entry per stream frame. `prev` is the source index
 * just before the first item; an item's `data` is the source entry's command exactly as the primary
 * encoded it (null: a source entry that changes no graph, such as a no-op, which still advances the
 * position). Apply runs each item like the primary ran it (same statement, clock, seed, request id and
 * budget) and keeps its source position (host/region/README.md).
 */
export interface DrCommand {
  kind: 'dr';
  epoch: number;
  prev: number;
  items: Array<[index: number, data: string | null]>;
}

/**
 * A change of region epoch (a promotion, learned by whichever region): from `epoch` on, `primary` is the
 * write region; `fork` is the last position of the previous epoch that the new primary holds, `start`
 * its own log index where the epoch began (null until the new primary has applied it).
 */
export interface RegionCommand {
  kind: 'region';
  epoch: number;
  primary: string;
  fork: { epoch: number; index: number } | null;
  start: number | null;
  /** Rejoin: a fenced former primary asks to follow again (its diverged entries are set aside). */
  rejoin?: boolean;
  /** Automatic failover: this region's vote for `candidate` at epoch `vote.epoch` (host/region/auto-failover.ts). */
  vote?: { epoch: number; candidate: string };
}

/**
 * One piece of a graph image crossing the DR stream (when the source compacted past this region's
 * position, or this region diverged): written at `seq * chunkBytes` of a staging file named by the
 * transfer, so applying a piece twice (a replay after a crash) writes the same bytes again.
 */
export interface DrChunkCommand {
  kind: 'drchunk';
  transfer: string;
  seq: number;
  chunkBytes: number;
  data: string;
}

/** The image is complete: replace the graph with it; the region's position becomes (epoch, index). */
export interface DrImageCommand {
  kind: 'drimage';
  transfer: string;
  epoch: number;
  index: number;
  bytes: number;
  sha256: string;
  history: Array<{ epoch: number; primary: string; fork: { epoch: number; index: number } | null; start: number | null }>;
  /** Entries of this region set aside because they diverged from the new primary's history. */
  quarantine?: { epoch: number; from: number; to: number; writes: number; file: string };
}

/**
 * The backup setting and the archive's progress (storage-node/backup/, replication/backup-state.ts):
 * `config` replaces the setting (null: backups off); `archived` records how far the archiving leader
 * has stored the log, so every node keeps the entries after it (a new leader continues from there).
 */
export interface BackupCommand {
  kind: 'backup';
  config?: BackupConfig | null;
  archived?: { index: number; time: number; lineage: string };
}

export type Command = QueryCommand | NoopCommand | DrCommand | RegionCommand | DrChunkCommand | DrImageCommand | BackupCommand;

const encoder = new TextEncoder();

/** A backup entry; a malformed part is left out (applying it then changes nothing). */
function decodeBackupCommand(rest: Record<string, unknown>): BackupCommand {
  const command: BackupCommand = { kind: 'backup' };
  const config = rest['config'];
  if (config === null || (typeof config === 'object' && !Array.isArray(config))) command.config = config as BackupConfig | null;
  const archived = rest['archived'] as Record<string, unknown> | undefined;
  if (typeof archived === 'object' && archived !== null && typeof archived['index'] === 'number' && typeof archived['time'] === 'number' && typeof archived['lineage'] === 'string') {
    command.archived = { index: archived['index'], time: archived['time'], lineage: archived['lineage'] };
  }
  return command;
}
const decoder = new TextDecoder();

/** A JSON array: [query, params, now, seed, requestId], a sixth element 1 when the id is fresh (else 0), a seventh the memory budget. */
export function encodeCommand(command: QueryCommand): Uint8Array {
  const fields: unknown[] = [command.query, command.params, command.now, command.seed, command.requestId];
  if (command.fresh === true || command.memoryBudget !== undefined) fields.push(command.fresh === true ? 1 : 0);
  if (command.memoryBudget !== undefined) fields.push(command.memoryBudget);
  return encoder.encode(JSON.stringify(fields));
}

/** Region entries are JSON objects `{"k": kind, ...}`; writes stay the compact array above. */
export function encodeRegionCommand(command: DrCommand | RegionCommand | DrChunkCommand | DrImageCommand | BackupCommand): Uint8Array {
  const { kind, ...rest } = command;
  return encoder.encode(JSON.stringify({ k: kind, ...rest }));
}

export function decodeCommand(data: Uint8Array): Command {
  if (data.byteLength === 0) return { kind: 'noop' };
  return decodeCommandText(decoder.decode(data));
}

/** The first character tells a write (`[`) from a region entry (`{`) without parsing either. */
export function isWriteCommandText(text: string): boolean {
  return text.charCodeAt(0) === 0x5b;
}

export function decodeCommandText(text: string): Command {
  const parsed: unknown = JSON.parse(text);
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return decodeRegionCommand(parsed as Record<string, unknown>);
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

function decodeRegionCommand(o: Record<string, unknown>): Command {
  const { k, ...rest } = o;
  switch (k) {
    case 'dr':
      if (typeof rest['epoch'] === 'number' && typeof rest['prev'] === 'number' && Array.isArray(rest['items'])) return { kind: 'dr', ...(rest as Omit<DrCommand, 'kind'>) };
      break;
    case 'region':
      if (typeof rest['epoch'] === 'number' && typeof rest['primary'] === 'string') {
        const r = rest as Omit<RegionCommand, 'kind'>;
        return {
          kind: 'region',
          epoch: r.epoch,
          primary: r.primary,
          fork: r.fork ?? null,
          start: r.start ?? null,
          ...(r.rejoin === true ? { rejoin: true } : {}),
          ...(r.vote !== undefined && typeof r.vote.epoch === 'number' && typeof r.vote.candidate === 'string' ? { vote: { epoch: r.vote.epoch, candidate: r.vote.candidate } } : {}),
        };
      }
      break;
    case 'drchunk':
      if (typeof rest['transfer'] === 'string' && typeof rest['seq'] === 'number' && typeof rest['data'] === 'string') return { kind: 'drchunk', ...(rest as Omit<DrChunkCommand, 'kind'>) };
      break;
    case 'drimage':
      if (typeof rest['transfer'] === 'string' && typeof rest['index'] === 'number') return { kind: 'drimage', ...(rest as Omit<DrImageCommand, 'kind'>) };
      break;
    case 'backup':
      return decodeBackupCommand(rest);
  }
  return { kind: 'noop' };
}
