/**
 * The admin token check, one for every server that has admin routes (node, gateway, `geode dev`'s
 * control endpoint): `Authorization: Bearer <admin_token>`, compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Compares digests, so neither the token's content nor its length leaks through timing. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Whether `header` presents `expected`; never true when no token is configured. */
export function adminAuthorized(header: string | undefined, expected: string | undefined): boolean {
  const presented = bearerToken(header);
  return expected !== undefined && expected !== '' && presented !== undefined && tokenMatches(presented, expected);
}
