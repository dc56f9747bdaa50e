/**
 * Tokenizer for GQL/openCypher query text. One linear pass; keywords are not
 * told apart from identifiers here (the parser compares `upper`), because
 * nearly every keyword is also a legal label, property key or variable name.
 */
import { syntaxError, type SourcePosition } from '../protocol/errors.js';

export type TokenKind =
  | 'ident' // bare identifier or keyword
  | 'quoted' // `backtick quoted` identifier (never a keyword)
  | 'string'
  | 'integer'
  | 'float'
  | 'param'
  | 'badnumber' // a malformed number such as `0x` or `12a`: an error only where an expression is expected
  | 'punct'
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** Identifier name, string contents, punctuation text, or parameter name. */
  text: string;
  /** Upper-cased `text` for bare identifiers (keyword comparison); otherwise equal to `text`. */
  upper: string;
  /** Parsed value of integer (bigint, unchecked range) and float literals. */
  num: bigint | number;
  pos: SourcePosition;
  /** Offset just past the token. */
  end: number;
}

// Longest first within each leading character.
const PUNCT2 = new Set(['<>', '<=', '>=', '=~', '+=', '..', '||', '!=']);
const PUNCT1 = new Set(['(', ')', '[', ']', '{', '}', ',', ':', ';', '.', '=', '<', '>', '+', '-', '*', '/', '%', '^', '|', '&', '$', '!']);

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isHexDigit = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
const ID_START = /[\p{ID_Start}_]/u;
const ID_PART = /[\p{ID_Continue}$]/u;

function isIdentStart(c: number, ch: string): boolean {
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95) return true;
  return c > 127 && ID_START.test(ch);
}

function isIdentPart(c: number, ch: string): boolean {
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || (c >= 48 && c <= 57)) return true;
  return c > 127 && ID_PART.test(ch);
}

/** Unicode dashes and quotes people paste from documents instead of ASCII ones. */
const LOOKALIKES = new Set(['\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\u2018', '\u2019', '\u201c', '\u201d', '\u00a0']);

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const n = src.length;
  let i = 0;
  let line = 1;
  let lineStart = 0;

  const posAt = (offset: number): SourcePosition => ({ offset, line, column: offset - lineStart + 1 });
  const newline = (at: number): void => {
    line++;
    lineStart = at + 1;
  };
  const push = (kind: TokenKind, text: string, pos: SourcePosition, num: bigint | number = 0): void => {
    tokens.push({ kind, text, upper: kind === 'ident' ? text.toUpperCase() : text, num, pos, end: i });
  };

  while (i < n) {
    const c = src.charCodeAt(i);
    // whitespace
    if (c === 10) {
      newline(i);
      i++;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11 || c === 0xfeff) {
      i++;
      continue;
    }
    // comments
    if (c === 47 && src.charCodeAt(i + 1) === 47) {
      while (i < n && src.charCodeAt(i) !== 10) i++;
      continue;
    }
    if (c === 47 && src.charCodeAt(i + 1) === 42) {
      const start = posAt(i);
      i += 2;
      while (i < n && !(src.charCodeAt(i) === 42 && src.charCodeAt(i + 1) === 47)) {
        if (src.charCodeAt(i) === 10) newline(i);
        i++;
      }
      if (i >= n) throw syntaxError('unterminated comment', start, 'UnexpectedSyntax');
      i += 2;
      continue;
    }
    const start = i;
    const pos = posAt(i);
    const ch = src[i] as string;
    // identifiers and keywords
    if (isIdentStart(c, ch)) {
      i++;
      while (i < n && isIdentPart(src.charCodeAt(i), src[i] as string)) i++;
      push('ident', src.slice(start, i), pos);
      continue;
    }
    if (c === 96) {
      // `quoted`, a doubled backtick is a literal backtick
      let text = '';
      i++;
      for (;;) {
        if (i >= n) throw syntaxError('unterminated quoted identifier', pos, 'UnexpectedSyntax');
        const d = src.charCodeAt(i);
        if (d === 96) {
          if (src.charCodeAt(i + 1) === 96) {
            text += '`';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === 10) newline(i);
        text += src[i];
        i++;
      }
      push('quoted', text, pos);
      continue;
    }
    // numbers
    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const num = lexNumber(src, start, pos);
      i = num.end;
      push(num.kind, num.text, pos, num.num);
      continue;
    }
    // strings
    if (c === 39 || c === 34) {
      let text = '';
      i++;
      for (;;) {
        if (i >= n) throw syntaxError('unterminated string literal', pos, 'UnexpectedSyntax');
        const d = src.charCodeAt(i);
        if (d === c) {
          i++;
          break;
        }
        if (d === 92) {
          const e = src[i + 1];
          const escPos = posAt(i);
          switch (e) {
            case 'n': text += '\n'; break;
            case 't': text += '\t'; break;
            case 'r': text += '\r'; break;
            case 'b': text += '\b'; break;
            case 'f': text += '\f'; break;
            case "'": text += "'"; break;
            case '"': text += '"'; break;
            case '\\': text += '\\'; break;
            case 'u':
            case 'U': {
              const len = e === 'u' ? 4 : 8;
              const hex = src.slice(i + 2, i + 2 + len);
              if (hex.length !== len || ![...hex].every((h) => isHexDigit(h.charCodeAt(0)))) {
                throw syntaxError(`invalid unicode escape '\\${e}${hex}'`, escPos, 'InvalidUnicodeLiteral');
              }
              const cp = parseInt(hex, 16);
              if (cp > 0x10ffff) throw syntaxError(`invalid unicode escape '\\${e}${hex}'`, escPos, 'InvalidUnicodeLiteral');
              text += String.fromCodePoint(cp);
              i += len;
              break;
            }
            default:
              // Unknown escapes keep the backslash, as most Cypher implementations do.
              if (e === undefined) throw syntaxError('unterminated string literal', pos, 'UnexpectedSyntax');
              text += '\\' + e;
          }
          i += 2;
          continue;
        }
        if (d === 10) newline(i);
        text += src[i];
        i++;
      }
      push('string', text, pos);
      continue;
    }
    // parameters: $name, $`name`, $0
    if (c === 36) {
      i++;
      const d = src.charCodeAt(i);
      if (i < n && isIdentStart(d, src[i] as string)) {
        const s = i;
        while (i < n && isIdentPart(src.charCodeAt(i), src[i] as string)) i++;
        push('param', src.slice(s, i), pos);
        continue;
      }
      if (isDigit(d)) {
        const s = i;
        while (i < n && isDigit(src.charCodeAt(i))) i++;
        push('param', src.slice(s, i), pos);
        continue;
      }
      if (d === 96) {
        const close = src.indexOf('`', i + 1);
        if (close < 0) throw syntaxError('unterminated quoted parameter name', pos, 'UnexpectedSyntax');
        const name = src.slice(i + 1, close);
        i = close + 1;
        push('param', name, pos);
        continue;
      }
      throw syntaxError("expected a parameter name after '$'", pos, 'UnexpectedSyntax');
    }
    // punctuation
    const two = src.slice(i, i + 2);
    if (PUNCT2.has(two)) {
      i += 2;
      push('punct', two === '!=' ? '<>' : two, pos);
      continue;
    }
    if (PUNCT1.has(ch)) {
      i++;
      push('punct', ch, pos);
      continue;
    }
    if (LOOKALIKES.has(ch)) {
      throw syntaxError(`invalid character '${ch}' (U+${c.toString(16).toUpperCase().padStart(4, '0')})`, pos, 'InvalidUnicodeCharacter');
    }
    const cp = src.codePointAt(i) ?? c;
    throw syntaxError(`unexpected character '${String.fromCodePoint(cp)}'`, pos, cp > 127 ? 'InvalidUnicodeCharacter' : 'UnexpectedSyntax');
  }
  tokens.push({ kind: 'eof', text: '', upper: '', num: 0, pos: posAt(n), end: n });
  return tokens;
}

interface NumberToken {
  kind: 'integer' | 'float' | 'badnumber';
  text: string;
  num: bigint | number;
  end: number;
}

/** A number glued to letters (`12a`, `0x1G`) is one malformed token, reported where an expression is expected. */
function identTail(src: string, end: number): boolean {
  return end < src.length && isIdentPart(src.charCodeAt(end), src[end] as string);
}

function invalidNumber(src: string, start: number, end: number): NumberToken {
  let e = end;
  while (identTail(src, e)) e++;
  return { kind: 'badnumber', text: src.slice(start, e), num: 0, end: e };
}

function lexNumber(src: string, start: number, pos: SourcePosition): NumberToken {
  const n = src.length;
  let i = start;
  const c0 = src.charCodeAt(i);
  const c1 = src.charCodeAt(i + 1);
  if (c0 === 48 && (c1 === 120 || c1 === 88)) {
    i += 2;
    const s = i;
    while (i < n && isHexDigit(src.charCodeAt(i))) i++;
    if (i === s || identTail(src, i)) return invalidNumber(src, start, i);
    return { kind: 'integer', text: src.slice(start, i), num: BigInt('0x' + src.slice(s, i)), end: i };
  }
  if (c0 === 48 && (c1 === 111 || c1 === 79)) {
    i += 2;
    const s = i;
    while (i < n && src.charCodeAt(i) >= 48 && src.charCodeAt(i) <= 55) i++;
    if (i === s || identTail(src, i)) return invalidNumber(src, start, i);
    return { kind: 'integer', text: src.slice(start, i), num: BigInt('0o' + src.slice(s, i)), end: i };
  }
  while (i < n && isDigit(src.charCodeAt(i))) i++;
  let isFloat = false;
  // A '.' followed by a digit continues the number; `1..3` is a range.
  if (src.charCodeAt(i) === 46 && isDigit(src.charCodeAt(i + 1))) {
    isFloat = true;
    i++;
    while (i < n && isDigit(src.charCodeAt(i))) i++;
  }
  const e = src.charCodeAt(i);
  if (e === 101 || e === 69) {
    let j = i + 1;
    const sign = src.charCodeAt(j);
    if (sign === 43 || sign === 45) j++;
    if (isDigit(src.charCodeAt(j))) {
      isFloat = true;
      i = j;
      while (i < n && isDigit(src.charCodeAt(i))) i++;
    }
  }
  if (identTail(src, i)) return invalidNumber(src, start, i);
  const text = src.slice(start, i);
  if (isFloat) {
    const value = Number(text);
    if (!Number.isFinite(value)) throw syntaxError(`floating point number is too large: ${text}`, pos, 'FloatingPointOverflow');
    return { kind: 'float', text, num: value, end: i };
  }
  // Legacy octal: a leading zero followed by digits.
  if (text.length > 1 && text.charCodeAt(0) === 48) {
    if (!/^[0-7]+$/.test(text)) return invalidNumber(src, start, i);
    return { kind: 'integer', text, num: BigInt('0o' + text.slice(1)), end: i };
  }
  return { kind: 'integer', text, num: BigInt(text), end: i };
}
