/**
 * Read replica scaling (seed: "Read Replica Scaling"): writes always go to the
 * primary, reads are spread over replicas by a ReplicaSelector within a lag
 * bound. With only a gateway URL, the same policy is a pair of SET SESSION
 * statements and the gateway does the spreading.
 *
 *   node --import tsx examples/read-replica-scaling.ts <primary-url> <replica-url>...
 *   node --import tsx examples/read-replica-scaling.ts <gateway-url>
 */
import { Client, ReplicaSelector } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

export interface ScalingReport {
  users: number;
  /** Which node served each read. */
  servedBy: string[];
}

export async function main(primary: string = DEFAULT_URL, replicas: readonly string[] = []): Promise<ScalingReport> {
  const direct = replicas.length > 0;
  // Configure the client with replicas (or one gateway URL).
  await using client = direct
    ? new Client({ primary, replicas, replicaSelector: ReplicaSelector.ROUND_ROBIN, maxReplicationLag: 100 /* ms */ })
    : new Client({ url: primary });
  if (!direct) {
    await client.query('SET SESSION READ PREFERENCE round_robin');
    await client.query('SET SESSION MAX REPLICATION LAG 100');
  }

  // Writes always go to primary
  await client.execute('CREATE (u:User {id: $id, name: $name})', { id: 123, name: 'Alice' });

  // Reads load-balanced across replicas
  const servedBy: string[] = [];
  let users = 0;
  for (let i = 0; i < 6; i++) {
    const [result, meta] = await client.query('MATCH (u:User) RETURN COUNT(u) AS users');
    users = Number(result.rows[0]?.['users'] ?? 0);
    servedBy.push(meta.node);
  }
  return { users, servedBy };
}

runIfMain(import.meta.url, (args) => main(args[0], args.slice(1)));
