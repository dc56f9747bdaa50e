/**
 * Pattern matching: compiled node/relationship patterns and the matcher that
 * extends a row with every way a list of pattern parts matches the graph.
 *
 * Each part starts at an anchor node (a variable already bound in the row, else
 * an index seek, else a label scan, else all nodes; decided per row because
 * index readiness and bindings are runtime facts), then expands right to the
 * end of the chain and left to its start. Relationships are unique across all
 * parts of one pattern list (Cypher's relationship isomorphism).
 */
import { ErrorCode, GeodeError } from '../../shared/protocol/errors.js';
import { NodeValue, PathValue, RelationshipValue, isMap } from '../../shared/gql/values.js';
import type { Value } from '../../shared/gql/values.js';
import type { Expr, NodePattern, PatternPart, RelationshipPattern } from '../../shared/gql/ast.js';
import { compileExpression, equalsValues } from './eval/index.js';
import { LIST_BYTES, PATH_BYTES, SLOT_BYTES } from './eval/budget.js';
import type { CompiledExpr, EvalContext, Row } from './eval/index.js';
import type { Direction, GraphTransaction } from './transaction.js';

export interface MatchEnv {
  tx: GraphTransaction;
  ctx: EvalContext;
}

/** Inline properties: literal entries, or one expression (a parameter) giving the whole map. */
type PropertySpec = { entries: [string, CompiledExpr][] } | { whole: CompiledExpr } | null;

export interface NodeSpec {
  variable: string | null;
  labels: string[];
  props: PropertySpec;
  /** `prop = expr` equalities usable to seek this node through an index (inline and from WHERE). */
  seekable: [string, CompiledExpr][];
}

export interface RelSpec {
  variable: string | null;
  types: string[];
  direction: Direction;
  props: PropertySpec;
  varLength: boolean;
  min: number;
  max: number;
}

export interface PartSpec {
  pathVariable: string | null;
  shortest: 'shortest' | 'all' | null;
  nodes: NodeSpec[];
  rels: RelSpec[];
}

function compileProps(expr: Expr | null): PropertySpec {
  if (expr === null) return null;
  if (expr.kind === 'Map') return { entries: expr.entries.map((e) => [e.key, compileExpression(e.value)]) };
  return { whole: compileExpression(expr) };
}

function compileNode(pattern: NodePattern): NodeSpec {
  const props = compileProps(pattern.properties);
  return {
    variable: pattern.variable,
    labels: pattern.labels,
    props,
    seekable: props !== null && 'entries' in props ? [...props.entries] : [],
  };
}

function compileRel(pattern: RelationshipPattern): RelSpec {
  const length = pattern.length;
  return {
    variable: pattern.variable,
    types: [...new Set(pattern.types)],
    direction: pattern.direction,
    props: compileProps(pattern.properties),
    varLength: length !== null,
    min: length === null ? 1 : (length.min ?? 1),
    max: length === null ? 1 : (length.max ?? Number.POSITIVE_INFINITY),
  };
}

export function compilePart(part: PatternPart): PartSpec {
  const nodes = [compileNode(part.start)];
  const rels: RelSpec[] = [];
  for (const step of part.chain) {
    rels.push(compileRel(step.rel));
    nodes.push(compileNode(step.node));
  }
  return { pathVariable: part.variable, shortest: part.shortest, nodes, rels };
}

/** Names every pattern part binds (nodes, relationships, paths). */
export function partVariables(part: PatternPart): string[] {
  const out: string[] = [];
  if (part.variable !== null) out.push(part.variable);
  if (part.start.variable !== null) out.push(part.start.variable);
  for (const step of part.chain) {
    if (step.rel.variable !== null) out.push(step.rel.variable);
    if (step.node.variable !== null) out.push(step.node.variable);
  }
  return out;
}

function propsMatch(spec: PropertySpec, entity: NodeValue | RelationshipValue, row: Row, ctx: EvalContext): boolean {
  if (spec === null) return true;
  const props = entity.properties;
  if ('entries' in spec) {
    for (const [key, expr] of spec.entries) {
      const actual = props[key];
      if (actual === undefined || equalsValues(actual, expr(row, ctx)) !== true) return false;
    }
    return true;
  }
  const map = spec.whole(row, ctx);
  if (map === null) return true;
  if (!isMap(map)) throw new GeodeError(ErrorCode.TYPE_ERROR, 'Pattern properties must be a map', { phase: 'runtime', detail: 'InvalidArgumentType' });
  for (const key in map) {
    const actual = props[key];
    if (actual === undefined || equalsValues(actual, map[key] ?? null) !== true) return false;
  }
  return true;
}

function nodeMatches(spec: NodeSpec, node: NodeValue, row: Row, ctx: EvalContext): boolean {
  for (const label of spec.labels) if (!node.labels.includes(label)) return false;
  return propsMatch(spec.props, node, row, ctx);
}

function sameEntity(a: Value | undefined, b: NodeValue | RelationshipValue): boolean {
  return a === b || ((a instanceof NodeValue || a instanceof RelationshipValue) && a.constructor === b.constructor && a.id === b.id);
}

const reverse = (d: Direction): Direction => (d === 'out' ? 'in' : d === 'in' ? 'out' : 'both');

/** The node at the other end of `rel` when walking it from `from` in `direction`. */
function otherEnd(rel: RelationshipValue, fromId: number, direction: Direction): number {
  if (direction === 'out') return rel.end;
  if (direction === 'in') return rel.start;
  return rel.start === fromId ? rel.end : rel.start;
}

interface Frame {
  nodes: NodeValue[];
  /** Relationships of each step in pattern order (one for a single hop). */
  rels: RelationshipValue[][];
}

/** The anchor operator the matcher would use for a part now (for explain). */
export function anchorOperator(part: PartSpec, bound: ReadonlySet<string>, tx: GraphTransaction): string {
  const pick = chooseAnchor(part, bound, tx);
  return pick.kind;
}

interface Anchor {
  index: number;
  kind: 'Argument' | 'NodeByIndexSeek' | 'NodeByLabelScan' | 'AllNodesScan';
  label?: string;
  property?: [string, CompiledExpr];
}

function chooseAnchor(part: PartSpec, bound: { has(name: string): boolean }, tx: GraphTransaction): Anchor {
  const nodes = part.nodes;
  for (let i = 0; i < nodes.length; i++) {
    const v = (nodes[i] as NodeSpec).variable;
    if (v !== null && bound.has(v)) return { index: i, kind: 'Argument' };
  }
  for (let i = 0; i < nodes.length; i++) {
    const spec = nodes[i] as NodeSpec;
    for (const label of spec.labels) {
      for (const seek of spec.seekable) {
        if (tx.schema.readyIndex(label, seek[0]) !== undefined) return { index: i, kind: 'NodeByIndexSeek', label, property: seek };
      }
    }
  }
  for (let i = 0; i < nodes.length; i++) {
    const label = (nodes[i] as NodeSpec).labels[0];
    if (label !== undefined) return { index: i, kind: 'NodeByLabelScan', label };
  }
  return { index: 0, kind: 'AllNodesScan' };
}

/**
 * Matches a list of pattern parts against the graph, extending rows. The
 * caller applies WHERE; this yields every extension of the row.
 */
export class PatternMatcher {
  readonly parts: PartSpec[];
  /** Variables this pattern introduces (not counting those already bound in the row). */
  readonly variables: string[];

  constructor(parts: PatternPart[], extraSeeks: Map<string, [string, CompiledExpr][]> = new Map()) {
    this.parts = parts.map(compilePart);
    this.variables = [...new Set(parts.flatMap(partVariables))];
    for (const part of this.parts) {
      for (const node of part.nodes) {
        const extra = node.variable === null ? undefined : extraSeeks.get(node.variable);
        if (extra !== undefined) node.seekable.push(...extra);
      }
    }
  }

  /** Every extension of `row`. Each yielded row is a fresh Map. */
  *match(row: Row, env: MatchEnv): Generator<Row> {
    const work = new Map(row);
    const used = new Set<number>();
    const only = this.parts.length === 1 ? (this.parts[0] as PartSpec) : undefined;
    if (only !== undefined && only.shortest === null) {
      for (const _ of this.matchPart(only, work, used, env)) yield new Map(work);
      return;
    }
    yield* this.matchFrom(0, work, used, env);
  }

  private *matchFrom(partIndex: number, work: Row, used: Set<number>, env: MatchEnv): Generator<Row> {
    const part = this.parts[partIndex];
    if (part === undefined) {
      yield new Map(work);
      return;
    }
    const inner = part.shortest !== null ? this.matchShortest(part, work, used, env) : this.matchPart(part, work, used, env);
    for (const _ of inner) yield* this.matchFrom(partIndex + 1, work, used, env);
  }

  /** Binds `variable` to `value` unless already bound; returns false on conflict, 'new' when bound now. */
  private static bind(work: Row, variable: string | null, value: NodeValue | RelationshipValue): false | 'new' | 'same' {
    if (variable === null) return 'same';
    const existing = work.get(variable);
    if (existing === undefined) {
      if (work.has(variable)) return false;
      work.set(variable, value);
      return 'new';
    }
    return sameEntity(existing, value) ? 'same' : false;
  }

  private anchorCandidates(part: PartSpec, anchor: Anchor, work: Row, env: MatchEnv): Iterable<NodeValue> {
    const spec = part.nodes[anchor.index] as NodeSpec;
    switch (anchor.kind) {
      case 'Argument': {
        const value = work.get(spec.variable as string);
        if (value instanceof NodeValue) return env.tx.isDeleted(value) ? [] : [value];
        if (value !== null && value !== undefined) {
          throw new GeodeError(ErrorCode.TYPE_ERROR, `Variable '${spec.variable ?? ''}' is not a node`, { phase: 'runtime', detail: 'VariableTypeConflict' });
        }
        return [];
      }
      case 'NodeByIndexSeek': {
        const [property, expr] = anchor.property as [string, CompiledExpr];
        return env.tx.seek(anchor.label as string, property, expr(work, env.ctx)) ?? env.tx.nodesByLabel(anchor.label as string);
      }
      case 'NodeByLabelScan':
        return env.tx.nodesByLabel(anchor.label as string);
      default:
        return env.tx.allNodes();
    }
  }

  private *matchPart(part: PartSpec, work: Row, used: Set<number>, env: MatchEnv): Generator<void> {
    const anchor = chooseAnchor(part, work, env.tx);
    const spec = part.nodes[anchor.index] as NodeSpec;
    const frame: Frame = { nodes: new Array<NodeValue>(part.nodes.length), rels: new Array<RelationshipValue[]>(part.rels.length) };
    // Steps in walking order: rightwards from the anchor, then leftwards.
    const order: number[] = [];
    for (let s = anchor.index; s < part.rels.length; s++) order.push(s);
    for (let s = anchor.index - 1; s >= 0; s--) order.push(-s - 1);
    const budget = env.ctx.budget;
    for (const node of this.anchorCandidates(part, anchor, work, env)) {
      // What expanding from this anchor loads and builds stops counting when the next anchor comes.
      const mark = budget.held;
      if (!nodeMatches(spec, node, work, env.ctx)) {
        budget.held = mark;
        continue;
      }
      const bound = PatternMatcher.bind(work, spec.variable, node);
      if (bound === false) {
        budget.held = mark;
        continue;
      }
      frame.nodes[anchor.index] = node;
      if (order.length === 0 && part.pathVariable === null) {
        yield;
        if (bound === 'new') work.delete(spec.variable as string);
        continue;
      }
      for (const _ of this.walk(part, order, 0, frame, work, used, env)) {
        if (part.pathVariable !== null) {
          const mark = env.ctx.budget.held;
          work.set(part.pathVariable, buildPath(frame, env.tx));
          yield;
          work.delete(part.pathVariable);
          env.ctx.budget.held = mark;
        } else {
          yield;
        }
      }
      if (bound === 'new') work.delete(spec.variable as string);
      budget.held = mark;
    }
  }

  private *walk(part: PartSpec, order: number[], at: number, frame: Frame, work: Row, used: Set<number>, env: MatchEnv): Generator<void> {
    const code = order[at];
    if (code === undefined) {
      yield;
      return;
    }
    const forward = code >= 0;
    const step = forward ? code : -code - 1;
    const relSpec = part.rels[step] as RelSpec;
    const fromIndex = forward ? step : step + 1;
    const toIndex = forward ? step + 1 : step;
    const toSpec = part.nodes[toIndex] as NodeSpec;
    const from = frame.nodes[fromIndex] as NodeValue;
    const direction = forward ? relSpec.direction : reverse(relSpec.direction);
    const { tx, ctx } = env;
    const last = at + 1 === order.length;

    if (!relSpec.varLength) {
      const expandMark = ctx.budget.held;
      const rels: RelationshipValue[] = [];
      const targets: NodeValue[] = [];
      tx.expand(from, direction, relSpec.types, rels, targets);
      const relMark = ctx.budget.held;
      for (let i = 0; i < rels.length; i++) {
        // Property predicates of one relationship stop counting at the next.
        ctx.budget.held = relMark;
        const rel = rels[i] as RelationshipValue;
        const target = targets[i] as NodeValue;
        if (used.has(rel.id)) continue;
        if (!propsMatch(relSpec.props, rel, work, ctx)) continue;
        if (!nodeMatches(toSpec, target, work, ctx)) continue;
        const relBound = PatternMatcher.bind(work, relSpec.variable, rel);
        if (relBound === false) continue;
        const nodeBound = PatternMatcher.bind(work, toSpec.variable, target);
        if (nodeBound !== false) {
          used.add(rel.id);
          frame.nodes[toIndex] = target;
          frame.rels[step] = [rel];
          // The last step yields directly: one generator less per matched row.
          if (last) yield;
          else yield* this.walk(part, order, at + 1, frame, work, used, env);
          used.delete(rel.id);
          if (nodeBound === 'new') work.delete(toSpec.variable as string);
        }
        if (relBound === 'new') work.delete(relSpec.variable as string);
      }
      ctx.budget.held = expandMark;
      return;
    }

    const path: RelationshipValue[] = [];
    const budget = ctx.budget;
    for (const target of this.varPaths(from, direction, relSpec, path, used, work, env)) {
      // What this path builds (its relationship list) stops counting when the next one is asked for.
      const mark = budget.held;
      if (!nodeMatches(toSpec, target, work, ctx)) continue;
      const nodeBound = PatternMatcher.bind(work, toSpec.variable, target);
      if (nodeBound === false) continue;
      budget.work(path.length);
      budget.alloc(LIST_BYTES + path.length * SLOT_BYTES, 'variable-length relationship list');
      const ordered = forward ? [...path] : [...path].reverse();
      let relBound = false;
      if (relSpec.variable !== null) {
        const existing = work.get(relSpec.variable);
        if (existing !== undefined) {
          if (!sameRelList(existing, ordered)) {
            if (nodeBound === 'new') work.delete(toSpec.variable as string);
            continue;
          }
        } else {
          work.set(relSpec.variable, ordered);
          relBound = true;
        }
      }
      frame.nodes[toIndex] = target;
      frame.rels[step] = ordered;
      if (last) yield;
      else yield* this.walk(part, order, at + 1, frame, work, used, env);
      if (relBound) work.delete(relSpec.variable as string);
      if (nodeBound === 'new') work.delete(toSpec.variable as string);
      budget.held = mark;
    }
  }

  /**
   * Depth-first variable-length expansion; yields each end node while `path`
   * holds the relationships taken. Iterative (an explicit stack of each
   * level's relationships), so a long path neither nests generators nor
   * grows the call stack; every relationship considered was touched (work)
   * when its level was loaded, and each level's list is charged while on the stack.
   */
  private *varPaths(
    from: NodeValue,
    direction: Direction,
    spec: RelSpec,
    path: RelationshipValue[],
    used: Set<number>,
    work: Row,
    env: MatchEnv,
  ): Generator<NodeValue> {
    if (spec.min <= 0) yield from;
    if (spec.max <= 0) return;
    const { tx, ctx } = env;
    const budget = ctx.budget;
    const levelRels: RelationshipValue[][] = [];
    const levelNext: number[] = [];
    const levelNodes: NodeValue[] = [];
    const levelBytes: number[] = [];
    const push = (node: NodeValue): void => {
      // A level counts what loading its relationships charged (see GraphTransaction.relationshipsOf).
      const before = budget.held;
      const rels = tx.relationshipsOf(node, direction, spec.types);
      const bytes = budget.held - before;
      levelRels.push(rels);
      levelNext.push(0);
      levelNodes.push(node);
      levelBytes.push(bytes);
    };
    push(from);
    while (levelRels.length > 0) {
      const top = levelRels.length - 1;
      const rels = levelRels[top] as RelationshipValue[];
      const i = levelNext[top] as number;
      if (i >= rels.length) {
        // This level is done: step back over the relationship that led to it.
        levelRels.pop();
        levelNext.pop();
        levelNodes.pop();
        budget.held -= levelBytes.pop() as number;
        const back = path.pop();
        if (back !== undefined) used.delete(back.id);
        continue;
      }
      levelNext[top] = i + 1;
      const rel = rels[i] as RelationshipValue;
      if (used.has(rel.id)) continue;
      if (!propsMatch(spec.props, rel, work, ctx)) continue;
      const node = levelNodes[top] as NodeValue;
      const next = tx.endpoint(otherEnd(rel, node.id, direction));
      if (next === null) continue;
      used.add(rel.id);
      path.push(rel);
      if (path.length >= spec.min) yield next;
      if (path.length < spec.max) push(next);
      else {
        path.pop();
        used.delete(rel.id);
      }
    }
  }

  /** shortestPath / allShortestPaths over a single (variable-length) relationship step. */
  private *matchShortest(part: PartSpec, work: Row, used: Set<number>, env: MatchEnv): Generator<void> {
    const relSpec = part.rels[0];
    const startSpec = part.nodes[0] as NodeSpec;
    const endSpec = part.nodes[1];
    if (relSpec === undefined || endSpec === undefined || part.rels.length !== 1) {
      throw new GeodeError(ErrorCode.SYNTAX_ERROR, 'shortestPath needs a single relationship pattern', { phase: 'compile' });
    }
    const { tx, ctx } = env;
    const budget = ctx.budget;
    // Start nodes stream (a label scan may be millions); the anchor is chosen before any binding changes.
    const starts = this.anchorCandidates(part, chooseAnchor({ ...part, nodes: [startSpec] }, work, tx), work, env);
    for (const start of starts) {
      // The search's frontiers are charged while it runs and released when this start is done.
      const mark = budget.held;
      if (!nodeMatches(startSpec, start, work, ctx)) continue;
      const startBound = PatternMatcher.bind(work, startSpec.variable, start);
      if (startBound === false) continue;
      const endBinding = endSpec.variable === null ? undefined : work.get(endSpec.variable);
      // Breadth-first by levels, keeping every path of the current length.
      let frontier: { node: NodeValue; rels: RelationshipValue[] }[] = [{ node: start, rels: [] }];
      const found: { node: NodeValue; rels: RelationshipValue[] }[] = [];
      const seenAtDepth = new Map<number, number>([[start.id, 0]]);
      for (let depth = 0; frontier.length > 0 && depth <= relSpec.max; depth++) {
        for (const entry of frontier) {
          if (depth < relSpec.min) continue;
          if (endBinding !== undefined && !sameEntity(endBinding, entry.node)) continue;
          if (!nodeMatches(endSpec, entry.node, work, ctx)) continue;
          found.push(entry);
        }
        if (found.length > 0 || depth === relSpec.max) break;
        const next: typeof frontier = [];
        for (const entry of frontier) {
          for (const rel of tx.relationshipsOf(entry.node, relSpec.direction, relSpec.types)) {
            budget.work(entry.rels.length);
            if (entry.rels.some((r) => r.id === rel.id) || used.has(rel.id)) continue;
            if (!propsMatch(relSpec.props, rel, work, ctx)) continue;
            const other = tx.endpoint(otherEnd(rel, entry.node.id, relSpec.direction));
            if (other === null) continue;
            const seen = seenAtDepth.get(other.id);
            if (seen !== undefined && seen < depth + 1) continue;
            seenAtDepth.set(other.id, depth + 1);
            budget.alloc(FRONTIER_ENTRY_BYTES + (entry.rels.length + 1) * SLOT_BYTES, 'shortestPath frontier');
            next.push({ node: other, rels: [...entry.rels, rel] });
          }
        }
        frontier = next;
      }
      const chosen = part.shortest === 'shortest' ? found.slice(0, 1) : found;
      for (const entry of chosen) {
        const endBound = PatternMatcher.bind(work, endSpec.variable, entry.node);
        if (endBound === false) continue;
        if (relSpec.variable !== null) work.set(relSpec.variable, relSpec.varLength ? entry.rels : (entry.rels[0] ?? null));
        if (part.pathVariable !== null) work.set(part.pathVariable, buildPath({ nodes: [start, entry.node], rels: [entry.rels] }, tx));
        yield;
        if (part.pathVariable !== null) work.delete(part.pathVariable);
        if (relSpec.variable !== null) work.delete(relSpec.variable);
        if (endBound === 'new') work.delete(endSpec.variable as string);
      }
      if (startBound === 'new') work.delete(startSpec.variable as string);
      budget.held = mark;
    }
  }
}

/** Bytes of one shortestPath frontier entry besides its relationship list's slots. */
const FRONTIER_ENTRY_BYTES = 96;

function sameRelList(existing: Value, rels: RelationshipValue[]): boolean {
  if (!Array.isArray(existing) || existing.length !== rels.length) return false;
  return existing.every((r, i) => sameEntity(r, rels[i] as RelationshipValue));
}

function buildPath(frame: Frame, tx: GraphTransaction): PathValue {
  let length = 0;
  for (const rels of frame.rels) length += rels?.length ?? 0;
  tx.budget.work(length);
  tx.budget.alloc(PATH_BYTES + 2 * LIST_BYTES + (2 * length + 1) * SLOT_BYTES, 'a path');
  const first = frame.nodes[0] as NodeValue;
  const nodes: NodeValue[] = [first];
  const rels: RelationshipValue[] = [];
  let current = first;
  for (let s = 0; s < frame.rels.length; s++) {
    for (const rel of frame.rels[s] ?? []) {
      rels.push(rel);
      const nextId = rel.start === current.id ? rel.end : rel.start;
      current = tx.endpoint(nextId) ?? current;
      nodes.push(current);
    }
    current = frame.nodes[s + 1] ?? current;
  }
  return new PathValue(nodes, rels);
}
