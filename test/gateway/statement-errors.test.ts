/**
 * Real processes: a statement's own failure is not its node's. Through a
 * gateway in front of a 3-node loopback cluster:
 * - a read that runs past its time limit is answered 408 TIMEOUT, sent to
 *   one node only (no retry, no hedge), and leaves every breaker closed and
 *   every node healthy and in rotation;
 * - a statement over its memory budget (MEMORY_LIMIT) or with a bad argument
 *   is relayed with its code, not retried, and opens no breaker;
 * - two long reads that keep both read workers of one replica busy (so its
 *   read lanes cannot answer pings) are not hedged to another node: the
 *   replica's main thread still answers the gateway's probe;
 * - a read in flight on two replicas that stop answering (SIGSTOP) is not
 *   sent to the third node.
 */
import t from 'tap';
import { launchTempCluster } from '../helpers/cluster.js';
import type { LaunchedNode } from '../../cli/launcher.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs for seconds on any node: 5 million rows through a filter. */
const SLOW = 'UNWIND range(1, 5000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS c';

interface Answer {
  status: number;
  body: { rows?: Record<string, unknown>[]; meta?: { node?: string }; error?: { code: string; message: string; detail?: string; retryable?: boolean } };
}

async function query(gw: RunningGateway, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${gw.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

async function metric(gw: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 'NaN');
}

interface StatusNode {
  id: string | null;
  url: string;
  status: string;
  breaker: string;
  in_rotation: boolean;
  out_of_rotation: string | null;
}

async function statusNodes(gw: RunningGateway): Promise<StatusNode[]> {
  return ((await (await fetch(`${gw.url}/api/v1/cluster/status`)).json()) as { nodes: StatusNode[] }).nodes;
}

t.test('statement errors through the gateway over a real cluster', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-gw-statement-', { nodes: 3 });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const [fa, fb] = cluster.nodes.filter((n) => n !== leader) as [LaunchedNode, LaunchedNode];
  const gateway = async (t: { teardown(fn: () => unknown): void }, nodes: string[]): Promise<RunningGateway> => {
    const gw = await startGateway(
      parseGatewayConfig({ listen: '127.0.0.1:0', session_secret: 'statement-errors-secret', region: 'one', health_interval_ms: 250, read_hedge_ms: 100, regions: { one: { lat: 0, lon: 0, role: 'primary', nodes } } }, 'test', {}),
      // A breaker this sensitive opens after two failures: any slow statement counted against a node would show.
      { breakers: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 } },
    );
    t.teardown(() => gw.close());
    const core = gw.app.gateway;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (core.topology.availableLeader() === undefined || core.service.candidates().filter((c) => !c.leader && c.healthy).length < 2)) await sleep(50);
    // Warm: every query stream open, so that a hedge would be possible.
    for (let i = 0; i < 10; i++) await query(gw, { query: 'RETURN 1 AS one', consistency: 'any' });
    return gw;
  };

  await t.test('a read past its time limit: 408 TIMEOUT from one node, no breaker opened, no node out of rotation', async (t) => {
    const gw = await gateway(t, cluster.nodes.map((n) => n.url));
    const retries = await metric(gw, 'geode_gateway_read_retries_total');
    const hedges = await metric(gw, 'geode_gateway_read_hedges_total');
    for (let i = 0; i < 3; i++) {
      const answer = await query(gw, { query: SLOW, timeout_ms: 1500, consistency: 'any' });
      t.equal(answer.status, 408, `slow read ${i}: 408`);
      t.equal(answer.body.error?.code, 'TIMEOUT', `slow read ${i}: ${answer.body.error?.message ?? JSON.stringify(answer.body)}`);
      t.equal(answer.body.error?.retryable, false, 'labelled not retryable: it would be slow on every replica');
    }
    t.equal(await metric(gw, 'geode_gateway_read_retries_total'), retries, 'no read was retried on another replica');
    t.equal(await metric(gw, 'geode_gateway_read_hedges_total'), hedges, 'no read was hedged');
    const nodes = await statusNodes(gw);
    t.same(
      nodes.map((n) => [n.id, n.status, n.breaker, n.in_rotation]),
      nodes.map((n) => [n.id, 'healthy', 'closed', true]),
      `every node healthy, breaker closed, in rotation: ${JSON.stringify(nodes.map((n) => [n.id, n.status, n.breaker, n.out_of_rotation]))}`,
    );
  });

  await t.test("a statement's own errors (over its memory budget, a bad argument) are relayed with their code and not retried", async (t) => {
    const gw = await gateway(t, cluster.nodes.map((n) => n.url));
    const retries = await metric(gw, 'geode_gateway_read_retries_total');
    for (const [statement, code] of [
      ['RETURN size(range(1, 2000000000)) AS n', 'MEMORY_LIMIT'],
      ['RETURN range(1, 10, 0) AS r', 'ARGUMENT_ERROR'],
    ] as const) {
      for (let i = 0; i < 3; i++) {
        const answer = await query(gw, { query: statement, consistency: 'any' });
        t.equal(answer.status, 400, `${code}: 400`);
        t.equal(answer.body.error?.code, code, answer.body.error?.message ?? '');
      }
    }
    t.equal(await metric(gw, 'geode_gateway_read_retries_total'), retries, 'none was retried');
    const nodes = await statusNodes(gw);
    t.same(
      nodes.map((n) => [n.id, n.breaker, n.in_rotation]),
      nodes.map((n) => [n.id, 'closed', true]),
      'no breaker opened, every node in rotation',
    );
  });

  await t.test('two long reads keeping one replica busy are not hedged to another node', async (t) => {
    // Configured with the leader and fa only: the follower tier's first pick is always fa (fb, learned from
    // the member list, comes next, and would take a hedge).
    const gw = await gateway(t, [leader.url, fa.url]);
    const hedges = await metric(gw, 'geode_gateway_read_hedges_total');
    const first = query(gw, { query: SLOW, timeout_ms: 3000, consistency: 'any' });
    // Later than the stream's stall threshold: the second read takes fa's other lane, so both read workers are busy.
    await sleep(200);
    const second = query(gw, { query: SLOW, timeout_ms: 3000, consistency: 'any' });
    const answers = await Promise.all([first, second]);
    t.same(
      answers.map((a) => a.body.error?.code),
      ['TIMEOUT', 'TIMEOUT'],
      `both ran out of time: ${JSON.stringify(answers.map((a) => a.body.error ?? a.body.meta))}`,
    );
    t.equal(await metric(gw, 'geode_gateway_read_hedges_total'), hedges, 'neither was hedged: fa answered the probe');
  });

  await t.test('a read in flight on two replicas that stop answering is not sent to the third node', async (t) => {
    const gw = await gateway(t, cluster.nodes.map((n) => n.url));
    const core = gw.app.gateway;
    t.teardown(() => {
      fa.resume();
      fb.resume();
    });
    const inflight = (node: LaunchedNode): number => core.topology.view(node.url)?.inflight ?? 0;
    let leaderReached = false;
    const watch = setInterval(() => {
      if (inflight(leader) > 0) leaderReached = true;
    }, 10);
    t.teardown(() => clearInterval(watch));
    const read = query(gw, { query: SLOW, timeout_ms: 15_000, consistency: 'any' });
    const holder = async (candidates: LaunchedNode[], what: string): Promise<LaunchedNode> => {
      const end = Date.now() + 20_000;
      for (;;) {
        const found = candidates.find((n) => inflight(n) > 0);
        if (found !== undefined) return found;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(5);
      }
    };
    const firstNode = await holder([fa, fb], 'the read to reach a follower');
    await firstNode.pause();
    const secondNode = await holder([fa, fb].filter((n) => n !== firstNode), 'the read to move to the other follower');
    await secondNode.pause();
    const answer = await read;
    clearInterval(watch);
    fa.resume();
    fb.resume();
    t.equal(answer.status, 503, JSON.stringify(answer.body));
    t.equal(answer.body.error?.detail, 'ReadNodesLost', answer.body.error?.message ?? '');
    t.equal(answer.body.error?.retryable, false, 'labelled not retryable: the statement may be what stops nodes');
    t.notOk(leaderReached, 'the leader never had the read in flight');
  });
});
