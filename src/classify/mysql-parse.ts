// node-sql-parser on one statement, fed the tokens our lexer read (not the raw text), so that its own
// lexer never gets to disagree with the server's about comments, quotes or escapes.
import nodeSqlParser from 'node-sql-parser';
import { LruCache } from './cache.js';
import type { Token } from './tokens.js';

interface SqlParser {
  parse(sql: string, opt?: { database?: string }): { tableList: string[]; ast: unknown };
}
const parser: SqlParser = new (nodeSqlParser as unknown as { Parser: new () => SqlParser }).Parser();

const selectModifiers = new Set([
  'HIGH_PRIORITY', 'STRAIGHT_JOIN', 'SQL_SMALL_RESULT', 'SQL_BIG_RESULT', 'SQL_BUFFER_RESULT', 'SQL_NO_CACHE',
  'SQL_CACHE', 'SQL_CALC_FOUND_ROWS',
]);

/** The text the server sees as node-sql-parser reads it: comments gone, strings neutral, names in backticks. */
export function render(s: string, tokens: readonly Token[], from: number, to: number): string {
  let out = '';
  let afterSelect = false;
  for (let k = from; k < to; k++) {
    const t = tokens[k]!;
    let piece: string;
    if (t.type === 'word') {
      // Optimizer modifiers, index hints and charset introducers do not change what a query does, and
      // node-sql-parser does not know them all: they are left out.
      const w = s.slice(t.start, t.end).toUpperCase();
      if (afterSelect && selectModifiers.has(w)) continue;
      if (w.charCodeAt(0) === 0x5f && tokens[k + 1]?.type === 'string' && k + 1 < to) continue;
      if ((w === 'USE' || w === 'FORCE' || w === 'IGNORE') && k + 1 < to && /^(INDEX|KEY)$/i.test(s.slice(tokens[k + 1]!.start, tokens[k + 1]!.end))) {
        let j = k + 2;
        while (j < to && s[tokens[j]!.start] !== '(') j++;
        let depth = 0;
        for (; j < to; j++) {
          const c = s[tokens[j]!.start];
          if (tokens[j]!.type === 'op' && c === '(') depth++;
          else if (tokens[j]!.type === 'op' && c === ')' && --depth === 0) break;
        }
        k = j;
        continue;
      }
      afterSelect = w === 'SELECT' || (afterSelect && w === 'DISTINCT');
      if (w === 'STRAIGHT_JOIN') {
        out += ' JOIN';
        continue;
      }
    } else afterSelect = false;
    if (t.type === 'string') {
      // Every literal renders the same, so statements that differ only in values share one parse.
      const p = s.charCodeAt(t.start) | 0x20;
      piece = p === 0x78 ? "X'00'" : p === 0x62 ? "B'0'" : "'s'";
    } else if (t.type === 'number') {
      piece = '1';
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
/**
 * Parses by rendered text: node-sql-parser takes about a millisecond per kilobyte, and texts that differ
 * only in their literals (ORM queries with inlined values) render the same.
 */
export const parseCache = new LruCache<ParsedQuery | null>({ maxEntries: 5000, maxBytes: 16 * 1024 * 1024 });

export function parseTokens(s: string, tokens: readonly Token[], from: number, to: number, mariadb: boolean): ParsedQuery | undefined {
  const text = render(s, tokens, from, to);
  const key = (mariadb ? 'M' : 'm') + text;
  const hit = parseCache.get(key);
  if (hit !== undefined) return hit ? { type: hit.type, objects: [...hit.objects] } : undefined;
  // node-sql-parser's two grammars each miss syntax both servers accept (its MariaDB one: UPDATE ...
  // ORDER BY ... LIMIT): the server's own flavour first, then the other.
  const parsed = parseAs(text, mariadb ? 'MariaDB' : 'MySQL') ?? parseAs(text, mariadb ? 'MySQL' : 'MariaDB');
  parseCache.set(key, parsed ?? null, 2 * key.length + 64 + (parsed ? parsed.objects.join().length * 2 + 64 : 0));
  return parsed && { type: parsed.type, objects: [...parsed.objects] };
}

function parseAs(text: string, database: string): ParsedQuery | undefined {
  try {
    const r = parser.parse(text, { database });
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
