/**
 * The TCK's value notation (result and parameter tables) read into our Value
 * model, and Values written back in that notation for failure reports.
 *
 * Expected nodes and relationships carry no identity; they get ids that only
 * serve to record the direction of each relationship of an expected path.
 */
import {
  NodeValue,
  PathValue,
  RelationshipValue,
  TemporalValue,
  isMap,
  type Value,
  type ValueMap,
} from '../../../shared/gql/values.js';

export class TckValueError extends Error {
  constructor(message: string, readonly text: string) {
    super(`${message} in TCK value ${JSON.stringify(text)}`);
    this.name = 'TckValueError';
  }
}

/** Parses one table cell (already unescaped by Gherkin) into a Value. */
export function parseTckValue(text: string): Value {
  const reader = new Reader(text);
  reader.skipSpace();
  const value = reader.value();
  reader.skipSpace();
  if (!reader.atEnd()) reader.fail(`unexpected '${reader.peek()}' at ${reader.pos}`);
  return value;
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;
const NUMBER = /^-?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)/;

class Reader {
  pos = 0;
  // Expected path elements are numbered so that direction survives comparison.
  private nextId = 0;

  constructor(readonly text: string) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  fail(message: string): never {
    throw new TckValueError(message, this.text);
  }

  skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.peek())) this.pos++;
  }

  expect(token: string): void {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) this.fail(`expected '${token}' at ${this.pos}`);
    this.pos += token.length;
  }

  tryConsume(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  value(): Value {
    this.skipSpace();
    const c = this.peek();
    if (c === "'" || c === '"') return this.string();
    if (c === '{') return this.map();
    if (c === '(') return this.node();
    if (c === '<') return this.path();
    if (c === '[') {
      const save = this.pos;
      this.pos++;
      this.skipSpace();
      const isRel = this.peek() === ':';
      this.pos = save;
      return isRel ? this.relationship(0, 0) : this.list();
    }
    for (const [word, value] of KEYWORDS) {
      if (this.text.startsWith(word, this.pos) && !IDENT_PART.test(this.peek(word.length))) {
        this.pos += word.length;
        return value;
      }
    }
    const match = NUMBER.exec(this.text.slice(this.pos));
    if (match) {
      const literal = match[0];
      this.pos += literal.length;
      if (/^-?\d+$/.test(literal)) return BigInt(literal);
      return Number(literal);
    }
    return this.fail(`unexpected '${c}' at ${this.pos}`);
  }

  string(): string {
    const quote = this.peek();
    this.pos++;
    let out = '';
    for (;;) {
      if (this.atEnd()) this.fail('unterminated string');
      const c = this.peek();
      this.pos++;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.peek();
      this.pos++;
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          const hex = this.text.slice(this.pos, this.pos + 4);
          if (/^[0-9A-Fa-f]{4}$/.test(hex)) {
            out += String.fromCharCode(parseInt(hex, 16));
            this.pos += 4;
          } else {
            out += '\\u';
          }
          break;
        }
        case '':
          this.fail('unterminated string');
          break;
        default:
          // \' \" \\ and anything else stand for the character itself.
          out += e;
      }
    }
  }

  name(): string {
    this.skipSpace();
    if (this.peek() === '`') {
      const end = this.text.indexOf('`', this.pos + 1);
      if (end < 0) this.fail('unterminated backtick name');
      const name = this.text.slice(this.pos + 1, end);
      this.pos = end + 1;
      return name;
    }
    if (!IDENT_START.test(this.peek())) this.fail(`expected a name at ${this.pos}`);
    const start = this.pos;
    while (!this.atEnd() && IDENT_PART.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  list(): Value[] {
    this.expect('[');
    const items: Value[] = [];
    if (this.tryConsume(']')) return items;
    do items.push(this.value());
    while (this.tryConsume(','));
    this.expect(']');
    return items;
  }

  map(): ValueMap {
    this.expect('{');
    const out: ValueMap = {};
    if (this.tryConsume('}')) return out;
    do {
      const key = this.name();
      this.expect(':');
      out[key] = this.value();
    } while (this.tryConsume(','));
    this.expect('}');
    return out;
  }

  labelsAndProperties(): { names: string[]; properties: ValueMap } {
    const names: string[] = [];
    while (this.tryConsume(':')) names.push(this.name());
    this.skipSpace();
    const properties = this.peek() === '{' ? this.map() : {};
    return { names, properties };
  }

  node(): NodeValue {
    this.expect('(');
    const { names, properties } = this.labelsAndProperties();
    this.expect(')');
    return new NodeValue(this.nextId++, names, properties);
  }

  relationship(start: number, end: number): RelationshipValue {
    this.expect('[');
    const { names, properties } = this.labelsAndProperties();
    this.expect(']');
    if (names.length !== 1) this.fail('a relationship needs exactly one type');
    return new RelationshipValue(this.nextId++, names[0] ?? '', start, end, properties);
  }

  path(): PathValue {
    this.expect('<');
    const nodes: NodeValue[] = [this.node()];
    const rels: RelationshipValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.tryConsume('>')) return new PathValue(nodes, rels);
      const backward = this.tryConsume('<-');
      if (!backward) this.expect('-');
      const relPos = this.pos;
      // Parse the relationship first; its endpoints are fixed once the next node is known.
      const draft = this.relationship(0, 0);
      const forward = this.tryConsume('->');
      if (!forward) this.expect('-');
      if (forward === backward) this.fail(`relationship at ${relPos} needs exactly one direction`);
      const from = nodes[nodes.length - 1] as NodeValue;
      const to = this.node();
      const [start, end] = forward ? [from.id, to.id] : [to.id, from.id];
      rels.push(new RelationshipValue(draft.id, draft.type, start, end, draft.properties));
      nodes.push(to);
    }
  }
}

const KEYWORDS: ReadonlyArray<[string, Value]> = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['NaN', NaN],
  ['Inf', Infinity],
  ['-Inf', -Infinity],
];

// ---- formatting --------------------------------------------------------------

/** Writes a value in TCK notation (floats always with a decimal point or exponent). */
export function formatTckValue(value: Value): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return String(value);
    case 'bigint':
      return value.toString();
    case 'number':
      return formatFloat(value);
    case 'string':
      return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    default:
      break;
  }
  if (Array.isArray(value)) return `[${value.map(formatTckValue).join(', ')}]`;
  if (value instanceof NodeValue) return formatNode(value);
  if (value instanceof RelationshipValue) return formatRel(value);
  if (value instanceof PathValue) return formatPath(value);
  if (value instanceof TemporalValue) return `${value.kind}('${value.iso}')`;
  if (isMap(value)) return formatMap(value);
  return String(value);
}

export function formatFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Inf';
  if (value === -Infinity) return '-Inf';
  const text = String(value);
  return /[.eE]/.test(text) ? text : `${text}.0`;
}

function formatMap(map: ValueMap): string {
  const keys = Object.keys(map);
  if (keys.length === 0) return '{}';
  return `{${keys.map((k) => `${k}: ${formatTckValue(map[k] ?? null)}`).join(', ')}}`;
}

function formatNode(node: NodeValue): string {
  const labels = node.labels.map((l) => `:${l}`).join('');
  const props = Object.keys(node.properties).length > 0 ? formatMap(node.properties) : '';
  return `(${labels}${labels && props ? ' ' : ''}${props})`;
}

function formatRel(rel: RelationshipValue): string {
  const props = Object.keys(rel.properties).length > 0 ? ` ${formatMap(rel.properties)}` : '';
  return `[:${rel.type}${props}]`;
}

function formatPath(path: PathValue): string {
  let out = `<${path.nodes[0] ? formatNode(path.nodes[0]) : '()'}`;
  path.relationships.forEach((rel, i) => {
    const from = path.nodes[i];
    const to = path.nodes[i + 1];
    const forward = from !== undefined && rel.start === from.id;
    out += forward ? `-${formatRel(rel)}->` : `<-${formatRel(rel)}-`;
    out += to ? formatNode(to) : '()';
  });
  return `${out}>`;
}
