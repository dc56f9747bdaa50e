/**
 * Multi-region deployments of real node processes for tests (cli/launch-regions.ts), in a temp dir
 * removed in teardown, with the small helpers the region tests share: writes that retry with their
 * request id until some node of a region takes them, region status, and the row ids a region holds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchRegions } from '../../cli/launch-regions.js';
import type { LaunchRegionsOptions, LaunchedRegions } from '../../cli/launch-regions.js';
import type { LaunchedNode } from '../../cli/launcher.js';
import type { RegionDeployment, RegionSpec } from '../../shared/config/regions.js';
import type { RegionStatus } from '../../shared/protocol/region.js';
import { getJson, postJson, sleep } from './http.js';

export function deployment(regions: Array<Pick<RegionSpec, 'name' | 'role' | 'nodeCount'> & Partial<RegionSpec>>): RegionDeployment {
  return {
    routing: { strategy: 'geographic_proximity', failoverPolicy: 'manual', healthCheckIntervalMs: 1_000, failoverAfterMs: 10_000 },
    regions: regions.map((r) => ({ nodes: [], replicationMode: 'async', serveReads: r.role !== 'disaster_recovery', ...r })),
  };
}

export async function launchTempRegions(t: { teardown(fn: () => unknown): void }, prefix: string, options: Omit<LaunchRegionsOptions, 'dataDir'>): Promise<LaunchedRegions> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const regions = await launchRegions({ stdio: 'file', ...options, dataDir });
  t.teardown(async () => {
    // A test may leave processes paused: they must take SIGTERM.
    for (const node of regions.nodes) if (node.running) node.resume();
    await regions.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return regions;
}

/** Two one-node regions, east (primary) and west (secondary, lag bound 2 s), with their leaders elected. */
export async function launchEastWest(t: { teardown(fn: () => unknown): void }, prefix: string): Promise<{ regions: LaunchedRegions; east: LaunchedNode; west: LaunchedNode }> {
  const regions = await launchTempRegions(t, prefix, {
    deployment: deployment([
      { name: 'east', role: 'primary', nodeCount: 1 },
      { name: 'west', role: 'secondary', nodeCount: 1, replicationLagMaxMs: 2_000 },
    ]),
  });
  await regions.waitForLeaders({ timeoutMs: 60_000 });
  return { regions, east: regions.region('east').cluster.nodes[0]!, west: regions.region('west').cluster.nodes[0]! };
}

export async function regionStatus(node: LaunchedNode): Promise<RegionStatus | undefined> {
  try {
    const answer = await getJson(`${node.url}/api/v1/region/status`, {}, 2_000);
    return answer.status === 200 ? (answer.body as unknown as RegionStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** The status of a region's leader (the one that knows the stream and the lag), undefined while it has none. */
export async function leaderStatus(nodes: readonly LaunchedNode[]): Promise<RegionStatus | undefined> {
  for (const node of nodes) {
    if (!node.running) continue;
    const status = await regionStatus(node);
    if (status?.leader === true) return status;
  }
  return undefined;
}

/**
 * Writes `CREATE (:Row {id})` with a fixed request id, trying the region's nodes until one acknowledges
 * it (a retried id applies once). Answers the acknowledgement's meta, or undefined if none took it by the deadline.
 */
export async function writeRow(nodes: readonly LaunchedNode[], id: number, deadlineMs = 20_000): Promise<Record<string, unknown> | undefined> {
  const requestId = `row-${id}`;
  const end = Date.now() + deadlineMs;
  let turn = id;
  while (Date.now() < end) {
    const node = nodes[turn++ % nodes.length]!;
    if (!node.running) continue;
    try {
      const answer = await postJson(`${node.url}/v1/query`, { query: 'CREATE (:Row {id: $id})', params: { id }, request_id: requestId, timeout_ms: 5_000 }, {}, 6_000);
      if (answer.status === 200) return answer.body['meta'] as Record<string, unknown>;
    } catch {
      // A killed node: the next one.
    }
    await sleep(20);
  }
  return undefined;
}

/** Every Row id a node holds, sorted (duplicates kept, so a row applied twice shows). */
export async function rowIds(node: LaunchedNode): Promise<number[]> {
  const answer = await postJson(`${node.url}/v1/query`, { query: 'MATCH (r:Row) RETURN r.id AS id ORDER BY id', consistency: 'any' }, {}, 10_000);
  if (answer.status !== 200) throw new Error(`${node.name}: ${JSON.stringify(answer.body)}`);
  return (answer.body['rows'] as Array<{ id: number }>).map((r) => r.id);
}

export async function checksumOf(node: LaunchedNode, adminToken: string): Promise<{ checksum: string; position: { epoch: number; index: number } }> {
  const answer = await getJson(`${node.url}/api/v1/admin/checksum`, { authorization: `Bearer ${adminToken}` }, 20_000);
  if (answer.status !== 200) throw new Error(`${node.name}: ${JSON.stringify(answer.body)}`);
  return answer.body as unknown as { checksum: string; position: { epoch: number; index: number } };
}
