// node-sql-parser on one statement, fed the tokens our lexer read (not the raw text), so that its own
// lexer never gets to disagree with the server's about comments, quotes or escapes.
import nodeSqlParser from 'node-sql-parser';
import type { Token } from './tokens.js';

interface SqlParser {
  parse(sql: string, opt?: { database?: string }): { tableList: string[]; ast: unknown };
}
const parser: SqlParser = new (nodeSqlParser as unknown as { Parser: new () => SqlParser }).Parser();

/** The text the server sees as node-sql-parser reads it: comments gone, strings neutral, names in backticks. */
export function render(s: string, tokens: readonly Token[], from: number, to: number): string {
  let out = '';
  for (let k = from; k < to; k++) {
    const t = tokens[k]!;
    let piece: string;
    if (t.type === 'string') {
      const p = s.charCodeAt(t.start) | 0x20;
      piece = p === 0x78 || p === 0x62 ? s.slice(t.start, t.end) : "'s'";
    } else if (t.type === 'qident') {
      const q = s[t.start]!;
      piece = '`' + s.slice(t.start + 1, t.end - 1).split(q + q).join(q).replace(/`/g, '``') + '`';
    } else piece = s.slice(t.start, t.end);
    if (k > from) {
      const prev = tokens[k - 1]!;
      const glued =
        prev.end === t.start &&
        (s.charCodeAt(t.start) === 0x2e || s.charCodeAt(prev.end - 1) === 0x2e || (prev.type === 'word' && t.type === 'string'));
      if (!glued) out += ' ';
    }
    out += piece;
  }
  return out;
}

export interface ParsedQuery {
  type: string;
  objects: string[];
}

/** node-sql-parser on one statement's tokens; undefined when it cannot parse them. */
export function parseTokens(s: string, tokens: readonly Token[], from: number, to: number, mariadb: boolean): ParsedQuery | undefined {
  try {
    const r = parser.parse(render(s, tokens, from, to), { database: mariadb ? 'MariaDB' : 'MySQL' });
    const ast = (Array.isArray(r.ast) ? r.ast : [r.ast]) as { type?: string }[];
    if (ast.length !== 1 || typeof ast[0]?.type !== 'string') return undefined;
    const objects: string[] = [];
    for (const entry of r.tableList) {
      const [, db, table] = entry.split('::');
      if (!table || table === 'null') continue;
      const name = db && db !== 'null' ? `${db}.${table}` : table;
      if (!objects.includes(name)) objects.push(name);
    }
    return { type: ast[0].type.toLowerCase(), objects };
  } catch {
    return undefined;
  }
}
