/**
 * `GET /api/v1/cluster/watch`: a WebSocket that pushes the cluster status on
 * connect and after every node 'change' event, at most one message per
 * 20 ms (a burst of changes collapses into one message carrying the latest
 * status). Ping every 5 s; a client that missed the previous pong, or lets
 * unsent data pile up, is dropped.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { ClusterNode } from './cluster-node.js';

export const WATCH_PATH = '/api/v1/cluster/watch';

export interface WatchOptions {
  /** Minimum gap between two pushes; default 20 ms. */
  coalesceMs?: number;
  /** Ping interval; default 5 s. */
  keepaliveMs?: number;
  onError: (error: unknown) => void;
}

/** A client that has not read this much of what we sent is too slow to follow the cluster. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** When several changes share a push, the reason that matters most is the one reported. */
const REASON_RANK: Readonly<Record<string, number>> = { leader: 3, settings: 2, lag: 1 };

export interface WatchMessage {
  type: 'status';
  reason: string;
  status: ReturnType<ClusterNode['clusterStatus']>;
}

export class ClusterWatch {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly coalesceMs: number;
  private readonly keepalive: NodeJS.Timeout;
  private node: ClusterNode | undefined;
  private pendingReason: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSentAt = 0;
  private closed = false;

  constructor(private readonly options: WatchOptions) {
    this.coalesceMs = options.coalesceMs ?? 20;
    this.keepalive = setInterval(() => this.ping(), options.keepaliveMs ?? 5000);
    this.keepalive.unref();
  }

  get clientCount(): number {
    return this.wss.clients.size;
  }

  /** Takes over an upgrade request for the watch path. */
  accept(node: ClusterNode, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.follow(node);
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      this.alive.set(ws, true);
      ws.on('pong', () => this.alive.set(ws, true));
      ws.on('error', (error) => {
        this.options.onError(error);
        ws.terminate();
      });
      // The client only listens; anything it says is ignored.
      ws.on('message', () => undefined);
      this.sendTo(ws, this.message(node, 'connect'));
    });
  }

  /** Subscribes to the node's changes once (the node never changes for a server). */
  private follow(node: ClusterNode): void {
    if (this.node === node) return;
    if (this.node !== undefined) this.node.off('change', this.onChange);
    this.node = node;
    node.on('change', this.onChange);
  }

  private readonly onChange = (reason: string): void => {
    if (this.closed || this.wss.clients.size === 0) return;
    if (this.pendingReason === undefined || (REASON_RANK[reason] ?? 0) > (REASON_RANK[this.pendingReason] ?? 0)) this.pendingReason = reason;
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastSentAt + this.coalesceMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  };

  private flush(): void {
    this.timer = undefined;
    const reason = this.pendingReason;
    this.pendingReason = undefined;
    const node = this.node;
    if (this.closed || reason === undefined || node === undefined) return;
    this.lastSentAt = Date.now();
    const text = this.message(node, reason);
    for (const ws of this.wss.clients) this.sendTo(ws, text);
  }

  private message(node: ClusterNode, reason: string): string {
    const message: WatchMessage = { type: 'status', reason, status: node.clusterStatus() };
    return JSON.stringify(message);
  }

  private sendTo(ws: WebSocket, text: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.terminate();
      return;
    }
    ws.send(text);
  }

  private ping(): void {
    for (const ws of this.wss.clients) {
      if (this.alive.get(ws) !== true) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.node?.off('change', this.onChange);
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
