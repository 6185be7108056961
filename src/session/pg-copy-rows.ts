// COPY ... TO STDOUT sends rows without a RowDescription: nothing says which table columns they come from.
// The query whose rows COPY sends answers that when the server describes it (Parse + Describe, nothing
// executed): `COPY (query) TO STDOUT` copies the query's rows, `COPY t (a, b) TO STDOUT` those of
// `SELECT a, b FROM t`. The session has it described on the client's own connection, so names resolve as
// the client's COPY will (search_path, role), and column rules apply to the rows as to a SELECT's.
import { lexPostgres } from '../classify/pg-lexer.js';
import type { Token } from '../classify/tokens.js';

/**
 * The query whose rows `sql` copies to the client, or undefined: not one COPY ... TO STDOUT statement, or a
 * form this reader does not take apart (the rows are then masked by column names and detectors alone).
 */
export function copyRowsQuery(sql: string): string | undefined {
  const { tokens } = lexPostgres(sql);
  const word = (i: number, w: string) => tokens[i]?.type === 'word' && sql.slice(tokens[i]!.start, tokens[i]!.end).toLowerCase() === w;
  const op = (i: number, o: string) => tokens[i]?.type === 'op' && sql.slice(tokens[i]!.start, tokens[i]!.end) === o;
  if (!word(0, 'copy')) return undefined;
  let query: string;
  let at: number;
  if (op(1, '(')) {
    const close = closing(sql, tokens, 1);
    if (close < 0) return undefined;
    query = sql.slice(tokens[1]!.end, tokens[close]!.start);
    at = close + 1;
  } else {
    // A table name, maybe qualified, maybe a column list.
    at = 1;
    while ((tokens[at]?.type === 'word' && !word(at, 'to')) || tokens[at]?.type === 'qident' || op(at, '.')) at++;
    if (at === 1) return undefined;
    const table = sql.slice(tokens[1]!.start, tokens[at - 1]!.end);
    let columns = '*';
    if (op(at, '(')) {
      const close = closing(sql, tokens, at);
      if (close < 0 || close === at + 1) return undefined;
      columns = sql.slice(tokens[at]!.end, tokens[close]!.start);
      at = close + 1;
    }
    query = `SELECT ${columns} FROM ${table}`;
  }
  if (!word(at, 'to') || !word(at + 1, 'stdout')) return undefined;
  // One statement only: what follows TO STDOUT are its options, up to an optional final semicolon.
  for (let i = at + 2; i < tokens.length; i++) if (op(i, ';') && i !== tokens.length - 1) return undefined;
  return query;
}

/** The token that closes the parenthesis at `open`, or -1. */
function closing(sql: string, tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.type !== 'op') continue;
    const text = sql.slice(t.start, t.end);
    if (text === '(') depth++;
    else if (text === ')' && --depth === 0) return i;
  }
  return -1;
}
