// Where a MySQL/MariaDB view column comes from. The server describes a view's column with the view as its
// org_table and the view's column name as its org_name (`CREATE VIEW v AS SELECT ssn AS s2 FROM t` gives
// v.s2), so `table.column` rules of the base table would not reach it. The catalog traces each view's
// columns to the base table columns they show: it runs the view's definition (information_schema.VIEWS)
// with `sql_select_limit = 0`, which answers with no rows but full column definitions whose origins are the
// base tables', and pairs them by position with the view's columns (information_schema.COLUMNS order).
// Views of views are followed a few levels. A computed view column keeps the view as its origin.
//
// One connection for the listener (names are server-wide: schema.table), opened on first use and again
// after it fails. Answers are cached per schema.table until DDL is seen through the proxy. Lookups run one
// at a time: a definition runs under a session setting (sql_select_limit) and a default database.
import mysql from 'mysql2/promise';
import type { Logger } from '../log.js';
import type { ResultColumn } from './hooks.js';

interface ColumnOrigin {
  schema: string;
  table: string;
  column: string;
}

/** What the catalog knows of one schema.table: a base table (or untraced view), or a view's traced columns. */
interface TableEntry {
  /** View column name (lower case: MySQL column names are case-insensitive) -> the base column it shows. */
  readonly columns: ReadonlyMap<string, ColumnOrigin>;
  readonly view: boolean;
}

const ownColumns: TableEntry = Object.freeze({ columns: new Map(), view: false });

/** How deep views of views are followed; below that the inner view is where tracing stops. */
const maxViewDepth = 4;
/** Names cached at most (derived-table aliases are looked up too): past this the cache starts over. */
const maxCachedTables = 10_000;

/** The column definition fields of a definition's result that say where each column comes from. */
export interface DefinitionField {
  db?: string;
  orgTable?: string;
  orgName?: string;
}

export class MysqlCatalog {
  private readonly cache = new Map<string, TableEntry>();
  private connection: Promise<mysql.Connection> | null = null;
  /** Lookups one after the other (see the header). */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /**
   * The columns with each view column pointed at the base column it shows (`view` names the view's own), or
   * null when a table they name is not known yet (`load` first). The same array when nothing changes.
   */
  resolve<C extends ResultColumn>(columns: readonly C[]): C[] | null {
    return this.map(columns, true);
  }

  /** Looks up the tables the columns name, then resolves them; a failed lookup leaves columns as described. */
  async load<C extends ResultColumn>(columns: readonly C[]): Promise<C[]> {
    const missing = new Map<string, { schema: string; table: string }>();
    for (const c of columns) {
      if (!c.schema || !c.table) continue;
      const k = key(c.schema, c.table);
      if (!this.cache.has(k)) missing.set(k, { schema: c.schema, table: c.table });
    }
    if (missing.size > 0) {
      try {
        await this.serially(async () => {
          const still = [...missing.values()].filter((t) => !this.cache.has(key(t.schema, t.table)));
          if (still.length === 0) return;
          try {
            await this.loadTables(await this.connect(), still, 0);
          } catch (err) {
            this.drop();
            throw err;
          }
        });
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message, tables: [...missing.keys()].map((k) => k.replace('\0', '.')) },
          'masking catalog lookup failed: view columns keep the view as their origin',
        );
      }
    }
    return this.map(columns, false)!;
  }

  /** DDL was seen: what the cache knows may be stale. */
  invalidate(): void {
    this.cache.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.connection;
    this.connection = null;
    await c?.then((conn) => conn.end()).catch(() => undefined);
  }

  /** `strict`: null when a table is unknown; otherwise an unknown table's columns stay as described. */
  private map<C extends ResultColumn>(columns: readonly C[], strict: boolean): C[] | null {
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
      if (!entry.view || !c.originalName) continue;
      const origin = entry.columns.get(c.originalName.toLowerCase());
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
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t, VIEW_DEFINITION AS d FROM information_schema.VIEWS WHERE (TABLE_SCHEMA, TABLE_NAME) IN (?)',
      [tables.map((t) => [t.schema, t.table])],
    );
    const views = new Map<string, { schema: string; table: string; definition: string }>();
    for (const r of rows) views.set(key(String(r.s), String(r.t)), { schema: String(r.s), table: String(r.t), definition: String(r.d ?? '') });
    if (this.cache.size + tables.length > maxCachedTables) this.cache.clear();
    for (const t of tables) {
      const k = key(t.schema, t.table);
      const v = views.get(k);
      if (v) await this.traceView(conn, k, v, depth);
      else this.cache.set(k, ownColumns);
    }
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
    this.cache.set(k, { view: true, columns: traceColumns(cols.map((r) => String(r.c)), fields, (s, t) => this.cache.get(key(s, t))) });
  }

  /** The definition's columns as the server describes them, without its rows. */
  private async describe(conn: mysql.Connection, schema: string, definition: string): Promise<DefinitionField[]> {
    // The stored definition names its tables with their schema; the default database is for anything else.
    await conn.query(`USE ${conn.escapeId(schema)}`);
    await conn.query('SET SESSION sql_select_limit = 0');
    try {
      const [, fields] = await conn.query({ sql: definition, rowsAsArray: true });
      return (fields ?? []) as DefinitionField[];
    } finally {
      await conn.query('SET SESSION sql_select_limit = DEFAULT');
    }
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
