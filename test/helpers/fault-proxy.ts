/**
 * A TCP proxy that can cut traffic, for partition tests on loopback. One
 * proxy carries one direction of one pair of nodes (node A dials B through
 * the proxy A->B), so a test can isolate a node, or cut a single direction
 * for an asymmetric partition, while every process keeps running.
 */
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { once } from 'node:events';

export class FaultProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private blocked = false;
  port = 0;

  /** Listens on `host`; dials `targetPort` on `targetHost` (default: the same host). */
  constructor(
    private readonly targetPort: number,
    private readonly host = '127.0.0.1',
    private readonly targetHost = host,
  ) {
    this.server = createServer((client) => {
      if (this.blocked) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      this.track(client);
      this.track(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
    });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  async listen(port = 0): Promise<number> {
    this.server.listen(port, this.host);
    await once(this.server, 'listening');
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this.port;
  }

  /** Drops every open connection and refuses new ones until heal(). */
  cut(): void {
    this.blocked = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
