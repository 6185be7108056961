// Statements that differ only in their literal values (`... WHERE id = 17`, `... WHERE id = 18`) are
// classified once: the parse is most of a statement's cost on the proxy, and clients that do not use
// parameters send a new text for every value.
//
// A shape is the text with each literal cut out. It is only taken for literals whose extent no lexer can
// misread: numbers and plain '...' strings with no quote or backslash inside. Any other literal (E'',
// dollar quotes, doubled quotes, backslashes that standard_conforming_strings may or may not escape with)
// leaves the text to the parser, so a shape never depends on where the lexer thinks a tricky literal ends.
// Results that a literal's value decided (set_config('role', ...)) are not kept by shape at all (the
// caller says so), and neither are texts that did not parse.
import type { Token } from './tokens.js';
import { isLiteral } from './tokens.js';
import type { Statement } from './types.js';

/** Literals are cut out as NUL, which no classified text contains (classify refuses it). */
const cut = '\0';

/** The text's shape, or undefined when one of its literals is not simple enough to be cut out safely. */
export function shapeKey(sql: string, tokens: readonly Token[]): string | undefined {
  let key = '';
  let pos = 0;
  for (const t of tokens) {
    if (!isLiteral(t)) continue;
    if (t.type === 'string' && !isPlainString(sql, t.start, t.end)) return undefined;
    key += sql.slice(pos, t.start) + cut;
    pos = t.end;
  }
  return key + sql.slice(pos);
}

/** '...' with no quote or backslash inside. */
function isPlainString(sql: string, start: number, end: number): boolean {
  if (end - start < 2 || sql.charCodeAt(start) !== 0x27 || sql.charCodeAt(end - 1) !== 0x27) return false;
  for (let i = start + 1; i < end - 1; i++) {
    const c = sql.charCodeAt(i);
    if (c === 0x27 || c === 0x5c) return false;
  }
  return true;
}

/**
 * A classification kept by shape. Statement boundaries are never inside a literal, and two texts of one
 * shape are equal outside their literals, so a boundary is kept as (next token, distance back from it).
 */
export interface ShapeTemplate {
  statements: readonly Statement[];
  /** Per statement: [token, back] for its start, then for its end. */
  bounds: Int32Array;
  /** The text it answered last (see PgShapes.keepExact): a text seen twice in a row is worth an exact entry. */
  lastText: string;
}

function anchor(tokens: readonly Token[], sqlLength: number, offset: number, out: Int32Array, at: number): void {
  let k = 0;
  while (k < tokens.length && tokens[k]!.start < offset) k++;
  out[at] = k;
  out[at + 1] = (k < tokens.length ? tokens[k]!.start : sqlLength) - offset;
}

function offsetOf(tokens: readonly Token[], sqlLength: number, token: number, back: number): number {
  return (token < tokens.length ? tokens[token]!.start : sqlLength) - back;
}

/** `ranges` holds each statement's [start, end) in `sql`. */
export function makeTemplate(sql: string, tokens: readonly Token[], statements: readonly Statement[], ranges: readonly number[]): ShapeTemplate {
  const bounds = new Int32Array(statements.length * 4);
  for (let s = 0; s < statements.length; s++) {
    anchor(tokens, sql.length, ranges[2 * s]!, bounds, 4 * s);
    anchor(tokens, sql.length, ranges[2 * s + 1]!, bounds, 4 * s + 2);
  }
  return { statements, bounds, lastText: sql };
}

/** The template's statements for `sql` (same shape): each one's text is its own, the rest is shared. */
export function fromTemplate(t: ShapeTemplate, sql: string, tokens: readonly Token[]): Statement[] {
  const b = t.bounds;
  return t.statements.map((st, s) => ({
    ...st,
    text: sql.slice(offsetOf(tokens, sql.length, b[4 * s]!, b[4 * s + 1]!), offsetOf(tokens, sql.length, b[4 * s + 2]!, b[4 * s + 3]!)),
  }));
}

/** Roughly what statements take in memory, for the caches' byte bounds. */
export function statementBytes(statements: readonly Statement[]): number {
  let bytes = 64;
  for (const st of statements) {
    bytes += 2 * (st.text.length + st.masked.length + st.kind.length + st.fingerprint.length + (st.reason?.length ?? 0)) + 160;
    for (const o of st.objects) bytes += 2 * o.length + 16;
  }
  return bytes;
}
