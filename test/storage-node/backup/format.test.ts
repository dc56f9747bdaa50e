// The archive's pure rules (storage-node/backup/format.ts): commit times, segments, the paged
// manifest, gap and overlap checks, restore plans and retention plans.
import t from 'tap';
import { decodeCommand, encodeCommand, encodeRegionCommand } from '../../../storage-node/replication/command.js';
import type { Entry } from '../../../storage-node/raft/messages.js';
import {
  FANOUT,
  addSegment,
  archivePosition,
  chainProblems,
  emptyManifest,
  parsePage,
  parseSegment,
  planRestore,
  planRetention,
  restorePoints,
  segmentKey,
  encodeSegment,
  entryNow,
  writeNow,
  segmentsFrom,
  stampEntries,
} from '../../../storage-node/backup/format.js';
import type { BaseRecord, Manifest, PageRef, SegmentRecord } from '../../../storage-node/backup/format.js';

const write = (index: number, now: number): Entry => ({ index, term: 2, type: 'normal', data: encodeCommand({ kind: 'query', query: 'CREATE (:X)', params: {}, now, seed: 's', requestId: `r${index}` }) });
const noop = (index: number): Entry => ({ index, term: 2, type: 'normal', data: new Uint8Array(0) });

/** The `detail` of the error `fn` throws (undefined when it throws none). */
const detailOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { detail?: string }).detail;
  }
  return undefined;
};

const base = (index: number, time: number): BaseRecord => ({ key: `bases/${index}`, index, time, bytes: 10, raw_bytes: 20, sha256: 'a'.repeat(64), created_at: new Date(time).toISOString(), node: 'n1' });
const seg = (first: number, last: number, firstTime: number, lastTime: number): SegmentRecord => ({ first, last, first_time: firstTime, last_time: lastTime, entries: last - first + 1, bytes: 1, sha256: 'b'.repeat(64) });
const manifest = (bases: BaseRecord[], segments: SegmentRecord[]): Manifest => ({ ...emptyManifest('c', 'l', { node: 'n1', term: 2 }, new Date(0)), bases, segments });

t.test('commit times follow apply: the running max of the writes leader clocks, carried over entries without one', async (t) => {
  const stamped = stampEntries([write(5, 100), noop(6), write(7, 90), write(8, 120), { index: 9, term: 2, type: 'normal', data: encodeRegionCommand({ kind: 'backup', config: null }) }], 95);
  t.same(stamped.map((e) => e.time), [100, 100, 100, 120, 120]);
  t.same(stampEntries([noop(1)], 7).map((e) => e.time), [7], 'an entry with no clock keeps the clock before it');
});

t.test('a segment reads back entry for entry, and a truncated, reordered or padded one is refused naming it', async (t) => {
  const entries = stampEntries([write(10, 1), write(11, 2), noop(12)], 0);
  const bytes = encodeSegment('c', 'l', entries);
  const back = parseSegment(bytes, 'segments/x', { first: 10, last: 12 });
  const view = (list: readonly { index: number; term: number; time: number; type: string; data: Uint8Array }[]) => list.map((e) => [e.index, e.term, e.type, e.time, Buffer.from(e.data).toString()]);
  t.same(view(back.entries), view(entries));
  t.equal(back.header.cluster_id, 'c');
  t.equal(back.header.format, 'geode-backup-segment/2');
  const recordsAt = bytes.indexOf(0x0a) + 1;
  // Cut inside the last record, and exactly at a record boundary (one entry missing).
  t.throws(() => parseSegment(bytes.subarray(0, bytes.byteLength - 1), 'segments/x'), /segments\/x: 2 entries, its header says 3/);
  t.throws(() => parseSegment(bytes.subarray(0, bytes.byteLength - 25), 'segments/x'), /segments\/x: 2 entries, its header says 3/);
  t.throws(() => parseSegment(bytes.subarray(0, recordsAt), 'segments/x'), /0 entries, its header says 3/);
  // The first two records swapped.
  const firstLength = 25 + bytes.readUInt32LE(recordsAt + 21);
  const secondLength = 25 + bytes.readUInt32LE(recordsAt + firstLength + 21);
  const swapped = Buffer.concat([bytes.subarray(0, recordsAt), bytes.subarray(recordsAt + firstLength, recordsAt + firstLength + secondLength), bytes.subarray(recordsAt, recordsAt + firstLength), bytes.subarray(recordsAt + firstLength + secondLength)]);
  t.throws(() => parseSegment(swapped, 'segments/x'), /out of order/);
  t.throws(() => parseSegment(Buffer.concat([bytes, bytes.subarray(recordsAt, recordsAt + firstLength)]), 'segments/x'), /out of order or malformed/, 'an extra record');
  t.throws(() => parseSegment(bytes, 'segments/x', { first: 10, last: 13 }), /the manifest says 10..13/);
  t.throws(() => parseSegment(Buffer.from('not json\n'), 'segments/x'), /unreadable header/);
});

t.test('a segment of the first (text) format still reads back', async (t) => {
  const entries = stampEntries([write(10, 1), write(11, 2), noop(12)], 0);
  const header = { format: 'geode-backup-segment/1', cluster_id: 'c', lineage: 'l', first: 10, last: 12, first_time: 1, last_time: 2, entries: 3 };
  const lines = [JSON.stringify(header), ...entries.map((e) => JSON.stringify([e.index, e.term, 0, e.time, Buffer.from(e.data).toString('base64')]))];
  const back = parseSegment(Buffer.from(`${lines.join('\n')}\n`), 'segments/old', { first: 10, last: 12 });
  t.same(back.entries.map((e) => [e.index, e.time, Buffer.from(e.data).toString()]), entries.map((e) => [e.index, e.time, Buffer.from(e.data).toString()]));
  t.throws(() => parseSegment(Buffer.from(`${lines.slice(0, -1).join('\n')}\n`), 'segments/old'), /2 entries, its header says 3/);
  t.throws(() => parseSegment(Buffer.from([lines[0], lines[2], lines[1], lines[3]].join('\n')), 'segments/old'), /out of order/);
});

t.test("a write's clock read from the end of its bytes is the one the full decoder gives, whatever the statement and parameters hold", async (t) => {
  const strings = ['', 'a', '"', '\\', '\\"', 'x\\\\"y', '],[', '",1,"', '{"now":5}', 'é ü 漢字 🙂', '\n\t', ',', '[', '}', '1', '-2.5e3'];
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const value = (depth: number): unknown => {
    switch (random(depth > 2 ? 4 : 7)) {
      case 0: return strings[random(strings.length)];
      case 1: return random(1000) - 500 + random(100) / 7;
      case 2: return random(2) === 0 ? null : true;
      case 3: return random(10) * 1e20;
      case 4: return Array.from({ length: random(4) }, () => value(depth + 1));
      case 5: return Object.fromEntries(Array.from({ length: random(4) }, (_, i) => [`${strings[random(strings.length)]}${i}`, value(depth + 1)]));
      default: return { nested: [value(depth + 1), { deep: value(depth + 1) }] };
    }
  };
  const clocks = [0, 1, 7, 10, 1_700_000_000_123, 2 ** 53 - 1, 2 ** 53 + 2, 1.5, 0.25, -3, -0.5, 1e21, 1.7e-7];
  let quick = 0;
  const total = 3000;
  for (let i = 0; i < total; i++) {
    const params = Object.fromEntries(Array.from({ length: random(5) }, (_, k) => [`p${k}${strings[random(strings.length)]}`, value(0)]));
    const now = clocks[random(clocks.length)] as number;
    const data = encodeCommand({ kind: 'query', query: `CREATE (:X {s: "${strings[random(strings.length)]}"})${strings[random(strings.length)]}`, params, now, seed: strings[random(strings.length)] as string, requestId: `${strings[random(strings.length)]}r${i}${strings[random(strings.length)]}`, ...(random(2) === 0 ? { fresh: true } : {}), ...(random(3) === 0 ? { memoryBudget: 1 + random(1e6) } : {}) });
    const full = decodeCommand(data);
    const fast = writeNow(data);
    if (full.kind !== 'query') t.fail(`entry ${i} does not decode as a write`);
    else if (fast !== undefined && !Object.is(fast, full.now)) t.fail(`entry ${i}: ${fast} against ${full.now}: ${Buffer.from(data).toString()}`);
    else if (fast !== undefined) quick++;
  }
  t.equal(quick, total, 'every write was read without the decoder, and each agreed with it');
  // Anything else is left to the decoder.
  const text = (s: string) => new TextEncoder().encode(s);
  for (const odd of ['["q",{},"5","s","r"]', '["q",{},5,1,"r"]', '["q",{},5,"s"]', '["q",{},5,"s","r",1,2,3]', '["q",{},5 ,"s","r"]', '["q",{},0x5,"s","r"]', '["q",{},05,"s","r"]', '["q",{},5,"s","r"', '["q",{},5,"s","r\\"]', '{"k":"backup"}', '[]', '[1,{},5,"s","r"]']) {
    const data = text(odd);
    let full: number | undefined;
    try {
      const decoded = decodeCommand(data);
      full = decoded.kind === 'query' ? decoded.now : undefined;
    } catch {
      full = undefined;
    }
    const fast = writeNow(data);
    if (fast !== undefined) t.equal(fast, full, `${odd}: the quick answer is the decoder's`);
    t.equal(entryNow({ index: 1, term: 1, type: 'normal', data }), full ?? -Infinity, `${odd}: the entry clock is the decoder's`);
  }
});

t.test('the manifest pages its segment records: tails of FANOUT become pages, pages of pages become volumes', async (t) => {
  let m = manifest([base(0, 0)], []);
  const pages = new Map<string, string>();
  const total = FANOUT * FANOUT + 3;
  for (let i = 1; i <= total; i++) {
    const added = addSegment(m, seg(i, i, i, i));
    m = added.manifest;
    for (const p of added.pages) pages.set(p.ref.key, p.body);
  }
  t.equal(m.volumes.length, 1, 'one volume of FANOUT pages');
  t.equal(m.ledgers.length, 0);
  t.equal(m.segments.length, 3, 'the open tail');
  t.ok(JSON.stringify(m).length < 100_000, 'the manifest stays small');
  const read = async (ref: PageRef) => parsePage(pages.get(ref.key) as string, ref);
  const all = await segmentsFrom(m, read);
  t.equal(all.length, total, 'every segment listed through the pages');
  t.same(chainProblems(m, all), [], 'in order, no gap');
  t.same(archivePosition(m), { next: total + 1, clock: total });
  let reads = 0;
  const late = await segmentsFrom(m, async (ref) => {
    reads++;
    return read(ref);
  }, total - 1);
  t.same(late.map((s) => s.first), [total - 1, total], 'a late start reads only the pages that reach it');
  t.equal(reads, 0, 'and here none at all');
});

t.test('gaps and overlaps are named; a recorded break is not a gap', async (t) => {
  const m = manifest([base(0, 0)], []);
  t.same(chainProblems(m, [seg(1, 5, 1, 5), seg(6, 9, 6, 9)]), []);
  t.match(chainProblems(m, [seg(1, 5, 1, 5), seg(8, 9, 8, 9)])[0], /gap: entries 6..7/);
  t.match(chainProblems(m, [seg(1, 5, 1, 5), seg(5, 9, 5, 9)])[0], /overlap/);
  const broken: Manifest = { ...m, breaks: [{ after: 5, resume: 8, after_time: 5, resume_time: 8, reason: 'compacted', at: '' }] };
  t.same(chainProblems(broken, [seg(1, 5, 1, 5), seg(8, 9, 8, 9)]), []);
  t.match(chainProblems(manifest([base(0, 0)], []), [seg(3, 5, 3, 5)])[0], /oldest base .* holds up to 0, but the first segment starts at 3/);
});

t.test('a restore plan starts from the newest base at or before the instant and stops before the next commit', async (t) => {
  const bases = [base(10, 100), base(20, 200)];
  const segments = [seg(11, 15, 110, 150), seg(16, 25, 160, 250), seg(26, 30, 260, 300)];
  const m = manifest(bases, segments);
  const at150 = planRestore(m, segments, 150);
  t.equal(at150.base.index, 10);
  t.same(at150.segments.map((s) => s.first), [11], 'segments starting after the instant are not needed');
  t.equal(at150.until, 150);
  t.equal(planRestore(m, segments, 200).base.index, 20, 'at a base time, that base');
  t.equal(planRestore(m, segments, 299).base.index, 20);
  const latest = planRestore(m, segments, undefined);
  t.same([latest.base.index, latest.lastIndex, latest.until], [20, 30, Infinity], 'no instant: everything archived from the newest base');
  t.equal(detailOf(() => planRestore(m, segments, 99)), 'TimestampOutOfRange', 'before the oldest base');
  t.equal(detailOf(() => planRestore(m, segments, 300)), 'TimestampOutOfRange', 'at the last commit (a later entry may share its millisecond)');
  const points = restorePoints(m, segments);
  t.same(points.windows, [{ from: new Date(100).toISOString(), to: new Date(300).toISOString() }]);
  t.equal(points.latest, new Date(300).toISOString());
  t.equal(detailOf(() => planRestore(manifest([], segments), segments, 150)), 'NoRestorePoint');
});

t.test('retention keeps the newest base at or before the window start and everything after it', async (t) => {
  const bases = [base(10, 100), base(20, 200), base(30, 300)];
  const segments = [seg(11, 15, 110, 150), seg(16, 20, 160, 200), seg(21, 25, 210, 250), seg(26, 35, 260, 350)];
  const m = manifest(bases, segments);
  t.equal(planRetention(m, 1_000, 950), undefined, 'the window reaches back past the oldest base: nothing goes');
  const plan = planRetention(m, 1_000, 750)!;
  t.same(plan.manifest.bases.map((b) => b.index), [20, 30], 'the base before the window start (20, at 200 <= 250) stays');
  t.same(plan.objects.sort(), ['bases/10', segmentKey(11, 15), segmentKey(16, 20)].sort());
  t.same(plan.manifest.segments.map((s) => s.first), [21, 26]);
  // Every instant in the window is still restorable exactly.
  for (const at of [250, 260, 349]) t.doesNotThrow(() => planRestore(plan.manifest, plan.manifest.segments, at), `restore at ${at} after retention`);
});

t.test('after a break the chain restarts at the base taken after it', async (t) => {
  const m: Manifest = { ...manifest([base(10, 100), base(40, 400)], [seg(11, 20, 110, 200)]), breaks: [{ after: 20, resume: 41, after_time: 200, resume_time: 400, reason: 'compacted', at: '' }] };
  t.same(archivePosition(m), { next: 41, clock: 400 });
  const segments = [...m.segments, seg(41, 45, 410, 450)];
  t.equal(planRestore(m, segments, 150).base.index, 10, 'before the break from the old base');
  t.equal(planRestore(m, segments, 420).base.index, 40, 'after it from the new one');
  t.equal(detailOf(() => planRestore(m, segments, 300)), 'TimestampOutOfRange', 'not inside the break');
});
