/**
 * Real processes: two regional groups on loopback (one node each, each its
 * own Raft group: cli/launch-regions.ts) behind two gateways, one placed in
 * each region. Proves, end to end with the nodes' own region logic:
 * - the gateways see regional groups and send writes to the primary region;
 * - read-your-writes through a follower region: a tokenless read right after
 *   a write, served by the follower region, sees it (after_epoch with
 *   after_index, which the follower's node waits for);
 * - a planned promotion through the gateway's admin route moves writes to the
 *   new primary at once, and a read in the former primary (now following)
 *   with the session token sees the write made at the new epoch;
 * - the status and metrics say so.
 */
import t from 'tap';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import { deployment, launchTempRegions } from '../helpers/regions.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface QueryAnswer {
  status: number;
  token: string;
  body: { rows?: Array<Record<string, unknown>>; meta?: { node?: string; index?: number; epoch?: number }; error?: { code: string } };
}

async function query(gw: RunningGateway, body: Record<string, unknown>, token?: string): Promise<QueryAnswer> {
  const res = await fetch(`${gw.url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined ? { 'geode-session': token } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, token: res.headers.get('geode-session') ?? '', body: (await res.json()) as QueryAnswer['body'] };
}

t.test('a gateway in each of two regional groups', async (t) => {
  const regions = await launchTempRegions(t, 'geode-gw-regions-', {
    deployment: deployment([
      { name: 'east', role: 'primary', nodeCount: 1 },
      { name: 'west', role: 'secondary', nodeCount: 1, replicationLagMaxMs: 5_000 },
    ]),
    logLevel: 'warn',
  });
  await regions.waitForLeaders({ timeoutMs: 60_000 });
  const east = regions.region('east').cluster.nodes[0];
  const west = regions.region('west').cluster.nodes[0];
  if (east === undefined || west === undefined) throw new Error('a region without its node');

  const gatewayIn = async (home: 'east' | 'west'): Promise<RunningGateway> => {
    const gw = await startGateway(
      parseGatewayConfig(
        {
          listen: '127.0.0.1:0',
          session_secret: 'regions-processes-secret',
          admin_token: regions.adminToken,
          region: home,
          health_interval_ms: 200,
          write_hold_ms: 10_000,
          regions: {
            east: { lat: 39.0, lon: -77.5, role: 'primary', nodes: [regions.urlFrom(home, east.url)] },
            west: { lat: 45.5, lon: -122.7, role: 'secondary', nodes: [regions.urlFrom(home, west.url)] },
          },
        },
        'test',
        {},
      ),
    );
    t.teardown(() => gw.close());
    return gw;
  };
  const gwWest = await gatewayIn('west');
  const gwEast = await gatewayIn('east');
  for (const gw of [gwWest, gwEast]) {
    const topology = gw.app.gateway.topology;
    await until('the gateway to see two regional groups with the east leader writable', () => topology.regional && topology.regionViews().every((r) => r.row.source === 'region') && topology.availableLeader()?.url === east.url);
  }

  let eastWrites = 0;
  await t.test('writes go to the primary region; a tokenless read in the follower region sees them', async (t) => {
    for (let i = 0; i < 5; i++) {
      const write = await query(gwWest, { query: 'CREATE (:G {i: $i})', params: { i } });
      t.equal(write.status, 200, JSON.stringify(write.body));
      t.equal(write.body.meta?.node, east.name, 'written in east');
      t.equal(write.body.meta?.epoch, 1);
      eastWrites++;
      // No token: the gateway's own acknowledged position makes the west node wait for the write.
      const read = await query(gwWest, { query: 'MATCH (n:G) RETURN count(n) AS c', consistency: 'any' });
      t.equal(read.status, 200, JSON.stringify(read.body));
      t.equal(read.body.meta?.node, west.name, "served by the gateway's own region, a follower region");
      t.equal(read.body.rows?.[0]?.['c'], eastWrites, 'and it has the write');
    }
    const status = (await (await fetch(`${gwWest.url}/api/v1/cluster/status`)).json()) as { regional: boolean; epoch: number; primary_region: string; regions: Array<{ name: string; state: string; lag_ms: number | null }> };
    t.match(status, { regional: true, epoch: 1, primary_region: 'east' });
    t.match(status.regions.find((r) => r.name === 'west'), { state: 'follower' });
  });

  await t.test('a planned promotion through the gateway moves writes at once; the former primary serves the new epoch to a session', async (t) => {
    const refused = await fetch(`${gwEast.url}/api/v1/admin/regions/promote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ region: 'west' }) });
    t.equal(refused.status, 401, 'the admin token is required');
    const promoted = await fetch(`${gwEast.url}/api/v1/admin/regions/promote`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${regions.adminToken}` },
      body: JSON.stringify({ region: 'west', timeout_ms: 20_000 }),
    });
    const result = (await promoted.json()) as { region?: string; epoch?: number; planned?: boolean };
    t.equal(promoted.status, 200, JSON.stringify(result));
    t.match(result, { region: 'west', epoch: 2, planned: true });
    t.same([gwEast.app.gateway.topology.epoch, gwEast.app.gateway.topology.primaryRegion], [2, 'west'], 'the promoting gateway adopts it from the answer');

    const write = await query(gwEast, { query: 'CREATE (:G {i: 100})' });
    t.equal(write.status, 200, JSON.stringify(write.body));
    t.equal(write.body.meta?.node, west.name, 'written in west now');
    t.equal(write.body.meta?.epoch, 2);
    // The other gateway learns it from a refusal or its next region poll; its writes land in west too.
    const other = await query(gwWest, { query: 'CREATE (:G {i: 101})' });
    t.equal(other.status, 200, JSON.stringify(other.body));
    t.equal(other.body.meta?.node, west.name);

    // A session that wrote at epoch 2 reads in east, now a follower region: east waits for that position.
    // Until east's own status says it follows at epoch 2, the gateway keeps reads away from it (a former primary).
    const eastRow = await until('east to report itself a follower at epoch 2', () => {
      const row = gwEast.app.gateway.topology.regionViews().find((r) => r.name === 'east')?.row;
      return row?.state === 'follower' && row.epoch === 2 ? row : undefined;
    });
    t.comment(JSON.stringify(eastRow));
    const session = gwEast.app.gateway.codec.decode(write.token);
    t.equal(session.causalEpoch, 2, 'the token holds the epoch');
    const read = await query(gwEast, { query: 'MATCH (n:G {i: 100}) RETURN count(n) AS c', consistency: 'any' }, write.token);
    t.equal(read.status, 200, JSON.stringify(read.body));
    t.equal(read.body.meta?.node, east.name, "served by the gateway's own region, following west now");
    t.equal(read.body.rows?.[0]?.['c'], 1, 'the write of epoch 2 is there');

    const direct = await fetch(`${east.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'CREATE (:G {i: 102})' }) });
    t.equal(direct.status, 421, 'east itself refuses writes now');
    const metrics = await until('the west gateway to report epoch 2', async () => {
      const text = await (await fetch(`${gwWest.url}/metrics`)).text();
      return /geode_region_epoch 2\b/.test(text) ? text : undefined;
    });
    t.match(metrics, /geode_region_replication_lag_seconds\{region="west"\} 0\b/, 'the new primary has no lag');
    const status = (await (await fetch(`${gwEast.url}/api/v1/cluster/status`)).json()) as { epoch: number; primary_region: string; leader: string };
    t.match(status, { epoch: 2, primary_region: 'west', leader: west.name });
  });
});
