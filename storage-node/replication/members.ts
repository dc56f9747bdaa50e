/**
 * Cluster members by name. Operators name nodes (`node1`); Raft needs
 * numbers. A member's Raft id is a hash of its name, so every node derives
 * the same id from config alone, without a registry, and adding a member
 * never renumbers the others.
 */

export interface MemberSpec {
  /** The operator's name for the node, e.g. `node1`. */
  name: string;
  /** Base URL of the node's API, e.g. `http://127.0.0.1:3151`. */
  url: string;
  /** Learners (the seed's async replicas) receive the log but never vote or count toward commit. */
  learner?: boolean;
  region?: string;
}

/** FNV-1a of the name, folded into a positive 31-bit integer (0 means "no node" to the Raft core). */
export function raftIdOf(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash & 0x7fffffff) || 1;
}

export class MemberDirectory {
  private readonly byId = new Map<number, MemberSpec>();
  private readonly byName = new Map<string, MemberSpec>();

  constructor(members: readonly MemberSpec[]) {
    for (const member of members) this.add(member);
  }

  add(member: MemberSpec): number {
    const id = raftIdOf(member.name);
    const clash = this.byId.get(id);
    if (clash !== undefined && clash.name !== member.name) {
      throw new Error(`member names ${clash.name} and ${member.name} hash to the same Raft id; rename one`);
    }
    this.byId.set(id, member);
    this.byName.set(member.name, member);
    return id;
  }

  remove(name: string): void {
    const member = this.byName.get(name);
    if (member === undefined) return;
    this.byName.delete(name);
    this.byId.delete(raftIdOf(name));
  }

  byRaftId(id: number): MemberSpec | undefined {
    return this.byId.get(id);
  }

  named(name: string): MemberSpec | undefined {
    return this.byName.get(name);
  }

  nameOf(id: number): string | null {
    return this.byId.get(id)?.name ?? null;
  }

  all(): MemberSpec[] {
    return [...this.byName.values()];
  }
}
