import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { entryChecksum } from '../../storage-node/log/durable-log.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// A committed entry the state machine cannot apply (the database failing, or an entry it cannot read)
// must stop the node: applying the entries after it would skip it for good, and this replica's graph
// would silently differ from the others'. Restarted, the node meets the entry again.
t.test('a node whose apply fails stops instead of going on without the entry', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-apply-failure-', { nodes: 1, logLevel: 'info' });
  const { dataDir } = cluster;
  const node = await cluster.waitForLeader({ timeoutMs: 30_000 });
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${node.url}/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'CREATE (:Item {n: $n})', params: { n: i } }),
    });
    t.equal(response.status, 200);
  }
  await node.kill('SIGTERM');

  // A committed entry whose command is not JSON, with a valid checksum so the log does not drop it as torn.
  const db = new Database(join(dataDir, node.name, 'raft.db'));
  const last = db.prepare('SELECT idx, term FROM entries ORDER BY idx DESC LIMIT 1').get() as { idx: number; term: number };
  const index = last.idx + 1;
  const data = Buffer.from('{not a command');
  db.prepare('INSERT INTO entries (idx, term, type, data, crc) VALUES (?, ?, 0, ?, ?)').run(index, last.term, data, entryChecksum(index, last.term, 0, data));
  const hard = JSON.parse(db.prepare("SELECT value FROM meta WHERE key = 'hard_state'").pluck().get() as string) as { commit: number };
  hard.commit = index;
  db.prepare("UPDATE meta SET value = ? WHERE key = 'hard_state'").run(JSON.stringify(hard));
  db.close();

  // Restarted, it replays the committed entries; it may stop before or after it answers its first status.
  await node.start().catch(() => undefined);
  const deadline = Date.now() + 30_000;
  while (node.running && Date.now() < deadline) await sleep(100);
  t.notOk(node.running, 'the node stopped');
  t.match(node.output(), /apply failed; stopping the node/);
});
