// Tokens both lexers produce, and what is built from them alone: the literal-masked text the audit
// writes and the fingerprint approval windows match on.
import { hash } from 'node:crypto';
import type { Dialect } from './types.js';

/**
 * `word`: unquoted identifier or keyword; `qident`: quoted identifier; `string`: any string, bit or hex
 * literal (the masked kind); `number`; `param`: $1 or ?; `var`: MySQL @x / @@x; `op`: operator or
 * punctuation, one token per run the server reads as one.
 */
export type TokenType = 'word' | 'qident' | 'string' | 'number' | 'param' | 'var' | 'op';

export interface Token {
  type: TokenType;
  /** Offsets into the text the lexer read (JS string indexes). */
  start: number;
  end: number;
}

export function isLiteral(t: Token): boolean {
  return t.type === 'string' || t.type === 'number';
}

/** A token's text in the normalized form: literals are `?`, unquoted words folded when the dialect folds them. */
function normalizedText(text: string, t: Token, foldCase: boolean): string {
  if (isLiteral(t)) return '?';
  const s = text.slice(t.start, t.end);
  return t.type === 'word' && foldCase ? s.toLowerCase() : s;
}

/** True when `t` ends an operand, so a following `-` is binary (a - 1), not a sign (= -1). */
function endsOperand(text: string, t: Token | undefined): boolean {
  if (!t) return false;
  if (t.type === 'op') {
    const c = text.charCodeAt(t.end - 1);
    return c === 0x29 /* ) */ || c === 0x5d; /* ] */
  }
  return true;
}

/**
 * Normalized parts of tokens[from, to): signed numbers fold into one `?`, an IN list of literals is
 * `in ( ?... )`, and VALUES rows equal to the row before them are dropped, so statements that differ
 * only in values (or in how many) share a fingerprint.
 */
export function normalize(text: string, tokens: readonly Token[], from: number, to: number, foldCase: boolean): string[] {
  const parts: string[] = [];
  for (let i = from; i < to; i++) {
    const t = tokens[i]!;
    const next = i + 1 < to ? tokens[i + 1] : undefined;
    if (
      t.type === 'op' &&
      t.end - t.start === 1 &&
      (text.charCodeAt(t.start) === 0x2d || text.charCodeAt(t.start) === 0x2b) &&
      next?.type === 'number' &&
      !endsOperand(text, i > from ? tokens[i - 1] : undefined)
    ) {
      continue; // the sign is part of the literal
    }
    parts.push(normalizedText(text, t, foldCase));
  }
  return collapseLists(parts);
}

function collapseLists(parts: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const lower = p.length === 2 || p.length === 6 ? p.toLowerCase() : '';
    if (lower === 'in' && parts[i + 1] === '(' && parts[i + 2] === '?') {
      let j = i + 3;
      while (parts[j] === ',' && parts[j + 1] === '?') j += 2;
      if (parts[j] === ')') {
        out.push(p, '(', '?...', ')');
        i = j;
        continue;
      }
    }
    out.push(p);
    if (lower === 'values' && parts[i + 1] === '(') {
      const end = groupEnd(parts, i + 1);
      if (end < 0) continue;
      for (let k = i + 1; k <= end; k++) out.push(parts[k]!);
      let j = end + 1;
      // Drop each following ", (row)" identical to the first row.
      while (parts[j] === ',' && parts[j + 1] === '(') {
        const e = groupEnd(parts, j + 1);
        if (e < 0 || e - (j + 1) !== end - (i + 1) || !sameRange(parts, i + 1, j + 1, end - i)) break;
        j = e + 1;
      }
      i = j - 1;
    }
  }
  return out;
}

function groupEnd(parts: string[], open: number): number {
  let depth = 0;
  for (let k = open; k < parts.length; k++) {
    if (parts[k] === '(') depth++;
    else if (parts[k] === ')' && --depth === 0) return k;
  }
  return -1;
}

function sameRange(parts: string[], a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (parts[a + k] !== parts[b + k]) return false;
  return true;
}

export function fingerprintOf(dialect: Dialect, parts: readonly string[]): string {
  return hash('sha256', `${dialect}\n${parts.join(' ')}`, 'hex').slice(0, 32);
}

/** text[start, end) with each literal token inside it replaced by `?`. Tokens are in text order. */
export function maskRange(text: string, tokens: readonly Token[], from: number, to: number, start: number, end: number): string {
  let out = '';
  let pos = start;
  for (let i = from; i < to; i++) {
    const t = tokens[i]!;
    if (!isLiteral(t) || t.start < pos || t.end > end) continue;
    out += text.slice(pos, t.start) + '?';
    pos = t.end;
  }
  return out + text.slice(pos, end);
}

/** Index of the first token at or after `offset` (tokens sorted by start). */
export function tokenAt(tokens: readonly Token[], offset: number): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tokens[mid]!.start < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
