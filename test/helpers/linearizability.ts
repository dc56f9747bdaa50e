/**
 * Linearizability checker for histories of a per-key read/write register, in
 * the style of Wing & Gong (1993) with Lowe's memoisation (2017), the
 * algorithm Porcupine implements. Written for process-level tests: clients
 * record every operation with its call and return time, and the checker
 * decides whether some total order of the operations (a) respects real time,
 * an operation that returned before another was called comes first, and (b)
 * is a legal sequential history of a register: a read returns the value of
 * the latest write before it, or `null` when there is none.
 *
 * Partitioning. Operations on different keys never constrain each other in a
 * register model, so the history is split by key and each key is checked
 * alone (Porcupine's partitioning): the search is exponential in the
 * concurrency of one key, not in the length of the whole history.
 *
 * The search. The call and return events of one key's operations are sorted
 * by time (at equal times a call sorts before a return, so touching
 * operations count as concurrent: the permissive choice) and threaded on a
 * doubly linked list. Walking the list from its head, each call event is an
 * operation that could take effect now; applying it to the model either fails
 * (a read that does not match the register) or yields a new state, in which
 * case the operation is "lifted" out of the list (its call and return events
 * unlinked, dancing-links style), pushed on a stack with the state before it,
 * and the walk restarts from the head. Reaching a return event means that
 * operation returned while still not linearized, so the choices made so far
 * are wrong: pop the last operation, relink its events, restore the state,
 * and try the next call event after it. The history is linearizable when
 * every operation has been lifted, and not when the stack is empty at a
 * return event.
 *
 * Memoisation. Two search paths that have linearized the same set of
 * operations and reached the same register state have the same future, so a
 * (linearized-set bitset, state) pair is explored at most once: before
 * lifting an operation the checker looks the resulting pair up in a cache and
 * moves on if it has been seen. This turns the search from factorial into
 * something near linear for histories with bounded concurrency. Operations are
 * numbered in call order so the set is "all ones, a short ragged window, all
 * zeros"; the cache keeps only the window, hashed incrementally (Zobrist).
 *
 * Unknown outcomes. An operation whose answer never came (timeout,
 * connection reset, retries exhausted) has return time `Infinity`: it may have
 * taken effect at any moment after its call, or never. It gets no return
 * event, so the search never has to linearize it; it succeeds as soon as
 * every operation with a known return is linearized (the remaining writes can
 * be placed after everything else, where nobody observes them, which is the
 * same as never). Reads with an unknown outcome carry no information and are
 * dropped, as are unknown writes whose value no read observed (they can
 * always be placed last). Unknown writes that some read did observe stay in
 * the search, free to take effect anywhere after their call.
 *
 * Bounds. Each key's search counts its steps and gives up past `stepBudget`,
 * answering `{ok: false, inconclusive: true}` instead of hanging.
 */

export type RegisterValue = string | number | null;

export interface RegisterOperation {
  key: string;
  kind: 'write' | 'read';
  /** write: the value written; read: the value observed (`null`: the key was absent). */
  value: RegisterValue;
  /** Monotonic ms (performance.now()) when the client sent the request. */
  call: number;
  /** Monotonic ms when the answer arrived; `Infinity` when the outcome is unknown. */
  ret: number;
  /** Free text shown in counter-examples: client, node, term, request id. */
  label?: string;
}

export interface CheckOptions {
  /** Search steps per key before the answer is inconclusive. Default 2,000,000. */
  stepBudget?: number;
  /** The register's value before any write. Default `null`. */
  initial?: RegisterValue;
}

export interface CheckResult {
  ok: boolean;
  /** The search ran out of its step budget: neither proven nor refuted. */
  inconclusive?: boolean;
  /** The key whose history is not linearizable (or whose search was inconclusive). */
  key?: string;
  /** A readable counter-example: the longest linearizable prefix and the operation that cannot follow it. */
  explanation?: string;
  /** Search steps taken over all keys. */
  steps: number;
}

const DEFAULT_STEP_BUDGET = 2_000_000;

/** Checks the whole history, one key at a time; the first non-linearizable key is reported. */
export function checkRegisterHistory(history: readonly RegisterOperation[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, RegisterOperation[]>();
  for (const op of history) {
    if (!Number.isFinite(op.call) || !(op.ret >= op.call)) {
      throw new Error(`malformed operation ${describe(op)}: call must be finite and return (or Infinity) not before it`);
    }
    const ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, [op]);
    else ops.push(op);
  }
  let steps = 0;
  let inconclusive: CheckResult | undefined;
  for (const key of [...byKey.keys()].sort()) {
    const result = checkKey(key, byKey.get(key) ?? [], options);
    steps += result.steps;
    if (result.inconclusive === true) inconclusive ??= result;
    else if (!result.ok) return { ...result, steps };
  }
  return inconclusive === undefined ? { ok: true, steps } : { ...inconclusive, steps };
}

function checkKey(key: string, all: readonly RegisterOperation[], options: CheckOptions): CheckResult {
  const initial = options.initial ?? null;
  const budget = options.stepBudget ?? DEFAULT_STEP_BUDGET;
  const observed = new Set<RegisterValue>();
  for (const op of all) if (op.kind === 'read' && op.ret !== Infinity) observed.add(op.value);
  const written = new Set<RegisterValue>([initial]);
  for (const op of all) if (op.kind === 'write') written.add(op.value);
  for (const op of all) {
    if (op.kind === 'read' && op.ret !== Infinity && !written.has(op.value)) {
      return { ok: false, key, steps: 0, explanation: `key ${key}: ${describe(op)} observed a value that no operation wrote` };
    }
  }
  const ops = all
    .filter((op) => op.ret !== Infinity || (op.kind === 'write' && observed.has(op.value)))
    .sort((a, b) => a.call - b.call);
  return new Search(key, ops, initial, budget).run();
}

/** One key's Wing-Gong search; the fields are the linked list, the stack and the cache. */
class Search {
  private readonly n: number;
  /** Event e: call of op e >> 1 when even, its return when odd. Index 2n is the list's head sentinel. */
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly head: number;
  private readonly bits: Uint32Array;
  private readonly zobrist: Uint32Array;
  private readonly cache = new Map<number, CachedConfiguration[]>();
  private hash = 0;
  private steps = 0;
  private deepest: { depth: number; blocked: number; state: RegisterValue; linearized: number[] } | undefined;

  constructor(
    private readonly key: string,
    private readonly ops: readonly RegisterOperation[],
    private readonly initial: RegisterValue,
    private readonly budget: number,
  ) {
    this.n = ops.length;
    this.head = 2 * this.n;
    this.next = new Int32Array(2 * this.n + 1).fill(-1);
    this.prev = new Int32Array(2 * this.n + 1).fill(-1);
    this.bits = new Uint32Array(Math.ceil(this.n / 32));
    this.zobrist = new Uint32Array(this.n);
    let seed = 0x9e3779b9;
    for (let i = 0; i < this.n; i++) {
      // xorshift32: deterministic, so a failing run replays identically.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      this.zobrist[i] = seed >>> 0;
    }
    const events: number[] = [];
    for (let i = 0; i < this.n; i++) {
      events.push(2 * i);
      if (this.isKnown(i)) events.push(2 * i + 1);
    }
    events.sort((a, b) => this.timeOf(a) - this.timeOf(b) || (a & 1) - (b & 1) || a - b);
    let last = this.head;
    for (const event of events) {
      this.next[last] = event;
      this.prev[event] = last;
      last = event;
    }
  }

  run(): CheckResult {
    const stack: { op: number; state: RegisterValue }[] = [];
    let state = this.initial;
    let pendingKnown = 0;
    for (let i = 0; i < this.n; i++) if (this.isKnown(i)) pendingKnown++;
    let event = this.next[this.head] ?? -1;
    while (pendingKnown > 0) {
      if (++this.steps > this.budget) {
        return {
          ok: false,
          inconclusive: true,
          key: this.key,
          steps: this.steps,
          explanation: `key ${this.key}: search gave up after ${this.budget} steps (${this.n} operations)`,
        };
      }
      if (event < 0) throw new Error('linearizability search ran off its event list'); // unreachable: a known op's return is still linked
      if ((event & 1) === 0) {
        const op = event >> 1;
        const after = this.apply(state, op);
        if (after !== undefined && this.remember(op, after)) {
          stack.push({ op, state });
          state = after;
          this.lift(op);
          if (this.isKnown(op)) pendingKnown--;
          event = this.next[this.head] ?? -1;
          continue;
        }
        event = this.next[event] ?? -1;
        continue;
      }
      // A return before its operation was linearized: the last choice was wrong.
      this.noteDeadEnd(stack, event >> 1, state);
      const top = stack.pop();
      if (top === undefined) return { ok: false, key: this.key, steps: this.steps, explanation: this.explain() };
      this.toggle(top.op);
      this.unlift(top.op);
      if (this.isKnown(top.op)) pendingKnown++;
      state = top.state;
      event = this.next[2 * top.op] ?? -1;
    }
    return { ok: true, steps: this.steps };
  }

  private isKnown(op: number): boolean {
    return (this.ops[op]?.ret ?? Infinity) !== Infinity;
  }

  private timeOf(event: number): number {
    const op = this.ops[event >> 1];
    if (op === undefined) return Infinity;
    return (event & 1) === 0 ? op.call : op.ret;
  }

  /** The register model: a write always succeeds; a read only when it saw the current value. */
  private apply(state: RegisterValue, index: number): RegisterValue | undefined {
    const op = this.ops[index];
    if (op === undefined) return undefined;
    if (op.kind === 'write') return op.value;
    return op.value === state ? state : undefined;
  }

  private toggle(op: number): void {
    this.bits[op >> 5] = (this.bits[op >> 5] ?? 0) ^ (1 << (op & 31));
    this.hash = (this.hash ^ (this.zobrist[op] ?? 0)) >>> 0;
  }

  /** Marks `op` linearized with the model in `state`; false (and unmarked) when that configuration was explored before. */
  private remember(op: number, state: RegisterValue): boolean {
    this.toggle(op);
    const words = this.bits;
    let lo = 0;
    while (lo < words.length && words[lo] === 0xffffffff) lo++;
    let hi = words.length;
    while (hi > lo && words[hi - 1] === 0) hi--;
    const key = (this.hash ^ hashValue(state)) >>> 0;
    const bucket = this.cache.get(key);
    if (bucket !== undefined) {
      for (const seen of bucket) {
        if (seen.state === state && seen.lo === lo && sameWords(seen.window, words, lo, hi)) {
          this.toggle(op);
          return false;
        }
      }
    }
    const entry = { lo, window: words.slice(lo, hi), state };
    if (bucket === undefined) this.cache.set(key, [entry]);
    else bucket.push(entry);
    return true;
  }

  private lift(op: number): void {
    this.unlink(2 * op);
    if (this.isKnown(op)) this.unlink(2 * op + 1);
  }

  /** Relinks in the reverse order of `lift`, which the stack discipline guarantees is still valid. */
  private unlift(op: number): void {
    if (this.isKnown(op)) this.relink(2 * op + 1);
    this.relink(2 * op);
  }

  private unlink(event: number): void {
    const before = this.prev[event] ?? -1;
    const after = this.next[event] ?? -1;
    this.next[before] = after;
    if (after >= 0) this.prev[after] = before;
  }

  private relink(event: number): void {
    const before = this.prev[event] ?? -1;
    const after = this.next[event] ?? -1;
    this.next[before] = event;
    if (after >= 0) this.prev[after] = event;
  }

  private noteDeadEnd(stack: readonly { op: number }[], blocked: number, state: RegisterValue): void {
    if (this.deepest !== undefined && this.deepest.depth >= stack.length) return;
    this.deepest = { depth: stack.length, blocked, state, linearized: stack.map((s) => s.op) };
  }

  /** The deepest dead end: what was linearized, the register's value there, and the operation that could not follow. */
  private explain(): string {
    const dead = this.deepest;
    if (dead === undefined) return `key ${this.key}: not linearizable`;
    const blocked = this.ops[dead.blocked];
    if (blocked === undefined) return `key ${this.key}: not linearizable`;
    const lines = [
      `key ${this.key} is not linearizable (${this.n} operations checked).`,
      `The longest linearizable prefix has ${dead.depth} operations and leaves the register at ${show(dead.state)};`,
      `${describe(blocked)} must take effect before it returned, but cannot follow that prefix:`,
      blocked.kind === 'read' && blocked.value !== dead.state
        ? `  it read ${show(blocked.value)} where the register held ${show(dead.state)}, and no order of the concurrent operations repairs that.`
        : `  every order of the operations concurrent with it fails later.`,
    ];
    const tail = dead.linearized.slice(-8);
    if (tail.length > 0) {
      lines.push(`Last ${tail.length} operations of that prefix, in linearization order:`);
      for (const i of tail) lines.push(`  ${describe(this.ops[i])}`);
    }
    const concurrent = this.ops.filter((op) => op !== blocked && op.call <= blocked.ret && op.ret >= blocked.call);
    if (concurrent.length > 0) {
      lines.push(`Operations concurrent with it (${concurrent.length}${concurrent.length > 12 ? ', first 12' : ''}):`);
      for (const op of concurrent.slice(0, 12)) lines.push(`  ${describe(op)}`);
    }
    if (blocked.kind === 'read') {
      const writers = this.ops.filter((op) => op.kind === 'write' && op.value === blocked.value);
      lines.push(
        writers.length > 0
          ? `Writes of ${show(blocked.value)}: ${writers.map(describe).join('; ')}`
          : `No write of ${show(blocked.value)}: it is the initial value.`,
      );
    }
    return lines.join('\n');
  }
}

interface CachedConfiguration {
  lo: number;
  window: Uint32Array;
  state: RegisterValue;
}

function sameWords(window: Uint32Array, words: Uint32Array, lo: number, hi: number): boolean {
  if (window.length !== hi - lo) return false;
  for (let i = 0; i < window.length; i++) if (window[i] !== words[lo + i]) return false;
  return true;
}

function hashValue(value: RegisterValue): number {
  if (value === null) return 0x5bd1e995;
  const text = typeof value === 'number' ? `n${value}` : `s${value}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const show = (value: RegisterValue): string => (value === null ? 'null' : JSON.stringify(value));

const time = (ms: number): string => (ms === Infinity ? 'unknown' : ms.toFixed(1));

/** `write(k, 5) [12.0 .. 15.3] client 2` */
function describe(op: RegisterOperation | undefined): string {
  if (op === undefined) return '?';
  const what = op.kind === 'write' ? `write(${op.key}, ${show(op.value)})` : `read(${op.key}) -> ${show(op.value)}`;
  return `${what} [${time(op.call)} .. ${time(op.ret)}]${op.label === undefined ? '' : ` ${op.label}`}`;
}
