// Cut the leader off from its peers while it keeps running: it must step
// down within an election timeout, acknowledge nothing it accepted after the
// cut, and serve no linearizable read once a new leader exists.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchCluster } from '../../cli/launcher.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { getJson, postJson, sleep, until } from '../helpers/http.js';

interface Status {
  leader: string | null;
  term: number;
  commit_index: number;
}

t.test('an isolated leader steps down and acknowledges nothing after the cut', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'geode-part-'));
  const proxies: { from: string; to: string; proxy: FaultProxy }[] = [];
  const cluster = await launchCluster({
    nodes: 3,
    dataDir,
    // Every directed peer link goes through its own proxy, so one node can be cut off.
    peerPort: async (from: string, to: string, targetPort: number) => {
      const proxy = new FaultProxy(targetPort);
      proxies.push({ from, to, proxy });
      return proxy.listen();
    },
  });
  t.teardown(async () => {
    await cluster.stop();
    await Promise.all(proxies.map((p) => p.proxy.close()));
    rmSync(dataDir, { recursive: true, force: true });
  });
  const old = await cluster.waitForLeader({ timeoutMs: 30_000 });
  const seed = await postJson(`${old.url}/v1/query`, { query: 'CREATE (:Before {k: 1})' });
  t.equal(seed.status, 200, 'the cluster takes writes before the cut');
  const termBefore = ((await getJson(`${old.url}/api/v1/cluster/status`)).body as unknown as Status).term;

  for (const p of proxies) if (p.from === old.name || p.to === old.name) p.proxy.cut();
  const cutAt = Date.now();

  // Writes sent to the old leader after the cut: none may be acknowledged.
  const lateWrites = Array.from({ length: 5 }, (_, i) =>
    postJson(`${old.url}/v1/query`, { query: 'CREATE (:AfterCut {k: $k})', params: { k: i }, timeout_ms: 3000 }, {}, 10_000),
  );

  const steppedDown = await until(
    'the old leader to step down',
    async () => {
      const status = (await getJson(`${old.url}/api/v1/cluster/status`, {}, 2000)).body as unknown as Status;
      return status.leader !== old.name ? Date.now() - cutAt : undefined;
    },
    10_000,
    20,
  );
  t.ok(steppedDown < 2000, `stepped down ${steppedDown} ms after the cut (election timeout 300-600 ms, plus detection)`);

  for (const res of await Promise.all(lateWrites)) t.not(res.status, 200, `late write not acknowledged (${res.status} ${String((res.body['error'] as { code?: string } | undefined)?.code)})`);

  const fresh = await cluster.waitForLeader({ timeoutMs: 30_000, exclude: [old.name] });
  t.not(fresh.name, old.name, 'the majority elected a new leader');
  const write = await postJson(`${old.url}/v1/query`, { query: 'CREATE (:Refused)' });
  t.equal(write.status, 421, 'the old leader refuses writes');
  const read = await postJson(`${old.url}/v1/query`, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'linearizable', timeout_ms: 2000 });
  t.not(read.status, 200, 'the old leader serves no linearizable read');

  for (const p of proxies) p.proxy.heal();
  const after = await postJson(`${fresh.url}/v1/query`, { query: 'CREATE (:AfterHeal)' });
  t.equal(after.status, 200);
  const commit = ((await getJson(`${fresh.url}/api/v1/cluster/status`)).body as unknown as Status).commit_index;
  const rejoined = await postJson(`${old.url}/v1/query`, { query: 'MATCH (n:AfterCut) RETURN count(n) AS c', after_index: commit, timeout_ms: 30_000 }, {}, 35_000);
  t.equal(rejoined.status, 200, 'the old leader rejoins and catches up');
  t.same(rejoined.body['rows'], [{ c: 0 }], 'writes it took after the cut were discarded, never applied');
  const termAfter = ((await getJson(`${fresh.url}/api/v1/cluster/status`)).body as unknown as Status).term;
  t.ok(termAfter > termBefore, 'the term moved on');
  await sleep(0);
});
