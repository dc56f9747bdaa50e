import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import type { LaunchedNode } from '../../cli/launcher.js';
import { RestartBackoff, describeExit, restartPolicy } from '../../cli/supervisor.js';
import type { SupervisionEvent } from '../../cli/supervisor.js';
import { launchTempCluster } from '../helpers/cluster.js';
import { sleep, until } from '../helpers/http.js';

async function answers(url: string, path: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Every event with the time it arrived. */
function recorder(): { events: (SupervisionEvent & { seenAt: number })[]; onEvent: (event: SupervisionEvent) => void } {
  const events: (SupervisionEvent & { seenAt: number })[] = [];
  return { events, onEvent: (event) => events.push({ ...event, seenAt: Date.now() }) };
}

t.test('backoff doubles from the initial delay to the cap, and starts over after a stable run', async (t) => {
  const backoff = new RestartBackoff({ initialDelayMs: 500, maxDelayMs: 30_000, stableAfterMs: 60_000 });
  const delays = Array.from({ length: 9 }, () => backoff.next(100));
  t.same(
    delays.map((d) => d.delayMs),
    [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
  );
  t.same(
    delays.map((d) => d.attempt),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  t.same(backoff.next(59_999), { attempt: 10, delayMs: 30_000 }, 'a run just short of stable is still a quick exit');
  t.same(backoff.next(60_000), { attempt: 1, delayMs: 500 }, 'a process that stayed up a minute starts the backoff over');
  backoff.next(10);
  backoff.reset();
  t.same(backoff.next(10), { attempt: 1, delayMs: 500 }, 'a deliberate start begins a fresh run');
  const long = new RestartBackoff({ initialDelayMs: 1, maxDelayMs: 1_000, stableAfterMs: 1 });
  for (let i = 0; i < 2_000; i++) long.next(0);
  t.same(long.next(0), { attempt: 2_001, delayMs: 1_000 }, 'a long crash loop stays at the cap (no overflow)');
});

t.test('restart policy defaults and refusals', async (t) => {
  t.same(restartPolicy({}), { initialDelayMs: 500, maxDelayMs: 30_000, stableAfterMs: 60_000 });
  t.same(restartPolicy({ initialDelayMs: 100 }), { initialDelayMs: 100, maxDelayMs: 30_000, stableAfterMs: 60_000 });
  t.throws(() => new RestartBackoff({ initialDelayMs: 0, maxDelayMs: 10, stableAfterMs: 0 }), /initialDelayMs/, 'a zero delay would spin');
  t.throws(() => new RestartBackoff({ initialDelayMs: 100, maxDelayMs: 10, stableAfterMs: 0 }), /maxDelayMs/);
  t.equal(describeExit(1, null), 'code 1');
  t.equal(describeExit(null, 'SIGKILL'), 'signal SIGKILL');
  t.equal(describeExit(null, null), 'no exit status (it never started)');
});

t.test('without supervision a node killed from outside stays down', async (t) => {
  const cluster = await launchTempCluster(t, 'geode-unsupervised-', { nodes: 1 });
  const node = cluster.node('node1');
  t.equal(node.supervision, undefined, 'no supervisor view');
  process.kill(node.pid!, 'SIGKILL');
  await until('node1 exits', () => (node.running ? undefined : true), 10_000);
  await sleep(1_500);
  t.notOk(node.running, 'nobody started it again');
  t.notOk(await answers(node.url, '/healthz'), 'nothing answers on its port');
});

t.test('a supervised node killed from outside comes back; one killed through kill() stays down until start()', async (t) => {
  const { events, onEvent } = recorder();
  const cluster = await launchTempCluster(t, 'geode-supervised-', { nodes: 1, supervision: { initialDelayMs: 200, maxDelayMs: 800, onEvent } });
  const node: LaunchedNode = cluster.node('node1');
  t.match(node.supervision, { state: 'running', restarts: 0, lastExit: null, nextRestartAt: null });
  t.same(events.map((e) => e.kind), ['started'], 'the launch is a deliberate start');
  events.length = 0;

  const firstPid = node.pid!;
  process.kill(firstPid, 'SIGKILL');
  const secondPid = await until('node1 restarted', () => (node.running && node.pid !== firstPid ? node.pid : undefined), 30_000);
  t.not(secondPid, firstPid, 'a new process');
  await until('node1 serves again', async () => ((await answers(node.url, '/api/v1/cluster/status')) ? true : undefined), 30_000);
  t.match(node.supervision, { state: 'running', restarts: 1, lastExit: { code: null, signal: 'SIGKILL' } });
  t.match(events, [
    { kind: 'exit', node: 'node1', pid: firstPid, signal: 'SIGKILL', attempt: 1, delayMs: 200 },
    { kind: 'restart', node: 'node1', pid: secondPid, attempt: 1, restarts: 1 },
  ]);
  t.equal(events.length, 2, 'one exit, one restart');

  // kill() is the owner asking: the node stays down, through several initial delays, until start().
  events.length = 0;
  await node.kill('SIGKILL');
  t.match(node.supervision, { state: 'stopped', restarts: 1 });
  await sleep(1_500);
  t.notOk(node.running, 'still down after 1.5 s (7 initial delays)');
  t.same(events.map((e) => e.kind), ['stopped'], 'no restart was scheduled');
  await node.start();
  t.ok(await answers(node.url, '/healthz'), 'start() brings it back');
  t.match(node.supervision, { state: 'running', restarts: 1 }, 'a deliberate start is not a restart');

  // stop() is deliberate too: nothing is restarted after it.
  events.length = 0;
  await cluster.stop();
  await sleep(1_000);
  t.notOk(node.running, 'stopped');
  t.same(events.map((e) => e.kind), ['stopped'], 'the exit on stop was not treated as a crash');
});

t.test('a supervised node in a crash loop is restarted with growing delays, and recovers once it can start', async (t) => {
  const { events, onEvent } = recorder();
  const cluster = await launchTempCluster(t, 'geode-crashloop-', { nodes: 1, supervision: { initialDelayMs: 200, maxDelayMs: 800, onEvent } });
  const node: LaunchedNode = cluster.node('node1');
  // A config the node refuses (exit 2) makes every restart fail at once.
  const config = readFileSync(node.configPath, 'utf8');
  writeFileSync(node.configPath, `${config}  no_such_setting: 1\n`);
  events.length = 0;
  const loopStart = Date.now();
  process.kill(node.pid!, 'SIGKILL');
  const exits = await until('four exits', () => {
    const seen = events.filter((e) => e.kind === 'exit');
    return seen.length >= 4 ? seen : undefined;
  }, 40_000);
  const elapsed = Date.now() - loopStart;
  t.same(
    exits.map((e) => (e.kind === 'exit' ? [e.attempt, e.delayMs] : [])),
    [[1, 200], [2, 400], [3, 800], [4, 800]],
    'delays double from 200 ms to the 800 ms cap',
  );
  t.same(
    exits.slice(1).map((e) => (e.kind === 'exit' ? e.code : undefined)),
    [2, 2, 2],
    'each restart died of the bad config (exit 2)',
  );
  const restarts = events.filter((e) => e.kind === 'restart');
  t.equal(restarts.length, 3, 'one restart between consecutive exits, no more');
  // Each restart waited at least its delay after the exit before it: no spinning. (Timers count from the
  // event loop's clock, which can lag Date.now() by a few ms, hence the 5 ms.)
  restarts.forEach((restart, i) => {
    const exit = exits[i]!;
    const delay = exit.kind === 'exit' ? exit.delayMs : 0;
    t.ok(restart.seenAt - exit.seenAt >= delay - 5, `restart ${i + 1} came ${restart.seenAt - exit.seenAt} ms after the exit (delay ${delay} ms)`);
  });
  t.ok(elapsed >= 200 + 400 + 800, `the four exits took ${elapsed} ms, at least the sum of the delays`);
  t.match(node.supervision, { state: 'restarting', restarts: 3, lastExit: { code: 2, signal: null } });
  t.match(node.supervision?.nextRestartAt, /^\d{4}-\d\d-\d\dT/, 'the scheduled restart time is shown');

  // Fixed config (well before the restart due 800 ms after the fourth exit): that restart succeeds by itself.
  writeFileSync(node.configPath, config);
  await until('node1 recovers', async () => ((await answers(node.url, '/api/v1/cluster/status')) ? true : undefined), 30_000);
  t.match(node.supervision, { state: 'running', restarts: 4 });
});
