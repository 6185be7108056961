// MySQL/MariaDB: our lexer splits and resolves comments (mysql-lexer.ts); the first keyword decides the
// family; node-sql-parser must parse queries and DML the way that keyword says, and yields the tables;
// a keyword grammar (mysql-grammar.ts) reads the harmless statements node-sql-parser does not know.
// Token scans catch what is dangerous anywhere in a statement (LOAD_FILE, INTO OUTFILE, ...).
import { lexMysqlStatement, type MysqlLexMode, type MysqlSegment } from './mysql-lexer.js';
import { classifyKeywords, type ModeState, type SetEffects, type Verdict } from './mysql-grammar.js';
import { fingerprintOf, maskRange, normalize } from './tokens.js';
import type { MysqlContext, Statement } from './types.js';

/** Client charsets whose multibyte characters can end in 0x5c (backslash) or 0x60 (backtick). */
const unsafeCharsets = new Set(['big5', 'cp932', 'gbk', 'sjis', 'gb18030']);

interface RunState {
  mode: ModeState;
  /** Lower-case client charset; null when a statement set it to something not knowable. */
  charset: string | null;
  userVars: Map<string, { mode?: ModeState; text?: string; charset?: string | null }>;
  /** Lexing passes left: reading the text under several modes is bounded. */
  budget: { runs: number };
}

const anyUnknown = (m: ModeState) => m.noBackslashEscapes === undefined || m.ansiQuotes === undefined;

function statementOf(s: string, seg: MysqlSegment, v: Verdict, effects?: SetEffects): Statement {
  const st: Statement = {
    category: v.category,
    kind: v.kind,
    text: s.slice(seg.start, seg.end),
    masked: maskRange(s, seg.tokens, 0, seg.tokens.length, seg.start, seg.end),
    fingerprint: fingerprintOf('mysql', normalize(s, seg.tokens, 0, seg.tokens.length, false)),
    objects: v.objects ?? [],
  };
  if (v.reason) st.reason = v.reason;
  if (effects && (effects.sqlMode !== undefined || effects.newCharset !== undefined)) {
    st.settings = {};
    if (effects.sqlMode !== undefined) st.settings.sqlMode = effects.sqlMode;
    if (effects.newCharset !== undefined) st.settings.charset = effects.newCharset;
  }
  return st;
}

function sameResult(a: readonly Statement[], b: readonly Statement[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.category !== y.category || x.kind !== y.kind || x.text !== y.text || x.objects.join() !== y.objects.join()) return false;
  }
  return true;
}

/** Reads s[pos..] under a mode that may not be fully known: every possible mode, and `unknown` where they differ. */
function runFrom(s: string, pos: number, state: RunState, ctx: MysqlContext): Statement[] {
  const m = state.mode;
  if (!anyUnknown(m)) return runDefinite(s, pos, state, ctx);
  const rest = s.slice(pos);
  const nbes = m.noBackslashEscapes === undefined && rest.includes('\\') ? [false, true] : [m.noBackslashEscapes ?? false];
  const ansis = m.ansiQuotes === undefined && rest.includes('"') ? [false, true] : [m.ansiQuotes ?? false];
  const results: Statement[][] = [];
  for (const nbe of nbes) {
    for (const ansi of ansis) {
      const mode = { noBackslashEscapes: nbe, ansiQuotes: ansi, oracle: m.oracle };
      results.push(runDefinite(s, pos, { ...state, mode, userVars: new Map(state.userVars) }, ctx));
    }
  }
  const first = results[0]!;
  if (results.every((r) => sameResult(first, r))) return first;
  return first.map((st) => ({
    ...st,
    category: 'unknown' as const,
    reason: 'reads differently under the possible sql_mode settings (ANSI_QUOTES, NO_BACKSLASH_ESCAPES)',
  }));
}

function runDefinite(s: string, pos: number, state: RunState, ctx: MysqlContext): Statement[] {
  const out: Statement[] = [];
  if (--state.budget.runs < 0) {
    // Pathological: a SET sql_mode to an unknowable value, many times over. The rest is unknown.
    while (pos < s.length) {
      const seg = lexMysqlStatement(s, pos, lexModeOf(state.mode, ctx));
      pos = seg.next;
      if (seg.tokens.length || seg.error) out.push(statementOf(s, seg, { category: 'unknown', kind: 'unparsed', reason: 'too many sql_mode changes to follow' }));
    }
    return out;
  }
  while (pos < s.length) {
    const seg = lexMysqlStatement(s, pos, lexModeOf(state.mode, ctx));
    pos = seg.next;
    if (seg.tokens.length === 0 && !seg.error) continue;
    let v: Verdict;
    let effects: SetEffects | undefined;
    if (seg.error) v = { category: 'unknown', kind: 'unparsed', reason: seg.error };
    else if (state.mode.oracle || ctx.oracleMode) v = { category: 'unknown', kind: 'unparsed', reason: 'sql_mode=ORACLE is not classified' };
    else if (seg.nonAscii && (state.charset === null || unsafeCharsets.has(state.charset))) {
      v = { category: 'unknown', kind: 'unparsed', reason: `non-ASCII text in charset ${state.charset ?? '(unknown)'}` };
    } else {
      effects = { userVars: state.userVars, mode: state.mode, charset: state.charset };
      v = classifyKeywords(s, seg.tokens, 0, seg.tokens.length, ctx.mariadb, effects);
    }
    out.push(statementOf(s, seg, v, effects));
    if (effects?.newMode) {
      state = { ...state, mode: effects.newMode };
      if (anyUnknown(state.mode)) {
        out.push(...runFrom(s, pos, state, ctx));
        return out;
      }
    }
    if (effects?.newCharset !== undefined) state = { ...state, charset: effects.newCharset };
  }
  return out;
}

function lexModeOf(m: ModeState, ctx: MysqlContext): MysqlLexMode {
  return {
    noBackslashEscapes: m.noBackslashEscapes ?? false,
    ansiQuotes: m.ansiQuotes ?? false,
    serverVersion: ctx.serverVersion,
    mariadb: ctx.mariadb,
  };
}

export function classifyMysql(sql: string, ctx: MysqlContext): Statement[] {
  const state: RunState = {
    mode: { noBackslashEscapes: ctx.noBackslashEscapes, ansiQuotes: ctx.ansiQuotes, oracle: ctx.oracleMode ?? false },
    charset: ctx.charset === null ? null : (ctx.charset ?? 'utf8mb4').toLowerCase(),
    userVars: new Map(),
    budget: { runs: 16 },
  };
  return runFrom(sql, 0, state, ctx);
}

/**
 * The whole text with its literals masked. Reads with the context's sql_mode (the default where it is
 * not known) and does not follow a SET sql_mode inside the text: each Statement's `masked` does.
 */
export function maskMysql(sql: string, ctx: MysqlContext): string {
  const mode = lexModeOf({ noBackslashEscapes: ctx.noBackslashEscapes, ansiQuotes: ctx.ansiQuotes, oracle: false }, ctx);
  const tokens = [];
  for (let pos = 0; pos < sql.length; ) {
    const seg = lexMysqlStatement(sql, pos, mode);
    tokens.push(...seg.tokens);
    pos = seg.next;
  }
  return maskRange(sql, tokens, 0, tokens.length, 0, sql.length);
}
