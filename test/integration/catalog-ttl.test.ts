// The catalogs forget what they know after catalogTtlMs, so DDL run on another connection (a migration that
// redefines a view) reaches masking within that time, not only DDL seen through the proxy.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import pgLib from 'pg';
import mysqlLib from 'mysql2/promise';
import { PgCatalog, catalogTtlMs } from '../../src/session/pg-catalog.js';
import { MysqlCatalog } from '../../src/session/mysql-catalog.js';
import type { Logger } from '../../src/log.js';
import type { ResultColumn } from '../../src/session/hooks.js';
import { mysql, pg } from '../helpers/databases.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet } as unknown as Logger;
const pgUrl = `postgres://${encodeURIComponent(pg.user)}${pg.password ? `:${encodeURIComponent(pg.password)}` : ''}@${pg.host}:${pg.port}/${pg.database}`;
const mysqlUrl = `mysql://${encodeURIComponent(mysql.user)}${mysql.password ? `:${encodeURIComponent(mysql.password)}` : ''}@${mysql.host}:${mysql.port}`;

let pgDirect: pgLib.Client;
let myDirect: mysqlLib.Connection;

beforeAll(async () => {
  pgDirect = new pgLib.Client({ ...pg, host: pg.host });
  await pgDirect.connect();
  await pgDirect.query('DROP VIEW IF EXISTS sw_ttl_v; DROP TABLE IF EXISTS sw_ttl_t; CREATE TABLE sw_ttl_t (a text, b text); CREATE VIEW sw_ttl_v AS SELECT a AS x FROM sw_ttl_t');
  myDirect = await mysqlLib.createConnection({ ...mysql });
  await myDirect.query('DROP VIEW IF EXISTS sw_ttl_v');
  await myDirect.query('DROP TABLE IF EXISTS sw_ttl_t');
  await myDirect.query('CREATE TABLE sw_ttl_t (a VARCHAR(10), b VARCHAR(10))');
  await myDirect.query('CREATE VIEW sw_ttl_v AS SELECT a AS x FROM sw_ttl_t');
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await pgDirect.query('DROP VIEW IF EXISTS sw_ttl_v; DROP TABLE IF EXISTS sw_ttl_t');
  await pgDirect.end();
  await myDirect.query('DROP VIEW IF EXISTS sw_ttl_v');
  await myDirect.query('DROP TABLE IF EXISTS sw_ttl_t');
  await myDirect.end();
});

const later = (ms: number) => {
  const now = Date.now();
  vi.spyOn(Date, 'now').mockReturnValue(now + ms);
};

describe('catalog answers expire', () => {
  it('PostgreSQL: a view redefined on another connection is traced again after catalogTtlMs', async () => {
    const catalog = new PgCatalog(pgUrl, quiet);
    try {
      const oid = Number((await pgDirect.query("SELECT 'sw_ttl_v'::regclass::oid AS oid")).rows[0].oid);
      const first = await catalog.load(pg.database, [oid]);
      expect(first.get(oid)?.get(1)).toMatchObject({ table: 'sw_ttl_t', column: 'a', view: { table: 'sw_ttl_v', column: 'x' } });
      expect(catalog.known(pg.database, [oid])).not.toBeNull();
      await pgDirect.query('CREATE OR REPLACE VIEW sw_ttl_v AS SELECT b AS x FROM sw_ttl_t');
      // Still the old answer within the time...
      later(catalogTtlMs - 1000);
      expect(catalog.known(pg.database, [oid])?.get(oid)?.get(1)?.column).toBe('a');
      // ...and looked up again after it.
      later(catalogTtlMs + 1000);
      expect(catalog.known(pg.database, [oid])).toBeNull();
      const again = await catalog.load(pg.database, [oid]);
      expect(again.get(oid)?.get(1)?.column).toBe('b');
    } finally {
      await catalog.close();
    }
  });

  it('MySQL: a view redefined on another connection is traced again after catalogTtlMs', async () => {
    const catalog = new MysqlCatalog(mysqlUrl, quiet);
    const columns: ResultColumn[] = [{ name: 'x', schema: mysql.database, table: 'sw_ttl_v', originalName: 'x', type: 253, format: 0 }];
    try {
      expect(catalog.resolve(columns)).toBeNull();
      expect((await catalog.load(columns))[0]).toMatchObject({ table: 'sw_ttl_t', originalName: 'a' });
      await myDirect.query('CREATE OR REPLACE VIEW sw_ttl_v AS SELECT b AS x FROM sw_ttl_t');
      later(catalogTtlMs - 1000);
      expect(catalog.resolve(columns)?.[0]).toMatchObject({ originalName: 'a' });
      later(catalogTtlMs + 1000);
      expect(catalog.resolve(columns)).toBeNull();
      expect((await catalog.load(columns))[0]).toMatchObject({ table: 'sw_ttl_t', originalName: 'b' });
    } finally {
      await catalog.close();
    }
  });
});
