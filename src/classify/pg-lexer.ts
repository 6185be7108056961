// PostgreSQL's lexical rules (src/backend/parser/scan.l), enough to find every literal, comment and
// quoted name. The parser itself is libpg-query; this lexer only masks literals, normalizes for the
// fingerprint and spots backslashes that standard_conforming_strings=off would read differently.
import type { Token } from './tokens.js';

export interface PgLexResult {
  tokens: Token[];
  /** A backslash inside a plain '...' string: with standard_conforming_strings off it is an escape. */
  backslashInPlainString: boolean;
  /** A character at or above 0x80 anywhere (for client encodings that can hide a backslash). */
  nonAscii: boolean;
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d); // space \t \n \v \f \r
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isIdentStart = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
const isIdentCont = (c: number) => isIdentStart(c) || isDigit(c) || c === 0x24; // $
const OP_CHARS = '~!@#^&|`?+-*/%<>=';
const isOpChar = (c: number) => c < 0x80 && OP_CHARS.includes(String.fromCharCode(c));

/** End of a '...' body starting after the opening quote; `escapes` for E'' strings. -1 when unterminated. */
function quotedEnd(s: string, i: number, quote: number, escapes: boolean): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (escapes && c === 0x5c) {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (s.charCodeAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

/** Tag of a dollar quote starting at s[i] === '$' ("" for $$), or undefined when it is not one. */
function dollarTag(s: string, i: number): string | undefined {
  let j = i + 1;
  const first = s.charCodeAt(j);
  if (first === 0x24) return '';
  if (!isIdentStart(first)) return undefined;
  j++;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === 0x24) return s.slice(i + 1, j);
    if (!isIdentStart(c) && !isDigit(c)) return undefined;
    j++;
  }
  return undefined;
}

/** `standardConformingStrings` false: backslash escapes in plain '...' strings too, as the server then reads them. */
export function lexPostgres(s: string, standardConformingStrings = true): PgLexResult {
  const tokens: Token[] = [];
  let backslashInPlainString = false;
  let nonAscii = false;
  const n = s.length;
  let i = 0;
  const push = (type: Token['type'], start: number, end: number) => {
    tokens.push({ type, start, end });
    i = end;
  };
  while (i < n) {
    const c = s.charCodeAt(i);
    const c1 = s.charCodeAt(i + 1);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === 0x2d && c1 === 0x2d) {
      // -- to end of line
      while (i < n && s.charCodeAt(i) !== 0x0a && s.charCodeAt(i) !== 0x0d) i++;
      continue;
    }
    if (c === 0x2f && c1 === 0x2a) {
      // /* ... */, nested
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const d = s.charCodeAt(i);
        if (d === 0x2f && s.charCodeAt(i + 1) === 0x2a) {
          depth++;
          i += 2;
        } else if (d === 0x2a && s.charCodeAt(i + 1) === 0x2f) {
          depth--;
          i += 2;
        } else i++;
      }
      continue;
    }
    if (c === 0x27) {
      const end = quotedEnd(s, i + 1, 0x27, !standardConformingStrings);
      const stop = end < 0 ? n : end;
      const bs = s.indexOf('\\', i + 1);
      if (bs >= 0 && bs < stop) backslashInPlainString = true;
      push('string', i, stop);
      continue;
    }
    // Prefixed strings: E'..' B'..' X'..' N'..' U&'..' and U&"..."
    if (c1 === 0x27 && (c | 0x20) === 0x65) {
      const end = quotedEnd(s, i + 2, 0x27, true);
      push('string', i, end < 0 ? n : end);
      continue;
    }
    if (c1 === 0x27 && ((c | 0x20) === 0x62 || (c | 0x20) === 0x78 || (c | 0x20) === 0x6e)) {
      const end = quotedEnd(s, i + 2, 0x27, false);
      push('string', i, end < 0 ? n : end);
      continue;
    }
    if ((c | 0x20) === 0x75 && c1 === 0x26 && (s.charCodeAt(i + 2) === 0x27 || s.charCodeAt(i + 2) === 0x22)) {
      const q = s.charCodeAt(i + 2);
      const end = quotedEnd(s, i + 3, q, false);
      push(q === 0x27 ? 'string' : 'qident', i, end < 0 ? n : end);
      continue;
    }
    if (c === 0x22) {
      const end = quotedEnd(s, i + 1, 0x22, false);
      push('qident', i, end < 0 ? n : end);
      continue;
    }
    if (c === 0x24) {
      if (isDigit(c1)) {
        let j = i + 1;
        while (j < n && isDigit(s.charCodeAt(j))) j++;
        push('param', i, j);
        continue;
      }
      const tag = dollarTag(s, i);
      if (tag !== undefined) {
        const delim = `$${tag}$`;
        const close = s.indexOf(delim, i + delim.length);
        push('string', i, close < 0 ? n : close + delim.length);
        continue;
      }
      push('op', i, i + 1);
      continue;
    }
    if (isDigit(c) || (c === 0x2e && isDigit(c1))) {
      let j = i;
      if (c === 0x30 && (c1 | 0x20) >= 0x62 && 'box'.includes(String.fromCharCode(c1 | 0x20))) {
        j += 2; // 0x1F, 0o17, 0b101
        while (j < n && (isIdentCont(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
        push('number', i, j);
        continue;
      }
      while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
      if (s.charCodeAt(j) === 0x2e && s.charCodeAt(j + 1) !== 0x2e) {
        j++;
        while (j < n && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 0x5f)) j++;
      }
      if ((s.charCodeAt(j) | 0x20) === 0x65) {
        const k = s.charCodeAt(j + 1) === 0x2b || s.charCodeAt(j + 1) === 0x2d ? j + 2 : j + 1;
        if (isDigit(s.charCodeAt(k))) {
          j = k;
          while (j < n && isDigit(s.charCodeAt(j))) j++;
        }
      }
      push('number', i, j);
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentCont(s.charCodeAt(j))) j++;
      push('word', i, j);
      continue;
    }
    if (isOpChar(c)) {
      // An operator is a run of operator characters that stops where a comment starts.
      let j = i + 1;
      while (j < n && isOpChar(s.charCodeAt(j))) {
        const d = s.charCodeAt(j);
        const d1 = s.charCodeAt(j + 1);
        if ((d === 0x2d && d1 === 0x2d) || (d === 0x2f && d1 === 0x2a)) break;
        j++;
      }
      push('op', i, j);
      continue;
    }
    if (c === 0x3a && c1 === 0x3a) {
      push('op', i, i + 2);
      continue;
    }
    push('op', i, i + 1);
  }
  for (let k = 0; k < n && !nonAscii; k++) if (s.charCodeAt(k) >= 0x80) nonAscii = true;
  return { tokens, backslashInPlainString, nonAscii };
}
