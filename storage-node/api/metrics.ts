/**
 * Prometheus metrics of one node server. Each server owns its Registry, so
 * several servers in one process (tests, `geode dev`) never share counters.
 * Label values are bounded: `kind` is a StatementKind or `unknown`,
 * `outcome` is `ok` or an error code.
 */
import { Type } from 'typebox';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { StatementKind } from '../../shared/gql/ast.js';
import type { ErrorCode } from '../../shared/protocol/errors.js';
import type { NodeHandle } from './cluster-node.js';

export type QueryKindLabel = StatementKind | 'unknown';
export type QueryOutcomeLabel = 'ok' | ErrorCode;

export interface NodeMetrics {
  registry: Registry;
  queriesTotal: Counter<'kind' | 'outcome'>;
  queryDurationSeconds: Histogram<'kind'>;
  sqliteSeconds: Histogram;
}

/** From 100 µs (an indexed point read) to 30 s (the default timeout). */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createNodeMetrics(nodeId: string): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry, prefix: 'geode_' });
  return {
    registry,
    queriesTotal: new Counter({
      name: 'geode_queries_total',
      help: 'Queries answered, by statement kind and outcome (ok or error code).',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    queryDurationSeconds: new Histogram({
      name: 'geode_query_duration_seconds',
      help: 'Time from request body parsed to response ready, by statement kind.',
      labelNames: ['kind'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    sqliteSeconds: new Histogram({
      name: 'geode_sqlite_seconds',
      help: 'Time spent inside the graph engine (SQLite and the query executor) per statement.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}

/**
 * The seed's HA metrics and Raft's counters, read from the node at scrape
 * time (no timer). Per-member series carry the member as `node` (overriding
 * the registry's default label).
 *
 * A series is exported only by a node that knows its value, so a sum or a
 * max over every node's scrape is right: the leader exports every member's
 * health and lag and the quorum; a follower exports only its own lag (and
 * none while it cannot know it). A failover is counted once, by the node
 * that took over (StorageNode.failovers).
 */
export function registerClusterMetrics(metrics: NodeMetrics, handle: NodeHandle): void {
  const registers = [metrics.registry];
  const status = () => handle.current()?.clusterStatus();
  new Gauge({
    name: 'geode_replication_lag_seconds',
    help: 'How far a member is behind the leader, in seconds: every member on the leader, itself on a follower (unknown lags are left out).',
    labelNames: ['node'] as const,
    registers,
    collect() {
      this.reset();
      const current = status();
      if (current === undefined) return;
      for (const member of current.nodes) {
        if (current.view !== 'complete' && member.id !== current.node) continue;
        if (member.replication_lag >= 0) this.set({ node: member.id }, member.replication_lag / 1000);
      }
    },
  });
  new Gauge({
    name: 'geode_node_health',
    help: 'Each member, exported by the leader only (it alone hears from all): 1 healthy, 0 unreachable.',
    labelNames: ['node'] as const,
    registers,
    collect() {
      this.reset();
      const current = status();
      if (current?.view !== 'complete') return;
      for (const member of current.nodes) this.set({ node: member.id }, member.status === 'healthy' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'geode_quorum_healthy',
    help: 'Exported by the leader only: 1 when every voter is healthy, 0 when the quorum is degraded or lost.',
    // Labelled (with the node's own name, as every series is), so that a follower can export no sample at all.
    labelNames: ['node'] as const,
    registers,
    collect() {
      this.reset();
      const current = status();
      if (current?.view === 'complete') this.set({ node: current.node }, current.quorum_status === 'healthy' ? 1 : 0);
    },
  });
  // Regions: the region's own lag and epoch, from the node that knows them (its leader; on the primary, lag 0).
  const region = () => {
    const node = handle.current();
    try {
      return node?.regionStatus?.();
    } catch {
      return undefined;
    }
  };
  new Gauge({
    name: 'geode_region_replication_lag_seconds',
    help: 'How long ago this region had applied everything the primary region had committed, in seconds (0 on the primary); exported by the region leader, left out while unknown.',
    labelNames: ['region'] as const,
    registers,
    collect() {
      this.reset();
      const r = region();
      if (r === undefined || !r.leader || r.lag_ms === null || r.regions.length === 0) return;
      this.set({ region: r.region }, r.lag_ms / 1000);
    },
  });
  new Gauge({
    name: 'geode_region_epoch',
    help: 'The region epoch this node has applied (regions only): it grows with every promotion.',
    labelNames: ['region'] as const,
    registers,
    collect() {
      this.reset();
      const r = region();
      if (r === undefined || r.regions.length === 0) return;
      this.set({ region: r.region }, r.epoch);
    },
  });
  // A counter mirrors node.failovers: only the increase since the last scrape is added.
  let failoversSeen = 0;
  new Counter({
    name: 'geode_failover_total',
    help: 'Failovers this node took over as the new leader since it started (sum over nodes: every failover once).',
    registers,
    collect() {
      const failovers = handle.current()?.failovers ?? 0;
      if (failovers > failoversSeen) this.inc(failovers - failoversSeen);
      failoversSeen = Math.max(failoversSeen, failovers);
    },
  });
  const raftGauge = (name: string, help: string, read: (s: NonNullable<ReturnType<typeof status>>) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const current = status();
        if (current !== undefined) this.set(read(current));
      },
    });
  };
  // Disk and apply work, as running totals: rate(seconds) / rate(writes) is the mean write (fsync) time,
  // rate(entries) / rate(writes) the group-commit batch size; the same for apply.
  const total = (name: string, help: string, read: (node: NonNullable<ReturnType<NodeHandle['current']>>) => number): void => {
    runningTotal(metrics, name, help, () => {
      const node = handle.current();
      return node === undefined ? undefined : read(node);
    });
  };
  total('geode_raft_log_writes_total', 'Raft log write transactions committed to disk (one fsync each).', (n) => n.logStats?.batches ?? 0);
  total('geode_raft_log_entries_written_total', 'Raft log entries written to disk.', (n) => n.logStats?.entries ?? 0);
  total('geode_raft_log_write_seconds_total', 'Seconds spent writing the Raft log (SQLite work and fsync).', (n) => n.logStats?.seconds ?? 0);
  total('geode_apply_batches_total', 'Batches of committed entries applied to the graph (one SQLite transaction each).', (n) => n.applyStats?.batches ?? 0);
  total('geode_applied_entries_total', 'Committed entries applied to the graph.', (n) => n.applyStats?.entries ?? 0);
  total('geode_apply_seconds_total', 'Seconds spent applying committed entries to the graph.', (n) => n.applyStats?.seconds ?? 0);
  raftGauge('geode_raft_term', 'Current Raft term.', (s) => s.term);
  raftGauge('geode_raft_commit_index', 'Highest log index known committed.', (s) => s.commit_index);
  raftGauge('geode_raft_applied_index', 'Highest log index applied to the local graph.', (s) => s.applied_index);
  raftGauge('geode_raft_is_leader', '1 when this node is the Raft leader.', (s) => (s.leader === s.node ? 1 : 0));
}

/**
 * A counter that mirrors a running total kept elsewhere (the node's), read at scrape time: only the
 * increase since the last scrape is added. `read` answers undefined when there is nothing to read.
 */
export function runningTotal(metrics: NodeMetrics, name: string, help: string, read: () => number | undefined): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [metrics.registry],
    collect() {
      const value = read();
      if (value === undefined) return;
      // A node restarted in this process starts from zero again: count on from there.
      if (value < seen) seen = 0;
      if (value > seen) this.inc(value - seen);
      seen = value;
    },
  });
}

/** `GET /metrics` in the Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, metrics: NodeMetrics): void {
  app.get('/metrics', { schema: { response: { 200: Type.String() } } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
