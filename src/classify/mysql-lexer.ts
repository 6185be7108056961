// MySQL/MariaDB lexical rules (sql/sql_lex.cc, MYSQLlex), read one statement at a time because a
// statement can change how the server reads the next one (SET sql_mode in a multi-statement query).
// Comments are dropped; the content of an executed /*!...*/ comment is read as ordinary SQL; a comment
// for a newer version than the server's is a comment. Where the two servers, or two versions of one,
// would read the text differently, the segment gets an `error` and is classified `unknown`.
import type { Token } from './tokens.js';

export interface MysqlLexMode {
  noBackslashEscapes: boolean;
  ansiQuotes: boolean;
  serverVersion: number;
  mariadb: boolean;
}

export interface MysqlSegment {
  /** Tokens the server reads, in text order; executed comment content included. */
  tokens: Token[];
  /** The statement's text: [start, end), trimmed, without the ending `;`. */
  start: number;
  end: number;
  /** Where the next statement starts. */
  next: number;
  /** Why this text cannot be read with certainty; the statement is then `unknown`. */
  error?: string;
  /** A character at or above 0x80 (matters for charsets whose multibyte characters can hide a quote). */
  nonAscii: boolean;
}

// my_isspace (space, \t \n \v \f \r) and my_iscntrl (0x00-0x1f, 0x7f): what `-- ` needs after it.
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isSpaceOrCntrl = (c: number) => isSpace(c) || c < 0x20 || c === 0x7f;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** ident_map: letters, digits, _, $ and any byte of a multibyte character. */
const isIdentChar = (c: number) =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || isDigit(c) || c === 0x5f || c === 0x24 || c >= 0x80;

/**
 * End (after the closing quote) of a quoted run starting at s[i] (the opening quote). Doubling the quote
 * escapes it; so does a backslash when `backslash`. -1 when unterminated.
 */
export function quotedEnd(s: string, i: number, backslash: boolean): number {
  const q = s.charCodeAt(i);
  const n = s.length;
  i++;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (backslash && c === 0x5c) {
      i += 2;
      continue;
    }
    if (c === q) {
      if (s.charCodeAt(i + 1) === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

/** Skips a comment for a newer version: like consume_comment(lip, 1), one nested comment is allowed. -1 when unclosed. */
function skipVersionedComment(s: string, i: number): number {
  const n = s.length;
  let depth = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    const c1 = s.charCodeAt(i + 1);
    if (depth === 0 && c === 0x2f && c1 === 0x2a) {
      depth = 1;
      i += 2;
      continue;
    }
    if (c === 0x2a && c1 === 0x2f) {
      i += 2;
      if (depth === 0) return i;
      depth = 0;
      continue;
    }
    i++;
  }
  return -1;
}

const multiCharOps = ['<=>', '->>', '<=', '>=', '<>', '!=', ':=', '&&', '||', '<<', '>>', '->'];

export function lexMysqlStatement(s: string, pos: number, mode: MysqlLexMode): MysqlSegment {
  const n = s.length;
  const tokens: Token[] = [];
  let i = pos;
  let inExec = false; // inside an executed /*! ... */
  let nonAscii = false;
  let error: string | undefined;
  let start = -1;
  let end = n;
  let next = n;
  const fail = (why: string) => {
    error ??= why;
  };
  scan: while (i < n) {
    const c = s.charCodeAt(i);
    const c1 = s.charCodeAt(i + 1);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (start < 0) start = i;
    if (c >= 0x80) nonAscii = true;
    if (inExec && c === 0x2a && c1 === 0x2f) {
      inExec = false;
      i += 2;
      continue;
    }
    if (c === 0x23 || (c === 0x2d && c1 === 0x2d && (i + 2 >= n || isSpaceOrCntrl(s.charCodeAt(i + 2))))) {
      // # and "-- " run to the end of the line (only \n ends it).
      const nl = s.indexOf('\n', i);
      if (nl < 0) {
        for (let k = i; k < n; k++) if (s.charCodeAt(k) >= 0x80) nonAscii = true;
      }
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (c === 0x2f && c1 === 0x2a) {
      const bang = s.charCodeAt(i + 2) === 0x21;
      const mBang = mode.mariadb && s.charCodeAt(i + 2) === 0x4d && s.charCodeAt(i + 3) === 0x21;
      if (bang || mBang) {
        if (inExec) {
          fail('executable comment inside an executable comment');
        }
        let j = i + (mBang ? 4 : 3);
        let digits = 0;
        while (digits < 7 && isDigit(s.charCodeAt(j + digits))) digits++;
        let execute = true;
        if (digits >= 5) {
          let len = 5;
          if (digits >= 6) {
            if (mode.mariadb) len = 6;
            else fail('six-digit version comment: MySQL versions read it differently');
          }
          const version = Number(s.slice(j, j + len));
          j += len;
          execute = version <= mode.serverVersion;
          // MariaDB ignores /*!NNNNN for MySQL 5.7 and later (50700-99999), but not /*M!NNNNN.
          if (mode.mariadb && !mBang && version >= 50700 && version <= 99999) execute = false;
        }
        if (execute) {
          inExec = true;
          i = j;
          continue;
        }
        const close = skipVersionedComment(s, j);
        if (close < 0) {
          fail('unclosed comment');
          i = n;
          break;
        }
        for (let k = i; k < close; k++) if (s.charCodeAt(k) >= 0x80) nonAscii = true;
        i = close;
        continue;
      }
      const close = s.indexOf('*/', i + 2);
      if (close < 0) {
        fail('unclosed comment');
        i = n;
        break;
      }
      for (let k = i; k < close; k++) if (s.charCodeAt(k) >= 0x80) nonAscii = true;
      i = close + 2;
      continue;
    }
    if (c === 0x3b) {
      if (inExec) fail('; inside an executable comment');
      end = i;
      next = i + 1;
      break scan;
    }
    const push = (type: Token['type'], to: number) => {
      tokens.push({ type, start: i, end: to });
      for (let k = i; k < to; k++) if (s.charCodeAt(k) >= 0x80) nonAscii = true;
      i = to;
    };
    if (c === 0x27 || c === 0x22 || c === 0x60) {
      const ident = c === 0x60 || (c === 0x22 && mode.ansiQuotes);
      const e = quotedEnd(s, i, !ident && !mode.noBackslashEscapes);
      if (e < 0) {
        fail(`unterminated ${ident ? 'quoted name' : 'string'}`);
        push(ident ? 'qident' : 'string', n);
        break;
      }
      push(ident ? 'qident' : 'string', e);
      continue;
    }
    // X'..' B'..' (hex and bit literals), N'..' (national string): one literal each.
    if (c1 === 0x27 && 'xXbBnN'.includes(s[i]!)) {
      const e = quotedEnd(s, i + 1, (c | 0x20) === 0x6e && !mode.noBackslashEscapes);
      if (e < 0) {
        fail('unterminated string');
        push('string', n);
        break;
      }
      push('string', e);
      continue;
    }
    if (c === 0x40) {
      // @var, @'var', @`var`, @"var", @@var, @@session.var
      let j = i + 1;
      if (s.charCodeAt(j) === 0x40) j++;
      const q = s.charCodeAt(j);
      if (q === 0x27 || q === 0x22 || q === 0x60) {
        const e = quotedEnd(s, j, q !== 0x60 && !(q === 0x22 && mode.ansiQuotes) && !mode.noBackslashEscapes);
        if (e < 0) {
          fail('unterminated variable name');
          push('var', n);
          break;
        }
        push('var', e);
        continue;
      }
      while (j < n && (isIdentChar(s.charCodeAt(j)) || s.charCodeAt(j) === 0x2e)) j++;
      push('var', j);
      continue;
    }
    if (c === 0x3f) {
      push('param', i + 1);
      continue;
    }
    if (c === 0x24 && !mode.mariadb) {
      // MySQL 9 reads $tag$...$tag$ as a string, MySQL 8 reads $x as a name.
      fail('identifier starting with $: MySQL versions read it differently');
    }
    if (isDigit(c) || (c === 0x2e && isDigit(c1))) {
      // A number: 0x.., 0b.., or digits [. digits] [e [+-] digits]. Followed by a name character, the
      // whole run is a name (1abc, 12e3x), as the server reads it.
      let j = i;
      if (c === 0x30 && (c1 === 0x78 || c1 === 0x62)) {
        j += 2;
        while (j < n && isIdentChar(s.charCodeAt(j))) j++;
        push(/^0x[0-9a-f]+$|^0b[01]+$/i.test(s.slice(i, j)) ? 'number' : 'word', j);
        continue;
      }
      while (isDigit(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) === 0x2e) {
        j++;
        while (isDigit(s.charCodeAt(j))) j++;
      }
      if ((s.charCodeAt(j) | 0x20) === 0x65) {
        const k = s.charCodeAt(j + 1) === 0x2b || s.charCodeAt(j + 1) === 0x2d ? j + 2 : j + 1;
        if (isDigit(s.charCodeAt(k))) {
          j = k;
          while (isDigit(s.charCodeAt(j))) j++;
        }
      }
      if (c !== 0x2e && j < n && isIdentChar(s.charCodeAt(j)) && s.charCodeAt(j - 1) !== 0x2e) {
        while (j < n && isIdentChar(s.charCodeAt(j))) j++;
        push('word', j);
        continue;
      }
      push('number', j);
      continue;
    }
    if (isIdentChar(c)) {
      let j = i + 1;
      while (j < n && isIdentChar(s.charCodeAt(j))) j++;
      push('word', j);
      continue;
    }
    for (const op of multiCharOps) {
      if (s.startsWith(op, i)) {
        push('op', i + op.length);
        continue scan;
      }
    }
    push('op', i + 1);
  }
  if (inExec && !error) fail('unclosed executable comment');
  if (start < 0) start = end;
  let e = end;
  while (e > start && isSpace(s.charCodeAt(e - 1))) e--;
  if (next === n && i > next) next = i;
  const seg: MysqlSegment = { tokens, start, end: e, next, nonAscii };
  if (error) seg.error = error;
  return seg;
}
