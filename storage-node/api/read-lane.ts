/**
 * A read lane: a read worker's own query stream (`GET /v1/stream`, the same
 * frames and contract as the main thread's, shared/protocol/query-stream.ts)
 * on a port of its own, so that replica reads reach the thread that runs them
 * without passing through the thread that drives Raft.
 *
 * Why: a read over the main thread's stream costs two thread hand-offs and
 * the main thread's share of the work (receive, parse, dispatch, answer);
 * measured, about 0.05 ms of main-thread CPU per read, a quarter of it in the
 * hand-offs. A lane does it all in one thread.
 *
 * How a client gets here: it opens the node's `/v1/stream?lane=K` and the
 * main thread redirects it (307) to lane K modulo the number of lanes, on the
 * host name the client used and the lane's port. A client that does not ask
 * for a lane keeps the main thread's stream.
 *
 * What a lane answers itself: reads (not `system.*` views) at consistency
 * `any`, `bounded` within the bound, and `leader` on the leader, while the
 * node serves; a read whose `after_index` is not applied yet waits here for
 * it (woken by the main thread's next publish of the view) until its
 * deadline. The node's state comes from a SharedArrayBuffer the main thread
 * keeps current (host/node-view.ts). Everything else (writes, linearizable
 * reads, reads over the lag bound or with unknown lag, views, statements
 * that do not parse) goes to the main thread over a MessagePort and runs exactly
 * as it would have arrived there, so errors, waits and metrics are the main
 * thread's own. Counts and durations of the reads a lane answered reach the
 * node's metrics every METRICS_FLUSH_MS.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { ErrorCode, GeodeError, isGeodeError } from '../../shared/protocol/errors.js';
import type { QueryRequest } from '../../shared/protocol/query.js';
import { QUERY_STREAM_PATH } from '../../shared/protocol/query-stream.js';
import { PlanCache } from './cluster-backend.js';
import type { StatementPlan } from './cluster-backend.js';
import { QueryStreamServer } from './query-stream.js';
import type { QueryStreamOptions, StreamReply } from './query-stream.js';
import { SharedNodeView, emptyView, viewLagMs } from '../host/node-view.js';
import type { LaneToMain, MainToLane } from '../host/read-protocol.js';
import type { SerializedResult } from '../replication/state-machine.js';

export type { LaneToMain, MainToLane } from '../host/read-protocol.js';

export interface LaneOptions {
  /** Host to listen on (the node's own listen host); the port is chosen by the system. */
  host: string;
  view: SharedArrayBuffer;
  channel: MessagePort;
  /** The node's name, for `meta.node`. */
  node: string;
  /** Runs a read statement in this worker (the same code as a read handed over by the main thread). */
  read: (query: string, params: Record<string, unknown>, deadline: number) => SerializedResult;
}

const METRICS_FLUSH_MS = 1000;
/** Durations kept between flushes; beyond it they are still counted, not timed. */
const MAX_TIMED = 50_000;

export class ReadLane {
  private readonly view: SharedNodeView;
  private readonly scratch = emptyView();
  private readonly plans = new PlanCache();
  private readonly nodeJson: string;
  private readonly streamOptions: QueryStreamOptions;
  private readonly stream: QueryStreamServer;
  private readonly server: Server;
  private defaultTimeoutMs = 30_000;
  // Forwarded calls waiting for the main thread, and those of this turn not yet posted.
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: StreamReply) => void>();
  private outbox: { id: number; body: QueryRequest }[] = [];
  // Metrics of the reads answered here, since the last flush.
  private counts = new Map<string, number>();
  private seconds: number[] = [];

  private constructor(private readonly options: LaneOptions) {
    this.view = new SharedNodeView(options.view);
    this.nodeJson = JSON.stringify(options.node);
    this.streamOptions = {
      run: (body) => this.run(body),
      bodyLimit: 1024 * 1024,
      onError: (error) => this.post({ kind: 'error', message: error instanceof Error ? error.message : String(error) }),
    };
    this.stream = new QueryStreamServer(this.streamOptions);
    this.server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'application/json; charset=utf-8' }).end('{"error":{"code":"BAD_REQUEST","message":"a read lane speaks only the query stream"}}');
    });
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if ((request.url ?? '').split('?')[0] === QUERY_STREAM_PATH) this.stream.accept(request, socket, head);
      else socket.destroy();
    });
    options.channel.on('message', (message: MainToLane) => this.onMain(message));
    setInterval(() => this.flushMetrics(), METRICS_FLUSH_MS).unref();
  }

  /** Starts a lane; once it listens, its port goes to the main thread (`listening`). */
  static start(options: LaneOptions): ReadLane {
    const lane = new ReadLane(options);
    lane.server.once('error', (error) => lane.post({ kind: 'error', message: `read lane cannot listen: ${error.message}` }));
    lane.server.listen({ host: options.host, port: 0 }, () => lane.post({ kind: 'listening', port: (lane.server.address() as AddressInfo).port }));
    return lane;
  }

  private run(body: QueryRequest, deadline = Date.now() + (body.timeout_ms ?? this.defaultTimeoutMs)): string | Promise<string | StreamReply> {
    const v = this.view.read(this.scratch);
    if (!v.serving) return this.forward(body);
    // A lag bound alone asks for a bounded read; no level at all reads local state (as on the main thread).
    const consistency = body.consistency ?? (body.max_lag_ms !== undefined ? 'bounded' : 'any');
    if (consistency === 'linearizable' || (consistency === 'leader' && !v.leader)) return this.forward(body);
    // Unknown lag (no leader heard lately) is over every bound: the main thread answers REPLICA_LAGGING.
    const lag = viewLagMs(v, Date.now());
    if (consistency === 'bounded' && (lag === undefined || lag > (body.max_lag_ms ?? 0))) return this.forward(body);
    // A causal token not applied yet: wait here for the main thread's next publish instead of handing the
    // read over (two thread hand-offs on the thread that drives Raft, for every read after a write).
    // A position in another region's log (after_epoch): the main thread knows this region's position.
    if (body.after_epoch !== undefined) return this.forward(body);
    if (body.after_index !== undefined && body.after_index > v.applied) return this.waitApplied(body, body.after_index, deadline);
    const plan = this.planOf(body.query);
    if (plan === undefined || plan.kind !== 'read') return this.forward(body);
    // From here the read is this lane's: its errors are answered here, as the main thread would answer them.
    const started = performance.now();
    let outcome = 'ok';
    try {
      const result = this.options.read(body.query, body.params ?? {}, deadline);
      // Read after the statement ran, as the main thread does.
      const m = this.view.read(this.scratch);
      const lagNow = viewLagMs(m, Date.now());
      return `{${result.json},"meta":{"node":${this.nodeJson},"role":"${m.role}","term":${m.term},"index":${m.commit},"applied_index":${m.applied},"lag_ms":${lagNow === undefined ? 'null' : lagNow}}}`;
    } catch (error) {
      outcome = isGeodeError(error) ? error.code : 'INTERNAL';
      throw error;
    } finally {
      this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
      if (this.seconds.length < MAX_TIMED) this.seconds.push((performance.now() - started) / 1000);
    }
  }

  /** Runs the read once the node has applied `index`; TIMEOUT at the read's deadline, as the main thread answers it. */
  private async waitApplied(body: QueryRequest, index: number, deadline: number): Promise<string | StreamReply> {
    for (;;) {
      const sequence = this.view.sequence();
      const applied = this.view.read(this.scratch).applied;
      if (applied >= index) return this.run(body, deadline);
      const left = deadline - Date.now();
      if (left <= 0) {
        this.counts.set(ErrorCode.TIMEOUT, (this.counts.get(ErrorCode.TIMEOUT) ?? 0) + 1);
        throw new GeodeError(ErrorCode.TIMEOUT, `applied index ${applied} did not reach ${index} in time`, { detail: 'AfterIndexNotReached', extra: { applied_index: applied } });
      }
      await this.view.changed(sequence, left);
    }
  }

  /** The statement's plan; undefined when it does not parse (the main thread answers the error). */
  private planOf(query: string): StatementPlan | undefined {
    try {
      return this.plans.plan(query);
    } catch {
      return undefined;
    }
  }

  private forward(body: QueryRequest): Promise<StreamReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.outbox.push({ id, body });
      if (this.outbox.length === 1) setImmediate(this.flushForwards);
    });
  }

  private readonly flushForwards = (): void => {
    const calls = this.outbox;
    this.outbox = [];
    if (calls.length > 0) this.post({ kind: 'forward', calls });
  };

  private onMain(message: MainToLane): void {
    if (message.kind === 'limits') {
      this.streamOptions.bodyLimit = message.bodyLimit;
      this.defaultTimeoutMs = message.defaultTimeoutMs;
      return;
    }
    for (const answer of message.answers) {
      const resolve = this.waiting.get(answer.id);
      if (resolve === undefined) continue;
      this.waiting.delete(answer.id);
      resolve({ status: answer.status, body: answer.body });
    }
  }

  private flushMetrics(): void {
    if (this.counts.size === 0) return;
    const counts = [...this.counts];
    const seconds = this.seconds;
    this.counts = new Map();
    this.seconds = [];
    this.post({ kind: 'metrics', counts, seconds });
  }

  private post(message: LaneToMain): void {
    this.options.channel.postMessage(message);
  }
}
