/**
 * The storage node's HTTP server. `build()` wires plugins and returns an
 * instance that tests drive with `inject()` and the CLI with `listen()`.
 * Two modes: `{engine}` serves one local engine; `{node}` serves a cluster
 * StorageNode (queries routed by Raft role, cluster status and watch, admin
 * routes, HA metrics, and the Raft stream on the same port).
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DestinationStream, LoggerOptions } from 'pino';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { BackgroundWork } from './background.js';
import type { QueryBackend } from './backend.js';
import { ClusterBackend } from './cluster-backend.js';
import { NodeHandle } from './cluster-node.js';
import type { ClusterNodeSource } from './cluster-node.js';
import { installErrorHandlers } from './errors.js';
import { LocalBackend } from './local-backend.js';
import { createNodeMetrics, registerClusterMetrics, registerMetricsRoute } from './metrics.js';
import { NodeState } from './node-state.js';
import type { ApiEngine } from './node-state.js';
import { clusterRoutes } from './routes/cluster.js';
import { backupRoutes } from './routes/backup.js';
import { registerBackupMetrics } from './backup-metrics.js';
import { healthRoutes } from './routes/health.js';
import { createQueryRunner, queryRoutes } from './routes/query.js';
import type { QueryRunner } from './routes/query.js';
import { QueryStreamServer } from './query-stream.js';
import { laneHost } from './read-lanes.js';
import type { MessagePort } from 'node:worker_threads';
import type { ClusterNode } from './cluster-node.js';
import { QUERY_STREAM_PATH } from '../../shared/protocol/query-stream.js';
import { ClusterWatch, WATCH_PATH } from './watch.js';

export type { ApiEngine } from './node-state.js';
export type { ClusterNode, ClusterNodeSource } from './cluster-node.js';
export type { QueryBackend } from './backend.js';

/** pino options, plus where to write (default stdout). */
export type NodeLoggerOptions = LoggerOptions & { stream?: DestinationStream };

interface CommonBuildOptions {
  nodeId: string;
  region?: string;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** Query time limit when the request gives no `timeout_ms`; default 30 s. */
  defaultTimeoutMs?: number;
  /** false (default) for silence, true for info-level JSON logs, or pino options. */
  logger?: boolean | NodeLoggerOptions;
}

/** One process, one local engine: no replication. */
export interface LocalBuildOptions extends CommonBuildOptions {
  engine: ApiEngine;
  node?: never;
}

/** A cluster member: queries, status, watch, admin and the Raft stream go through the StorageNode. */
export interface ClusterBuildOptions extends CommonBuildOptions {
  /** The node, or a getter for a node built after `listen()` (port 0); until then routes answer 503. */
  node: ClusterNodeSource;
  engine?: never;
  /** Bearer token of the admin routes; without one they always answer 401. */
  adminToken?: string;
  /** Watch pushes at most one message per this many ms; default 20. */
  watchCoalesceMs?: number;
}

export type BuildOptions = LocalBuildOptions | ClusterBuildOptions;

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;

export function build(options: BuildOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    logger: loggerOptions(options.logger ?? false, options.nodeId),
    // Clients may send their own id; it ties the node's log lines to the gateway's.
    requestIdHeader: 'x-request-id',
    // A query answer is one JSON document; keep-alive clients must not hold shutdown forever.
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();
  // TypeBox's own checker: no type coercion, so `{"query": 5}` is refused, not turned into "5".
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  const state = new NodeState(options.nodeId, options.region);
  const metrics = createNodeMetrics(options.nodeId);
  installErrorHandlers(app);

  let backend: QueryBackend;
  let handle: NodeHandle | undefined;
  let watchCoalesceMs: number | undefined;
  if (options.engine !== undefined) {
    const engine = options.engine;
    const background = new BackgroundWork({
      step: () => engine.backgroundStep(),
      onError: (error) => app.log.error({ err: error }, 'background schema work failed'),
    });
    backend = new LocalBackend(engine, state, metrics, background);
    // Resume online index builds and migrations left unfinished by a previous process.
    app.addHook('onReady', async () => background.kick());
    app.addHook('onClose', async () => background.stop());
  } else {
    handle = new NodeHandle(options.node);
    watchCoalesceMs = options.watchCoalesceMs;
    backend = new ClusterBackend(handle);
    void app.register(clusterRoutes, { handle, adminToken: options.adminToken });
    registerClusterMetrics(metrics, handle);
    void app.register(backupRoutes, { handle, adminToken: options.adminToken });
    registerBackupMetrics(metrics, handle);
  }
  // The query route and the query stream run queries through one runner.
  const defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const run = createQueryRunner({ backend, metrics, defaultTimeoutMs });
  if (handle !== undefined) {
    const lanes = laneHost({ run, metrics, bodyLimit, defaultTimeoutMs, onError: (error) => app.log.warn({ err: error }, 'read lane failed') });
    serveClusterSockets(app, handle, run, lanes, bodyLimit, watchCoalesceMs);
  }
  void app.register(healthRoutes, { backend, state });
  void app.register(queryRoutes, { run });
  registerMetricsRoute(app, metrics);
  return app;
}

/**
 * The node's WebSocket paths on the same port: the Raft stream, the cluster watch and the query stream.
 * A query stream opened with `?lane=K` is redirected to read lane K (modulo their number) when the
 * node has lanes (read-lane.ts); without the parameter, or without lanes, this thread serves it.
 */
function serveClusterSockets(app: FastifyInstance, handle: NodeHandle, run: QueryRunner, lanes: (channel: MessagePort) => void, bodyLimit: number, watchCoalesceMs: number | undefined): void {
  const watch = new ClusterWatch({
    ...(watchCoalesceMs !== undefined ? { coalesceMs: watchCoalesceMs } : {}),
    onError: (error) => app.log.warn({ err: error }, 'watch client failed'),
  });
  const stream = new QueryStreamServer({ run, bodyLimit, onError: (error) => app.log.warn({ err: error }, 'query stream failed') });
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const node = handle.current();
    // Raft stream first; before the node exists a peer is refused and retries with backoff.
    if (node === undefined || node.handleUpgrade(request, socket, head)) {
      if (node === undefined) socket.destroy();
      return;
    }
    const [path, search] = (request.url ?? '').split('?');
    if (path === WATCH_PATH) watch.accept(node, request, socket, head);
    else if (path === QUERY_STREAM_PATH) {
      const location = laneLocation(node, request, search, lanes);
      if (location === undefined) stream.accept(request, socket, head);
      else socket.end(`HTTP/1.1 307 Temporary Redirect\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    } else socket.destroy();
  });
  app.addHook('onClose', async () => {
    watch.close();
    stream.close();
  });
}

/** Where a query stream that asks for lane K goes: the lane's port on the host name the client used; undefined to stay here. */
function laneLocation(node: ClusterNode, request: IncomingMessage, search: string | undefined, lanes: (channel: MessagePort) => void): string | undefined {
  if (search === undefined || node.readLanePorts === undefined) return undefined;
  const lane = new URLSearchParams(search).get('lane');
  const k = lane === null || lane === '' ? Number.NaN : Number(lane);
  const host = request.headers.host;
  if (!Number.isInteger(k) || k < 0 || host === undefined) return undefined;
  const ports = node.readLanePorts();
  if (ports.length === 0) return undefined;
  let hostname: string;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
  // Before the first redirect, so a lane's forwarded reads always find the runner.
  node.attachReadLanes?.(lanes);
  return `ws://${hostname}:${ports[k % ports.length] as number}${QUERY_STREAM_PATH}`;
}

function loggerOptions(logger: boolean | NodeLoggerOptions, nodeId: string): boolean | NodeLoggerOptions {
  if (logger === false) return false;
  const base = logger === true ? {} : logger;
  return { level: 'info', ...base, base: { pid: process.pid, node: nodeId, ...(base.base ?? {}) } };
}
