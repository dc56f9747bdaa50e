import t from 'tap';
import { ErrorCode, GeodeError, errorCodeSpecs, errorFromWire, httpStatusFor } from '../../../shared/protocol/errors.js';
import { errorHeaders, toGeodeError } from '../../../shared/protocol/framework-errors.js';

t.test('every code has one spec; retryable codes are exactly the ones about the node, not the statement', async (t) => {
  t.same(Object.keys(errorCodeSpecs).sort(), Object.values(ErrorCode).sort());
  const retryable = Object.entries(errorCodeSpecs).filter(([, s]) => s.retryable).map(([c]) => c).sort();
  // The region codes are about where the write went (another region, an epoch not yet confirmed), not the statement.
  t.same(retryable, ['EPOCH_UNCONFIRMED', 'NOT_LEADER', 'NOT_PRIMARY_REGION', 'NO_QUORUM', 'OVERLOADED', 'REPLICA_LAGGING']);
  t.same([errorCodeSpecs.BACKUP_CORRUPT.status, errorCodeSpecs.BACKUP_DESTINATION.status], [422, 502], 'backup errors: a bad archive, a failing destination');
  for (const [code, s] of Object.entries(errorCodeSpecs)) t.equal(httpStatusFor[code as ErrorCode], s.status, code);
  t.equal(errorCodeSpecs.TIMEOUT.retryable, false, 'a statement that ran out of time is slow everywhere');
  t.equal(errorCodeSpecs.MEMORY_LIMIT.status, 400);
});

t.test('the wire body says whether to retry, and a per-error override survives the round trip', async (t) => {
  const plain = new GeodeError(ErrorCode.TIMEOUT, 'slow');
  t.equal(plain.toJSON().error.retryable, false);
  const unknownOutcome = new GeodeError(ErrorCode.TIMEOUT, 'not acknowledged in time', { retryable: true, extra: { request_id: 'r1' } });
  const back = errorFromWire(JSON.parse(JSON.stringify(unknownOutcome.toJSON())).error);
  t.equal(back.code, ErrorCode.TIMEOUT);
  t.equal(back.retryable, true);
  t.equal(back.extra?.['request_id'], 'r1');
  t.equal(back.extra?.['retryable'], undefined, 'retryable is a field of its own, not an extra');
  const withId = new GeodeError(ErrorCode.SYNTAX_ERROR, 'bad', { position: { offset: 0, line: 1, column: 1 } }).withExtra({ request_id: 'r2' });
  t.same(withId.toJSON().error, { code: 'SYNTAX_ERROR', message: 'bad', retryable: false, position: { offset: 0, line: 1, column: 1 }, request_id: 'r2' });
});

t.test('a foreign or missing code becomes INTERNAL and keeps the foreign code as detail', async (t) => {
  const e = errorFromWire({ code: 'SOMETHING_NEW', message: 'x' });
  t.equal(e.code, ErrorCode.INTERNAL);
  t.equal(e.detail, 'SOMETHING_NEW');
  t.equal(errorFromWire(null, 'nothing').message, 'nothing');
});

t.test('framework errors map to codes once for both servers; unknown failures leak nothing', async (t) => {
  t.equal(toGeodeError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'x' }).code, ErrorCode.PAYLOAD_TOO_LARGE);
  t.equal(toGeodeError({ code: 'FST_ERR_CTP_INVALID_JSON_BODY', message: 'x' }).message, 'request body is not valid JSON');
  const validation = toGeodeError({ code: 'FST_ERR_VALIDATION', message: 'm', validation: [{ keyword: 'required', instancePath: '', schemaPath: '#/required', params: { missingProperty: 'query' } }] });
  t.equal(validation.message, 'body: missing field query');
  t.equal(toGeodeError({ statusCode: 413, message: 'big' }).code, ErrorCode.PAYLOAD_TOO_LARGE);
  const internal = toGeodeError(new Error('/srv/secret path'));
  t.equal(internal.code, ErrorCode.INTERNAL);
  t.equal(internal.message, 'internal error');
  t.same(errorHeaders(new GeodeError(ErrorCode.OVERLOADED, 'busy')), { 'retry-after': '1' });
  t.same(errorHeaders(new GeodeError(ErrorCode.TIMEOUT, 'slow')), {});
});
