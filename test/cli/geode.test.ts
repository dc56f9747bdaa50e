import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchCluster } from '../../cli/launcher.js';
import { START_TIMEOUT_MS, freePorts, query, run, runToEnd, start, tempDir, waitForLeaderAt } from '../helpers/geode-cli.js';

t.test("the seed's three-node YAML on loopback, started as three geode node processes, forms a cluster", async (t) => {
  const dir = tempDir(t);
  const ports = await freePorts(3);
  const names = ['node1', 'node2', 'node3'];
  const peer = (i: number): string => `${names[i]}@127.0.0.1:${ports[i]}`;
  const section = (i: number, role: string, quorum: boolean): string[] => [
    `${names[i]}:`,
    `  role: ${role}`,
    `  listen: 127.0.0.1:${ports[i]}`,
    '  cluster_peers:',
    ...[0, 1, 2].filter((j) => j !== i).map((j) => `    - ${peer(j)}`),
    '  replication_mode: synchronous',
    ...(quorum ? ['  quorum_size: 2'] : []),
    `  data_dir: ${names[i]}`,
    '',
  ];
  const config = join(dir, 'seed.yaml');
  writeFileSync(config, ['# Primary node', ...section(0, 'primary', true), '# Standby nodes', ...section(1, 'standby', false), ...section(2, 'standby', false)].join('\n'));
  // The seed's file has no cluster_secret; the environment supplies it.
  const env = { GEODE_CLUSTER_SECRET: 'a-loopback-test-secret-0123456789' };
  const started = await Promise.all(names.map((name) => start(t, ['node', '--config', config, '--id', name, '--log-level', 'warn'], env)));
  t.same(
    started.map((s) => s.nodes),
    names.map((id, i) => [{ id, url: `http://127.0.0.1:${ports[i]}` }]),
  );
  const status = await waitForLeaderAt(started.map((s) => s.nodes[0]!.url));
  t.same(status.nodes.map((n) => n.id).sort(), names);
  // On a loaded machine an election may move the leader after the status was read: follow it (the
  // write carries a request id, so a retry applies once).
  let leaderUrl = status.leader_url!;
  let written = await query(leaderUrl, 'CREATE (n:Node {id: $id})', { id: 1 }, undefined, { request_id: 'seed-write-1' });
  for (let i = 0; i < 10 && written.status === 421; i++) {
    leaderUrl = (await waitForLeaderAt(started.map((s) => s.nodes[0]!.url))).leader_url!;
    written = await query(leaderUrl, 'CREATE (n:Node {id: $id})', { id: 1 }, undefined, { request_id: 'seed-write-1' });
  }
  t.equal(written.status, 200, JSON.stringify(written.body));
  t.same((await query(leaderUrl, 'MATCH (n:Node) RETURN count(n) AS total', undefined, undefined, { consistency: 'linearizable' })).body.rows, [{ total: 1 }]);
  const follower = started.map((s) => s.nodes[0]!.url).find((u) => u !== leaderUrl)!;
  const refused = await query(follower, 'CREATE (n:Node {id: 2})');
  t.equal(refused.status, 421, 'a follower refuses writes with NOT_LEADER');
  for (const s of started) s.child.kill('SIGTERM');
  for (const s of started) t.same(await s.exit, { code: 0, signal: null }, s.stderr());
});

t.test('geode gateway --config serves writes and reads in front of a launched cluster, alone and with workers', async (t) => {
  const dir = tempDir(t);
  const launched = await launchCluster({ nodes: 3, dataDir: join(dir, 'cluster') });
  t.teardown(() => launched.stop());
  await launched.waitForLeader({ timeoutMs: START_TIMEOUT_MS });
  const config = join(dir, 'gateway.yaml');
  writeFileSync(
    config,
    [
      'listen: 127.0.0.1:0',
      'region: here',
      'session_secret: a-gateway-test-secret-0123456789',
      'regions:',
      `  here: {lat: 0, lon: 0, role: primary, nodes: [${launched.nodes.map((n) => n.url).join(', ')}]}`,
      '',
    ].join('\n'),
  );

  for (const [label, extra, id] of [['one process', [], 1], ['two workers', ['--workers', '2'], 2]] as const) {
    const { child, nodes, gateway, exit, stderr } = await start(t, ['gateway', '--config', config, '--log-level', 'warn', ...extra]);
    t.same(nodes, [], `${label}: the startup line has no nodes`);
    t.match(gateway, /^http:\/\/127\.0\.0\.1:\d+$/, `${label}: the startup line is {"gateway": url}`);
    // The topology learns the leader shortly after listening; a write in that window is held, not failed.
    const created = await query(gateway!, 'CREATE (n:Gw {id: $id})', { id });
    t.equal(created.status, 200, `${label}: write through the gateway; ${JSON.stringify(created.body)}`);
    const read = await query(gateway!, 'MATCH (n:Gw {id: $id}) RETURN n.id AS id', { id }, created.session);
    t.equal(read.status, 200, `${label}: read through the gateway`);
    t.same(read.body.rows, [{ id }], `${label}: the read sees the write`);
    child.kill('SIGTERM');
    t.same(await exit, { code: 0, signal: null }, `${label}: SIGTERM exits 0; ${stderr()}`);
  }
  const missing = await runToEnd(['gateway']);
  t.equal(missing.code, 2, 'gateway without --config is a usage error');
  writeFileSync(config, 'listen: 127.0.0.1:0\nregions: {}\n');
  const bad = await runToEnd(['gateway', '--config', config]);
  t.equal(bad.code, 2, 'a bad gateway config exits 2');
  t.match(bad.stderr, /regions: required/);
});

t.test('geode node --config runs a lone node on a free port and exits 0 on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'node.yaml');
  writeFileSync(config, ['node1:', '  role: primary', '  listen: 127.0.0.1:0', '  data_dir: state', '  region: us-east-1', ''].join('\n'));
  const { child, nodes, exit, stderr } = await start(t, ['node', '--config', config, '--log-level', 'warn']);
  const url = nodes[0]!.url;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(await (await fetch(`${url}/healthz`)).json(), { status: 'ok', node: 'node1', region: 'us-east-1' });
  const status = await waitForLeaderAt([url]);
  t.equal(status.leader_url, url, 'the node advertises its real port');
  t.equal((await query(url, 'CREATE (n:Node {id: 1})')).status, 200);
  t.same((await query(url, 'MATCH (n:Node) RETURN n.id AS id')).body.rows, [{ id: 1 }]);
  t.ok(existsSync(join(dir, 'state', 'graph.db')), 'data_dir resolved against the config file');
  child.kill('SIGTERM');
  t.same(await exit, { code: 0, signal: null }, stderr());
});

t.test('geode node refuses a bad config with the key path and exit 2', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'node.yaml');
  writeFileSync(config, 'node1:\n  listen: 127.0.0.1:0\n  replcation_mode: synchronous\n');
  const { child, exit } = run(['node', '--config', config]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.equal((await exit).code, 2);
  t.match(stderr, /node1\.replcation_mode: unknown key/);
});

t.test('geode node --check validates a config: a summary and exit 0, or every problem at once and exit 2', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'node1:\n  listen: 127.0.0.1:0\n  cluster_id: orders\n  query_memory_limit: 1GiB\n');
  const ok = await runToEnd(['node', '--config', good, '--check']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `${good}: valid (node node1, cluster orders, 1 member, synchronous, query_memory_limit 1GiB)\n`);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'node1:\n  listen: 127.0.0.1:0\n  cluster_id: "two words"\n  query_memory_limit: 512KB\n  heartbeat_ms: 0\n');
  const refused = await runToEnd(['node', '--config', bad, '--check']);
  t.equal(refused.code, 2);
  t.equal(refused.stdout, '', 'no summary for a bad config');
  t.match(refused.stderr, /node1\.heartbeat_ms: 0 is below the minimum of 2ms/);
  t.match(refused.stderr, /node1\.cluster_id: expected a cluster id/);
  t.match(refused.stderr, /node1\.query_memory_limit: 512KB is below the minimum of 1MiB/);
  t.notOk(existsSync(join(dir, 'data')), 'nothing was started or created');
});

t.test('an unknown command exits 2 with usage; --help exits 0', async (t) => {
  const unknown = run(['frobnicate']);
  let stderr = '';
  unknown.child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.equal((await unknown.exit).code, 2);
  t.match(stderr, /unknown command: frobnicate[\s\S]*Usage: geode/);

  const help = run(['--help']);
  let stdout = '';
  help.child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  t.equal((await help.exit).code, 0);
  t.match(stdout, /Usage: geode <command>/);

  const badOption = run(['dev', '--prot', '1']);
  t.equal((await badOption.exit).code, 2);
});
