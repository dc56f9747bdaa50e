/**
 * Runs one storage node in this process (`geode node`): the HTTP API server
 * listens first, then the StorageNode (Raft group member) starts on it.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { formatHostPort, clientHost, raftTiming } from '../shared/config/index.js';
import type { NodeConfig } from '../shared/config/index.js';
import { StorageNode } from '../storage-node/node.js';
import { build } from '../storage-node/api/server.js';

export interface RunningNode {
  id: string;
  url: string;
  /** Hands leadership over (when leading), stops the node, then closes the server. */
  close(): Promise<void>;
}

export async function startClusterNode(config: NodeConfig, logLevel: string): Promise<RunningNode> {
  // stdout carries the machine-readable startup line; logs go to stderr.
  const destination = pino.destination(2);
  const logger = pino({ level: logLevel, base: { pid: process.pid, node: config.id } }, destination);
  let node: StorageNode | undefined;
  const app: FastifyInstance = build({
    node: () => node,
    nodeId: config.id,
    ...(config.adminToken === undefined ? {} : { adminToken: config.adminToken }),
    ...(config.region === undefined ? {} : { region: config.region }),
    logger: { level: logLevel, stream: destination },
  });
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  // Port 0 (single-node tests): only now is the real URL known.
  const url = config.listen.port === 0 ? `http://${formatHostPort({ host: clientHost(config.listen.host), port: address.port })}` : config.advertise;
  const members = config.members.map((m) => (m.name === config.id ? { ...m, url } : m));
  const timing = raftTiming(config);
  try {
    node = new StorageNode({
      name: config.id,
      dataDir: config.dataDir,
      members,
      clusterSecret: config.clusterSecret ?? 'single-node-without-peers',
      clusterId: config.clusterId,
      statementMemoryBytes: config.queryMemoryLimitBytes,
      replication: {
        mode: config.replicationMode,
        ...(config.quorumSize === undefined ? {} : { quorumSize: config.quorumSize }),
        ...(config.syncReplicas === undefined ? {} : { syncReplicas: config.syncReplicas }),
      },
      tickMs: timing.tickMs,
      heartbeatTicks: timing.heartbeatTicks,
      electionTicks: timing.electionTicks,
      ...(config.snapshotEntries === undefined ? {} : { snapshotEntries: config.snapshotEntries }),
      ...(config.readLanes ? { readLanes: { host: config.listen.host } } : {}),
      // The deployment's regions (its own = config.region); absent: one region, always the write region.
      ...(config.regions === undefined ? {} : { regions: config.regions }),
      logger,
    });
    // A node that stops itself (it can no longer write its log or apply its entries) takes the server down
    // with it: the process then exits with the code the node set (1), and its supervisor restarts it.
    node.once('fatal', () => void app.close());
    await node.start();
  } catch (error) {
    await node?.stop({ transfer: false }).catch(() => undefined);
    await app.close();
    throw error;
  }
  const started = node;
  return {
    id: config.id,
    url,
    async close() {
      try {
        await started.stop({ transfer: true });
      } finally {
        await app.close();
      }
    },
  };
}
