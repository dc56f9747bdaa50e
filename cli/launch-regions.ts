/**
 * Launches a multi-region deployment on loopback: one cluster of `geode node`
 * processes per region (launcher.ts), each its own Raft group, all sharing one
 * cluster secret and admin token. Used by `geode dev --regions`, tests and
 * benchmarks.
 *
 * Node `i` of region R is `<R>-node<i>`, with its config, data and log under
 * `<dataDir>/<R>/`. Every node's config carries `region: R` and the whole
 * deployment with every region's node URLs, as R sees them: with
 * `wanLatencyMs`, every link from R to a node of another region goes through
 * a delay proxy (delay-proxy.ts), one per (from region, target node), so DR
 * streams and cross-region polls pay the latency while links inside a region
 * stay direct. `urlFrom(R, url)` gives the same view to anything else placed
 * in R (a gateway).
 */
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { RegionDeployment, RegionRole, RegionSpec } from '../shared/config/regions.js';
import { startDelayProxy } from './delay-proxy.js';
import type { DelayProxy } from './delay-proxy.js';
import { freePort, launchCluster } from './launcher.js';
import type { LaunchedCluster, LaunchedNode, LaunchOptions } from './launcher.js';

export interface LaunchRegionsOptions
  extends Pick<
    LaunchOptions,
    'host' | 'clusterSecret' | 'adminToken' | 'replicationMode' | 'snapshotEntries' | 'heartbeatMs' | 'electionTimeoutMs' | 'logLevel' | 'env' | 'stdio' | 'startTimeoutMs' | 'clusterId' | 'supervision'
  > {
  /** What to start: each region's `nodeCount` nodes (a deployment with node URLs is refused: the ports are chosen here). */
  deployment: RegionDeployment;
  dataDir: string;
  /** First port; the nodes, region after region, listen on consecutive ports from here. 0 or undefined: free ports. */
  basePort?: number;
  /** One-way delay in ms between regions, through delay proxies (0 included); undefined: regions dial each other directly. */
  wanLatencyMs?: number;
}

export interface LaunchedRegion {
  readonly name: string;
  readonly role: RegionRole;
  /** The region as launched: its node URLs (direct) filled in. */
  readonly spec: RegionSpec;
  readonly cluster: LaunchedCluster;
  /** `<dataDir>/<name>`: the region's configs, data and logs. */
  readonly dataDir: string;
}

/** A cross-region link through a delay proxy: how region `from` reaches node `node`. */
export interface RegionLink {
  from: string;
  node: string;
  /** The node's own URL. */
  target: string;
  /** The proxy's URL, which region `from` dials. */
  url: string;
}

export interface LaunchedRegions {
  readonly regions: LaunchedRegion[];
  /** Every node, region after region. */
  readonly nodes: LaunchedNode[];
  /** The deployment as launched, with every region's direct node URLs. */
  readonly deployment: RegionDeployment;
  readonly adminToken: string;
  readonly clusterSecret: string;
  readonly dataDir: string;
  /** The delay proxies' links (empty without wanLatencyMs). */
  readonly links: RegionLink[];
  region(name: string): LaunchedRegion;
  node(name: string): LaunchedNode;
  /** The region a node belongs to. */
  regionOf(nodeName: string): LaunchedRegion;
  /** How something in region `from` reaches the node at `nodeUrl`: its proxy when the node is in another region and latency is injected, else the URL itself. */
  urlFrom(from: string, nodeUrl: string): string;
  /** The deployment as region `from` sees it (other regions' nodes through its proxies): what its nodes' configs hold. */
  deploymentFrom(from: string): RegionDeployment;
  /** The injected one-way latency; setting it changes every proxy (for chunks arriving from then on). Undefined without proxies. */
  wanLatencyMs: number | undefined;
  /** Until every region has a leader agreed by a majority of its voters; the leaders by region. */
  waitForLeaders(options?: { timeoutMs?: number }): Promise<Map<string, LaunchedNode>>;
  /**
   * Cuts (or restores) every link between regions `a` and `b`, both ways: a network partition between
   * them, for fault tests. Needs the delay proxies (wanLatencyMs, 0 included).
   */
  partition(a: string, b: string, cut: boolean): void;
  /** Stops every node (SIGTERM, then SIGKILL), then the proxies. */
  stop(): Promise<void>;
}

interface PlannedNode {
  region: string;
  name: string;
  port: number;
  url: string;
}

export async function launchRegions(options: LaunchRegionsOptions): Promise<LaunchedRegions> {
  const { deployment } = options;
  for (const r of deployment.regions) {
    if (r.nodes.length > 0) throw new Error(`launchRegions: region ${r.name} lists node URLs; give a node count (the launcher picks the ports)`);
    if (!Number.isInteger(r.nodeCount) || r.nodeCount < 1) throw new Error(`launchRegions: region ${r.name} needs at least one node`);
  }
  if (options.wanLatencyMs !== undefined && (!Number.isFinite(options.wanLatencyMs) || options.wanLatencyMs < 0)) throw new Error('launchRegions: wanLatencyMs must be >= 0');
  const host = options.host ?? '127.0.0.1';
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const clusterSecret = options.clusterSecret ?? randomBytes(24).toString('hex');
  const adminToken = options.adminToken ?? randomBytes(24).toString('hex');

  // Every node's port first: each config names every region's nodes.
  const planned: PlannedNode[] = [];
  for (const r of deployment.regions) {
    for (let i = 1; i <= r.nodeCount; i++) {
      const port = options.basePort !== undefined && options.basePort > 0 ? options.basePort + planned.length : await freePort(host);
      planned.push({ region: r.name, name: `${r.name}-node${i}`, port, url: `http://${hostInUrl}:${port}` });
    }
  }
  const direct: RegionDeployment = {
    routing: { ...deployment.routing },
    regions: deployment.regions.map((r) => ({ ...r, nodes: planned.filter((p) => p.region === r.name).map((p) => p.url) })),
  };

  const proxies: DelayProxy[] = [];
  const links: RegionLink[] = [];
  /** `${from} ${url}` -> proxy URL. */
  const viaProxy = new Map<string, string>();
  const clusters: LaunchedCluster[] = [];
  try {
    if (options.wanLatencyMs !== undefined) {
      for (const from of deployment.regions) {
        for (const target of planned.filter((p) => p.region !== from.name)) {
          const proxy = await startDelayProxy({ target: { host, port: target.port }, delayMs: options.wanLatencyMs, host });
          proxies.push(proxy);
          links.push({ from: from.name, node: target.name, target: target.url, url: proxy.url });
          viaProxy.set(`${from.name} ${target.url}`, proxy.url);
        }
      }
    }
    const urlFrom = (from: string, nodeUrl: string): string => viaProxy.get(`${from} ${nodeUrl}`) ?? nodeUrl;
    const deploymentFrom = (from: string): RegionDeployment => ({
      routing: { ...direct.routing },
      regions: direct.regions.map((r) => ({ ...r, nodes: r.nodes.map((url) => urlFrom(from, url)) })),
    });

    const launched = await Promise.allSettled(
      direct.regions.map((r) => {
        const ports = planned.filter((p) => p.region === r.name).map((p) => p.port);
        const launchOptions: LaunchOptions = {
          ...pickLaunchOptions(options),
          nodes: r.nodeCount,
          dataDir: join(dataDir, r.name),
          ports,
          host,
          namePrefix: `${r.name}-`,
          region: r.name,
          regions: deploymentFrom(r.name),
          clusterSecret,
          adminToken,
        };
        return launchCluster(launchOptions);
      }),
    );
    for (const outcome of launched) if (outcome.status === 'fulfilled') clusters.push(outcome.value);
    const failed = launched.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));

    const regions: LaunchedRegion[] = direct.regions.map((spec, i) => ({ name: spec.name, role: spec.role, spec, cluster: clusters[i]!, dataDir: join(dataDir, spec.name) }));
    let latency = options.wanLatencyMs;
    const result: LaunchedRegions = {
      regions,
      get nodes() {
        // Clusters may grow (addNode): read them each time.
        return regions.flatMap((r) => r.cluster.nodes);
      },
      deployment: direct,
      adminToken,
      clusterSecret,
      dataDir,
      links,
      region(name) {
        const found = regions.find((r) => r.name === name);
        if (found === undefined) throw new Error(`no region named ${name} (regions: ${regions.map((r) => r.name).join(', ')})`);
        return found;
      },
      node(name) {
        const found = result.nodes.find((n) => n.name === name);
        if (found === undefined) throw new Error(`no node named ${name} (nodes: ${result.nodes.map((n) => n.name).join(', ')})`);
        return found;
      },
      regionOf(nodeName) {
        const found = regions.find((r) => r.cluster.nodes.some((n) => n.name === nodeName));
        if (found === undefined) throw new Error(`no node named ${nodeName}`);
        return found;
      },
      urlFrom,
      deploymentFrom,
      get wanLatencyMs() {
        return latency;
      },
      set wanLatencyMs(value: number | undefined) {
        if (latency === undefined || value === undefined) throw new Error('wanLatencyMs: the regions were launched without delay proxies');
        for (const proxy of proxies) proxy.delayMs = value;
        latency = value;
      },
      partition(a, b, cut) {
        if (proxies.length === 0) throw new Error('partition: the regions were launched without delay proxies (give wanLatencyMs, 0 included)');
        const regionOfNode = (name: string): string | undefined => planned.find((p) => p.name === name)?.region;
        links.forEach((link, i) => {
          const to = regionOfNode(link.node);
          if ((link.from === a && to === b) || (link.from === b && to === a)) proxies[i]!.cut = cut;
        });
      },
      async waitForLeaders(waitOptions = {}) {
        const leaders = await Promise.all(regions.map(async (r) => [r.name, await r.cluster.waitForLeader(waitOptions)] as const));
        return new Map(leaders);
      },
      async stop() {
        await Promise.all(regions.map((r) => r.cluster.stop()));
        await Promise.all(proxies.map((p) => p.close()));
      },
    };
    return result;
  } catch (error) {
    await Promise.all(clusters.map((c) => c.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    throw error;
  }
}

/** The per-node settings every region's cluster shares. */
function pickLaunchOptions(options: LaunchRegionsOptions): Partial<LaunchOptions> {
  const picked: Partial<LaunchOptions> = {};
  const keys = ['replicationMode', 'snapshotEntries', 'heartbeatMs', 'electionTimeoutMs', 'logLevel', 'env', 'stdio', 'startTimeoutMs', 'clusterId', 'supervision'] as const;
  for (const key of keys) if (options[key] !== undefined) Object.assign(picked, { [key]: options[key] });
  return picked;
}
