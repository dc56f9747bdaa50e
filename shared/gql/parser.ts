/**
 * Recursive-descent parser for GQL/openCypher producing the AST of ast.ts.
 * Expressions use one function per precedence level (openCypher order), GQL
 * spellings are normalized here so later stages see a single form.
 */
import { syntaxError, type GeodeError, type SourcePosition } from '../protocol/errors.js';
import type {
  BinaryOp,
  CallClause,
  Clause,
  CreateIndexStatement,
  DropIndexStatement,
  Expr,
  MapProjectionExpr,
  NodePattern,
  PatternPart,
  PatternStep,
  Pos,
  Projection,
  ProjectionItem,
  PropertyExpr,
  QueryStatement,
  RelationshipPattern,
  RemoveItem,
  SetItem,
  SingleQuery,
  SortItem,
  Statement,
  SystemSelectStatement,
  WithClause,
} from './ast.js';
import { tokenize, type Token } from './lexer.js';

const INT_MAX = 9223372036854775807n;
const INT_MIN_ABS = 9223372036854775808n;

/** Words that end an expression or start a clause; never read as a variable name. */
const CLAUSE_WORDS = new Set([
  'MATCH', 'OPTIONAL', 'UNWIND', 'WITH', 'RETURN', 'CREATE', 'MERGE', 'SET', 'REMOVE', 'DELETE', 'DETACH',
  'NODETACH', 'CALL', 'UNION', 'INSERT', 'FILTER', 'LET', 'FOR', 'ORDER', 'SKIP', 'LIMIT', 'OFFSET', 'WHERE',
  'YIELD', 'ON', 'AS', 'AND', 'OR', 'XOR', 'THEN', 'ELSE', 'END', 'WHEN', 'IN', 'IS', 'CONTAINS', 'STARTS', 'ENDS',
  'ASC', 'DESC', 'ASCENDING', 'DESCENDING', 'DISTINCT',
]);

/** Parses one statement (the engine parses whole requests; see index.ts for the checked entry point). */
export function parseStatement(text: string): Statement {
  return new Parser(text).statement();
}

class Parser {
  private readonly toks: Token[];
  private i = 0;
  /** End offset of the last consumed token (for ProjectionItem.text). */
  private lastEnd = 0;

  constructor(private readonly src: string) {
    this.toks = tokenize(src);
  }

  // ---- token helpers -----------------------------------------------------

  private get tok(): Token {
    return this.toks[this.i] as Token;
  }

  /** Kind of the current token (a method, so TypeScript does not keep a stale narrowing across advance()). */
  private kind(): Token['kind'] {
    return this.tok.kind;
  }

  private peekTok(k = 1): Token {
    const t = this.toks[this.i + k];
    return t ?? (this.toks[this.toks.length - 1] as Token);
  }

  private advance(): Token {
    const t = this.tok;
    if (t.kind !== 'eof') {
      this.i++;
      this.lastEnd = t.end;
    }
    return t;
  }

  private isKw(word: string, t: Token = this.tok): boolean {
    return t.kind === 'ident' && t.upper === word;
  }

  private isP(p: string, t: Token = this.tok): boolean {
    return t.kind === 'punct' && t.text === p;
  }

  private acceptKw(word: string): boolean {
    if (this.isKw(word)) {
      this.advance();
      return true;
    }
    return false;
  }

  private acceptP(p: string): boolean {
    if (this.isP(p)) {
      this.advance();
      return true;
    }
    return false;
  }

  private describe(t: Token): string {
    switch (t.kind) {
      case 'eof':
        return 'end of input';
      case 'string':
        return `'${this.src.slice(t.pos.offset, t.end)}'`.length > 40
          ? `a string literal`
          : this.src.slice(t.pos.offset, t.end);
      case 'quoted':
        return `\`${t.text}\``;
      default:
        return `'${this.src.slice(t.pos.offset, t.end)}'`;
    }
  }

  private fail(expected: string, t: Token = this.tok): GeodeError {
    return syntaxError(`expected ${expected} but found ${this.describe(t)}`, t.pos, 'UnexpectedSyntax');
  }

  private expectKw(word: string): Token {
    if (!this.isKw(word)) throw this.fail(word);
    return this.advance();
  }

  private expectP(p: string): Token {
    if (!this.isP(p)) throw this.fail(`'${p}'`);
    return this.advance();
  }

  /** A symbolic name: identifier (including keywords) or backtick-quoted. */
  private isName(t: Token = this.tok): boolean {
    return t.kind === 'ident' || t.kind === 'quoted';
  }

  private name(what = 'a name'): string {
    if (!this.isName()) throw this.fail(what);
    return this.advance().text;
  }

  /** A variable name: like name() but refuses clause keywords so errors read well. */
  private isVariableStart(t: Token = this.tok): boolean {
    return t.kind === 'quoted' || (t.kind === 'ident' && !CLAUSE_WORDS.has(t.upper));
  }

  private variable(): string {
    if (!this.isVariableStart()) throw this.fail('a variable name');
    return this.advance().text;
  }

  // ---- statements -----------------------------------------------------------

  statement(): Statement {
    const t = this.tok;
    let stmt: Statement;
    if (this.isKw('CREATE') && this.isKw('INDEX', this.peekTok())) stmt = this.createIndex();
    else if (this.isKw('DROP') && this.isKw('INDEX', this.peekTok())) stmt = this.dropIndex();
    else if (this.isKw('ALTER') && this.isKw('GRAPH', this.peekTok())) stmt = this.alterGraph();
    else if (this.isKw('SET') && (this.isKw('SESSION', this.peekTok()) || this.isKw('CLUSTER', this.peekTok())))
      stmt = this.setting();
    else if (this.isKw('SELECT')) stmt = this.systemSelect();
    else if (t.kind === 'eof') throw syntaxError('empty query', t.pos, 'UnexpectedSyntax');
    else stmt = this.query();
    this.acceptP(';');
    if (this.kind() !== 'eof') throw this.fail('a clause or end of input');
    return stmt;
  }

  private query(): QueryStatement {
    const pos = this.tok.pos;
    const parts: SingleQuery[] = [this.singleQuery()];
    const unionAll: boolean[] = [];
    while (this.acceptKw('UNION')) {
      unionAll.push(this.acceptKw('ALL'));
      parts.push(this.singleQuery());
    }
    return { kind: 'Query', pos, parts, unionAll };
  }

  private singleQuery(): SingleQuery {
    const pos = this.tok.pos;
    const clauses: Clause[] = [];
    for (;;) {
      const c = this.clause();
      if (!c) break;
      clauses.push(c);
    }
    if (clauses.length === 0) throw this.fail('a clause');
    return { pos, clauses };
  }

  private clause(): Clause | null {
    const t = this.tok;
    if (t.kind !== 'ident') return null;
    const pos = t.pos;
    switch (t.upper) {
      case 'OPTIONAL': {
        this.advance();
        this.expectKw('MATCH');
        return this.matchRest(pos, true);
      }
      case 'MATCH':
        this.advance();
        return this.matchRest(pos, false);
      case 'UNWIND': {
        this.advance();
        const expr = this.expr();
        this.expectKw('AS');
        return { kind: 'Unwind', pos, expr, variable: this.name('a variable name') };
      }
      case 'FOR': {
        this.advance();
        const variable = this.variable();
        this.expectKw('IN');
        return { kind: 'Unwind', pos, expr: this.expr(), variable };
      }
      case 'WITH': {
        this.advance();
        const projection = this.projection();
        const where = this.acceptKw('WHERE') ? this.expr() : null;
        return { kind: 'With', pos, projection, where };
      }
      case 'RETURN':
        this.advance();
        return { kind: 'Return', pos, projection: this.projection() };
      case 'CREATE':
      case 'INSERT':
        this.advance();
        return { kind: 'Create', pos, pattern: this.pattern() };
      case 'MERGE':
        return this.merge();
      case 'SET':
        this.advance();
        return { kind: 'Set', pos, items: this.setItems() };
      case 'REMOVE':
        return this.remove();
      case 'DETACH':
      case 'NODETACH':
      case 'DELETE': {
        this.advance();
        const detach = t.upper === 'DETACH';
        if (detach || t.upper === 'NODETACH') this.expectKw('DELETE');
        const exprs = [this.expr()];
        while (this.acceptP(',')) exprs.push(this.expr());
        return { kind: 'Delete', pos, detach, exprs };
      }
      case 'CALL':
        return this.call();
      case 'FILTER': {
        this.advance();
        this.acceptKw('WHERE');
        const where = this.expr();
        return { kind: 'With', pos, projection: this.emptyProjection(true), where };
      }
      case 'LET':
        return this.let();
      default:
        return null;
    }
  }

  private matchRest(pos: Pos, optional: boolean): Clause {
    const pattern = this.pattern();
    const where = this.acceptKw('WHERE') ? this.expr() : null;
    return { kind: 'Match', pos, optional, pattern, where };
  }

  private merge(): Clause {
    const pos = this.advance().pos;
    const pattern = this.patternPart();
    const onCreate: SetItem[] = [];
    const onMatch: SetItem[] = [];
    while (this.isKw('ON')) {
      this.advance();
      if (this.acceptKw('CREATE')) {
        this.expectKw('SET');
        onCreate.push(...this.setItems());
      } else if (this.acceptKw('MATCH')) {
        this.expectKw('SET');
        onMatch.push(...this.setItems());
      } else throw this.fail('CREATE or MATCH');
    }
    return { kind: 'Merge', pos, pattern, onCreate, onMatch };
  }

  private let(): WithClause {
    const pos = this.advance().pos;
    const projection = this.emptyProjection(true);
    do {
      const start = this.tok;
      const name = this.variable();
      this.expectP('=');
      const exprStart = this.tok.pos.offset;
      const expr = this.expr();
      void start;
      projection.items.push({ expr, alias: name, text: this.src.slice(exprStart, this.lastEnd) });
    } while (this.acceptP(','));
    return { kind: 'With', pos, projection, where: null };
  }

  private emptyProjection(star: boolean): Projection {
    return { distinct: false, star, items: [], orderBy: [], skip: null, limit: null };
  }

  private call(): CallClause {
    const pos = this.advance().pos;
    let procedure = this.name('a procedure name');
    while (this.isP('.') && this.isName(this.peekTok())) {
      this.advance();
      procedure += '.' + this.advance().text;
    }
    let args: Expr[] | null = null;
    if (this.acceptP('(')) {
      args = [];
      if (!this.isP(')')) {
        args.push(this.expr());
        while (this.acceptP(',')) args.push(this.expr());
      }
      this.expectP(')');
    }
    let yieldItems: CallClause['yield'] = null;
    let where: Expr | null = null;
    if (this.acceptKw('YIELD')) {
      if (this.acceptP('*')) yieldItems = '*';
      else {
        yieldItems = [];
        do {
          const name = this.name('a procedure output name');
          const alias = this.acceptKw('AS') ? this.variable() : null;
          yieldItems.push({ name, alias });
        } while (this.acceptP(','));
      }
      if (this.acceptKw('WHERE')) where = this.expr();
    }
    return { kind: 'Call', pos, procedure, args, yield: yieldItems, where };
  }

  private projection(): Projection {
    const distinct = this.acceptKw('DISTINCT');
    const p = this.emptyProjection(false);
    p.distinct = distinct;
    if (this.acceptP('*')) {
      p.star = true;
      while (this.acceptP(',')) p.items.push(this.projectionItem());
    } else {
      p.items.push(this.projectionItem());
      while (this.acceptP(',')) p.items.push(this.projectionItem());
    }
    if (this.isKw('ORDER')) {
      this.advance();
      this.expectKw('BY');
      do p.orderBy.push(this.sortItem());
      while (this.acceptP(','));
    }
    if (this.acceptKw('SKIP') || this.acceptKw('OFFSET')) p.skip = this.expr();
    if (this.acceptKw('LIMIT')) p.limit = this.expr();
    return p;
  }

  private projectionItem(): ProjectionItem {
    const start = this.tok.pos.offset;
    const expr = this.expr();
    const text = this.src.slice(start, this.lastEnd);
    const alias = this.acceptKw('AS') ? this.name('an alias') : null;
    return { expr, alias, text };
  }

  private sortItem(): SortItem {
    const expr = this.expr();
    let descending = false;
    if (this.acceptKw('DESC') || this.acceptKw('DESCENDING')) descending = true;
    else if (this.acceptKw('ASC') || this.acceptKw('ASCENDING')) descending = false;
    let nulls: SortItem['nulls'] = null;
    if (this.isKw('NULLS')) {
      this.advance();
      if (this.acceptKw('FIRST')) nulls = 'first';
      else if (this.acceptKw('LAST')) nulls = 'last';
      else throw this.fail('FIRST or LAST');
    }
    return { expr, descending, nulls };
  }

  private setItems(): SetItem[] {
    const items: SetItem[] = [];
    do items.push(this.setItem());
    while (this.acceptP(','));
    return items;
  }

  private setItem(): SetItem {
    const t = this.tok;
    const pos = t.pos;
    if (this.isName(t)) {
      const next = this.peekTok();
      if (this.isP('=', next)) {
        this.advance();
        this.advance();
        return { kind: 'SetAllProperties', pos, variable: t.text, value: this.expr() };
      }
      if (this.isP('+=', next)) {
        this.advance();
        this.advance();
        return { kind: 'MergeProperties', pos, variable: t.text, value: this.expr() };
      }
      if (this.isP(':', next) || this.isKw('IS', next)) {
        this.advance();
        return { kind: 'SetLabels', pos, variable: t.text, labels: this.labelList() };
      }
    }
    const target = this.propertyTarget();
    this.expectP('=');
    return { kind: 'SetProperty', pos, target, value: this.expr() };
  }

  /** `n.prop` (or `(expr).a.b`): a property lookup as the target of SET/REMOVE. */
  private propertyTarget(): PropertyExpr {
    const start = this.tok;
    const e = this.postfix(this.atom(), false);
    if (e.kind !== 'Property') throw this.fail('a property (like n.prop)', start);
    return e;
  }

  private remove(): Clause {
    const pos = this.advance().pos;
    const items: RemoveItem[] = [];
    do {
      const t = this.tok;
      if (this.isName(t) && (this.isP(':', this.peekTok()) || this.isKw('IS', this.peekTok()))) {
        this.advance();
        items.push({ kind: 'RemoveLabels', pos: t.pos, variable: t.text, labels: this.labelList() });
      } else {
        items.push({ kind: 'RemoveProperty', pos: t.pos, target: this.propertyTarget() });
      }
    } while (this.acceptP(','));
    return { kind: 'Remove', pos, items };
  }

  /** `:A:B`, `:A&B`, `IS A&B`; the cursor is on ':' or IS. */
  private labelList(): string[] {
    const labels: string[] = [];
    if (this.acceptKw('IS')) labels.push(this.name('a label'));
    else {
      this.expectP(':');
      labels.push(this.name('a label'));
    }
    for (;;) {
      if (this.isP(':') || this.isP('&')) {
        this.advance();
        this.acceptP(':');
        labels.push(this.name('a label'));
      } else break;
    }
    return labels;
  }

  // ---- patterns ---------------------------------------------------------------

  private pattern(): PatternPart[] {
    const parts = [this.patternPart()];
    while (this.acceptP(',')) parts.push(this.patternPart());
    return parts;
  }

  private patternPart(): PatternPart {
    const pos = this.tok.pos;
    let variable: string | null = null;
    if (this.isVariableStart() && this.isP('=', this.peekTok())) {
      variable = this.advance().text;
      this.advance();
    }
    let shortest: PatternPart['shortest'] = null;
    if ((this.isKw('SHORTESTPATH') || this.isKw('ALLSHORTESTPATHS')) && this.isP('(', this.peekTok())) {
      shortest = this.isKw('SHORTESTPATH') ? 'shortest' : 'all';
      this.advance();
      this.advance();
      const el = this.patternElement();
      this.expectP(')');
      return { pos, variable, shortest, start: el.start, chain: el.chain };
    }
    const el = this.patternElement();
    return { pos, variable, shortest, start: el.start, chain: el.chain };
  }

  private patternElement(): { start: NodePattern; chain: PatternStep[] } {
    // A parenthesized element `((a)-->(b))`: the inner '(' starts a node or another element.
    if (this.isP('(') && this.isP('(', this.peekTok())) {
      this.advance();
      const inner = this.patternElement();
      this.expectP(')');
      return inner;
    }
    const start = this.nodePattern();
    const chain: PatternStep[] = [];
    while (this.isP('-') || (this.isP('<') && this.isP('-', this.peekTok()))) {
      const rel = this.relationshipPattern();
      chain.push({ rel, node: this.nodePattern() });
    }
    return { start, chain };
  }

  private nodePattern(): NodePattern {
    const pos = this.expectP('(').pos;
    let variable: string | null = null;
    // `(IS Label)` has no variable; `(is:Label)` names a variable `is`.
    if (this.isName() && !(this.isKw('IS') && this.isName(this.peekTok()))) variable = this.advance().text;
    let labels: string[] = [];
    if (this.isP(':') || this.isKw('IS')) labels = this.labelList();
    let properties: Expr | null = null;
    if (this.isP('{')) properties = this.mapLiteral();
    else if (this.kind() === 'param') properties = this.parameter();
    if (this.acceptKw('WHERE')) throw syntaxError('WHERE inside a node pattern is not supported', this.toks[this.i - 1]?.pos ?? pos, 'UnexpectedSyntax');
    this.expectP(')');
    return { pos, variable, labels, properties };
  }

  private relationshipPattern(): RelationshipPattern {
    const pos = this.tok.pos;
    const leftArrow = this.acceptP('<');
    this.expectP('-');
    let variable: string | null = null;
    const types: string[] = [];
    let properties: Expr | null = null;
    let length: RelationshipPattern['length'] = null;
    if (this.acceptP('[')) {
      if (this.isName() && !this.isKw('IS')) variable = this.advance().text;
      if (this.isP(':') || this.isKw('IS')) {
        this.advance();
        types.push(this.name('a relationship type'));
        while (this.acceptP('|')) {
          this.acceptP(':');
          types.push(this.name('a relationship type'));
        }
      }
      if (this.acceptP('*')) {
        if (this.isP('-')) throw syntaxError('a variable-length bound cannot be negative', this.tok.pos, 'InvalidRelationshipPattern');
        length = this.rangeLiteral();
      } else if (this.isP('..') || this.kind() === 'integer') {
        throw syntaxError("expected '*' before a variable-length range", this.tok.pos, 'InvalidRelationshipPattern');
      }
      if (this.isP('{')) properties = this.mapLiteral();
      else if (this.kind() === 'param') properties = this.parameter();
      this.expectP(']');
    }
    this.expectP('-');
    const rightArrow = this.acceptP('>');
    const direction = leftArrow === rightArrow ? 'both' : leftArrow ? 'in' : 'out';
    return { pos, variable, types, direction, properties, length };
  }

  private rangeLiteral(): { min: number | null; max: number | null } {
    let min: number | null = null;
    let max: number | null = null;
    if (this.kind() === 'integer') {
      min = Number(this.advance().num);
      if (this.acceptP('..')) {
        if (this.kind() === 'integer') max = Number(this.advance().num);
      } else max = min;
    } else if (this.acceptP('..')) {
      if (this.kind() === 'integer') max = Number(this.advance().num);
    }
    return { min, max };
  }

  // ---- expressions ------------------------------------------------------------

  expr(): Expr {
    return this.orExpr();
  }

  private bin(op: BinaryOp, left: Expr, right: Expr): Expr {
    return { kind: 'Binary', pos: left.pos, op, left, right };
  }

  private orExpr(): Expr {
    let left = this.xorExpr();
    while (this.acceptKw('OR')) left = this.bin('OR', left, this.xorExpr());
    return left;
  }

  private xorExpr(): Expr {
    let left = this.andExpr();
    while (this.acceptKw('XOR')) left = this.bin('XOR', left, this.andExpr());
    return left;
  }

  private andExpr(): Expr {
    let left = this.notExpr();
    while (this.acceptKw('AND')) left = this.bin('AND', left, this.notExpr());
    return left;
  }

  private notExpr(): Expr {
    if (this.isKw('NOT')) {
      const pos = this.advance().pos;
      return { kind: 'Unary', pos, op: 'NOT', operand: this.notExpr() };
    }
    return this.comparison();
  }

  private comparisonOp(): BinaryOp | null {
    const t = this.tok;
    if (t.kind !== 'punct') return null;
    switch (t.text) {
      case '=':
      case '<>':
      case '<':
      case '>':
      case '<=':
      case '>=':
        return t.text;
      default:
        return null;
    }
  }

  private comparison(): Expr {
    const first = this.predicateExpr();
    let op = this.comparisonOp();
    if (!op) return first;
    let result: Expr | null = null;
    let left = first;
    while (op) {
      this.advance();
      const right = this.predicateExpr();
      const cmp = this.bin(op, left, right);
      result = result ? this.bin('AND', result, cmp) : cmp;
      left = right;
      op = this.comparisonOp();
    }
    return result ?? first;
  }

  /** STARTS WITH, ENDS WITH, CONTAINS, =~, IN, IS [NOT] NULL, IS Label. */
  private predicateExpr(): Expr {
    let left = this.additive();
    for (;;) {
      const t = this.tok;
      if (this.isKw('STARTS', t) && this.isKw('WITH', this.peekTok())) {
        this.advance();
        this.advance();
        left = this.bin('STARTS WITH', left, this.additive());
      } else if (this.isKw('ENDS', t) && this.isKw('WITH', this.peekTok())) {
        this.advance();
        this.advance();
        left = this.bin('ENDS WITH', left, this.additive());
      } else if (this.isKw('CONTAINS', t)) {
        this.advance();
        left = this.bin('CONTAINS', left, this.additive());
      } else if (this.isP('=~', t)) {
        this.advance();
        left = this.bin('=~', left, this.additive());
      } else if (this.isKw('IN', t)) {
        this.advance();
        left = this.bin('IN', left, this.additive());
      } else if (this.isKw('IS', t)) {
        this.advance();
        const negated = this.acceptKw('NOT');
        if (this.acceptKw('NULL')) {
          left = { kind: 'IsNull', pos: left.pos, operand: left, negated };
        } else if (this.isName()) {
          // GQL `x IS Label` is a label predicate.
          const labels = [this.advance().text];
          while (this.acceptP('&')) labels.push(this.name('a label'));
          const has: Expr = { kind: 'HasLabels', pos: left.pos, object: left, labels };
          left = negated ? { kind: 'Unary', pos: left.pos, op: 'NOT', operand: has } : has;
        } else throw this.fail('NULL');
      } else return left;
    }
  }

  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      const t = this.tok;
      if (t.kind === 'punct' && (t.text === '+' || t.text === '-' || t.text === '||')) {
        this.advance();
        left = this.bin(t.text, left, this.multiplicative());
      } else return left;
    }
  }

  private multiplicative(): Expr {
    let left = this.power();
    for (;;) {
      const t = this.tok;
      if (t.kind === 'punct' && (t.text === '*' || t.text === '/' || t.text === '%')) {
        this.advance();
        left = this.bin(t.text, left, this.power());
      } else return left;
    }
  }

  private power(): Expr {
    let left = this.unary();
    while (this.acceptP('^')) left = this.bin('^', left, this.unary());
    return left;
  }

  private unary(): Expr {
    const t = this.tok;
    if (t.kind === 'punct' && (t.text === '-' || t.text === '+')) {
      this.advance();
      const next = this.tok;
      // -9223372036854775808 is representable only as a whole literal.
      if (t.text === '-' && next.kind === 'integer' && next.num === INT_MIN_ABS && !this.startsPostfix(this.peekTok())) {
        this.advance();
        return { kind: 'Literal', pos: t.pos, value: -INT_MIN_ABS };
      }
      return { kind: 'Unary', pos: t.pos, op: t.text, operand: this.unary() };
    }
    return this.postfix(this.atom(), true);
  }

  private startsPostfix(t: Token): boolean {
    return this.isP('.', t) || this.isP('[', t) || this.isP(':', t);
  }

  /** Property lookups, subscripts, slices, and (when allowed) a trailing `:Label` predicate. */
  private postfix(base: Expr, allowLabels: boolean): Expr {
    let e = base;
    for (;;) {
      if (this.isP('.')) {
        this.advance();
        const key = this.name('a property key');
        e = { kind: 'Property', pos: e.pos, object: e, key };
      } else if (this.isP('[')) {
        this.advance();
        if (this.acceptP('..')) {
          const to = this.isP(']') ? null : this.expr();
          this.expectP(']');
          e = { kind: 'Slice', pos: e.pos, object: e, from: null, to };
          continue;
        }
        const index = this.expr();
        if (this.acceptP('..')) {
          const to = this.isP(']') ? null : this.expr();
          this.expectP(']');
          e = { kind: 'Slice', pos: e.pos, object: e, from: index, to };
          continue;
        }
        this.expectP(']');
        e = { kind: 'Index', pos: e.pos, object: e, index };
      } else if (allowLabels && this.isP(':')) {
        const labels: string[] = [];
        while (this.acceptP(':')) labels.push(this.name('a label'));
        e = { kind: 'HasLabels', pos: e.pos, object: e, labels };
      } else return e;
    }
  }

  private parameter(): Expr {
    const t = this.advance();
    return { kind: 'Parameter', pos: t.pos, name: t.text };
  }

  private atom(): Expr {
    const t = this.tok;
    const pos = t.pos;
    switch (t.kind) {
      case 'integer': {
        this.advance();
        if (typeof t.num === 'bigint' && t.num > INT_MAX) {
          throw syntaxError(`integer literal is too large: ${this.src.slice(pos.offset, t.end)}`, pos, 'IntegerOverflow');
        }
        return { kind: 'Literal', pos, value: t.num };
      }
      case 'float':
        this.advance();
        return { kind: 'Literal', pos, value: t.num };
      case 'string':
        this.advance();
        return { kind: 'Literal', pos, value: t.text };
      case 'param':
        return this.parameter();
      case 'badnumber':
        throw syntaxError(`invalid number literal '${t.text}'`, pos, 'InvalidNumberLiteral');
      case 'quoted':
        this.advance();
        if (this.isP('{')) return this.mapProjection(t.text, pos);
        return { kind: 'Variable', pos, name: t.text };
      case 'punct':
        if (t.text === '(') return this.parenthesized();
        if (t.text === '[') return this.bracketed();
        if (t.text === '{') return this.mapLiteral();
        throw this.fail('an expression');
      case 'eof':
        throw this.fail('an expression');
      case 'ident':
        break;
    }
    switch (t.upper) {
      case 'TRUE':
        this.advance();
        return { kind: 'Literal', pos, value: true };
      case 'FALSE':
        this.advance();
        return { kind: 'Literal', pos, value: false };
      case 'NULL':
        this.advance();
        return { kind: 'Literal', pos, value: null };
      case 'CASE':
        return this.caseExpr();
      case 'EXISTS':
        if (this.isP('{', this.peekTok())) return this.existsSubquery();
        break;
      default:
        break;
    }
    const next = this.peekTok();
    if (this.isP('(', next)) return this.functionCall(t.text, pos);
    if (this.isP('.', next) && this.isNamespacedCall()) {
      let name = this.advance().text;
      while (this.acceptP('.')) name += '.' + this.advance().text;
      return this.functionCall(name, pos, true);
    }
    if (CLAUSE_WORDS.has(t.upper)) throw this.fail('an expression');
    this.advance();
    if (this.isP('{')) return this.mapProjection(t.text, pos);
    return { kind: 'Variable', pos, name: t.text };
  }

  /** `a.b.c(` : a namespaced function name ahead (cursor on `a`). */
  private isNamespacedCall(): boolean {
    let k = 1;
    while (this.isP('.', this.peekTok(k)) && this.isName(this.peekTok(k + 1))) k += 2;
    return k > 1 && this.isP('(', this.peekTok(k));
  }

  private functionCall(name: string, pos: Pos, nameConsumed = false): Expr {
    if (!nameConsumed) this.advance();
    this.expectP('(');
    const lowerName = name.toLowerCase();
    if (lowerName === 'count' && this.isP('*') && this.isP(')', this.peekTok())) {
      this.advance();
      this.advance();
      return { kind: 'CountStar', pos };
    }
    if (
      (lowerName === 'all' || lowerName === 'any' || lowerName === 'none' || lowerName === 'single') &&
      this.isVariableStart() &&
      this.isKw('IN', this.peekTok())
    ) {
      const variable = this.advance().text;
      this.advance();
      const list = this.expr();
      const where = this.acceptKw('WHERE') ? this.expr() : null;
      this.expectP(')');
      return { kind: 'Quantifier', pos, quantifier: lowerName, variable, list, where };
    }
    if (lowerName === 'reduce' && this.isVariableStart() && this.isP('=', this.peekTok())) {
      const accumulator = this.advance().text;
      this.advance();
      const init = this.expr();
      this.expectP(',');
      const variable = this.variable();
      this.expectKw('IN');
      const list = this.expr();
      this.expectP('|');
      const expr = this.expr();
      this.expectP(')');
      return { kind: 'Reduce', pos, accumulator, init, variable, list, expr };
    }
    if ((lowerName === 'shortestpath' || lowerName === 'allshortestpaths') && this.isP('(')) {
      const el = this.patternElement();
      this.expectP(')');
      const pattern: PatternPart = {
        pos,
        variable: null,
        shortest: lowerName === 'shortestpath' ? 'shortest' : 'all',
        start: el.start,
        chain: el.chain,
      };
      return { kind: 'PatternPredicate', pos, pattern };
    }
    const distinct = this.acceptKw('DISTINCT');
    const args: Expr[] = [];
    if (!this.isP(')')) {
      args.push(this.expr());
      while (this.acceptP(',')) args.push(this.expr());
    }
    this.expectP(')');
    return { kind: 'FunctionCall', pos, name, lowerName, distinct, args };
  }

  private caseExpr(): Expr {
    const pos = this.advance().pos;
    const test = this.isKw('WHEN') ? null : this.expr();
    const alternatives: { when: Expr; then: Expr }[] = [];
    while (this.acceptKw('WHEN')) {
      const when = this.expr();
      this.expectKw('THEN');
      alternatives.push({ when, then: this.expr() });
    }
    if (alternatives.length === 0) throw this.fail('WHEN');
    const otherwise = this.acceptKw('ELSE') ? this.expr() : null;
    this.expectKw('END');
    return { kind: 'Case', pos, test, alternatives, otherwise };
  }

  private existsSubquery(): Expr {
    const pos = this.advance().pos;
    this.expectP('{');
    let result: Expr;
    if (this.isP('(') || (this.isVariableStart() && this.isP('=', this.peekTok()))) {
      const pattern = this.pattern();
      const where = this.acceptKw('WHERE') ? this.expr() : null;
      result = { kind: 'ExistsSubquery', pos, query: null, pattern, where };
    } else {
      const query = this.query();
      result = { kind: 'ExistsSubquery', pos, query, pattern: null, where: null };
    }
    this.expectP('}');
    return result;
  }

  /** Runs `fn` speculatively; on a syntax error restores the cursor and returns null. */
  private attempt<T>(fn: () => T): T | null {
    const save = this.i;
    const saveEnd = this.lastEnd;
    try {
      return fn();
    } catch (err) {
      if (err instanceof Error && (err as GeodeError).code === 'SYNTAX_ERROR') {
        this.i = save;
        this.lastEnd = saveEnd;
        return null;
      }
      throw err;
    }
  }

  /** `(expr)` or a pattern predicate `(a)-[:T]->(b)`. */
  private parenthesized(): Expr {
    const pos = this.tok.pos;
    const part = this.attempt(() => {
      const el = this.patternElement();
      if (el.chain.length === 0) throw syntaxError('not a pattern', pos);
      return el;
    });
    if (part) {
      return {
        kind: 'PatternPredicate',
        pos,
        pattern: { pos, variable: null, shortest: null, start: part.start, chain: part.chain },
      };
    }
    this.advance();
    const e = this.expr();
    this.expectP(')');
    return e;
  }

  /** List literal, list comprehension or pattern comprehension. */
  private bracketed(): Expr {
    const pos = this.advance().pos;
    // [x IN list WHERE pred | expr]
    if (this.isVariableStart() && this.isKw('IN', this.peekTok())) {
      const variable = this.advance().text;
      this.advance();
      const list = this.expr();
      const where = this.acceptKw('WHERE') ? this.expr() : null;
      const map = this.acceptP('|') ? this.expr() : null;
      this.expectP(']');
      return { kind: 'ListComprehension', pos, variable, list, where, map };
    }
    // [p = (a)-->(b) WHERE pred | expr] or [(a)-->(b) | expr]
    if (this.isP('(') || (this.isVariableStart() && this.isP('=', this.peekTok()) && this.isP('(', this.peekTok(2)))) {
      const comp = this.attempt(() => {
        const pattern = this.patternPart();
        if (pattern.chain.length === 0 && pattern.variable === null) throw syntaxError('not a pattern', pos);
        const where = this.acceptKw('WHERE') ? this.expr() : null;
        this.expectP('|');
        const map = this.expr();
        this.expectP(']');
        return { kind: 'PatternComprehension' as const, pos, pattern, where, map };
      });
      if (comp) return comp;
    }
    const items: Expr[] = [];
    if (!this.isP(']')) {
      items.push(this.expr());
      while (this.acceptP(',')) items.push(this.expr());
    }
    this.expectP(']');
    return { kind: 'List', pos, items };
  }

  private mapLiteral(): Expr {
    const pos = this.expectP('{').pos;
    const entries: { key: string; value: Expr }[] = [];
    if (!this.isP('}')) {
      do {
        const key = this.name('a map key');
        this.expectP(':');
        entries.push({ key, value: this.expr() });
      } while (this.acceptP(','));
    }
    this.expectP('}');
    return { kind: 'Map', pos, entries };
  }

  private mapProjection(variable: string, pos: Pos): Expr {
    this.expectP('{');
    const items: MapProjectionExpr['items'] = [];
    if (!this.isP('}')) {
      do {
        if (this.acceptP('.')) {
          if (this.acceptP('*')) items.push({ kind: 'allProperties' });
          else items.push({ kind: 'property', key: this.name('a property key') });
        } else if (this.isName() && this.isP(':', this.peekTok())) {
          const key = this.advance().text;
          this.advance();
          items.push({ kind: 'literal', key, value: this.expr() });
        } else {
          items.push({ kind: 'variable', name: this.variable() });
        }
      } while (this.acceptP(','));
    }
    this.expectP('}');
    return { kind: 'MapProjection', pos, variable, items };
  }

  // ---- non-query statements -----------------------------------------------------

  private createIndex(): CreateIndexStatement {
    const pos = this.advance().pos;
    this.advance(); // INDEX
    let name: string | null = null;
    if (this.isName() && !this.isKw('ON') && !this.isKw('FOR') && !(this.isKw('IF') && this.isKw('NOT', this.peekTok())))
      name = this.advance().text;
    let ifNotExists = false;
    if (this.isKw('IF')) {
      this.advance();
      this.expectKw('NOT');
      this.expectKw('EXISTS');
      ifNotExists = true;
    }
    let label: string;
    const properties: string[] = [];
    if (this.acceptKw('FOR')) {
      this.expectP('(');
      const v = this.variable();
      this.expectP(':');
      label = this.name('a label');
      this.expectP(')');
      this.expectKw('ON');
      this.expectP('(');
      do {
        const owner = this.variable();
        if (owner !== v) throw syntaxError(`expected '${v}' but found '${owner}'`, this.toks[this.i - 1]?.pos ?? pos, 'UnexpectedSyntax');
        this.expectP('.');
        properties.push(this.name('a property key'));
      } while (this.acceptP(','));
      this.expectP(')');
    } else {
      this.expectKw('ON');
      this.expectP(':');
      label = this.name('a label');
      this.expectP('(');
      do properties.push(this.name('a property key'));
      while (this.acceptP(','));
      this.expectP(')');
    }
    const online = this.withMode();
    return { kind: 'CreateIndex', pos, name, label, properties, ifNotExists, online };
  }

  /** `[WITH MODE online]` / `[WITH MIGRATION STRATEGY online]` */
  private withMode(): boolean {
    if (!this.acceptKw('WITH')) return false;
    if (this.acceptKw('MIGRATION')) this.expectKw('STRATEGY');
    else this.expectKw('MODE');
    const mode = this.name('a mode').toLowerCase();
    if (mode === 'online') return true;
    if (mode === 'offline') return false;
    throw syntaxError(`unknown mode '${mode}', expected online or offline`, this.toks[this.i - 1]?.pos, 'UnexpectedSyntax');
  }

  private dropIndex(): DropIndexStatement {
    const pos = this.advance().pos;
    this.advance(); // INDEX
    if (this.acceptKw('ON')) {
      this.expectP(':');
      const label = this.name('a label');
      this.expectP('(');
      const properties: string[] = [];
      do properties.push(this.name('a property key'));
      while (this.acceptP(','));
      this.expectP(')');
      return { kind: 'DropIndex', pos, name: null, label, properties, ifExists: false };
    }
    const name = this.name('an index name');
    let ifExists = false;
    if (this.acceptKw('IF')) {
      this.expectKw('EXISTS');
      ifExists = true;
    }
    return { kind: 'DropIndex', pos, name, label: null, properties: [], ifExists };
  }

  private alterGraph(): Statement {
    const pos = this.advance().pos;
    this.advance(); // GRAPH
    this.expectKw('ADD');
    this.expectKw('PROPERTY');
    const label = this.name('a label');
    this.expectP('.');
    const property = this.name('a property key');
    const valueType = this.name('a type name').toUpperCase();
    this.expectKw('DEFAULT');
    const defaultValue = this.expr();
    const online = this.withMode();
    return { kind: 'AlterGraphAddProperty', pos, label, property, valueType, defaultValue, online };
  }

  private setting(): Statement {
    const pos = this.advance().pos;
    const scope = this.advance().upper;
    const words: string[] = [];
    while (this.kind() === 'ident' && words.length < 4) {
      const w = this.tok.upper;
      if (words.length > 0 && this.settingKey(scope, words) !== null) break;
      words.push(w);
      this.advance();
    }
    const key = this.settingKey(scope, words);
    if (key === null) throw syntaxError(`unknown ${scope.toLowerCase()} setting '${words.join(' ')}'`, pos, 'UnexpectedSyntax');
    this.acceptP('=');
    this.acceptKw('TO');
    const vt = this.tok;
    if (key.numeric) {
      if (vt.kind !== 'integer') throw this.fail('an integer');
      this.advance();
      if (this.isKw('MS')) this.advance();
      const value = Number(vt.num);
      if (scope === 'SESSION') return { kind: 'SessionSet', pos, setting: key.setting as 'max_replication_lag', value };
      return { kind: 'ClusterSet', pos, setting: key.setting as 'quorum_size' | 'sync_replicas', value };
    }
    if (!(vt.kind === 'ident' || vt.kind === 'quoted' || vt.kind === 'string')) throw this.fail('a setting value');
    this.advance();
    const value = vt.text.toLowerCase();
    if (!key.values.includes(value)) {
      throw syntaxError(`invalid value '${vt.text}' for ${key.setting}, expected one of ${key.values.join(', ')}`, vt.pos, 'UnexpectedSyntax');
    }
    if (scope === 'SESSION') return { kind: 'SessionSet', pos, setting: key.setting as 'read_preference' | 'consistency', value };
    return { kind: 'ClusterSet', pos, setting: 'replication_mode', value };
  }

  private settingKey(scope: string, words: string[]): { setting: string; numeric: boolean; values: string[] } | null {
    const k = words.join(' ');
    if (scope === 'SESSION') {
      if (k === 'READ PREFERENCE') return { setting: 'read_preference', numeric: false, values: ['round_robin', 'least_connections', 'nearest'] };
      if (k === 'MAX REPLICATION LAG') return { setting: 'max_replication_lag', numeric: true, values: [] };
      if (k === 'CONSISTENCY') return { setting: 'consistency', numeric: false, values: ['linearizable', 'leader', 'bounded', 'any'] };
    } else {
      if (k === 'REPLICATION MODE') return { setting: 'replication_mode', numeric: false, values: ['synchronous', 'semi_synchronous', 'asynchronous'] };
      if (k === 'QUORUM SIZE') return { setting: 'quorum_size', numeric: true, values: [] };
      if (k === 'SYNC REPLICAS') return { setting: 'sync_replicas', numeric: true, values: [] };
    }
    return null;
  }

  private systemSelect(): SystemSelectStatement {
    const pos = this.advance().pos;
    let items: ProjectionItem[] | null = null;
    if (!this.acceptP('*')) {
      items = [this.projectionItem()];
      while (this.acceptP(',')) items.push(this.projectionItem());
    }
    this.expectKw('FROM');
    const schemaTok = this.tok;
    const schema = this.name('system.<view>');
    if (schema.toLowerCase() !== 'system') throw syntaxError(`unknown schema '${schema}', expected system`, schemaTok.pos, 'UnexpectedSyntax');
    this.expectP('.');
    const viewTok = this.tok;
    const view = this.name('a view name').toLowerCase();
    if (view !== 'replication_status' && view !== 'cluster_nodes' && view !== 'region_status') {
      throw syntaxError(`unknown system view '${view}'`, viewTok.pos, 'UnexpectedSyntax');
    }
    const where = this.acceptKw('WHERE') ? this.expr() : null;
    return { kind: 'SystemSelect', pos, view, items, where };
  }
}

export type { SourcePosition };
