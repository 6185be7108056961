// The classifier's contract: SQL text in, one Statement per statement out. See DESIGN.md "Classification".

/** What a statement does, as far as policy cares. `unknown` is the fail-closed answer: held by default. */
export type Category = 'read' | 'write' | 'ddl' | 'export' | 'grant' | 'session' | 'unknown';

export const categories: readonly Category[] = ['read', 'session', 'write', 'ddl', 'export', 'grant', 'unknown'];

/**
 * How strict a category is: a statement that matches several takes the strictest, and so does a
 * multi-statement query. `unknown` is strictest because it may be any of the others.
 */
export const strictness: Readonly<Record<Category, number>> = {
  read: 0,
  session: 1,
  write: 2,
  ddl: 3,
  export: 4,
  grant: 5,
  unknown: 6,
};

export function stricter(a: Category, b: Category): Category {
  return strictness[b] > strictness[a] ? b : a;
}

export type Dialect = 'postgres' | 'mysql';

export interface Statement {
  category: Category;
  /** What the statement is, in lower-case SQL words: `select`, `insert`, `drop table`, `set role`, `copy`... */
  kind: string;
  /** The statement's own text, as the client sent it (comments kept, the separating `;` not). */
  text: string;
  /** `text` with every literal (string, number, bit/hex string) replaced by `?`: what the audit writes. */
  masked: string;
  /**
   * Hex SHA-256 (128 bits) of the normalized statement: literals replaced, comments and layout dropped,
   * IN lists and repeated VALUES rows collapsed. Equal for the same statement with other values.
   */
  fingerprint: string;
  /** Tables (and views, sequences) the statement names, `schema.name` when qualified; empty when not known. */
  objects: string[];
  /** Why the category is stricter than the kind suggests (`calls pg_read_file`, `parse error: ...`). */
  reason?: string;
  /**
   * MySQL only: session settings this statement changes, which change how the server reads the statements
   * that follow. A string is the new value; null means "changed to a value the classifier cannot know".
   */
  settings?: { sqlMode?: string | null; charset?: string | null };
}

/** PostgreSQL settings, from the ParameterStatus messages the server sends (both are GUC_REPORT). */
export interface PostgresContext {
  dialect: 'postgres';
  /** `standard_conforming_strings`; off means backslash escapes in '' strings. Default on (true). */
  standardConformingStrings?: boolean;
  /** `client_encoding`; default UTF8. Encodings whose multibyte characters can hide a backslash fail closed. */
  clientEncoding?: string;
}

/** MySQL/MariaDB settings, from the handshake, the OK packets' status flags and `SET sql_mode`. */
export interface MysqlContext {
  dialect: 'mysql';
  /** Server version as the executable comments count it: 80036 for MySQL 8.0.36, 101106 for MariaDB 10.11.6. */
  serverVersion: number;
  /** MariaDB reads `/*M!...*\/` comments and 6-digit versions; MySQL reads neither. */
  mariadb: boolean;
  /**
   * `NO_BACKSLASH_ESCAPES` (the SERVER_STATUS_NO_BACKSLASH_ESCAPES flag of every OK packet). Undefined:
   * not known, so text with a backslash is read both ways and anything that differs is `unknown`.
   */
  noBackslashEscapes?: boolean;
  /** `ANSI_QUOTES`: "..." is an identifier. Undefined: not known, read both ways as above. */
  ansiQuotes?: boolean;
  /** MariaDB `sql_mode=ORACLE` (a different grammar): every statement is `unknown`. */
  oracleMode?: boolean;
  /** Connection character set (`character_set_client`), default utf8mb4; null when not known. */
  charset?: string | null;
}

export type ClassifyContext = PostgresContext | MysqlContext;

/** Thrown for SQL the proxy refuses outright (the gate turns it into a denial): NUL bytes. */
export class SqlRefusedError extends Error {
  override name = 'SqlRefusedError';
  constructor(readonly code: 'nul-byte') {
    super('sqlwarden: SQL text contains a NUL byte');
  }
}
