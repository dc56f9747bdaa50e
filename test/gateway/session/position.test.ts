/**
 * Causal positions (epoch, index): their order, how routing compares a
 * replica's applied position with a read's, and how the session token
 * carries the epoch while staying the same token for single-group
 * deployments (and for gateways that predate regions).
 */
import t from 'tap';
import { appliedTowards, comparePositions, epochOr1, isPastOrigin, laterPosition, positionFrom } from '../../../gateway/session/position.js';
import { SessionCodec, sessionPosition, withPosition } from '../../../gateway/session/token.js';
import type { Session } from '../../../gateway/session/token.js';

t.test('a higher epoch wins over any index of a lower one; within an epoch the higher index', async (t) => {
  t.ok(comparePositions({ epoch: 2, index: 3 }, { epoch: 1, index: 900 }) > 0);
  t.ok(comparePositions({ epoch: 1, index: 900 }, { epoch: 1, index: 901 }) < 0);
  t.equal(comparePositions({ epoch: 3, index: 7 }, { epoch: 3, index: 7 }), 0);
  t.same(laterPosition({ epoch: 1, index: 900 }, { epoch: 2, index: 3 }), { epoch: 2, index: 3 });
  const a = { epoch: 1, index: 5 };
  t.equal(laterPosition(a, { epoch: 1, index: 5 }), a, 'a tie keeps the first (the same session object stays)');
  t.notOk(isPastOrigin({ epoch: 1, index: 0 }));
  t.ok(isPastOrigin({ epoch: 1, index: 1 }));
  t.ok(isPastOrigin({ epoch: 2, index: 0 }), 'a new epoch with nothing written yet is still past epoch 1');
});

t.test('an absent or malformed epoch is epoch 1; a position from JSON needs both numbers', async (t) => {
  t.equal(epochOr1(undefined), 1);
  t.equal(epochOr1(0), 1);
  t.equal(epochOr1(1.5), 1);
  t.equal(epochOr1(4), 4);
  t.same(positionFrom({ epoch: 2, index: 0 }), { epoch: 2, index: 0 });
  t.equal(positionFrom({ epoch: 2 }), undefined);
  t.equal(positionFrom({ epoch: 0, index: 3 }), undefined);
  t.equal(positionFrom({ epoch: 1, index: -1 }), undefined);
  t.equal(positionFrom(null), undefined);
});

t.test("a replica's applied position compared with a read's: a later epoch has it all, an earlier one nothing", async (t) => {
  const after = { epoch: 2, index: 40 };
  t.equal(appliedTowards({ epoch: 2, index: 39 }, after), 39, 'same epoch: its index');
  t.equal(appliedTowards({ epoch: 3, index: 1 }, after), Number.MAX_SAFE_INTEGER, 'a later epoch covers everything that survived');
  t.equal(appliedTowards({ epoch: 1, index: 10_000 }, after), 0, 'an earlier epoch has nothing of epoch 2');
  t.equal(appliedTowards(undefined, after), 0, 'unknown counts as behind');
});

const base: Session = { readPreference: 'round_robin', maxLagMs: 100, consistency: 'bounded', causalIndex: 42 };

t.test('the session token carries the epoch, and only when it is above 1', async (t) => {
  const codec = new SessionCodec('position-test-secret-0123456789');
  const payload = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  const single = codec.encode(base);
  t.notOk('causal_epoch' in payload(single), 'epoch 1 leaves the token as it was before regions');
  t.same(sessionPosition(codec.decode(single)), { epoch: 1, index: 42 }, 'and reads back as epoch 1');
  const promoted = withPosition(base, { epoch: 3, index: 7 });
  t.same(sessionPosition(promoted), { epoch: 3, index: 7 });
  const token = codec.encode(promoted);
  t.equal(payload(token)['causal_epoch'], 3);
  t.same(sessionPosition(codec.decode(token)), { epoch: 3, index: 7 }, 'round trip');
  t.not(token, single, 'the encode cache tells epochs apart');
  const back = withPosition(promoted, { epoch: 1, index: 9 });
  t.notOk('causalEpoch' in back, 'setting epoch 1 drops the field');
});

t.test('a signed token with a malformed causal_epoch is refused, not read as epoch 1', async (t) => {
  const secret = 'position-test-secret-0123456789';
  const codec = new SessionCodec(secret);
  const { createHmac } = await import('node:crypto');
  const sign = (wire: Record<string, unknown>): string => {
    const payload = Buffer.from(JSON.stringify(wire)).toString('base64url');
    return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
  };
  const wire = { read_preference: 'round_robin', max_lag_ms: 100, consistency: 'bounded', causal_index: 5, v: 1 };
  t.same(sessionPosition(codec.decode(sign(wire))), { epoch: 1, index: 5 }, 'well formed without epoch');
  t.throws(() => codec.decode(sign({ ...wire, causal_epoch: 0 })), { code: 'UNAUTHORIZED' });
  t.throws(() => codec.decode(sign({ ...wire, causal_epoch: 'two' })), { code: 'UNAUTHORIZED' });
});
