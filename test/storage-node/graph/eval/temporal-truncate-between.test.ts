import t from 'tap';
import { parse } from '../../../../shared/gql/index.js';
import type { QueryStatement } from '../../../../shared/gql/ast.js';
import { TemporalValue } from '../../../../shared/gql/values.js';
import type { Value } from '../../../../shared/gql/values.js';
import { GeodeError } from '../../../../shared/protocol/errors.js';
import { compileExpression } from '../../../../storage-node/graph/eval/index.js';
import { StatementBudget } from '../../../../storage-node/graph/eval/index.js';
import type { EvalContext } from '../../../../storage-node/graph/eval/index.js';

const ctx: EvalContext = {
  params: {},
  now: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  random: () => 0,
  randomUUID: () => 'u',
  isDeleted: () => false,
  nodeById: () => null,
  budget: new StatementBudget(),
  patterns: { matchPattern: () => [], runSubquery: () => [] },
};

function run(text: string): Value {
  const stmt = parse(`RETURN ${text} AS result`) as QueryStatement;
  const clause = stmt.parts[0]?.clauses[0];
  if (clause?.kind !== 'Return') throw new Error('no RETURN');
  const item = clause.projection.items[0];
  if (item === undefined) throw new Error('no item');
  return compileExpression(item.expr)(new Map(), ctx);
}

function iso(text: string): string {
  const v = run(text);
  if (!(v instanceof TemporalValue)) throw new Error(`not temporal: ${String(v)}`);
  return v.iso;
}

const DT = "datetime('1984-10-11T12:31:14.645876123+01:00')";
const LDT = "localdatetime('1984-10-11T12:31:14.645876123')";

t.test('date.truncate cuts to each date unit', async (t) => {
  t.equal(iso("date.truncate('millennium', date('2017-10-11'))"), '2000-01-01');
  t.equal(iso("date.truncate('millennium', date('-0017-10-11'))"), '-1000-01-01');
  t.equal(iso("date.truncate('century', date('1984-10-11'))"), '1900-01-01');
  t.equal(iso("date.truncate('decade', date('1984-10-11'))"), '1980-01-01');
  t.equal(iso("date.truncate('year', date('1984-10-11'))"), '1984-01-01');
  t.equal(iso("date.truncate('weekYear', date('1984-01-01'))"), '1983-01-03');
  t.equal(iso("date.truncate('quarter', date('1984-11-11'))"), '1984-10-01');
  t.equal(iso("date.truncate('month', date('1984-10-11'))"), '1984-10-01');
  t.equal(iso("date.truncate('week', date('1984-10-11'))"), '1984-10-08');
  t.equal(iso(`date.truncate('day', ${DT})`), '1984-10-11');
});

t.test('truncate applies the override map after truncating', async (t) => {
  t.equal(iso("date.truncate('millennium', date('2017-10-11'), {day: 2})"), '2000-01-02');
  t.equal(iso("date.truncate('weekYear', date('1984-02-01'), {day: 5})"), '1984-01-05');
  t.equal(iso("date.truncate('week', date('1984-10-11'), {dayOfWeek: 2})"), '1984-10-09');
  t.equal(iso(`localtime.truncate('millisecond', ${LDT}, {nanosecond: 2})`), '12:31:14.645000002');
  t.equal(iso(`datetime.truncate('day', ${DT}, {nanosecond: 2})`), '1984-10-11T00:00:00.000000002+01:00');
});

t.test('truncate cuts time units and keeps or defaults the zone', async (t) => {
  t.equal(iso(`localtime.truncate('hour', ${DT})`), '12:00');
  t.equal(iso(`time.truncate('minute', ${DT})`), '12:31+01:00');
  t.equal(iso(`time.truncate('second', ${LDT})`), '12:31:14Z');
  t.equal(iso(`localdatetime.truncate('microsecond', ${DT})`), '1984-10-11T12:31:14.645876');
  t.equal(iso(`time.truncate('day', ${DT})`), '00:00+01:00');
  t.equal(iso("datetime.truncate('year', date('1984-10-11'))"), '1984-01-01T00:00Z');
});

t.test('a timezone in the truncate map replaces the zone, keeping local time', async (t) => {
  t.equal(iso(`time.truncate('hour', ${DT}, {timezone: '-05:00'})`), '12:00-05:00');
  t.equal(
    iso("datetime.truncate('year', datetime('2017-07-15T10:00-01:00'), {timezone: 'Europe/Stockholm'})"),
    '2017-01-01T00:00+01:00[Europe/Stockholm]',
  );
  // A named zone's offset follows the truncated date (summer to winter time)
  t.equal(
    iso("datetime.truncate('year', datetime('2017-07-15T10:00[Europe/Stockholm]'))"),
    '2017-01-01T00:00+01:00[Europe/Stockholm]',
  );
});

t.test('truncate rejects units the target kind cannot hold and propagates null', async (t) => {
  t.throws(() => run("date.truncate('hour', date('1984-10-11'))"), GeodeError);
  t.throws(() => run("time.truncate('month', localtime('12:00'))"), GeodeError);
  t.throws(() => run("date.truncate('day', localtime('12:00'))"), GeodeError);
  t.throws(() => run("date.truncate('fortnight', date('1984-10-11'))"), GeodeError);
  t.equal(run("date.truncate('day', null)"), null);
});

t.test('duration.between splits into months, days and time', async (t) => {
  t.equal(iso("duration.between(date('1984-10-11'), date('2015-06-24'))"), 'P30Y8M13D');
  t.equal(iso("duration.between(date('2020-01-31'), date('2020-03-01'))"), 'P1M1D');
  t.equal(iso("duration.between(localdatetime('2018-01-01T12:00'), localdatetime('2018-01-02T10:00'))"), 'PT22H');
  t.equal(iso("duration.between(localdatetime('2018-01-02T10:00'), localdatetime('2018-01-01T12:00'))"), 'PT-22H');
  t.equal(iso("duration.between(date('2018-03-11'), date('2016-06-24'))"), 'P-1Y-8M-17D');
  t.equal(
    iso("duration.between(datetime('2014-07-21T21:40:36.143+0200'), datetime('2015-07-21T21:40:32.142+0100'))"),
    'P1YT59M55.999S',
  );
  t.equal(iso("duration.between(date('-999999999-01-01'), date('+999999999-12-31'))"), 'P1999999998Y11M30D');
});

t.test('duration.between borrows a missing date, time or zone from the other operand', async (t) => {
  t.equal(iso("duration.between(date('1984-10-11'), localtime('16:30'))"), 'PT16H30M');
  t.equal(iso("duration.between(localtime('14:30'), date('2015-06-24'))"), 'PT-14H-30M');
  t.equal(iso("duration.between(time('14:30'), datetime('2015-07-21T21:40:32.142+0100'))"), 'PT6H10M32.142S');
  t.equal(iso("duration.between(time('14:30'), time('16:30+0100'))"), 'PT1H');
  // Across the end of daylight saving time the local value takes the zone's offset on its own date
  t.equal(
    iso("duration.inSeconds(datetime('2017-10-29T00:00[Europe/Stockholm]'), localdatetime('2017-10-29T04:00'))"),
    'PT5H',
  );
});

t.test('duration.inMonths, inDays and inSeconds count whole units', async (t) => {
  t.equal(iso("duration.inMonths(date('1984-10-11'), date('2015-06-24'))"), 'P30Y8M');
  t.equal(iso("duration.inMonths(date('1984-10-11'), localtime('16:30'))"), 'PT0S');
  t.equal(iso("duration.inDays(localdatetime('2015-07-21T21:40:32.142'), date('2015-06-24'))"), 'P-27D');
  t.equal(iso("duration.inSeconds(date('1984-10-11'), date('2015-06-24'))"), 'PT269112H');
  t.equal(
    iso("duration.inSeconds(localdatetime('-999999999-01-01'), localdatetime('+999999999-12-31T23:59:59'))"),
    'PT17531639991215H59M59S',
  );
  t.equal(iso("duration.inSeconds(localtime('12:34:54.7'), localtime('12:34:54.3'))"), 'PT-0.4S');
  t.equal(run('duration.inDays(null, null)'), null);
  t.throws(() => run("duration.between(duration('P1D'), date('2015-06-24'))"), GeodeError);
});

t.test('negative durations expose floored seconds and a positive sub-second part', async (t) => {
  const d = "duration.between(localdatetime('2018-01-02T10:00:00.1'), localdatetime('2018-01-01T10:00:00.2'))";
  t.equal(iso(d), 'PT-23H-59M-59.9S');
  t.equal(run(`${d}.seconds`), -86400n);
  t.equal(run(`${d}.nanosecondsOfSecond`), 100000000n);
  t.equal(run(`${d}.milliseconds`), -86399900n);
});

t.test('multiplying or dividing a duration drops sub-nanosecond fractions', async (t) => {
  const d = 'duration({years: 12, months: 5, days: 14, hours: 16, minutes: 12, seconds: 70, nanoseconds: 1})';
  t.equal(iso(`${d} / 2`), 'P6Y2M22DT13H21M8S');
  t.equal(iso(`${d} * 0.5`), 'P6Y2M22DT13H21M8S');
  t.equal(iso(`${d} / 0.5`), 'P24Y10M28DT32H26M20.000000002S');
  t.equal(iso("duration('PT10S') * 0.3"), 'PT3S');
});

t.test('a zoned time selected into a new date takes the zone offset of that date', async (t) => {
  t.equal(
    iso(
      "datetime({date: localdatetime('1984-03-07T12:31:14.645'), time: datetime('1984-10-11T12:00[Europe/Stockholm]'), day: 28, second: 42, timezone: 'Pacific/Honolulu'})",
    ),
    '1984-03-28T00:00:42-10:00[Pacific/Honolulu]',
  );
});
