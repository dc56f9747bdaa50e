/**
 * Where a client is: its address (X-Forwarded-For believed only from trusted
 * proxies), located with geoip-lite, mapped to the nearest configured region.
 */
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';
import { addTrusted } from '../config.js';

export interface GeoPoint {
  lat: number;
  lon: number;
}

export interface RegionPoint extends GeoPoint {
  name: string;
}

const EARTH_RADIUS_KM = 6371;
const rad = (deg: number): number => (deg * Math.PI) / 180;

/** Great-circle distance (haversine). */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) addTrusted(list, entry);
  return list;
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`, so IPv4 rules and lookups apply. */
function plainAddress(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the direct peer, unless the peer is a trusted proxy;
 * then the rightmost X-Forwarded-For hop that is not itself trusted.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: BlockList): string | undefined {
  const direct = peer === undefined ? undefined : plainAddress(peer);
  if (direct === undefined || !isTrusted(trusted, direct) || forwardedFor === undefined) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map(plainAddress).filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (isIP(hop) === 0) return direct;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return hops[0] ?? direct;
}

interface GeoLookup {
  lookup(ip: string): { ll: [number, number] } | null;
}

let geo: GeoLookup | undefined;

/** geoip-lite loads its database (~1 s, ~150 MB) on first use, so only sessions that ask for `nearest` pay for it. */
function geoLookup(): GeoLookup {
  if (geo === undefined) geo = createRequire(import.meta.url)('geoip-lite') as GeoLookup;
  return geo;
}

export function locate(address: string | undefined): GeoPoint | undefined {
  if (address === undefined || isIP(address) === 0) return undefined;
  const found = geoLookup().lookup(address);
  if (found === null) return undefined;
  return { lat: found.ll[0], lon: found.ll[1] };
}

/** The configured region closest to a point. */
export function nearestRegion(point: GeoPoint, regions: readonly RegionPoint[]): RegionPoint | undefined {
  let best: RegionPoint | undefined;
  let bestKm = Infinity;
  for (const region of regions) {
    const km = distanceKm(point, region);
    if (km < bestKm) {
      best = region;
      bestKm = km;
    }
  }
  return best;
}
