/**
 * Read-write splitting (seed: "Load Balancing"): writes to the primary, reads
 * from a replica. Handing the primary client's session to the replica client
 * makes the read see the write (read-your-writes), through gateways or nodes.
 *
 *   node --import tsx examples/read-write-splitting.ts <primary-url> <replica-url>
 */
import { Client } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

export async function main(primaryUrl: string = DEFAULT_URL, replicaUrl: string = primaryUrl): Promise<{ total: number }> {
  await using primary = new Client({ url: primaryUrl });
  await using replica = new Client({ url: replicaUrl });

  // Write to primary
  {
    await using conn = primary.connection();
    await conn.execute('CREATE (n:Node {id: $id})', { id: 1 });
  }

  // The replica waits until it has applied what the primary client has seen.
  replica.catchUp(primary.session);

  // Read from replica
  await using conn = replica.connection();
  const [result] = await conn.query('MATCH (n:Node) RETURN COUNT(n) AS total');
  const total = result.rows.length > 0 ? Number(result.rows[0]?.['total']) : 0;
  return { total };
}

runIfMain(import.meta.url, (args) => main(args[0], args[1]));
