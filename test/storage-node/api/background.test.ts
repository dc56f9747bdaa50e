import t from 'tap';
import { BackgroundWork } from '../../../storage-node/api/background.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function settle(work: BackgroundWork): Promise<void> {
  for (let i = 0; i < 1000 && work.running; i += 1) await turn();
}

t.test('steps run one per event-loop turn until the engine reports no more work', async (t) => {
  let remaining = 5;
  let interleaved = 0;
  const work = new BackgroundWork({ step: () => (remaining -= 1) > 0, onError: () => t.fail('no error expected') });
  work.kick();
  work.kick();
  t.equal(remaining, 5, 'kick only schedules');
  const other = (async () => {
    while (remaining > 0) {
      interleaved += 1;
      await turn();
    }
  })();
  await settle(work);
  await other;
  t.equal(remaining, 0);
  t.ok(interleaved >= 3, 'other work ran between steps');
  t.notOk(work.running);
});

t.test('stop cancels a scheduled step and ignores later kicks', async (t) => {
  let steps = 0;
  const work = new BackgroundWork({ step: () => ++steps > 0, onError: () => undefined });
  work.kick();
  work.stop();
  work.kick();
  await turn();
  await turn();
  t.equal(steps, 0);
});

t.test('a failing step is reported and does not spin; a later kick retries', async (t) => {
  let calls = 0;
  const errors: unknown[] = [];
  const work = new BackgroundWork({
    step: () => {
      calls += 1;
      if (calls === 1) throw new Error('disk full');
      return false;
    },
    onError: (error) => errors.push(error),
  });
  work.kick();
  await settle(work);
  t.equal(calls, 1);
  t.match(errors, [{ message: 'disk full' }]);
  work.kick();
  await settle(work);
  t.equal(calls, 2);
});
