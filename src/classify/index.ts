// The classifier's public face: classify (uncached), Classifier (with the LRU), masking, the context
// helpers sessions use, and the CLI's printable form. Pure: no I/O beyond loading the WASM parser once.
//
// Choices (DESIGN.md "Classification" leaves them open):
// - NUL byte: classify throws SqlRefusedError('nul-byte'); the gate denies.
// - ddl: CREATE/ALTER/DROP/TRUNCATE/RENAME/COMMENT, SELECT INTO, CREATE TABLE AS, and maintenance
//   (VACUUM, ANALYZE, REINDEX, CLUSTER, REFRESH MATERIALIZED VIEW, OPTIMIZE/REPAIR/ANALYZE TABLE).
// - grant: GRANT/REVOKE, roles and users, SET ROLE / RESET ROLE / SET SESSION AUTHORIZATION,
//   set_config('role'|'session_authorization'), SET PASSWORD, default privileges, ownership changes.
// - session: SET/RESET/SHOW, transactions, savepoints, LISTEN/UNLISTEN/NOTIFY, DISCARD, DEALLOCATE,
//   CLOSE, advisory locks, USE, SET NAMES, KILL QUERY. RESET ALL and DISCARD ALL return to the login
//   role the proxy knows: session.
// - write: DML, data-modifying WITH, locking reads (FOR UPDATE/SHARE, LOCK TABLE beyond ACCESS SHARE,
//   LOCK TABLES ... WRITE), nextval/setval, COMMIT/ROLLBACK PREPARED: what a read-only transaction refuses.
// - read: also EXPLAIN without ANALYZE, DESCRIBE, FETCH/MOVE, LOCK ... ACCESS SHARE / LOCK TABLES ... READ.
// - export: COPY (any direction, PROGRAM too), file, large-object and dblink functions anywhere in the
//   tree, LOAD_FILE, INTO OUTFILE/DUMPFILE, LOAD DATA/XML, CONNECT/FEDERATED engines, DATA DIRECTORY.
// - unknown: parse failures, DO, CALL, PREPARE, EXECUTE, HANDLER, CHECKPOINT, ALTER SYSTEM, LOAD,
//   SET GLOBAL/PERSIST, variables that hide statements from logs (sql_log_bin...), KILL [CONNECTION],
//   FLUSH, server-admin functions (pg_terminate_backend, pg_cancel_backend, pg_reload_conf, replication
//   slots...), functions that run SQL given as text (query_to_xml, ts_stat), UDFs from shared libraries,
//   text a mode or charset could make the server read otherwise. User-defined functions called from a
//   SELECT are not known without the catalog: read.
import { LruCache, type LruOptions } from './cache.js';
import { classifyMysql, maskMysql } from './mysql.js';
import { parseSqlMode } from './mysql-grammar.js';
import { lexPostgres } from './pg-lexer.js';
import { classifyPostgres, loadPostgresParser, type PgShapes } from './postgres.js';
import { maskRange } from './tokens.js';
import { statementBytes, type ShapeTemplate } from './shapes.js';
import { SqlRefusedError, type ClassifyContext, type Dialect, type MysqlContext, type Statement } from './types.js';

export * from './types.js';
export { LruCache, type LruOptions } from './cache.js';
export { parseSqlMode } from './mysql-grammar.js';

/** Loads the PostgreSQL parser (WebAssembly). Call once before classifying PostgreSQL. */
export function loadClassifier(): Promise<void> {
  return loadPostgresParser();
}

/**
 * Every statement of `sql`, in order; [] for text with no statement (blank, comments only).
 * Throws SqlRefusedError for a NUL byte: the server would read a different text than the proxy did.
 */
export function classify(sql: string, ctx: ClassifyContext): Statement[] {
  if (sql.includes('\0')) throw new SqlRefusedError('nul-byte');
  return ctx.dialect === 'postgres' ? classifyPostgres(sql, ctx) : classifyMysql(sql, ctx);
}

/** `sql` with every literal replaced by `?` (what the audit writes for a whole query). */
export function maskLiterals(sql: string, ctx: ClassifyContext): string {
  if (ctx.dialect === 'mysql') return maskMysql(sql, ctx);
  const { tokens } = lexPostgres(sql, ctx.standardConformingStrings !== false);
  return maskRange(sql, tokens, 0, tokens.length, 0, sql.length);
}

/** Key prefixes of the contexts seen: a session keeps one context object until a setting changes. */
const prefixes = new WeakMap<ClassifyContext, string>();

function prefixOf(ctx: ClassifyContext): string {
  let prefix = prefixes.get(ctx);
  if (prefix === undefined) prefixes.set(ctx, (prefix = `${contextKey(ctx)}\0`));
  return prefix;
}

/** The settings part of a context, as a cache key prefix. */
function contextKey(ctx: ClassifyContext): string {
  if (ctx.dialect === 'postgres') return `p${ctx.standardConformingStrings === false ? 0 : 1}${ctx.clientEncoding ?? ''}`;
  const flag = (b: boolean | undefined) => (b === undefined ? 'u' : b ? '1' : '0');
  return `m${ctx.serverVersion}${ctx.mariadb ? 'M' : ''}${flag(ctx.noBackslashEscapes)}${flag(ctx.ansiQuotes)}${ctx.oracleMode ? 'O' : ''}${ctx.charset === null ? '?' : (ctx.charset ?? '')}`;
}

function freeze(statements: Statement[]): readonly Statement[] {
  for (const st of statements) {
    Object.freeze(st.objects);
    if (st.settings) Object.freeze(st.settings);
    Object.freeze(st);
  }
  return Object.freeze(statements);
}

/**
 * classify with LRUs in front: the same text under the same settings is classified once, and PostgreSQL
 * texts that differ only in simple literal values are parsed once (shapes.ts).
 */
export class Classifier {
  readonly cache: LruCache<readonly Statement[]>;
  readonly shapes: LruCache<ShapeTemplate>;

  /** `maxBytes` bounds both caches together (each gets half). */
  constructor(opts: Partial<LruOptions> = {}) {
    const bounds = { maxEntries: opts.maxEntries ?? 10_000, maxBytes: (opts.maxBytes ?? 64 * 1024 * 1024) / 2 };
    this.cache = new LruCache(bounds);
    this.shapes = new LruCache(bounds);
  }

  /** Frozen statements, shared between callers. Throws as classify does. */
  classify(sql: string, ctx: ClassifyContext): readonly Statement[] {
    const prefix = prefixOf(ctx);
    const key = prefix + sql;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const shapes: PgShapes = { cache: this.shapes, prefix, keepExact: true };
    const statements = freeze(ctx.dialect === 'postgres' && !sql.includes('\0') ? classifyPostgres(sql, ctx, shapes) : classify(sql, ctx));
    if (shapes.keepExact) this.cache.set(key, statements, 2 * sql.length + statementBytes(statements));
    return statements;
  }
}

/**
 * The MySQL context after `statements` ran (each one successfully): SET sql_mode and SET NAMES change how
 * the server reads what follows. A value the classifier could not know leaves that setting unknown.
 */
export function contextAfter(ctx: MysqlContext, statements: readonly Statement[]): MysqlContext {
  let next = ctx;
  for (const st of statements) {
    const s = st.settings;
    if (!s) continue;
    if (s.sqlMode !== undefined) {
      const m = s.sqlMode === null ? undefined : parseSqlMode(s.sqlMode);
      next = { ...next, noBackslashEscapes: m?.noBackslashEscapes, ansiQuotes: m?.ansiQuotes, oracleMode: m?.oracle ?? false };
    }
    if (s.charset !== undefined) next = { ...next, charset: s.charset };
  }
  return next;
}

/** Server version string from the MySQL handshake -> what executable comments compare against. */
export function parseMysqlServerVersion(version: string): { serverVersion: number; mariadb: boolean } {
  const mariadb = /mariadb/i.test(version);
  // MariaDB 10+ announces itself as "5.5.5-10.11.6-MariaDB..." to old clients.
  const rest = mariadb ? version.replace(/^5\.5\.5-/, '') : version;
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(rest);
  if (!m) throw new Error(`classify: cannot read a server version from "${version}"`);
  return { serverVersion: Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]), mariadb };
}

/**
 * For `sqlwarden classify --dialect D "SQL"`: one line per statement, `category<TAB>kind<TAB>text`,
 * with ` -- reason` when there is one. MySQL defaults to a MySQL 8.0.36 server with unknown sql_mode.
 */
export async function classifyForCli(dialect: Dialect, sql: string, opts: { serverVersion?: string } = {}): Promise<string[]> {
  let ctx: ClassifyContext;
  if (dialect === 'postgres') {
    await loadClassifier();
    ctx = { dialect };
  } else {
    ctx = { dialect, ...parseMysqlServerVersion(opts.serverVersion ?? '8.0.36') };
  }
  return classify(sql, ctx).map(
    (st) => `${st.category}\t${st.kind}\t${st.text.replace(/\s+/g, ' ')}${st.reason ? ` -- ${st.reason}` : ''}`,
  );
}
