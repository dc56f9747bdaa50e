/**
 * A node's `/api/v1/cluster/watch` stream: reconnects with jittered
 * exponential backoff, hands each status message to `onStatus`.
 */
import { WebSocket } from 'ws';

export interface WatchClientOptions {
  url: string;
  onStatus: (status: unknown, reason: string) => void;
  onOpenChange: (open: boolean) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class WatchClient {
  private socket: WebSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private closed = false;

  constructor(private readonly options: WatchClientOptions) {}

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const wsUrl = `${this.options.url.replace(/^http/, 'ws')}/api/v1/cluster/watch`;
    const socket = new WebSocket(wsUrl, { handshakeTimeout: 3000, maxPayload: 4 * 1024 * 1024 });
    this.socket = socket;
    socket.on('open', () => {
      this.attempts = 0;
      this.options.onOpenChange(true);
    });
    socket.on('message', (data) => {
      let message: unknown;
      try {
        message = JSON.parse(String(data));
      } catch {
        return;
      }
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'status') {
        const { status, reason } = message as { status?: unknown; reason?: unknown };
        this.options.onStatus(status, typeof reason === 'string' ? reason : 'unknown');
      }
    });
    socket.on('error', () => {
      // 'close' follows and schedules the reconnect.
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.options.onOpenChange(false);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return;
    const min = this.options.minBackoffMs ?? 100;
    const max = this.options.maxBackoffMs ?? 2000;
    const base = Math.min(max, min * 2 ** Math.min(this.attempts, 10));
    this.attempts++;
    // Jitter spreads the reconnects of many gateways after a node restart.
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, delay);
    this.timer.unref();
  }

  /** Drops the current connection (e.g. the node stopped answering health checks); reconnects with backoff. */
  reset(): void {
    this.socket?.terminate();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.socket?.terminate();
    this.socket = undefined;
  }
}
