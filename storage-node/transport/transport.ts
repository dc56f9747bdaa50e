/**
 * Persistent WebSocket links between Raft peers.
 *
 * Each node opens one outgoing link to every peer and sends its messages to
 * that peer over it; it receives on the links its peers opened to it. A link
 * carries binary frames (codec.ts) after a mutual HMAC challenge:
 *
 *   server -> client  {"challenge": S}
 *   client -> server  {"id": clientId, "nonce": C, "mac": HMAC(secret, "client|S|clientId")}
 *   server -> client  {"id": serverId, "mac": HMAC(secret, "server|C|serverId")}
 *
 * A peer that cannot prove the cluster secret is refused (close code 4401)
 * and logged; a client that cannot verify the server's answer closes too, so
 * neither side talks to an impostor. Links reconnect with capped exponential
 * backoff. While a link is down its messages are dropped: Raft retransmits
 * whatever matters, and an unbounded queue would only replay stale traffic.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import type { Message, NodeId } from '../raft/messages.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { zeroMask } from '../../shared/protocol/ws-mask.js';

export const RAFT_STREAM_PATH = '/raft/v1/stream';

/** The subset of a pino logger the transport uses. */
export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TransportOptions {
  selfId: NodeId;
  secret: string;
  /** Peer id -> base URL of its node API (`http://host:port`); the stream path is appended. */
  peers: ReadonlyMap<NodeId, string>;
  onMessage: (message: Message) => void;
  /**
   * Called when an open link to a peer closed and the next connection attempt
   * was refused outright: the peer's process is gone (on a live host, a
   * refused connection means nothing listens on the port any more).
   */
  onPeerDown?: (id: NodeId) => void;
  logger: TransportLogger;
  /** Backoff bounds for reconnects, in ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Past this many buffered bytes on a link, new messages to that peer are dropped. */
  maxBufferedBytes?: number;
  /** How long a connection may take to authenticate, in ms. */
  handshakeTimeoutMs?: number;
}

const mac = (secret: string, text: string): Buffer => createHmac('sha256', secret).update(text).digest();

function sameMac(expected: Buffer, hex: unknown): boolean {
  if (typeof hex !== 'string' || hex.length !== expected.length * 2) return false;
  const given = Buffer.from(hex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function parseJsonFrame(data: RawData, isBinary: boolean): Record<string, unknown> | undefined {
  if (isBinary) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const toBuffer = (data: RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

/** One outgoing link to one peer. */
class PeerLink {
  private socket: WebSocket | undefined;
  private ready = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The link was up and went down; the first refused reconnect after that reports the peer down. */
  private lostSinceUp = false;
  dropped = 0;

  constructor(
    private readonly transport: Transport,
    readonly peerId: NodeId,
    private url: string,
  ) {
    this.backoffMs = transport.minBackoffMs;
    this.connect();
  }

  get isReady(): boolean {
    return this.ready;
  }

  setUrl(url: string): void {
    if (url === this.url) return;
    this.url = url;
    this.socket?.terminate();
  }

  send(frame: Buffer): void {
    const socket = this.socket;
    if (!this.ready || socket === undefined || socket.bufferedAmount > this.transport.maxBufferedBytes) {
      this.dropped++;
      return;
    }
    socket.send(frame, { binary: true });
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.socket?.terminate();
  }

  private connect(): void {
    if (this.closed) return;
    const wsUrl = this.url.replace(/^http/, 'ws') + RAFT_STREAM_PATH;
    const socket = new WebSocket(wsUrl, { perMessageDeflate: false, handshakeTimeout: this.transport.handshakeTimeoutMs, generateMask: zeroMask });
    this.socket = socket;
    const clientNonce = randomBytes(16).toString('hex');
    const { selfId, secret } = this.transport;
    let stage: 'challenge' | 'proof' | 'open' = 'challenge';
    const guard = setTimeout(() => socket.terminate(), this.transport.handshakeTimeoutMs);
    socket.on('message', (data, isBinary) => {
      const frame = parseJsonFrame(data, isBinary);
      if (stage === 'challenge' && frame !== undefined && typeof frame['challenge'] === 'string') {
        const proof = mac(secret, `client|${frame['challenge']}|${selfId}`).toString('hex');
        socket.send(JSON.stringify({ id: selfId, nonce: clientNonce, mac: proof }));
        stage = 'proof';
      } else if (stage === 'proof' && frame !== undefined) {
        if (frame['id'] !== this.peerId || !sameMac(mac(secret, `server|${clientNonce}|${this.peerId}`), frame['mac'])) {
          this.transport.logger.warn({ peer: this.peerId, url: this.url }, 'raft peer failed to prove the cluster secret');
          socket.close(4401, 'unauthorized');
          return;
        }
        clearTimeout(guard);
        stage = 'open';
        this.ready = true;
        this.lostSinceUp = false;
        this.backoffMs = this.transport.minBackoffMs;
        this.transport.logger.info({ peer: this.peerId }, 'raft link up');
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // 'close' follows and schedules the reconnect.
      if (this.lostSinceUp && err.code === 'ECONNREFUSED') {
        this.lostSinceUp = false;
        this.transport.peerDown(this.peerId);
      }
    });
    socket.on('close', () => {
      clearTimeout(guard);
      if (this.ready) {
        this.transport.logger.info({ peer: this.peerId }, 'raft link down');
        this.lostSinceUp = true;
      }
      this.ready = false;
      if (this.socket === socket) this.socket = undefined;
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.transport.maxBackoffMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }
}

export class Transport {
  readonly selfId: NodeId;
  readonly secret: string;
  readonly logger: TransportLogger;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxBufferedBytes: number;
  readonly handshakeTimeoutMs: number;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly server = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  private readonly onMessage: (message: Message) => void;
  private readonly onPeerDown: ((id: NodeId) => void) | undefined;
  private readonly inbound = new Set<WebSocket>();

  constructor(options: TransportOptions) {
    this.selfId = options.selfId;
    this.secret = options.secret;
    this.logger = options.logger;
    this.onMessage = options.onMessage;
    this.onPeerDown = options.onPeerDown;
    this.minBackoffMs = options.minBackoffMs ?? 20;
    this.maxBackoffMs = options.maxBackoffMs ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 32 * 1024 * 1024;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 2000;
    for (const [id, url] of options.peers) this.setPeer(id, url);
  }

  /** Adds a peer, or points an existing one at a new URL. */
  setPeer(id: NodeId, url: string): void {
    if (id === this.selfId) return;
    const link = this.links.get(id);
    if (link !== undefined) link.setUrl(url);
    else this.links.set(id, new PeerLink(this, id, url));
  }

  removePeer(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  /** A link's report that its peer's process is gone (see TransportOptions.onPeerDown). */
  peerDown(id: NodeId): void {
    this.logger.info({ peer: id }, 'raft peer refused reconnection: process down');
    this.onPeerDown?.(id);
  }

  /** Whether the outgoing link to `id` is authenticated and open. */
  isConnected(id: NodeId): boolean {
    return this.links.get(id)?.isReady ?? false;
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (link !== undefined) link.send(encodeMessage(m));
    }
  }

  /** Call from the HTTP server's 'upgrade' event; returns false if the path is not ours. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((request.url ?? '').split('?')[0] !== RAFT_STREAM_PATH) return false;
    this.server.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request.socket.remoteAddress ?? ''));
    return true;
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const ws of this.inbound) ws.terminate();
    this.inbound.clear();
    this.server.close();
  }

  private accept(ws: WebSocket, remote: string): void {
    this.inbound.add(ws);
    const challenge = randomBytes(16).toString('hex');
    let peerId: NodeId | undefined;
    const guard = setTimeout(() => ws.terminate(), this.handshakeTimeoutMs);
    ws.send(JSON.stringify({ challenge }));
    ws.on('message', (data, isBinary) => {
      if (peerId === undefined) {
        const frame = parseJsonFrame(data, isBinary);
        const claimed = frame?.['id'];
        if (
          frame === undefined ||
          typeof claimed !== 'number' ||
          typeof frame['nonce'] !== 'string' ||
          !sameMac(mac(this.secret, `client|${challenge}|${claimed}`), frame['mac'])
        ) {
          this.logger.warn({ remote, claimed: claimed ?? null }, 'refused raft peer: cluster secret not proven');
          ws.close(4401, 'unauthorized');
          return;
        }
        clearTimeout(guard);
        peerId = claimed;
        ws.send(JSON.stringify({ id: this.selfId, mac: mac(this.secret, `server|${frame['nonce']}|${this.selfId}`).toString('hex') }));
        return;
      }
      if (!isBinary) return;
      let message: Message;
      try {
        message = decodeMessage(toBuffer(data));
      } catch (err) {
        this.logger.warn({ peer: peerId, err: String(err) }, 'dropped malformed raft frame');
        return;
      }
      // A peer speaks only for itself.
      if (message.from !== peerId || message.to !== this.selfId) return;
      this.onMessage(message);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearTimeout(guard);
      this.inbound.delete(ws);
    });
  }
}
