/**
 * What the API needs of a StorageNode. StorageNode satisfies it structurally;
 * tests may hand in a fake. The membership methods are optional because the
 * node may not offer them: their admin routes then answer 501 UNSUPPORTED.
 */
import type { BatchTotals } from '../log/durable-log.js';
import type { ReadRequest, WriteRequest } from '../node.js';
import type { ClusterStatus, QueryMeta } from '../../shared/protocol/cluster.js';
import type { MemberSpec } from '../replication/members.js';
import type { PromoteResult, RegionStatus } from '../../shared/protocol/region.js';
import type { BackupConfigureRequest, BackupConfigureResponse, BackupListResponse, BackupNowResponse } from '../../shared/protocol/backup.js';
import type { BackupMetricsView } from '../backup/backup-host.js';
import type { SerializedResult, WireResult } from '../replication/state-machine.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';

export type { ClusterStatus, NodeStatusEntry } from '../../shared/protocol/cluster.js';
export type ResultMeta = QueryMeta;

export interface ClusterNode {
  readonly name: string;
  readonly isLeader: boolean;
  readonly appliedIndex: number;
  readonly failovers: number;
  /** Running totals of the Raft log's disk writes and of apply work (metrics); a fake node may have none. */
  readonly logStats?: BatchTotals;
  readonly applyStats?: BatchTotals;
  write(request: WriteRequest): Promise<{ result: WireResult; meta: ResultMeta }>;
  /** Read workers serialize their results; a fake may hand back objects. */
  read(request: ReadRequest): Promise<{ result: SerializedResult | WireResult; meta: ResultMeta }>;
  clusterStatus(): ClusterStatus;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  transferLeadership(target: string): Promise<void>;
  snapshotNow(): Promise<{ index: number; bytes: number }>;
  checksum(): Promise<{ applied: number; checksum: string; position?: { epoch: number; index: number } }>;
  /** Regions (host/region/): absent on a fake node, whose region routes then answer 501. */
  regionStatus?(polledBy?: string): RegionStatus;
  promoteRegion?(target: string, force: boolean, timeoutMs: number): Promise<PromoteResult>;
  rejoinRegion?(target: string, timeoutMs: number): Promise<unknown>;
  epochFromPeer?(authorization: string | undefined, body: unknown): Promise<unknown>;
  voteFromPeer?(authorization: string | undefined, body: unknown): Promise<unknown>;
  /** Backups (storage-node/backup/): absent on a fake node, whose backup routes then answer 501. */
  configureBackup?(request: BackupConfigureRequest): Promise<BackupConfigureResponse>;
  backupNow?(timeoutMs: number): Promise<BackupNowResponse>;
  backupList?(): Promise<BackupListResponse>;
  backupMetrics?(): BackupMetricsView | undefined;
  addMember?(spec: MemberSpec): Promise<unknown>;
  removeMember?(name: string): Promise<unknown>;
  promoteLearner?(name: string): Promise<unknown>;
  /** Read lanes (read-lane.ts): the ports that listen now; absent or empty, the main thread serves the query stream. */
  readLanePorts?(): number[];
  /** Where the node hands each read lane's channel (read-lanes.ts). */
  attachReadLanes?(attach: (channel: MessagePort) => void): void;
  on(event: 'change', listener: (reason: string) => void): unknown;
  off(event: 'change', listener: (reason: string) => void): unknown;
}

/**
 * The node, given directly or through a getter: a node on port 0 is built
 * after the server listens, so the server must exist before the node does.
 */
export type ClusterNodeSource = ClusterNode | (() => ClusterNode | undefined);

export class NodeHandle {
  /** The node once it answered clusterStatus(): StorageNode has no Raft state before start() got that far. */
  private started: ClusterNode | undefined;

  constructor(private readonly source: ClusterNodeSource) {}

  /** The node, or undefined while it is still being constructed or started. */
  current(): ClusterNode | undefined {
    const node = typeof this.source === 'function' ? this.source() : this.source;
    if (node === undefined || node === this.started) return node;
    try {
      node.clusterStatus();
    } catch {
      return undefined;
    }
    this.started = node;
    return node;
  }

  /** The node; OVERLOADED (503, retry) while it does not exist yet. */
  require(): ClusterNode {
    const node = this.current();
    if (node === undefined) throw new GeodeError(ErrorCode.OVERLOADED, 'the storage node is starting; retry shortly');
    return node;
  }
}
