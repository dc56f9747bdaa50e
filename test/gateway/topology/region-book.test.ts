/**
 * The region book alone (no IO, a fake clock): reading region statuses, the
 * epoch rule (highest wins, never back), when a deployment counts as
 * regional, and each region's read gates and lag.
 */
import t from 'tap';
import { RegionBook, parseRegionStatus } from '../../../gateway/topology/region-book.js';
import type { RegionSnapshot } from '../../../gateway/topology/region-book.js';

/** A region status as a node answers it, with `over` replacing fields. */
function status(region: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region,
    role: 'secondary',
    state: 'follower',
    epoch: 1,
    primary_region: 'us',
    position: { epoch: 1, index: 10 },
    source_commit: null,
    behind_entries: 0,
    lag_ms: 20,
    replication_lag_max_ms: 100,
    over_lag_max: false,
    serve_reads: true,
    write_priority: null,
    stream: null,
    node: `${region}1`,
    leader: true,
    leader_url: `http://${region}1:1`,
    history: [],
    quarantined: [],
    regions: [{ name: 'other', role: 'secondary', state: 'follower', epoch: 1, primary_region: 'us', position: null, lag_ms: null, reachable: true, leader_url: null, seen_at: null }],
    ...over,
  };
}

const snap = (region: string, over: Record<string, unknown> = {}): RegionSnapshot => {
  const parsed = parseRegionStatus(status(region, over));
  if (parsed === undefined) throw new Error('fixture does not parse');
  return parsed;
};

const STALE_MS = 3000;

t.test('a region status is read; a body missing region, epoch, primary_region or regions is not one', async (t) => {
  const s = snap('eu', { lag_ms: 42 });
  t.equal(s.region, 'eu');
  t.equal(s.lagMs, 42);
  t.same(s.position, { epoch: 1, index: 10 });
  t.equal(s.peers.length, 1);
  t.equal(s.leaderUrl, 'http://eu1:1');
  for (const missing of ['region', 'epoch', 'primary_region', 'regions']) {
    const body = status('eu');
    delete body[missing];
    t.equal(parseRegionStatus(body), undefined, `without ${missing}`);
  }
  t.equal(parseRegionStatus(status('eu', { epoch: 0 })), undefined, 'epoch 0 is no epoch');
  t.equal(parseRegionStatus('nope'), undefined);
  t.equal(parseRegionStatus(null), undefined);
});

t.test('fields a node leaves out or gets wrong read as unknown, judged by what it did say', async (t) => {
  const s = snap('eu', { lag_ms: 'soon', over_lag_max: undefined, serve_reads: undefined, role: 'disaster_recovery', state: 'weird', position: { epoch: 1 } });
  t.equal(s.lagMs, null, 'a lag that is not a number is unknown');
  t.equal(s.overLagMax, true, 'unknown lag without a word on over_lag_max counts as over');
  t.equal(s.serveReads, false, 'a disaster_recovery region without serve_reads serves none');
  t.equal(s.state, 'follower', 'an unknown state of a region that is not the primary reads as follower');
  t.equal(s.position, undefined, 'a position without an index is none');
  const over = snap('eu', { lag_ms: 500, over_lag_max: undefined, replication_lag_max_ms: 100 });
  t.equal(over.overLagMax, true, 'a lag over its bound is over, said or not');
});

t.test('a status that lists other regions makes the book regional; one that lists none does not', async (t) => {
  const book = new RegionBook({ staleAfterMs: STALE_MS });
  book.observe(snap('us', { role: 'primary', state: 'primary', lag_ms: 0, regions: [] }), 0);
  t.equal(book.regional, false, 'a single group answers regions: []');
  t.equal(book.epoch, 1, 'still at epoch 1');
  t.equal(book.primaryRegion, 'us');
  book.observe(snap('eu'), 1);
  t.equal(book.regional, true);
  book.observe(snap('us', { role: 'primary', state: 'primary', regions: [] }), 2);
  t.equal(book.regional, true, 'nothing turns a regional deployment back into one group');
});

t.test("a region's own refusal at the book's epoch corrects a book that holds it as that epoch's primary", async (t) => {
  const book = new RegionBook({ staleAfterMs: STALE_MS });
  t.ok(book.observe(snap('us', { state: 'primary', role: 'primary' }), 0));
  // The book was told (wrongly) that us writes at epoch 2, e.g. by a write answered across a handover.
  t.ok(book.observePrimary(2, 'us'));
  t.notOk(book.observePrimary(2, 'eu'), 'a claim for the same epoch from elsewhere is not taken');
  t.notOk(book.observePrimary(2, 'eu', 'ap'), 'nor from a region the book does not hold as primary');
  t.notOk(book.observePrimary(2, 'us', 'us'), 'a region naming itself settles nothing');
  t.ok(book.observePrimary(2, 'eu', 'us'), 'us itself refusing at epoch 2, naming eu, settles it');
  t.same([book.epoch, book.primaryRegion], [2, 'eu']);
  t.notOk(book.observePrimary(1, 'us', 'eu'), 'an older epoch still changes nothing');
});

t.test('the highest epoch wins and the book never goes back to a lower one', async (t) => {
  const book = new RegionBook({ staleAfterMs: STALE_MS });
  t.equal(book.epoch, 0, 'nothing known at first');
  t.ok(book.observe(snap('us', { state: 'primary', role: 'primary' }), 0));
  t.same([book.epoch, book.primaryRegion], [1, 'us']);
  t.ok(book.observePrimary(2, 'eu'), 'a refusal naming a newer epoch moves writes');
  t.same([book.epoch, book.primaryRegion], [2, 'eu']);
  t.notOk(book.observe(snap('us', { state: 'primary', role: 'primary', epoch: 1, primary_region: 'us' }), 1), 'the former primary, not yet fenced, changes nothing');
  t.same([book.epoch, book.primaryRegion], [2, 'eu']);
  t.notOk(book.observePrimary(2, 'ap'), 'a second claim for the same epoch is not taken');
  t.equal(book.primaryRegion, 'eu');
  t.notOk(book.observePrimary(0, 'ap'), 'epoch 0 is no epoch');
  // Second-hand: another region's leader saw epoch 3 with ap primary.
  const peers = [{ name: 'ap', role: 'secondary', state: 'primary', epoch: 3, primary_region: 'ap', position: null, lag_ms: 0, reachable: true, leader_url: 'http://ap1:1', seen_at: 5 }];
  t.ok(book.observe(snap('eu', { epoch: 2, primary_region: 'eu', regions: peers }), 2), 'a peer row with a higher epoch is news');
  t.same([book.epoch, book.primaryRegion], [3, 'ap']);
  t.equal(book.leaderUrl('ap'), 'http://ap1:1', "a region's leader is learned from another region's word");
});

t.test('the primary region is open and has no lag; a follower region has its own lag while its status is fresh', async (t) => {
  const book = new RegionBook({ staleAfterMs: STALE_MS });
  book.observe(snap('us', { state: 'primary', role: 'primary', lag_ms: 0 }), 0);
  book.observe(snap('eu', { lag_ms: 30 }), 0);
  t.equal(book.lagMs('us', 0), 0);
  t.same(book.gate('us', 'primary', 0), { closed: undefined, unbounded: undefined });
  t.equal(book.lagMs('eu', 1000), 30);
  t.same(book.gate('eu', 'secondary', 1000), { closed: undefined, unbounded: undefined });
  t.same(book.position('eu', 1000), { epoch: 1, index: 10 });
  // The fake clock moves past the staleness bound without a new status.
  t.equal(book.lagMs('eu', STALE_MS + 1), null, 'a stale status no longer vouches for the lag');
  t.equal(book.position('eu', STALE_MS + 1), undefined);
  const stale = book.gate('eu', 'secondary', STALE_MS + 1);
  t.equal(stale.closed, undefined, 'still open to reads that accept any lag');
  t.match(stale.unbounded, /no region status for 3001 ms/);
  book.observe(snap('eu', { lag_ms: 40 }), STALE_MS + 2);
  t.equal(book.lagMs('eu', STALE_MS + 2), 40, 'a fresh status vouches again');
});

t.test('read gates: no reads from a region that serves none, is fenced, or claims an old epoch; no bounded reads with unknown or excessive lag', async (t) => {
  const book = new RegionBook({ staleAfterMs: STALE_MS });
  book.observe(snap('us', { state: 'primary', role: 'primary', lag_ms: 0 }), 0);
  t.match(book.gate('dr', 'disaster_recovery', 0).closed, /serves no reads/, 'a disaster_recovery region before any status, by its configured role');
  t.match(book.gate('eu', 'secondary', 0).unbounded, /no region status from it yet/, 'a region never heard from: no bounded reads');
  t.equal(book.gate('eu', 'secondary', 0).closed, undefined);
  book.observe(snap('dr', { role: 'disaster_recovery', serve_reads: false }), 0);
  t.match(book.gate('dr', 'disaster_recovery', 0).closed, /serves no reads \(disaster_recovery\)/);
  book.observe(snap('dr2', { role: 'disaster_recovery', serve_reads: true }), 0);
  t.same(book.gate('dr2', 'disaster_recovery', 0), { closed: undefined, unbounded: undefined }, 'unless configured to serve reads');
  book.observe(snap('eu', { lag_ms: null, over_lag_max: true }), 0);
  t.match(book.gate('eu', 'secondary', 0).unbounded, /region lag unknown: the region cannot tell/);
  book.observe(snap('eu', { lag_ms: 250, over_lag_max: true }), 0);
  t.match(book.gate('eu', 'secondary', 0).unbounded, /250 ms over its replication_lag_max of 100 ms/);
  book.observePrimary(2, 'eu');
  book.observe(snap('us', { state: 'primary', role: 'primary', epoch: 1, primary_region: 'us' }), 1);
  t.match(book.gate('us', 'primary', 1).closed, /claims to be primary at epoch 1, below the current epoch 2/, 'a former primary that has not heard yet');
  book.observe(snap('us', { state: 'fenced', role: 'primary', epoch: 2, primary_region: 'eu' }), 2);
  t.match(book.gate('us', 'primary', 2).closed, /fenced/);
  t.same(book.gate('eu', 'secondary', 2), { closed: undefined, unbounded: undefined }, 'the new primary is open whatever its last status said');
  t.equal(book.lagMs('eu', 2), 0);
});

t.test('a status row says where it comes from and why the region takes no reads', async (t) => {
  const book = new RegionBook({ staleAfterMs: STALE_MS });
  book.observe(snap('us', { state: 'primary', role: 'primary', lag_ms: 0 }), 0);
  const peerOnly = book.row('other', undefined, 0);
  t.equal(peerOnly.source, 'peer', 'known only from another region');
  t.equal(peerOnly.over_lag_max, true, 'its lag vouched for by nobody');
  book.observe(snap('eu', { lag_ms: 25 }), 100);
  const eu = book.row('eu', 'secondary', 600);
  t.match(eu, { role: 'secondary', state: 'follower', epoch: 1, primary_region: 'us', lag_ms: 25, over_lag_max: false, serve_reads: true, source: 'region', observed_ms_ago: 500, out_of_rotation: null, reported_by: 'eu1' });
  const us = book.row('us', 'primary', 600);
  t.equal(us.lag_ms, 0);
  t.equal(us.over_lag_max, false);
  const none = book.row('ap', 'read_replica', 600);
  t.match(none, { source: 'none', state: 'unknown', lag_ms: null, observed_ms_ago: null });
  t.match(none.out_of_rotation, /no region status/);
});
