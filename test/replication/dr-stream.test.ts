/**
 * The DR stream between two regional Raft groups of real processes: it resumes after SIGKILL of the
 * follower region's leader and of the source region's leader, after the whole follower region hung
 * (SIGSTOP; the primary meanwhile takes every write), and after the whole follower region was
 * down while the source compacted its log past the follower's position (a graph image then crosses
 * the stream). After each disruption both regions hold exactly the acknowledged rows, none twice, and
 * every node of both regions has the same graph checksum at the same primary position.
 */
import t from 'tap';
import type { Test } from 'tap';
import { checksumOf, deployment, launchTempRegions, leaderStatus, regionStatus, rowIds, writeRow } from '../helpers/regions.js';
import { postJson, until } from '../helpers/http.js';
import type { LaunchedNode } from '../../cli/launcher.js';
import type { LaunchedRegions } from '../../cli/launch-regions.js';
import { runClusterCommand } from '../../cli/cluster.js';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';

t.setTimeout(240_000);

async function writeRows(nodes: readonly LaunchedNode[], from: number, count: number, acknowledged: Set<number>, concurrency = 8): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < from + count) {
        const id = next++;
        if ((await writeRow(nodes, id)) !== undefined) acknowledged.add(id);
      }
    }),
  );
}

/** Until the follower region's leader has applied the primary leader's position; then every node of both regions agrees. */
async function settled(t: Test, regions: LaunchedRegions, acknowledged: Set<number>, what: string): Promise<void> {
  const east = regions.region('east').cluster.nodes;
  const west = regions.region('west').cluster.nodes;
  const position = await until(`${what}: the follower region catches up`, async () => {
    const primary = await leaderStatus(east);
    const follower = await leaderStatus(west);
    if (primary === undefined || follower === undefined) return undefined;
    return follower.position.epoch === primary.position.epoch && follower.position.index === primary.position.index ? primary.position : undefined;
  }, 60_000, 100);
  const expected = [...acknowledged].sort((a, b) => a - b);
  for (const node of [...east, ...west]) {
    if (!node.running) continue;
    // Every node of a region applies what its group committed: wait for each to reach the position, then compare.
    await until(`${what}: ${node.name} applies position ${position.index}`, async () => {
      const s = await regionStatus(node);
      return s !== undefined && s.position.index >= position.index ? true : undefined;
    }, 30_000, 100);
    const ids = await rowIds(node);
    // Acknowledged rows all there, none twice; a write whose answer was lost to a kill may be there once too.
    t.ok(expected.every((id) => ids.includes(id)), `${what}: ${node.name} holds every acknowledged row`);
    t.equal(new Set(ids).size, ids.length, `${what}: ${node.name} holds no row twice`);
  }
  const sums = await Promise.all([...east, ...west].filter((n) => n.running).map(async (n) => ({ node: n.name, ...(await checksumOf(n, regions.adminToken)) })));
  t.equal(new Set(sums.map((s) => s.checksum)).size, 1, `${what}: one graph checksum across both regions (${sums.map((s) => `${s.node}@${s.position.index}`).join(', ')})`);
}

t.test('the DR stream resumes after leader kills on either side and across a compacted log, applying every entry exactly once', async (t) => {
  const regions = await launchTempRegions(t, 'geode-dr-', {
    deployment: deployment([
      { name: 'east', role: 'primary', nodeCount: 3 },
      { name: 'west', role: 'secondary', nodeCount: 3 },
    ]),
    snapshotEntries: 200,
  });
  await regions.waitForLeaders({ timeoutMs: 60_000 });
  const east = regions.region('east').cluster.nodes;
  const west = regions.region('west').cluster.nodes;
  const acknowledged = new Set<number>();

  await writeRows(east, 0, 60, acknowledged);
  await settled(t, regions, acknowledged, 'steady state');
  const direct = await postJson(`${west[0]!.url}/v1/query`, { query: 'CREATE (:Row {id: -1})' });
  t.equal(direct.status, 421, 'a follower region takes no write of its own');
  t.match(direct.body, { error: { code: 'NOT_PRIMARY_REGION', primary_region: 'east', epoch: 1 } }, 'naming the primary region and the epoch');

  // 1. SIGKILL the follower region's leader while the primary writes: another west node leads and resumes the stream.
  const westLeader = await until('west leader', async () => (await leaderStatus(west))?.node);
  const writing1 = writeRows(east, 100, 80, acknowledged);
  await regions.node(westLeader).kill('SIGKILL');
  await writing1;
  await until('west elects another leader', async () => {
    const s = await leaderStatus(west);
    return s !== undefined && s.node !== westLeader && s.stream?.connected === true ? s : undefined;
  });
  await regions.node(westLeader).start();
  await settled(t, regions, acknowledged, 'after SIGKILL of the follower region leader');

  // 2. SIGKILL the source region's leader mid-stream: writes go on at east's next leader, the stream resumes from it.
  const eastLeader = await until('east leader', async () => (await leaderStatus(east))?.node);
  const writing2 = writeRows(east, 200, 80, acknowledged);
  await regions.node(eastLeader).kill('SIGKILL');
  await writing2;
  await regions.node(eastLeader).start();
  await settled(t, regions, acknowledged, 'after SIGKILL of the source region leader');

  // 2b. A hung follower region (every node SIGSTOPped) must not hold up the primary: its epoch rounds give up on it.
  for (const node of west) await node.pause();
  const hung = new Set<number>();
  await writeRows(east, 500, 60, hung);
  t.equal(hung.size, 60, 'the primary acknowledged every write while the follower region hung');
  for (const id of hung) acknowledged.add(id);
  for (const node of west) node.resume();
  await settled(t, regions, acknowledged, 'after the follower region hung');

  // 3. The whole follower region is down while the primary compacts past its position: an image crosses.
  const before = (await leaderStatus(west))!;
  for (const node of west) await node.kill('SIGKILL');
  await writeRows(east, 1_000, 1_300, acknowledged, 16);
  for (const node of east) await postJson(`${node.url}/api/v1/admin/snapshot`, {}, { authorization: `Bearer ${regions.adminToken}` }, 30_000);
  await Promise.all(west.map((n) => n.start()));
  await settled(t, regions, acknowledged, 'after the source compacted past the follower');
  const after = (await leaderStatus(west))!;
  t.ok((after.stream?.snapshots ?? 0) > 0, `a graph image crossed the stream (position was ${before.position.index}, the source compacted past it)`);

  // The operator's check: `geode cluster verify-data` through a gateway, within and across the regions.
  const gw = await startGateway(
    parseGatewayConfig(
      {
        listen: '127.0.0.1:0',
        session_secret: 'dr-stream-test-secret-0123456789',
        admin_token: regions.adminToken,
        region: 'east',
        regions: { east: { lat: 39.0, lon: -77.5, role: 'primary', nodes: east.map((n) => n.url) }, west: { lat: 45.5, lon: -122.7, role: 'secondary', nodes: west.map((n) => n.url) } },
      },
      'test',
      {},
    ),
  );
  t.teardown(() => gw.close());
  let out = '';
  let err = '';
  const code = await runClusterCommand('verify-data', {
    url: gw.url,
    json: true,
    token: regions.adminToken,
    dataDir: regions.dataDir,
    target: undefined,
    timeoutMs: 60_000,
    positionals: [],
    out: (text) => (out += text),
    err: (text) => (err += text),
  });
  t.equal(code, 0, `geode cluster verify-data exits 0 (${err.trim()})`);
  t.match(JSON.parse(out), { consistent: true, cross_region: { differing: [] } }, 'one checksum within and across the regions');
});
