import t from 'tap';
import { SessionCodec } from '../../../gateway/session/token.js';
import { applySessionSetting } from '../../../gateway/session/settings.js';
import type { Session } from '../../../gateway/session/token.js';

const session: Session = { readPreference: 'nearest', maxLagMs: 100, consistency: 'bounded', causalIndex: 42 };

t.test('a token round-trips on any codec with the same secret', async (t) => {
  const token = new SessionCodec('secret-one-secret-one').encode(session);
  t.same(new SessionCodec('secret-one-secret-one').decode(token), session);
});

t.test('tampered, foreign and malformed tokens are UNAUTHORIZED', async (t) => {
  const codec = new SessionCodec('secret-one-secret-one');
  const token = codec.encode(session);
  const [payload, mac] = token.split('.') as [string, string];
  const forged = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('42', '4242')).toString('base64url');
  for (const bad of [`${forged}.${mac}`, new SessionCodec('another-secret-xyz').encode(session), 'abc', `${payload}.`, `${payload}.${mac}.x`, 'a'.repeat(5000)]) {
    t.throws(() => codec.decode(bad), { code: 'UNAUTHORIZED' });
  }
});

t.test('SET SESSION statements change exactly their setting and refuse bad values', async (t) => {
  const pos = { offset: 0, line: 1, column: 1 };
  t.equal(applySessionSetting(session, { kind: 'SessionSet', pos, setting: 'read_preference', value: 'round_robin' }).readPreference, 'round_robin');
  t.equal(applySessionSetting(session, { kind: 'SessionSet', pos, setting: 'max_replication_lag', value: 7 }).maxLagMs, 7);
  t.equal(applySessionSetting(session, { kind: 'SessionSet', pos, setting: 'consistency', value: 'linearizable' }).consistency, 'linearizable');
  t.throws(() => applySessionSetting(session, { kind: 'SessionSet', pos, setting: 'read_preference', value: 'fastest' }), { code: 'BAD_REQUEST' });
  t.throws(() => applySessionSetting(session, { kind: 'SessionSet', pos, setting: 'max_replication_lag', value: -1 }), { code: 'BAD_REQUEST' });
});
