/**
 * The follower end of a disaster-recovery stream, run by the leader of a
 * follower region: it pulls the primary region's committed entries
 * (dr-source.ts) and proposes them into its own Raft group, so the region
 * keeps them through the loss of any of its nodes.
 *
 * - **Where from.** Any node of the primary region, its leader first (as the
 *   region poll last saw it), the others in turn after a failure.
 * - **Resumption.** Every connection starts from the position this region
 *   has applied. Entries proposed but not yet applied when a connection
 *   dropped are sent again; apply skips what is at or before the position,
 *   so nothing applies twice, and refuses an entry after a hole, so nothing
 *   is skipped (the stream then restarts from the position).
 * - **Flow control.** At most MAX_BACKLOG source entries proposed and not
 *   yet applied; the socket is paused meanwhile, which the source feels as
 *   backpressure.
 * - **Images.** Pieces are proposed as they arrive, then the entry that
 *   installs them; a diverged former primary first writes the entries it is
 *   setting aside to a quarantine file (JSON lines) in its data dir.
 * - **Lag.** The source stamps its newest position on every frame. The region
 *   is caught up while its applied position reaches that; its lag is the time
 *   since it last was (DESIGN.md: how long ago it had applied everything the
 *   primary had committed). Without contact the lag grows; never contacted,
 *   it is unknown.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { decodeCommand, encodeRegionCommand } from '../../replication/command.js';
import type { DrImageCommand } from '../../replication/command.js';
import { DR_ITEMS_MAX } from '../../replication/state-machine.js';
import type { EpochRecord, Position, RegionState } from '../../replication/region-state.js';
import type { Entry } from '../../raft/index.js';

export interface DrFollowerPort {
  readonly name: string;
  readonly region: string;
  readonly dataDir: string;
  /** Bearer token of the DR routes (shared by the deployment's regions). */
  readonly token: string;
  state(): RegionState;
  /** Base URLs of the primary region's nodes, its leader first when known. */
  sourceUrls(primary: string): string[];
  isLeader(): boolean;
  /** Proposes without waiting for the outcome; false when this node cannot propose (not the leader). */
  propose(data: Uint8Array): boolean;
  /** This node's own log (for the entries a diverged former primary sets aside). */
  entries(lo: number, hi: number): Entry[];
  firstIndex(): number;
  lastIndex(): number;
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface DrStreamStatus {
  source_region: string;
  source_url: string | null;
  connected: boolean;
  resumes: number;
  snapshots: number;
}

/** Source entries proposed and not yet applied before the socket is paused. */
const MAX_BACKLOG = 20_000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2_000;

export class DrFollower {
  private ws: WebSocket | undefined;
  private url: string | null = null;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff = BACKOFF_MIN_MS;
  private attempt = 0;
  /** Highest source position proposed on this connection. */
  private proposed = 0;
  private proposedEpoch = 0;
  private paused = false;
  private image: { transfer: string; header: ImageHeader; seq: number; received: number } | undefined;
  resumes = 0;
  snapshots = 0;
  /** The source's newest position, as its last frame said. */
  sourceCommit: Position | undefined;
  private caughtUpAt: number | undefined;
  private contactAt: number | undefined;
  /** A redirect named a newer epoch: the host proposes it into this group (region-host.ts). */
  onEpoch: ((record: EpochRecord, history: EpochRecord[]) => void) | undefined;

  constructor(private readonly port: DrFollowerPort) {}

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  status(): DrStreamStatus {
    return { source_region: this.port.state().primary, source_url: this.url, connected: this.connected, resumes: this.resumes, snapshots: this.snapshots };
  }

  /** Region lag in ms: 0 while caught up with the source's newest position; undefined before any contact. */
  lagMs(now = Date.now()): number | undefined {
    const state = this.port.state();
    if (this.sourceCommit === undefined || this.contactAt === undefined) return undefined;
    if (this.caughtUp(state.position) && now - this.contactAt <= 2_000) return 0;
    return this.caughtUpAt === undefined ? undefined : now - this.caughtUpAt;
  }

  /** The lag at the moment the source was last heard (0 when caught up then): what automatic failover judges this region by. */
  lagAtContactMs(): number | undefined {
    if (this.contactAt === undefined || this.sourceCommit === undefined) return undefined;
    if (this.caughtUpAt !== undefined && this.caughtUpAt >= this.contactAt - 50) return 0;
    if (this.caughtUp(this.port.state().position)) return 0;
    return this.caughtUpAt === undefined ? undefined : this.contactAt - this.caughtUpAt;
  }

  /** When a frame from the source last arrived (Date.now()), undefined before any. */
  get lastContactAt(): number | undefined {
    return this.contactAt;
  }

  behindEntries(): number | undefined {
    const position = this.port.state().position;
    if (this.sourceCommit === undefined) return undefined;
    if (this.sourceCommit.epoch !== position.epoch) return undefined;
    return Math.max(0, this.sourceCommit.index - position.index);
  }

  private caughtUp(position: Position): boolean {
    const commit = this.sourceCommit;
    return commit !== undefined && commit.epoch === position.epoch && position.index >= commit.index;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.backoff = BACKOFF_MIN_MS;
    this.connect();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.drop();
  }

  /** After every applied batch: flow control, lag, and a resumption when apply refused a hole. */
  applied(gap: boolean): void {
    const state = this.port.state();
    if (this.caughtUp(state.position)) this.caughtUpAt = Date.now();
    if (gap) {
      this.port.logger.warn({ position: state.position }, 'dr stream: apply refused an entry after a hole; resuming from the applied position');
      this.restart();
      return;
    }
    if (this.paused && this.backlog() < MAX_BACKLOG / 2) {
      this.paused = false;
      this.ws?.resume();
    }
  }

  /** Drops the connection and connects again from the applied position. */
  restart(): void {
    this.drop();
    if (this.running) this.schedule(0);
  }

  private drop(): void {
    const ws = this.ws;
    this.ws = undefined;
    this.image = undefined;
    this.paused = false;
    if (ws !== undefined) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
    }
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined || !this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, ms);
  }

  private connect(): void {
    if (!this.running || this.ws !== undefined) return;
    const state = this.port.state();
    if (state.state !== 'follower' || !this.port.isLeader()) return;
    const urls = this.port.sourceUrls(state.primary);
    if (urls.length === 0) {
      this.schedule(BACKOFF_MAX_MS);
      return;
    }
    const base = urls[this.attempt % urls.length]!;
    this.url = base;
    const from = state.position;
    this.proposed = from.index;
    this.proposedEpoch = from.epoch;
    const target = `${base.replace(/^http/, 'ws')}/v1/dr/stream?epoch=${from.epoch}&index=${from.index}&region=${encodeURIComponent(this.port.region)}`;
    const ws = new WebSocket(target, { headers: { authorization: `Bearer ${this.port.token}` }, handshakeTimeout: 2_000, maxPayload: 64 * 1024 * 1024 });
    this.ws = ws;
    ws.on('open', () => {
      this.backoff = BACKOFF_MIN_MS;
      this.resumes++;
      this.port.logger.info({ source: base, epoch: from.epoch, index: from.index }, 'dr stream: connected; resuming from the applied position');
    });
    ws.on('message', (data: RawData, binary: boolean) => {
      try {
        this.onFrame(data, binary);
      } catch (error) {
        this.port.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'dr stream: bad frame; resuming');
        this.restart();
      }
    });
    const lost = (why: string): void => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.image = undefined;
      this.attempt++;
      if (this.running) {
        this.port.logger.warn({ source: base, why }, 'dr stream: disconnected; will resume');
        this.schedule(this.backoff);
        this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
      }
    };
    ws.on('close', (code, reason) => lost(`closed ${code} ${reason.toString()}`));
    ws.on('error', (error) => lost(error.message));
  }

  private onFrame(data: RawData, binary: boolean): void {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
    if (binary) {
      this.onPiece(buffer);
      return;
    }
    const frame = JSON.parse(buffer.toString('utf8')) as Frame;
    this.contactAt = Date.now();
    if ('commit' in frame && frame.commit !== undefined) {
      this.sourceCommit = frame.commit;
      if (this.caughtUp(this.port.state().position)) this.caughtUpAt = Date.now();
    }
    switch (frame.t) {
      case 'tick':
        return;
      case 'entries':
        return this.onEntries(frame);
      case 'image':
        this.image = { transfer: randomBytes(8).toString('hex'), header: frame, seq: 0, received: 0 };
        return;
      case 'image-end':
        return this.onImageEnd();
      case 'end':
        return;
      case 'history':
        this.learnHistory(frame.history);
        return;
      case 'redirect': {
        const record = frame.history.find((r) => r.epoch === frame.epoch);
        if (record !== undefined && frame.epoch > this.port.state().epoch) this.onEpoch?.(record, frame.history);
        else if (frame.primary !== this.port.state().primary) this.onEpoch?.(record ?? { epoch: frame.epoch, primary: frame.primary, fork: null, start: null }, frame.history);
        this.attempt = 0;
        return;
      }
    }
  }

  /** Epochs the source knows and this region does not (or knows without where they began) are proposed first. */
  private learnHistory(history: EpochRecord[]): void {
    const state = this.port.state();
    for (const record of history) {
      const known = state.history.find((r) => r.epoch === record.epoch);
      if (record.epoch > state.epoch || (known !== undefined && (known.start === null || known.fork === null) && record.start !== null)) this.onEpoch?.(record, history);
    }
  }

  private onEntries(frame: EntriesFrame): void {
    if (frame.epoch !== this.proposedEpoch) {
      // The source walked this region's position across a fork point into the next epoch.
      this.proposedEpoch = frame.epoch;
      this.proposed = frame.prev;
    }
    const fresh = frame.items.filter(([index]) => index > this.proposed);
    if (fresh.length === 0) return;
    const prev = frame.items.indexOf(fresh[0]!) === 0 ? frame.prev : frame.items[frame.items.indexOf(fresh[0]!) - 1]![0];
    for (let i = 0; i < fresh.length; i += DR_ITEMS_MAX) {
      const items = fresh.slice(i, i + DR_ITEMS_MAX);
      const before = i === 0 ? prev : fresh[i - 1]![0];
      if (!this.port.propose(encodeRegionCommand({ kind: 'dr', epoch: frame.epoch, prev: before, items }))) {
        this.restart();
        return;
      }
    }
    this.proposed = fresh[fresh.length - 1]![0];
    if (this.backlog() >= MAX_BACKLOG && !this.paused) {
      this.paused = true;
      this.ws?.pause();
    }
  }

  private onPiece(piece: Buffer): void {
    const image = this.image;
    if (image === undefined) throw new Error('an image piece arrived outside an image');
    const ok = this.port.propose(encodeRegionCommand({ kind: 'drchunk', transfer: image.transfer, seq: image.seq, chunkBytes: image.header.piece, data: piece.toString('base64') }));
    if (!ok) throw new Error('not the leader');
    image.seq++;
    image.received += piece.byteLength;
  }

  /** Source entries proposed on this connection that this region has not applied yet. */
  private backlog(): number {
    const position = this.port.state().position;
    return position.epoch === this.proposedEpoch ? Math.max(0, this.proposed - position.index) : 0;
  }

  private onImageEnd(): void {
    const image = this.image;
    this.image = undefined;
    if (image === undefined) throw new Error('image-end without an image');
    const { header } = image;
    const command: DrImageCommand = { kind: 'drimage', transfer: image.transfer, epoch: header.epoch, index: header.index, bytes: header.bytes, sha256: header.sha256, history: header.history };
    if (header.diverged !== null) {
      const quarantine = this.setAside(header.diverged);
      if (quarantine !== undefined) command.quarantine = quarantine;
    }
    if (!this.port.propose(encodeRegionCommand(command))) throw new Error('not the leader');
    this.snapshots++;
    this.proposed = header.index;
    this.proposedEpoch = header.epoch;
    this.port.logger.info({ epoch: header.epoch, index: header.index, bytes: header.bytes }, 'dr stream: graph image received and proposed');
  }

  /**
   * This region holds positions past the new primary's fork: a former primary's own writes (or entries
   * a follower got from it) that the new primary never received. They are written out, never merged.
   */
  private setAside(fork: Position): DrImageCommand['quarantine'] {
    const state = this.port.state();
    const position = state.position;
    if (position.epoch !== fork.epoch || position.index <= fork.index) return undefined;
    const file = join('quarantine', `epoch-${fork.epoch}-from-${fork.index + 1}-to-${position.index}.jsonl`);
    const lines: string[] = [];
    let writes = 0;
    const wasPrimary = state.history.find((r) => r.epoch === fork.epoch)?.primary === this.port.region;
    if (wasPrimary) {
      // A former primary's positions are its own log indexes.
      const lo = Math.max(fork.index + 1, this.port.firstIndex());
      const hi = Math.min(position.index, this.port.lastIndex());
      for (let index = lo; index <= hi; index++) {
        const entry = this.port.entries(index, index + 1)[0];
        if (entry === undefined || entry.type !== 'normal') continue;
        const command = decodeCommand(entry.data);
        if (command.kind !== 'query') continue;
        writes++;
        lines.push(JSON.stringify({ epoch: fork.epoch, index, query: command.query, params: command.params, request_id: command.requestId, at: new Date(command.now).toISOString() }));
      }
      if (lo > fork.index + 1) lines.push(JSON.stringify({ note: `entries ${fork.index + 1}..${lo - 1} were compacted out of this node's log before they could be written out` }));
    } else {
      lines.push(JSON.stringify({ note: `this region applied source positions ${fork.index + 1}..${position.index} of epoch ${fork.epoch} from the former primary; see its quarantine file` }));
    }
    try {
      mkdirSync(join(this.port.dataDir, 'quarantine'), { recursive: true });
      writeFileSync(join(this.port.dataDir, file), lines.join('\n') + '\n');
    } catch (error) {
      this.port.logger.warn({ err: String(error), file }, 'dr stream: could not write the quarantine file');
    }
    this.port.logger.warn({ epoch: fork.epoch, from: fork.index + 1, to: position.index, writes, file }, 'region diverged from the new primary: entries set aside (quarantined), never merged');
    return { epoch: fork.epoch, from: fork.index + 1, to: position.index, writes, file: `${this.port.name}:${file}` };
  }
}

interface ImageHeader {
  t: 'image';
  epoch: number;
  index: number;
  bytes: number;
  sha256: string;
  history: EpochRecord[];
  diverged: Position | null;
  piece: number;
}

interface EntriesFrame {
  t: 'entries';
  epoch: number;
  prev: number;
  items: Array<[number, string | null]>;
  commit?: Position;
}

type Frame =
  | EntriesFrame
  | { t: 'tick'; commit?: Position }
  | ImageHeader
  | { t: 'image-end' }
  | { t: 'end'; epoch: number; at: number }
  | { t: 'history'; history: EpochRecord[] }
  | { t: 'redirect'; primary: string; epoch: number; history: EpochRecord[] };
