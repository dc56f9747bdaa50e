/**
 * Read routing across regional groups, as pure stages: region gates (no
 * reads, no bounded reads), region lag plus replica lag against the bound,
 * the primary's leader never dropped, the status's reasons, and a region
 * without a location placed last for `nearest`.
 */
import t from 'tap';
import { nearest, outOfRotation, planRead, regionsOpen } from '../../../gateway/routing/pipeline.js';
import type { Candidate } from '../../../gateway/routing/pipeline.js';

const OPEN = { closed: undefined, unbounded: undefined };
const node = (url: string, over: Partial<Candidate> = {}): Candidate => ({
  url,
  region: 'eu',
  leader: false,
  healthy: true,
  lagMs: 0,
  breaker: 'closed',
  inflight: 0,
  rttMs: 1,
  appliedIndex: 0,
  regionGate: OPEN,
  ...over,
});

const dr = { closed: 'region serves no reads (disaster_recovery)', unbounded: undefined };
const unknownLag = { closed: undefined, unbounded: 'region lag unknown: no region status for 5000 ms' };

t.test('a closed region takes no read; a region of unknown lag takes reads that accept any lag only', async (t) => {
  const list = [node('L', { region: 'us', leader: true, regionGate: dr }), node('dr1', { region: 'dr', regionGate: dr }), node('ap1', { region: 'ap', regionGate: unknownLag }), node('eu1')];
  t.same(regionsOpen(list, false).map((c) => c.url), ['L', 'ap1', 'eu1'], 'any: only the closed region is dropped (never the leader)');
  t.same(regionsOpen(list, true).map((c) => c.url), ['L', 'eu1'], 'bounded: the region of unknown lag too');
  const ungated = (url: string): Candidate => {
    const { regionGate: _gate, ...rest } = node(url);
    return rest;
  };
  const single = [ungated('a'), ungated('b')];
  t.same(regionsOpen(single, true).map((c) => c.url), ['a', 'b'], 'a single group has no gates: everything passes');
});

t.test('a bounded read skips a region whose lag plus the replica lag is over the bound, and uses it again under it', async (t) => {
  // lagMs of a regional candidate = region lag + its own (QueryService.candidates).
  const context = { policy: 'round_robin' as const, lagBoundMs: 100, homeRegion: 'eu', origin: undefined, regions: [], turn: 0 };
  const over = [node('L', { region: 'us', leader: true }), node('us2', { region: 'us', lagMs: 5 }), node('eu1', { lagMs: 80 + 30 })];
  t.same(planRead(over, context).map((c) => c.url), ['us2', 'L'], 'eu (80 ms behind, its node 30 more) is over 100');
  const under = [node('L', { region: 'us', leader: true }), node('us2', { region: 'us', lagMs: 5 }), node('eu1', { lagMs: 80 + 10 })];
  t.same(planRead(under, context).map((c) => c.url), ['eu1', 'us2', 'L'], 'the home region first once within the bound');
  t.same(planRead(over, { ...context, lagBoundMs: undefined }).map((c) => c.url), ['eu1', 'us2', 'L'], 'a read without a bound takes it');
});

t.test('the status says why a region keeps its nodes out of rotation', async (t) => {
  t.equal(outOfRotation(node('dr1', { regionGate: dr }), undefined), 'region serves no reads (disaster_recovery)');
  t.equal(outOfRotation(node('ap1', { regionGate: unknownLag }), 100), 'region lag unknown: no region status for 5000 ms');
  t.equal(outOfRotation(node('ap1', { regionGate: unknownLag }), undefined), undefined, 'no bound, no reason');
  t.equal(outOfRotation(node('L', { leader: true, regionGate: dr }), 100), undefined, "the primary's leader is never gated");
  t.equal(outOfRotation(node('x', { healthy: false, regionGate: dr }), 100), 'health checks failing', 'the node first, then its region');
});

t.test('nearest: a region the gateway has no location for comes after every located one', async (t) => {
  const regions = [
    { name: 'us', lat: 39, lon: -77 },
    { name: 'eu', lat: 53, lon: -6 },
  ];
  const list = [node('learned', { region: 'ap', rttMs: 0.1 }), node('us1', { region: 'us', rttMs: 5 }), node('eu1', { rttMs: 5 })];
  t.same(nearest(list, { lat: 40.7, lon: -74 }, regions).map((c) => c.url), ['us1', 'eu1', 'learned']);
  t.same(nearest(list, undefined, regions).map((c) => c.url), ['learned', 'us1', 'eu1'], 'no client location: by RTT alone, as before');
});

t.test('within a tier, a region known to be behind the read goes last', async (t) => {
  // appliedIndex comparable with afterIndex (appliedTowards): eu has applied (1, 50), ap a later epoch.
  const list = [node('L', { region: 'us', leader: true }), node('eu1', { appliedIndex: 50, lagMs: 20 }), node('ap1', { region: 'ap', appliedIndex: Number.MAX_SAFE_INTEGER, lagMs: 20 })];
  const plan = planRead(list, { policy: 'round_robin', lagBoundMs: undefined, homeRegion: 'us', origin: undefined, regions: [], turn: 0, afterIndex: 60 });
  t.same(plan.map((c) => c.url), ['ap1', 'eu1', 'L']);
});
