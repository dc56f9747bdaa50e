import t from 'tap';
import { Worker } from 'node:worker_threads';
import { packEntries, unpackEntries } from '../../../storage-node/replication/packed-entries.js';
import type { Entry } from '../../../storage-node/raft/messages.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

const sample: Entry[] = [
  { index: 7, term: 2, type: 'normal', data: bytes(1, 2, 3) },
  { index: 8, term: 2, type: 'normal', data: new Uint8Array(0) },
  { index: 9, term: 3, type: 'confChange', data: bytes(9) },
  // A view into a larger buffer: only its own bytes may travel.
  { index: 10, term: 3, type: 'normal', data: bytes(0, 0, 4, 5, 0).subarray(2, 4) },
];

t.test('a packed batch unpacks to the same entries, in order, with one buffer behind them', async (t) => {
  const packed = packEntries(sample);
  t.equal(packed.data.byteLength, 6, 'payloads back to back, nothing else');
  const back = unpackEntries(packed);
  t.same(
    back.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] })),
    sample.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] })),
  );
  t.ok(back.every((e) => e.data.buffer === packed.data.buffer), 'entries are views, not copies');
  t.same(unpackEntries(packEntries([])), [], 'an empty batch');
});

t.test('a packed batch survives the trip to a worker thread', async (t) => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.once('message', (p) => parentPort.postMessage({ meta: p.meta, data: Array.from(p.data) }));`,
    { eval: true },
  );
  t.teardown(() => worker.terminate());
  const packed = packEntries(sample);
  const echoed = await new Promise<{ meta: number[]; data: number[] }>((resolve) => {
    worker.once('message', resolve);
    worker.postMessage(packed);
  });
  t.same(echoed.meta, packed.meta);
  t.same(unpackEntries({ meta: echoed.meta, data: Uint8Array.from(echoed.data) }).map((e) => [...e.data]), sample.map((e) => [...e.data]));
});

t.test('metadata that does not match the payload is refused', async (t) => {
  const packed = packEntries(sample);
  t.throws(() => unpackEntries({ meta: packed.meta.slice(0, 3), data: packed.data }), RangeError, 'a partial entry');
  t.throws(() => unpackEntries({ meta: packed.meta, data: packed.data.subarray(0, 5) }), RangeError, 'payload too short');
  t.throws(() => unpackEntries({ meta: packed.meta.slice(0, 4), data: packed.data }), RangeError, 'payload too long');
});
