/**
 * `geode dev --regions`: the launch itself (processes, startup line, dev.json, node configs, delay
 * proxies between regions, kill-node/start-node by region node name, a clean stop), the flags and
 * the regions file. What the nodes and the gateway then do with their regions is tested with them.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { ConfigError, loadNodeConfig } from '../../shared/config/index.js';
import { loadDevRegions, parseRegionsFlag } from '../../cli/dev.js';
import { isAlive } from '../../cli/dev-state.js';
import type { DevState } from '../../cli/dev-state.js';

const GEODE = fileURLToPath(new URL('../../bin/geode.js', import.meta.url));
/** Hang bound: starting tsx and SQLite on a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000;

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-dev-regions-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function runToEnd(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [GEODE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/** The seed's two region snippets, verbatim (../shared/seed/high-availability.txt). */
const SEED_REGIONS = `regions:
  us-east-1:
    nodes: 3
    role: primary_cluster
  us-west-2:
    nodes: 3
    role: disaster_recovery
    replication_mode: async
`;
const SEED_GLOBAL = `global_deployment:
  regions:
    us-east-1:
      nodes: 3
      role: primary
      write_priority: 1
    eu-west-1:
      nodes: 3
      role: secondary
      write_priority: 2
      replication_lag_max: 100ms
    ap-southeast-1:
      nodes: 2
      role: read_replica
      replication_mode: async
  
  routing:
    strategy: geographic_proximity
    failover_policy: automatic
    health_check_interval: 5s
`;

t.test('--regions: the first region is the primary, the others secondaries; every bad item is named', async (t) => {
  const deployment = parseRegionsFlag('us-east-1:3,eu-west-1:3,ap-southeast-1:2', 3);
  t.same(
    deployment.regions.map((r) => [r.name, r.role, r.nodeCount, r.nodes]),
    [
      ['us-east-1', 'primary', 3, []],
      ['eu-west-1', 'secondary', 3, []],
      ['ap-southeast-1', 'secondary', 2, []],
    ],
  );
  t.equal(deployment.routing.failoverPolicy, 'manual');
  t.same(parseRegionsFlag('solo', 2).regions.map((r) => [r.name, r.nodeCount]), [['solo', 2]], 'NAME alone takes --nodes');
  let refused: unknown;
  try {
    parseRegionsFlag('us east:1,eu:0,eu:1,eu:2,a:b', 3);
  } catch (error) {
    refused = error;
  }
  t.ok(refused instanceof ConfigError, 'a ConfigError (exit 2)');
  t.same((refused as ConfigError).issues, [
    `--regions[0]: "us east:1" is not NAME or NAME:NODES (a region name: letters, digits and '-')`,
    '--regions[1]: eu needs at least 1 node',
    '--regions[3]: eu is given twice',
    `--regions[4]: "a:b" is not NAME or NAME:NODES (a region name: letters, digits and '-')`,
  ]);
});

t.test("--regions-config reads the seed's YAML, both forms, with node counts only", async (t) => {
  const dir = tempDir(t);
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const plain = loadDevRegions(write('regions.yaml', SEED_REGIONS));
  t.same(plain.regions.map((r) => [r.name, r.role, r.nodeCount, r.serveReads]), [
    ['us-east-1', 'primary', 3, true],
    ['us-west-2', 'disaster_recovery', 3, false],
  ]);
  const global = loadDevRegions(write('global.yaml', SEED_GLOBAL));
  t.same(global.regions.map((r) => [r.name, r.role, r.nodeCount, r.writePriority, r.replicationLagMaxMs]), [
    ['us-east-1', 'primary', 3, 1, undefined],
    ['eu-west-1', 'secondary', 3, 2, 100],
    ['ap-southeast-1', 'read_replica', 2, undefined, undefined],
  ]);
  t.same(global.routing, { strategy: 'geographic_proximity', failoverPolicy: 'automatic', healthCheckIntervalMs: 5_000, failoverAfterMs: 10_000 });
  const issues = (path: string): string[] => {
    try {
      loadDevRegions(path);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
    return [];
  };
  t.same(issues(write('urls.yaml', 'regions:\n  a: {nodes: [http://127.0.0.1:1], role: primary}\nextra: 1\n')), [
    'extra: unknown key (expected regions: or global_deployment:)',
    'regions.a.nodes: geode dev starts the nodes and picks their ports: give a count (nodes: 1)',
  ]);
  t.same(issues(write('none.yaml', 'cluster: {}\n')), ['cluster: unknown key (expected regions: or global_deployment:)', 'no regions: or global_deployment: in the file']);
  t.match(issues(join(dir, 'missing.yaml')), [/^cannot read file/]);
});

t.test('geode dev refuses bad region flags before starting anything (exit 2)', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const urls = join(dir, 'urls.yaml');
  writeFileSync(urls, 'regions:\n  a: {nodes: 1, role: primary}\n');
  const cases: [string[], RegExp][] = [
    [['--wan-latency', '40ms'], /--wan-latency needs regions/],
    [['--regions', 'a:1', '--regions-config', urls], /give --regions or --regions-config, not both/],
    [['--regions', 'bad_name:1,b:1', '--wan-latency', '20ms'], /--regions\[0\]: "bad_name:1" is not NAME or NAME:NODES/],
  ];
  const results = await Promise.all(cases.map(([args]) => runToEnd(['dev', '--data-dir', dataDir, '--base-port', '0', '--front-port', '0', ...args])));
  results.forEach((result, i) => {
    t.equal(result.code, 2, `exit 2 for ${cases[i]![0].join(' ')}`);
    t.match(result.stderr, cases[i]![1]);
    t.equal(result.stdout, '');
  });
  t.notOk(existsSync(dataDir), 'nothing was started or created');
});

interface Announcement {
  regions?: { name: string; role: string; nodes: { id: string; url: string }[] }[];
  nodes?: unknown;
  gateway?: string;
}

t.test('geode dev --regions --wan-latency runs one group per region behind delay proxies, and stops cleanly', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const child = spawn(process.execPath, [GEODE, 'dev', '--regions', 'us-east-1:1,eu-west-1:1', '--wan-latency', '20ms', '--data-dir', dataDir, '--base-port', '0', '--front-port', '0', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const announced = await new Promise<Announcement>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no startup line; stderr:\n${stderr}`)), START_TIMEOUT_MS);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as Announcement);
    });
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before starting; stderr:\n${stderr}`));
    });
  });

  // The startup line: regions with their node ids and URLs, and the gateway.
  t.same(Object.keys(announced).sort(), ['gateway', 'regions'], 'regions instead of nodes, and the gateway');
  t.match(announced.gateway, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.same(announced.regions?.map((r) => [r.name, r.role, r.nodes.map((n) => n.id)]), [
    ['us-east-1', 'primary', ['us-east-1-node1']],
    ['eu-west-1', 'secondary', ['eu-west-1-node1']],
  ]);
  const east = announced.regions![0]!.nodes[0]!;
  const west = announced.regions![1]!.nodes[0]!;

  // dev.json: the regions, each node's region, the latency and the proxies between regions.
  const devJson = (): DevState => JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as DevState;
  const state = devJson();
  t.same(state.regions, [
    { name: 'us-east-1', role: 'primary', nodes: ['us-east-1-node1'] },
    { name: 'eu-west-1', role: 'secondary', nodes: ['eu-west-1-node1'] },
  ]);
  t.same(state.nodes.map((n) => [n.name, n.region, n.url, n.state]), [
    ['us-east-1-node1', 'us-east-1', east.url, 'running'],
    ['eu-west-1-node1', 'eu-west-1', west.url, 'running'],
  ]);
  t.equal(state.wan_latency_ms, 20);
  t.same(state.links?.map((l) => [l.from, l.node]), [
    ['us-east-1', 'eu-west-1-node1'],
    ['eu-west-1', 'us-east-1-node1'],
  ]);
  const proxyTo = (from: string, node: string): string => state.links!.find((l) => l.from === from && l.node === node)!.url;

  // Each node's config: in its region's folder, its region, the whole deployment; the other region through a proxy.
  for (const [node, region, other, otherNode] of [
    [east, 'us-east-1', 'eu-west-1', west],
    [west, 'eu-west-1', 'us-east-1', east],
  ] as const) {
    const recorded = state.nodes.find((n) => n.name === node.id)!;
    t.equal(dirname(recorded.config), join(dataDir, region), `${node.id}'s config is under ${region}/`);
    t.equal(recorded.log, join(dataDir, region, `${node.id}.log`));
    t.ok(existsSync(join(dataDir, region, node.id)), `${node.id}'s data is under ${region}/`);
    const config = loadNodeConfig(recorded.config);
    t.equal(config.region, region);
    t.equal(config.clusterId, 'dev');
    t.same(config.members.map((m) => [m.name, m.region]), [[node.id, region]], 'its Raft group is its region');
    t.equal(config.regions?.self, region);
    t.same(config.regions?.regions.map((r) => [r.name, r.role, r.nodes]), [
      ['us-east-1', 'primary', [region === 'us-east-1' ? east.url : proxyTo('eu-west-1', east.id)]],
      ['eu-west-1', 'secondary', [region === 'eu-west-1' ? west.url : proxyTo('us-east-1', west.id)]],
    ]);
    t.match(readFileSync(recorded.config, 'utf8'), /\n {2}region: \S+\n {2}regions:\n/, 'written in the seed form');
    // The proxy leads to that node.
    const through = (await (await fetch(`${proxyTo(region, otherNode.id)}/api/v1/cluster/status`, { signal: AbortSignal.timeout(10_000) })).json()) as { node: string };
    t.equal(through.node, otherNode.id, `${region} reaches ${other} through its proxy`);
  }

  // The gateway answers, configured with the far region through the primary region's proxy.
  const health = (await (await fetch(`${announced.gateway!}/healthz`)).json()) as { gateway?: boolean; region?: string };
  t.same(health, { status: 'ok', gateway: true, region: 'us-east-1' }, 'the gateway sits in the primary region');
  const gatewayStatus = await (await fetch(`${announced.gateway!}/api/v1/cluster/status`)).text();
  t.ok(gatewayStatus.includes(proxyTo('us-east-1', west.id)), "the gateway lists eu-west-1's node by the proxy");

  // Cluster commands find the region nodes through dev.json.
  const cluster = (args: string[]) => runToEnd(['cluster', ...args, '--data-dir', dataDir]);
  const shown = await cluster(['status']);
  t.equal(shown.code, 0, shown.stderr);
  const killed = await cluster(['kill-node', 'eu-west-1-node1']);
  t.equal(killed.code, 0, killed.stderr);
  t.equal(killed.stdout, 'killed eu-west-1-node1\n');
  t.same(devJson().nodes.map((n) => [n.name, n.state]), [
    ['us-east-1-node1', 'running'],
    ['eu-west-1-node1', 'stopped'],
  ]);
  const started = await cluster(['start-node', 'eu-west-1-node1', '--timeout', '60s']);
  t.equal(started.code, 0, started.stderr);
  t.match(started.stdout, /^started eu-west-1-node1 \(pid \d+\)\n$/);
  t.equal(devJson().nodes.find((n) => n.name === 'eu-west-1-node1')?.state, 'running');

  const pids = devJson().nodes.map((n) => n.pid);
  child.kill('SIGINT');
  t.same(await exit, { code: 0, signal: null }, stderr);
  t.notOk(existsSync(join(dataDir, 'dev.json')), 'dev.json removed');
  for (const pid of pids) t.notOk(isAlive(pid), `node process ${String(pid)} is gone`);
});
