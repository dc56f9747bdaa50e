/**
 * One test per safety property of the Raft paper (Figure 3), each driven
 * through the pure core over the in-memory test network under random
 * partitions, restarts and proposals.
 */
import t from 'tap';
import type { Entry, NodeId } from '../../../storage-node/raft/index.js';
import { Prng } from '../../../storage-node/raft/index.js';
import { TestNetwork } from '../../sim/network.js';

const IDS: NodeId[] = [1, 2, 3, 4, 5];

/** Runs a random schedule and calls `check` after every round. */
function chaos(seed: number, check: (net: TestNetwork, round: number) => void, rounds = 250): void {
  const rng = new Prng(seed);
  const net = new TestNetwork(IDS, { preVote: rng.chance(0.5), checkQuorum: rng.chance(0.5) }, seed);
  let write = 0;
  for (let round = 0; round < rounds; round++) {
    const r = rng.int(20);
    if (r === 0) net.heal();
    else if (r === 1) net.isolate(IDS[rng.int(IDS.length)] as NodeId);
    else if (r === 2) net.cut(IDS[rng.int(5)] as NodeId, IDS[rng.int(5)] as NodeId);
    else if (r === 3) net.restart(IDS[rng.int(IDS.length)] as NodeId);
    else if (r < 10) {
      // Propose at whichever node thinks it leads, stale or not.
      const leaders = IDS.filter((id) => net.raft(id).role === 'leader');
      const at = leaders[rng.int(leaders.length)];
      if (at !== undefined) net.host(at).raw.propose(new TextEncoder().encode(`w${write++}`));
    }
    net.tick(1);
    check(net, round);
  }
}

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

const sameEntry = (a: Entry, b: Entry): boolean =>
  a.index === b.index && a.term === b.term && a.type === b.type && Buffer.from(a.data).equals(Buffer.from(b.data));

t.test('Election Safety: at most one leader is elected in a given term', async (t) => {
  let leaders = 0;
  for (const seed of SEEDS) {
    const leaderOf = new Map<number, NodeId>();
    chaos(seed, (net) => {
      for (const id of IDS) {
        const r = net.raft(id);
        if (r.role !== 'leader') continue;
        const known = leaderOf.get(r.term);
        if (known === undefined) {
          leaderOf.set(r.term, id);
          leaders++;
        } else if (known !== id) t.fail(`seed ${seed}: ${known} and ${id} both lead term ${r.term}`);
      }
    });
  }
  t.ok(leaders > SEEDS.length * 2, `several elections happened (${leaders})`);
});

t.test('Leader Append-Only: a leader never overwrites or deletes entries in its log', async (t) => {
  let checked = 0;
  for (const seed of SEEDS) {
    const seen = new Map<NodeId, { term: number; log: Entry[] }>();
    chaos(seed, (net) => {
      for (const id of IDS) {
        const r = net.raft(id);
        if (r.role !== 'leader') {
          seen.delete(id);
          continue;
        }
        const log = net.logOf(id);
        const before = seen.get(id);
        if (before !== undefined && before.term === r.term) {
          checked++;
          const first = log[0]?.index ?? Infinity;
          for (const e of before.log) {
            if (e.index < first) continue;
            const now = log[e.index - first];
            if (now === undefined || !sameEntry(now, e)) t.fail(`seed ${seed}: leader ${id} changed entry ${e.index}`);
          }
        }
        seen.set(id, { term: r.term, log });
      }
    });
  }
  t.ok(checked > 100, `leader logs compared across rounds (${checked})`);
});

t.test('Log Matching: same index and term means identical logs up to that index', async (t) => {
  let compared = 0;
  for (const seed of SEEDS) {
    chaos(seed, (net, round) => {
      if (round % 10 !== 9) return;
      const logs = IDS.map((id) => net.logOf(id));
      for (let a = 0; a < logs.length; a++) {
        for (let b = a + 1; b < logs.length; b++) {
          const la = logs[a] as Entry[];
          const lb = logs[b] as Entry[];
          const byIndex = new Map(lb.map((e) => [e.index, e]));
          // Find the highest common index with equal terms, then compare everything both hold below it.
          let top = 0;
          for (const e of la) if (byIndex.get(e.index)?.term === e.term) top = Math.max(top, e.index);
          for (const e of la) {
            if (e.index > top) continue;
            const other = byIndex.get(e.index);
            if (other === undefined) continue;
            compared++;
            if (!sameEntry(e, other)) t.fail(`seed ${seed}: ${IDS[a]} and ${IDS[b]} differ at ${e.index} below matching ${top}`);
          }
        }
      }
    });
  }
  t.ok(compared > 1000, `entries compared (${compared})`);
});

t.test('Leader Completeness: a committed entry is in the log of every later leader', async (t) => {
  let checks = 0;
  for (const seed of SEEDS) {
    const committed = new Map<number, Entry>();
    const leaderTerms = new Set<string>();
    chaos(seed, (net) => {
      for (const id of IDS) {
        const r = net.raft(id);
        if (r.role === 'leader' && !leaderTerms.has(`${id}:${r.term}`)) {
          leaderTerms.add(`${id}:${r.term}`);
          for (const [index, e] of committed) {
            if (index < r.log.firstIndex()) continue;
            checks++;
            if (r.log.term(index) !== e.term) t.fail(`seed ${seed}: leader ${id} of term ${r.term} lacks committed ${index}`);
          }
        }
      }
      for (const id of IDS) for (const e of net.host(id).applied) committed.set(e.index, e);
    });
  }
  t.ok(checks > 100, `committed entries checked in new leaders (${checks})`);
});

t.test('State Machine Safety: no two servers apply different entries at the same index', async (t) => {
  let applied = 0;
  for (const seed of SEEDS) {
    const canon = new Map<number, Entry>();
    chaos(seed, (net) => {
      for (const id of IDS) {
        for (const e of net.host(id).applied) {
          const known = canon.get(e.index);
          if (known === undefined) canon.set(e.index, e);
          else if (!sameEntry(known, e)) t.fail(`seed ${seed}: ${id} applied a different entry at ${e.index}`);
        }
      }
    });
    applied += canon.size;
  }
  t.ok(applied > 200, `entries applied (${applied})`);
});

t.test('commit rule: a leader does not commit an earlier term entry by counting replicas (Figure 8)', async (t) => {
  const net = new TestNetwork(IDS, { maxEntriesPerMsg: 1 });
  net.campaign(1);
  t.equal(net.raft(1).role, 'leader');
  t.equal(net.raft(1).term, 2);
  const base = net.raft(1).log.lastIndex();
  t.equal(net.raft(1).log.committed, base, 'noop committed');

  // (a) S1 replicates an entry of term 2 to S2 only.
  net.isolate(1);
  net.uncut(1, 2);
  net.propose(1, 'x');
  const x = base + 1;
  t.equal(net.raft(2).log.term(x), 2);
  // (b) S1 is gone; S5 wins term 3 with S3 and S4 but its own entry never leaves it.
  net.heal();
  net.isolate(1);
  net.isolate(2);
  net.dropIf = (m) => m.from === 5 && m.type === 'app';
  net.campaign(5);
  t.equal(net.raft(5).role, 'leader');
  t.equal(net.raft(5).term, 3);
  t.equal(net.raft(5).log.term(x), 3, 'S5 holds a term-3 entry at x');
  // (c) S5 is gone; S1 restarts and wins term 4 and copies x (term 2) to S3, but its own term-4 entries are held back.
  net.heal();
  net.isolate(5);
  net.restart(1);
  net.dropIf = (m) => {
    // Appends arrive, but without their term-4 entries.
    if (m.type === 'app') m.entries = m.entries.filter((e) => e.term !== 4);
    return false;
  };
  for (let i = 0; i < 3 && net.raft(1).role !== 'leader'; i++) net.campaign(1);
  t.equal(net.raft(1).role, 'leader');
  t.equal(net.raft(1).term, 4);
  net.tick(3);
  const stored = IDS.filter((id) => net.raft(id).log.term(x) === 2);
  t.ok(stored.length >= 3, `x (term 2) is on a majority: ${stored.join(',')}`);
  t.ok(net.raft(1).log.committed < x, 'but it is not committed by counting');
  // Once an entry of term 4 reaches a majority, both commit.
  net.dropIf = undefined;
  net.tick(3);
  t.ok(net.raft(1).log.committed > x, 'committed together with the current-term entry');
});
