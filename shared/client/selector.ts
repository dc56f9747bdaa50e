/** Client-side choice among configured replicas: an ordering, best first, the rest as fallbacks. */
import type { Endpoint } from './endpoint.js';

export enum ReplicaSelector {
  /** Each read starts at the next replica in turn. */
  ROUND_ROBIN = 'round_robin',
  /** The replica with the fewest calls in flight from this client first. */
  LEAST_CONNECTIONS = 'least_connections',
  /** The replica with the lowest measured /healthz round trip first. */
  NEAREST = 'nearest',
}

export function isReplicaSelector(value: string): value is ReplicaSelector {
  return value === 'round_robin' || value === 'least_connections' || value === 'nearest';
}

/** Orders replicas for one read; healthy ones before ones that failed recently. */
export class ReplicaOrder {
  private next = 0;

  order(replicas: readonly Endpoint[], selector: ReplicaSelector): Endpoint[] {
    if (replicas.length === 0) return [];
    let ordered: Endpoint[];
    switch (selector) {
      case ReplicaSelector.ROUND_ROBIN: {
        const start = this.next++ % replicas.length;
        ordered = [...replicas.slice(start), ...replicas.slice(0, start)];
        break;
      }
      case ReplicaSelector.LEAST_CONNECTIONS: {
        // Ties rotate so that an idle cluster still spreads reads.
        const start = this.next++ % replicas.length;
        const rotated = [...replicas.slice(start), ...replicas.slice(0, start)];
        ordered = rotated.sort((a, b) => a.inflight - b.inflight);
        break;
      }
      case ReplicaSelector.NEAREST:
        ordered = [...replicas].sort((a, b) => (a.rttMs ?? Number.POSITIVE_INFINITY) - (b.rttMs ?? Number.POSITIVE_INFINITY));
        break;
    }
    // Stable: keeps the policy's order within each health group.
    return [...ordered.filter((e) => e.healthy), ...ordered.filter((e) => !e.healthy)];
  }
}
