import t from 'tap';
import { newRequestId } from '../../../shared/protocol/request-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('ids are RFC 9562 version 7 UUIDs carrying the millisecond they were minted', async (t) => {
  const now = Date.UTC(2026, 10, 26, 12, 0, 0, 123);
  const id = newRequestId(now);
  t.match(id, UUID_V7);
  t.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now, 'the first 48 bits are the Unix milliseconds');
});

t.test('ids are unique and sort by time across milliseconds', async (t) => {
  const seen = new Set<string>();
  let previous = '';
  let ordered = true;
  const malformed: string[] = [];
  // Several pools' worth, so the bulk refill of random bytes is crossed too.
  for (let i = 0; i < 2000; i++) {
    const id = newRequestId(1_700_000_000_000 + i);
    if (!UUID_V7.test(id)) malformed.push(id);
    if (id <= previous) ordered = false;
    previous = id;
    seen.add(id);
  }
  t.same(malformed, [], 'every id is well formed');
  t.equal(seen.size, 2000);
  t.ok(ordered, 'later milliseconds sort later');
});
