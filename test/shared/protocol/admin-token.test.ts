import t from 'tap';
import { adminAuthorized, bearerToken, tokenMatches } from '../../../shared/protocol/admin-token.js';

t.test('the admin token check: a bearer token compared in constant time, closed when none is configured', async (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc');
  t.equal(bearerToken('bearer  abc '), 'abc');
  t.equal(bearerToken('Basic abc'), undefined);
  t.equal(bearerToken(undefined), undefined);
  t.ok(tokenMatches('a-token-of-enough-length', 'a-token-of-enough-length'));
  t.notOk(tokenMatches('a-token', 'a-token-of-enough-length'), 'a prefix is not the token');
  t.ok(adminAuthorized('Bearer s3cret-s3cret-s3cret', 's3cret-s3cret-s3cret'));
  t.notOk(adminAuthorized('Bearer wrong', 's3cret-s3cret-s3cret'));
  t.notOk(adminAuthorized(undefined, 's3cret-s3cret-s3cret'));
  t.notOk(adminAuthorized('Bearer anything', undefined), 'no configured token: closed, not open');
  t.notOk(adminAuthorized('Bearer ', ''), 'an empty configured token is no token');
});
