/**
 * The node's address book: every member's name, URL, region and whether it
 * is a learner. The config's members are the starting point; members added
 * at run time (conf-change entries carry the new member's spec) are
 * remembered in `members.json` in the data directory, so a restarted node
 * can reach them before it replays its log.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { decodeConfChange } from '../raft/index.js';
import type { Entry } from '../raft/index.js';
import { MemberDirectory, raftIdOf } from '../replication/members.js';
import type { MemberSpec } from '../replication/members.js';

export class MemberBook extends MemberDirectory {
  constructor(
    configured: readonly MemberSpec[],
    private readonly path: string,
  ) {
    super([...configured, ...loadAdded(path)]);
  }

  /** Remembers the current members on disk (write then rename, so a crash leaves the old or the new file). */
  save(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.all()));
    renameSync(tmp, this.path);
  }

  /**
   * Learns the member a conf-change entry adds or promotes (idempotent); returns it when the book
   * changed, so the caller can wire the transport to it.
   */
  learn(entry: Entry): MemberSpec | undefined {
    let change;
    try {
      change = decodeConfChange(entry.data);
    } catch {
      return undefined;
    }
    if (change.context === undefined || change.type === 'removeNode') return undefined;
    let spec: MemberSpec;
    try {
      spec = JSON.parse(change.context) as MemberSpec;
    } catch {
      return undefined;
    }
    if (typeof spec.name !== 'string' || typeof spec.url !== 'string' || raftIdOf(spec.name) !== change.nodeId) return undefined;
    const known = this.named(spec.name);
    const learner = change.type === 'addLearner';
    if (known !== undefined && known.url === spec.url && (known.learner === true) === learner) return undefined;
    const member = { ...spec, learner };
    this.add(member);
    this.save();
    return member;
  }
}

function loadAdded(path: string): MemberSpec[] {
  if (!existsSync(path)) return [];
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return Array.isArray(parsed) ? (parsed as MemberSpec[]).filter((m) => typeof m?.name === 'string' && typeof m?.url === 'string') : [];
  } catch {
    return [];
  }
}
