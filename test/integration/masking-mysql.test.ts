// Masking through the MySQL proxy with the shipped rules (rules/masking.yaml): column rules by name and by
// org_name (aliases), detectors for computed columns, text rows (mysql2 `query`, the mariadb CLI) and binary
// rows (mysql2 `execute`, prepared statements reused), NULLs, empty strings and multi-byte values,
// multi-statement results, a large result through the worker pool in order, duplicate-key errors; results
// with nothing to mask pass through unchanged; the audit hears of the masked cells. With a `catalog`, a view's
// columns are traced to the base table columns they show (views of views too), so table.column rules apply;
// so are the columns of derived tables and CTEs, whose selects the catalog describes without running them.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldPacket, RowDataPacket } from 'mysql2/promise';
import { startProxy } from '../helpers/proxy.js';
import { admin, caught, connect, dropDatabase, fieldsOf, freshDatabase, type Conn } from '../helpers/mysql-clients.js';
import { mariadb } from '../helpers/mysql-cli.js';
import { RawClient, hex } from '../helpers/mysql-raw.js';
import * as enc from '../../src/wire/mysql/encode.js';
import { framePayload } from '../../src/wire/mysql/frames.js';
import { Command } from '../../src/wire/mysql/packets.js';
import { mysql as db } from '../helpers/databases.js';

const dbName = 'sw_my_masking';
const maskingConfig = { masking: { key: 'test-mask-key-0123456789', workers: 2, offload: 'always' } };
let proxy: Awaited<ReturnType<typeof startProxy>>;
let port: number;
let c: Conn;
let direct: Conn;

beforeAll(async () => {
  await freshDatabase(dbName);
  direct = await admin(dbName);
  await direct.query(`CREATE TABLE t (
      id INT PRIMARY KEY, email VARCHAR(100), full_name VARCHAR(100), ssn VARCHAR(20), card VARCHAR(30), note TEXT,
      amount DECIMAL(10, 2), UNIQUE KEY email (email)
    ) DEFAULT CHARSET = utf8mb4`);
  await direct.query(`INSERT INTO t VALUES
      (1, 'jane.doe@example.com', 'Jane Doe', '123-45-6789', '4111 1111 1111 1111', 'call me', 10.5),
      (2, NULL, '', NULL, NULL, 'contact: bob@corp.io', 20),
      (3, 'zoé@example.com', 'Zoë Ünïcødé', '987-65-4321', '5500-0000-0000-0004', 'nothing here', 30)`);
  proxy = await startProxy({ masking: true, mysql: {}, extra: maskingConfig });
  port = proxy.mysql!.port;
  c = await connect({ via: port, database: dbName, multipleStatements: true });
});

afterAll(async () => {
  await c?.end();
  await direct?.end();
  await proxy?.close();
  await dropDatabase(dbName);
});

const all = 'SELECT id, email, full_name, ssn, card, note, amount FROM t ORDER BY id';

function expectMasked(rows: RowDataPacket[]): void {
  expect(rows[0]).toEqual({ id: 1, email: 'j***@example.com', full_name: 'J*******', ssn: '*******6789', card: '***************1111', note: 'call me', amount: '10.50' });
  // NULL stays NULL; an empty string stays empty; a value found inside text is masked in place.
  expect(rows[1]).toEqual({ id: 2, email: null, full_name: '', ssn: null, card: null, note: 'contact: b***@corp.io', amount: '20.00' });
  // Multi-byte characters are kept whole.
  expect(rows[2]).toEqual({ id: 3, email: 'z***@example.com', full_name: 'Z**********', ssn: '*******4321', card: '***************0004', note: 'nothing here', amount: '30.00' });
}

describe('masking on MySQL', () => {
  it('masks by column name in text results (mysql2 query)', async () => {
    const [rows] = await c.query<RowDataPacket[]>(all);
    expectMasked(rows);
  });

  it('masks binary results (mysql2 execute), a prepared statement reused', async () => {
    const sql = all.replace('ORDER BY', 'WHERE id > ? ORDER BY');
    for (let i = 0; i < 3; i++) {
      const [rows] = await c.execute<RowDataPacket[]>(sql, [0]);
      expectMasked(rows);
    }
  });

  it('masks SELECT * (text and binary) as the named columns', async () => {
    expectMasked((await c.query<RowDataPacket[]>('SELECT * FROM t ORDER BY id'))[0]);
    expectMasked((await c.execute<RowDataPacket[]>('SELECT * FROM t WHERE id > ? ORDER BY id', [0]))[0]);
  });

  it('hashes deterministically (text and binary), so values still join across queries', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-rules-'));
    writeFileSync(path.join(dir, 'policy.yaml'), 'rules: []\ndefault: allow\n');
    writeFileSync(path.join(dir, 'masking.yaml'), 'columns:\n  - match: { column: email }\n    mask: hash\n');
    const hashing = await startProxy({ masking: true, mysql: {}, extra: { rules: dir, masking: { key: 'join-key-0123456789', workers: 2, offload: 'always' } } });
    const hc = await connect({ via: hashing.mysql!.port, database: dbName });
    try {
      const one = async (sql: string, params?: number[]) => ((params ? (await hc.execute<RowDataPacket[]>(sql, params))[0] : (await hc.query<RowDataPacket[]>(sql))[0])[0]!.email as string);
      const a = await one('SELECT email FROM t WHERE id = 1');
      expect(a).toMatch(/^[0-9a-f]{16}$/);
      expect(await one("SELECT 'jane.doe@example.com' AS email")).toBe(a);
      expect(await one('SELECT email FROM t WHERE id = ?', [1])).toBe(a);
      const [many] = await hc.query<RowDataPacket[]>("WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) SELECT 'jane.doe@example.com' AS email FROM n");
      expect(new Set(many.map((r) => r.email))).toEqual(new Set([a]));
      expect(await one("SELECT 'someone.else@example.com' AS email")).not.toBe(a);
    } finally {
      await hc.end();
      await hashing.close();
    }
  });

  it('describes a masked column as a string, whatever its type was', async () => {
    await direct.query('CREATE TABLE IF NOT EXISTS phones (id INT PRIMARY KEY, phone BIGINT, ssn INT)');
    await direct.query('REPLACE INTO phones VALUES (1, 4155552671, 123456789), (2, NULL, 12)');
    for (const run of [(q: string) => c.query<RowDataPacket[]>(q), (q: string) => c.execute<RowDataPacket[]>(q)]) {
      const [rows, fields] = await run('SELECT id, phone, ssn FROM phones ORDER BY id');
      // A value no longer than what partial would keep is hidden whole.
      expect(rows).toEqual([{ id: 1, phone: '******2671', ssn: '*****6789' }, { id: 2, phone: null, ssn: '**' }]);
      expect(fields.map((f) => [f.name, f.type])).toEqual([['id', 3], ['phone', 253], ['ssn', 253]]);
    }
  });

  it('keeps a column masked by its origin (org_name) when the query renames it', async () => {
    for (const run of [(q: string) => c.query<RowDataPacket[]>(q), (q: string) => c.execute<RowDataPacket[]>(q)]) {
      const [rows] = await run('SELECT a.ssn AS x, b.email AS y, a.full_name AS z FROM t a JOIN t b ON a.id = b.id WHERE a.id = 1');
      expect(rows).toEqual([{ x: '*******6789', y: 'j***@example.com', z: 'J*******' }]);
    }
  });

  it('masks each result by its own definitions when one session alternates results of the same names', async () => {
    // The session reuses the columns it decoded for a result whose definitions are byte for byte the last
    // one's: an alias that names another column, in the same place, must not get the last result's columns.
    const queries: [string, Record<string, unknown>][] = [
      ['SELECT ssn AS x FROM t WHERE id = 1', { x: '*******6789' }],
      ["SELECT 'plain 123' AS x", { x: 'plain 123' }],
      ['SELECT note AS x FROM t WHERE id = 1', { x: 'call me' }],
      ['SELECT ssn AS x FROM t WHERE id = 1', { x: '*******6789' }],
      ['SELECT email AS x FROM t WHERE id = 1', { x: 'j***@example.com' }],
      ['SELECT ssn AS x FROM t WHERE id = 1', { x: '*******6789' }],
    ];
    for (const run of [(q: string) => c.query<RowDataPacket[]>(q), (q: string) => c.execute<RowDataPacket[]>(q)]) {
      for (let round = 0; round < 2; round++) {
        for (const [sql, row] of queries) expect((await run(sql))[0]).toEqual([row]);
      }
    }
  });

  it('catches values that lost their column (CONCAT, CAST, UPPER) by their content', async () => {
    const sql = "SELECT CONCAT(ssn, '') AS a, CAST(card AS CHAR) AS b, CONCAT('mail: ', email) AS c, UPPER(email) AS d, CONCAT(id, '') AS e FROM t WHERE id = 1";
    for (const run of [(q: string) => c.query<RowDataPacket[]>(q), (q: string) => c.execute<RowDataPacket[]>(q)]) {
      const [rows] = await run(sql);
      const row = rows[0]!;
      expect(row.a).toBe('*******6789');
      expect(row.b).toBe('***************1111');
      expect(row.c).toBe('mail: j***@example.com');
      expect(String(row.d)).not.toContain('JANE.DOE');
      expect(row.e).toBe('1');
    }
  });

  it('masks every result of a multi-statement query', async () => {
    const [results] = await c.query<RowDataPacket[][]>('SELECT email FROM t WHERE id = 1; SELECT id, note FROM t WHERE id = 2; DO 1; SELECT full_name FROM t WHERE id = 3');
    expect(results[0]).toEqual([{ email: 'j***@example.com' }]);
    expect(results[1]).toEqual([{ id: 2, note: 'contact: b***@corp.io' }]);
    expect(results[3]).toEqual([{ full_name: 'Z**********' }]);
  });

  it('masks what the mariadb CLI shows', async () => {
    const r = await mariadb(['-N', '-D', dbName, '-e', `${all}; SELECT ssn AS x FROM t WHERE id = 3`], { port });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('1\tj***@example.com\tJ*******\t*******6789\t***************1111\tcall me\t10.50');
    expect(lines[1]).toBe('2\tNULL\t\tNULL\tNULL\tcontact: b***@corp.io\t20.00');
    expect(lines[2]).toBe('3\tz***@example.com\tZ**********\t*******4321\t***************0004\tnothing here\t30.00');
    expect(lines[3]).toBe('*******4321');
    expect(r.stdout).not.toContain('jane.doe');
  });

  it('passes results with nothing to mask unchanged, byte for byte', async () => {
    const q = 'SELECT id, amount, note FROM t WHERE id IN (1, 3) ORDER BY id';
    const [[viaRows, viaFields], [directRows, directFields]] = await Promise.all([c.query<RowDataPacket[]>(q), direct.query<RowDataPacket[]>(q)]);
    expect(viaRows).toEqual(directRows);
    expect(fieldsOf(viaFields as FieldPacket[])).toEqual(fieldsOf(directFields as FieldPacket[]));
    const [viaRaw, directRaw] = await Promise.all([RawClient.login(port, { database: dbName }), RawClient.login(db.port, { database: dbName })]);
    for (const sql of [q, 'SELECT id, amount FROM t ORDER BY id', "SELECT 'plain text' AS v, NULL AS n, 1.5 AS f"]) {
      expect(hex(await viaRaw.query(sql))).toEqual(hex(await directRaw.query(sql)));
    }
    viaRaw.end();
    directRaw.end();
  });

  it('masks a result of 20,000 rows through the workers, in order, text and binary', async () => {
    // `note` has no column rule: the detectors scan it, which sends the rows to the worker pool.
    const sql = "SELECT seq AS id, CONCAT('user', seq, '@example.com') AS email, CONCAT('Name ', seq) AS full_name, CONCAT('note ', seq) AS note FROM seq_1_to_20000";
    for (const run of [(q: string) => c.query<RowDataPacket[]>(q), (q: string) => c.execute<RowDataPacket[]>(q)]) {
      const [rows] = await run(sql);
      expect(rows).toHaveLength(20000);
      rows.forEach((r, i) => {
        const name = `Name ${i + 1}`;
        expect(r).toEqual({ id: String(i + 1), email: 'u***@example.com', full_name: 'N' + '*'.repeat(name.length - 1), note: `note ${i + 1}` });
      });
    }
  });

  it('streams 1,000,000 rows with 3 of 7 columns masked through mysql2, complete and correct', async () => {
    const sql =
      "SELECT seq AS id, CONCAT('user', seq, '@example.com') AS email, CONCAT('Name ', seq) AS full_name, LPAD(seq, 9, '0') AS ssn, " +
      "DATE '2024-01-01' + INTERVAL seq % 365 DAY AS created_at, seq / 2 AS amount, CONCAT('row ', seq) AS note FROM seq_1_to_1000000";
    const stream = (c as unknown as { connection: { query(o: object): { stream(): AsyncIterable<unknown[]> } } }).connection
      .query({ sql, rowsAsArray: true, dateStrings: true })
      .stream();
    let rows = 0;
    let wrong = 0;
    for await (const row of stream) {
      rows++;
      const id = Number(row[0]);
      const name = `Name ${id}`;
      if (row[1] !== 'u***@example.com' || row[2] !== 'N' + '*'.repeat(name.length - 1) || row[3] !== '*****' + String(id).padStart(9, '0').slice(5) || row[6] !== `row ${id}`) wrong++;
    }
    expect(rows).toBe(1_000_000);
    expect(wrong).toBe(0);
  });

  it('keeps what follows masked rows in order when commands are pipelined', async () => {
    const raw = await RawClient.login(port, { database: dbName });
    const sql = "SELECT seq, CONCAT('note ', seq, ' 123-45-6789') AS note FROM seq_1_to_5000";
    // Both commands in one write: the second's answer must wait behind the rows the workers still mask.
    raw.socket.write(Buffer.concat([framePayload(enc.encodeCommandText(Command.Query, sql), 0), framePayload(enc.encodeCommandText(Command.Query, "SELECT 'after' AS a"), 0)]));
    const rows = await raw.response();
    const after = await raw.response();
    const values = rows.slice(4, -1).map((p) => p.payload.toString('utf8'));
    expect(values).toHaveLength(5000);
    expect(values[4999]).toContain('note 5000 *******6789');
    expect(values.every((v, i) => v.includes(`note ${i + 1} `))).toBe(true);
    expect(after.at(-2)!.payload.toString('latin1', 1)).toBe('after');
    raw.end();
  });

  it('masks the value a duplicate-key error quotes', async () => {
    const insert = "INSERT INTO t (id, email) VALUES (9, 'jane.doe@example.com')";
    const directError = await caught(direct.query(insert));
    expect(directError.sqlMessage).toBe("Duplicate entry 'jane.doe@example.com' for key 'email'");
    for (const err of [await caught(c.query(insert)), await caught(c.execute(insert))]) {
      expect(err).toMatchObject({ errno: 1062, sqlState: '23000', sqlMessage: "Duplicate entry 'j***@example.com' for key 'email'" });
    }
    // The session goes on.
    const [rows] = await c.query<RowDataPacket[]>('SELECT email FROM t WHERE id = 1');
    expect(rows).toEqual([{ email: 'j***@example.com' }]);
  });
});

describe('masking through views on MySQL', () => {
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-rules-'));
  writeFileSync(path.join(rulesDir, 'policy.yaml'), 'rules: []\ndefault: allow\n');
  writeFileSync(
    path.join(rulesDir, 'masking.yaml'),
    [
      'columns:',
      `  - match: { table: ${dbName}.vt, column: secret }`,
      '    mask: { fixed: "[hidden]" }',
      `  - match: { table: ${dbName}.vv2, column: ident }`,
      '    mask: redact',
      '',
    ].join('\n'),
  );
  const viewsProxy = (catalog: boolean) =>
    startProxy({
      masking: true,
      mysql: catalog ? { catalog: `mysql://${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}@${db.host}:${db.port}` } : {},
      extra: { rules: rulesDir, masking: { key: 'test-mask-key-0123456789', workers: 2, offload: 'always' } },
    });
  const rows = 3000;
  const text = (conn: Conn) => (q: string) => conn.query<RowDataPacket[]>(q);
  const binary = (conn: Conn) => (q: string) => conn.execute<RowDataPacket[]>(q);

  beforeAll(async () => {
    await direct.query(`CREATE TABLE vt (id INT PRIMARY KEY, secret VARCHAR(50), note VARCHAR(50)) DEFAULT CHARSET = utf8mb4`);
    const values = Array.from({ length: rows }, (_, i) => `(${i + 1}, 'hush hush ${i + 1}', 'plain note ${i + 1}')`).join(',');
    await direct.query(`INSERT INTO vt VALUES ${values}`);
    // vv renames the column; vv2 is a view of vv, renaming it again, with a computed column of it.
    await direct.query('CREATE VIEW vv AS SELECT id, secret AS s2, note FROM vt');
    await direct.query('CREATE VIEW vv2 AS SELECT id AS ident, s2 AS remark, UPPER(s2) AS shout FROM vv');
    await direct.query('CREATE VIEW vv3 AS SELECT id, secret AS s3, note AS s4 FROM vt');
  });

  it('applies a base table.column rule through a view, a view of it, and a rule naming the view column; not to a computed column', async () => {
    const p = await viewsProxy(true);
    try {
      const vc = await connect({ via: p.mysql!.port, database: dbName, multipleStatements: true });
      try {
        // First sight of both views, in one response, with thousands of rows behind each description: every
        // row waits for its view's lookup, none goes out unmasked.
        const [results] = await vc.query<RowDataPacket[][]>('SELECT * FROM vv ORDER BY id; SELECT * FROM vv2 ORDER BY ident');
        expect(results[0]!.length).toBe(rows);
        expect(results[0]!.every((r, i) => r.s2 === '[hidden]' && r.note === `plain note ${i + 1}` && r.id === i + 1)).toBe(true);
        expect(results[1]!.length).toBe(rows);
        expect(results[1]![0]).toEqual({ ident: '****', remark: '[hidden]', shout: 'HUSH HUSH 1' });
        expect(results[1]!.every((r, i) => r.remark === '[hidden]' && r.ident === '****' && r.shout === `HUSH HUSH ${i + 1}`)).toBe(true);
        for (const run of [text(vc), binary(vc), binary(vc)]) {
          expect((await run('SELECT * FROM vv WHERE id = 2'))[0]).toEqual([{ id: 2, s2: '[hidden]', note: 'plain note 2' }]);
          expect((await run('SELECT * FROM vv2 WHERE ident = 1'))[0]).toEqual([{ ident: '****', remark: '[hidden]', shout: 'HUSH HUSH 1' }]);
          // An alias of a view column, and the base table itself.
          expect((await run('SELECT remark AS x, s2 AS y FROM vv2 JOIN vv ON id = ident WHERE id = 3'))[0]).toEqual([{ x: '[hidden]', y: '[hidden]' }]);
          expect((await run('SELECT secret, note FROM vt WHERE id = 3'))[0]).toEqual([{ secret: '[hidden]', note: 'plain note 3' }]);
        }
        // The masked column is described as a string in binary results too.
        const [, fields] = await vc.execute('SELECT ident, remark FROM vv2 WHERE ident = 1');
        expect((fields as FieldPacket[]).map((f) => [f.name, f.type])).toEqual([['ident', 253], ['remark', 253]]);
        // DDL through the proxy: the catalog forgets, and the next result follows the new definition (here
        // the execute of a statement prepared before, whose result waits for the new lookup).
        const v3 = 'SELECT * FROM vv3 WHERE id = 1';
        expect((await vc.execute<RowDataPacket[]>(v3))[0]).toEqual([{ id: 1, s3: '[hidden]', s4: 'plain note 1' }]);
        await vc.query('/*!50001 CREATE OR REPLACE */ VIEW vv3 AS SELECT id, note AS s3, secret AS s4 FROM vt');
        expect((await vc.execute<RowDataPacket[]>(v3))[0]).toEqual([{ id: 1, s3: 'plain note 1', s4: '[hidden]' }]);
        expect((await vc.query<RowDataPacket[]>(v3))[0]).toEqual([{ id: 1, s3: 'plain note 1', s4: '[hidden]' }]);
      } finally {
        await vc.end();
      }
    } finally {
      await p.close();
    }
  });

  it('without a catalog, a view column keeps the view as its origin (rules naming the view still apply)', async () => {
    const p = await viewsProxy(false);
    try {
      const vc = await connect({ via: p.mysql!.port, database: dbName });
      try {
        for (const run of [text(vc), binary(vc)]) {
          expect((await run('SELECT * FROM vv WHERE id = 1'))[0]).toEqual([{ id: 1, s2: 'hush hush 1', note: 'plain note 1' }]);
          expect((await run('SELECT * FROM vv2 WHERE ident = 1'))[0]).toEqual([{ ident: '****', remark: 'hush hush 1', shout: 'HUSH HUSH 1' }]);
          expect((await run('SELECT secret FROM vt WHERE id = 1'))[0]).toEqual([{ secret: '[hidden]' }]);
        }
      } finally {
        await vc.end();
      }
    } finally {
      await p.close();
    }
  });
});

describe('masking through derived tables and CTEs on MySQL', () => {
  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-rules-'));
  writeFileSync(path.join(rulesDir, 'policy.yaml'), 'rules: []\ndefault: allow\n');
  writeFileSync(
    path.join(rulesDir, 'masking.yaml'),
    ['columns:', `  - match: { table: ${dbName}.dsrc, column: tax_id }`, '    mask: { fixed: "[hidden]" }', '  - match: { column: nick }', '    mask: redact', ''].join('\n'),
  );
  const derivedProxy = (catalog: boolean) =>
    startProxy({
      masking: true,
      mysql: catalog ? { catalog: `mysql://${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}@${db.host}:${db.port}` } : {},
      extra: { rules: rulesDir, masking: { key: 'test-mask-key-0123456789', workers: 2, offload: 'always' } },
    });
  const text = (conn: Conn) => (q: string, params?: number[]) => conn.query<RowDataPacket[]>(q, params);
  const binary = (conn: Conn) => (q: string, params?: number[]) => conn.execute<RowDataPacket[]>(q, params);

  beforeAll(async () => {
    await direct.query('CREATE TABLE dsrc (id INT PRIMARY KEY, tax_id VARCHAR(50), nick VARCHAR(50), note VARCHAR(50)) DEFAULT CHARSET = utf8mb4');
    await direct.query("INSERT INTO dsrc VALUES (1, 'tax 1', 'nick 1', 'plain 1'), (2, 'tax 2', 'nick 2', 'plain 2')");
    // A function with a side effect: each call adds a row to dlog.
    await direct.query('CREATE TABLE dlog (n INT)');
    await direct.query('CREATE FUNCTION dlog_f(v VARCHAR(50)) RETURNS VARCHAR(50) MODIFIES SQL DATA BEGIN INSERT INTO dlog VALUES (1); RETURN v; END');
    await direct.query('CREATE VIEW dview AS SELECT id, x FROM (SELECT id, tax_id AS x FROM dsrc) d');
    await direct.query('CREATE VIEW dfview AS SELECT dlog_f(note) AS f, tax_id AS x FROM dsrc');
  });

  it('traces derived table and CTE columns to the base columns they show, text and binary', async () => {
    const p = await derivedProxy(true);
    try {
      const dc = await connect({ via: p.mysql!.port, database: dbName });
      try {
        for (const run of [text(dc), binary(dc), binary(dc)]) {
          expect((await run('SELECT * FROM (SELECT id, tax_id AS x, nick AS n, note FROM dsrc) d ORDER BY id'))[0]).toEqual([
            { id: 1, x: '[hidden]', n: '****', note: 'plain 1' },
            { id: 2, x: '[hidden]', n: '****', note: 'plain 2' },
          ]);
          // Nested: the inner select names the inner alias again.
          expect((await run('SELECT y FROM (SELECT x AS y FROM (SELECT tax_id AS x FROM dsrc WHERE id = 1) a) b'))[0]).toEqual([{ y: '[hidden]' }]);
          expect((await run('WITH d AS (SELECT nick AS x, note FROM dsrc WHERE id = 1) SELECT * FROM d'))[0]).toEqual([{ x: '****', note: 'plain 1' }]);
          // A CTE's column list; a CTE reading an earlier one.
          expect((await run('WITH d (c1, c2) AS (SELECT tax_id, note FROM dsrc WHERE id = 2) SELECT c1 AS a, c2 AS b FROM d'))[0]).toEqual([{ a: '[hidden]', b: 'plain 2' }]);
          expect((await run('WITH a AS (SELECT id, tax_id AS x FROM dsrc), b AS (SELECT x AS y FROM a WHERE id = 1) SELECT y FROM b'))[0]).toEqual([{ y: '[hidden]' }]);
          // Joined with the base table itself.
          expect((await run('SELECT d.x, s.tax_id, s.note FROM (SELECT id, tax_id AS x FROM dsrc) d JOIN dsrc s ON s.id = d.id WHERE s.id = 2'))[0]).toEqual([
            { x: '[hidden]', tax_id: '[hidden]', note: 'plain 2' },
          ]);
          // Parentheses and the alias inside strings and comments do not confuse the lookup.
          const decoy = "SELECT x, '(SELECT note AS x FROM dsrc) d' AS s FROM /* (SELECT note AS x FROM dsrc) d */ (SELECT tax_id AS x FROM dsrc WHERE note <> ')') d WHERE x = 'tax 1'";
          expect((await run(decoy))[0]).toEqual([{ x: '[hidden]', s: '(SELECT note AS x FROM dsrc) d' }]);
          // A parameter inside the derived table's select.
          expect((await run('SELECT * FROM (SELECT tax_id AS x FROM dsrc WHERE id = ?) d', [2]))[0]).toEqual([{ x: '[hidden]' }]);
          // A long statement (cached by its digest).
          expect((await run(`SELECT * FROM (SELECT tax_id AS x FROM dsrc WHERE id = 1 /* ${'pad '.repeat(600)} */) d`))[0]).toEqual([{ x: '[hidden]' }]);
          // A view over a derived table: traced through its stored definition.
          expect((await run('SELECT x FROM dview WHERE id = 1'))[0]).toEqual([{ x: '[hidden]' }]);
        }
      } finally {
        await dc.end();
      }
    } finally {
      await p.close();
    }
  });

  it('never runs the statement on the catalog connection: a function with a side effect runs once, for the client', async () => {
    const p = await derivedProxy(true);
    try {
      const dc = await connect({ via: p.mysql!.port, database: dbName });
      try {
        await direct.query('DELETE FROM dlog');
        const q = 'SELECT * FROM (SELECT dlog_f(note) AS f, tax_id AS x FROM dsrc WHERE id = 1) d';
        expect((await dc.query<RowDataPacket[]>(q))[0]).toEqual([{ f: 'plain 1', x: '[hidden]' }]);
        expect((await direct.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM dlog'))[0]).toEqual([{ n: '1' }]);
        const c2 = 'WITH d AS (SELECT dlog_f(note) AS f, tax_id AS x FROM dsrc WHERE id = 2) SELECT * FROM d';
        expect((await dc.execute<RowDataPacket[]>(c2))[0]).toEqual([{ f: 'plain 2', x: '[hidden]' }]);
        expect((await direct.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM dlog'))[0]).toEqual([{ n: '2' }]);
        // A view's definition is described, not run, when the catalog traces it.
        expect((await dc.query<RowDataPacket[]>('SELECT x FROM dfview LIMIT 0'))[0]).toEqual([]);
        expect((await dc.query<RowDataPacket[]>('SELECT x FROM dfview WHERE x = ? ', ['tax 1']))[0]).toEqual([{ x: '[hidden]' }]);
        expect((await direct.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM dlog'))[0]).toEqual([{ n: '2' }]);
      } finally {
        await dc.end();
      }
    } finally {
      await p.close();
    }
  });

  it('follows the current database the server reports after USE', async () => {
    const p = await derivedProxy(true);
    try {
      const dc = await connect({ via: p.mysql!.port, database: undefined });
      try {
        await dc.query(`USE ${dbName}`);
        expect((await dc.query<RowDataPacket[]>('SELECT * FROM (SELECT tax_id AS x FROM dsrc WHERE id = 1) d'))[0]).toEqual([{ x: '[hidden]' }]);
      } finally {
        await dc.end();
      }
    } finally {
      await p.close();
    }
  });

  it('leaves an alias defined twice as described; without a catalog, derived table columns keep the alias as their origin', async () => {
    const withCatalog = await derivedProxy(true);
    try {
      const dc = await connect({ via: withCatalog.mysql!.port, database: dbName });
      try {
        const twice = 'SELECT * FROM (SELECT tax_id AS x FROM dsrc WHERE id = 1) d UNION ALL SELECT * FROM (SELECT note AS x FROM dsrc WHERE id = 1) d';
        expect((await dc.query<RowDataPacket[]>(twice))[0]).toEqual([{ x: 'tax 1' }, { x: 'plain 1' }]);
      } finally {
        await dc.end();
      }
    } finally {
      await withCatalog.close();
    }
    const p = await derivedProxy(false);
    try {
      const dc = await connect({ via: p.mysql!.port, database: dbName });
      try {
        for (const run of [text(dc), binary(dc)]) {
          expect((await run('SELECT * FROM (SELECT tax_id AS x, nick AS n FROM dsrc WHERE id = 1) d'))[0]).toEqual([{ x: 'tax 1', n: 'nick 1' }]);
          // Rules still apply to what the server names: the base table, and the name the alias shows.
          expect((await run('SELECT * FROM (SELECT tax_id, nick FROM dsrc WHERE id = 1) d'))[0]).toEqual([{ tax_id: 'tax 1', nick: '****' }]);
          expect((await run('SELECT tax_id FROM dsrc WHERE id = 1'))[0]).toEqual([{ tax_id: '[hidden]' }]);
        }
      } finally {
        await dc.end();
      }
    } finally {
      await p.close();
    }
  });
});

describe('masking and the audit', () => {
  it('records the masked cells of each statement by rule, and the error as the client saw it', async () => {
    const p = await startProxy({ masking: true, mysql: {}, extra: maskingConfig });
    const conn = await connect({ via: p.mysql!.port, database: dbName, multipleStatements: true });
    await conn.query(`${all}; SELECT id FROM t`);
    await conn.execute('SELECT ssn, email FROM t WHERE id = ?', [1]);
    await caught(conn.query("INSERT INTO t (id, email) VALUES (9, 'jane.doe@example.com')"));
    await conn.end();
    await new Promise((r) => setTimeout(r, 100));
    await p.close();
    const lines = readFileSync(p.app.config.audit.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const executed = lines.filter((l) => l.listener === 'my' && l.type === 'execute');
    expect(executed.map((l) => [l.command, l.rows, l.maskedCells])).toEqual([
      // email, ssn, card in rows 1 and 3, and the email detector (a rule named after its kind) in row 2's note;
      // full_name in all three rows (row 2's empty value goes through the strategy too, and stays empty).
      ['COM_QUERY', 3, { email: 3, person_name: 3, ssn: 2, card: 2 }],
      ['COM_QUERY', 3, undefined],
      ['COM_STMT_EXECUTE', 1, { ssn: 1, email: 1 }],
      ['COM_QUERY', 0, undefined],
    ]);
    expect(executed[3]!.error).toBe("1062 (23000): Duplicate entry 'j***@example.com' for key 'email'");
    expect(lines.at(-1)).toMatchObject({ type: 'session.close', listener: 'my' });
  });
});
