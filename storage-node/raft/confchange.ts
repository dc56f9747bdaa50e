/**
 * Single-server membership changes. A change is a log entry of type
 * confChange; each member uses the latest configuration in its log
 * (committed or not), and the leader allows one uncommitted change at a time,
 * only after an entry of its own term has committed (Raft dissertation §4.1
 * with its fix), so any two successive configurations share a quorum.
 */
import type { ConfState, NodeId } from './messages.js';

/** addVoter on an existing learner promotes it. Demoting a voter to learner is not supported. */
export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to the core and carried in the entry, like etcd's ConfChange.Context: the host puts the member's name and address here. */
  readonly context?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: change.type, nodeId: change.nodeId, context: change.context ?? '' }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (typeof parsed === 'object' && parsed !== null && 'type' in parsed && 'nodeId' in parsed) {
    const { type, nodeId } = parsed;
    if ((type === 'addVoter' || type === 'addLearner' || type === 'removeNode') && typeof nodeId === 'number') {
      const context = 'context' in parsed && typeof parsed.context === 'string' && parsed.context !== '' ? parsed.context : undefined;
      return context === undefined ? { type, nodeId } : { type, nodeId, context };
    }
  }
  throw new Error('raft: malformed conf change entry');
}

/** Why a change cannot apply to `conf`, or undefined when it can. */
export function checkConfChange(conf: ConfState, change: ConfChange): string | undefined {
  if (!Number.isInteger(change.nodeId) || change.nodeId <= 0) return 'node id must be a positive integer';
  const isVoter = conf.voters.includes(change.nodeId);
  const isLearner = conf.learners.includes(change.nodeId);
  switch (change.type) {
    case 'addVoter':
      return isVoter ? 'already a voter' : undefined;
    case 'addLearner':
      if (isVoter) return 'cannot demote a voter to learner';
      return isLearner ? 'already a learner' : undefined;
    case 'removeNode':
      if (!isVoter && !isLearner) return 'not a member';
      if (isVoter && conf.voters.length === 1) return 'cannot remove the last voter';
      return undefined;
  }
}

/** The configuration after `change`; changes that do not apply leave it as it is. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  if (checkConfChange(conf, change) !== undefined) return conf;
  const id = change.nodeId;
  const voters = conf.voters.filter((v) => v !== id);
  const learners = conf.learners.filter((l) => l !== id);
  if (change.type === 'addVoter') voters.push(id);
  if (change.type === 'addLearner') learners.push(id);
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners };
}
