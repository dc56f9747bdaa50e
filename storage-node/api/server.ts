/**
 * The storage node's HTTP server. `build()` wires plugins and returns an
 * instance that tests drive with `inject()` and the CLI with `listen()`.
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { BackgroundWork } from './background.js';
import { installErrorHandlers } from './errors.js';
import { createNodeMetrics, registerMetricsRoute } from './metrics.js';
import { NodeState } from './node-state.js';
import type { ApiEngine } from './node-state.js';
import { healthRoutes } from './routes/health.js';
import { queryRoutes } from './routes/query.js';

export type { ApiEngine } from './node-state.js';

/** pino options, plus where to write (default stdout). */
export type NodeLoggerOptions = LoggerOptions & { stream?: DestinationStream };

export interface BuildOptions {
  engine: ApiEngine;
  nodeId: string;
  region?: string;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** Query time limit when the request gives no `timeout_ms`; default 30 s. */
  defaultTimeoutMs?: number;
  /** false (default) for silence, true for info-level JSON logs, or pino options. */
  logger?: boolean | NodeLoggerOptions;
}

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
  const background = new BackgroundWork({
    step: () => options.engine.backgroundStep(),
    onError: (error) => app.log.error({ err: error }, 'background schema work failed'),
  });

  installErrorHandlers(app);
  void app.register(healthRoutes, { engine: options.engine, state });
  void app.register(queryRoutes, {
    engine: options.engine,
    state,
    metrics,
    background,
    defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
  });
  registerMetricsRoute(app, metrics);

  // Resume online index builds and migrations left unfinished by a previous process.
  app.addHook('onReady', async () => background.kick());
  app.addHook('onClose', async () => background.stop());
  return app;
}

function loggerOptions(logger: boolean | NodeLoggerOptions, nodeId: string): boolean | NodeLoggerOptions {
  if (logger === false) return false;
  const base = logger === true ? {} : logger;
  return { level: 'info', ...base, base: { pid: process.pid, node: nodeId, ...(base.base ?? {}) } };
}
