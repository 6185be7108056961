// The MySQL catalog's pieces that need no server: pairing a view's columns with its definition's result
// columns (traceColumns), telling DDL from other statements (mayChangeSchema), and a catalog that cannot be
// reached leaving columns as the server described them.
import { describe, expect, it } from 'vitest';
import { MysqlCatalog, traceColumns } from '../../../src/session/mysql-catalog.js';
import { mayChangeSchema } from '../../../src/session/mysql-masking.js';
import type { Logger } from '../../../src/log.js';
import type { ResultColumn } from '../../../src/session/hooks.js';

const base = { columns: new Map(), view: false };

describe('traceColumns', () => {
  it('pairs view columns with the definition columns by position, base columns under their own names', () => {
    const traced = traceColumns(
      ['id', 'S2', 'shout'],
      [
        { db: 'app', orgTable: 't', orgName: 'id' },
        { db: 'app', orgTable: 't', orgName: 'ssn' },
        // A computed column: no schema, no table.
        { db: '', orgTable: '', orgName: '' },
      ],
      (schema, table) => (schema === 'app' && table === 't' ? base : undefined),
    );
    expect([...traced]).toEqual([
      ['id', { schema: 'app', table: 't', column: 'id' }],
      ['s2', { schema: 'app', table: 't', column: 'ssn' }],
    ]);
  });

  it('follows a column of an inner view to its base column; a computed column of it stays untraced', () => {
    const inner = { view: true, columns: new Map([['s2', { schema: 'app', table: 't', column: 'ssn' }]]) };
    const traced = traceColumns(
      ['b', 'c'],
      [
        { db: 'app', orgTable: 'v', orgName: 's2' },
        // The server names the inner view for a computed column of it, without a schema.
        { db: '', orgTable: 'v', orgName: 'shout' },
      ],
      (schema, table) => (schema === 'app' && table === 'v' ? inner : undefined),
    );
    expect([...traced]).toEqual([['b', { schema: 'app', table: 't', column: 'ssn' }]]);
  });

  it('names an inner view that could not be traced as the origin, and leaves out tables it does not know', () => {
    const traced = traceColumns(
      ['a', 'b'],
      [
        { db: 'app', orgTable: 'hidden_view', orgName: 'x' },
        { db: 'app', orgTable: 'too_deep', orgName: 'y' },
      ],
      (_schema, table) => (table === 'hidden_view' ? base : undefined),
    );
    expect([...traced]).toEqual([['a', { schema: 'app', table: 'hidden_view', column: 'x' }]]);
  });

  it('says nothing when the definition does not have the view\'s shape', () => {
    expect(traceColumns(['a'], [{ db: 'app', orgTable: 't', orgName: 'x' }, { db: 'app', orgTable: 't', orgName: 'y' }], () => base).size).toBe(0);
  });
});

describe('mayChangeSchema', () => {
  const ddl = (sql: string) => {
    const buf = Buffer.from(`..${sql}..`);
    return mayChangeSchema(buf, 2, buf.length - 2);
  };

  it('is true for CREATE, ALTER, DROP and RENAME in any case, past spaces and comments', () => {
    for (const sql of [
      'CREATE VIEW v AS SELECT 1',
      'create or replace view v as select 1',
      '  \n\tAlter TABLE t ADD c INT',
      'DROP VIEW v',
      'rename table a to b',
      '/* tool */ DROP TABLE t',
      '-- note\nCREATE TABLE t (a INT)',
      '# note\nDROP VIEW v',
      '/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`%` */ /*!50001 VIEW `v` AS select 1 */',
      '/*M!100100 CREATE */ VIEW v AS SELECT 1',
      'DROP',
    ]) {
      expect(ddl(sql), sql).toBe(true);
    }
  });

  it('is false for other statements, words that only begin like DDL, and text past the range', () => {
    for (const sql of ['SELECT * FROM t', 'created_at', 'DROPPED', 'INSERT INTO t VALUES (1)', '/* CREATE */ SELECT 1', '/* unterminated CREATE', '', '   ', 'CREAT']) {
      expect(ddl(sql), sql).toBe(false);
    }
    // Only buf[start, end) is read.
    const buf = Buffer.from('SELECT 1; CREATE VIEW v AS SELECT 1');
    expect(mayChangeSchema(buf, 0, 9)).toBe(false);
    expect(mayChangeSchema(buf, 10, buf.length)).toBe(true);
  });
});

describe('MysqlCatalog', () => {
  const warnings: string[] = [];
  const log = { warn: (_o: unknown, msg: string) => warnings.push(msg), debug: () => undefined, info: () => undefined } as unknown as Logger;
  const column = (c: Partial<ResultColumn>): ResultColumn => ({ name: c.originalName ?? 'x', type: 253, format: 0, ...c });

  it('resolves columns that name no table at once, without a lookup', () => {
    const catalog = new MysqlCatalog('mysql://root@127.0.0.1:1', log);
    const columns = [column({ name: 'one' }), column({ schema: '', table: 'v', originalName: 'shout' })];
    expect(catalog.resolve(columns)).toBe(columns);
  });

  it('leaves the columns as described when it cannot be reached, and looks again next time', async () => {
    const catalog = new MysqlCatalog('mysql://root@127.0.0.1:1', log);
    const columns = [column({ schema: 'app', table: 'v', originalName: 's2' })];
    expect(catalog.resolve(columns)).toBeNull();
    expect(await catalog.load(columns)).toEqual(columns);
    expect(warnings.some((w) => w.includes('masking catalog lookup failed'))).toBe(true);
    // Nothing was learnt: the next result asks again.
    expect(catalog.resolve(columns)).toBeNull();
    await catalog.close();
    await expect(catalog.load(columns)).resolves.toEqual(columns);
  });
});
