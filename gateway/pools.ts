/**
 * One undici Pool per storage node, keep-alive, shared by the query path,
 * health checks and status polling.
 */
import { Pool } from 'undici';

export interface NodePoolOptions {
  /** Connections per node. */
  connections?: number;
  keepAliveTimeoutMs?: number;
}

export class NodePools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: NodePoolOptions = {}) {}

  get(url: string): Pool {
    let pool = this.pools.get(url);
    if (pool === undefined) {
      pool = new Pool(url, {
        connections: this.options.connections ?? 128,
        keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: 2000 },
      });
      this.pools.set(url, pool);
    }
    return pool;
  }

  /** Closes and forgets the pool of `url` (the topology dropped that address). */
  drop(url: string): void {
    const pool = this.pools.get(url);
    if (pool === undefined) return;
    this.pools.delete(url);
    void pool.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}
