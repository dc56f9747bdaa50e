/**
 * What the API needs from the rest of the node: the engine's query surface and
 * the node's place in the cluster, which every answer reports in `meta`.
 */
import type { ValueMap } from '../../shared/gql/values.js';
import type { ExecuteOptions, ExecutionContext, QueryResult } from '../graph/types.js';
import type { NodeRole, QueryMeta } from './schemas.js';

/** The part of GraphEngine the API calls; GraphEngine satisfies it structurally. */
export interface ApiEngine {
  execute(query: string, params: ValueMap, ctx: ExecutionContext, options?: ExecuteOptions): QueryResult;
  /** One bounded step of online index builds / migrations; true while more remains. */
  backgroundStep(): boolean;
}

/**
 * Role, term and indexes of this node. Single node for now: always primary at
 * term 0, and the index counts writes committed since start. The replication
 * layer replaces this with Raft's term, commit index and applied index.
 */
export class NodeState {
  readonly role: NodeRole = 'primary';
  readonly term = 0;
  private writeIndex = 0;

  constructor(
    readonly nodeId: string,
    readonly region: string | undefined,
  ) {}

  recordWrite(): void {
    this.writeIndex += 1;
  }

  meta(): QueryMeta {
    return {
      node: this.nodeId,
      role: this.role,
      term: this.term,
      index: this.writeIndex,
      applied_index: this.writeIndex,
    };
  }
}
