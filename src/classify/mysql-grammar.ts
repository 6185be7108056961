// One MySQL/MariaDB statement's tokens -> category. The first keyword decides the family; queries and
// DML must also parse with node-sql-parser as that family; the rest is a small keyword grammar that
// accepts only the forms it knows (SET NAMES, SAVEPOINT, SHOW, KILL QUERY...). Anything else: unknown.
import { parseTokens } from './mysql-parse.js';
import type { Token } from './tokens.js';
import { stricter, type Category } from './types.js';

export interface Verdict {
  category: Category;
  kind: string;
  reason?: string;
  objects?: string[];
}

/** The sql_mode flags that change lexing; undefined when not known. */
export interface ModeState {
  noBackslashEscapes?: boolean;
  ansiQuotes?: boolean;
  oracle: boolean;
}

/** What a statement reads from and does to the session state that shapes how later statements lex. */
export interface SetEffects {
  userVars: Map<string, { mode?: ModeState; text?: string; charset?: string | null }>;
  mode: ModeState;
  charset: string | null;
  /** Set by a SET sql_mode: the new flags, and the value as text (null when it cannot be known). */
  newMode?: ModeState;
  sqlMode?: string | null;
  /** Set by SET NAMES / CHARACTER SET / character_set_client: lower-case name, null when not knowable. */
  newCharset?: string | null;
}

/** sql_mode -> the flags that change lexing. Combination modes expand as the server expands them. */
export function parseSqlMode(value: string): ModeState {
  const modes = new Set(value.toUpperCase().split(',').map((m) => m.trim()));
  const ansi = ['ANSI_QUOTES', 'ANSI', 'DB2', 'MAXDB', 'MSSQL', 'ORACLE', 'POSTGRESQL'].some((m) => modes.has(m));
  return { noBackslashEscapes: modes.has('NO_BACKSLASH_ESCAPES'), ansiQuotes: ansi, oracle: modes.has('ORACLE') };
}

const unknown = (kind: string, reason: string): Verdict => ({ category: 'unknown', kind, reason });

/** Session variables that hide statements from the binary log, the general log or replication. */
const sensitiveVariables = new Set([
  'sql_log_bin', 'sql_log_off', 'debug', 'debug_dbug', 'pseudo_thread_id', 'pseudo_slave_mode',
  'pseudo_replica_mode', 'gtid_next', 'gtid_domain_id', 'gtid_seq_no', 'server_id', 'skip_replication', 'wsrep_on',
]);
const scopes = new Set(['GLOBAL', 'SESSION', 'LOCAL', 'PERSIST', 'PERSIST_ONLY']);
const queryStarts = new Set(['SELECT', 'WITH', '(', 'TABLE', 'VALUES']);
const dmlStarts = new Set(['INSERT', 'REPLACE', 'UPDATE', 'DELETE']);
const objectWords = new Set([
  'TABLE', 'TABLES', 'VIEW', 'INDEX', 'DATABASE', 'SCHEMA', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'USER',
  'ROLE', 'SERVER', 'TABLESPACE', 'SEQUENCE', 'LOGFILE', 'PACKAGE', 'PREPARE', 'SPATIAL', 'INSTANCE', 'RESOURCE',
]);

/** Per token: a word in upper case, an operator as written, '' for anything else. */
function keywords(s: string, tokens: readonly Token[], from: number, to: number): string[] {
  const kw: string[] = new Array(to);
  for (let k = from; k < to; k++) {
    const t = tokens[k]!;
    kw[k] = t.type === 'word' ? s.slice(t.start, t.end).toUpperCase() : t.type === 'op' ? s.slice(t.start, t.end) : '';
  }
  return kw;
}

/** A quoted token's content (quotes removed, doubled quotes and backslash escapes undone). */
function unquote(s: string, t: Token): string {
  const text = s.slice(t.start, t.end);
  const q = text[0];
  if (q !== "'" && q !== '"' && q !== '`') return text;
  return text.slice(1, -1).split(q + q).join(q).replace(/\\(.)/g, '$1');
}

/** A word's or quoted name's text in lower case (how the server compares function names). */
function nameOf(s: string, t: Token): string | undefined {
  if (t.type === 'word') return s.slice(t.start, t.end).toLowerCase();
  if (t.type === 'qident') return unquote(s, t).toLowerCase();
  return undefined;
}

/** Advisory locks: session state, like PostgreSQL's pg_advisory_lock. */
const lockFunctions = new Set(['get_lock', 'release_lock', 'release_all_locks', 'is_free_lock', 'is_used_lock']);

/** Dangerous anywhere: file access, UDFs from shared libraries, tables backed by files or other servers. */
function scanTokens(s: string, tokens: readonly Token[], kw: string[], from: number, to: number): Verdict | undefined {
  let found: Verdict | undefined;
  const raise = (v: Verdict) => {
    if (!found || stricter(found.category, v.category) !== found.category) found = v;
  };
  for (let k = from; k < to; k++) {
    const w = kw[k]!;
    const name = nameOf(s, tokens[k]!);
    if (name === 'load_file') raise({ category: 'export', kind: 'load_file', reason: 'calls load_file' });
    else if (name === 'sys_exec' || name === 'sys_eval') raise(unknown(name, `calls ${name}`));
    else if ((name === 'nextval' || name === 'setval') && kw[k + 1] === '(') raise({ category: 'write', kind: name, reason: `calls ${name}` });
    else if (lockFunctions.has(name!) && kw[k + 1] === '(') raise({ category: 'session', kind: name!, reason: `calls ${name}` });
    if (w === 'INTO' && (kw[k + 1] === 'OUTFILE' || kw[k + 1] === 'DUMPFILE')) {
      raise({ category: 'export', kind: `into ${kw[k + 1]!.toLowerCase()}`, reason: `writes a file (INTO ${kw[k + 1]})` });
    } else if (w === 'SONAME') raise(unknown('soname', 'loads a shared library'));
    else if (w === 'ENGINE') {
      const e = kw[k + 1] === '=' ? kw[k + 2] : kw[k + 1];
      if (e === 'CONNECT' || e === 'FEDERATED' || e === 'FEDERATEDX') raise({ category: 'export', kind: 'external table', reason: `ENGINE=${e} reaches files or other servers` });
    } else if ((w === 'DATA' || w === 'INDEX') && kw[k + 1] === 'DIRECTORY') {
      raise({ category: 'export', kind: 'table directory', reason: `${w} DIRECTORY places files` });
    } else if (w === 'NEXT' && kw[k + 1] === 'VALUE' && kw[k + 2] === 'FOR') {
      raise({ category: 'write', kind: 'next value', reason: 'advances a sequence' });
    } else if (w === 'FOR' && (kw[k + 1] === 'UPDATE' || kw[k + 1] === 'SHARE')) {
      raise({ category: 'write', kind: 'locking read', reason: `FOR ${kw[k + 1]} locks rows` });
    } else if (w === 'LOCK' && kw[k + 1] === 'IN' && kw[k + 2] === 'SHARE' && kw[k + 3] === 'MODE') {
      raise({ category: 'write', kind: 'locking read', reason: 'LOCK IN SHARE MODE locks rows' });
    }
  }
  return found;
}

export function classifyKeywords(
  s: string,
  tokens: readonly Token[],
  from: number,
  to: number,
  mariadb: boolean,
  fx: SetEffects,
): Verdict {
  const kw = keywords(s, tokens, from, to);
  const base = dispatch(s, tokens, kw, from, to, mariadb, fx);
  const scan = scanTokens(s, tokens, kw, from, to);
  if (!scan) return base;
  // What the scan found for certain (a file read or written) says more than "could not parse".
  if (base.category === 'unknown' && scan.category === 'export') return { ...base, category: 'export', reason: `${scan.reason}; ${base.reason}` };
  if (stricter(base.category, scan.category) === base.category) return base;
  return { ...base, category: scan.category, reason: scan.reason };
}

/** Index of the first token in [from, to) equal to `word` at parenthesis depth 0, or -1. */
function findTop(kw: string[], from: number, to: number, word: string): number {
  let depth = 0;
  for (let k = from; k < to; k++) {
    if (kw[k] === '(') depth++;
    else if (kw[k] === ')') depth--;
    else if (depth === 0 && kw[k] === word) return k;
  }
  return -1;
}

/** True when every token in [from, to) is a word in `allowed` (or a comma when allowed has ','). */
function onlyWords(kw: string[], from: number, to: number, allowed: ReadonlySet<string>): boolean {
  for (let k = from; k < to; k++) if (!allowed.has(kw[k]!)) return false;
  return true;
}

const isName = (t: Token | undefined) => t !== undefined && (t.type === 'word' || t.type === 'qident');
const isNumber = (t: Token | undefined) => t !== undefined && t.type === 'number';

function dispatch(s: string, tokens: readonly Token[], kw: string[], from: number, to: number, mariadb: boolean, fx: SetEffects): Verdict {
  const first = kw[from]!;
  const n = to - from;
  if (queryStarts.has(first)) return query(s, tokens, kw, from, to, mariadb);
  if (dmlStarts.has(first)) {
    const p = parseTokens(s, tokens, from, to, mariadb);
    if (!p) return unknown(first.toLowerCase(), 'parse error');
    if (p.type !== first.toLowerCase()) return unknown(first.toLowerCase(), `parsed as ${p.type}`);
    return { category: 'write', kind: p.type, objects: p.objects };
  }
  switch (first) {
    case 'CREATE':
    case 'ALTER':
    case 'DROP':
    case 'RENAME':
    case 'TRUNCATE':
      return ddl(s, tokens, kw, from, to, mariadb);
    case 'GRANT':
    case 'REVOKE':
      return { category: 'grant', kind: first.toLowerCase() };
    case 'SET':
      return set(s, tokens, kw, from, to, mariadb, fx);
    case 'SHOW':
      return n > 1 ? { category: 'session', kind: 'show' } : unknown('show', 'SHOW what?');
    case 'HELP':
      return { category: 'session', kind: 'help' };
    case 'USE':
      return n === 2 && isName(tokens[from + 1]) ? { category: 'session', kind: 'use' } : unknown('use', 'not USE db');
    case 'BEGIN':
      return n === 1 || (n === 2 && kw[from + 1] === 'WORK') ? { category: 'session', kind: 'begin' } : unknown('begin', 'BEGIN block');
    case 'START':
      if (kw[from + 1] !== 'TRANSACTION') return unknown('start', `START ${kw[from + 1] ?? ''}`.trim());
      return onlyWords(kw, from + 2, to, txStartWords) ? { category: 'session', kind: 'start transaction' } : unknown('start transaction', 'unexpected words');
    case 'COMMIT':
    case 'ROLLBACK': {
      let k = from + 1;
      if (kw[k] === 'WORK') k++;
      if (first === 'ROLLBACK' && kw[k] === 'TO') {
        k++;
        if (kw[k] === 'SAVEPOINT') k++;
        return k === to - 1 && isName(tokens[k]) ? { category: 'session', kind: 'rollback to savepoint' } : unknown('rollback', 'not ROLLBACK TO name');
      }
      return onlyWords(kw, k, to, txEndWords) ? { category: 'session', kind: first.toLowerCase() } : unknown(first.toLowerCase(), 'unexpected words');
    }
    case 'SAVEPOINT':
      return n === 2 && isName(tokens[from + 1]) ? { category: 'session', kind: 'savepoint' } : unknown('savepoint', 'not SAVEPOINT name');
    case 'RELEASE':
      return n === 3 && kw[from + 1] === 'SAVEPOINT' && isName(tokens[from + 2]) ? { category: 'session', kind: 'release savepoint' } : unknown('release', 'not RELEASE SAVEPOINT name');
    case 'XA':
      return { category: 'session', kind: 'xa' };
    case 'LOCK': {
      if (kw[from + 1] !== 'TABLE' && kw[from + 1] !== 'TABLES') return unknown('lock', `LOCK ${kw[from + 1] ?? ''}`.trim());
      const writes = findTop(kw, from + 2, to, 'WRITE') >= 0;
      const reads = findTop(kw, from + 2, to, 'READ') >= 0;
      if (!writes && !reads) return unknown('lock tables', 'no lock type');
      return { category: writes ? 'write' : 'read', kind: 'lock tables' };
    }
    case 'UNLOCK':
      return n === 2 && (kw[from + 1] === 'TABLE' || kw[from + 1] === 'TABLES') ? { category: 'session', kind: 'unlock tables' } : unknown('unlock', 'not UNLOCK TABLES');
    case 'KILL': {
      // KILL QUERY n cancels a statement (what drivers send for a timeout); KILL CONNECTION ends a session.
      let k = from + 1;
      if (mariadb && (kw[k] === 'HARD' || kw[k] === 'SOFT')) k++;
      if (kw[k] !== 'QUERY') return unknown('kill', 'ends a connection');
      k++;
      if (mariadb && kw[k] === 'ID') k++;
      return k === to - 1 && isNumber(tokens[k]) ? { category: 'session', kind: 'kill query' } : unknown('kill', 'not KILL QUERY n');
    }
    case 'DESCRIBE':
    case 'DESC':
    case 'EXPLAIN':
      return explain(s, tokens, kw, from, to, mariadb, fx);
    case 'ANALYZE': {
      const k = skipFormat(kw, from + 1, to);
      if (kw[k] === 'TABLE' || kw[k] === 'TABLES' || kw[k] === 'NO_WRITE_TO_BINLOG' || kw[k] === 'LOCAL') return { category: 'ddl', kind: 'analyze table' };
      // MariaDB ANALYZE <statement> runs the statement.
      if (queryStarts.has(kw[k]!) || dmlStarts.has(kw[k]!)) {
        const inner = dispatch(s, tokens, kw, k, to, mariadb, fx);
        return { ...inner, kind: `analyze ${inner.kind}` };
      }
      return unknown('analyze', 'unexpected words');
    }
    case 'OPTIMIZE':
    case 'REPAIR':
      return { category: 'ddl', kind: `${first.toLowerCase()} table` };
    case 'CHECK':
    case 'CHECKSUM':
      return kw[from + 1] === 'TABLE' ? { category: 'read', kind: `${first.toLowerCase()} table` } : unknown(first.toLowerCase(), 'not a table check');
    case 'LOAD':
      if (kw[from + 1] === 'DATA' || kw[from + 1] === 'XML') return { category: 'export', kind: `load ${kw[from + 1]!.toLowerCase()}`, reason: 'reads a file into a table' };
      return unknown('load', `LOAD ${kw[from + 1] ?? ''}`.trim());
    case 'DEALLOCATE':
      return n === 3 && kw[from + 1] === 'PREPARE' && isName(tokens[from + 2]) ? { category: 'session', kind: 'deallocate prepare' } : unknown('deallocate', 'not DEALLOCATE PREPARE name');
    case 'CALL':
    case 'DO':
    case 'PREPARE':
    case 'EXECUTE':
    case 'HANDLER':
      return unknown(first.toLowerCase(), 'runs code the text does not show');
  }
  return unknown(first ? first.toLowerCase() : 'unparsed', 'not a statement the classifier knows');
}

const txStartWords = new Set(['READ', 'ONLY', 'WRITE', 'WITH', 'CONSISTENT', 'SNAPSHOT', ',']);
const txEndWords = new Set(['AND', 'NO', 'CHAIN', 'RELEASE']);
const txSetWords = new Set([
  'ISOLATION', 'LEVEL', 'READ', 'WRITE', 'ONLY', 'COMMITTED', 'UNCOMMITTED', 'REPEATABLE', 'SERIALIZABLE', ',',
]);

function query(s: string, tokens: readonly Token[], kw: string[], from: number, to: number, mariadb: boolean): Verdict {
  const first = kw[from]!;
  const p = parseTokens(s, tokens, from, to, mariadb);
  if (!p) return simpleSelect(s, tokens, kw, from, to) ?? unknown(first === '(' ? 'select' : first.toLowerCase(), 'parse error');
  if (p.type === 'select') return { category: 'read', kind: 'select', objects: p.objects };
  if (first === 'WITH' && (p.type === 'update' || p.type === 'delete' || p.type === 'insert' || p.type === 'replace')) {
    return { category: 'write', kind: `with ${p.type}`, objects: p.objects };
  }
  return unknown(first.toLowerCase(), `parsed as ${p.type}`);
}

/** Functions a connector's setup query calls that node-sql-parser may not know. */
const plainFunctions = new Set(['DATABASE', 'SCHEMA', 'VERSION', 'USER', 'CURRENT_USER', 'CONNECTION_ID', 'LAST_INSERT_ID', 'NOW', 'ROW_COUNT', 'FOUND_ROWS']);

/**
 * SELECT of variables, constants and a few argument-less functions, nothing else (no FROM): what
 * drivers send at connect (`SELECT @@session.auto_increment_increment AS x, @@character_set_client`).
 */
function simpleSelect(s: string, tokens: readonly Token[], kw: string[], from: number, to: number): Verdict | undefined {
  if (kw[from] !== 'SELECT' || to - from < 2) return undefined;
  let k = from + 1;
  for (;;) {
    const t = tokens[k];
    if (!t) return undefined;
    if (t.type === 'var' || t.type === 'string' || t.type === 'number') k++;
    else if (t.type === 'word' && plainFunctions.has(kw[k]!) && kw[k + 1] === '(' && kw[k + 2] === ')') k += 3;
    else return undefined;
    if (kw[k] === 'AS') k++;
    if (k < to && kw[k] !== ',' && isName(tokens[k])) k++; // alias
    if (k === to) return { category: 'read', kind: 'select' };
    if (kw[k] !== ',') return undefined;
    k++;
  }
}

function skipFormat(kw: string[], k: number, to: number): number {
  while (k < to) {
    if (kw[k] === 'EXTENDED' || kw[k] === 'PARTITIONS') k++;
    else if (kw[k] === 'FORMAT' && kw[k + 1] === '=') k += 3;
    else break;
  }
  return k;
}

function explain(s: string, tokens: readonly Token[], kw: string[], from: number, to: number, mariadb: boolean, fx: SetEffects): Verdict {
  let k = from + 1;
  if (kw[k] === 'ANALYZE') {
    // EXPLAIN ANALYZE runs the statement.
    k = skipFormat(kw, k + 1, to);
    const inner = dispatch(s, tokens, kw, k, to, mariadb, fx);
    return { ...inner, kind: `explain analyze ${inner.kind}` };
  }
  k = skipFormat(kw, k, to);
  if (kw[k] === 'FOR' && kw[k + 1] === 'CONNECTION') return { category: 'read', kind: 'explain' };
  if (queryStarts.has(kw[k]!) || dmlStarts.has(kw[k]!)) return { category: 'read', kind: 'explain' };
  // DESCRIBE table [column]
  if (isName(tokens[k]) && to - k <= 4) return { category: 'read', kind: 'describe' };
  return unknown('explain', 'unexpected words');
}

function ddl(s: string, tokens: readonly Token[], kw: string[], from: number, to: number, mariadb: boolean): Verdict {
  const verb = kw[from]!;
  if (verb === 'TRUNCATE') return { category: 'ddl', kind: 'truncate', objects: ddlObjects(s, tokens, kw, from + (kw[from + 1] === 'TABLE' ? 2 : 1), to) };
  let k = from + 1;
  while (k < to && k < from + 16 && !objectWords.has(kw[k]!)) k++;
  const object = kw[k];
  if (!object || !objectWords.has(object)) return unknown(verb.toLowerCase(), `${verb} of what?`);
  const kind = `${verb} ${object === 'TABLES' ? 'TABLE' : object}`.toLowerCase();
  if (object === 'USER' || object === 'ROLE') return { category: 'grant', kind };
  if (object === 'PREPARE' && verb === 'DROP') return to - from === 3 && isName(tokens[from + 2]) ? { category: 'session', kind: 'deallocate prepare' } : unknown(kind, 'not DROP PREPARE name');
  if (object === 'INSTANCE') return unknown(kind, 'changes the server instance');
  const parsed = parseTokens(s, tokens, from, to, mariadb);
  return { category: 'ddl', kind, objects: parsed?.objects.length ? parsed.objects : ddlObjects(s, tokens, kw, k + 1, to) };
}

/** Names right after the object word: [IF [NOT] EXISTS] name[.name] [, name...] (best effort, for table rules). */
function ddlObjects(s: string, tokens: readonly Token[], kw: string[], k: number, to: number): string[] {
  if (kw[k] === 'IF') k += kw[k + 1] === 'NOT' ? 3 : 2;
  const out: string[] = [];
  while (k < to && isName(tokens[k])) {
    let name = unquoteName(s, tokens[k]!);
    k++;
    if (kw[k] === '.' && isName(tokens[k + 1])) {
      name += '.' + unquoteName(s, tokens[k + 1]!);
      k += 2;
    }
    out.push(name);
    if (kw[k] !== ',') break;
    k++;
  }
  return out;
}

const unquoteName = (s: string, t: Token) => (t.type === 'qident' ? unquote(s, t) : s.slice(t.start, t.end));

function set(s: string, tokens: readonly Token[], kw: string[], from: number, to: number, mariadb: boolean, fx: SetEffects): Verdict {
  let k = from + 1;
  const w1 = kw[k];
  if (w1 === 'NAMES' || w1 === 'CHARSET' || (w1 === 'CHARACTER' && kw[k + 1] === 'SET')) {
    k += w1 === 'CHARACTER' ? 2 : 1;
    const t = tokens[k];
    if (!t || !(isName(t) || t.type === 'string')) return unknown('set names', 'no character set');
    k++;
    if (kw[k] === 'COLLATE' && (isName(tokens[k + 1]) || tokens[k + 1]?.type === 'string')) k += 2;
    if (k !== to) return unknown('set names', 'unexpected words');
    const value = unquote(s, t).toLowerCase();
    fx.newCharset = value === 'default' ? null : value;
    return { category: 'session', kind: w1 === 'NAMES' ? 'set names' : 'set character set' };
  }
  if (w1 === 'PASSWORD') return { category: 'grant', kind: 'set password' };
  if (w1 === 'ROLE') return { category: 'grant', kind: 'set role' };
  if (w1 === 'DEFAULT' && kw[k + 1] === 'ROLE') return { category: 'grant', kind: 'set default role' };
  if (w1 === 'STATEMENT' && mariadb) {
    // SET STATEMENT var=value[, ...] FOR <statement>: the statement runs with those settings.
    const f = findTop(kw, k + 1, to, 'FOR');
    if (f < 0 || f + 1 >= to) return unknown('set statement', 'no FOR');
    const inner = dispatch(s, tokens, kw, f + 1, to, mariadb, { ...fx, newMode: undefined, newCharset: undefined });
    return { ...inner, category: stricter(inner.category, 'session'), kind: `set statement ${inner.kind}` };
  }
  if (w1 === 'TRANSACTION' || (scopes.has(w1!) && kw[k + 1] === 'TRANSACTION')) {
    if (w1 !== 'TRANSACTION' && w1 !== 'SESSION' && w1 !== 'LOCAL') return unknown('set transaction', `${w1} scope changes other sessions`);
    k += w1 === 'TRANSACTION' ? 1 : 2;
    return k < to && onlyWords(kw, k, to, txSetWords) ? { category: 'session', kind: 'set transaction' } : unknown('set transaction', 'unexpected words');
  }
  let verdict: Verdict = { category: 'session', kind: 'set' };
  for (;;) {
    let scope = 'SESSION';
    const scopeWord = kw[k]!;
    if (scopes.has(scopeWord) && kw[k + 1] !== '=' && kw[k + 1] !== ':=') {
      scope = scopeWord;
      k++;
    }
    const t = tokens[k];
    if (!t || k >= to) return unknown('set', 'no variable');
    let name: string;
    let user = false;
    if (t.type === 'var') {
      const text = s.slice(t.start, t.end);
      if (text.startsWith('@@')) {
        const parts = text.slice(2).split('.');
        if (parts.length > 1 && scopes.has(parts[0]!.toUpperCase())) scope = parts.shift()!.toUpperCase();
        name = parts.join('.').toLowerCase();
      } else {
        user = true;
        name = unquote(s, { type: 'string', start: t.start + 1, end: t.end }).toLowerCase();
      }
      k++;
    } else if (isName(t)) {
      name = unquoteName(s, t).toLowerCase();
      k++;
      if (kw[k] === '.' && isName(tokens[k + 1])) {
        name += '.' + unquoteName(s, tokens[k + 1]!).toLowerCase();
        k += 2;
      }
    } else return unknown('set', 'not a variable');
    if (kw[k] !== '=' && kw[k] !== ':=') return unknown('set', 'no = after the variable');
    k++;
    const vStart = k;
    let depth = 0;
    while (k < to && !(depth === 0 && kw[k] === ',')) {
      if (kw[k] === '(') depth++;
      else if (kw[k] === ')') depth--;
      k++;
    }
    if (k === vStart) return unknown('set', 'no value');
    const v = assign(s, tokens, kw, vStart, k, name, user, scope, fx);
    if (stricter(verdict.category, v.category) !== verdict.category) verdict = v;
    else if (verdict.kind === 'set' && v.kind !== 'set') verdict = { ...verdict, kind: v.kind };
    if (k >= to) return verdict;
    k++; // the comma
  }
}

/** One SET assignment: its category, and what it changes in the lexing state. */
function assign(s: string, tokens: readonly Token[], kw: string[], from: number, to: number, name: string, user: boolean, scope: string, fx: SetEffects): Verdict {
  const single = to - from === 1 ? tokens[from]! : undefined;
  const varText = single?.type === 'var' ? s.slice(single.start, single.end).toLowerCase() : '';
  const sysVar = varText.startsWith('@@') ? varText.replace(/^@@(session\.|local\.)?/, '') : undefined;
  const userVar = varText && !sysVar ? fx.userVars.get(unquote(s, { type: 'string', start: single!.start + 1, end: single!.end }).toLowerCase()) : undefined;
  if (user) {
    // Remember what the mysqldump header saves (@OLD_SQL_MODE=@@SQL_MODE), to follow its restore later.
    const saved: { mode?: ModeState; text?: string; charset?: string | null } = {};
    if (sysVar === 'sql_mode') saved.mode = fx.newMode ?? fx.mode;
    else if (sysVar === 'character_set_client') saved.charset = fx.newCharset !== undefined ? fx.newCharset : fx.charset;
    else if (single?.type === 'string') saved.text = unquote(s, single);
    fx.userVars.set(name, saved);
    return { category: 'session', kind: 'set' };
  }
  if (scope !== 'SESSION' && scope !== 'LOCAL') return unknown(`set ${scope.toLowerCase()}`, `${scope} ${name} changes other sessions`);
  if (sensitiveVariables.has(name)) return unknown(`set ${name}`, `${name} hides statements from logs or replication`);
  if (name === 'sql_mode') {
    if (sysVar === 'sql_mode') return { category: 'session', kind: 'set sql_mode' };
    let text: string | undefined;
    let mode: ModeState | undefined;
    if (single?.type === 'string') text = unquote(s, single);
    else if (userVar?.text !== undefined) text = userVar.text;
    else if (userVar?.mode) mode = userVar.mode;
    if (text !== undefined) mode = parseSqlMode(text);
    if (!mode) mode = { oracle: false };
    fx.newMode = mode;
    fx.sqlMode =
      text ??
      (mode.ansiQuotes === undefined || mode.noBackslashEscapes === undefined
        ? null
        : [mode.ansiQuotes && 'ANSI_QUOTES', mode.noBackslashEscapes && 'NO_BACKSLASH_ESCAPES', mode.oracle && 'ORACLE'].filter(Boolean).join(','));
    return { category: 'session', kind: 'set sql_mode' };
  }
  if (name === 'character_set_client') {
    if (sysVar === 'character_set_client') return { category: 'session', kind: 'set character_set_client' };
    if (single && (single.type === 'string' || isName(single)) && kw[from] !== 'DEFAULT') fx.newCharset = unquote(s, single).toLowerCase();
    else if (userVar && userVar.charset !== undefined) fx.newCharset = userVar.charset;
    else if (userVar?.text !== undefined) fx.newCharset = userVar.text.toLowerCase();
    else fx.newCharset = null;
    return { category: 'session', kind: 'set character_set_client' };
  }
  return { category: 'session', kind: 'set' };
}
