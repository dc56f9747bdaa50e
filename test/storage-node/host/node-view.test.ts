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
  // The worker reports each wake-up with the index it saw; nothing here
  // depends on how fast the worker thread starts on a loaded machine.
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const seq = new Int32Array(workerData, 0, 1);
     const fields = new Float64Array(workerData, 8, 10);
     // Alive as a lane is (its server): nothing here polls.
     const alive = setInterval(() => {}, 60000);
     const step = () => {
       const before = Atomics.load(seq, 0);
       const applied = fields[5];
       if (applied >= 5) { clearInterval(alive); return parentPort.postMessage({ done: applied }); }
       const w = Atomics.waitAsync(seq, 0, before, 10000);
       parentPort.postMessage({ waiting: applied });
       (w.async ? w.value : Promise.resolve()).then(step);
     };
     step();`,
    { eval: true, workerData: shared.buffer },
  );
  t.teardown(() => worker.terminate());
  const seen: Array<{ waiting?: number; done?: number }> = [];
  const next = (): Promise<{ waiting?: number; done?: number }> =>
    new Promise((resolve) => worker.once('message', (m) => { seen.push(m); resolve(m); }));
  t.same(await next(), { waiting: 1 }, 'the lane waits while index 1 is the newest');
  shared.publish(view({ applied: 3 }));
  t.same(await next(), { waiting: 3 }, 'a publish wakes it; index 3 is not enough, so it waits again');
  const published = Date.now();
  shared.publish(view({ applied: 5 }));
  t.same(await next(), { done: 5 }, 'the publish of index 5 wakes it and it finishes');
  // A bound that only catches a hang: without a wake-up it would sit out its 10 s wait.
  t.ok(Date.now() - published < 5_000, 'woken by the publish, not by the 10 s timeout');
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
