/**
 * The gateway in front of regional groups, with fake storage nodes (fastify
 * servers in this file, standing in for nodes of other regions: the gateway
 * under test is real, over real HTTP). Each fake region is its own group
 * with its own leader and term, answers `GET /api/v1/region/status` as the
 * shared contract says, refuses writes outside the primary with
 * NOT_PRIMARY_REGION, and records what the gateway sent it.
 *
 * Proves: the split into one group per region (writes reach the primary
 * region's leader though another region's leader has a higher term); reads
 * carry after_epoch with after_index; region gates (over replication_lag_max,
 * disaster_recovery) and their return; the region metrics and status rows;
 * a region learned from the others; a promotion seen first through a
 * refused write while region polls still say the old epoch (writes follow
 * it and never go back); EPOCH_UNCONFIRMED held and resent with the same
 * request_id; promote/rejoin forwarded to the named region's leader with
 * the admin token; and a single group (regions: []) left as one group,
 * with no after_epoch sent.
 */
import t from 'tap';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { parseGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/gateway.js';
import type { RunningGateway } from '../../gateway/gateway.js';
import type { RegionRole } from '../../shared/protocol/region.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it gives a value; a hang bound, not a timing assertion. */
async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Seen {
  path: string;
  body: Record<string, unknown>;
  authorization: string | undefined;
}

interface Answer {
  status: number;
  json: unknown;
}

interface FakeNode {
  name: string;
  region: FakeRegion;
  url: string;
  app: FastifyInstance;
  seen: Seen[];
  regionPolls: number;
  /** Region statuses answer this much later. */
  regionDelayMs?: number;
  /** Region statuses wait for this, while set. */
  regionHeld?: Promise<void>;
  /** Answers a query first when it returns something. */
  queryHook?: (body: Record<string, unknown>) => Answer | undefined;
  adminHook?: (path: string, body: Record<string, unknown>) => Answer | undefined;
}

interface FakeRegion {
  name: string;
  role: RegionRole;
  state: 'primary' | 'follower' | 'fenced';
  epoch: number;
  primary: string;
  term: number;
  leader: string;
  /** Last index of the region's own log (and its applied source position's index). */
  index: number;
  lagMs: number | null;
  overLagMax: boolean;
  serveReads: boolean;
  nodes: FakeNode[];
  /** Regions listed in this region's status (the others of its world, unless set). */
  peers?: () => Record<string, unknown>[];
}

interface World {
  regions: FakeRegion[];
  /** Other regions' leaders are named by this host (as nodes behind delay proxies name them: another address of the same node). */
  peerHost?: string;
  /** Region statuses answer this frozen copy while set (a gateway whose polls lag behind). */
  frozen: Map<string, unknown> | undefined;
}

const stats = { nodes_created: 0, nodes_deleted: 0, relationships_created: 0, relationships_deleted: 0, properties_set: 0, labels_added: 0, labels_removed: 0, indexes_added: 0, indexes_removed: 0 };

function leaderOf(region: FakeRegion): FakeNode {
  return region.nodes.find((n) => n.name === region.leader) as FakeNode;
}

function clusterStatus(node: FakeNode): Record<string, unknown> {
  const region = node.region;
  const leader = leaderOf(region);
  return {
    cluster_id: `geode-${region.name}`,
    node: node.name,
    view: node === leader ? 'complete' : 'partial',
    term: region.term,
    leader: leader.name,
    leader_url: leader.url,
    commit_index: region.index,
    applied_index: region.index,
    quorum_status: 'healthy',
    nodes: region.nodes.map((m) => ({ id: m.name, role: m === leader ? 'primary' : 'standby', status: 'healthy', replication_lag: 0, applied_index: region.index, match_index: region.index, region: region.name, url: m.url, voter: true })),
  };
}

function peerRow(world: World, region: FakeRegion): Record<string, unknown> {
  const leaderUrl = leaderOf(region).url;
  return {
    name: region.name,
    role: region.role,
    state: region.state,
    epoch: region.epoch,
    primary_region: region.primary,
    position: { epoch: region.epoch, index: region.index },
    lag_ms: region.lagMs,
    reachable: true,
    leader_url: world.peerHost === undefined ? leaderUrl : leaderUrl.replace('127.0.0.1', world.peerHost),
    seen_at: Date.now(),
  };
}

function regionStatus(world: World, node: FakeNode): unknown {
  const region = node.region;
  const leader = leaderOf(region);
  const frozen = world.frozen?.get(node.name);
  if (frozen !== undefined) return frozen;
  return {
    region: region.name,
    role: region.role,
    state: region.state,
    epoch: region.epoch,
    primary_region: region.primary,
    position: { epoch: region.epoch, index: region.index },
    source_commit: null,
    behind_entries: region.state === 'primary' ? 0 : null,
    lag_ms: region.lagMs,
    replication_lag_max_ms: 100,
    over_lag_max: region.overLagMax,
    serve_reads: region.serveReads,
    write_priority: null,
    stream: null,
    node: node.name,
    leader: node === leader,
    leader_url: leader.url,
    history: [],
    quarantined: [],
    regions: region.peers?.() ?? world.regions.filter((r) => r !== region && r.nodes.length > 0).map((r) => peerRow(world, r)),
  };
}

function answerQuery(world: World, node: FakeNode, body: Record<string, unknown>): Answer {
  const hooked = node.queryHook?.(body);
  if (hooked !== undefined) return hooked;
  const region = node.region;
  const leader = leaderOf(region);
  const write = /^\s*(CREATE|MERGE)/i.test(String(body['query']));
  const regional = world.regions.length > 1;
  if (write) {
    if (region.state !== 'primary') {
      return { status: 421, json: { error: { code: 'NOT_PRIMARY_REGION', message: `${region.name} is not the write region`, retryable: true, region: region.name, primary_region: region.primary, epoch: region.epoch } } };
    }
    if (node !== leader) return { status: 421, json: { error: { code: 'NOT_LEADER', message: 'not the leader', retryable: true, leader_id: leader.name, leader_url: leader.url } } };
    region.index++;
    return { status: 200, json: { columns: [], rows: [], stats, meta: { node: node.name, role: 'primary', term: region.term, index: region.index, applied_index: region.index, epoch: region.epoch } } };
  }
  const meta: Record<string, unknown> = { node: node.name, role: node === leader ? 'primary' : 'standby', term: region.term, index: region.index, applied_index: region.index, lag_ms: 0 };
  if (regional) meta['position'] = { epoch: region.epoch, index: region.index };
  return { status: 200, json: { columns: ['c'], rows: [{ c: 1 }], stats, meta } };
}

async function fakeNode(world: World, region: FakeRegion, name: string): Promise<FakeNode> {
  const app = Fastify({ logger: false });
  const node = { name, region, url: '', app, seen: [] as Seen[], regionPolls: 0 } as FakeNode;
  const record = (path: string, body: unknown, authorization: string | undefined): void => {
    node.seen.push({ path, body: (body ?? {}) as Record<string, unknown>, authorization });
  };
  app.get('/healthz', async () => ({ status: 'ok', node: name, region: region.name }));
  app.get('/api/v1/cluster/status', async () => clusterStatus(node));
  app.get('/api/v1/region/status', async () => {
    node.regionPolls++;
    if (node.regionDelayMs !== undefined) await sleep(node.regionDelayMs);
    if (node.regionHeld !== undefined) await node.regionHeld;
    return regionStatus(world, node);
  });
  app.post('/v1/query', async (request, reply) => {
    const body = request.body as Record<string, unknown>;
    record('/v1/query', body, request.headers.authorization);
    const answer = answerQuery(world, node, body);
    return reply.code(answer.status).send(answer.json);
  });
  for (const path of ['/api/v1/admin/regions/promote', '/api/v1/admin/regions/rejoin']) {
    app.post(path, async (request, reply) => {
      const body = request.body as Record<string, unknown>;
      record(path, body, request.headers.authorization);
      const answer = node.adminHook?.(path, body) ?? { status: 200, json: { region: region.name, state: 'follower', epoch: region.epoch, primary_region: region.primary } };
      return reply.code(answer.status).send(answer.json);
    });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  node.url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  region.nodes.push(node);
  return node;
}

function region(name: string, role: RegionRole, over: Partial<FakeRegion> = {}): FakeRegion {
  return { name, role, state: 'follower', epoch: 1, primary: 'us', term: 1, leader: `${name}1`, index: 0, lagMs: 10, overLagMax: false, serveReads: role !== 'disaster_recovery', nodes: [], ...over };
}

const ADMIN_TOKEN = 'regions-admin-token';

/**
 * A gateway whose home region is `home` in front of `regions`, over HTTP only (the stand-ins have no
 * query stream), without hedging, checking health every 50 ms; stopped in teardown.
 */
async function gatewayFor(t: { teardown(fn: () => unknown): void }, home: string, regions: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<RunningGateway> {
  const config = { listen: '127.0.0.1:0', session_secret: `regions-test-secret-${home}`, region: home, query_stream: false, read_hedge_ms: 0, health_interval_ms: 50, poll_interval_ms: 100, regions, ...extra };
  const gw = await startGateway(parseGatewayConfig(config, 'test', {}));
  t.teardown(() => gw.close());
  return gw;
}

async function query(gw: RunningGateway, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const json = (await res.json()) as { meta?: { node?: string; index?: number; epoch?: number }; error?: { code: string; request_id?: string } };
  return { status: res.status, token: res.headers.get('geode-session') ?? '', body: json };
}

async function metricsText(gw: RunningGateway): Promise<string> {
  return (await fetch(`${gw.url}/metrics`)).text();
}

interface StatusRegion {
  name: string;
  state: string;
  epoch: number | null;
  lag_ms: number | null;
  over_lag_max: boolean;
  out_of_rotation: string | null;
  learned: boolean;
  primary: boolean;
  leader: string | null;
  leader_url: string | null;
  term: number;
  nodes: { id: string | null; url: string; out_of_rotation: string | null }[];
}

async function clusterStatusOf(gw: RunningGateway): Promise<{ regional: boolean; epoch?: number; primary_region?: string | null; leader: string | null; regions: StatusRegion[] }> {
  return (await (await fetch(`${gw.url}/api/v1/cluster/status`)).json()) as { regional: boolean; epoch?: number; primary_region?: string | null; leader: string | null; regions: StatusRegion[] };
}

const writesTo = (node: FakeNode): Seen[] => node.seen.filter((s) => s.path === '/v1/query' && /^CREATE/.test(String(s.body['query'])));
const readsAt = (node: FakeNode): Seen[] => node.seen.filter((s) => s.path === '/v1/query' && /^MATCH/.test(String(s.body['query'])));

t.test('regional groups behind one gateway', async (t) => {
  const world: World = { regions: [], frozen: undefined };
  // Terms are per group: dr's leader has the highest term, which must not make it the write leader.
  const us = region('us', 'primary', { state: 'primary', term: 7, lagMs: 0, index: 100 });
  const eu = region('eu', 'secondary', { term: 9, lagMs: 10, index: 40 });
  const dr = region('dr', 'disaster_recovery', { term: 12, lagMs: 30, index: 7 });
  const ap = region('ap', 'read_replica', { term: 2, lagMs: 20, index: 5 });
  world.regions.push(us, eu, dr, ap);
  const [us1, us2] = [await fakeNode(world, us, 'us1'), await fakeNode(world, us, 'us2')];
  const [eu1, eu2] = [await fakeNode(world, eu, 'eu1'), await fakeNode(world, eu, 'eu2')];
  const dr1 = await fakeNode(world, dr, 'dr1');
  const ap1 = await fakeNode(world, ap, 'ap1');
  const all = [us1, us2, eu1, eu2, dr1, ap1];
  t.teardown(() => Promise.all(all.map((n) => n.app.close())));

  // ap is not in the gateway's configuration: it is learned from the other regions' statuses.
  const gw = await gatewayFor(t, 'eu', {
    us: { lat: 39.0, lon: -77.5, role: 'primary', nodes: [us1.url, us2.url] },
    eu: { lat: 53.3, lon: -6.3, role: 'secondary', nodes: [eu1.url, eu2.url] },
    dr: { lat: 45.5, lon: -122.7, role: 'disaster_recovery', nodes: [dr1.url] },
  }, { admin_token: ADMIN_TOKEN, write_hold_ms: 5000 });
  const core = gw.app.gateway;
  await until('the regional groups, each with its leader and a fresh region status', () => {
    const views = core.topology.regionViews();
    return core.topology.regional && views.length === 4 && views.every((r) => r.leader !== undefined && r.row.source === 'region') && core.topology.availableLeader()?.url === us1.url;
  });

  await t.test('each region is its own group; writes reach the primary region leader though another leader has a higher term', async (t) => {
    t.equal(core.topology.primaryRegion, 'us');
    t.equal(core.topology.epoch, 1);
    const write = await query(gw, { query: 'CREATE (:R {v: 1})' });
    t.equal(write.status, 200, JSON.stringify(write.body));
    t.equal(write.body.meta?.node, 'us1');
    t.equal(writesTo(us1).length, 1);
    for (const other of [us2, eu1, eu2, dr1, ap1]) t.equal(writesTo(other).length, 0, `no write reached ${other.name}`);
    const views = new Map(core.topology.regionViews().map((r) => [r.name, r]));
    t.same([...views.keys()].sort(), ['ap', 'dr', 'eu', 'us']);
    t.equal(views.get('dr')?.leader?.url, dr1.url, "dr's leader leads dr only");
    t.equal(views.get('ap')?.learned, true, 'ap was learned from another region');
    t.equal(views.get('ap')?.leader?.url, ap1.url);
  });

  await t.test('a read after the write carries after_epoch with after_index, and the home region serves it', async (t) => {
    const write = await query(gw, { query: 'CREATE (:R {v: 2})' });
    const read = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c' }, { 'geode-session': write.token });
    t.equal(read.status, 200);
    t.match(read.body.meta?.node, /^eu/, 'the gateway region eu is the first tier');
    const sent = [...readsAt(eu1), ...readsAt(eu2)].at(-1)?.body;
    t.equal(sent?.['after_index'], write.body.meta?.index);
    t.equal(sent?.['after_epoch'], 1);
    const position = core.codec.decode(read.token);
    t.ok(position.causalIndex >= (write.body.meta?.index ?? Infinity), 'the token keeps the write position');
  });

  await t.test('bounded reads skip a region over its lag max and never read a disaster_recovery region; back in once caught up', async (t) => {
    eu.lagMs = 5000;
    eu.overLagMax = true;
    await until('eu out of rotation', async () => (await clusterStatusOf(gw)).regions.find((r) => r.name === 'eu')?.out_of_rotation?.includes('over its replication_lag_max'));
    const before = new Map(all.map((n) => [n.name, readsAt(n).length]));
    const served = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const read = await query(gw, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'bounded', max_lag_ms: 1000 });
      t.equal(read.status, 200);
      served.set(String(read.body.meta?.node), (served.get(String(read.body.meta?.node)) ?? 0) + 1);
    }
    t.comment(JSON.stringify([...served]));
    t.equal(readsAt(eu1).length + readsAt(eu2).length, (before.get('eu1') ?? 0) + (before.get('eu2') ?? 0), 'no bounded read reached eu');
    t.equal(readsAt(dr1).length, before.get('dr1'), 'none reached dr (disaster_recovery, serves no reads)');
    t.ok((served.get('us2') ?? 0) + (served.get('ap1') ?? 0) === 20, 'the other regions served them, the leader spared');
    const any = await query(gw, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'any' });
    t.match(any.body.meta?.node, /^eu/, 'a read that accepts any lag still goes to the home region');
    const status = await clusterStatusOf(gw);
    t.match(status.regions.find((r) => r.name === 'dr')?.nodes[0]?.out_of_rotation, /serves no reads/);
    eu.lagMs = 10;
    eu.overLagMax = false;
    await until('eu back in rotation', async () => (await clusterStatusOf(gw)).regions.find((r) => r.name === 'eu')?.out_of_rotation === null);
    const back = await query(gw, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'bounded', max_lag_ms: 1000 });
    t.match(back.body.meta?.node, /^eu/, 'eu serves bounded reads again');
    const tight = await query(gw, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'bounded', max_lag_ms: 5 });
    t.match(tight.body.meta?.node, /^us/, "a bound below eu's region lag goes to the primary region");
  });

  await t.test('region lag and epoch are exported; a region of unknown lag has no lag sample', async (t) => {
    const text = await metricsText(gw);
    t.match(text, /geode_region_replication_lag_seconds\{region="eu"\} 0\.01\b/);
    t.match(text, /geode_region_replication_lag_seconds\{region="us"\} 0\b/);
    t.match(text, /geode_region_epoch 1\b/);
    t.match(text, /geode_region_over_lag_max\{region="eu"\} 0\b/);
    ap.lagMs = null;
    ap.overLagMax = true;
    await until('ap lag unknown', () => core.topology.regionViews().find((r) => r.name === 'ap')?.lagMs === null);
    const unknown = await metricsText(gw);
    t.notMatch(unknown, /geode_region_replication_lag_seconds\{region="ap"\}/, 'no sample while unknown');
    t.match(unknown, /geode_region_over_lag_max\{region="ap"\} 1\b/, 'the alarm is up');
    ap.lagMs = 20;
    ap.overLagMax = false;
  });

  await t.test('the status lists the regions with role, state, epoch, lag and their nodes', async (t) => {
    const status = await clusterStatusOf(gw);
    t.equal(status.regional, true);
    t.equal(status.epoch, 1);
    t.equal(status.primary_region, 'us');
    t.equal(status.leader, 'us1', "the top-level leader is the primary region's");
    const byName = new Map(status.regions.map((r) => [r.name, r]));
    t.match(byName.get('us'), { state: 'primary', primary: true, lag_ms: 0, leader: 'us1', term: 7 });
    t.match(byName.get('eu'), { state: 'follower', epoch: 1, lag_ms: 10, over_lag_max: false, leader: 'eu1', leader_url: eu1.url, term: 9 });
    t.same(byName.get('eu')?.nodes.map((n) => n.url), [eu1.url, eu2.url]);
    t.match(byName.get('ap'), { learned: true, leader: 'ap1' });
  });

  let promotedToken = '';
  await t.test('a promotion seen first through a refused write: the write follows it, and writes never go back to the lower epoch', async (t) => {
    // The gateway's region polls keep answering what they said before the promotion.
    world.frozen = new Map(all.map((n) => [n.name, regionStatus(world, n)]));
    us.state = 'fenced';
    us.epoch = 2;
    us.primary = 'eu';
    eu.state = 'primary';
    eu.epoch = 2;
    eu.primary = 'eu';
    eu.index = 2;
    us1.queryHook = (body) =>
      /^CREATE/.test(String(body['query']))
        ? { status: 421, json: { error: { code: 'NOT_PRIMARY_REGION', message: 'us is fenced', retryable: true, region: 'us', primary_region: 'eu', epoch: 2, primary_leader_url: eu1.url } } }
        : undefined;
    const write = await query(gw, { query: 'CREATE (:R {v: 3})', request_id: 'promoted-write-1' });
    t.equal(write.status, 200, JSON.stringify(write.body));
    t.equal(write.body.meta?.node, 'eu1');
    t.equal(writesTo(us1).at(-1)?.body['request_id'], 'promoted-write-1', 'first sent to the old primary');
    t.equal(writesTo(eu1).at(-1)?.body['request_id'], 'promoted-write-1', 'then to the new one, same request_id');
    t.equal(core.topology.epoch, 2);
    t.equal(core.topology.primaryRegion, 'eu');
    const session = core.codec.decode(write.token);
    t.same([session.causalEpoch, session.causalIndex], [2, 3], 'the token holds the write position at epoch 2');
    t.same(core.service.acknowledgedPosition, { epoch: 2, index: 3 });
    promotedToken = write.token;
    // Region polls (frozen) keep saying us is primary at epoch 1: the gateway keeps epoch 2.
    const polls = us1.regionPolls + us2.regionPolls;
    await until('three more region polls of us', () => us1.regionPolls + us2.regionPolls >= polls + 3);
    t.equal(core.topology.primaryRegion, 'eu', 'a lower epoch never takes writes back');
    const usWrites = writesTo(us1).length;
    const next = await query(gw, { query: 'CREATE (:R {v: 4})' });
    t.equal(next.body.meta?.node, 'eu1');
    t.equal(writesTo(us1).length, usWrites, 'straight to the new primary');
    t.match((await metricsText(gw)), /geode_region_epoch 2\b/);
  });

  await t.test('a read after the promotion waits for the epoch-2 position', async (t) => {
    const read = await query(gw, { query: 'MATCH (n:R) RETURN count(n) AS c', consistency: 'any' }, { 'geode-session': promotedToken });
    t.equal(read.status, 200);
    const node = all.find((n) => n.name === read.body.meta?.node) as FakeNode;
    const sent = readsAt(node).at(-1)?.body;
    t.equal(sent?.['after_epoch'], 2);
    t.ok(Number(sent?.['after_index']) >= 3, `after_index ${String(sent?.['after_index'])} covers the write at (2, 3)`);
  });

  await t.test('EPOCH_UNCONFIRMED is held and resent with the same request_id', async (t) => {
    let refusals = 2;
    eu1.queryHook = (body) => {
      if (!/^CREATE/.test(String(body['query'])) || refusals === 0) return undefined;
      refusals--;
      return { status: 503, json: { error: { code: 'EPOCH_UNCONFIRMED', message: 'not confirmed yet', retryable: true, region: 'eu', epoch: 2 } } };
    };
    const before = writesTo(eu1).length;
    const write = await query(gw, { query: 'CREATE (:R {v: 5})' });
    t.equal(write.status, 200, JSON.stringify(write.body));
    const attempts = writesTo(eu1).slice(before);
    t.equal(attempts.length, 3, 'two refusals, then the answer');
    t.equal(new Set(attempts.map((a) => a.body['request_id'])).size, 1, 'one request_id throughout');
    delete eu1.queryHook;
  });

  await t.test('promote and rejoin go to the named region leader, with the admin token', async (t) => {
    const admin = (path: string, body: unknown, token?: string) =>
      fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const promotes = (): number => all.reduce((n, node) => n + node.seen.filter((s) => s.path.endsWith('/promote')).length, 0);
    const refused = await admin('/api/v1/admin/regions/promote', { region: 'us' });
    t.equal(refused.status, 401);
    t.equal(promotes(), 0, 'no node saw an unauthorized promotion');
    t.equal((await admin('/api/v1/admin/regions/promote', { region: 'nowhere' }, ADMIN_TOKEN)).status, 404, 'an unknown region');
    t.equal((await admin('/api/v1/admin/regions/promote', { force: true }, ADMIN_TOKEN)).status, 400, 'a body without a region');
    // us's group still names us1 its leader; us1 says us2 leads now (NOT_LEADER), which the gateway follows.
    us1.adminHook = () => ({ status: 421, json: { error: { code: 'NOT_LEADER', message: 'not the leader', retryable: true, leader_url: us2.url } } });
    us2.adminHook = (path) =>
      path.endsWith('/promote')
        ? { status: 200, json: { region: 'us', epoch: 3, previous_primary: 'eu', planned: true, fork: { epoch: 2, index: 6 }, lost_entries_estimate: 0, estimate_basis: 'exact', took_ms: 3 } }
        : undefined;
    const promoted = await admin('/api/v1/admin/regions/promote', { region: 'us', timeout_ms: 5000 }, ADMIN_TOKEN);
    t.equal(promoted.status, 200);
    t.match(await promoted.json(), { region: 'us', epoch: 3 });
    t.equal(us2.seen.at(-1)?.path, '/api/v1/admin/regions/promote');
    t.same(us2.seen.at(-1)?.body, { region: 'us', timeout_ms: 5000 });
    t.equal(us2.seen.at(-1)?.authorization, `Bearer ${ADMIN_TOKEN}`, 'the token travels on');
    t.equal(eu1.seen.filter((s) => s.path.endsWith('/promote')).length, 0, 'not to the write leader');
    t.same([core.topology.epoch, core.topology.primaryRegion], [3, 'us'], 'the gateway adopts the promotion at once');
    delete us1.adminHook;
    const rejoin = await admin('/api/v1/admin/regions/rejoin', { region: 'eu' }, ADMIN_TOKEN);
    t.equal(rejoin.status, 200);
    t.equal(eu1.seen.at(-1)?.path, '/api/v1/admin/regions/rejoin', "eu's leader got the rejoin");
  });
});

t.test('a single group (no other regions in its status) stays one group and is sent no after_epoch', async (t) => {
  const world: World = { regions: [], frozen: undefined };
  const one = region('local', 'primary', { state: 'primary', term: 5, lagMs: 0, leader: 'local1', peers: () => [] });
  world.regions.push(one);
  const [a, b] = [await fakeNode(world, one, 'local1'), await fakeNode(world, one, 'local2')];
  t.teardown(() => Promise.all([a.app.close(), b.app.close()]));
  // Two configured regions as labels of one group, as geode dev and the existing tests configure them.
  const gw = await gatewayFor(t, 'east', { east: { lat: 0, lon: 0, role: 'primary', nodes: [a.url] }, west: { lat: 0, lon: 10, role: 'secondary', nodes: [b.url] } });
  const core = gw.app.gateway;
  await until('the leader', () => core.topology.availableLeader()?.url === a.url);
  const leaderPolls = a.regionPolls;
  await until('three region polls of the group', () => a.regionPolls + b.regionPolls >= leaderPolls + 3);
  t.equal(a.regionPolls, leaderPolls, 'one probe per interval, to a follower: not the leader while a follower answers');
  t.equal(core.topology.regional, false, 'regions: [] is one group');
  t.same(core.topology.regionViews(), []);
  const write = await query(gw, { query: 'CREATE (:S)' });
  t.equal(write.status, 200);
  const read = await query(gw, { query: 'MATCH (n:S) RETURN count(n) AS c' }, { 'geode-session': write.token });
  t.equal(read.status, 200);
  const sent = [...readsAt(a), ...readsAt(b)].at(-1)?.body;
  t.equal(sent?.['after_index'], write.body.meta?.index);
  t.notOk(sent !== undefined && 'after_epoch' in sent, "a single group's nodes get no after_epoch");
  const status = await clusterStatusOf(gw);
  t.equal(status.regional, false);
  t.same(status.regions.map((r) => r.name), ['east', 'west'], 'the configured labels, as before');
  t.notMatch(await metricsText(gw), /geode_region_replication_lag_seconds\{/, 'no region lag series');
});

t.test('regions the gateway names differently from their nodes are filed under its names, not learned a second time', async (t) => {
  // Peers name each other's leaders as localhost: an address of the same node the gateway was not given.
  const world: World = { regions: [], frozen: undefined, peerHost: 'localhost' };
  const usEast = region('us-east-1', 'primary', { state: 'primary', primary: 'us-east-1', term: 3, lagMs: 0 });
  const euWest = region('eu-west-1', 'secondary', { primary: 'us-east-1', term: 8, lagMs: 15 });
  world.regions.push(usEast, euWest);
  const us1 = await fakeNode(world, usEast, 'us-east-11');
  usEast.leader = 'us-east-11';
  const eu1 = await fakeNode(world, euWest, 'eu-west-11');
  euWest.leader = 'eu-west-11';
  // eu answers its first region statuses late: us's status, naming eu-west-1, arrives before eu's own.
  eu1.regionDelayMs = 300;
  t.teardown(() => Promise.all([us1.app.close(), eu1.app.close()]));
  const gw = await gatewayFor(t, 'eu', { us: { lat: 39, lon: -77.5, role: 'primary', nodes: [us1.url] }, eu: { lat: 53.3, lon: -6.3, role: 'secondary', nodes: [eu1.url] } });
  const core = gw.app.gateway;
  await until('both regions answered', () => core.topology.regionViews().every((r) => r.row.source === 'region') && core.topology.regionViews().length >= 2);
  delete eu1.regionDelayMs;
  const polls = eu1.regionPolls;
  await until('more region polls', () => eu1.regionPolls >= polls + 3);
  t.same(core.topology.regionViews().map((r) => [r.name, r.reportedAs, r.learned]), [
    ['us', 'us-east-1', false],
    ['eu', 'eu-west-1', false],
  ]);
  t.equal(core.topology.primaryRegion, 'us', "the primary by the gateway's name");
  await until('the write leader', () => core.topology.availableLeader()?.url === us1.url);
  const write = await query(gw, { query: 'CREATE (:A)' });
  t.equal(write.body.meta?.node, 'us-east-11');
  const read = await query(gw, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'bounded', max_lag_ms: 100 });
  t.equal(read.body.meta?.node, 'eu-west-11', 'the home region, by its lag of 15 ms as its nodes report it');
  const status = await clusterStatusOf(gw);
  t.match(status.regions.find((r) => r.name === 'eu'), { reported_as: 'eu-west-1', lag_ms: 15 });
});

t.test('the first answer from a regional node splits the groups before any region status is answered', async (t) => {
  const world: World = { regions: [], frozen: undefined };
  const us = region('us', 'primary', { state: 'primary', term: 2, lagMs: 0, index: 10 });
  const eu = region('eu', 'secondary', { term: 6, lagMs: 5, index: 4 });
  world.regions.push(us, eu);
  const [us1, eu1] = [await fakeNode(world, us, 'us1'), await fakeNode(world, eu, 'eu1')];
  // Region statuses go unanswered for now (a probe still on its way): only the answer can tell.
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  for (const node of [us1, eu1]) node.regionHeld = held;
  t.teardown(() => {
    release();
    return Promise.all([us1.app.close(), eu1.app.close()]);
  });
  const gw = await gatewayFor(t, 'eu', { us: { lat: 39, lon: -77.5, role: 'primary', nodes: [us1.url] }, eu: { lat: 53.3, lon: -6.3, role: 'secondary', nodes: [eu1.url] } });
  const core = gw.app.gateway;
  // As one group, eu1's higher term makes it the leader: a gateway that never looked at regions would write there.
  await until('a leader of the one group', () => core.topology.availableLeader());
  t.equal(core.topology.regional, false);
  const read = await query(gw, { query: 'MATCH (n) RETURN count(n) AS c', consistency: 'any' });
  t.equal(read.status, 200);
  t.equal(core.topology.regional, true, 'the source position in its meta split the groups');
  release();
  const write = await query(gw, { query: 'CREATE (:E)' });
  t.equal(write.status, 200, JSON.stringify(write.body));
  t.equal(write.body.meta?.node, 'us1', 'the write reached the primary region');
});
