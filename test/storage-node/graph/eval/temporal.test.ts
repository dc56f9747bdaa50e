import t from 'tap';
import { parse } from '../../../../shared/gql/index.js';
import type { QueryStatement } from '../../../../shared/gql/ast.js';
import { TemporalValue } from '../../../../shared/gql/values.js';
import type { Value } from '../../../../shared/gql/values.js';
import { compileExpression, compareValues } from '../../../../storage-node/graph/eval/index.js';
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

t.test('no-argument constructors read the statement clock', async (t) => {
  t.equal(iso('datetime()'), '2024-01-02T03:04:05.678Z');
  t.equal(iso('localdatetime()'), '2024-01-02T03:04:05.678');
  t.equal(iso('date()'), '2024-01-02');
  t.equal(iso('time()'), '03:04:05.678Z');
  t.equal(iso('localtime()'), '03:04:05.678');
});

t.test('constructors from maps and strings produce canonical ISO text', async (t) => {
  t.equal(iso('date({year: 1984, month: 10, day: 11})'), '1984-10-11');
  t.equal(iso("date('2015W302')"), '2015-07-21');
  t.equal(iso("date('2015202')"), '2015-07-21');
  t.equal(iso('date({year: 1817, week: 1})'), '1816-12-30');
  t.equal(iso('localtime({hour: 10, minute: 35})'), '10:35');
  t.equal(iso("time({hour: 12, minute: 31, second: 14, nanosecond: 645876123, timezone: '+01:00'})"), '12:31:14.645876123+01:00');
  t.equal(iso("time('2140-00:00')"), '21:40Z');
  t.equal(iso("datetime('2015-07-21T21:40:32.142[Europe/London]')"), '2015-07-21T21:40:32.142+01:00[Europe/London]');
  t.equal(iso("duration('P5M1.5D')"), 'P5M1DT12H');
  t.equal(iso("duration('PT0.75M')"), 'PT45S');
  t.equal(iso('duration({days: 14, hours: 16, minutes: 12})'), 'P14DT16H12M');
});

t.test('components, arithmetic and ordering', async (t) => {
  t.equal(run('date({year: 1984, month: 10, day: 11}).dayOfWeek'), 4n);
  t.equal(run("datetime('2015-07-21T21:40:32.142+01:00').offsetMinutes"), 60n);
  t.equal(iso("date('2020-01-31') + duration('P1M')"), '2020-02-29');
  t.equal(iso("localdatetime('2020-01-01T23:00') + duration('PT2H')"), '2020-01-02T01:00');
  t.equal(iso("duration('PT1H') + duration('PT30M')"), 'PT1H30M');
  const a = run("datetime('2020-01-01T10:00+02:00')");
  const b = run("datetime('2020-01-01T09:00Z')");
  t.ok(compareValues(a, b) < 0, 'datetimes order by instant');
  t.equal(run("datetime('2020-01-01T10:00+02:00') = datetime('2020-01-01T08:00Z')"), true);
});
