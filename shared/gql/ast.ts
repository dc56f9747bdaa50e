/**
 * The typed AST of Geode's query language: the practical core of ISO GQL and
 * openCypher. The parser produces it; the semantic checker, the classifier and
 * the engine's planner consume it.
 *
 * GQL spellings are normalized by the parser so that later stages see one
 * form: INSERT becomes a Create clause, `IS` and `&` in labels become label
 * lists, OFFSET becomes skip, FILTER becomes `WITH * WHERE`, LET becomes
 * `WITH *, expr AS name`, `FOR x IN list` becomes UNWIND, NODETACH DELETE is a
 * plain Delete. Chained comparisons `a < b < c` become `a < b AND b < c`.
 *
 * Every node carries `pos`, the source position of its first token.
 */
import type { SourcePosition } from '../protocol/errors.js';

export type Pos = SourcePosition;

// ---- statements ------------------------------------------------------------

export type Statement =
  | QueryStatement
  | CreateIndexStatement
  | DropIndexStatement
  | AlterGraphAddPropertyStatement
  | SessionSetStatement
  | ClusterSetStatement
  | SystemSelectStatement;

/** A query: one or more single queries joined by UNION / UNION ALL. */
export interface QueryStatement {
  kind: 'Query';
  pos: Pos;
  parts: SingleQuery[];
  /** `unionAll[i]` tells whether parts[i] and parts[i+1] are joined by UNION ALL (true) or UNION (false). */
  unionAll: boolean[];
}

export interface SingleQuery {
  pos: Pos;
  clauses: Clause[];
}

/** `CREATE INDEX [name] [IF NOT EXISTS] ON :Label(prop, ...) [WITH MODE online]`; also `FOR (n:Label) ON (n.prop)`. */
export interface CreateIndexStatement {
  kind: 'CreateIndex';
  pos: Pos;
  name: string | null;
  label: string;
  properties: string[];
  ifNotExists: boolean;
  online: boolean;
}

/** `DROP INDEX ON :Label(prop)` or `DROP INDEX name [IF EXISTS]`. */
export interface DropIndexStatement {
  kind: 'DropIndex';
  pos: Pos;
  name: string | null;
  label: string | null;
  properties: string[];
  ifExists: boolean;
}

/** `ALTER GRAPH ADD PROPERTY Label.prop TYPE DEFAULT value [WITH MIGRATION STRATEGY online]`. */
export interface AlterGraphAddPropertyStatement {
  kind: 'AlterGraphAddProperty';
  pos: Pos;
  label: string;
  property: string;
  /** Upper-cased type name as written: BOOLEAN, INTEGER, FLOAT, STRING, ... */
  valueType: string;
  defaultValue: Expr;
  online: boolean;
}

export type SessionSetting = 'read_preference' | 'max_replication_lag' | 'consistency';

/** `SET SESSION READ PREFERENCE nearest`, `SET SESSION MAX REPLICATION LAG 100`, `SET SESSION CONSISTENCY linearizable`. */
export interface SessionSetStatement {
  kind: 'SessionSet';
  pos: Pos;
  setting: SessionSetting;
  /** Identifier settings are lower-cased strings; numeric settings are numbers. */
  value: string | number;
}

export type ClusterSetting = 'replication_mode' | 'quorum_size' | 'sync_replicas';

/** `SET CLUSTER REPLICATION MODE synchronous`, `SET CLUSTER QUORUM SIZE 2`, `SET CLUSTER SYNC REPLICAS 1`. */
export interface ClusterSetStatement {
  kind: 'ClusterSet';
  pos: Pos;
  setting: ClusterSetting;
  value: string | number;
}

/** `SELECT items FROM system.view [WHERE expr]`: read-only system views. */
export interface SystemSelectStatement {
  kind: 'SystemSelect';
  pos: Pos;
  /** View name without the `system.` prefix, lower-cased. */
  view: string;
  /** `null` for `SELECT *`. Items are ordinary expressions (aggregates allowed). */
  items: ProjectionItem[] | null;
  where: Expr | null;
}

// ---- clauses ---------------------------------------------------------------

export type Clause =
  | MatchClause
  | UnwindClause
  | WithClause
  | ReturnClause
  | CreateClause
  | MergeClause
  | SetClause
  | RemoveClause
  | DeleteClause
  | CallClause;

export interface MatchClause {
  kind: 'Match';
  pos: Pos;
  optional: boolean;
  pattern: PatternPart[];
  where: Expr | null;
}

export interface UnwindClause {
  kind: 'Unwind';
  pos: Pos;
  expr: Expr;
  variable: string;
}

export interface WithClause {
  kind: 'With';
  pos: Pos;
  projection: Projection;
  where: Expr | null;
}

export interface ReturnClause {
  kind: 'Return';
  pos: Pos;
  projection: Projection;
}

export interface CreateClause {
  kind: 'Create';
  pos: Pos;
  pattern: PatternPart[];
}

export interface MergeClause {
  kind: 'Merge';
  pos: Pos;
  pattern: PatternPart;
  onCreate: SetItem[];
  onMatch: SetItem[];
}

export interface SetClause {
  kind: 'Set';
  pos: Pos;
  items: SetItem[];
}

export interface RemoveClause {
  kind: 'Remove';
  pos: Pos;
  items: RemoveItem[];
}

export interface DeleteClause {
  kind: 'Delete';
  pos: Pos;
  detach: boolean;
  exprs: Expr[];
}

/** `CALL ns.proc(args) [YIELD a [AS b], ... [WHERE ...]]`; `args` is null when the parentheses are omitted. */
export interface CallClause {
  kind: 'Call';
  pos: Pos;
  procedure: string;
  args: Expr[] | null;
  /** null: no YIELD; `'*'`: YIELD *. */
  yield: { name: string; alias: string | null }[] | '*' | null;
  where: Expr | null;
}

export interface Projection {
  distinct: boolean;
  /** `RETURN *` / `WITH *` (other items may follow the star). */
  star: boolean;
  items: ProjectionItem[];
  orderBy: SortItem[];
  skip: Expr | null;
  limit: Expr | null;
}

export interface ProjectionItem {
  expr: Expr;
  /** Explicit `AS name`, or null. */
  alias: string | null;
  /** The item's source text, exactly as written (used as the column name when there is no alias). */
  text: string;
}

export interface SortItem {
  expr: Expr;
  descending: boolean;
  /** GQL `NULLS FIRST | NULLS LAST`; null means the openCypher default (nulls sort last ascending). */
  nulls: 'first' | 'last' | null;
}

export type SetItem =
  /** `n.prop = expr` (target is a Property expression, possibly on any expression). */
  | { kind: 'SetProperty'; pos: Pos; target: PropertyExpr; value: Expr }
  /** `n = {map}` */
  | { kind: 'SetAllProperties'; pos: Pos; variable: string; value: Expr }
  /** `n += {map}` */
  | { kind: 'MergeProperties'; pos: Pos; variable: string; value: Expr }
  /** `n:Label:Other` */
  | { kind: 'SetLabels'; pos: Pos; variable: string; labels: string[] };

export type RemoveItem =
  | { kind: 'RemoveProperty'; pos: Pos; target: PropertyExpr }
  | { kind: 'RemoveLabels'; pos: Pos; variable: string; labels: string[] };

// ---- patterns --------------------------------------------------------------

/** One comma-separated part of a pattern: `p = (a)-[r]->(b)`. */
export interface PatternPart {
  pos: Pos;
  /** Path variable, `p = ...`. */
  variable: string | null;
  /** `shortestPath(...)` / `allShortestPaths(...)` wrappers. */
  shortest: 'shortest' | 'all' | null;
  start: NodePattern;
  chain: PatternStep[];
}

export interface PatternStep {
  rel: RelationshipPattern;
  node: NodePattern;
}

export interface NodePattern {
  pos: Pos;
  variable: string | null;
  /** All must hold (`:A:B`, `:A&B`, `IS A&B`). */
  labels: string[];
  /** A MapLiteral or a Parameter, or null. */
  properties: Expr | null;
}

export interface RelationshipPattern {
  pos: Pos;
  variable: string | null;
  /** Any may hold (`:A|B`, `:A|:B`); empty means any type. */
  types: string[];
  /** `out`: `-[]->`, `in`: `<-[]-`, `both`: `-[]-` (or `<-[]->`). */
  direction: 'out' | 'in' | 'both';
  properties: Expr | null;
  /** null: exactly one hop. Otherwise `*`, `*2`, `*1..3`, `*..3`, `*2..`: unset bounds are null. */
  length: { min: number | null; max: number | null } | null;
}

// ---- expressions -----------------------------------------------------------

export type Expr =
  | LiteralExpr
  | ParameterExpr
  | VariableExpr
  | PropertyExpr
  | IndexExpr
  | SliceExpr
  | ListExpr
  | MapExpr
  | MapProjectionExpr
  | BinaryExpr
  | UnaryExpr
  | IsNullExpr
  | HasLabelsExpr
  | FunctionCallExpr
  | CountStarExpr
  | CaseExpr
  | ListComprehensionExpr
  | PatternComprehensionExpr
  | QuantifierExpr
  | ReduceExpr
  | PatternPredicateExpr
  | ExistsSubqueryExpr;

/** INTEGER literals are bigint, FLOAT literals number (see values.ts). */
export interface LiteralExpr {
  kind: 'Literal';
  pos: Pos;
  value: null | boolean | bigint | number | string;
}

export interface ParameterExpr {
  kind: 'Parameter';
  pos: Pos;
  name: string;
}

export interface VariableExpr {
  kind: 'Variable';
  pos: Pos;
  name: string;
}

export interface PropertyExpr {
  kind: 'Property';
  pos: Pos;
  object: Expr;
  key: string;
}

/** `list[i]` or `map[key]` */
export interface IndexExpr {
  kind: 'Index';
  pos: Pos;
  object: Expr;
  index: Expr;
}

/** `list[from..to]`, either bound may be null. */
export interface SliceExpr {
  kind: 'Slice';
  pos: Pos;
  object: Expr;
  from: Expr | null;
  to: Expr | null;
}

export interface ListExpr {
  kind: 'List';
  pos: Pos;
  items: Expr[];
}

export interface MapExpr {
  kind: 'Map';
  pos: Pos;
  entries: { key: string; value: Expr }[];
}

/** `n {.name, .age, city: expr, other, .*}` */
export interface MapProjectionExpr {
  kind: 'MapProjection';
  pos: Pos;
  variable: string;
  items: (
    | { kind: 'property'; key: string }
    | { kind: 'literal'; key: string; value: Expr }
    | { kind: 'variable'; name: string }
    | { kind: 'allProperties' }
  )[];
}

export type BinaryOp =
  | 'OR'
  | 'XOR'
  | 'AND'
  | '='
  | '<>'
  | '<'
  | '>'
  | '<='
  | '>='
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '^'
  | '||'
  | 'IN'
  | 'STARTS WITH'
  | 'ENDS WITH'
  | 'CONTAINS'
  | '=~';

export interface BinaryExpr {
  kind: 'Binary';
  pos: Pos;
  op: BinaryOp;
  left: Expr;
  right: Expr;
}

export interface UnaryExpr {
  kind: 'Unary';
  pos: Pos;
  op: 'NOT' | '-' | '+';
  operand: Expr;
}

/** `x IS NULL` / `x IS NOT NULL` */
export interface IsNullExpr {
  kind: 'IsNull';
  pos: Pos;
  operand: Expr;
  negated: boolean;
}

/** `n:A:B` used as a predicate. */
export interface HasLabelsExpr {
  kind: 'HasLabels';
  pos: Pos;
  object: Expr;
  labels: string[];
}

/**
 * A function call. `name` is as written, including a namespace (`toInteger`,
 * `date.truncate`); lookups are case-insensitive, so compare `lowerName`.
 */
export interface FunctionCallExpr {
  kind: 'FunctionCall';
  pos: Pos;
  name: string;
  lowerName: string;
  distinct: boolean;
  args: Expr[];
}

/** `count(*)` */
export interface CountStarExpr {
  kind: 'CountStar';
  pos: Pos;
}

/** `CASE [test] WHEN .. THEN .. [ELSE ..] END`; `test` null for the searched form. */
export interface CaseExpr {
  kind: 'Case';
  pos: Pos;
  test: Expr | null;
  alternatives: { when: Expr; then: Expr }[];
  otherwise: Expr | null;
}

/** `[x IN list WHERE pred | expr]` */
export interface ListComprehensionExpr {
  kind: 'ListComprehension';
  pos: Pos;
  variable: string;
  list: Expr;
  where: Expr | null;
  map: Expr | null;
}

/** `[p = (a)-->(b) WHERE pred | expr]` */
export interface PatternComprehensionExpr {
  kind: 'PatternComprehension';
  pos: Pos;
  pattern: PatternPart;
  where: Expr | null;
  map: Expr;
}

/** `all(x IN list WHERE pred)`, likewise any, none, single. */
export interface QuantifierExpr {
  kind: 'Quantifier';
  pos: Pos;
  quantifier: 'all' | 'any' | 'none' | 'single';
  variable: string;
  list: Expr;
  where: Expr | null;
}

/** `reduce(acc = init, x IN list | expr)` */
export interface ReduceExpr {
  kind: 'Reduce';
  pos: Pos;
  accumulator: string;
  init: Expr;
  variable: string;
  list: Expr;
  expr: Expr;
}

/** A relationship pattern used as a boolean predicate: `WHERE (a)-[:T]->(b)`. */
export interface PatternPredicateExpr {
  kind: 'PatternPredicate';
  pos: Pos;
  pattern: PatternPart;
}

/** `EXISTS { MATCH ... }` or `EXISTS { (a)-->(b) WHERE ... }`. */
export interface ExistsSubqueryExpr {
  kind: 'ExistsSubquery';
  pos: Pos;
  /** Either a full query, or a pattern with an optional WHERE. */
  query: QueryStatement | null;
  pattern: PatternPart[] | null;
  where: Expr | null;
}

// ---- classification --------------------------------------------------------

/**
 * What a statement does, as the gateway routes it:
 * - `read`: only reads the graph; any replica within the lag bound may serve it.
 * - `write`: changes the graph; goes to the Raft leader.
 * - `schema`: changes indexes or properties in bulk; a write that goes to the leader.
 * - `session`: `SET SESSION ...`; answered by whoever holds the session (the gateway).
 * - `cluster`: `SET CLUSTER ...`; a replicated setting, goes to the leader.
 * - `admin`: reads of system views; answered by any node.
 */
export type StatementKind = 'read' | 'write' | 'schema' | 'session' | 'cluster' | 'admin';
