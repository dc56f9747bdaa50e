/**
 * The gateway server: `build(options)` returns a fastify instance (tests call
 * `inject()`); `startGateway(config)` listens and returns `{url, close()}` for
 * the CLI. The topology starts watching the nodes as soon as it is built.
 */
import { createServer } from 'node:http';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyServerFactory } from 'fastify';
import type { LoggerOptions } from 'pino';
import type { BreakerOptions } from './breakers/breakers.js';
import type { GatewayConfig } from './config.js';
import { GatewayCore } from './core.js';
import { installErrorHandling } from './api/errors.js';
import { QueryEndpoint, isQueryRequest } from './api/query-endpoint.js';
import { registerRoutes } from './api/routes.js';
import { GatewaySockets } from './api/ws.js';
import { trustedProxyList } from './routing/geo.js';

export interface GatewayBuildOptions {
  config: GatewayConfig;
  /** fastify logger: false (default), true, or pino options. */
  logger?: boolean | LoggerOptions;
  breakers?: BreakerOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    gateway: GatewayCore;
  }
}

export async function build(options: GatewayBuildOptions): Promise<FastifyInstance> {
  const { config } = options;
  const core = new GatewayCore(config, options.breakers !== undefined ? { breakers: options.breakers } : {});
  const trusted = trustedProxyList(config.trustedProxies);
  const sockets = new GatewaySockets(core, trusted);
  let app: FastifyInstance | undefined;
  const queries = new QueryEndpoint({ core, trusted, bodyLimit: config.bodyLimit, onInternalError: (err) => app?.log.error({ err }, 'internal error') });
  // POST /v1/query goes straight to QueryEndpoint; everything else through fastify's router.
  const serverFactory: FastifyServerFactory = (handler, opts) => {
    const server = createServer((request, response) => (isQueryRequest(request) ? queries.serve(request, response) : handler(request, response)));
    // What fastify sets on the servers it creates itself.
    if (typeof opts.keepAliveTimeout === 'number') server.keepAliveTimeout = opts.keepAliveTimeout;
    if (typeof opts.requestTimeout === 'number') server.requestTimeout = opts.requestTimeout;
    if (typeof opts.connectionTimeout === 'number') server.setTimeout(opts.connectionTimeout);
    return server;
  };
  app = Fastify({
    serverFactory,
    logger: options.logger ?? false,
    bodyLimit: config.bodyLimit,
    // X-Forwarded-For is interpreted by our own trusted-proxy rule, not fastify's.
    trustProxy: false,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  app.decorate('gateway', core);
  installErrorHandling(app);
  await registerRoutes(app, core, queries);
  app.server.on('upgrade', (request, socket, head) => {
    // @fastify/http-proxy does not proxy WebSockets here, so every other upgrade is ours to refuse.
    if (!sockets.handleUpgrade(request, socket, head)) socket.destroy();
  });
  app.addHook('preClose', () => {
    queries.close();
  });
  app.addHook('onClose', async () => {
    sockets.close();
    await core.close();
  });
  core.start();
  return app;
}

export interface RunningGateway {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Builds and listens on `config.listen`; `url` is the address clients use (port 0 resolved). */
export async function startGateway(config: GatewayConfig, options: Omit<GatewayBuildOptions, 'config'> = {}): Promise<RunningGateway> {
  const app = await build({ ...options, config });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.listen.port;
  const host = config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host === '::' ? '::1' : config.listen.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { url, app, close: () => app.close() };
}
