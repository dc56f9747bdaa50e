// Raft membership changes under a steady write stream, with real processes.
// Starting from node1..node3: node4 joins as a learner, catches up and is
// promoted; one original follower is removed; leadership moves to node4 (admin
// transfer); the old leader is removed too; node5 then joins the same way, so
// the cluster ends with three voters {node4, the remaining original, node5}.
// After each step every member's /api/v1/cluster/status must show the expected
// membership and roles, and writes must keep being acknowledged. At the end,
// every acknowledged write is on every remaining member exactly once, their
// checksums agree, and the removed nodes no longer count: with both of them
// and one remaining voter SIGKILLed, the last two voters still commit (were a
// removed node still a voter, 2 of 4 would not be a majority).
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchCluster } from '../../cli/launcher.js';
import type { LaunchedCluster, LaunchedNode } from '../../cli/launcher.js';
import { deleteJson, getJson, postJson, sleep } from '../helpers/http.js';
import type { JsonResponse } from '../helpers/http.js';

/** Concurrent writers of the stream. */
const WRITERS = 4;
/** Sanity floor: writes acknowledged during each step, so the test cannot pass with the stream stalled. */
const STEP_FLOOR = 15;
/** Bound for one step's floor, one convergence or one catch-up wait. */
const STEP_TIMEOUT_MS = 20_000;
/** How long one write is retried (same request_id) before it counts as not acknowledged. */
const WRITE_DEADLINE_MS = 15_000;

/** Thrown after a failed assertion that leaves nothing sensible to do next; the failure is already recorded. */
class StepFailed extends Error {}

interface NodeEntry {
  id: string;
  role: string;
  voter: boolean;
  status: string;
  applied_index: number | null;
  match_index: number | null;
}

interface Status {
  node: string;
  leader: string | null;
  leader_url: string | null;
  term: number;
  commit_index: number;
  applied_index: number;
  quorum_status: string;
  nodes: NodeEntry[];
}

async function statusOf(node: LaunchedNode): Promise<Status> {
  const res = await getJson(`${node.url}/api/v1/cluster/status`, {}, 2_000);
  if (res.status !== 200) throw new Error(`${node.name} status answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as unknown as Status;
}

/** A member view reduced to what the steps change: who leads, and each member's role. */
function membershipOf(status: Status): { leader: string | null; roles: Record<string, string> } {
  const roles: Record<string, string> = {};
  for (const n of [...status.nodes].sort((a, b) => a.id.localeCompare(b.id))) roles[n.id] = n.voter ? n.role : `${n.role} (non-voter)`;
  return { leader: status.leader, roles };
}

function expectedMembership(leader: string, voters: string[], learners: string[] = []): { leader: string; roles: Record<string, string> } {
  const roles: Record<string, string> = {};
  for (const name of [...voters, ...learners].sort()) roles[name] = learners.includes(name) ? 'learner (non-voter)' : name === leader ? 'primary' : 'standby';
  return { leader, roles };
}

/**
 * Writes unique keys from a few concurrent writers to whichever member
 * leads. Each write keeps its request_id across 421, 503, 408 and connection
 * errors until acknowledged or until its deadline; `acked` lists the keys
 * acknowledged, `attempted` every key sent at least once.
 */
class WriteStream {
  readonly acked: number[] = [];
  readonly attempted = new Set<number>();
  readonly unexpected: string[] = [];
  /** Writes that needed more than one attempt (a redirect, a refusal or a lost connection). */
  retried = 0;
  private next = 0;
  private draining = false;
  private aborted = false;
  private workers: Promise<void>[] = [];
  private leaderUrl: string | undefined;

  constructor(
    private readonly cluster: LaunchedCluster,
    /** The members a client would know: where to look for the leader. */
    private readonly members: () => LaunchedNode[],
    private readonly runId: string,
  ) {}

  start(writers: number): void {
    this.draining = false;
    this.aborted = false;
    this.workers = Array.from({ length: writers }, async () => {
      while (!this.draining && !this.aborted) {
        const key = this.next++;
        if (await this.write(key)) this.acked.push(key);
      }
    });
  }

  /** Starts no new write; the writes in flight finish (acknowledged or past their deadline). */
  async stop(): Promise<void> {
    this.draining = true;
    await Promise.all(this.workers);
  }

  /** Gives up at once, on a failing test. */
  async abort(): Promise<void> {
    this.aborted = true;
    await Promise.all(this.workers);
  }

  /** The member that says it leads, asking each known member once. */
  async findLeader(): Promise<LaunchedNode | undefined> {
    for (const node of this.members()) {
      if (!node.running) continue;
      try {
        const status = await statusOf(node);
        if (status.leader === status.node) return node;
      } catch {
        // not answering: try the next member
      }
    }
    return undefined;
  }

  /** A leader hint from a 421, if it names a running launched node. */
  private hint(body: Record<string, unknown>): string | undefined {
    const url = (body['error'] as { leader_url?: unknown } | undefined)?.leader_url;
    return typeof url === 'string' && this.cluster.nodes.some((n) => n.running && n.url === url) ? url : undefined;
  }

  private async write(key: number): Promise<boolean> {
    const requestId = `${this.runId}-${key}`;
    const deadline = Date.now() + WRITE_DEADLINE_MS;
    for (let attempt = 0; attempt < 500 && Date.now() < deadline && !this.aborted; attempt++) {
      if (attempt === 1) this.retried++;
      const url = this.leaderUrl ?? (this.leaderUrl = (await this.findLeader())?.url);
      if (url === undefined) {
        await sleep(50);
        continue;
      }
      let res: JsonResponse;
      try {
        this.attempted.add(key);
        res = await postJson(`${url}/v1/query`, { query: 'CREATE (:W {k: $k})', params: { k: key }, request_id: requestId, timeout_ms: 3_000 }, {}, 5_000);
      } catch {
        // Connection refused or reset (a killed node), or no answer in time.
        if (this.leaderUrl === url) this.leaderUrl = undefined;
        await sleep(25);
        continue;
      }
      if (res.status === 200) return true;
      if (res.status === 421) {
        const next = this.hint(res.body);
        if (this.leaderUrl === url) this.leaderUrl = next;
        if (next === undefined) await sleep(25);
        continue;
      }
      if (res.status === 503 || res.status === 408) {
        if (this.leaderUrl === url) this.leaderUrl = undefined;
        await sleep(25);
        continue;
      }
      this.unexpected.push(`key ${key} on ${url}: ${res.status} ${JSON.stringify(res.body)}`);
      return false;
    }
    return false;
  }
}

t.test('membership changes under a write stream: add, promote, remove, transfer, remove the old leader', async (t) => {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'geode-members-'));
  const cluster = await launchCluster({ nodes: 3, dataDir });
  const auth = { authorization: `Bearer ${cluster.adminToken}` };
  // The members a client knows; updated by each step.
  let members: LaunchedNode[] = [...cluster.nodes];
  const stream = new WriteStream(cluster, () => members, randomUUID().slice(0, 8));
  t.teardown(async () => {
    await stream.abort();
    // The data is thrown away: SIGKILL is enough, and spares a leader handover per node.
    await Promise.all(cluster.nodes.map((n) => n.kill('SIGKILL')));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs `action` as one step of the stream; asserts at least STEP_FLOOR writes were acknowledged from its start to its end. */
  const step = async (name: string, action: () => Promise<void>): Promise<void> => {
    const before = stream.acked.length;
    const stepStart = Date.now();
    await action();
    const floorBy = Date.now() + STEP_TIMEOUT_MS;
    while (stream.acked.length - before < STEP_FLOOR && Date.now() < floorBy) await sleep(50);
    const acked = stream.acked.length - before;
    t.ok(acked >= STEP_FLOOR, `${name}: ${acked} writes acknowledged during the step (floor ${STEP_FLOOR}; ${Date.now() - stepStart} ms)`);
    if (acked < STEP_FLOOR) throw new StepFailed(`the write stream stalled during "${name}"`);
  };

  /** Polls every node of `viewers` until each shows `want` (bounded), then asserts each view. */
  const expectMembership = async (what: string, viewers: LaunchedNode[], want: ReturnType<typeof expectedMembership>): Promise<void> => {
    const by = Date.now() + STEP_TIMEOUT_MS;
    let views: (Status | string)[] = [];
    for (;;) {
      views = await Promise.all(viewers.map((n) => statusOf(n).catch((err: unknown) => String(err))));
      const agree = views.every((v) => typeof v !== 'string' && JSON.stringify(membershipOf(v)) === JSON.stringify(want));
      if (agree || Date.now() > by) break;
      await sleep(100);
    }
    views.forEach((view, i) => {
      const name = viewers[i]?.name ?? '?';
      if (typeof view === 'string') t.fail(`${what}: ${name} answers its status (${view})`);
      else t.same(membershipOf(view), want, `${what}: as seen by ${name}`);
    });
  };

  /** Sends an admin request to the current leader, following 421 NOT_LEADER (bounded). */
  const admin = async (method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<JsonResponse> => {
    let url = (await stream.findLeader())?.url;
    for (let attempt = 0; attempt < 10; attempt++) {
      if (url === undefined) {
        await sleep(200);
        url = (await stream.findLeader())?.url;
        continue;
      }
      const res = method === 'POST' ? await postJson(`${url}${path}`, body ?? {}, auth, 15_000) : await deleteJson(`${url}${path}`, auth, 15_000);
      if (res.status !== 421) return res;
      const next = (res.body['error'] as { leader_url?: unknown } | undefined)?.leader_url;
      url = typeof next === 'string' ? next : undefined;
    }
    throw new Error(`${method} ${path}: no leader accepted it`);
  };

  /** Waits (bounded) until `node` has applied what the leader had committed when the wait began. */
  const waitCaughtUp = async (node: LaunchedNode, leader: LaunchedNode): Promise<void> => {
    const target = (await statusOf(leader)).commit_index;
    const by = Date.now() + STEP_TIMEOUT_MS;
    let applied = -1;
    let match: number | null = null;
    while (Date.now() < by) {
      applied = (await statusOf(node).catch(() => undefined))?.applied_index ?? -1;
      match = (await statusOf(leader).catch(() => undefined))?.nodes.find((n) => n.id === node.name)?.match_index ?? null;
      if (applied >= target) break;
      await sleep(100);
    }
    t.ok(applied >= target, `${node.name} caught up: applied ${applied} >= the leader's commit ${target} at the start of the wait (leader's match index for it: ${String(match)})`);
    if (applied < target) throw new StepFailed(`${node.name} did not catch up with the leader`);
  };

  const joinAsVoter = async (name: string, peers: string[]): Promise<LaunchedNode> => {
    const leader = await stream.findLeader();
    if (leader === undefined) throw new Error(`no leader among ${members.map((m) => m.name).join(', ')}`);
    const voters = members.map((m) => m.name);
    let joined: LaunchedNode | undefined;
    await step(`add ${name} as a learner`, async () => {
      joined = await cluster.addNode({ name, peers });
      const res = await admin('POST', '/api/v1/admin/members', { name, url: joined.url, role: 'learner' });
      t.equal(res.status, 200, `the leader adds ${name} as a learner (${res.status === 200 ? 'ok' : JSON.stringify(res.body)})`);
      members = [...members, joined];
      await expectMembership(`${name} is a learner`, members, expectedMembership(leader.name, voters, [name]));
    });
    const node = joined as LaunchedNode;
    await step(`${name} catches up`, () => waitCaughtUp(node, leader));
    await step(`promote ${name}`, async () => {
      const res = await admin('POST', `/api/v1/admin/members/${name}/promote`);
      t.equal(res.status, 200, `the leader promotes ${name} (${res.status === 200 ? 'ok' : JSON.stringify(res.body)})`);
      await expectMembership(`${name} is a voter`, members, expectedMembership(leader.name, [...voters, name]));
    });
    return node;
  };

  const remove = async (node: LaunchedNode, leader: LaunchedNode): Promise<void> => {
    const res = await admin('DELETE', `/api/v1/admin/members/${node.name}`);
    t.equal(res.status, 200, `the leader removes ${node.name} (${res.status === 200 ? 'ok' : JSON.stringify(res.body)})`);
    members = members.filter((m) => m !== node);
    await expectMembership(`${node.name} is gone`, members, expectedMembership(leader.name, members.map((m) => m.name)));
  };

  try {
    const first = await cluster.waitForLeader({ timeoutMs: 30_000 });
    const [removedFollower, keptFollower] = cluster.nodes.filter((n) => n !== first);
    if (removedFollower === undefined || keptFollower === undefined) throw new Error('expected two followers');
    await expectMembership('three voters at start', members, expectedMembership(first.name, ['node1', 'node2', 'node3']));
    t.comment(`leader ${first.name}; ${removedFollower.name} will be removed, ${keptFollower.name} stays (cluster up in ${Date.now() - started} ms)`);

    stream.start(WRITERS);
    await step('baseline', async () => undefined);

    const node4 = await joinAsVoter('node4', ['node1', 'node2', 'node3']);

    await step(`remove the follower ${removedFollower.name}`, () => remove(removedFollower, first));

    await step('transfer leadership to node4', async () => {
      let res = await admin('POST', '/api/v1/admin/transfer-leadership', { target: 'node4' });
      // 408: the target did not take over within the route's bound (a loaded machine); ask again, a bounded number of times.
      for (let again = 0; again < 3 && res.status === 408; again++) {
        t.comment(`transfer-leadership timed out (${JSON.stringify(res.body)}); asking again`);
        res = await admin('POST', '/api/v1/admin/transfer-leadership', { target: 'node4' });
      }
      t.equal(res.status, 200, `transfer-leadership answers 200 (${JSON.stringify(res.body)})`);
      t.equal(res.body['leader'], 'node4', 'and names node4 as the leader');
      await expectMembership('node4 leads', members, expectedMembership('node4', members.map((m) => m.name)));
    });

    await step(`remove the old leader ${first.name}`, () => remove(first, node4));
    t.same(members.map((m) => m.name).sort(), [keptFollower.name, 'node4'].sort(), 'two voters left');

    const node5 = await joinAsVoter('node5', [keptFollower.name, 'node4']);
    t.same(members.map((m) => m.name).sort(), [keptFollower.name, 'node4', 'node5'].sort(), 'three voters at the end');

    await stream.stop();
    t.same(stream.unexpected, [], 'no write got an answer other than 200, 421, 503 or 408');
    t.comment(`${stream.acked.length} writes acknowledged of ${stream.attempted.size} sent, ${stream.retried} of them retried (${Date.now() - started} ms so far)`);

    // Every acknowledged write on every remaining member, exactly once.
    const commit = (await statusOf(node4)).commit_index;
    for (const node of members) {
      const res = await postJson(`${node.url}/v1/query`, { query: 'MATCH (w:W) RETURN w.k AS k', consistency: 'any', after_index: commit, timeout_ms: 20_000 }, {}, 25_000);
      t.equal(res.status, 200, `${node.name} answers the read at index ${commit}`);
      const keys = ((res.body['rows'] ?? []) as { k: number }[]).map((r) => r.k);
      const present = new Set(keys);
      t.same(stream.acked.filter((k) => !present.has(k)), [], `${node.name} holds every acknowledged write (${stream.acked.length})`);
      t.equal(keys.length, present.size, `${node.name} applied each write once (${keys.length} rows)`);
      t.same(keys.filter((k) => !stream.attempted.has(k)), [], `${node.name} holds no write that was never sent`);
    }
    // verify-data: once the remaining members report one applied index, their checksums agree.
    const by = Date.now() + STEP_TIMEOUT_MS;
    let sums: Record<string, unknown>[] = [];
    while (Date.now() < by) {
      sums = await Promise.all(members.map(async (n) => (await getJson(`${n.url}/api/v1/admin/checksum`, auth)).body));
      if (new Set(sums.map((s) => s['applied_index'])).size === 1) break;
      await sleep(200);
    }
    t.equal(new Set(sums.map((s) => s['applied_index'])).size, 1, `the remaining members reach one applied index (${JSON.stringify(sums)})`);
    t.equal(new Set(sums.map((s) => s['checksum'])).size, 1, 'verify-data: their checksums agree');

    // The removed nodes no longer count: SIGKILL both, and one remaining voter; node4 and node5 are 2 of 3 voters.
    await Promise.all([first, removedFollower, keptFollower].map((n) => n.kill('SIGKILL')));
    members = [node4, node5];
    // The leader's view: 2 of 3 voters healthy, and no trace of the removed nodes.
    const downBy = Date.now() + STEP_TIMEOUT_MS;
    let view = await statusOf(node4);
    while (view.quorum_status !== 'degraded' && Date.now() < downBy) {
      await sleep(100);
      view = await statusOf(node4);
    }
    t.equal(view.quorum_status, 'degraded', `node4 sees ${keptFollower.name} down and the quorum degraded, not lost`);
    t.same(
      view.nodes.map((n) => `${n.id}:${n.voter ? 'voter' : 'learner'}:${n.status}`).sort(),
      [`${keptFollower.name}:voter:unreachable`, 'node4:voter:healthy', 'node5:voter:healthy'].sort(),
      'the removed nodes are not members',
    );
    const ackedBefore = stream.acked.length;
    stream.start(2);
    await step(`commit with ${first.name}, ${removedFollower.name} and ${keptFollower.name} killed`, async () => undefined);
    await stream.stop();
    const late = stream.acked.slice(ackedBefore);
    const after = await statusOf(node4);
    t.equal(after.leader, 'node4', 'node4 still leads');
    const lateCommit = after.commit_index;
    for (const node of members) {
      const res = await postJson(`${node.url}/v1/query`, { query: 'MATCH (w:W) WHERE w.k IN $late RETURN count(w) AS c', params: { late }, after_index: lateCommit, timeout_ms: 20_000 }, {}, 25_000);
      t.same(res.body['rows'], [{ c: late.length }], `${node.name} holds the ${late.length} writes acknowledged after the kill`);
    }
    t.comment(`done in ${Date.now() - started} ms`);
  } catch (error) {
    await stream.abort();
    for (const node of cluster.nodes) t.comment(`--- ${node.name} output tail ---\n${node.output().slice(-3000)}`);
    if (!(error instanceof StepFailed)) throw error;
  }
});
