/**
 * Comprehensive health check (seed: "Health Check Implementation"):
 * connectivity, replication lag, cluster nodes and disk, folded into
 * healthy / degraded / unhealthy.
 *
 * The seed reads `system.replication_status` and `system.cluster_nodes`. A
 * Geode node answers those views from its own engine: `MAX(replication_lag_ms)`
 * is null and `cluster_nodes` holds one `standalone` row for the local engine.
 * The cluster's real view is `GET /api/v1/cluster/status` (the gateway's merged
 * view, or a node's), so the check uses the views when they carry cluster data
 * and the status route otherwise, and says which it used.
 *
 *   node --import tsx examples/health-check.ts <url>
 */
import { statfs } from 'node:fs/promises';
import { Client } from '../shared/client/index.js';
import { DEFAULT_URL, runIfMain } from './run.js';

export enum HealthStatus {
  HEALTHY = 'healthy',
  DEGRADED = 'degraded',
  UNHEALTHY = 'unhealthy',
}

export interface Check {
  status: 'pass' | 'warn' | 'fail';
  [detail: string]: unknown;
}

export interface HealthCheck {
  status: HealthStatus;
  checks: Record<string, Check>;
  timestamp: Date;
}

interface StatusNode {
  id?: unknown;
  status?: unknown;
  role?: unknown;
  replication_lag?: unknown;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Percent of the filesystem holding `path` in use. */
export async function getDiskUsage(path = process.cwd()): Promise<number> {
  const stats = await statfs(path);
  const total = stats.blocks * stats.bsize;
  return total === 0 ? 0 : Math.round((1 - (stats.bavail * stats.bsize) / total) * 1000) / 10;
}

async function clusterNodes(client: Client): Promise<StatusNode[]> {
  const status = await client.clusterStatus();
  return Array.isArray(status['nodes']) ? (status['nodes'] as StatusNode[]) : [];
}

async function replicationCheck(client: Client, lagBoundMs: number): Promise<Check> {
  let viewLag: unknown = null;
  try {
    const [lag] = await client.query('SELECT MAX(replication_lag_ms) as max_lag FROM system.replication_status');
    viewLag = lag.rows.length > 0 ? (lag.rows[0]?.['max_lag'] ?? null) : 0;
  } catch {
    // The view is not served here: the status route below is the source.
  }
  if (typeof viewLag === 'number') return { status: viewLag < lagBoundMs ? 'pass' : 'warn', lag_ms: viewLag, source: 'system.replication_status' };
  const lags = (await clusterNodes(client)).map((n) => n.replication_lag).filter((l): l is number => typeof l === 'number');
  const known = lags.filter((l) => l >= 0);
  const lagMs = known.length > 0 ? Math.max(...known) : 0;
  const unknown = lags.length - known.length;
  return { status: lagMs < lagBoundMs && unknown === 0 ? 'pass' : 'warn', lag_ms: lagMs, unknown_lags: unknown, source: '/api/v1/cluster/status' };
}

async function nodesCheck(client: Client): Promise<Check> {
  let rows: { node_id: unknown; status: unknown; role: unknown }[] = [];
  try {
    const [nodes] = await client.query('SELECT * FROM system.cluster_nodes');
    rows = nodes.rows.map((r) => ({ node_id: r['node_id'], status: r['status'], role: r['role'] }));
  } catch {
    // Not served: fall back to the status route.
  }
  let source = 'system.cluster_nodes';
  // One `standalone` row is the local engine's view, not the cluster's.
  if (rows.length === 0 || rows.every((r) => r.role === 'standalone')) {
    rows = (await clusterNodes(client)).map((n) => ({ node_id: n.id, status: n.status, role: n.role }));
    source = '/api/v1/cluster/status';
  }
  const healthy = rows.filter((r) => r.status === 'healthy').length;
  const status = rows.length === 0 || healthy <= rows.length / 2 ? 'fail' : healthy < rows.length ? 'warn' : 'pass';
  return { status, healthy, total: rows.length, nodes: rows, source };
}

/** Perform comprehensive health check. */
export async function comprehensiveHealthCheck(client: Client, options: { lagBoundMs?: number; diskPath?: string } = {}): Promise<HealthCheck> {
  const checks: Record<string, Check> = {};

  // Database connectivity
  try {
    const started = performance.now();
    await client.execute('MATCH (n) RETURN n LIMIT 1');
    checks['database'] = { status: 'pass', latency_ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (error) {
    checks['database'] = { status: 'fail', error: errorText(error) };
  }

  // Replication lag
  try {
    checks['replication'] = await replicationCheck(client, options.lagBoundMs ?? 100);
  } catch (error) {
    checks['replication'] = { status: 'fail', error: errorText(error) };
  }

  // Cluster nodes
  try {
    checks['nodes'] = await nodesCheck(client);
  } catch (error) {
    checks['nodes'] = { status: 'fail', error: errorText(error) };
  }

  // Disk space
  try {
    const diskUsage = await getDiskUsage(options.diskPath);
    checks['disk'] = { status: diskUsage < 80 ? 'pass' : 'warn', usage_percent: diskUsage };
  } catch (error) {
    checks['disk'] = { status: 'warn', error: errorText(error) };
  }

  // Overall status
  const all = Object.values(checks);
  const status = all.some((c) => c.status === 'fail') ? HealthStatus.UNHEALTHY : all.some((c) => c.status === 'warn') ? HealthStatus.DEGRADED : HealthStatus.HEALTHY;
  return { status, checks, timestamp: new Date() };
}

export async function main(url: string = DEFAULT_URL): Promise<HealthCheck> {
  await using client = new Client({ url, deadlineMs: 10_000 });
  // `return await`: the client must outlive the check, not be disposed when the promise is returned.
  return await comprehensiveHealthCheck(client);
}

runIfMain(import.meta.url, (args) => main(args[0]));
