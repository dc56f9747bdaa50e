/**
 * `geode cluster` over regions, against stand-ins: a fake gateway (its status with region rows) and
 * fake storage nodes (group status, checksums, promote/rejoin), each a node:http server on loopback.
 * The commands run in-process through runClusterCommand; dev.json (in a temp data dir, naming this
 * process as the dev) says where the gateway and the nodes are, so nothing else on the machine is asked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { regionRows, runClusterCommand } from '../../cli/cluster.js';
import type { ClusterCommandOptions } from '../../cli/cluster.js';
import { writeDevState } from '../../cli/dev-state.js';

const TOKEN = 'region-test-admin-token-0123456789';

interface Seen {
  method: string;
  path: string;
  body: unknown;
  authorization: string | undefined;
}

type Handler = (request: Seen) => { status?: number; body: unknown } | undefined;

interface Fake {
  url: string;
  seen: Seen[];
  handle: Handler;
}

async function fake(t: Test, handle: Handler): Promise<Fake> {
  const self: Fake = { url: '', seen: [], handle };
  const server = createServer((request: IncomingMessage, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const seen: Seen = { method: request.method ?? '', path: request.url ?? '', body: text === '' ? undefined : (JSON.parse(text) as unknown), authorization: request.headers.authorization };
      self.seen.push(seen);
      const answer = self.handle(seen) ?? { status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${seen.path}` } } };
      response.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return self;
}

interface FakeNode extends Fake {
  name: string;
  checksum: { applied_index: number; checksum: string; position?: { epoch: number; index: number } };
  /** Answers to /api/v1/admin/regions/*; undefined: 404. */
  admin?: Handler;
}

/** A node of a one-node group (it leads itself): group status, checksum, admin region routes. */
async function fakeNode(t: Test, name: string): Promise<FakeNode> {
  const node = (await fake(t, () => undefined)) as FakeNode;
  node.name = name;
  node.checksum = { applied_index: 10, checksum: 'same', position: { epoch: 1, index: 10 } };
  node.handle = (seen) => {
    if (seen.path === '/api/v1/cluster/status') {
      return {
        body: {
          cluster_id: 'dev',
          node: name,
          nodes: [{ id: name, role: 'primary', status: 'healthy', replication_lag: 0, applied_index: 10, match_index: 10, url: node.url }],
          quorum_status: 'healthy',
          term: 3,
          leader: name,
          leader_url: node.url,
          commit_index: 10,
          applied_index: 10,
        },
      };
    }
    if (seen.path === '/api/v1/admin/checksum') return seen.authorization === `Bearer ${TOKEN}` ? { body: { node: name, ...node.checksum } } : { status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'token' } } };
    if (seen.path.startsWith('/api/v1/admin/regions/')) return node.admin?.(seen);
    return undefined;
  };
  return node;
}

interface Deployment {
  dataDir: string;
  gateway: Fake;
  east: FakeNode;
  west: FakeNode;
  /** The gateway's region rows (changed between polls by tests). */
  rows: Record<string, unknown>[];
  run(sub: string, extra?: Partial<ClusterCommandOptions>): Promise<{ code: number; out: string }>;
}

async function deployment(t: Test): Promise<Deployment> {
  const dataDir = mkdtempSync(join(tmpdir(), 'geode-cluster-regions-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const east = await fakeNode(t, 'us-east-1-node1');
  const west = await fakeNode(t, 'eu-west-1-node1');
  const rows: Record<string, unknown>[] = [
    { name: 'us-east-1', role: 'primary', state: 'primary', epoch: 1, primary_region: 'us-east-1', position: { epoch: 1, index: 10 }, lag_ms: 0, over_lag_max: false, leader: east.name, leader_url: east.url, nodes: [{ url: east.url }] },
    // A row with its name in `region` and fields missing: read tolerantly.
    { region: 'eu-west-1', role: 'secondary', state: 'follower', epoch: 1, lag_ms: 42.4, replication_lag_max_ms: 100, over_lag_max: false, leader_url: west.url },
  ];
  const gateway = await fake(t, (seen) =>
    seen.path === '/api/v1/cluster/status'
      ? { body: { cluster_id: 'dev', nodes: [], quorum_status: 'healthy', leader: east.name, leader_url: east.url, term: 3, gateway_region: 'us-east-1', regional: true, regions: rows } }
      : undefined,
  );
  writeDevState(dataDir, {
    pid: process.pid,
    gateway: gateway.url,
    admin_token: TOKEN,
    data_dir: dataDir,
    control: 'http://127.0.0.1:1',
    nodes: [east, west].map((n) => ({
      name: n.name,
      url: n.url,
      region: n.name.replace(/-node\d+$/, ''),
      pid: process.pid,
      command: process.execPath,
      args: [],
      config: '',
      log: '',
      state: 'running' as const,
      restarts: 0,
      last_exit: null,
      next_restart_at: null,
    })),
    regions: [
      { name: 'us-east-1', role: 'primary', nodes: [east.name] },
      { name: 'eu-west-1', role: 'secondary', nodes: [west.name] },
    ],
  });
  const run = async (sub: string, extra: Partial<ClusterCommandOptions> = {}): Promise<{ code: number; out: string }> => {
    let out = '';
    const code = await runClusterCommand(sub, {
      url: undefined,
      json: false,
      token: undefined,
      dataDir,
      target: undefined,
      timeoutMs: 5_000,
      positionals: [],
      out: (text) => (out += text),
      err: () => undefined,
      ...extra,
    });
    return { code, out };
  };
  return { dataDir, gateway, east, west, rows, run };
}

t.test('regionRows reads region statuses tolerantly and ignores a single-region gateway', async (t) => {
  t.equal(regionRows(undefined), undefined);
  t.equal(regionRows([{ name: 'local', role: 'primary', lat: 0, lon: 0, nodes: [{ url: 'http://a:1' }] }]), undefined, 'configured regions only: no region status');
  t.same(regionRows([{ region: 'eu', state: 'follower', lag_ms: 'soon', position: { epoch: 2 } }, 'junk', { state: 'primary' }]), [
    { name: 'eu', role: null, state: 'follower', epoch: null, primary_region: null, lag_ms: null, replication_lag_max_ms: null, over_lag_max: null, position: null, leader: null, leader_url: null, node_urls: [] },
  ]);
});

t.test('status shows the regions, then each region as its own group; --json adds the region rows', async (t) => {
  const d = await deployment(t);
  const text = await d.run('status');
  t.equal(text.code, 0);
  t.match(text.out, /^regions: 2 {2}primary us-east-1 {2}epoch 1\n/);
  t.match(text.out, /REGION\s+ROLE\s+STATE\s+EPOCH\s+LAG_MS\s+MAX_MS\s+OVER_MAX\s+POSITION\s+LEADER/);
  t.match(text.out, /us-east-1\s+primary\s+primary\s+1\s+0\s+-\s+no\s+1:10\s+us-east-1-node1/);
  t.match(text.out, /eu-west-1\s+secondary\s+follower\s+1\s+42\s+100\s+no\s+-\s+http:\/\/127\.0\.0\.1:\d+/);
  t.match(text.out, /region us-east-1 \(primary, primary\):\ncluster dev\s+term 3\s+leader us-east-1-node1[\s\S]*region eu-west-1 \(secondary, follower\):\ncluster dev\s+term 3\s+leader eu-west-1-node1/);
  t.match(text.out, /eu-west-1-node1\s+primary\s+healthy\s+0\s+10\s+10\s+running\s+0\s+http/, 'the group table with dev supervision columns');

  const json = await d.run('status', { json: true });
  const body = JSON.parse(json.out) as { node: string; regions: { name: string; lag_ms: number | null; position: unknown }[] };
  t.equal(body.node, 'us-east-1-node1', 'the leader view as before');
  t.same(
    body.regions.map((r) => [r.name, r.lag_ms, r.position]),
    [
      ['us-east-1', 0, { epoch: 1, index: 10 }],
      ['eu-west-1', 42.4, null],
    ],
  );
});

t.test('monitor prints each region lag per interval, bounded by count; stops on abort; falls back to nodes', async (t) => {
  const d = await deployment(t);
  let polls = 0;
  const handle = d.gateway.handle;
  d.gateway.handle = (seen) => {
    if (seen.path === '/api/v1/cluster/status') {
      polls++;
      d.rows[1]!['lag_ms'] = 100 * polls;
      d.rows[1]!['over_lag_max'] = 100 * polls > 100;
    }
    return handle(seen);
  };
  const lines = await d.run('monitor', { metric: 'replication_lag', intervalMs: 20, count: 3 });
  t.equal(lines.code, 0);
  const printed = lines.out.trim().split('\n');
  t.equal(printed.length, 3, 'one line per interval, --count of them');
  t.match(printed[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}us-east-1 0ms \(primary\) {2}eu-west-1 100ms$/);
  t.match(printed[1], /eu-west-1 200ms \(OVER 100ms\)$/);
  t.match(printed[2], /eu-west-1 300ms \(OVER 100ms\)$/);

  const json = await d.run('monitor', { metric: 'replication_lag', intervalMs: 20, count: 2, json: true });
  const parsed = json.out.trim().split('\n').map((line) => JSON.parse(line) as { metric: string; regions: { region: string; lag_ms: number; over_lag_max: boolean }[] });
  t.equal(parsed.length, 2);
  t.same(parsed[0]!.regions.map((r) => r.region), ['us-east-1', 'eu-west-1']);
  t.equal(parsed[0]!.metric, 'replication_lag');

  // Without --count, until the signal aborts (Ctrl-C): the line in progress is finished, no more.
  const stop = new AbortController();
  let count = 0;
  const running = runClusterCommand('monitor', {
    url: undefined,
    json: false,
    token: undefined,
    dataDir: d.dataDir,
    target: undefined,
    timeoutMs: 5_000,
    positionals: [],
    out: () => {
      if (++count === 2) stop.abort();
    },
    err: () => undefined,
    intervalMs: 10,
    signal: stop.signal,
  });
  t.equal(await running, 0, 'ends cleanly');
  t.equal(count, 2);

  // A gateway without region rows: each node's lag from the (single) cluster's status.
  d.gateway.handle = (seen) => (seen.path === '/api/v1/cluster/status' ? { body: { cluster_id: 'dev', gateway_region: 'local', leader_url: d.east.url, leader: d.east.name, regions: [{ name: 'local', role: 'primary', nodes: [] }] } } : undefined);
  d.east.handle = ((inner) => (seen: Seen) => (seen.path === '/api/v1/region/status' ? { status: 400, body: { error: { code: 'BAD_REQUEST', message: 'no regions' } } } : inner(seen)))(d.east.handle);
  d.west.handle = d.east.handle;
  const single = await d.run('monitor', { intervalMs: 10, count: 1 });
  t.match(single.out, /^\S+Z {2}us-east-1-node1 0ms\n$/);

  await t.rejects(d.run('monitor', { metric: 'cpu', count: 1 }), /monitor: unknown metric cpu \(supported: replication_lag\)/);
});

t.test('promote-region posts to the target region (following a 421 to its leader) and reports a forced promotion', async (t) => {
  const d = await deployment(t);
  const leader = await fakeNode(t, 'eu-west-1-node2');
  d.west.admin = () => ({ status: 421, body: { error: { code: 'NOT_LEADER', message: 'not the leader', leader_url: leader.url } } });
  leader.admin = (seen) =>
    seen.path === '/api/v1/admin/regions/promote'
      ? { body: { region: 'eu-west-1', epoch: 2, previous_primary: 'us-east-1', planned: false, fork: { epoch: 1, index: 93 }, lost_entries_estimate: 7, estimate_basis: 'last_reported_commit', took_ms: 412.3 } }
      : { body: { region: 'us-east-1', state: 'follower', epoch: 2, primary_region: 'eu-west-1' } };
  const forced = await d.run('promote-region', { positionals: ['eu-west-1'], force: true, timeoutMs: 20_000 });
  t.equal(forced.code, 0);
  t.equal(
    forced.out,
    'region eu-west-1 is now the primary at epoch 2 (forced; previous primary us-east-1; fork 1:93; took 412 ms)\n' +
      'forced promotion: up to 7 entries of us-east-1 may be lost (estimate from replication positions: last_reported_commit)\n',
  );
  const sent = leader.seen.find((s) => s.path === '/api/v1/admin/regions/promote')!;
  t.same(sent.body, { region: 'eu-west-1', force: true, timeout_ms: 20_000 });
  t.equal(sent.authorization, `Bearer ${TOKEN}`, "dev.json's admin token");
  t.ok(d.west.seen.some((s) => s.path === '/api/v1/admin/regions/promote'), "asked the region's row leader first");
  t.notOk(d.east.seen.some((s) => s.path === '/api/v1/admin/regions/promote'), 'never the old primary');

  const json = await d.run('promote-region', { positionals: ['eu-west-1'], json: true });
  t.equal((JSON.parse(json.out) as { lost_entries_estimate: number }).lost_entries_estimate, 7, '--json prints the answer');

  const rejoined = await d.run('rejoin-region', { positionals: ['eu-west-1'] });
  t.equal(rejoined.out, 'region us-east-1 rejoined: follower, following eu-west-1 at epoch 2\n');
  t.same(leader.seen.find((s) => s.path === '/api/v1/admin/regions/rejoin')?.body, { region: 'eu-west-1', timeout_ms: 5_000 });

  // The server's error code and message; a failure, exit 1 (main.ts: CommandFailed).
  leader.admin = () => ({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'no region named mars' } } });
  d.west.admin = leader.admin;
  d.east.admin = leader.admin;
  await t.rejects(d.run('promote-region', { positionals: ['mars'] }), /promote-region mars: NOT_FOUND: no region named mars \(from http/);
  await t.rejects(d.run('promote-region', { positionals: [] }), /a region name is required/);
  await t.rejects(d.run('promote-region', { positionals: ['eu-west-1'], timeoutMs: 50 }), /--timeout must be between 100ms and 10m/);
});

t.test('verify-data compares regions at one source position and names the region that differs', async (t) => {
  const d = await deployment(t);
  const ok = await d.run('verify-data');
  t.equal(ok.code, 0, ok.out);
  t.match(ok.out, /NODE\s+REGION\s+APPLIED\s+POSITION\s+CHECKSUM\nus-east-1-node1\s+us-east-1\s+10\s+1:10\s+same\neu-west-1-node1\s+eu-west-1\s+10\s+1:10\s+same/);
  t.match(ok.out, /us-east-1: data consistent on 1 node\neu-west-1: data consistent on 1 node\nregions consistent at position 1:10: same checksum in 2 regions\n$/);

  d.west.checksum = { applied_index: 12, checksum: 'other', position: { epoch: 1, index: 10 } };
  const differs = await d.run('verify-data');
  t.equal(differs.code, 1);
  t.match(differs.out, /REGION MISMATCH at position 1:10: eu-west-1 differs from us-east-1 \(the primary\)/);
  const json = JSON.parse((await d.run('verify-data', { json: true })).out) as { consistent: boolean; cross_region: { differing: string[] }; regions: { region: string }[] };
  t.equal(json.consistent, false);
  t.same(json.cross_region.differing, ['eu-west-1']);

  // A follower region behind: waited for, bounded by --timeout.
  d.west.checksum = { applied_index: 9, checksum: 'older', position: { epoch: 1, index: 9 } };
  const behind = await d.run('verify-data', { timeoutMs: 300 });
  t.equal(behind.code, 1);
  t.match(behind.out, /regions did not reach the same position within 300ms \(us-east-1 at 1:10, eu-west-1 at 1:9\)/);

  // It catches up while verify-data waits: compared then.
  let asked = 0;
  const handle = d.west.handle;
  d.west.handle = (seen) => {
    if (seen.path === '/api/v1/admin/checksum' && ++asked === 3) d.west.checksum = { applied_index: 11, checksum: 'same', position: { epoch: 1, index: 10 } };
    return handle(seen);
  };
  const caughtUp = await d.run('verify-data', { timeoutMs: 10_000 });
  t.equal(caughtUp.code, 0, caughtUp.out);
  t.ok(asked >= 3, 'it asked again until the region caught up');
});
