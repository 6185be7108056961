// Where a MySQL/MariaDB derived table or CTE alias is defined in the SQL a client sent. The server names the
// alias as the origin of the columns it shows (`SELECT * FROM (SELECT ssn AS x FROM t) d` describes `d.x`),
// so the catalog (mysql-catalog.ts) finds the select that defines the alias here and has the server describe
// that select (a prepare, never run) to learn which base columns the alias's columns show.
//
// Read with the project's lexer, so parentheses, names and AS inside strings and comments are not seen; the
// select is rebuilt from its tokens (comments become a space, executed comments their content), which the
// server reads as it read the original. A text that cannot be read with certainty (a lexer error, unbalanced
// parentheses, or a different reading under the sql_mode settings not known) yields null: nothing is traced.
import { lexMysqlStatement, type MysqlLexMode } from '../classify/mysql-lexer.js';
import type { Token } from '../classify/tokens.js';

/** The session's lexical settings; undefined flags are not known, and the text is read both ways. */
export interface DerivedLexMode {
  noBackslashEscapes?: boolean;
  ansiQuotes?: boolean;
  serverVersion: number;
  mariadb: boolean;
}

export interface DerivedDefinition {
  /**
   * The select to describe: the alias's own select (a derived table's, or a CTE's preceded by the WITH
   * clause's earlier definitions, which it may read).
   */
  select: string;
  /** The alias's column list (`d (c1, c2)`), when it has one: its columns by position. */
  columns?: string[];
}

/**
 * Every definition of `alias` (compared case-insensitively) in `sql` as a derived table
 * `( <select> ) [AS] alias [(c1, ...)]` or a CTE `WITH [RECURSIVE] alias [(c1, ...)] AS ( <select> )`.
 * Null when the text cannot be read with certainty.
 */
export function findDerivedDefinitions(sql: string, alias: string, mode: DerivedLexMode): DerivedDefinition[] | null {
  let found: DerivedDefinition[] | null | undefined;
  for (const nbe of mode.noBackslashEscapes === undefined ? [false, true] : [mode.noBackslashEscapes]) {
    for (const ansi of mode.ansiQuotes === undefined ? [false, true] : [mode.ansiQuotes]) {
      const defs = findUnder(sql, alias.toLowerCase(), { noBackslashEscapes: nbe, ansiQuotes: ansi, serverVersion: mode.serverVersion, mariadb: mode.mariadb });
      if (defs === null) return null;
      if (found === undefined) found = defs;
      else if (!sameDefinitions(found!, defs)) return null;
    }
  }
  return found ?? null;
}

function sameDefinitions(a: DerivedDefinition[], b: DerivedDefinition[]): boolean {
  return a.length === b.length && a.every((d, i) => d.select === b[i]!.select && (d.columns ?? []).join('\0') === (b[i]!.columns ?? []).join('\0'));
}

function findUnder(sql: string, alias: string, mode: MysqlLexMode): DerivedDefinition[] | null {
  const out: DerivedDefinition[] = [];
  for (let pos = 0; pos < sql.length; ) {
    const seg = lexMysqlStatement(sql, pos, mode);
    if (seg.error) return null;
    if (!scanStatement(new Reader(sql, seg.tokens, mode), alias, out)) return null;
    if (seg.next <= pos) break;
    pos = seg.next;
  }
  return out;
}

/** Tokens of one statement with their parentheses matched. */
class Reader {
  /** For each `(` token, the index of its `)`; -1 elsewhere. */
  readonly close: Int32Array;
  balanced = true;

  constructor(
    readonly sql: string,
    readonly tokens: Token[],
    private readonly mode: MysqlLexMode,
  ) {
    this.close = new Int32Array(tokens.length).fill(-1);
    const open: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      if (this.isOp(i, '(')) open.push(i);
      else if (this.isOp(i, ')')) {
        const o = open.pop();
        if (o === undefined) this.balanced = false;
        else this.close[o] = i;
      }
    }
    if (open.length > 0) this.balanced = false;
  }

  isOp(i: number, op: string): boolean {
    const t = this.tokens[i];
    return t !== undefined && t.type === 'op' && t.end - t.start === op.length && this.sql.startsWith(op, t.start);
  }

  isWord(i: number, word: string): boolean {
    const t = this.tokens[i];
    return t !== undefined && t.type === 'word' && t.end - t.start === word.length && this.sql.slice(t.start, t.end).toUpperCase() === word;
  }

  /** The name token i stands for (lower case), or undefined when it is not a name. */
  name(i: number): string | undefined {
    return this.unquoted(i)?.toLowerCase();
  }

  /** The name token i stands for, as written (unquoted), or undefined when it is not a name. */
  unquoted(i: number): string | undefined {
    const t = this.tokens[i];
    if (!t) return undefined;
    if (t.type === 'word') return this.sql.slice(t.start, t.end);
    if (t.type !== 'qident') return undefined;
    const q = this.sql[t.start]!;
    // A "..." name only under ANSI_QUOTES (the lexer made it a string otherwise).
    if (q !== '`' && !(q === '"' && this.mode.ansiQuotes)) return undefined;
    return this.sql.slice(t.start + 1, t.end - 1).replaceAll(q + q, q);
  }

  /** `( name, name, ... )` at i: the names, or undefined. */
  nameList(i: number): string[] | undefined {
    if (!this.isOp(i, '(')) return undefined;
    const end = this.close[i]!;
    const names: string[] = [];
    for (let k = i + 1; k < end; k += 2) {
      const n = this.unquoted(k);
      if (n === undefined || (k + 1 < end && !this.isOp(k + 1, ','))) return undefined;
      names.push(n);
    }
    return names.length > 0 ? names : undefined;
  }

  /** Tokens [from, to) as SQL text: tokens that touched still touch, anything between others is one space. */
  text(from: number, to: number): string {
    let s = '';
    for (let k = from; k < to; k++) {
      const t = this.tokens[k]!;
      if (k > from && t.start !== this.tokens[k - 1]!.end) s += ' ';
      s += this.sql.slice(t.start, t.end);
    }
    return s;
  }

  /** Whether the parenthesized tokens at `open` hold a query (SELECT, WITH, VALUES, TABLE or a nested parenthesis). */
  holdsQuery(open: number): boolean {
    const i = open + 1;
    return this.isWord(i, 'SELECT') || this.isWord(i, 'WITH') || this.isWord(i, 'VALUES') || this.isWord(i, 'TABLE') || this.isOp(i, '(');
  }
}

/** Adds the definitions of `alias` in one statement; false when its parentheses do not balance. */
function scanStatement(r: Reader, alias: string, out: DerivedDefinition[]): boolean {
  if (!r.balanced) return false;
  const n = r.tokens.length;
  for (let i = 0; i < n; i++) {
    if (r.isOp(i, '(')) {
      // A derived table: ( select ) [AS] alias [(columns)].
      const end = r.close[i]!;
      if (!r.holdsQuery(i)) continue;
      let k = end + 1;
      if (r.isWord(k, 'AS')) k++;
      if (r.name(k) !== alias) continue;
      const columns = r.nameList(k + 1);
      out.push(columns ? { select: r.text(i + 1, end), columns } : { select: r.text(i + 1, end) });
    } else if (r.isWord(i, 'WITH')) {
      if (!scanWith(r, i, alias, out)) return false;
    }
  }
  return true;
}

/** A WITH clause at `w` (or WITH ROLLUP, WITH CHECK OPTION...: nothing). False when it cannot be rebuilt. */
function scanWith(r: Reader, w: number, alias: string, out: DerivedDefinition[]): boolean {
  let k = w + 1;
  const recursive = r.isWord(k, 'RECURSIVE');
  if (recursive) k++;
  const first = k;
  for (;;) {
    const nameAt = k;
    const name = r.name(k);
    if (name === undefined) return true;
    k++;
    const columns = r.nameList(k);
    if (columns) k = r.close[k]! + 1;
    if (!r.isWord(k, 'AS') || !r.isOp(k + 1, '(') || !r.holdsQuery(k + 1)) return true;
    const open = k + 1;
    const end = r.close[open]!;
    if (name === alias) {
      let select = r.text(open + 1, end);
      if (nameAt > first) {
        // Earlier definitions come along (the select may read them); a select with a WITH of its own
        // cannot be joined to them.
        if (r.isWord(open + 1, 'WITH')) return false;
        select = `WITH ${recursive ? 'RECURSIVE ' : ''}${r.text(first, nameAt - 1)} ${select}`;
      }
      out.push(columns ? { select, columns } : { select });
    }
    if (!r.isOp(end + 1, ',')) return true;
    k = end + 2;
  }
}
