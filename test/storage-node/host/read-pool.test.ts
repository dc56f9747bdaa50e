import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphEngine } from '../../../storage-node/graph/engine.js';
import { ReadPool, OVERRUN_GRACE_MS } from '../../../storage-node/host/read-pool.js';
import { GeodeError } from '../../../shared/protocol/errors.js';

function graph(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'geode-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'graph.db');
  const engine = GraphEngine.open(path);
  engine.execute('UNWIND range(1, 10) AS i CREATE (:N {i: i})', {}, { now: 0, seed: 's' });
  engine.close();
  return path;
}

const logs: string[] = [];
const logger = { warn: (_o: object, msg: string) => void logs.push(msg), error: (_o: object, msg: string) => void logs.push(msg) };
const call = (query: string, timeoutMs = 60_000) => ({ query, params: {}, now: Date.now(), seed: 's', deadline: Date.now() + timeoutMs });

t.test('a statement its worker cannot stop in time is blamed alone: its worker is replaced, the reads behind it are served', async (t) => {
  // The watchdog's clock runs an hour ahead once armed, so a statement that is well within its real deadline looks overrun.
  let skew = 0;
  const pool = new ReadPool({ graphPath: graph(t), workers: 1, memoryBudget: 256 * 1024 * 1024, heapLimitMb: 1024, logger, now: () => Date.now() + skew });
  t.teardown(() => pool.close());
  await pool.ready();
  const slow = pool.read(call('UNWIND range(1, 4000000) AS x UNWIND range(1, 4) AS y WITH x WHERE x % 7 = 0 RETURN count(x) AS c'));
  const behind = pool.read(call('MATCH (n:N) RETURN count(n) AS c'));
  behind.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 100));
  skew = 3_600_000 + OVERRUN_GRACE_MS;
  const error = await slow.then(() => undefined, (e: unknown) => e);
  // Back to real time before the read behind it runs again on the replacement (on a loaded machine it
  // could otherwise still be running at the watchdog's next look, an hour "late" as well).
  skew = 0;
  t.ok(error instanceof GeodeError, 'the slow statement failed');
  t.match(error, { code: 'TIMEOUT', detail: 'ReadWorkerStopped' });
  const served = await behind;
  t.match(served.json, /"rows":\[\{"c":10\}\]/, 'the read queued behind it was re-sent and answered');
  t.equal(pool.stoppedWorkers, 1);
  t.match((await pool.read(call('RETURN 1 AS one'))).json, /"one":1/, 'the replacement serves');
  t.ok(logs.some((l) => /stopped by the watchdog/.test(l)), 'the stop is logged');
});

t.test('a statement that exhausts its worker heap fails with MEMORY_LIMIT; the worker is replaced and the process lives', async (t) => {
  // A budget far above the heap, so the engine does not refuse first: this is the backstop under the budget.
  const pool = new ReadPool({ graphPath: graph(t), workers: 2, memoryBudget: 64 * 1024 * 1024 * 1024, heapLimitMb: 48, logger });
  t.teardown(() => pool.close());
  await pool.ready();
  const error = await pool.read(call("UNWIND range(1, 4000000) AS x RETURN collect(toString(x) + 'padding-padding') AS c")).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(error, { code: 'MEMORY_LIMIT', detail: 'WorkerHeapExhausted' });
  t.match((await pool.read(call('MATCH (n:N) RETURN count(n) AS c'))).json, /"c":10/, 'reads go on');
});

t.test('statement errors come back as GeodeErrors with their codes', async (t) => {
  const pool = new ReadPool({ graphPath: graph(t), workers: 1, memoryBudget: 1024 * 1024, heapLimitMb: 256, logger });
  t.teardown(() => pool.close());
  await pool.read(call('MATCH (n) RETURN n LIMIT 1'));
  await t.rejects(pool.read(call('RETURN size(range(1, 100000000)) AS s')), { code: 'MEMORY_LIMIT' });
  await t.rejects(pool.read(call('RETURN 1 +')), { code: 'SYNTAX_ERROR' });
  t.equal(pool.stoppedWorkers, 0);
});
