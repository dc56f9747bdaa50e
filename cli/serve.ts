/**
 * Starts one storage node in this process: engine on `<dataDir>/graph.db`,
 * HTTP API on `host:port`. Shared by `geode node` and `geode dev`.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { formatHostPort } from '../shared/config/index.js';
import { GraphEngine } from '../storage-node/graph/engine.js';
import { build } from '../storage-node/api/server.js';

export interface NodeLaunch {
  id: string;
  host: string;
  /** 0 picks a free port; the running node reports the real one in `url`. */
  port: number;
  dataDir: string;
  region?: string;
  logLevel: string;
}

export interface RunningNode {
  id: string;
  url: string;
  /** Stops accepting requests, lets in-flight ones finish, then closes the database. */
  close(): Promise<void>;
}

export const GRAPH_DB_FILE = 'graph.db';

export async function startNode(launch: NodeLaunch): Promise<RunningNode> {
  mkdirSync(launch.dataDir, { recursive: true });
  const engine = GraphEngine.open(join(launch.dataDir, GRAPH_DB_FILE));
  let app: FastifyInstance | undefined;
  try {
    app = build({
      engine,
      nodeId: launch.id,
      ...(launch.region === undefined ? {} : { region: launch.region }),
      // stdout carries the machine-readable startup line; logs go to stderr.
      logger: { level: launch.logLevel, stream: pino.destination(2) },
    });
    await app.listen({ host: launch.host, port: launch.port });
  } catch (error) {
    await app?.close();
    engine.close();
    throw error;
  }
  const server = app;
  const address = server.server.address() as AddressInfo;
  return {
    id: launch.id,
    url: `http://${formatHostPort({ host: clientHost(launch.host), port: address.port })}`,
    async close() {
      try {
        await server.close();
      } finally {
        engine.close();
      }
    },
  };
}

/** A wildcard listen address is not something a client can dial; loopback reaches it. */
function clientHost(listenHost: string): string {
  if (listenHost === '0.0.0.0') return '127.0.0.1';
  if (listenHost === '::' || listenHost === '[::]') return '::1';
  return listenHost;
}
