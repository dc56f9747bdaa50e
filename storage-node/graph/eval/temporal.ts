/**
 * Temporal values: construction from the statement clock, ISO text, maps or
 * other temporals; canonical ISO formatting; comparison; component access;
 * and arithmetic with durations. Values travel as TemporalValue(kind, iso);
 * this module parses the iso back into fields when it needs them.
 *
 * Named time zones (`[Europe/Stockholm]`) are resolved with Intl (Node's ICU
 * tz data).
 */
import './linear-regexp.js';
import { ErrorCode, GeodeError, typeError } from '../../../shared/protocol/errors.js';
import type { TemporalKind, Value, ValueMap } from '../../../shared/gql/values.js';
import { TemporalValue, isMap, typeName } from '../../../shared/gql/values.js';
import type { FunctionDef } from './functions.js';

const NANOS_PER_DAY = 86_400_000_000_000;
const AVG_MONTH_SECONDS = 2_629_746; // 365.2425 days / 12, as Java's Duration uses

function unsupported(what: string): GeodeError {
  return new GeodeError(ErrorCode.UNSUPPORTED, `temporal ${what} is not supported`, { phase: 'runtime' });
}

function badValue(message: string): GeodeError {
  return new GeodeError(ErrorCode.ARGUMENT_ERROR, message, { phase: 'runtime', detail: 'InvalidArgumentValue' });
}

// ---- calendar arithmetic ------------------------------------------------------

function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

function floorMod(a: number, b: number): number {
  return a - Math.floor(a / b) * b;
}

export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = floorDiv(y, 400);
  const yoe = y - era * 400;
  const doy = floorDiv(153 * (month + (month > 2 ? -3 : 9)) + 2, 5) + day - 1;
  const doe = yoe * 365 + floorDiv(yoe, 4) - floorDiv(yoe, 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(epochDay: number): [number, number, number] {
  const z = epochDay + 719468;
  const era = floorDiv(z, 146097);
  const doe = z - era * 146097;
  const yoe = floorDiv(doe - floorDiv(doe, 1460) + floorDiv(doe, 36524) - floorDiv(doe, 146096), 365);
  const doy = doe - (365 * yoe + floorDiv(yoe, 4) - floorDiv(yoe, 100));
  const mp = floorDiv(5 * doy + 2, 153);
  const d = doy - floorDiv(153 * mp + 2, 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function monthLength(y: number, m: number): number {
  return m === 2 ? (isLeap(y) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;
}

/** ISO day of week, Monday = 1. */
function dayOfWeek(epochDay: number): number {
  return floorMod(epochDay + 3, 7) + 1;
}

function week1Monday(weekYear: number): number {
  const jan4 = daysFromCivil(weekYear, 1, 4);
  return jan4 - (dayOfWeek(jan4) - 1);
}

function isoWeek(epochDay: number): [number, number] {
  const [y] = civilFromDays(epochDay);
  let wy = y + 1;
  if (epochDay < week1Monday(wy)) wy = y;
  if (epochDay < week1Monday(wy)) wy = y - 1;
  return [wy, floorDiv(epochDay - week1Monday(wy), 7) + 1];
}

// ---- the field model ----------------------------------------------------------

/** A decoded non-duration temporal. Absent parts are null by kind. */
interface Fields {
  kind: Exclude<TemporalKind, 'duration'>;
  epochDay: number;
  /** Nanoseconds since local midnight. */
  nano: number;
  /** Offset from UTC in seconds (time, datetime). */
  offset: number;
  zone: string | null;
}

/** A decoded duration: calendar months and days, and exact nanoseconds. */
interface Duration {
  months: number;
  days: number;
  nanos: bigint;
}

const HAS_DATE: ReadonlySet<string> = new Set(['date', 'localdatetime', 'datetime']);
const HAS_TIME: ReadonlySet<string> = new Set(['localtime', 'time', 'localdatetime', 'datetime']);
const HAS_ZONE: ReadonlySet<string> = new Set(['time', 'datetime']);

// ---- formatting -------------------------------------------------------------------

function pad(n: number, width: number): string {
  return String(Math.abs(n)).padStart(width, '0');
}

function formatDate(epochDay: number): string {
  const [y, m, d] = civilFromDays(epochDay);
  const year = y >= 0 && y <= 9999 ? pad(y, 4) : (y < 0 ? '-' : '+') + pad(y, 4);
  return `${year}-${pad(m, 2)}-${pad(d, 2)}`;
}

function formatTime(nano: number): string {
  const totalSeconds = Math.floor(nano / 1e9);
  const frac = nano - totalSeconds * 1e9;
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor(totalSeconds / 60) % 60;
  const s = totalSeconds % 60;
  let out = `${pad(h, 2)}:${pad(m, 2)}`;
  if (s !== 0 || frac !== 0) out += `:${pad(s, 2)}`;
  if (frac !== 0) out += '.' + String(frac).padStart(9, '0').replace(/0+$/, '');
  return out;
}

function formatOffset(offset: number): string {
  if (offset === 0) return 'Z';
  const a = Math.abs(offset);
  const s = a % 60;
  return `${offset < 0 ? '-' : '+'}${pad(Math.floor(a / 3600), 2)}:${pad(Math.floor(a / 60) % 60, 2)}${s ? ':' + pad(s, 2) : ''}`;
}

function format(f: Fields): TemporalValue {
  let iso: string;
  switch (f.kind) {
    case 'date':
      iso = formatDate(f.epochDay);
      break;
    case 'localtime':
      iso = formatTime(f.nano);
      break;
    case 'time':
      iso = formatTime(f.nano) + formatOffset(f.offset);
      break;
    case 'localdatetime':
      iso = `${formatDate(f.epochDay)}T${formatTime(f.nano)}`;
      break;
    default:
      iso = `${formatDate(f.epochDay)}T${formatTime(f.nano)}${formatOffset(f.offset)}${f.zone ? `[${f.zone}]` : ''}`;
  }
  return new TemporalValue(f.kind, iso);
}

function formatDuration(d: Duration): TemporalValue {
  const years = Math.trunc(d.months / 12);
  const months = d.months % 12;
  let out = 'P';
  if (years) out += `${years}Y`;
  if (months) out += `${months}M`;
  if (d.days) out += `${d.days}D`;
  if (d.nanos !== 0n) {
    out += 'T';
    const hours = d.nanos / 3_600_000_000_000n;
    const minutes = (d.nanos / 60_000_000_000n) % 60n;
    const rest = d.nanos % 60_000_000_000n;
    if (hours) out += `${hours}H`;
    if (minutes) out += `${minutes}M`;
    if (rest !== 0n) {
      const secs = rest / 1_000_000_000n;
      const frac = (rest < 0n ? -rest : rest) % 1_000_000_000n;
      const sign = rest < 0n && secs === 0n ? '-' : '';
      out += `${sign}${secs}${frac ? '.' + frac.toString().padStart(9, '0').replace(/0+$/, '') : ''}S`;
    }
  }
  return new TemporalValue('duration', out === 'P' ? 'PT0S' : out);
}

// ---- parsing ------------------------------------------------------------------------

const DATE_RE =
  /^([+-]\d{4,9}|\d{4})(?:-(\d{2})(?:-(\d{2}))?|(\d{2})(\d{2})?|-?W(\d{2})(?:-?(\d))?|-?(\d{3}))?$/;
const TIME_RE = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?$/;
const OFFSET_RE = /^([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?$/;

function parseDatePart(text: string): number {
  const m = DATE_RE.exec(text);
  if (!m) throw badValue(`invalid date ${JSON.stringify(text)}`);
  const year = Number(m[1]);
  if (m[6] !== undefined) return dateFromWeek(year, Number(m[6]), m[7] === undefined ? 1 : Number(m[7]));
  if (m[8] !== undefined) return daysFromCivil(year, 1, 1) + Number(m[8]) - 1;
  const month = Number(m[2] ?? m[4] ?? 1);
  const day = Number(m[3] ?? m[5] ?? 1);
  return checkedDate(year, month, day);
}

function checkedDate(year: number, month: number, day: number): number {
  if (month < 1 || month > 12 || day < 1 || day > monthLength(year, month)) {
    throw badValue(`invalid date ${year}-${month}-${day}`);
  }
  return daysFromCivil(year, month, day);
}

function dateFromWeek(weekYear: number, week: number, dow: number): number {
  return week1Monday(weekYear) + (week - 1) * 7 + (dow - 1);
}

function parseTimePart(text: string): number {
  const m = TIME_RE.exec(text);
  if (!m) throw badValue(`invalid time ${JSON.stringify(text)}`);
  const h = Number(m[1]);
  const min = Number(m[2] ?? 0);
  const s = Number(m[3] ?? 0);
  if (h > 23 || min > 59 || s > 59) throw badValue(`invalid time ${JSON.stringify(text)}`);
  const frac = m[4] === undefined ? 0 : Number(m[4].padEnd(9, '0'));
  return ((h * 60 + min) * 60 + s) * 1e9 + frac;
}

function parseOffset(text: string): number | null {
  if (text === 'Z' || text === 'z') return 0;
  const m = OFFSET_RE.exec(text);
  if (!m) return null;
  const secs = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return m[1] === '-' ? -secs : secs;
}

/** Splits `time[offset][[zone]]` into its parts. */
function splitZone(text: string): { local: string; offset: number | null; zone: string | null } {
  let rest = text;
  let zone: string | null = null;
  const bracket = /\[([^\]]+)\]$/.exec(rest);
  if (bracket) {
    zone = bracket[1] ?? null;
    rest = rest.slice(0, bracket.index);
  }
  const om = /(Z|z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)$/.exec(rest);
  // A bare time like `2140` must not lose its digits to an offset: offsets start with a sign or Z
  if (om && om.index > 0) {
    return { local: rest.slice(0, om.index), offset: parseOffset(om[1] ?? ''), zone };
  }
  return { local: rest, offset: null, zone };
}

function parseString(kind: Exclude<TemporalKind, 'duration'>, text: string): Fields {
  const t = text.trim();
  let epochDay = 0;
  let timeText = '';
  if (kind === 'date') {
    epochDay = parseDatePart(t);
  } else if (kind === 'localtime' || kind === 'time') {
    timeText = t;
  } else {
    const i = t.indexOf('T');
    if (i < 0) epochDay = parseDatePart(t);
    else {
      epochDay = parseDatePart(t.slice(0, i));
      timeText = t.slice(i + 1);
    }
  }
  let nano = 0;
  let offset: number | null = null;
  let zone: string | null = null;
  if (timeText !== '') {
    const z = splitZone(timeText);
    nano = parseTimePart(z.local);
    offset = z.offset;
    zone = z.zone;
  }
  const f: Fields = { kind, epochDay, nano, offset: offset ?? 0, zone: null };
  if (kind === 'datetime') {
    if (zone !== null) {
      f.zone = zone;
      f.offset = zoneOffsetForLocal(zone, epochDay, nano);
    }
  }
  return f;
}

/** Decodes a TemporalValue (always one we formatted, or user text of the same shape). */
function decode(v: TemporalValue): Fields {
  if (v.kind === 'duration') throw typeError('expected a date or time, got DURATION');
  return parseString(v.kind, v.iso);
}

const DURATION_RE =
  /^P(?:(-?[\d.]+)Y)?(?:(-?[\d.]+)M)?(?:(-?[\d.]+)W)?(?:(-?[\d.]+)D)?(?:T(?:(-?[\d.]+)H)?(?:(-?[\d.]+)M)?(?:(-?[\d.]+)S)?)?$/;
const DURATION_DATE_RE = /^P(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)$/;

function parseDuration(text: string): Duration {
  const t = text.trim();
  const alt = DURATION_DATE_RE.exec(t);
  if (alt) {
    return durationFromFields({
      years: Number(alt[1]),
      months: Number(alt[2]),
      days: Number(alt[3]),
      hours: Number(alt[4]),
      minutes: Number(alt[5]),
      seconds: Number(alt[6]),
    });
  }
  const m = DURATION_RE.exec(t);
  if (!m || t === 'P' || t.endsWith('T')) throw badValue(`invalid duration ${JSON.stringify(text)}`);
  const n = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
  return durationFromFields({
    years: n(m[1]),
    months: n(m[2]),
    weeks: n(m[3]),
    days: n(m[4]),
    hours: n(m[5]),
    minutes: n(m[6]),
    seconds: n(m[7]),
  });
}

function decodeDuration(v: TemporalValue): Duration {
  if (v.kind !== 'duration') throw typeError(`expected a DURATION, got ${v.kind.toUpperCase()}`);
  return parseDuration(v.iso);
}

/** Exact nanoseconds of a possibly fractional number of units. */
function nanosOf(amount: number, unitNanos: number): bigint {
  if (Number.isInteger(amount)) return BigInt(amount) * BigInt(unitNanos);
  return BigInt(Math.round(amount * unitNanos));
}

function durationFromFields(f: Record<string, number>): Duration {
  const totalMonths = (f['years'] ?? 0) * 12 + (f['months'] ?? 0) + (f['quarters'] ?? 0) * 3;
  const months = Math.trunc(totalMonths);
  let days = (f['weeks'] ?? 0) * 7 + (f['days'] ?? 0);
  let nanos = nanosOf((totalMonths - months) * AVG_MONTH_SECONDS, 1e9);
  // Fractional months spill whole days into days, like Neo4j
  const spillDays = nanos / BigInt(NANOS_PER_DAY);
  nanos -= spillDays * BigInt(NANOS_PER_DAY);
  days += Number(spillDays);
  const wholeDays = Math.trunc(days);
  nanos += nanosOf(days - wholeDays, NANOS_PER_DAY);
  nanos +=
    nanosOf(f['hours'] ?? 0, 3_600_000_000_000) +
    nanosOf(f['minutes'] ?? 0, 60_000_000_000) +
    nanosOf(f['seconds'] ?? 0, 1e9) +
    nanosOf(f['milliseconds'] ?? 0, 1e6) +
    nanosOf(f['microseconds'] ?? 0, 1e3) +
    nanosOf(f['nanoseconds'] ?? 0, 1);
  return { months, days: wholeDays, nanos };
}

// ---- time zones -----------------------------------------------------------------------

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

function zoneFormat(zone: string): Intl.DateTimeFormat {
  let f = zoneFormats.get(zone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw badValue(`unknown time zone ${zone}`);
    }
    zoneFormats.set(zone, f);
  }
  return f;
}

/** Offset in seconds of `zone` at the UTC instant `utcMs`. */
function zoneOffsetAt(zone: string, utcMs: number): number {
  const parts: Record<string, string> = {};
  for (const p of zoneFormat(zone).formatToParts(new Date(utcMs))) parts[p.type] = p.value;
  let year = Number(parts['year']);
  if (parts['era'] === 'BC' || parts['era'] === 'B') year = 1 - year;
  const local =
    daysFromCivil(year, Number(parts['month']), Number(parts['day'])) * 86_400_000 +
    ((Number(parts['hour']) * 60 + Number(parts['minute'])) * 60 + Number(parts['second'])) * 1000;
  const flooredUtc = Math.floor(utcMs / 1000) * 1000;
  return Math.round((local - flooredUtc) / 1000);
}

function zoneOffsetForLocal(zone: string, epochDay: number, nano: number): number {
  const localMs = epochDay * 86_400_000 + Math.floor(nano / 1e6);
  const guess = zoneOffsetAt(zone, localMs);
  return zoneOffsetAt(zone, localMs - guess * 1000);
}

/** Parses a `timezone` argument: an offset or a zone name. */
function applyTimezone(f: Fields, tz: string): void {
  const off = parseOffset(tz);
  if (off !== null) {
    f.offset = off;
    f.zone = null;
    return;
  }
  f.zone = tz;
  f.offset = f.kind === 'datetime' ? zoneOffsetForLocal(tz, f.epochDay, f.nano) : zoneOffsetAt(tz, 0);
}

// ---- comparison ------------------------------------------------------------------------

/** Instant (for zoned values) or local position (for local ones) as [seconds-ish, nanos]. */
function sortKey(f: Fields): [number, number] {
  switch (f.kind) {
    case 'date':
      return [f.epochDay, 0];
    case 'localtime':
      return [0, f.nano];
    case 'time':
      return [0, f.nano - f.offset * 1e9];
    case 'localdatetime':
      return [f.epochDay, f.nano];
    default: {
      const secs = f.epochDay * 86400 + Math.floor(f.nano / 1e9) - f.offset;
      return [secs, f.nano % 1e9];
    }
  }
}

/** Orders two temporals of the same (non-duration) kind. */
export function compareTemporal(a: TemporalValue, b: TemporalValue): number {
  if (a.iso === b.iso) return 0;
  try {
    const [a0, a1] = sortKey(decode(a));
    const [b0, b1] = sortKey(decode(b));
    return a0 !== b0 ? a0 - b0 : a1 - b1;
  } catch {
    return a.iso < b.iso ? -1 : 1;
  }
}

// ---- construction ---------------------------------------------------------------------

function nowFields(kind: Exclude<TemporalKind, 'duration'>, now: number, tz: string | null): Fields {
  const epochDay = Math.floor(now / 86_400_000);
  const nano = (now - epochDay * 86_400_000) * 1e6;
  const f: Fields = { kind, epochDay, nano, offset: 0, zone: null };
  if (tz !== null) {
    applyTimezone(f, tz);
    const shifted = now + f.offset * 1000;
    f.epochDay = Math.floor(shifted / 86_400_000);
    f.nano = (shifted - f.epochDay * 86_400_000) * 1e6;
  }
  return f;
}

function num(v: Value, key: string): number {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  throw typeError(`temporal field ${key} must be a number, got ${typeName(v)}`);
}

/** The epoch day after applying the date fields of a constructor map to a base date. */
function dateWithOverrides(epochDay: number, baseHasDate: boolean, n: (k: string) => number | undefined): number {
  const [baseYear, baseMonth, baseDay] = civilFromDays(epochDay);
  const y = n('year');
  if (n('week') !== undefined) {
    const weekYear = y ?? (baseHasDate ? isoWeek(epochDay)[0] : 1970);
    return dateFromWeek(weekYear, n('week') ?? 1, n('dayOfWeek') ?? (baseHasDate ? dayOfWeek(epochDay) : 1));
  }
  if (n('ordinalDay') !== undefined) return daysFromCivil(y ?? baseYear, 1, 1) + (n('ordinalDay') ?? 1) - 1;
  if (n('quarter') !== undefined) {
    const q = n('quarter') ?? 1;
    const baseQuarterStart = daysFromCivil(baseYear, (Math.ceil(baseMonth / 3) - 1) * 3 + 1, 1);
    const dq = n('dayOfQuarter') ?? (baseHasDate ? epochDay - baseQuarterStart + 1 : 1);
    return daysFromCivil(y ?? baseYear, (q - 1) * 3 + 1, 1) + dq - 1;
  }
  if (!baseHasDate || y !== undefined || n('month') !== undefined || n('day') !== undefined) {
    return checkedDate(
      y ?? (baseHasDate ? baseYear : 1970),
      n('month') ?? (baseHasDate ? baseMonth : 1),
      n('day') ?? (baseHasDate ? baseDay : 1),
    );
  }
  return epochDay;
}

function fromMap(kind: Exclude<TemporalKind, 'duration'>, map: ValueMap): Fields {
  const get = (k: string): Value | undefined => (Object.prototype.hasOwnProperty.call(map, k) ? map[k] : undefined);
  const n = (k: string): number | undefined => {
    const v = get(k);
    return v === undefined || v === null ? undefined : num(v, k);
  };
  const f: Fields = { kind, epochDay: 0, nano: 0, offset: 0, zone: null };
  let baseHasZone = false;
  let baseHasDate = false;
  let baseHasTime = false;
  // Selection from other temporals: {date: d, time: t} or {datetime: dt}
  for (const key of ['datetime', 'date', 'time'] as const) {
    const src = get(key);
    if (!(src instanceof TemporalValue)) continue;
    const s = decode(src);
    if (key !== 'time' && HAS_DATE.has(s.kind)) {
      f.epochDay = s.epochDay;
      baseHasDate = true;
    }
    if (key !== 'date' && HAS_TIME.has(s.kind)) {
      f.nano = s.nano;
      baseHasTime = true;
      if (HAS_ZONE.has(s.kind)) {
        f.offset = s.offset;
        f.zone = s.zone;
        baseHasZone = true;
      }
    }
  }
  const tz = get('timezone');
  let tzApplied = false;
  if (typeof tz === 'string' && baseHasZone && HAS_ZONE.has(kind)) {
    // A zoned base moved to another zone keeps its instant; field overrides apply afterwards
    let day = f.epochDay;
    if (HAS_DATE.has(kind)) day = dateWithOverrides(f.epochDay, baseHasDate, n);
    else if (!baseHasDate && n('year') !== undefined) day = daysFromCivil(n('year') ?? 1970, n('month') ?? 1, n('day') ?? 1);
    // A named base zone's offset depends on the date the value lands on, not the base's own date
    if (f.zone !== null) f.offset = zoneOffsetForLocal(f.zone, day, f.nano);
    const instantMs = day * 86_400_000 + Math.floor(f.nano / 1e6) - f.offset * 1000;
    const fixed = parseOffset(tz);
    const newOffset = fixed ?? zoneOffsetAt(tz, instantMs);
    const total = f.nano + (newOffset - f.offset) * 1e9;
    const carry = Math.floor(total / NANOS_PER_DAY);
    f.nano = total - carry * NANOS_PER_DAY;
    if (baseHasDate) f.epochDay += carry;
    f.offset = newOffset;
    f.zone = fixed === null ? tz : null;
    tzApplied = true;
  }
  if (HAS_DATE.has(kind)) f.epochDay = dateWithOverrides(f.epochDay, baseHasDate, n);
  if (HAS_TIME.has(kind)) {
    const secs = Math.floor(f.nano / 1e9);
    const h = n('hour') ?? (baseHasTime ? Math.floor(secs / 3600) : 0);
    const mi = n('minute') ?? (baseHasTime ? Math.floor(secs / 60) % 60 : 0);
    const s = n('second') ?? (baseHasTime ? secs % 60 : 0);
    let sub = baseHasTime ? f.nano % 1e9 : 0;
    const ms = n('millisecond');
    const us = n('microsecond');
    const ns = n('nanosecond');
    if (ms !== undefined || us !== undefined || ns !== undefined) {
      // Unspecified finer units keep the base's digits below the given unit
      const baseMs = Math.floor(sub / 1e6);
      const baseUs = Math.floor(sub / 1e3) % 1000;
      const baseNs = sub % 1000;
      sub = (ms ?? baseMs) * 1e6 + (us ?? (ms !== undefined ? 0 : baseUs)) * 1e3 + (ns ?? (ms !== undefined || us !== undefined ? 0 : baseNs));
    }
    if (h > 23 || mi > 59 || s > 59 || sub >= 1e9) throw badValue('invalid time fields');
    f.nano = ((h * 60 + mi) * 60 + s) * 1e9 + sub;
  } else {
    f.nano = 0;
  }
  if (HAS_ZONE.has(kind)) {
    if (typeof tz === 'string' && !tzApplied) applyTimezone(f, tz);
    else if (f.zone !== null && kind === 'datetime') f.offset = zoneOffsetForLocal(f.zone, f.epochDay, f.nano);
  } else {
    f.offset = 0;
    f.zone = null;
  }
  if (kind === 'time') f.zone = null;
  return f;
}

function construct(kind: Exclude<TemporalKind, 'duration'>, args: readonly Value[], now: number): Value {
  if (args.length === 0) return format(nowFields(kind, now, null));
  const a = args[0] ?? null;
  if (a === null) return null;
  if (typeof a === 'string') {
    const f = parseString(kind, a);
    if (kind === 'time' && f.zone !== null) f.zone = null;
    return format(f);
  }
  if (a instanceof TemporalValue) {
    if (a.kind === 'duration') throw typeError('cannot build a date or time from a DURATION');
    const key = a.kind === 'date' ? 'date' : a.kind === 'localtime' || a.kind === 'time' ? 'time' : 'datetime';
    return format(fromMap(kind, { [key]: a }));
  }
  if (isMap(a)) {
    if (Object.keys(a).length === 1 && typeof a['timezone'] === 'string') {
      return format(nowFields(kind, now, a['timezone']));
    }
    return format(fromMap(kind, a));
  }
  throw typeError(`${kind}() does not accept ${typeName(a)}`);
}

function durationArg(a: Value): Value {
  if (a === null) return null;
  if (typeof a === 'string') return formatDuration(parseDuration(a));
  if (a instanceof TemporalValue && a.kind === 'duration') return a;
  if (isMap(a)) {
    const fields: Record<string, number> = {};
    for (const [k, v] of Object.entries(a)) if (v !== null) fields[k] = num(v, k);
    return formatDuration(durationFromFields(fields));
  }
  throw typeError(`duration() does not accept ${typeName(a)}`);
}

function fromEpoch(seconds: Value, nanos: Value): Value {
  if (seconds === null || nanos === null) return null;
  const ms = num(seconds, 'epochSeconds') * 1000;
  const f = nowFields('datetime', ms, null);
  f.nano += num(nanos, 'nanosecond');
  return format(f);
}

const constructor = (kind: Exclude<TemporalKind, 'duration'>): FunctionDef => ({
  min: 0,
  max: 1,
  call: (a, ctx) => construct(kind, a, ctx.now),
});

/** `*.realtime()`, `*.statement()`, `*.transaction()` all read the statement clock. */
const clockVariants = (kind: Exclude<TemporalKind, 'duration'>): [string, FunctionDef][] =>
  ['realtime', 'statement', 'transaction'].map((v) => [`${kind}.${v}`, constructor(kind)]);

/** Constructors by lower-cased function name; no argument means "now" from the statement clock. */
export const TEMPORAL_FUNCTIONS: [string, FunctionDef][] = [
  ...(['datetime', 'localdatetime', 'date', 'time', 'localtime'] as const).flatMap(
    (k): [string, FunctionDef][] => [[k, constructor(k)], ...clockVariants(k)],
  ),
  ...(['datetime', 'localdatetime', 'date', 'time', 'localtime'] as const).map(truncator),
  ['duration', { min: 1, max: 1, call: (a) => durationArg(a[0] ?? null) }],
  between('duration.between', 'all'),
  between('duration.inmonths', 'months'),
  between('duration.indays', 'days'),
  between('duration.inseconds', 'seconds'),
  ['datetime.fromepoch', { min: 2, max: 2, call: (a) => fromEpoch(a[0] ?? null, a[1] ?? null) }],
  [
    'datetime.fromepochmillis',
    {
      min: 1,
      max: 1,
      call: (a) => {
        const v = a[0] ?? null;
        return v === null ? null : format(nowFields('datetime', num(v, 'epochMillis'), null));
      },
    },
  ],
];

// ---- components --------------------------------------------------------------------------

/** `temporal.year`, `duration.days`, ... */
export function temporalComponent(v: TemporalValue, key: string): Value {
  if (v.kind === 'duration') return durationComponent(decodeDuration(v), key);
  const f = decode(v);
  const k = key.toLowerCase();
  if (HAS_DATE.has(f.kind)) {
    const [y, m, d] = civilFromDays(f.epochDay);
    switch (k) {
      case 'year':
        return BigInt(y);
      case 'quarter':
        return BigInt(Math.ceil(m / 3));
      case 'month':
        return BigInt(m);
      case 'day':
        return BigInt(d);
      case 'week':
        return BigInt(isoWeek(f.epochDay)[1]);
      case 'weekyear':
        return BigInt(isoWeek(f.epochDay)[0]);
      case 'dayofweek':
      case 'weekday':
        return BigInt(dayOfWeek(f.epochDay));
      case 'ordinalday':
        return BigInt(f.epochDay - daysFromCivil(y, 1, 1) + 1);
      case 'dayofquarter':
        return BigInt(f.epochDay - daysFromCivil(y, (Math.ceil(m / 3) - 1) * 3 + 1, 1) + 1);
      default:
        break;
    }
  }
  if (HAS_TIME.has(f.kind)) {
    const secs = Math.floor(f.nano / 1e9);
    const sub = f.nano % 1e9;
    switch (k) {
      case 'hour':
        return BigInt(Math.floor(secs / 3600));
      case 'minute':
        return BigInt(Math.floor(secs / 60) % 60);
      case 'second':
        return BigInt(secs % 60);
      case 'millisecond':
        return BigInt(Math.floor(sub / 1e6));
      case 'microsecond':
        return BigInt(Math.floor(sub / 1e3));
      case 'nanosecond':
        return BigInt(sub);
      default:
        break;
    }
  }
  if (HAS_ZONE.has(f.kind)) {
    switch (k) {
      case 'timezone':
        return f.zone ?? formatOffset(f.offset);
      case 'offset':
        return formatOffset(f.offset);
      case 'offsetminutes':
        return BigInt(Math.trunc(f.offset / 60));
      case 'offsetseconds':
        return BigInt(f.offset);
      default:
        break;
    }
  }
  if (f.kind === 'datetime' && (k === 'epochseconds' || k === 'epochmillis')) {
    const [s, n] = sortKey(f);
    return k === 'epochseconds' ? BigInt(s) : BigInt(s) * 1000n + BigInt(Math.floor(n / 1e6));
  }
  return null;
}

function durationComponent(d: Duration, key: string): Value {
  // Seconds floor and the sub-second part stays in [0, 1e9), like Neo4j's (seconds, nanos) pair
  let secs = d.nanos / 1_000_000_000n;
  if (d.nanos < 0n && secs * 1_000_000_000n !== d.nanos) secs -= 1n;
  const sub = d.nanos - secs * 1_000_000_000n;
  switch (key.toLowerCase()) {
    case 'years':
      return BigInt(Math.trunc(d.months / 12));
    case 'quarters':
      return BigInt(Math.trunc(d.months / 3));
    case 'months':
      return BigInt(d.months);
    case 'weeks':
      return BigInt(Math.trunc(d.days / 7));
    case 'days':
      return BigInt(d.days);
    case 'hours':
      return secs / 3600n;
    case 'minutes':
      return secs / 60n;
    case 'seconds':
      return secs;
    case 'milliseconds':
      return secs * 1000n + sub / 1_000_000n;
    case 'microseconds':
      return secs * 1_000_000n + sub / 1_000n;
    case 'nanoseconds':
      return d.nanos;
    case 'quartersofyear':
      return BigInt(Math.trunc((d.months % 12) / 3));
    case 'monthsofquarter':
      return BigInt(d.months % 3);
    case 'monthsofyear':
      return BigInt(d.months % 12);
    case 'daysofweek':
      return BigInt(d.days % 7);
    case 'minutesofhour':
      return (secs / 60n) % 60n;
    case 'secondsofminute':
      return secs % 60n;
    case 'millisecondsofsecond':
      return sub / 1_000_000n;
    case 'microsecondsofsecond':
      return sub / 1_000n;
    case 'nanosecondsofsecond':
      return sub;
    default:
      return null;
  }
}

// ---- arithmetic ----------------------------------------------------------------------------

function shift(f: Fields, d: Duration, sign: 1 | -1): Fields {
  const out: Fields = { ...f };
  if (HAS_DATE.has(f.kind)) {
    const [y, m, day] = civilFromDays(f.epochDay);
    const totalMonths = y * 12 + (m - 1) + sign * d.months;
    const ny = Math.floor(totalMonths / 12);
    const nm = totalMonths - ny * 12 + 1;
    out.epochDay = daysFromCivil(ny, nm, Math.min(day, monthLength(ny, nm))) + sign * d.days;
  }
  const delta = Number(d.nanos) * sign;
  if (HAS_TIME.has(f.kind)) {
    const total = out.nano + delta;
    const dayShift = Math.floor(total / NANOS_PER_DAY);
    out.nano = total - dayShift * NANOS_PER_DAY;
    if (HAS_DATE.has(f.kind)) out.epochDay += dayShift;
  } else {
    out.epochDay += Math.trunc(delta / NANOS_PER_DAY);
  }
  if (out.kind === 'datetime' && out.zone !== null) out.offset = zoneOffsetForLocal(out.zone, out.epochDay, out.nano);
  return out;
}

function addDurations(a: Duration, b: Duration, sign: 1 | -1): Duration {
  return { months: a.months + sign * b.months, days: a.days + sign * b.days, nanos: a.nanos + BigInt(sign) * b.nanos };
}

export function temporalAdd(a: TemporalValue, b: TemporalValue): Value {
  if (a.kind === 'duration' && b.kind === 'duration') return formatDuration(addDurations(decodeDuration(a), decodeDuration(b), 1));
  if (b.kind === 'duration') return format(shift(decode(a), decodeDuration(b), 1));
  if (a.kind === 'duration') return format(shift(decode(b), decodeDuration(a), 1));
  throw typeError(`cannot add ${a.kind.toUpperCase()} and ${b.kind.toUpperCase()}`);
}

export function temporalSubtract(a: TemporalValue, b: TemporalValue): Value {
  if (a.kind === 'duration' && b.kind === 'duration') return formatDuration(addDurations(decodeDuration(a), decodeDuration(b), -1));
  if (b.kind === 'duration') return format(shift(decode(a), decodeDuration(b), -1));
  throw unsupported(`subtraction of ${b.kind.toUpperCase()} from ${a.kind.toUpperCase()}`);
}

/** x with float noise rounded away but a genuine fraction of a nanosecond dropped (toward zero), as Neo4j does. */
function truncateNanos(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) <= Math.abs(x) * 1e-12 ? r : Math.trunc(x);
}

/** `duration * n` and `duration / n`; fractions cascade to smaller units. */
export function durationMultiply(a: TemporalValue, factor: number, divide: boolean): Value {
  if (a.kind !== 'duration') throw typeError(`cannot multiply ${a.kind.toUpperCase()}`);
  const d = decodeDuration(a);
  const op = (x: number): number => (divide ? x / factor : x * factor);
  const spread = durationFromFields({ months: op(d.months), days: op(d.days) });
  let nanos: bigint;
  if (Number.isInteger(factor) && factor !== 0 && Math.abs(factor) <= Number.MAX_SAFE_INTEGER) {
    // Exact for integral factors; bigint division truncates toward zero
    nanos = divide ? d.nanos / BigInt(factor) : d.nanos * BigInt(factor);
  } else {
    // Whole seconds and the nanosecond remainder scale separately, so sub-nanosecond fractions are visible
    const secs = d.nanos / 1_000_000_000n;
    const sub = op(Number(d.nanos - secs * 1_000_000_000n));
    const scaledSecs = op(Number(secs));
    if (!Number.isFinite(sub) || !Number.isFinite(scaledSecs)) throw badValue('duration arithmetic overflow');
    nanos = nanosOf(scaledSecs, 1e9) + BigInt(truncateNanos(sub));
  }
  return formatDuration({ months: spread.months, days: spread.days, nanos: spread.nanos + nanos });
}

// ---- truncation ------------------------------------------------------------------------------

/** Date units, coarsest first; `day` also truncates a time to midnight. */
const DATE_UNITS: ReadonlySet<string> = new Set([
  'millennium', 'century', 'decade', 'year', 'weekyear', 'quarter', 'month', 'week', 'day',
]);
const TIME_UNIT_NANOS: Readonly<Record<string, number>> = {
  hour: 3_600_000_000_000,
  minute: 60_000_000_000,
  second: 1e9,
  millisecond: 1e6,
  microsecond: 1e3,
};

function truncateDay(epochDay: number, unit: string): number {
  const [y, m] = civilFromDays(epochDay);
  switch (unit) {
    case 'millennium':
      return daysFromCivil(floorDiv(y, 1000) * 1000, 1, 1);
    case 'century':
      return daysFromCivil(floorDiv(y, 100) * 100, 1, 1);
    case 'decade':
      return daysFromCivil(floorDiv(y, 10) * 10, 1, 1);
    case 'year':
      return daysFromCivil(y, 1, 1);
    case 'weekyear':
      return week1Monday(isoWeek(epochDay)[0]);
    case 'quarter':
      return daysFromCivil(y, (Math.ceil(m / 3) - 1) * 3 + 1, 1);
    case 'month':
      return daysFromCivil(y, m, 1);
    case 'week':
      return epochDay - (dayOfWeek(epochDay) - 1);
    default:
      return epochDay;
  }
}

/**
 * `<kind>.truncate(unit, temporal [, map])`: `temporal` cut down to `unit` as a `kind`, then the map's fields
 * override the result like a constructor map would. A `timezone` in the map replaces the zone, keeping local time.
 */
export function truncateTemporal(kind: Exclude<TemporalKind, 'duration'>, unitArg: Value, value: Value, mapArg: Value): Value {
  if (unitArg === null || value === null) return null;
  if (typeof unitArg !== 'string') throw typeError(`${kind}.truncate() unit must be a STRING, got ${typeName(unitArg)}`);
  if (!(value instanceof TemporalValue) || value.kind === 'duration') {
    throw typeError(`${kind}.truncate() cannot truncate ${typeName(value)}`);
  }
  if (mapArg !== null && !isMap(mapArg)) throw typeError(`${kind}.truncate() fields must be a MAP, got ${typeName(mapArg)}`);
  const map: ValueMap = mapArg ?? {};
  const unit = unitArg.toLowerCase();
  const unitNanos = TIME_UNIT_NANOS[unit];
  const isDateUnit = DATE_UNITS.has(unit);
  if (!isDateUnit && unitNanos === undefined) throw badValue(`unknown truncation unit ${JSON.stringify(unitArg)}`);
  const src = decode(value);
  const dateUnitOnTime = isDateUnit && unit !== 'day' && !HAS_DATE.has(kind);
  if ((kind === 'date' && !isDateUnit) || dateUnitOnTime) {
    throw badValue(`cannot truncate ${kind} to unit ${unitArg}`);
  }
  if ((HAS_DATE.has(kind) && !HAS_DATE.has(src.kind)) || (!isDateUnit && !HAS_TIME.has(src.kind))) {
    throw badValue(`cannot truncate ${src.kind} to ${kind} at unit ${unitArg}`);
  }
  const zoned = HAS_ZONE.has(src.kind);
  const f: Fields = {
    kind,
    epochDay: HAS_DATE.has(kind) ? truncateDay(src.epochDay, unit) : 0,
    nano: unitNanos === undefined ? 0 : src.nano - (src.nano % unitNanos),
    offset: zoned ? src.offset : 0,
    zone: zoned ? src.zone : null,
  };
  const tz = map['timezone'];
  if (typeof tz === 'string') applyTimezone(f, tz);
  if (!HAS_ZONE.has(kind)) {
    f.offset = 0;
    f.zone = null;
  } else if (kind === 'time') {
    f.zone = null;
  } else if (f.zone !== null) {
    f.offset = zoneOffsetForLocal(f.zone, f.epochDay, f.nano);
  }
  const overrides: ValueMap = {};
  for (const [k, v] of Object.entries(map)) if (k !== 'timezone') overrides[k] = v;
  if (Object.keys(overrides).length === 0) return format(f);
  // dayOfWeek alone moves within the truncated week
  if ('dayOfWeek' in overrides && !('week' in overrides) && HAS_DATE.has(kind)) {
    overrides['week'] = BigInt(isoWeek(f.epochDay)[1]);
  }
  const baseKey = kind === 'date' ? 'date' : HAS_DATE.has(kind) ? 'datetime' : 'time';
  return format(fromMap(kind, { ...overrides, [baseKey]: format(f) }));
}

function truncator(kind: Exclude<TemporalKind, 'duration'>): [string, FunctionDef] {
  return [
    `${kind}.truncate`,
    { min: 2, max: 3, call: (a) => truncateTemporal(kind, a[0] ?? null, a[1] ?? null, a[2] ?? null) },
  ];
}

// ---- durations between temporals -------------------------------------------------------------

const NANOS_PER_DAY_N = 86_400_000_000_000n;

export type BetweenUnit = 'all' | 'months' | 'days' | 'seconds';

/** Epoch nanoseconds of a local date-time, minus the offset when zoned. */
function epochNanos(f: Fields, zoned: boolean): bigint {
  const local = BigInt(f.epochDay) * NANOS_PER_DAY_N + BigInt(f.nano);
  return zoned ? local - BigInt(f.offset) * 1_000_000_000n : local;
}

function offsetFor(zoneOf: Fields, epochDay: number, nano: number): number {
  return zoneOf.zone === null ? zoneOf.offset : zoneOffsetForLocal(zoneOf.zone, epochDay, nano);
}

/** The other operand's missing date, time (midnight) and zone borrowed from its partner, as Neo4j does. */
function alignOperands(a: Fields, b: Fields): { from: Fields; to: Fields; zoned: boolean } {
  const from: Fields = { ...a };
  const to: Fields = { ...b };
  if (HAS_DATE.has(a.kind) && !HAS_DATE.has(b.kind)) to.epochDay = a.epochDay;
  else if (HAS_DATE.has(b.kind) && !HAS_DATE.has(a.kind)) from.epochDay = b.epochDay;
  const za = HAS_ZONE.has(a.kind);
  const zb = HAS_ZONE.has(b.kind);
  if (za && !zb) {
    to.zone = a.zone;
    to.offset = offsetFor(a, to.epochDay, to.nano);
  } else if (zb && !za) {
    from.zone = b.zone;
    from.offset = offsetFor(b, from.epochDay, from.nano);
  }
  return { from, to, zoned: za || zb };
}

/** Splits epoch nanoseconds into [epochDay, nano of day]. */
function splitNanos(n: bigint): [number, number] {
  let day = n / NANOS_PER_DAY_N;
  if (n < 0n && day * NANOS_PER_DAY_N !== n) day -= 1n;
  return [Number(day), Number(n - day * NANOS_PER_DAY_N)];
}

/** The end date for whole-unit counting: a partial last day does not count (java.time's until). */
function adjustedEndDay(fromDay: number, fromNano: number, toDay: number, toNano: number): number {
  if (toDay > fromDay && toNano < fromNano) return toDay - 1;
  if (toDay < fromDay && toNano > fromNano) return toDay + 1;
  return toDay;
}

function monthsBetween(fromDay: number, toDay: number): number {
  const [y1, m1, d1] = civilFromDays(fromDay);
  const [y2, m2, d2] = civilFromDays(toDay);
  const packed1 = (y1 * 12 + m1 - 1) * 32 + d1;
  const packed2 = (y2 * 12 + m2 - 1) * 32 + d2;
  return Math.trunc((packed2 - packed1) / 32);
}

function plusMonths(epochDay: number, months: number): number {
  const [y, m, d] = civilFromDays(epochDay);
  const total = y * 12 + (m - 1) + months;
  const ny = Math.floor(total / 12);
  const nm = total - ny * 12 + 1;
  return daysFromCivil(ny, nm, Math.min(d, monthLength(ny, nm)));
}

/** `duration.between` (unit 'all'), `duration.inMonths`, `inDays`, `inSeconds`. */
export function durationBetween(unit: BetweenUnit, lhs: Value, rhs: Value): Value {
  if (lhs === null || rhs === null) return null;
  for (const v of [lhs, rhs]) {
    if (!(v instanceof TemporalValue) || v.kind === 'duration') {
      throw typeError(`duration.between() expects two dates or times, got ${typeName(v)}`);
    }
  }
  const a = decode(lhs as TemporalValue);
  const b = decode(rhs as TemporalValue);
  const { from, to, zoned } = alignOperands(a, b);
  const toInstant = epochNanos(to, zoned);
  if (unit === 'seconds' || !HAS_DATE.has(a.kind) || !HAS_DATE.has(b.kind)) {
    if (unit === 'months' || unit === 'days') return formatDuration({ months: 0, days: 0, nanos: 0n });
    return formatDuration({ months: 0, days: 0, nanos: toInstant - epochNanos(from, zoned) });
  }
  // The end as a local date-time in the start's zone
  let [toDay, toNano] = [to.epochDay, to.nano];
  if (zoned) {
    const utc = toInstant;
    const offset = from.zone === null ? from.offset : zoneOffsetAt(from.zone, Number(utc / 1_000_000n));
    [toDay, toNano] = splitNanos(utc + BigInt(offset) * 1_000_000_000n);
  }
  if (unit === 'days') {
    return formatDuration({ months: 0, days: adjustedEndDay(from.epochDay, from.nano, toDay, toNano) - from.epochDay, nanos: 0n });
  }
  const months = monthsBetween(from.epochDay, adjustedEndDay(from.epochDay, from.nano, toDay, toNano));
  if (unit === 'months') return formatDuration({ months, days: 0, nanos: 0n });
  const afterMonths = plusMonths(from.epochDay, months);
  const days = adjustedEndDay(afterMonths, from.nano, toDay, toNano) - afterMonths;
  const mid: Fields = { ...from, epochDay: afterMonths + days };
  if (zoned) mid.offset = offsetFor(from, mid.epochDay, mid.nano);
  return formatDuration({ months, days, nanos: toInstant - epochNanos(mid, zoned) });
}

function between(name: string, unit: BetweenUnit): [string, FunctionDef] {
  return [name, { min: 2, max: 2, call: (a) => durationBetween(unit, a[0] ?? null, a[1] ?? null) }];
}
