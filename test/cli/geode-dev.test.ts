/**
 * `geode dev` as a process: a cluster and gateways, supervision (a node killed from outside comes
 * back), and `geode cluster kill-node/start-node` (split from geode.test.ts to keep each file well
 * inside the runner's per-file time limit).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../../cli/dev-state.js';
import { sleep, until } from '../helpers/http.js';
import type { StatusBody } from '../helpers/geode-cli.js';
import { devJson, freeRun, query, runToEnd, start, startDev, statusAt, stopDev, tempDir } from '../helpers/geode-cli.js';

t.test('geode dev runs a cluster and two gateways; geode cluster commands work against it; SIGINT stops it all', async (t) => {
  const dataDir = join(tempDir(t), 'data');
  const basePort = await freeRun(3);
  let frontPort = await freeRun(2);
  // The two runs are only probed, not held: keep them apart.
  while (Math.abs(frontPort - basePort) < 3) frontPort = await freeRun(2);
  const { child, nodes, gateway, gateways, exit, stderr } = await start(t, [
    'dev', '--data-dir', dataDir, '--base-port', String(basePort), '--front-port', String(frontPort), '--gateways', '2', '--log-level', 'warn',
  ]);
  t.same(
    nodes,
    [1, 2, 3].map((i) => ({ id: `node${i}`, url: `http://127.0.0.1:${basePort + i - 1}` })),
  );
  t.equal(gateway, `http://127.0.0.1:${frontPort}`, 'the first gateway is on --front-port');
  t.same(gateways, [`http://127.0.0.1:${frontPort}`, `http://127.0.0.1:${frontPort + 1}`], 'the second gateway is on the next port');
  const devState = JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as { gateway: string; nodes: { name: string; pid: number; config: string }[] };
  t.same(devState.nodes.map((n) => n.name), ['node1', 'node2', 'node3']);
  t.equal(devState.gateway, gateway);
  t.ok(devState.nodes.every((n) => existsSync(n.config) && n.pid > 0), 'dev.json has configs and pids');
  const health = (await (await fetch(`${gateway!}/healthz`)).json()) as { gateway?: boolean };
  t.equal(health.gateway, true, 'the real gateway answers on the front port');

  // The README's curl, through the first gateway; the read goes through the second with the session token.
  const created = await query(gateway!, 'CREATE (n:Node {id: $id})', { id: 1 });
  t.equal(created.status, 200);
  t.type(created.session, 'string', 'the gateway returns a session token');
  const counted = await query(gateways![1]!, 'MATCH (n:Node) RETURN COUNT(n) AS total', undefined, created.session);
  t.equal(counted.status, 200, 'the second gateway accepts the first one\'s token (same secret)');
  t.same(counted.body.rows, [{ total: 1 }], 'read-your-writes across the two gateways');

  const cluster = (args: string[]) => runToEnd(['cluster', ...args, '--data-dir', dataDir]);
  const primary = await cluster(['primary']);
  t.equal(primary.code, 0, primary.stderr);
  t.match(primary.stdout, /^node[123]\n$/);
  const status = await cluster(['status', '--json']);
  t.equal(status.code, 0, status.stderr);
  const body = JSON.parse(status.stdout) as StatusBody;
  t.equal(body.leader, primary.stdout.trim());
  t.equal(body.nodes.length, 3);
  const table = await cluster(['status']);
  t.match(table.stdout, /NODE\s+ROLE[\s\S]*node1[\s\S]*node2[\s\S]*node3/);
  const healthy = await cluster(['health']);
  t.equal(healthy.code, 0, healthy.stdout);
  const verify = await cluster(['verify-data']);
  t.equal(verify.code, 0, verify.stdout + verify.stderr);
  t.match(verify.stdout, /data consistent on 3 nodes/);

  child.kill('SIGINT');
  t.same(await exit, { code: 0, signal: null }, stderr());
  t.notOk(existsSync(join(dataDir, 'dev.json')), 'dev.json removed on a clean stop');
  for (const n of devState.nodes) t.throws(() => process.kill(n.pid, 0), 'node process is gone');
});

t.test('geode dev restarts a node killed from outside; it rejoins, and dev.json, status and the logs show the restart', async (t) => {
  const dev = await startDev(t);
  const { gateway, stderr, dataDir, before, leaderName, leader, cluster } = dev;
  t.equal((await statusAt(leader.url))?.cluster_id, 'dev', 'dev names its cluster in the node configs');

  // A follower dies from outside (not through kill-node): the supervisor starts it again.
  const victim = before.nodes.find((n) => n.name !== leaderName)!;
  process.kill(victim.pid!, 'SIGKILL');
  const created = await query(gateway!, 'CREATE (n:WhileDown {id: 1})');
  t.equal(created.status, 200, 'the other two commit a write meanwhile');
  const back = await until(`${victim.name} restarted`, () => {
    const n = devJson(dataDir).nodes.find((x) => x.name === victim.name);
    return n !== undefined && n.state === 'running' && n.pid !== null && n.pid !== victim.pid ? n : undefined;
  }, 30_000);
  t.ok(isAlive(back.pid), 'a new process runs');
  t.notOk(isAlive(victim.pid), 'the old one is gone');
  t.equal(back.restarts, 1, 'dev.json counts one restart');
  t.match(back.last_exit, { code: null, signal: 'SIGKILL', at: /^\d{4}-/ }, 'and records the exit');
  t.same(
    devJson(dataDir).nodes.filter((n) => n.name !== victim.name).map((n) => n.restarts),
    [0, 0],
    'the others were not restarted',
  );
  // until() counts a refused connection as not yet.
  await until(`${victim.name} answers /healthz`, async () => ((await fetch(`${victim.url}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok ? true : undefined), 30_000);
  const commit = (await statusAt(leader.url))!.commit_index;
  const applied = await until(`${victim.name} applies the leader's commit ${commit}`, async () => {
    const own = await statusAt(victim.url);
    return own !== undefined && own.applied_index >= commit ? own.applied_index : undefined;
  }, 30_000);
  t.ok(applied >= commit, `rejoined: applied ${applied} >= commit ${commit}`);
  const [shownJson, table] = await Promise.all([cluster(['status', '--json']), cluster(['status'])]);
  t.equal(shownJson.code, 0, shownJson.stderr);
  const shown = JSON.parse(shownJson.stdout) as { cluster_id: string; nodes: { id: string; restarts?: number; process_state?: string }[] };
  t.equal(shown.cluster_id, 'dev');
  t.same(
    Object.fromEntries(shown.nodes.map((n) => [n.id, [n.restarts, n.process_state]])),
    Object.fromEntries(before.nodes.map((n) => [n.name, [n.name === victim.name ? 1 : 0, 'running']])),
    'status --json shows restarts per node',
  );
  t.match(table.stdout, /NODE\s+ROLE\s+STATUS\s+LAG_MS\s+APPLIED\s+MATCH\s+PROCESS\s+RESTARTS\s+URL/);
  t.match(table.stdout, new RegExp(`\\n${victim.name}\\s.*\\srunning\\s+1\\s+http`), 'the table shows the restart');
  t.match(table.stdout, `last exit of ${victim.name}: signal SIGKILL`);
  const exitLine = new RegExp(`${victim.name} exited unexpectedly \\(signal SIGKILL\\) after [\\d.]+ s; restart 1 in 500 ms`);
  const restartLine = new RegExp(`${victim.name} restarted \\(pid ${back.pid}; attempt 1, 1 restart in all\\)`);
  t.match(stderr(), exitLine, "dev's stderr logs the exit");
  t.match(stderr(), restartLine, "dev's stderr logs the restart");
  const nodeLog = readFileSync(victim.log, 'utf8');
  t.match(nodeLog, exitLine, "the node's log has the exit");
  t.match(nodeLog, restartLine, "the node's log has the restart");
  await stopDev(t, dev);
});

t.test("geode cluster kill-node keeps a dev node down until start-node (the seed's failover test)", async (t) => {
  const dev = await startDev(t);
  const { dataDir, before, leaderName, leader, cluster } = dev;
  const killedAt = Date.now();
  const killed = await cluster(['kill-node', leaderName]);
  t.equal(killed.code, 0, killed.stderr);
  t.equal(killed.stdout, `killed ${leaderName}\n`);
  t.notOk(isAlive(leader.pid), 'the primary process is gone');
  const survivors = before.nodes.filter((n) => n.name !== leaderName);
  const newLeader = await until('failover', async () => {
    for (const n of survivors) {
      const seen = await statusAt(n.url);
      if (seen?.leader !== undefined && seen.leader !== null && seen.leader !== leaderName) return seen.leader;
    }
    return undefined;
  }, 30_000);
  t.not(newLeader, leaderName, `failover to ${newLeader}`);
  // Twice the first two backoff delays together (0.5 s + 1 s): a supervised crash would be back by now.
  await sleep(killedAt + 3_000 - Date.now());
  const down = devJson(dataDir).nodes.find((n) => n.name === leaderName)!;
  t.match(down, { state: 'stopped', pid: null, restarts: 0, last_exit: { signal: 'SIGKILL' } }, 'kill-node keeps it down');
  t.equal(await statusAt(leader.url), undefined, 'nothing answers on its port');
  const started = await cluster(['start-node', leaderName]);
  t.equal(started.code, 0, started.stderr);
  t.match(started.stdout, new RegExp(`^started ${leaderName} \\(pid \\d+\\)\\n$`));
  const synced = await cluster(['wait-sync', leaderName]);
  t.equal(synced.code, 0, synced.stderr);
  const again = devJson(dataDir).nodes.find((n) => n.name === leaderName)!;
  t.match(again, { state: 'running', restarts: 0 }, 'start-node is a deliberate start, not a restart');
  t.ok(isAlive(again.pid), 'its new process runs');
  t.match(dev.stderr(), `${leaderName} stopped on request`, 'dev logs the deliberate stop');
  t.notMatch(dev.stderr(), `${leaderName} exited unexpectedly`, 'and does not take it for a crash');
  await stopDev(t, dev);
});
