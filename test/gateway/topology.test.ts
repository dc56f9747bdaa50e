import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import { NodePools } from '../../gateway/pools.js';
import { lagOf, Topology } from '../../gateway/topology/index.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

t.test('a stale status taken while the watch is open is corrected by the next poll', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-topology-', { nodes: 1, logLevel: 'warn' });
  const node = await cluster.waitForLeader({ timeoutMs: 30_000 });
  const pools = new NodePools();
  t.teardown(() => pools.close());
  const POLL_MS = 300;
  const topology = new Topology({ regions: [{ name: 'one', lat: 0, lon: 0, role: 'primary', nodes: [node.url] }], pools, healthIntervalMs: 100, pollIntervalMs: POLL_MS });
  t.teardown(() => topology.close());
  topology.start();
  const live = await until('the watch to open and a status to arrive', 15_000, () => {
    const view = topology.view(node.url);
    return view !== undefined && view.watching && view.name !== undefined && lagOf(view) === 0 ? view : undefined;
  });

  // What a push missed while paused, or a poll answer overtaken by a push, leaves behind: an old, lagging picture.
  const status = (await (await fetch(`${node.url}/api/v1/cluster/status`)).json()) as { nodes: { id: string; replication_lag: number }[] };
  for (const member of status.nodes) member.replication_lag = 60_000;
  topology.applyStatus(node.url, status);
  t.equal(lagOf(live), 60_000, 'the stale picture is taken as it comes');
  t.ok(live.watching, 'with the watch still open');

  // The node's lag does not change, so no push will come; only the poll can put it right.
  const corrected = Date.now();
  await until('the poll to correct the lag', 15_000, () => (lagOf(live) === 0 ? true : undefined));
  t.ok(live.watching, 'the watch stayed open throughout');
  t.comment(`corrected ${Date.now() - corrected} ms after the stale status (poll interval ${POLL_MS} ms)`);
});
