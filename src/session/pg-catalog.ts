// Where a PostgreSQL result column comes from: RowDescription carries each column's table OID and attribute
// number even when the query renamed it (`SELECT ssn AS x`), and the catalog turns them into
// schema.table.column, so column rules still apply. One connection per database (OIDs are per database),
// through the listener's `catalog` URL with the session's database in place of the URL's; answers cached per
// database until DDL is seen there through the proxy, and for a minute at most (DDL run elsewhere).
//
// A view's columns are traced to the base table columns they show: the view's definition, run as a subquery
// with LIMIT 0, answers with a RowDescription whose origins are the base tables' (the server follows
// subqueries when it marks origins), so `CREATE VIEW v AS SELECT ssn AS x FROM customers` keeps
// `customers.ssn` rules on `v.x`. A computed view column keeps the view as its origin (detectors see it).
import pg from 'pg';
import type { Logger } from '../log.js';

export interface ColumnOrigin {
  schema: string;
  table: string;
  column: string;
  /** A view's column that shows a base table's column: the origin is the base's, and this the view's. */
  view?: { schema: string; table: string; column: string };
}

type TableColumns = Map<number, ColumnOrigin>;

/**
 * How long a database's answers are kept at most: DDL through the proxy drops them at once, DDL run elsewhere
 * (a migration on its own connection) is seen within this.
 */
export const catalogTtlMs = 60_000;

export class PgCatalog {
  private readonly clients = new Map<string, Promise<pg.Client>>();
  private readonly cache = new Map<string, Map<number, TableColumns>>();
  /** When each database's answers expire (see catalogTtlMs). */
  private readonly expires = new Map<string, number>();

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /** Origins known now for these columns, or null when some table must be looked up first (`load`). */
  known(database: string, tableOids: readonly number[]): Map<number, TableColumns> | null {
    if ((this.expires.get(database) ?? Infinity) <= Date.now()) this.invalidate(database);
    const tables = this.cache.get(database);
    for (const oid of tableOids) if (oid !== 0 && !tables?.has(oid)) return null;
    return tables ?? new Map();
  }

  /** Looks the tables up; a catalog that cannot answer leaves them unknown (names still match, detectors run). */
  async load(database: string, tableOids: readonly number[]): Promise<Map<number, TableColumns>> {
    let tables = this.cache.get(database);
    if (!tables) {
      this.cache.set(database, (tables = new Map()));
      this.expires.set(database, Date.now() + catalogTtlMs);
    }
    const missing = [...new Set(tableOids)].filter((oid) => oid !== 0 && !tables!.has(oid));
    if (missing.length === 0) return tables;
    try {
      await this.loadInto(await this.client(database), missing, tables, 0);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, database }, 'masking catalog lookup failed: column rules match result names only');
    }
    return tables;
  }

  private async loadInto(client: pg.Client, oids: number[], tables: Map<number, TableColumns>, depth: number): Promise<void> {
    const r = await client.query<{ oid: number; schema: string; table: string; kind: string; attnum: number; column: string }>(
      `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table, c.relkind::text AS kind, a.attnum::int AS attnum, a.attname AS column
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped`,
      [oids],
    );
    for (const oid of oids) tables.set(oid, new Map());
    const views = new Set<number>();
    for (const row of r.rows) {
      tables.get(row.oid)!.set(row.attnum, { schema: row.schema, table: row.table, column: row.column });
      if (row.kind === 'v' || row.kind === 'm') views.add(row.oid);
    }
    // Views of views: a few levels, then the inner view is the origin.
    if (depth < 4) for (const oid of views) await this.traceView(client, oid, tables, depth);
  }

  /** Points a view's columns at the base table columns they show (see the header). */
  private async traceView(client: pg.Client, oid: number, tables: Map<number, TableColumns>, depth: number): Promise<void> {
    let fields: pg.FieldDef[];
    try {
      const def = (await client.query<{ def: string | null }>('SELECT pg_catalog.pg_get_viewdef($1::oid) AS def', [oid])).rows[0]?.def;
      if (!def) return;
      fields = (await client.query(`SELECT * FROM (${def.trim().replace(/;$/, '')}) AS sqlwarden_view LIMIT 0`)).fields;
    } catch (err) {
      this.log.debug({ err: (err as Error).message, oid }, 'view not traced to its base tables: its own columns are the origin');
      return;
    }
    const inner = [...new Set(fields.map((f) => f.tableID))].filter((t) => t !== 0 && !tables.has(t));
    if (inner.length > 0) await this.loadInto(client, inner, tables, depth + 1);
    const own = tables.get(oid)!;
    fields.forEach((f, k) => {
      const column = own.get(k + 1);
      const base = f.tableID ? tables.get(f.tableID)?.get(f.columnID) : undefined;
      if (!column || !base || column.view) return;
      own.set(k + 1, { schema: base.schema, table: base.table, column: base.column, view: { schema: column.schema, table: column.table, column: column.column } });
    });
  }

  /** The columns of a table named as a statement names it (`t`, `s.t`, quoted or not), in order; undefined if unknown. */
  async tableColumns(database: string, name: string): Promise<string[] | undefined> {
    try {
      const client = await this.client(database);
      const r = await client.query<{ column: string }>(
        `SELECT a.attname AS column FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [name],
      );
      return r.rows.length ? r.rows.map((row) => row.column) : undefined;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, database, table: name }, 'masking catalog lookup failed');
      return undefined;
    }
  }

  /** DDL ran in this database: what the cache knows may be stale. */
  invalidate(database: string): void {
    this.cache.delete(database);
    this.expires.delete(database);
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((p) => p.then((c) => c.end()).catch(() => undefined)));
  }

  private client(database: string): Promise<pg.Client> {
    let c = this.clients.get(database);
    if (!c) {
      const url = new URL(this.url);
      url.pathname = `/${encodeURIComponent(database)}`;
      const client = new pg.Client({ connectionString: url.toString(), application_name: 'sqlwarden-catalog' });
      client.on('error', (err) => {
        this.log.warn({ err: err.message, database }, 'masking catalog connection lost');
        this.clients.delete(database);
      });
      c = client.connect().then(() => client);
      c.catch(() => this.clients.delete(database));
      this.clients.set(database, c);
    }
    return c;
  }
}
