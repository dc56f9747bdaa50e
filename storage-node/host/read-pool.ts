/**
 * The read workers of a node: each has its own read-only connection to the
 * graph (and, with read lanes, its own query stream), so no read runs on the
 * thread that drives Raft.
 *
 * Containment: a statement checks its own deadline and memory budget in the
 * engine. Should one still overrun (code that cannot look at a clock) or
 * exhaust the worker's heap, the watchdog stops that worker, replaces it,
 * fails exactly the statement that was running (TIMEOUT or MEMORY_LIMIT, it
 * names itself in the worker's slot, read-slot.ts) and hands the reads that
 * were queued behind it to another worker. The process lives; other reads
 * are delayed, not failed.
 *
 * Invariants: every read in `inflight` is owned by exactly one live worker
 * (the one it was last sent to); a read is re-sent at most once, so a
 * misattributed failure cannot walk from worker to worker.
 */
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort, WorkerOptions } from 'node:worker_threads';
import { ErrorCode, GeodeError, errorFromWire } from '../../shared/protocol/errors.js';
import type { LaneToMain, ReadCall, ReadWorkerData } from './read-protocol.js';
import { LANE_READ, ReadSlot } from './read-slot.js';
import type { SerializedResult } from '../replication/state-machine.js';
import { startTsWorker, WorkerCallError, WorkerClient } from '../replication/worker-rpc.js';

/** Reads of one turn that share a message to one worker (see pick). */
const READ_BATCH = 8;
/** How often the watchdog looks at the workers' slots. */
const WATCHDOG_MS = 250;
/** How far past its deadline a statement may run before its worker is stopped: the engine's own check gets the first chance. */
export const OVERRUN_GRACE_MS = 2_000;

export interface ReadPoolOptions {
  graphPath: string;
  workers: number;
  memoryBudget: number;
  /**
   * Heap of one read worker (V8 old generation), MiB. Beyond it V8 would end the worker (not the
   * process); the engine's memory budget should refuse a statement long before.
   */
  heapLimitMb: number;
  /** Give each worker a read lane on this host (api/read-lane.ts). */
  lanes?: { host: string; view: SharedArrayBuffer; node: string };
  logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Clock, for the watchdog (tests move it). */
  now?: () => number;
}

interface Member {
  client: WorkerClient;
  slot: ReadSlot;
  lane: { channel: MessagePort; port: number | undefined } | undefined;
  /** Why the watchdog stopped it, naming the read it blames. */
  stopped: { readId: number; error: GeodeError } | undefined;
}

interface InflightRead {
  call: ReadCall;
  member: Member;
  resent: boolean;
  resolve: (result: SerializedResult) => void;
  reject: (error: Error) => void;
}

export class ReadPool {
  private readonly members: Member[] = [];
  private readonly inflight = new Map<number, InflightRead>();
  private nextReadId = 1;
  private laneAttach: ((channel: MessagePort) => void) | undefined;
  private readonly watchdog: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;
  /** Workers the watchdog stopped (metrics). */
  stoppedWorkers = 0;

  constructor(private readonly options: ReadPoolOptions) {
    this.now = options.now ?? Date.now;
    for (let i = 0; i < Math.max(1, options.workers); i++) this.members.push(this.startMember(i));
    this.watchdog = setInterval(() => this.patrol(), WATCHDOG_MS);
    this.watchdog.unref();
  }

  private startMember(position: number): Member {
    const slot = new ReadSlot();
    const data: ReadWorkerData = { graphPath: this.options.graphPath, memoryBudget: this.options.memoryBudget, slot: slot.buffer };
    const transferList: MessagePort[] = [];
    let lane: Member['lane'];
    if (this.options.lanes !== undefined) {
      const { port1, port2 } = new MessageChannel();
      const laneState: { channel: MessagePort; port: number | undefined } = { channel: port1, port: undefined };
      port1.on('message', (message: LaneToMain) => {
        if (message.kind === 'listening') laneState.port = message.port;
        else if (message.kind === 'error' && laneState.port === undefined) this.options.logger.error({ err: message.message }, 'read lane failed to start');
      });
      port1.unref();
      lane = laneState;
      this.laneAttach?.(port1);
      data.lane = { ...this.options.lanes, channel: port2 };
      transferList.push(port2);
    }
    const workerOptions: Omit<WorkerOptions, 'eval' | 'workerData'> = { transferList, resourceLimits: { maxOldGenerationSizeMb: this.options.heapLimitMb } };
    const worker = startTsWorker(new URL('../api/read-worker.ts', import.meta.url), data, workerOptions);
    // The exit callback runs only after construction, once `member` exists.
    const client = new WorkerClient(worker, (error) => this.lost(position, member, error));
    const member: Member = { client, slot, lane, stopped: undefined };
    return member;
  }

  /** A worker ended: replace it, fail the read it was running, re-send the others. */
  private lost(position: number, member: Member, error: Error): void {
    member.lane?.channel.close();
    if (this.closed) return;
    const running = member.slot.current();
    let blamed = member.stopped;
    if (blamed === undefined && running !== undefined) {
      const outOfMemory = (error as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      blamed = {
        readId: running.id,
        error: outOfMemory
          ? new GeodeError(ErrorCode.MEMORY_LIMIT, `the statement exhausted its read worker's heap (${this.options.heapLimitMb} MiB); the worker was replaced`, { detail: 'WorkerHeapExhausted' })
          : new GeodeError(ErrorCode.INTERNAL, 'the read worker running this statement failed and was replaced'),
      };
    }
    this.options.logger.error(
      { err: error.message, read: blamed?.readId === LANE_READ ? 'lane' : blamed?.readId, reason: blamed?.error.code },
      member.stopped !== undefined ? 'read worker stopped by the watchdog; replacing it' : 'read worker died; replacing it',
    );
    if (this.members[position] === member) this.members[position] = this.startMember(position);
    for (const [readId, read] of this.inflight) {
      if (read.member !== member) continue;
      if (readId === blamed?.readId || read.resent) {
        this.inflight.delete(readId);
        read.reject(readId === blamed?.readId ? blamed.error : new GeodeError(ErrorCode.OVERLOADED, 'read workers failed twice under this read; retry', { detail: 'ReadWorkerLost' }));
        continue;
      }
      read.resent = true;
      this.send(read);
    }
  }

  /** Stops workers whose statement overran its deadline by far (the engine could not stop it). */
  private patrol(): void {
    const now = this.now();
    for (const member of this.members) {
      if (member.stopped !== undefined || !member.client.alive) continue;
      const running = member.slot.current();
      if (running === undefined || now <= running.deadline + OVERRUN_GRACE_MS) continue;
      member.stopped = {
        readId: running.id,
        error: new GeodeError(ErrorCode.TIMEOUT, `the statement ran ${Math.round(now - running.deadline)} ms past its time limit; its read worker was stopped and replaced`, { detail: 'ReadWorkerStopped' }),
      };
      this.stoppedWorkers++;
      void member.client.terminate();
    }
  }

  /** Runs a read on a worker; its failure comes back as a GeodeError. */
  read(call: Omit<ReadCall, 'id'>): Promise<SerializedResult> {
    if (this.closed) return Promise.reject(new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down'));
    const id = this.nextReadId++;
    if (this.nextReadId > 0x7fffffff) this.nextReadId = 1;
    return new Promise((resolve, reject) => {
      const read: InflightRead = { call: { ...call, id }, member: this.pick(), resent: false, resolve, reject };
      this.inflight.set(id, read);
      this.send(read);
    });
  }

  private send(read: InflightRead): void {
    const member = read.member.client.alive && read.member.stopped === undefined ? read.member : this.pick();
    read.member = member;
    member.client.call<SerializedResult>('read', read.call).then(
      (result) => {
        if (this.inflight.get(read.call.id) !== read) return;
        this.inflight.delete(read.call.id);
        read.resolve(result);
      },
      (error: unknown) => {
        // A dead worker's reads are settled by lost(); only the statement's own failures are answered here.
        if (!(error instanceof WorkerCallError) || this.inflight.get(read.call.id) !== read) return;
        this.inflight.delete(read.call.id);
        read.reject(errorFromWire(error.body, error.message));
      },
    );
  }

  /**
   * The worker for a read: one that already has calls queued this turn while it has fewer than
   * READ_BATCH (they go in one message: one thread hand-off instead of one per worker), else the
   * one with the fewest calls outstanding.
   */
  private pick(): Member {
    const usable = (m: Member): boolean => m.client.alive && m.stopped === undefined;
    for (const m of this.members) if (usable(m) && m.client.queued > 0 && m.client.queued < READ_BATCH) return m;
    let best = this.members[0] as Member;
    for (const m of this.members) if (usable(m) && (m.client.inflight < best.client.inflight || !usable(best))) best = m;
    return best;
  }

  /** Sends `method` to every worker (schema refresh, reopen after a snapshot install); failures are ignored. */
  broadcast(method: 'refresh' | 'reopen'): void {
    for (const m of this.members) void m.client.call(method).catch(() => undefined);
  }

  /** Resolves once every worker answered (start-up). */
  async ready(): Promise<void> {
    await Promise.all(this.members.map((m) => m.client.call('refresh')));
  }

  /** Ports of the read lanes that listen now, in worker order (empty without lanes). */
  lanePorts(): number[] {
    const ports: number[] = [];
    for (const m of this.members) if (m.lane?.port !== undefined && m.client.alive && m.stopped === undefined) ports.push(m.lane.port);
    return ports;
  }

  /** Hands every lane's channel (now and after a worker is replaced) to `attach`. */
  attachLanes(attach: (channel: MessagePort) => void): void {
    if (this.laneAttach === attach) return;
    this.laneAttach = attach;
    for (const m of this.members) if (m.lane !== undefined) attach(m.lane.channel);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    for (const [id, read] of this.inflight) {
      this.inflight.delete(id);
      read.reject(new GeodeError(ErrorCode.OVERLOADED, 'node is shutting down'));
    }
    await Promise.all(this.members.map((m) => m.client.terminate()));
    for (const m of this.members) m.lane?.channel.close();
  }
}
