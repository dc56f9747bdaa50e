import t from 'tap';
import { available, leastConnections, nearest, planRead, roundRobin, tiers, withinLag } from '../../../gateway/routing/pipeline.js';
import type { Candidate } from '../../../gateway/routing/pipeline.js';

const node = (url: string, over: Partial<Candidate> = {}): Candidate => ({
  url,
  region: 'us',
  leader: false,
  healthy: true,
  lagMs: 0,
  breaker: 'closed',
  inflight: 0,
  rttMs: 1,
  appliedIndex: 0,
  ...over,
});

t.test('tiers put home-region followers first, other regions next, the leader last', async (t) => {
  const list = [node('L', { leader: true }), node('eu1', { region: 'eu' }), node('us1'), node('us2')];
  t.same(tiers(list, 'us').map((tier) => tier.map((c) => c.url)), [['us1', 'us2'], ['eu1'], ['L']]);
  t.same(tiers(list, 'eu').map((tier) => tier.map((c) => c.url)), [['eu1'], ['us1', 'us2'], ['L']]);
});

t.test('the lag bound drops followers over it but never the leader; unknown lag passes', async (t) => {
  const list = [node('a', { lagMs: 50 }), node('b', { lagMs: 500 }), node('c', { lagMs: undefined }), node('L', { leader: true, lagMs: 9999 })];
  t.same(withinLag(list, 100).map((c) => c.url), ['a', 'c', 'L']);
});

t.test('unhealthy nodes and open breakers are dropped; half-open lets a trial through', async (t) => {
  const list = [node('a', { healthy: false }), node('b', { breaker: 'open' }), node('c', { breaker: 'half_open' }), node('d')];
  t.same(available(list).map((c) => c.url), ['c', 'd']);
});

t.test('round robin starts at successive candidates', async (t) => {
  const list = [node('a'), node('b'), node('c')];
  t.same([0, 1, 2, 3].map((turn) => roundRobin(list, turn)[0]?.url), ['a', 'b', 'c', 'a']);
  t.same(roundRobin([], 5), []);
});

t.test('least connections prefers the idle node, then the faster one', async (t) => {
  const list = [node('busy', { inflight: 4 }), node('slow', { inflight: 0, rttMs: 9 }), node('fast', { inflight: 0, rttMs: 2 })];
  t.same(leastConnections(list).map((c) => c.url), ['fast', 'slow', 'busy']);
});

t.test('nearest orders by distance from the client, ties by RTT', async (t) => {
  const regions = [
    { name: 'us', lat: 39, lon: -77 },
    { name: 'eu', lat: 53, lon: -6 },
  ];
  const list = [node('us-slow', { rttMs: 9 }), node('eu', { region: 'eu' }), node('us-fast', { rttMs: 1 })];
  t.same(nearest(list, { lat: 51.5, lon: 0 }, regions).map((c) => c.url), ['eu', 'us-fast', 'us-slow']);
  t.same(nearest(list, { lat: 40.7, lon: -74 }, regions).map((c) => c.url), ['us-fast', 'us-slow', 'eu']);
});

t.test('planRead composes the stages: a lagging home follower falls behind other regions', async (t) => {
  const list = [node('L', { leader: true }), node('us1', { lagMs: 5000 }), node('us2', { healthy: false }), node('eu1', { region: 'eu' })];
  const plan = planRead(list, { policy: 'round_robin', lagBoundMs: 100, homeRegion: 'us', origin: undefined, regions: [], turn: 0 });
  t.same(plan.map((c) => c.url), ['eu1', 'L']);
});
