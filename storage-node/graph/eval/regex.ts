/**
 * `=~`: Java-style regexes (whole-string match, leading inline flags `(?i)`,
 * `(?s)`, `(?m)`) run only in a form V8 can fall back to linear time on, so no
 * pattern can backtrack for minutes (a regex cannot check a deadline).
 *
 * 1. `(?i)` becomes character classes (`a` -> `[aA]`): V8's linear engine does
 *    not take the `i` flag, so a case-insensitive regexp would never fall back.
 *    Like Java's default `(?i)`, only ASCII letters fold.
 * 2. If V8 says the pattern cannot run in linear time, and the only reason is
 *    counted repetition (the linear engine unrolls `{m,n}` and refuses counts
 *    above 16), the counts are written out: `x{2,4}` -> `xx(?:x(?:x)?)?`.
 * 3. What still cannot run in linear time is refused, the same way on every
 *    replica: ARGUMENT_ERROR, detail UnsupportedRegex (backreferences,
 *    lookahead and lookbehind, and patterns too large once written out).
 * Compiled regexps are cached by pattern text.
 */
import type { Value } from '../../../shared/gql/values.js';
import type { StatementBudget } from './budget.js';
import { canRunInLinearTime } from './linear-regexp.js';
import { argumentError, textWork } from './ops.js';

/** Largest pattern (characters) accepted once counted repetitions are written out. */
const MAX_EXPANDED_PATTERN = 100_000;

function unsupported(pattern: string, why: string): Error {
  return argumentError(`regular expression ${JSON.stringify(pattern)} is not supported: ${why}`, 'UnsupportedRegex');
}

// ---- a small parser for JavaScript regexp syntax (no `u` flag) -----------------

interface Quantifier {
  min: number;
  max: number;
  /** The quantifier as written (`*`, `{2,5}?`, ...). */
  text: string;
}

type Atom =
  | { kind: 'text'; text: string; code: number | null }
  | { kind: 'class'; text: string; negated: boolean; body: string }
  | { kind: 'group'; open: string; body: Term[][] };

interface Term {
  atom: Atom;
  quantifier: Quantifier | null;
}

interface Features {
  backreference: boolean;
  lookaround: boolean;
  counted: boolean;
}

class RegexParser {
  private at = 0;
  readonly features: Features = { backreference: false, lookaround: false, counted: false };

  constructor(private readonly src: string) {}

  parse(): Term[][] {
    const alternatives = this.alternatives();
    if (this.at < this.src.length) throw new SyntaxError(`unmatched ) at ${this.at}`);
    return alternatives;
  }

  private alternatives(): Term[][] {
    const out: Term[][] = [[]];
    while (this.at < this.src.length) {
      const c = this.src[this.at] as string;
      if (c === ')') break;
      if (c === '|') {
        this.at++;
        out.push([]);
        continue;
      }
      const atom = this.atom();
      (out[out.length - 1] as Term[]).push({ atom, quantifier: this.quantifier() });
    }
    return out;
  }

  private atom(): Atom {
    const src = this.src;
    const c = src[this.at] as string;
    if (c === '(') {
      let open = '(';
      if (src.startsWith('(?:', this.at)) open = '(?:';
      else if (src.startsWith('(?=', this.at) || src.startsWith('(?!', this.at) || src.startsWith('(?<=', this.at) || src.startsWith('(?<!', this.at)) {
        this.features.lookaround = true;
        open = src.startsWith('(?<', this.at) ? src.slice(this.at, this.at + 4) : src.slice(this.at, this.at + 3);
      } else if (src.startsWith('(?<', this.at)) {
        const end = src.indexOf('>', this.at);
        if (end < 0) throw new SyntaxError('unterminated group name');
        open = src.slice(this.at, end + 1);
      } else if (src.startsWith('(?', this.at)) {
        throw new SyntaxError(`unsupported group syntax at ${this.at}`);
      }
      this.at += open.length;
      const body = this.alternatives();
      if (src[this.at] !== ')') throw new SyntaxError('unterminated group');
      this.at++;
      return { kind: 'group', open, body };
    }
    if (c === '[') return this.characterClass();
    if (c === '\\') return this.escape();
    this.at++;
    return { kind: 'text', text: c, code: '^$.'.includes(c) ? null : c.charCodeAt(0) };
  }

  private escape(): Atom {
    const src = this.src;
    const start = this.at;
    const next = src[start + 1];
    if (next === undefined) throw new SyntaxError('\\ at end of pattern');
    if (next >= '1' && next <= '9') {
      this.features.backreference = true;
      let end = start + 2;
      while (end < src.length && (src[end] as string) >= '0' && (src[end] as string) <= '9') end++;
      this.at = end;
      return { kind: 'text', text: src.slice(start, end), code: null };
    }
    if (next === 'k' && src[start + 2] === '<') {
      this.features.backreference = true;
      const end = src.indexOf('>', start);
      this.at = end < 0 ? src.length : end + 1;
      return { kind: 'text', text: src.slice(start, this.at), code: null };
    }
    const hex = next === 'x' ? /^[0-9a-fA-F]{2}/.exec(src.slice(start + 2, start + 4)) : next === 'u' ? /^[0-9a-fA-F]{4}/.exec(src.slice(start + 2, start + 6)) : null;
    if (hex !== null) {
      this.at = start + 2 + hex[0].length;
      return { kind: 'text', text: src.slice(start, this.at), code: parseInt(hex[0], 16) };
    }
    this.at = start + 2;
    if (next === 'c' && /[a-zA-Z]/.test(src[start + 2] ?? '')) this.at++;
    // Escaped punctuation is that character; letter escapes (\d, \w, \b, \n, ...) are classes or assertions.
    const code = /[a-zA-Z0-9]/.test(next) ? null : next.charCodeAt(0);
    return { kind: 'text', text: src.slice(start, this.at), code };
  }

  private characterClass(): Atom {
    const src = this.src;
    const start = this.at;
    let i = start + 1;
    const negated = src[i] === '^';
    if (negated) i++;
    const bodyStart = i;
    while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
    if (i >= src.length) throw new SyntaxError('unterminated character class');
    this.at = i + 1;
    return { kind: 'class', text: src.slice(start, this.at), negated, body: src.slice(bodyStart, i) };
  }

  private quantifier(): Quantifier | null {
    const src = this.src;
    const c = src[this.at];
    let min: number;
    let max: number;
    let end = this.at + 1;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(this.at));
      // A brace that does not form a quantifier is a literal, as in JavaScript without the `u` flag.
      if (m === null) return null;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' || m[3] === undefined ? Infinity : Number(m[3]);
      end = this.at + m[0].length;
      this.features.counted = true;
    } else return null;
    if (src[end] === '?') end++;
    const text = src.slice(this.at, end);
    this.at = end;
    return { min, max, text };
  }
}

/** Thrown while writing out counted repetitions that grow past MAX_EXPANDED_PATTERN. */
class ExpansionTooLarge extends Error {}

// ---- rewrites -------------------------------------------------------------------

const isLower = (code: number): boolean => code >= 97 && code <= 122;
const isUpper = (code: number): boolean => code >= 65 && code <= 90;

function classChar(code: number): string {
  return code < 0x20 || code > 0x7e || '\\]^-['.includes(String.fromCharCode(code)) ? `\\u${code.toString(16).padStart(4, '0')}` : String.fromCharCode(code);
}

/** The other-case ranges of the ASCII letters in [lo, hi], as class text. */
function foldedRange(lo: number, hi: number): string {
  let out = '';
  const a = Math.max(lo, 97);
  const b = Math.min(hi, 122);
  if (a <= b) out += `${classChar(a - 32)}-${classChar(b - 32)}`;
  const c = Math.max(lo, 65);
  const d = Math.min(hi, 90);
  if (c <= d) out += `${classChar(c + 32)}-${classChar(d + 32)}`;
  return out;
}

/** The code point of one class item starting at `i` (a character or a simple escape), or null for \d, \w and the like. */
function classItem(body: string, i: number): { code: number | null; length: number } {
  const c = body[i] as string;
  if (c !== '\\') return { code: c.charCodeAt(0), length: 1 };
  const next = body[i + 1] ?? '';
  const hex = next === 'x' ? /^[0-9a-fA-F]{2}/.exec(body.slice(i + 2, i + 4)) : next === 'u' ? /^[0-9a-fA-F]{4}/.exec(body.slice(i + 2, i + 6)) : null;
  if (hex !== null) return { code: parseInt(hex[0], 16), length: 2 + hex[0].length };
  return { code: /[a-zA-Z0-9]/.test(next) ? null : next.charCodeAt(0), length: 2 };
}

/** A class that also matches the other case of every ASCII letter it matches. */
function foldClass(atom: Extract<Atom, { kind: 'class' }>): string {
  const body = atom.body;
  let added = '';
  let i = 0;
  while (i < body.length) {
    const first = classItem(body, i);
    i += first.length;
    if (body[i] === '-' && i + 1 < body.length && first.code !== null) {
      const last = classItem(body, i + 1);
      if (last.code !== null) {
        i += 1 + last.length;
        added += foldedRange(first.code, last.code);
        continue;
      }
    }
    if (first.code !== null) added += foldedRange(first.code, first.code);
  }
  return `[${atom.negated ? '^' : ''}${body}${added}]`;
}

interface Rewrite {
  fold: boolean;
  expandCounts: boolean;
}

function render(alternatives: Term[][], rewrite: Rewrite): string {
  return alternatives.map((terms) => terms.map((t) => renderTerm(t, rewrite)).join('')).join('|');
}

function renderAtom(atom: Atom, rewrite: Rewrite): string {
  switch (atom.kind) {
    case 'text':
      if (rewrite.fold && atom.code !== null && (isLower(atom.code) || isUpper(atom.code))) {
        const lower = isLower(atom.code) ? atom.code : atom.code + 32;
        return `[${String.fromCharCode(lower)}${String.fromCharCode(lower - 32)}]`;
      }
      return atom.text;
    case 'class':
      return rewrite.fold ? foldClass(atom) : atom.text;
    case 'group': {
      // Written-out repetitions repeat groups: only a non-capturing group may appear twice.
      const open = rewrite.expandCounts && (atom.open === '(' || atom.open.startsWith('(?<')) && !atom.open.startsWith('(?<=') && !atom.open.startsWith('(?<!') ? '(?:' : atom.open;
      return `${open}${render(atom.body, rewrite)})`;
    }
  }
}

function renderTerm(term: Term, rewrite: Rewrite): string {
  const atom = renderAtom(term.atom, rewrite);
  const q = term.quantifier;
  if (q === null) return atom;
  if (!rewrite.expandCounts || !q.text.startsWith('{')) return atom + q.text;
  // x{m,n} as m copies of x then n - m nested optional copies (or x* when unbounded): the same language.
  const unit = term.atom.kind === 'group' ? atom : `(?:${atom})`;
  const copies = q.min + (q.max === Infinity ? 1 : q.max - q.min);
  if (copies * (unit.length + 5) > MAX_EXPANDED_PATTERN) throw new ExpansionTooLarge();
  let out = unit.repeat(q.min);
  if (q.max === Infinity) out += `${unit}*`;
  else {
    let optional = '';
    for (let k = 0; k < q.max - q.min; k++) optional = `(?:${unit}${optional})?`;
    out += optional;
  }
  return out;
}

// ---- compile and cache ------------------------------------------------------------

const regexCache = new Map<string, RegExp | Error>();

function build(pattern: string): RegExp {
  let body = pattern;
  let flags = '';
  let fold = false;
  const inline = /^\(\?([imsux]+)\)/.exec(body);
  if (inline?.[1] !== undefined) {
    body = body.slice(inline[0].length);
    for (const f of inline[1]) {
      if (f === 'i') fold = true;
      else if ('ms'.includes(f) && !flags.includes(f)) flags += f;
    }
  }
  const invalid = (err: unknown): Error => argumentError(`invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  // JavaScript's own parser decides what is valid; ours only rewrites what it accepted.
  try {
    new RegExp(body, flags);
  } catch (err) {
    throw invalid(err);
  }
  let parsed: Term[][];
  let features: Features;
  try {
    const parser = new RegexParser(body);
    parsed = parser.parse();
    features = parser.features;
  } catch (err) {
    throw invalid(err);
  }
  if (features.backreference) throw unsupported(pattern, 'backreferences cannot be matched in linear time');
  if (features.lookaround) throw unsupported(pattern, 'lookahead and lookbehind cannot be matched in linear time');
  let source = fold ? render(parsed, { fold: true, expandCounts: false }) : body;
  if (!canRunInLinearTime(`^(?:${source})$`, flags)) {
    if (!features.counted) throw unsupported(pattern, 'it cannot be matched in linear time');
    const tooLarge = (): Error => unsupported(pattern, `its counted repetitions ({m,n}) written out exceed ${MAX_EXPANDED_PATTERN} characters`);
    try {
      source = render(parsed, { fold, expandCounts: true });
    } catch (err) {
      if (err instanceof ExpansionTooLarge) throw tooLarge();
      throw err;
    }
    if (source.length > MAX_EXPANDED_PATTERN) throw tooLarge();
    if (!canRunInLinearTime(`^(?:${source})$`, flags)) throw unsupported(pattern, 'it cannot be matched in linear time');
  }
  try {
    return new RegExp(`^(?:${source})$`, flags);
  } catch (err) {
    throw invalid(err);
  }
}

/** The compiled, linear-time-safe regexp for a `=~` pattern (whole-string match); cached by pattern text. */
export function compileRegex(pattern: string): RegExp {
  let entry = regexCache.get(pattern);
  if (entry === undefined) {
    try {
      entry = build(pattern);
    } catch (err) {
      entry = err as Error;
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, entry);
  }
  if (entry instanceof Error) throw entry;
  return entry;
}

/** `a =~ b`: null unless both are strings; the match's work grows with the text's length. */
export function regexMatch(a: Value, b: Value, budget: StatementBudget): Value {
  if (typeof a !== 'string' || typeof b !== 'string') return null;
  const re = compileRegex(b);
  budget.work(textWork(a.length));
  return re.test(a);
}
