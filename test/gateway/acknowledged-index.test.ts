/**
 * The relay of acknowledged write positions between gateway workers, with a
 * fake node:cluster primary: a position of a later region epoch wins over a
 * higher index of an earlier one (after a promotion the new primary's log
 * counts from its own indexes), and a single process keeps the later position.
 */
import t from 'tap';
import { AcknowledgedIndex, relayAcknowledgedIndexes } from '../../gateway/acknowledged-index.js';
import type { RelayWorker, WorkerHub } from '../../gateway/acknowledged-index.js';

type Listener = (worker: RelayWorker, message?: unknown) => void;

function fakeHub(): { hub: WorkerHub; say(worker: RelayWorker, message: unknown): void } {
  const listeners: Record<string, Listener[]> = { message: [], exit: [] };
  const hub = {
    on(event: 'message' | 'exit', listener: Listener) {
      listeners[event]?.push(listener);
      return hub;
    },
  } as WorkerHub;
  return { hub, say: (worker, message) => listeners['message']?.forEach((l) => l(worker, message)) };
}

function fakeWorker(id: number): RelayWorker & { inbox: unknown[] } {
  const inbox: unknown[] = [];
  return { id, inbox, send: (message) => inbox.push(message) > 0 };
}

t.test('the primary relays positions: a later epoch with a lower index is still news', async (t) => {
  const { hub, say } = fakeHub();
  relayAcknowledgedIndexes(hub);
  const a = fakeWorker(1);
  const b = fakeWorker(2);
  say(a, { geode_ack: 'hello', index: 0 });
  say(b, { geode_ack: 'hello', index: 0 });
  t.same(a.inbox, [{ geode_ack: 'relay', index: 0 }]);
  say(a, { geode_ack: 'raise', index: 900 });
  t.same(b.inbox.at(-1), { geode_ack: 'learn', index: 900 }, 'epoch 1 stays implicit on the wire');
  t.notMatch(a.inbox, [{ geode_ack: 'shared' }], 'not shared before the sibling learned it');
  say(b, { geode_ack: 'learned', index: 900 });
  t.same(a.inbox.at(-1), { geode_ack: 'shared', index: 900 });

  // A promotion: the new primary's position (2, 3) is later than (1, 900).
  say(b, { geode_ack: 'raise', index: 3, epoch: 2 });
  t.same(a.inbox.at(-1), { geode_ack: 'learn', index: 3, epoch: 2 }, 'relayed although its index is lower');
  const before = b.inbox.length;
  say(a, { geode_ack: 'learned', index: 900 });
  t.equal(b.inbox.length, before, 'a sibling still at (1, 900) has not learned (2, 3)');
  say(a, { geode_ack: 'learned', index: 3, epoch: 2 });
  t.same(b.inbox.at(-1), { geode_ack: 'shared', index: 3, epoch: 2 });
  const c = fakeWorker(3);
  say(c, { geode_ack: 'hello', index: 0 });
  t.same(c.inbox, [{ geode_ack: 'relay', index: 3, epoch: 2 }], 'a new worker starts from the latest position');
});

t.test('one process keeps the latest position; an index alone is epoch 1', async (t) => {
  const own = new AcknowledgedIndex();
  t.teardown(() => own.close());
  t.equal(own.raise(900), undefined, 'no siblings: nothing to wait for');
  t.same(own.position, { epoch: 1, index: 900 });
  own.raise({ epoch: 2, index: 3 });
  t.same(own.position, { epoch: 2, index: 3 });
  t.equal(own.value, 3, 'value is the index of the latest position');
  own.raise({ epoch: 1, index: 5000 });
  t.same(own.position, { epoch: 2, index: 3 }, 'an older epoch never lowers it');
});
