import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../../cli/launcher.js';
import { launchTempCluster } from '../helpers/cluster.js';

async function write(url: string, query: string): Promise<number> {
  const response = await fetch(`${url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  await response.body?.cancel();
  return response.status;
}

async function appliedIndex(url: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/cluster/status`);
  if (!response.ok) throw new Error(`status answered ${response.status}`);
  const body = (await response.json()) as { applied_index: number };
  return body.applied_index;
}

t.test('freePort picks listenable ports outside the range outgoing connections draw from', async (t) => {
  const rangeFile = '/proc/sys/net/ipv4/ip_local_port_range';
  const low = existsSync(rangeFile) ? Number(readFileSync(rangeFile, 'utf8').trim().split(/\s+/)[0]) : 49_152;
  const ports = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const port = await freePort('127.0.0.1');
    t.ok(Number.isInteger(port) && port > 0 && port < 65_536, `a port number: ${port}`);
    if (low > 11_000) t.ok(port < low, `${port} is below the ephemeral range starting at ${low}`);
    ports.add(port);
  }
  t.ok(ports.size > 1, 'picks vary');
  // What it hands out can be listened on.
  const port = await freePort('127.0.0.1');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

t.test('the launcher starts a cluster, kills and restarts nodes, and finds the new leader', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-launcher-', { nodes: 3, learners: 1 });
  t.same(cluster.nodes.map((n) => n.name), ['node1', 'node2', 'node3', 'node4']);
  t.ok(cluster.nodes.every((n) => n.running && n.pid !== undefined));

  const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
  t.not(leader.name, 'node4', 'the learner never leads');
  t.equal(await write(leader.url, 'CREATE (:Item {n: 1})'), 200);

  // A follower killed and restarted catches up on what it missed.
  const follower = cluster.nodes.find((n) => n !== leader && n.name !== 'node4')!;
  await follower.kill();
  t.notOk(follower.running);
  t.equal(follower.pid, undefined);
  t.equal(await write(leader.url, 'CREATE (:Item {n: 2})'), 200, 'a majority still accepts writes');
  await follower.start();
  t.ok(follower.running);
  t.type(await appliedIndex(follower.url), 'number', 'start() resolves once the node serves its status');
  const target = await appliedIndex(leader.url);
  const until = Date.now() + 20_000;
  while ((await appliedIndex(follower.url).catch(() => 0)) < target && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  const caughtUp = await appliedIndex(follower.url);
  t.ok(caughtUp >= target, `restarted follower caught up (${caughtUp} >= ${target})`);

  // pause() resolves once every thread of the process has stopped, the read and apply workers included.
  await follower.pause();
  const states = readdirSync(`/proc/${follower.pid}/task`).map((task) => {
    const stat = readFileSync(`/proc/${follower.pid}/task/${task}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  });
  t.ok(states.length > 1 && states.every((s) => s === 'T' || s === 't'), `every thread stopped after pause(): ${states.join('')}`);
  follower.resume();
  t.type(await appliedIndex(follower.url), 'number', 'it answers again after resume()');

  // Killing the leader: a different leader is found.
  await leader.kill();
  const next = await cluster.waitForLeader({ timeoutMs: 60_000, exclude: [leader.name] });
  t.not(next.name, leader.name);
  t.equal(await write(next.url, 'CREATE (:Item {n: 3})'), 200);
  await leader.start();

  await cluster.stop();
  t.ok(cluster.nodes.every((n) => !n.running), 'stop ends every node');
});
