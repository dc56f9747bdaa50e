/**
 * Client behaviour during failover (seed: "Client Behavior"): try hosts in
 * order until a primary responds.
 *
 *   node --import tsx examples/failover.ts http://127.0.0.1:3151 http://127.0.0.1:3152 http://127.0.0.1:3153
 */
import { Client, GeodeConnectionError } from '../shared/client/index.js';
import type { Row } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Try hosts in order until a primary responds. */
export async function queryWithFailover(hosts: readonly string[], query: string): Promise<Row[]> {
  for (const host of hosts) {
    // One retry per host: the loop itself moves on to the next host.
    const client = new Client({ url: host, maxRetries: 1, deadlineMs: 5_000 });
    try {
      await using conn = client.connection();
      const [result] = await conn.query(query);
      return result.rows;
    } catch (error) {
      if (!(error instanceof GeodeConnectionError)) throw error;
      await sleep(200);
    } finally {
      await client.close();
    }
  }
  throw new GeodeConnectionError('All primaries unavailable');
}

export async function main(hosts: string | readonly string[] = DEFAULT_URL): Promise<Row[]> {
  return queryWithFailover(typeof hosts === 'string' ? [hosts] : hosts, 'MATCH (n) RETURN count(n) AS nodes');
}

runIfMain(import.meta.url, (args) => main(args.length > 0 ? args : DEFAULT_URL));
