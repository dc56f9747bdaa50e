/** Request bodies as JSON text, with bigint parameters written as exact JSON integers. */
import { randomBytes } from 'node:crypto';

/** A marker no user string contains, so that only our placeholders are unquoted. */
const MARK = `__geode_bigint_${randomBytes(8).toString('hex')}__`;
const PLACEHOLDER = new RegExp(`"${MARK}(-?\\d+)"`, 'g');

export function encodeBody(body: Record<string, unknown>): string {
  let sawBigint = false;
  const text = JSON.stringify(body, (_key, value: unknown) => {
    if (typeof value === 'bigint') {
      sawBigint = true;
      return `${MARK}${value.toString()}`;
    }
    return value;
  });
  return sawBigint ? text.replace(PLACEHOLDER, '$1') : text;
}
