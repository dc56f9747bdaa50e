import t from 'tap';
import { Worker } from 'node:worker_threads';
import { WorkerCallError, WorkerClient } from '../../../storage-node/replication/worker-rpc.js';

// A worker speaking serveCalls' wire format: one message holds an array of calls, one message the replies.
const ECHO = `
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (calls) => {
    parentPort.postMessage(calls.map((c) => c.method === 'fail'
      ? { id: c.id, ok: false, error: { code: 'BAD_REQUEST', message: 'refused' } }
      : { id: c.id, ok: true, value: { method: c.method, args: c.args, batch: calls.length } }));
  });`;

/** A client whose posts are recorded, in order, next to other events of the test. */
function recorded(post: 'turn' | 'now' | undefined, events: string[]): WorkerClient {
  const worker = new Worker(ECHO, { eval: true });
  const original = worker.postMessage.bind(worker);
  worker.postMessage = (value: unknown) => {
    events.push(`post ${(value as unknown[]).length}`);
    original(value);
  };
  return new WorkerClient(worker, () => undefined, post === undefined ? {} : { post });
}

t.test('by default, calls made in one event-loop turn share one message, posted at the turn end', async (t) => {
  const events: string[] = [];
  const client = recorded(undefined, events);
  t.teardown(() => client.terminate());
  setImmediate(() => events.push('immediate'));
  const answers = await Promise.all([client.call<{ batch: number }>('a'), client.call<{ batch: number }>('b', { x: 1 })]);
  t.same(answers.map((a) => a.batch), [2, 2], 'both calls travelled in one message');
  t.same(events, ['immediate', 'post 2'], 'posted after the immediate queued before the calls');
});

t.test("post: 'now' sends when the current callback is done, before the event loop moves on", async (t) => {
  const events: string[] = [];
  const client = recorded('now', events);
  t.teardown(() => client.terminate());
  setImmediate(() => events.push('immediate'));
  const first = client.call<{ method: string; batch: number }>('persist', { n: 1 });
  const second = client.call<{ method: string; batch: number }>('apply');
  events.push('callback end');
  const answers = await Promise.all([first, second]);
  t.same(answers.map((a) => a.method), ['persist', 'apply']);
  t.same(answers.map((a) => a.batch), [2, 2], 'calls of the same callback still share a message');
  t.same(events.slice(0, 3), ['callback end', 'post 2', 'immediate'], 'posted before the immediate ran');
});

t.test('a refused call rejects with the worker error; the client goes on', async (t) => {
  const client = recorded('now', []);
  t.teardown(() => client.terminate());
  const refused = await client.call('fail').catch((e: unknown) => e);
  t.ok(refused instanceof WorkerCallError);
  t.equal((refused as WorkerCallError).body.code, 'BAD_REQUEST');
  t.same(await client.call('after'), { method: 'after', args: null, batch: 1 });
  t.equal(client.inflight, 0);
});
