/**
 * Connection pooling for HA (seed: "Connection Pooling for HA"): a pool over
 * every node, health-checked, with bounded leases and retries. Writes through
 * any leased connection find the leader (421 `leader_url`).
 *
 *   node --import tsx examples/connection-pool.ts http://127.0.0.1:3151 http://127.0.0.1:3152 http://127.0.0.1:3153
 */
import { ConnectionPool } from '../shared/client/index.js';
import type { Row } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

export async function main(nodes: string | readonly string[] = DEFAULT_URL): Promise<{ users: Row[]; servedBy: string }> {
  await using pool = new ConnectionPool({
    nodes: typeof nodes === 'string' ? [nodes] : nodes,
    minConnections: 5,
    maxConnections: 50,
    connectionTimeout: 5_000, // ms
    idleTimeout: 300_000,
    healthCheckInterval: 30_000,
    maxRetries: 3,
    retryBackoff: (attempt) => 2 ** attempt * 100,
  });

  {
    await using conn = await pool.acquire();
    await conn.execute('CREATE (u:User {name: $name})', { name: 'Pooled' });
  }

  // Automatic connection management
  await using conn = await pool.acquire();
  const [result, meta] = await conn.query('MATCH (u:User) RETURN u');
  return { users: result.rows, servedBy: meta.node };
}

runIfMain(import.meta.url, (args) => main(args.length > 0 ? args : DEFAULT_URL));
