/**
 * The main thread's side of backups: decides when the leader archives what,
 * and hands the work to the backup worker (backup-worker.ts, archiver.ts).
 * What it does on the thread that drives Raft is small and bounded: every
 * TICK_MS it compares a few numbers, and when a segment is due it reads the
 * committed entries from the log's in-memory mirror and posts them, packed,
 * to the worker (one copy). Images for bases are written by the apply worker
 * and read by the backup worker; this thread never touches them.
 *
 * Rules:
 * - Only the leader archives, and only with a backup setting (replicated, so
 *   a new leader has it) in the write region. On taking over it reads the
 *   manifest first and goes on from the entry after the last archived one.
 * - A segment closes `segment_ms` after the first entry waiting for it was
 *   seen committed, or as soon as `segment_entries` are waiting.
 * - A base is taken when the archive has none, every `base_interval_ms`,
 *   every BASE_EVERY_ENTRIES archived entries, on `geode backup now`, and
 *   when the entries the chain needs were compacted away (a break).
 * - Every PROGRESS_EVERY_MS the leader records the archived position in the
 *   log (a `backup` entry), and every node keeps its log from there on
 *   (retainFrom, used when compacting): the entries a new leader must archive
 *   are still in its log, so failover leaves no gap. The leader itself keeps
 *   everything after what it archived. Neither holds more than
 *   MAX_RETAINED_ENTRIES: a destination down for long then costs a break in
 *   the chain, not the node's memory.
 * - A failure is logged (once per distinct message), shown in the status,
 *   and retried with backoff (0.5 s doubling to 30 s).
 */
import { join } from 'node:path';
import { ErrorCode, GeodeError, errorFromWire } from '../../shared/protocol/errors.js';
import type { BackupConfigureRequest, BackupConfigureResponse, BackupListResponse, BackupNowResponse, BackupStatus, BaseSummary } from '../../shared/protocol/backup.js';
import type { Entry } from '../raft/messages.js';
import { encodeRegionCommand } from '../replication/command.js';
import type { BackupState } from '../replication/backup-state.js';
import { packEntries } from '../replication/packed-entries.js';
import { startTsWorker, WorkerCallError, WorkerClient } from '../replication/worker-rpc.js';
import type { ActivateResult, Session } from './archiver.js';
import { configFromRequest } from './config.js';

const TICK_MS = 100;
const PROGRESS_EVERY_MS = 5_000;
const RETENTION_EVERY_MS = 60_000;
/** A base after this many archived entries even within the interval: a restore replays at most about this much. */
export const BASE_EVERY_ENTRIES = 1_000_000;
/** Entries a node keeps for the archive beyond its own compaction at most. */
export const MAX_RETAINED_ENTRIES = 2_000_000;
/** A segment's payload at most (a segment closes earlier when its entries reach it). */
const SEGMENT_MAX_BYTES = 16 * 1024 * 1024;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export interface BackupPort {
  name: string;
  clusterId: string;
  dataDir: string;
  isLeader(): boolean;
  /** The leader's name as this node knows it (null: none). */
  leaderName(): string | null;
  term(): number;
  commitIndex(): number;
  /** The index the state machine has applied (a base holds at least this much). */
  appliedIndex(): number;
  /** The first index the log still holds. */
  firstIndex(): number;
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** False in a follower region: only the write region archives. */
  isWriteRegion(): boolean;
  /** The apply worker writes a consistent image of the graph to `path`; resolves with the index it holds. */
  snapshotTo(path: string): Promise<number>;
  /** Proposes an entry without waiting (false when not leading). */
  propose(data: Uint8Array): boolean;
  /** Proposes an entry and resolves with its index once applied here. */
  proposeAndWait(data: Uint8Array, timeoutMs: number): Promise<number>;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** What the metrics read (api/backup-metrics.ts). */
export interface BackupMetricsView {
  /** This node archives now. */
  archiving: boolean;
  lastSuccessAt: number | null;
  lagMs: number | null;
  bytesTotal: number;
  failures: number;
}

interface ActiveSession extends Session {
  id: number;
  position: { next: number; clock: number } | undefined;
  archived: { index: number; time: number } | undefined;
}

export class BackupHost {
  private state: BackupState;
  private worker: WorkerClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private session: ActiveSession | undefined;
  private activating = false;
  private sessionIds = 0;
  private segmentInFlight = false;
  private baseInFlight = false;
  private retentionInFlight = false;
  private gap = false;
  /** When the oldest committed entry not yet archived was first seen (lag). */
  private pendingSince: number | undefined;
  private lastBase: { index: number; time: number; at: number; key?: string; bytes?: number } | undefined;
  /** `geode backup now` callers: each is answered by the first base started after it asked. */
  private baseWaiters: { since: number; resolve: (base: BaseSummary) => void; reject: (error: Error) => void }[] = [];
  /** While a base that (re)starts the chain is taken: the log is kept from what was applied when it began. */
  private baseRetain: number | undefined;
  private baseRequested = false;
  private lastProgressAt = 0;
  private proposedArchived = 0;
  private lastRetentionAt = 0;
  private lastSuccessAt: number | null = null;
  private bytesTotal = 0;
  private failures = 0;
  private lastError: { message: string; code: string | null; at: number } | undefined;
  private failingSince: number | undefined;
  private retryAt = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private lastLoggedError = '';
  private stopped = false;

  constructor(
    private readonly port: BackupPort,
    initial: BackupState,
  ) {
    this.state = initial;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** The replicated state after an applied batch changed it. */
  applied(state: BackupState): void {
    const destinationChanged = state.config?.destination !== this.state.config?.destination || state.config?.lineage !== this.state.config?.lineage;
    // The archived position moves every few seconds; the setting itself rarely.
    const configChanged = state.config?.configured_at !== this.state.config?.configured_at || destinationChanged;
    this.state = state;
    if (state.config === null || destinationChanged) this.endSession();
    else if (this.session !== undefined) this.session.config = state.config;
    // A new retention or base interval counts from now, not from the old setting's schedule.
    if (configChanged) this.lastRetentionAt = 0;
  }

  /**
   * The first index every node must keep in its log for the archive (undefined: none): on the
   * archiving leader the next entry to archive, elsewhere the one after the position last recorded.
   */
  retainFrom(): number | undefined {
    if (this.state.config === null) return undefined;
    if (this.session !== undefined) {
      const from = this.session.position?.next ?? this.session.archived?.index;
      if (this.baseRetain === undefined) return from;
      return from === undefined ? this.baseRetain : Math.min(from, this.baseRetain);
    }
    return this.state.archived === null ? undefined : this.state.archived.index + 1;
  }

  /** How many entries to keep behind a snapshot at `index` (the log's own `keepEntries` at least). */
  keepEntries(index: number, keepEntries: number): number {
    const from = this.retainFrom();
    if (from === undefined) return keepEntries;
    return Math.max(keepEntries, Math.min(index - from + 1, MAX_RETAINED_ENTRIES));
  }

  // ---- the loop ---------------------------------------------------------------------------

  private tick(): void {
    if (this.stopped) return;
    try {
      this.step();
    } catch (error) {
      // A bug here must not end the node (this runs on a timer of the thread that drives Raft).
      this.failed('scheduling archive work', error);
    }
  }

  private step(): void {
    const config = this.state.config;
    const mayArchive = config !== null && this.port.isLeader() && this.port.isWriteRegion();
    if (!mayArchive) {
      this.endSession();
      return;
    }
    const now = Date.now();
    if (now < this.retryAt) return;
    const session = this.session;
    if (session === undefined) {
      if (!this.activating) this.activate(config);
      return;
    }
    if (this.port.term() !== session.term) {
      this.endSession();
      return;
    }
    const commit = this.port.commitIndex();
    const position = session.position;
    if (position !== undefined && !this.gap && position.next < this.port.firstIndex() && position.next <= commit) {
      // The entries the chain needs are gone from the log: the next base restarts it after a break.
      this.gap = true;
      this.call('markGap', null).catch((error: unknown) => this.failed('recording a gap', error));
      this.port.logger.warn({ next: position.next, first_index: this.port.firstIndex() }, 'backup: the log was compacted past the last archived entry; a new base restarts the chain after a break');
    }
    if (!this.baseInFlight && this.baseDue(session, now)) this.takeBase(session);
    if (position !== undefined && !this.gap) {
      if (commit >= position.next) {
        this.pendingSince ??= now;
        if (!this.segmentInFlight && (commit - position.next + 1 >= session.config.segment_entries || now - this.pendingSince >= session.config.segment_ms)) {
          this.archiveSegment(session, position.next, Math.min(commit, position.next + session.config.segment_entries - 1));
        }
      } else this.pendingSince = undefined;
    }
    if (session.archived !== undefined && session.archived.index > this.proposedArchived && now - this.lastProgressAt >= PROGRESS_EVERY_MS) {
      this.lastProgressAt = now;
      this.proposedArchived = session.archived.index;
      this.port.propose(encodeRegionCommand({ kind: 'backup', archived: { index: session.archived.index, time: session.archived.time, lineage: session.config.lineage } }));
    }
    if (!this.retentionInFlight && this.lastBase !== undefined && now - this.lastRetentionAt >= Math.min(RETENTION_EVERY_MS, Math.max(1_000, session.config.retention_ms / 4))) {
      this.lastRetentionAt = now;
      this.runRetention(session);
    }
  }

  private baseDue(session: ActiveSession, now: number): boolean {
    if (session.position === undefined || this.gap || this.baseRequested) return true;
    const last = this.lastBase;
    if (last === undefined) return true;
    if (now - last.at >= session.config.base_interval_ms) return true;
    return session.archived !== undefined && session.archived.index - last.index >= BASE_EVERY_ENTRIES;
  }

  private activate(config: NonNullable<BackupState['config']>): void {
    this.activating = true;
    const session: ActiveSession = { id: ++this.sessionIds, config, clusterId: this.port.clusterId, node: this.port.name, term: this.port.term(), position: undefined, archived: undefined };
    const { id: _id, position: _p, archived: _a, ...wire } = session;
    this.call<ActivateResult>('activate', wire).then(
      (result) => {
        this.activating = false;
        if (this.stopped || !this.port.isLeader() || this.port.term() !== session.term || this.state.config?.lineage !== config.lineage) return;
        session.position = result.position;
        session.archived = result.position === undefined ? undefined : { index: result.position.next - 1, time: result.position.clock };
        this.lastBase = result.lastBase;
        this.gap = false;
        this.session = session;
        this.succeeded(0);
        this.port.logger.info({ destination: config.destination, next: result.position?.next ?? null, term: session.term }, result.position === undefined ? 'backup: archiving starts with a base snapshot' : 'backup: archiving continues from the manifest');
      },
      (error: unknown) => {
        this.activating = false;
        this.failed('reading the backup manifest', error);
      },
    );
  }

  private endSession(): void {
    if (this.session === undefined && !this.activating) return;
    this.session = undefined;
    this.gap = false;
    this.pendingSince = undefined;
    this.proposedArchived = 0;
    if (this.worker !== undefined) void this.call('deactivate', null).catch(() => undefined);
    for (const waiter of this.baseWaiters.splice(0)) waiter.reject(new GeodeError(ErrorCode.NOT_LEADER, 'this node stopped archiving (it no longer leads, or backups were reconfigured)'));
    this.baseRequested = false;
  }

  private archiveSegment(session: ActiveSession, lo: number, hi: number): void {
    let entries: Entry[];
    try {
      entries = this.port.entries(lo, hi + 1, SEGMENT_MAX_BYTES);
    } catch (error) {
      this.failed('reading the log for a segment', error);
      return;
    }
    if (entries.length === 0) return;
    this.segmentInFlight = true;
    this.call<{ last: number; time: number; bytes: number; at: number }>('segment', { entries: packEntries(entries) }).then(
      (stored) => {
        this.segmentInFlight = false;
        if (this.session !== session) return;
        session.position = { next: stored.last + 1, clock: stored.time };
        session.archived = { index: stored.last, time: stored.time };
        this.pendingSince = this.port.commitIndex() > stored.last ? Date.now() : undefined;
        this.succeeded(stored.bytes);
      },
      (error: unknown) => {
        this.segmentInFlight = false;
        if (this.session === session) this.failed(`archiving entries ${lo}..${hi}`, error);
      },
    );
  }

  private takeBase(session: ActiveSession): void {
    this.baseInFlight = true;
    this.baseRequested = false;
    const startedAt = Date.now();
    // A base that starts the chain: the entries after it must survive compaction while it is taken.
    if (session.position === undefined || this.gap) this.baseRetain = this.port.appliedIndex() + 1;
    const path = join(this.port.dataDir, 'backup-base.db');
    this.port
      .snapshotTo(path)
      .then(() => {
        if (this.session !== session) throw new GeodeError(ErrorCode.NOT_LEADER, 'no longer archiving');
        return this.call<{ index: number; time: number; key: string; bytes: number; at: number }>('base', { path });
      })
      .then(
        (base) => {
          this.baseInFlight = false;
          this.baseRetain = undefined;
          if (this.session !== session) return;
          this.lastBase = { index: base.index, time: base.time, at: base.at, key: base.key, bytes: base.bytes };
          if (session.position === undefined || this.gap) {
            session.position = { next: base.index + 1, clock: base.time };
            session.archived ??= { index: base.index, time: base.time };
            this.gap = false;
          }
          this.succeeded(base.bytes);
          this.port.logger.info({ index: base.index, bytes: base.bytes, key: base.key }, 'backup: base snapshot stored');
          const summary: BaseSummary = { index: base.index, time: new Date(base.time).toISOString(), bytes: base.bytes, key: base.key };
          const answered = this.baseWaiters.filter((w) => w.since <= startedAt);
          this.baseWaiters = this.baseWaiters.filter((w) => w.since > startedAt);
          for (const waiter of answered) waiter.resolve(summary);
          if (this.baseWaiters.length > 0) this.baseRequested = true;
        },
        (error: unknown) => {
          this.baseInFlight = false;
          this.baseRetain = undefined;
          // `backup now` callers wait for the retry (or their timeout).
          if (this.baseWaiters.length > 0) this.baseRequested = true;
          if (this.session === session) this.failed('storing a base snapshot', error);
        },
      );
  }

  private runRetention(session: ActiveSession): void {
    this.retentionInFlight = true;
    this.call<number>('retain', { now: Date.now(), retentionMs: session.config.retention_ms }).then(
      (deleted) => {
        this.retentionInFlight = false;
        if (deleted > 0) this.port.logger.info({ deleted, retention_ms: session.config.retention_ms }, 'backup: retention deleted objects that left the window');
      },
      (error: unknown) => {
        this.retentionInFlight = false;
        if (this.session === session) this.failed('applying retention', error);
      },
    );
  }

  private succeeded(bytes: number): void {
    this.bytesTotal += bytes;
    this.lastSuccessAt = Date.now();
    if (this.failingSince !== undefined) this.port.logger.info({ failed_for_ms: Date.now() - this.failingSince }, 'backup: archiving works again');
    this.failingSince = undefined;
    this.lastError = undefined;
    this.lastLoggedError = '';
    this.backoffMs = BACKOFF_MIN_MS;
    this.retryAt = 0;
  }

  private failed(what: string, error: unknown): void {
    const body = error instanceof WorkerCallError ? error.body : undefined;
    const geode = body !== undefined ? errorFromWire(body) : error instanceof GeodeError ? error : undefined;
    const message = `${what}: ${geode?.message ?? (error instanceof Error ? error.message : String(error))}`;
    const now = Date.now();
    this.failures++;
    this.lastError = { message, code: geode?.code ?? null, at: now };
    this.failingSince ??= now;
    this.retryAt = now + this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    if (message !== this.lastLoggedError) {
      this.lastLoggedError = message;
      this.port.logger.error({ err: message, code: geode?.code ?? null, retry_in_ms: this.retryAt - now }, 'backup: archiving failed');
    }
    // The manifest changed under us, or the worker lost its session: start over from what the manifest says.
    if (geode?.detail === 'ManifestConflict' || geode?.code === ErrorCode.OVERLOADED || geode?.detail === 'ForeignArchive') {
      this.session = undefined;
      this.gap = false;
    }
  }

  private call<T>(method: string, args: unknown): Promise<T> {
    if (this.worker === undefined || !this.worker.alive) {
      this.worker = new WorkerClient(startTsWorker(new URL('./backup-worker.ts', import.meta.url), null), (error) => {
        if (!this.stopped) this.port.logger.error({ err: error.message }, 'backup: worker thread died; a new one starts with the next attempt');
      });
      // A restarted worker knows no session.
      this.session = undefined;
    }
    return this.worker.call<T>(method, args);
  }

  // ---- admin --------------------------------------------------------------------------------

  /** `geode backup configure`: checks the destination from this node (the leader), then replicates the setting. */
  async configure(request: BackupConfigureRequest): Promise<BackupConfigureResponse> {
    if (!this.port.isLeader()) throw new GeodeError(ErrorCode.NOT_LEADER, 'backup configuration goes to the leader');
    const config = configFromRequest(request, this.state.config, new Date());
    if (config !== null) {
      const probe = await this.call<{ empty: boolean }>('probe', { destination: config.destination }).catch((error: unknown) => {
        throw error instanceof WorkerCallError ? errorFromWire(error.body) : error;
      });
      if (!probe.empty && config.lineage !== this.state.config?.lineage) {
        throw new GeodeError(ErrorCode.BAD_REQUEST, `backup destination ${config.destination} already holds a backup chain: configure an empty destination (a chain belongs to one cluster)`, { detail: 'DestinationNotEmpty' });
      }
    }
    const index = await this.port.proposeAndWait(encodeRegionCommand({ kind: 'backup', config }), request.timeout_ms ?? 10_000);
    return { config: this.state.config, index, status: this.status() };
  }

  /** `geode backup now`: a base snapshot at the current state; resolves once it is stored. */
  backupNow(timeoutMs: number): Promise<BackupNowResponse> {
    if (this.state.config === null) return Promise.reject(notConfigured());
    if (!this.port.isLeader()) return Promise.reject(new GeodeError(ErrorCode.NOT_LEADER, 'the leader archives: send backup now to it'));
    return new Promise<BaseSummary>((resolve, reject) => {
      const timer = setTimeout(() => reject(new GeodeError(ErrorCode.TIMEOUT, `the base snapshot was not stored within ${timeoutMs} ms; it goes on in the background`, { retryable: true })), timeoutMs);
      this.baseWaiters.push({
        since: Date.now(),
        resolve: (base) => {
          clearTimeout(timer);
          resolve(base);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.baseRequested = true;
    }).then((base) => ({ base, status: this.status() }));
  }

  /** `geode backup list`: the setting, the status, and the restore points the leader's archive holds. */
  async list(): Promise<BackupListResponse> {
    if (this.state.config === null) return { config: null, status: this.status(), restore_points: null };
    if (!this.port.isLeader()) throw new GeodeError(ErrorCode.NOT_LEADER, 'the leader archives: ask it for the restore points');
    if (this.session === undefined) throw new GeodeError(ErrorCode.OVERLOADED, this.lastError === undefined ? 'the archiver is starting; retry shortly' : `the archiver is not running: ${this.lastError.message}`);
    const points = await this.call<BackupListResponse['restore_points']>('restorePoints', null).catch((error: unknown) => {
      throw error instanceof WorkerCallError ? errorFromWire(error.body) : error;
    });
    return { config: this.state.config, status: this.status(), restore_points: points };
  }

  // ---- state --------------------------------------------------------------------------------

  status(): BackupStatus {
    const config = this.state.config;
    const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
    if (config === null) {
      return { mode: 'off', state: 'off', destination: null, retention_ms: null, archiver: null, archived_index: null, archived_time: null, last_success_at: null, lag_ms: null, bytes_total: this.bytesTotal, last_base: null, last_error: null, failing_since: null };
    }
    const leading = this.port.isLeader();
    const session = this.session;
    const archived = session?.archived ?? this.state.archived ?? undefined;
    const state: BackupStatus['state'] = !leading ? 'standby' : this.failingSince !== undefined ? 'failing' : session === undefined || session.position === undefined ? 'starting' : 'archiving';
    const last = this.lastBase;
    return {
      mode: 'continuous',
      state,
      destination: config.destination,
      retention_ms: config.retention_ms,
      archiver: leading ? this.port.name : this.port.leaderName(),
      archived_index: archived?.index ?? null,
      archived_time: iso(archived?.time),
      last_success_at: leading ? iso(this.lastSuccessAt) : null,
      lag_ms: leading ? this.lagMs() : null,
      bytes_total: this.bytesTotal,
      last_base: leading && last !== undefined && last.key !== undefined ? { index: last.index, time: new Date(last.time).toISOString(), bytes: last.bytes ?? 0, key: last.key } : null,
      last_error: leading && this.lastError !== undefined ? { message: this.lastError.message, code: this.lastError.code, at: new Date(this.lastError.at).toISOString() } : null,
      failing_since: leading ? iso(this.failingSince) : null,
    };
  }

  private lagMs(): number {
    if (this.pendingSince === undefined && this.session?.position !== undefined) return 0;
    if (this.pendingSince !== undefined) return Date.now() - this.pendingSince;
    return this.failingSince !== undefined ? Date.now() - this.failingSince : 0;
  }

  metrics(): BackupMetricsView {
    const archiving = this.state.config !== null && this.port.isLeader();
    return { archiving, lastSuccessAt: this.lastSuccessAt, lagMs: archiving ? this.lagMs() : null, bytesTotal: this.bytesTotal, failures: this.failures };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const waiter of this.baseWaiters.splice(0)) waiter.reject(new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down'));
    await this.worker?.terminate();
  }
}

function notConfigured(): GeodeError {
  return new GeodeError(ErrorCode.BAD_REQUEST, 'backups are not configured: run geode backup configure --mode continuous --destination URL first', { detail: 'BackupNotConfigured' });
}
