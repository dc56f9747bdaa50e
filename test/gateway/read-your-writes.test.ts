/**
 * Real processes: the README's first example through a gateway in front of a
 * 3-node loopback cluster. `CREATE (n:Node {id: $id})`, then `MATCH (n:Node)
 * RETURN COUNT(n) AS total`, as two separate HTTP requests on two separate
 * TCP connections without a session token, 100 times: every count includes
 * the write just acknowledged (the gateway's read-your-writes default), even
 * though round robin sends most reads to followers that learn of the commit
 * a moment after the leader answered it.
 */
import { request } from 'node:http';
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  session: string | undefined;
  body: { rows?: Record<string, unknown>[]; meta?: { node?: string; index?: number }; error?: { code: string; message: string } };
}

/** One POST on a connection of its own (no agent, no keep-alive), as two separate curl calls make. */
function curl(url: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/query`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' }, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const header = res.headers['geode-session'];
        resolve({ status: res.statusCode ?? 0, session: typeof header === 'string' ? header : undefined, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'] });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

t.test('the README example answers 1 more each time: a tokenless read sees the write acknowledged before it', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-gw-ryw-', { nodes: 3 });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const gw = await startGateway(
    parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'read-your-writes-secret', region: 'local', regions: { local: { lat: 0, lon: 0, role: 'primary', nodes: cluster.nodes.map((n) => n.url) } } }, 'test', {}),
  );
  t.teardown(() => gw.close());
  const core = gw.app.gateway;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (core.topology.availableLeader() === undefined || core.service.candidates().filter((c) => !c.leader && c.healthy).length < 2)) await sleep(50);

  const ROUNDS = 100;
  const stale: string[] = [];
  const failures: string[] = [];
  const servedBy = new Map<string, number>();
  for (let i = 0; i < ROUNDS; i++) {
    const write = await curl(gw.url, { query: 'CREATE (n:Node {id: $id})', params: { id: i } });
    if (write.status !== 200) {
      failures.push(`write ${i}: ${write.status} ${JSON.stringify(write.body)}`);
      continue;
    }
    const read = await curl(gw.url, { query: 'MATCH (n:Node) RETURN COUNT(n) AS total' });
    const node = read.body.meta?.node ?? '?';
    servedBy.set(node, (servedBy.get(node) ?? 0) + 1);
    const total = read.body.rows?.[0]?.['total'];
    if (read.status !== 200 || total !== i + 1) stale.push(`round ${i}: ${read.status} total ${String(total)} from ${node}, write index ${String(write.body.meta?.index)}`);
  }
  t.comment(`reads served by ${JSON.stringify([...servedBy])}`);
  t.same(failures, [], 'every write was acknowledged');
  t.same(stale, [], `no stale answer in ${ROUNDS} rounds`);
  const followerReads = [...servedBy].filter(([name]) => name !== leader.name).reduce((sum, [, n]) => sum + n, 0);
  t.ok(followerReads >= ROUNDS / 2, `the followers served ${followerReads} of the reads (the default does not just send reads to the leader)`);
  t.ok(core.service.acknowledgedIndex > 0, `the gateway keeps the highest index it acknowledged (${core.service.acknowledgedIndex})`);
});
