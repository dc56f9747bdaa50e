import t from 'tap';
import { Worker } from 'node:worker_threads';
import { SharedNodeView, emptyView, viewLagMs } from '../../../storage-node/host/node-view.js';
import type { NodeView } from '../../../storage-node/host/node-view.js';

const view = (over: Partial<NodeView>): NodeView => ({ ...emptyView(), serving: true, role: 'standby', electionTimeoutMs: 300, ...over });

t.test('a published view reads back whole, unknown times included', async (t) => {
  const shared = new SharedNodeView();
  shared.publish(view({ term: 3, commit: 9, applied: 8, leaderCommitSeen: 9, caughtUpAt: undefined, leaderContactAt: 1_000 }));
  const back = new SharedNodeView(shared.buffer).read(emptyView());
  t.match(back, { serving: true, role: 'standby', term: 3, commit: 9, applied: 8, leaderCommitSeen: 9, leaderContactAt: 1_000, electionTimeoutMs: 300 });
  t.equal(back.caughtUpAt, undefined, 'an unknown time stays unknown, not 0');
  t.equal(viewLagMs(back, 1_100), undefined, 'and the lag it implies is unknown: a lane refuses the bounded read as the main thread does');
  shared.publish(view({ applied: 9, leaderCommitSeen: 9, caughtUpAt: 1_000, leaderContactAt: 1_000 }));
  t.equal(viewLagMs(shared.read(emptyView()), 1_100), 0);
});

t.test('a lane waiting for an index wakes on the next publish, from another thread, without polling', async (t) => {
  const shared = new SharedNodeView();
  shared.publish(view({ applied: 1 }));
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const seq = new Int32Array(workerData, 0, 1);
     const fields = new Float64Array(workerData, 8, 10);
     const started = Date.now();
     // Alive as a lane is (its server): nothing here polls.
     const alive = setInterval(() => {}, 60000);
     const step = () => {
       const before = Atomics.load(seq, 0);
       if (fields[5] >= 5) { clearInterval(alive); return parentPort.postMessage(Date.now() - started); }
       const w = Atomics.waitAsync(seq, 0, before, 10000);
       (w.async ? w.value : Promise.resolve()).then(step);
     };
     step();`,
    { eval: true, workerData: shared.buffer },
  );
  t.teardown(() => worker.terminate());
  const waited = new Promise<number>((resolve) => worker.once('message', resolve));
  await new Promise((r) => setTimeout(r, 200));
  shared.publish(view({ applied: 3 }));
  await new Promise((r) => setTimeout(r, 50));
  shared.publish(view({ applied: 5 }));
  const ms = await waited;
  t.ok(ms >= 200 && ms < 5_000, `woke when index 5 was published (${ms} ms), not at the 10 s timeout`);
});

t.test('changed() resolves on a publish, or at its timeout', async (t) => {
  const shared = new SharedNodeView();
  const started = Date.now();
  await shared.changed(shared.sequence(), 50);
  t.ok(Date.now() - started >= 40, 'no publish: it waited out its timeout');
  const sequence = shared.sequence();
  const woken = shared.changed(sequence, 10_000);
  shared.publish(view({ applied: 2 }));
  await woken;
  t.ok(shared.sequence() > sequence);
});
