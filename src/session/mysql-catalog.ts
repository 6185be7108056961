// Where a MySQL/MariaDB view column comes from. The server describes a view's column with the view as its
// org_table and the view's column name as its org_name (`CREATE VIEW v AS SELECT ssn AS s2 FROM t` gives
// v.s2), so `table.column` rules of the base table would not reach it. The catalog traces each view's
// columns to the base table columns they show: the server describes the view's definition
// (information_schema.VIEWS) to a prepare, which runs nothing (a function the view calls is not called) and
// answers with column definitions whose origins are the base tables', paired by position with the view's
// columns (information_schema.COLUMNS order).
// Views of views are followed a few levels. A computed view column keeps the view as its origin.
//
// A derived table or CTE is named as the origin of its columns too (`SELECT * FROM (SELECT ssn AS x FROM t) d`
// describes d.x). A name the catalog does not find in information_schema.TABLES is such an alias: its
// definition is looked for in the SQL the result answers (mysql-derived.ts), and the server describes that
// select through a prepare on the catalog connection (COM_STMT_PREPARE, closed at once: the client's SQL is
// never run here, the catalog user may have more rights than the client), with the session's current
// database as the default one. Its columns' origins are those of the alias's columns, by name (or by
// position under a column list); aliases inside it are followed the same way a few levels, views as above.
// Prepares are cached per database and select, traced aliases per database, statement text and alias.
//
// One connection for the listener (names are server-wide: schema.table), opened on first use and again
// after it fails. Answers are cached per schema.table until DDL is seen through the proxy, and for a minute at
// most (catalogTtlMs: DDL run elsewhere). Lookups run one at a time: each describes under a default database
// it sets.
import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { ResultColumn } from './hooks.js';
import { findDerivedDefinitions, type DerivedLexMode } from './mysql-derived.js';
import { catalogTtlMs } from './pg-catalog.js';

interface ColumnOrigin {
  schema: string;
  table: string;
  column: string;
}

/**
 * What the catalog knows of one schema.table: a base table (or untraced view), a view's traced columns, or
 * no table at all (`derived`: a derived table or CTE alias, traced per statement).
 */
interface TableEntry {
  /** View column name (lower case: MySQL column names are case-insensitive) -> the base column it shows. */
  readonly columns: ReadonlyMap<string, ColumnOrigin>;
  readonly view: boolean;
  readonly derived?: boolean;
}

const ownColumns: TableEntry = Object.freeze({ columns: new Map(), view: false });
const derivedAlias: TableEntry = Object.freeze({ columns: new Map(), view: false, derived: true });
const noOrigins: ReadonlyMap<string, ColumnOrigin> = new Map();

/** The SQL a result answers, for its derived table and CTE aliases. */
export interface StatementContext {
  /** The statement text (COM_QUERY's, or the prepared statement's). */
  sql: string;
  /** The session's current database; undefined when not known (aliases are then not traced). */
  database: string | undefined;
  /** How the session's server reads the text. */
  mode: DerivedLexMode;
}

/** Stored view definitions: MariaDB or MySQL, sql_mode not known (read both ways). */
const definitionMode: DerivedLexMode = { serverVersion: 0, mariadb: true };

/** How deep views of views are followed; below that the inner view is where tracing stops. */
const maxViewDepth = 4;
/** How deep derived tables inside derived tables are followed. */
const maxDerivedDepth = 4;
/** Names cached at most (derived-table aliases are looked up too): past this the cache starts over. */
const maxCachedTables = 10_000;

/** The column definition fields of a definition's result that say where each column comes from. */
export interface DefinitionField {
  name?: string;
  db?: string;
  orgTable?: string;
  orgName?: string;
}

export class MysqlCatalog {
  private readonly cache = new Map<string, TableEntry>();
  /** A select described by a prepare, per database and select text: its columns, or null when it failed. */
  private readonly selects = new Map<string, DefinitionField[] | null>();
  /** A derived table or CTE alias's columns' origins, per database, alias and statement text. */
  private readonly aliases = new Map<string, ReadonlyMap<string, ColumnOrigin>>();
  private connection: Promise<mysql.Connection> | null = null;
  /** Lookups one after the other (see the header). */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** When the answers expire (see catalogTtlMs): DDL run on another connection is seen within that. */
  private expires = Date.now() + catalogTtlMs;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  private expireStale(): void {
    if (this.expires <= Date.now()) this.invalidate();
  }

  /**
   * The columns with each view column pointed at the base column it shows (`view` names the view's own), or
   * null when a table they name is not known yet (`load` first). The same array when nothing changes.
   * `statement`: the SQL the result answers, where derived table and CTE aliases are defined.
   */
  resolve<C extends ResultColumn>(columns: readonly C[], statement?: StatementContext | null): C[] | null {
    this.expireStale();
    return this.map(columns, true, statement);
  }

  /** Looks up the tables the columns name, then resolves them; a failed lookup leaves columns as described. */
  async load<C extends ResultColumn>(columns: readonly C[], statement?: StatementContext | null): Promise<C[]> {
    const missing = new Map<string, { schema: string; table: string }>();
    for (const c of columns) {
      if (!c.schema || !c.table) continue;
      const k = key(c.schema, c.table);
      if (!this.cache.has(k)) missing.set(k, { schema: c.schema, table: c.table });
    }
    const database = statement?.database;
    if (missing.size > 0 || (statement && database !== undefined)) {
      try {
        await this.serially(async () => {
          try {
            const still = [...missing.values()].filter((t) => !this.cache.has(key(t.schema, t.table)));
            if (still.length > 0) await this.loadTables(await this.connect(), still, 0);
            if (statement && database !== undefined) await this.loadAliases(columns, statement, database);
          } catch (err) {
            this.drop();
            throw err;
          }
        });
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message, tables: [...missing.keys()].map((k) => k.replace('\0', '.')) },
          'masking catalog lookup failed: view and derived table columns keep the view or alias as their origin',
        );
      }
    }
    return this.map(columns, false, statement)!;
  }

  /** DDL was seen: what the cache knows may be stale. */
  invalidate(): void {
    this.cache.clear();
    this.selects.clear();
    this.aliases.clear();
    this.expires = Date.now() + catalogTtlMs;
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.connection;
    this.connection = null;
    await c?.then((conn) => conn.end()).catch(() => undefined);
  }

  /** `strict`: null when a table is unknown; otherwise an unknown table's columns stay as described. */
  private map<C extends ResultColumn>(columns: readonly C[], strict: boolean, statement?: StatementContext | null): C[] | null {
    let out: C[] | null = null;
    for (let i = 0; i < columns.length; i++) {
      const c = columns[i]!;
      // No schema: a computed column (even one a view shows, which names the view as org_table).
      if (!c.schema || !c.table) continue;
      const entry = this.cache.get(key(c.schema, c.table));
      if (entry === undefined) {
        if (strict) return null;
        continue;
      }
      if (!(entry.view || entry.derived) || !c.originalName) continue;
      let traced = entry.columns;
      if (entry.derived) {
        if (!statement || statement.database === undefined) continue;
        const found = this.aliases.get(aliasKey(statement.database, c.table, statement.sql));
        if (found === undefined) {
          if (strict) return null;
          continue;
        }
        traced = found;
      }
      const origin = traced.get(c.originalName.toLowerCase());
      if (!origin) continue;
      out ??= columns.slice();
      out[i] = { ...c, schema: origin.schema, table: origin.table, originalName: origin.column, view: { schema: c.schema, table: c.table, column: c.originalName } };
    }
    return out ?? (columns as C[]);
  }

  private serially<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async loadTables(conn: mysql.Connection, tables: { schema: string; table: string }[], depth: number): Promise<void> {
    const names = [tables.map((t) => [t.schema, t.table])];
    // A name that is not there is a derived table or CTE alias (or a temporary table of the client's).
    const [found] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE (TABLE_SCHEMA, TABLE_NAME) IN (?)',
      names,
    );
    const known = new Set(found.map((r) => key(String(r.s), String(r.t))));
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, VIEW_DEFINITION AS d FROM information_schema.VIEWS WHERE (TABLE_SCHEMA, TABLE_NAME) IN (?)',
      names,
    );
    const views = new Map<string, { schema: string; table: string; definition: string }>();
    for (const r of rows) views.set(key(String(r.s), String(r.t)), { schema: String(r.s), table: String(r.t), definition: String(r.d ?? '') });
    if (this.cache.size + tables.length > maxCachedTables) this.cache.clear();
    for (const t of tables) {
      const k = key(t.schema, t.table);
      const v = views.get(k);
      if (v) await this.traceView(conn, k, v, depth);
      else this.cache.set(k, known.has(k) ? ownColumns : derivedAlias);
    }
  }

  /** Traces the derived table and CTE aliases the columns name, as the statement defines them. */
  private async loadAliases(columns: readonly ResultColumn[], statement: StatementContext, database: string): Promise<void> {
    for (const c of columns) {
      if (!c.schema || !c.table || !this.cache.get(key(c.schema, c.table))?.derived) continue;
      const k = aliasKey(database, c.table, statement.sql);
      if (this.aliases.has(k)) continue;
      const traced = await this.traceAlias(await this.connect(), database, statement.sql, c.table, statement.mode, 0);
      if (this.aliases.size >= maxCachedTables) this.aliases.clear();
      this.aliases.set(k, traced);
    }
  }

  /**
   * The origins of a derived table or CTE alias's columns (lower-case name -> base column), as `text`
   * defines the alias: empty when it is not defined exactly once there or its select cannot be described.
   */
  private async traceAlias(conn: mysql.Connection, database: string, text: string, alias: string, mode: DerivedLexMode, depth: number): Promise<ReadonlyMap<string, ColumnOrigin>> {
    const defs = findDerivedDefinitions(text, alias, mode);
    if (defs === null || defs.length !== 1) {
      this.log.debug({ alias, definitions: defs === null ? 'unreadable' : defs.length }, 'derived table not traced: not defined exactly once in the statement');
      return noOrigins;
    }
    const def = defs[0]!;
    const fields = await this.describeSelect(conn, database, def.select);
    if (!fields) return noOrigins;
    const names = def.columns ?? fields.map((f) => f.name ?? '');
    if (names.length !== fields.length) return noOrigins;
    const inner = await this.innerAliases(conn, fields, depth + 1 < maxDerivedDepth ? (a) => this.traceAlias(conn, database, def.select, a, mode, depth + 1) : null);
    const traced = new Map<string, ColumnOrigin>();
    fields.forEach((f, i) => {
      if (!f.db || !f.orgTable || !f.orgName) return;
      const entry = this.cache.get(key(f.db, f.orgTable));
      let origin: ColumnOrigin | undefined;
      if (entry?.derived) origin = inner.get(f.orgTable.toLowerCase())?.get(f.orgName.toLowerCase());
      else if (entry?.view) origin = entry.columns.get(f.orgName.toLowerCase());
      else if (entry) origin = { schema: f.db, table: f.orgTable, column: f.orgName };
      if (origin) traced.set(names[i]!.toLowerCase(), origin);
    });
    return traced;
  }

  /**
   * The tables a described select's columns name, looked up (views traced); the derived aliases among them
   * traced with `trace` (null: too deep, left untraced). Returns the aliases' origins by lower-case alias.
   */
  private async innerAliases(
    conn: mysql.Connection,
    fields: readonly DefinitionField[],
    trace: ((alias: string) => Promise<ReadonlyMap<string, ColumnOrigin>>) | null,
  ): Promise<Map<string, ReadonlyMap<string, ColumnOrigin>>> {
    const unknown = new Map<string, { schema: string; table: string }>();
    for (const f of fields) {
      if (f.db && f.orgTable && !this.cache.has(key(f.db, f.orgTable))) unknown.set(key(f.db, f.orgTable), { schema: f.db, table: f.orgTable });
    }
    if (unknown.size > 0) await this.loadTables(conn, [...unknown.values()], 0);
    const inner = new Map<string, ReadonlyMap<string, ColumnOrigin>>();
    if (!trace) return inner;
    for (const f of fields) {
      if (!f.db || !f.orgTable || !this.cache.get(key(f.db, f.orgTable))?.derived) continue;
      const a = f.orgTable.toLowerCase();
      if (!inner.has(a)) inner.set(a, await trace(f.orgTable));
    }
    return inner;
  }

  /** A select's columns as the server describes them to a prepare (never executed); null when it fails. */
  private async describeSelect(conn: mysql.Connection, database: string, select: string): Promise<DefinitionField[] | null> {
    const k = `${database}\0${textKey(select)}`;
    const cached = this.selects.get(k);
    if (cached !== undefined) return cached;
    let fields: DefinitionField[] | null;
    try {
      fields = await this.describe(conn, database, select);
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
      this.log.warn({ err: (err as Error).message, database }, 'derived table not traced (its select could not be described): its columns keep the alias as their origin');
      fields = null;
    }
    if (this.selects.size >= maxCachedTables) this.selects.clear();
    this.selects.set(k, fields);
    return fields;
  }

  /** Points a view's columns at the base table columns they show (see the header). */
  private async traceView(conn: mysql.Connection, k: string, v: { schema: string; table: string; definition: string }, depth: number): Promise<void> {
    const [cols] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [v.schema, v.table],
    );
    let fields: DefinitionField[];
    try {
      // Empty when the catalog user may not see it (SHOW VIEW, or being its definer).
      if (!v.definition.trim()) throw new Error('the view definition is not visible to the catalog user (SHOW VIEW)');
      fields = await this.describe(conn, v.schema, v.definition);
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
      this.log.debug({ err: (err as Error).message, view: `${v.schema}.${v.table}` }, 'view not traced to its base tables: its own columns are the origin');
      this.cache.set(k, ownColumns);
      return;
    }
    // Views this one shows columns of: traced first (a few levels), so their base columns are known.
    if (depth < maxViewDepth) {
      const inner = new Map<string, { schema: string; table: string }>();
      for (const f of fields) {
        if (!f.db || !f.orgTable) continue;
        const fk = key(f.db, f.orgTable);
        if (fk !== k && !this.cache.has(fk)) inner.set(fk, { schema: f.db, table: f.orgTable });
      }
      if (inner.size > 0) await this.loadTables(conn, [...inner.values()], depth + 1);
    }
    // Derived tables and CTEs inside the definition: traced in its text.
    const derived = new Map<string, ReadonlyMap<string, ColumnOrigin>>();
    for (const f of fields) {
      if (!f.db || !f.orgTable || !this.cache.get(key(f.db, f.orgTable))?.derived) continue;
      const a = f.orgTable.toLowerCase();
      if (!derived.has(a)) derived.set(a, await this.traceAlias(conn, v.schema, v.definition, f.orgTable, definitionMode, 0));
    }
    const known = (s: string, t: string) => {
      const e = this.cache.get(key(s, t));
      if (!e?.derived) return e;
      const d = derived.get(t.toLowerCase());
      return d ? { view: true, columns: d } : undefined;
    };
    this.cache.set(k, { view: true, columns: traceColumns(cols.map((r) => String(r.c)), fields, known) });
  }

  /**
   * A select's columns as the server describes them to COM_STMT_PREPARE, under `database` as the default one:
   * nothing runs (the catalog user may have more rights than whoever wrote the select).
   */
  private async describe(conn: mysql.Connection, database: string, select: string): Promise<DefinitionField[]> {
    await conn.query(`USE ${conn.escapeId(database)}`);
    const statement = await conn.prepare(select);
    // mysql2 keeps prepared statements by text (not by database): closed and forgotten at once.
    conn.unprepare(select);
    return ((statement as unknown as { statement: { columns?: DefinitionField[] } }).statement.columns ?? []).map((f) => ({ name: f.name, db: f.db, orgTable: f.orgTable, orgName: f.orgName }));
  }

  private connect(): Promise<mysql.Connection> {
    if (this.closed) return Promise.reject(new Error('the catalog is closed'));
    if (!this.connection) {
      const c = mysql.createConnection({ uri: this.url, connectTimeout: 5000, multipleStatements: false }).then((conn) => {
        conn.on('error', (err) => {
          this.log.warn({ err: err.message }, 'masking catalog connection lost');
          if (this.connection === c) this.connection = null;
        });
        return conn;
      });
      c.catch(() => {
        if (this.connection === c) this.connection = null;
      });
      this.connection = c;
    }
    return this.connection;
  }

  /** After a failed lookup: the connection may be gone or in a state of the lookup's; the next opens anew. */
  private drop(): void {
    const c = this.connection;
    this.connection = null;
    void c?.then((conn) => conn.destroy()).catch(() => undefined);
  }
}

/**
 * A view's columns (its column names in order) paired by position with its definition's result columns:
 * each column that shows a base table's column (directly, or through a traced inner view) maps to it.
 * `known` gives what is known of an inner table. Computed columns and columns of untraced views are left out.
 */
export function traceColumns(
  viewColumns: readonly string[],
  fields: readonly DefinitionField[],
  known: (schema: string, table: string) => { columns: ReadonlyMap<string, ColumnOrigin>; view: boolean } | undefined,
): Map<string, ColumnOrigin> {
  const traced = new Map<string, ColumnOrigin>();
  // Paired by position only when the shapes agree; otherwise nothing can be said.
  if (viewColumns.length !== fields.length) return traced;
  fields.forEach((f, i) => {
    if (!f.db || !f.orgTable || !f.orgName) return;
    const inner = known(f.db, f.orgTable);
    let origin: ColumnOrigin | undefined;
    if (inner?.view) origin = inner.columns.get(f.orgName.toLowerCase());
    else if (inner) origin = { schema: f.db, table: f.orgTable, column: f.orgName };
    if (origin) traced.set(viewColumns[i]!.toLowerCase(), origin);
  });
  return traced;
}

function key(schema: string, table: string): string {
  return `${schema}\0${table}`;
}

function aliasKey(database: string, alias: string, sql: string): string {
  return `${database}\0${alias}\0${textKey(sql)}`;
}

/** SQL text as part of a cache key: long texts by their digest, so thousands of keys stay small. */
function textKey(sql: string): string {
  return sql.length <= 1024 ? sql : `#${createHash('sha256').update(sql).digest('base64')}`;
}
