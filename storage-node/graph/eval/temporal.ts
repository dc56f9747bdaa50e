/**
 * Temporal values: construction from the statement clock, ISO text or maps,
 * comparison, and component access. Values travel as TemporalValue(kind, iso).
 */
import type { TemporalValue } from '../../../shared/gql/values.js';

/** Sortable instant-or-time of a non-duration temporal: [seconds, nanoseconds]. */
export function compareTemporal(a: TemporalValue, b: TemporalValue): number {
  return a.iso < b.iso ? -1 : a.iso > b.iso ? 1 : 0;
}
