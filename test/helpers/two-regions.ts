/**
 * A 3-node loopback cluster behind one gateway configured with two regions:
 * us-east holds the leader and one follower (`fa`), eu-west the other
 * follower (`fb`); X-Forwarded-For from loopback is trusted. Resolves once
 * the gateway knows the leader and sees both followers healthy; stops
 * everything in the test's teardown.
 */
import { launchTempCluster } from './cluster.js';
import type { LaunchedCluster, LaunchedNode } from '../../cli/launcher.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';

export interface TwoRegions {
  cluster: LaunchedCluster;
  leader: LaunchedNode;
  fa: LaunchedNode;
  fb: LaunchedNode;
  gw: RunningGateway;
}

export async function startTwoRegions(t: { teardown(fn: () => unknown): void }, name: string): Promise<TwoRegions> {
  const cluster = await launchTempCluster(t, `geode-gw-${name}-`, { nodes: 3 });
  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  const [fa, fb] = cluster.nodes.filter((n) => n !== leader) as [LaunchedNode, LaunchedNode];
  const gw = await startGateway(
    parseGatewayConfig(
      {
        listen: '127.0.0.1:0',
        session_secret: `${name}-secret-`.repeat(4),
        trusted_proxies: ['127.0.0.1', '::1'],
        region: 'us-east',
        health_interval_ms: 250,
        // These tests check which node a policy picks, with replicas paused on purpose; on a loaded
        // machine a hedge would legitimately answer from elsewhere. Hedging has its own test (routing).
        read_hedge_ms: 0,
        regions: {
          'us-east': { lat: 39.0, lon: -77.5, role: 'primary', nodes: [leader.url, fa.url] },
          'eu-west': { lat: 53.3, lon: -6.3, role: 'secondary', nodes: [fb.url] },
        },
      },
      'test',
      {},
    ),
  );
  t.teardown(() => gw.close());
  const core = gw.app.gateway;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (core.topology.availableLeader() === undefined || core.service.candidates().filter((c) => !c.leader && c.healthy).length < 2)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return { cluster, leader, fa, fb, gw };
}
