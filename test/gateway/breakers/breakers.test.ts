import t from 'tap';
import { BreakerOpen, Breakers, NodeFailure } from '../../../gateway/breakers/breakers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a breaker opens after repeated node failures and half-opens after the reset timeout', async (t) => {
  const breakers = new Breakers({ volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 200 });
  t.teardown(() => breakers.close());
  const url = 'http://n1';
  for (let i = 0; i < 4; i++) await t.rejects(breakers.run(url, () => Promise.reject(new NodeFailure('down', 'refused'))));
  t.equal(breakers.state(url), 'open');
  await t.rejects(breakers.run(url, () => Promise.resolve(1)), BreakerOpen);
  const deadline = Date.now() + 10_000;
  while (breakers.state(url) !== 'half_open' && Date.now() < deadline) await sleep(20);
  t.equal(breakers.state(url), 'half_open');
  t.equal(await breakers.run(url, () => Promise.resolve(7)), 7);
  t.equal(breakers.state(url), 'closed', 'a good trial closes it');
});

t.test('client errors do not count against the node', async (t) => {
  const breakers = new Breakers({ volumeThreshold: 2, errorThresholdPercentage: 10, resetTimeoutMs: 10_000 });
  t.teardown(() => breakers.close());
  for (let i = 0; i < 10; i++) await t.rejects(breakers.run('http://n2', () => Promise.reject(new Error('SYNTAX_ERROR'))));
  t.equal(breakers.state('http://n2'), 'closed');
});

t.test('a read lane lost while its node stays alive does not count against the node; a lost connection does', async (t) => {
  const breakers = new Breakers({ volumeThreshold: 2, errorThresholdPercentage: 10, resetTimeoutMs: 10_000 });
  t.teardown(() => breakers.close());
  for (let i = 0; i < 10; i++) await t.rejects(breakers.run('http://n3', () => Promise.reject(new NodeFailure('lane gone', 'lane'))));
  t.equal(breakers.state('http://n3'), 'closed');
  for (let i = 0; i < 3; i++) await t.rejects(breakers.run('http://n3', () => Promise.reject(new NodeFailure('connection lost', 'lost'))));
  t.equal(breakers.state('http://n3'), 'open');
});
