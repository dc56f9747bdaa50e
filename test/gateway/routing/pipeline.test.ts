import t from 'tap';
import { available, leaderFirst, leastConnections, nearest, outOfRotation, planRead, preferApplied, roundRobin, tiers, withinLag } from '../../../gateway/routing/pipeline.js';
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

t.test('replicas known to be behind the read\'s after_index go last; caught-up ones keep their place', async (t) => {
  const list = [node('behind', { appliedIndex: 5, lagMs: 40 }), node('unknown-lag', { appliedIndex: 5, lagMs: undefined }), node('caught-up', { appliedIndex: 5, lagMs: 0 }), node('applied', { appliedIndex: 10, lagMs: 40 })];
  t.same(preferApplied(list, 10).map((c) => c.url), ['caught-up', 'applied', 'behind', 'unknown-lag']);
  t.same(preferApplied(list, 0).map((c) => c.url), ['behind', 'unknown-lag', 'caught-up', 'applied'], 'no after_index: order kept');
  const leaderBehind = [node('L', { leader: true, appliedIndex: 1, lagMs: undefined }), node('f', { appliedIndex: 1, lagMs: 5 })];
  t.same(preferApplied(leaderBehind, 10).map((c) => c.url), ['L', 'f'], 'the leader is never behind itself');
});

t.test('planRead demotes a behind replica within its tier only, never past the leader', async (t) => {
  const list = [node('L', { leader: true, appliedIndex: 20 }), node('us1', { appliedIndex: 3, lagMs: 30 }), node('us2', { appliedIndex: 3, lagMs: 0 })];
  const plan = planRead(list, { policy: 'round_robin', lagBoundMs: 1000, homeRegion: 'us', origin: undefined, regions: [], turn: 0, afterIndex: 20 });
  t.same(plan.map((c) => c.url), ['us2', 'us1', 'L']);
});

t.test('outOfRotation says why a node takes no reads', async (t) => {
  t.equal(outOfRotation(node('a'), 100), undefined);
  t.equal(outOfRotation(node('a', { healthy: false }), 100), 'health checks failing');
  t.equal(outOfRotation(node('a', { breaker: 'open' }), 100), 'circuit breaker open');
  t.equal(outOfRotation(node('a', { lagMs: 250 }), 100), 'replication lag 250 ms over the bound of 100 ms');
  t.equal(outOfRotation(node('L', { leader: true, lagMs: 250 }), 100), undefined, 'the leader is never over the bound');
});

t.test('leaderFirst moves the leader to the front and keeps the rest in order', async (t) => {
  t.same(leaderFirst([node('a'), node('b'), node('L', { leader: true })]).map((c) => c.url), ['L', 'a', 'b']);
  t.same(leaderFirst([node('a'), node('b')]).map((c) => c.url), ['a', 'b'], 'no leader in the plan: unchanged');
});
