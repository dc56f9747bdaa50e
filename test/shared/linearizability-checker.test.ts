// The linearizability checker of test/helpers/ (used by the replication tests)
// accepts linearizable register histories and rejects the classic violations:
// a checker that cannot fail would let every history through.
import t from 'tap';
import { checkRegisterHistory } from '../helpers/linearizability.js';
import type { RegisterOperation, RegisterValue } from '../helpers/linearizability.js';

const U = Infinity;
const write = (value: RegisterValue, call: number, ret: number, key = 'x'): RegisterOperation => ({ key, kind: 'write', value, call, ret });
const read = (value: RegisterValue, call: number, ret: number, key = 'x'): RegisterOperation => ({ key, kind: 'read', value, call, ret });

t.test('sequential and trivially linearizable histories are accepted', async (t) => {
  t.ok(checkRegisterHistory([]).ok, 'empty history');
  t.ok(checkRegisterHistory([read(null, 0, 1)]).ok, 'a read of an absent key sees null');
  t.ok(checkRegisterHistory([write(1, 0, 1), read(1, 2, 3), write(2, 4, 5), read(2, 6, 7)]).ok, 'read after write, twice');
  t.ok(checkRegisterHistory([write(1, 0, 1), read(1, 1, 2)]).ok, 'touching intervals count as concurrent-or-after');
});

t.test('a stale read after a completed write is rejected, with the read named', async (t) => {
  const result = checkRegisterHistory([write(1, 0, 1), write(2, 2, 3), read(1, 4, 5)]);
  t.notOk(result.ok);
  t.not(result.inconclusive, true, 'a refutation, not a give-up');
  t.equal(result.key, 'x');
  t.match(result.explanation, /read\(x\) -> 1 \[4\.0 \.\. 5\.0\]/, 'names the stale read');
  t.match(result.explanation, /register held 2/, 'says what it should have seen');
  t.match(result.explanation, /Writes of 1: write\(x, 1\) \[0\.0 \.\. 1\.0\]/, 'names the write it saw');

  t.notOk(checkRegisterHistory([write(1, 0, 1), read(null, 2, 3)]).ok, 'null after a completed write');
  t.notOk(checkRegisterHistory([write(1, 0, 1), read(1, 2, 3), read(null, 4, 5)]).ok, 'a value that disappears again');
});

t.test('a read of a value never written is rejected', async (t) => {
  const result = checkRegisterHistory([write(1, 0, 1), read(7, 2, 3)]);
  t.notOk(result.ok);
  t.equal(result.key, 'x');
  t.match(result.explanation, /read\(x\) -> 7 .* no operation wrote/);
});

t.test('two clients observing concurrent writes in opposite orders are rejected', async (t) => {
  const writes = [write(1, 0, 100), write(2, 0, 100)];
  const sameOrder = [read(1, 10, 11), read(2, 20, 21), read(1, 10, 11), read(2, 20, 21)];
  t.ok(checkRegisterHistory([...writes, ...sameOrder]).ok, 'both see 1 then 2');
  const opposite = [read(1, 10, 11), read(2, 20, 21), read(2, 10, 11), read(1, 20, 21)];
  t.notOk(checkRegisterHistory([...writes, ...opposite]).ok, 'one sees 1 then 2, the other 2 then 1');
  const flipFlop = [read(1, 10, 11), read(2, 20, 21), read(1, 30, 31)];
  t.notOk(checkRegisterHistory([...writes, ...flipFlop]).ok, 'one client sees 1, 2, 1 with each value written once');
});

t.test('a write with an unknown outcome may take effect at any time after its call, or never', async (t) => {
  t.ok(checkRegisterHistory([write(1, 0, 1), write(2, 2, U), read(2, 50, 51)]).ok, 'it appears long after its call');
  t.ok(checkRegisterHistory([write(1, 0, 1), write(2, 2, U), read(1, 50, 51), read(2, 60, 61)]).ok, 'it appears late, after a read missed it');
  t.ok(checkRegisterHistory([write(1, 0, 1), write(2, 2, U), read(1, 50, 51), read(1, 90, 91)]).ok, 'it never appears');
  t.ok(checkRegisterHistory([write(2, 2, U), read(null, 50, 51)]).ok, 'it never appears, on an absent key');
  t.notOk(checkRegisterHistory([read(2, 0, 1), write(2, 2, U)]).ok, 'it cannot be seen before its call');
  t.notOk(checkRegisterHistory([write(1, 0, 1), write(2, 2, U), read(2, 50, 51), read(1, 60, 61)]).ok, 'once seen, it cannot be undone by an older write');
  t.ok(checkRegisterHistory([write(1, 0, 1), write(2, 2, U), read(2, 50, 51), write(3, 55, 56), read(3, 60, 61)]).ok, 'a later write replaces it');
  t.ok(checkRegisterHistory([write(1, 0, 1), read(9, 2, U)]).ok, 'a read with an unknown outcome says nothing');
});

t.test('concurrent overlapping operations may take effect in any order within their intervals', async (t) => {
  t.ok(checkRegisterHistory([write(1, 0, 10), read(1, 1, 2)]).ok, 'a read sees a write still in flight');
  t.ok(checkRegisterHistory([write(1, 0, 10), read(null, 1, 2), read(1, 3, 4)]).ok, 'not yet, then visible');
  t.notOk(checkRegisterHistory([write(1, 0, 10), read(1, 1, 2), read(null, 3, 4)]).ok, 'visible, then gone again');
  t.ok(checkRegisterHistory([write(1, 0, 10), write(2, 0, 10), read(2, 11, 12)]).ok, 'either of two overlapping writes can win (2)');
  t.ok(checkRegisterHistory([write(1, 0, 10), write(2, 0, 10), read(1, 11, 12)]).ok, 'either of two overlapping writes can win (1)');
  t.notOk(checkRegisterHistory([write(1, 0, 10), write(2, 0, 10), read(1, 11, 12), read(2, 13, 14)]).ok, 'but the loser never shows up afterwards');
  t.ok(
    checkRegisterHistory([write(1, 0, 10), write(2, 1, 3), read(2, 4, 5), read(1, 6, 7), read(1, 11, 12)]).ok,
    'a long write can land after a short one it overlaps',
  );
});

t.test('keys are checked independently and the failing key is reported', async (t) => {
  const history = [write(1, 0, 1, 'a'), read(1, 2, 3, 'a'), write(1, 0, 1, 'b'), write(2, 2, 3, 'b'), read(1, 4, 5, 'b'), read(null, 4, 5, 'c')];
  const result = checkRegisterHistory(history);
  t.notOk(result.ok);
  t.equal(result.key, 'b');
  t.ok(checkRegisterHistory(history.filter((op) => op.key !== 'b')).ok, 'the other keys are fine');
  t.ok(checkRegisterHistory([write(1, 0, 1, 'a'), read(null, 2, 3, 'b')]).ok, 'a write on one key is invisible on another');
});

t.test('the search gives up as inconclusive past its step budget', async (t) => {
  const history = generate(7, { clients: 8, opsPerClient: 50, unknownWrites: 0.05 });
  const result = checkRegisterHistory(history, { stepBudget: 20 });
  t.notOk(result.ok);
  t.equal(result.inconclusive, true);
  t.equal(result.key, 'x');
  t.ok(checkRegisterHistory(history).ok, 'with the default budget it is decided');
});

t.test('malformed operations are refused', async (t) => {
  t.throws(() => checkRegisterHistory([write(1, 5, 4)]), /malformed/);
  t.throws(() => checkRegisterHistory([write(1, Number.NaN, 4)]), /malformed/);
});

t.test('thousands of concurrent operations per key are decided quickly, and one stale read among them is found', async (t) => {
  for (const seed of [1, 2, 3]) {
    const history = generate(seed, { clients: 8, opsPerClient: 400, unknownWrites: 0.03 });
    const started = performance.now();
    const good = checkRegisterHistory(history);
    const ms = performance.now() - started;
    t.ok(good.ok, `seed ${seed}: ${history.length} ops linearizable (${good.steps} steps, ${ms.toFixed(0)} ms)`);
    t.ok(ms < 10_000, `seed ${seed}: decided in ${ms.toFixed(0)} ms`);
    const bad = injectStaleRead(history);
    const refuted = checkRegisterHistory(bad);
    t.notOk(refuted.ok, `seed ${seed}: a stale read is found`);
    t.not(refuted.inconclusive, true, `seed ${seed}: refuted, not given up`);
  }
});

t.test('on small random histories the checker agrees with a brute-force search over every order', async (t) => {
  const random = prng(42);
  let linearizable = 0;
  let refuted = 0;
  for (let round = 0; round < 3000; round++) {
    const history: RegisterOperation[] = [];
    const size = 2 + Math.floor(random() * 6);
    let nextValue = 1;
    for (let i = 0; i < size; i++) {
      const call = Math.floor(random() * 20);
      const ret = random() < 0.15 ? U : call + Math.floor(random() * 8);
      if (random() < 0.5) history.push(write(nextValue++, call, ret));
      else history.push(read(random() < 0.2 ? null : 1 + Math.floor(random() * 3), call, ret));
    }
    const expected = bruteForce(history);
    const result = checkRegisterHistory(history);
    if (result.ok !== expected) {
      t.fail(`round ${round}: checker says ${String(result.ok)}, brute force ${String(expected)}: ${JSON.stringify(history)}`);
      return;
    }
    if (expected) linearizable++;
    else refuted++;
  }
  t.ok(linearizable > 300 && refuted > 300, `both verdicts are exercised (${linearizable} linearizable, ${refuted} not)`);
});

/** Every order that respects real time; unknown writes may be left out, unknown reads say nothing. */
function bruteForce(history: readonly RegisterOperation[]): boolean {
  const ops = history.filter((op) => op.kind === 'write' || op.ret !== U);
  const placed = new Array<boolean>(ops.length).fill(false);
  const search = (state: RegisterValue): boolean => {
    if (ops.every((op, i) => placed[i] === true || op.ret === U)) return true;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op === undefined || placed[i] === true) continue;
      // Not allowed next if some other unplaced operation returned before this one was called.
      if (ops.some((other, j) => j !== i && placed[j] !== true && other.ret < op.call)) continue;
      if (op.kind === 'read' && op.value !== state) continue;
      placed[i] = true;
      const found = search(op.kind === 'write' ? op.value : state);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(null);
}

// ---- generated histories ---------------------------------------------------------

/** mulberry32: a seeded PRNG, so a failing seed replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A linearizable history of one register: each client runs its operations one
 * after another; each takes effect at a random point inside its interval (the
 * register's true order), and some writes lose their answer (ret = Infinity).
 */
function generate(seed: number, shape: { clients: number; opsPerClient: number; unknownWrites: number }): RegisterOperation[] {
  const random = prng(seed);
  const planned: { op: RegisterOperation; at: number; lost: boolean }[] = [];
  let nextValue = 1;
  for (let client = 0; client < shape.clients; client++) {
    let now = random() * 5;
    for (let i = 0; i < shape.opsPerClient; i++) {
      const call = now;
      const ret = call + 0.5 + random() * 10;
      const isWrite = random() < 0.5;
      const lost = isWrite && random() < shape.unknownWrites;
      const op: RegisterOperation = isWrite ? write(nextValue++, call, ret) : read(null, call, ret);
      op.label = `client ${client}`;
      // A lost write may also never take effect at all.
      planned.push({ op, at: lost && random() < 0.5 ? Infinity : call + random() * (ret - call), lost });
      now = ret + random() * 2;
    }
  }
  let register: RegisterValue = null;
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    if (p.at === Infinity) break;
    if (p.op.kind === 'write') register = p.op.value;
    else p.op.value = register;
  }
  for (const p of planned) if (p.lost) p.op.ret = Infinity;
  return planned.map((p) => p.op);
}

/**
 * Rewrites one read in the middle to see the value of a write that was
 * overwritten, in real time, before the read began: w_old returned before
 * w_new was called, and w_new returned before the read was called.
 */
function injectStaleRead(history: RegisterOperation[]): RegisterOperation[] {
  const copy = history.map((op) => ({ ...op }));
  const writes = copy.filter((op) => op.kind === 'write' && op.ret !== Infinity);
  const reads = copy.filter((op) => op.kind === 'read' && op.ret !== Infinity).sort((a, b) => a.call - b.call);
  for (const target of reads.slice(Math.floor(reads.length / 2))) {
    const newer = writes.find((w) => w.ret < target.call && writes.some((old) => old.ret < w.call));
    const older = newer === undefined ? undefined : writes.find((old) => old.ret < newer.call);
    if (older !== undefined) {
      target.value = older.value;
      return copy;
    }
  }
  throw new Error('no place for a stale read');
}
