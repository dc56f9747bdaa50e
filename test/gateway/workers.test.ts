/**
 * Real processes: one gateway as two node:cluster worker processes sharing
 * one listening socket (what `geode gateway --workers 2` runs), in front of a
 * 3-node loopback cluster. The README example, CREATE then MATCH count as two
 * requests on two new connections without a token, lands the write on one
 * worker and the read on the other (the primary hands connections out in
 * turn), 100 times: no stale count, because a worker answers a write only once
 * its sibling knows the index (relayAcknowledgedIndexes in the primary).
 *
 * This file is also the workers' program: forked by the test, it starts a
 * gateway from GEODE_TEST_GATEWAY_CONFIG and reports its URL.
 */
import cluster from 'node:cluster';
import { request } from 'node:http';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import { relayAcknowledgedIndexes } from '../../gateway/acknowledged-index.js';

interface Answer {
  status: number;
  body: { rows?: Record<string, unknown>[]; meta?: { node?: string; index?: number }; acknowledged_index_shared?: boolean };
}

/** One request on a connection of its own (no agent, no keep-alive), as two separate curl calls make. */
function curl(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent: false, headers: { 'content-type': 'application/json', connection: 'close' }, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

if (cluster.isWorker) {
  const gateway = await startGateway(parseGatewayConfig(JSON.parse(process.env['GEODE_TEST_GATEWAY_CONFIG'] ?? '{}'), 'test', {}));
  process.send?.({ listening: gateway.url });
} else {
  const { default: t } = await import('tap');
  const { launchTempCluster } = await import('../helpers/cluster.js');
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  t.test('two gateway workers: a tokenless read on one sees the write acknowledged by the other', async (t) => {
    const nodes = await launchTempCluster(t, 'geode-gw-workers-', { nodes: 3 });
    await nodes.waitForLeader({ timeoutMs: 60_000 });
    relayAcknowledgedIndexes(cluster);
    // Workers' own TAP-free output stays out of this file's TAP stream.
    cluster.setupPrimary({ silent: true });
    const config = { listen: '127.0.0.1:0', session_secret: 'two-workers-secret-two', region: 'local', regions: { local: { lat: 0, lon: 0, role: 'primary', nodes: nodes.nodes.map((n) => n.url) } } };
    const workers = [0, 1].map(() => cluster.fork({ GEODE_TEST_GATEWAY_CONFIG: JSON.stringify(config) }));
    t.teardown(async () => {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once('exit', () => resolve());
              w.process.kill('SIGKILL');
            }),
        ),
      );
    });
    const urls = await Promise.all(
      workers.map(
        (w) =>
          new Promise<string>((resolve, reject) => {
            w.on('message', (message: { listening?: string }) => {
              if (typeof message.listening === 'string') resolve(message.listening);
            });
            w.once('exit', (code) => reject(new Error(`gateway worker exited with ${String(code)}`)));
          }),
      ),
    );
    const url = urls[0] as string;
    t.equal(urls[1], url, 'both workers serve one address');
    // Ready once reads (on new connections, so both workers) have been served by two different nodes.
    const deadline = Date.now() + 30_000;
    const followers = new Set<string>();
    while (Date.now() < deadline && followers.size < 2) {
      const read = await curl(url, 'POST', '/v1/query', { query: 'RETURN 1 AS one' });
      if (read.status === 200 && read.body.meta?.node !== undefined) followers.add(read.body.meta.node);
      else await sleep(100);
    }

    const ROUNDS = 100;
    const stale: string[] = [];
    const failures: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const write = await curl(url, 'POST', '/v1/query', { query: 'CREATE (n:Node {id: $id})', params: { id: i } });
      if (write.status !== 200) {
        failures.push(`write ${i}: ${write.status} ${JSON.stringify(write.body)}`);
        continue;
      }
      const read = await curl(url, 'POST', '/v1/query', { query: 'MATCH (n:Node) RETURN COUNT(n) AS total' });
      const total = read.body.rows?.[0]?.['total'];
      if (read.status !== 200 || total !== i + 1) stale.push(`round ${i}: ${read.status} total ${String(total)} from ${read.body.meta?.node ?? '?'}`);
    }
    t.same(failures, [], 'every write was acknowledged');
    t.same(stale, [], `no stale answer in ${ROUNDS} rounds`);
    const statuses = await Promise.all([0, 1].map(() => curl(url, 'GET', '/api/v1/cluster/status')));
    t.same(
      statuses.map((s) => s.body.acknowledged_index_shared),
      [true, true],
      'each worker says its index is shared',
    );
  });
}
