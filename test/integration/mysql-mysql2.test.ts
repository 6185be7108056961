// mysql2 through the proxy against the local MariaDB, every result compared with the same statement run on
// a direct connection: text and binary (server-side prepared) results for every common column type,
// multi-statements, transactions, a 20 MiB BLOB, a million streamed rows, KILL QUERY.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { admin, caught, connect, dropDatabase, ensureMaxAllowedPacket, fieldsOf, freshDatabase, type Conn } from '../helpers/mysql-clients.js';

const dbName = 'sw_my_mysql2';
let proxy: StartedProxy & { mysql?: { host: string; port: number } };
let port: number;

const typesTable = `CREATE TABLE types (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  de DECIMAL(30,8), f FLOAT, d DOUBLE,
  dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME, tm6 TIME(6), y YEAR,
  b1 BIT(1), b10 BIT(10), b64 BIT(64), e ENUM('a','b','c'), s SET('x','y','z'), j JSON,
  vc VARCHAR(100), ch CHAR(5), tx TEXT, mt MEDIUMTEXT, bl BLOB, vb VARBINARY(20), bn BINARY(4)
)`;

const typesRows = `INSERT INTO types VALUES
  (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
   '-12345678901234567890.12345678', -3.4e38, -1.7976931348623157e308,
   '1000-01-01', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1970-01-02 00:00:00.001', '-838:59:59', '838:59:58.999999', 1901,
   b'0', b'1111111111', b'1111111111111111111111111111111111111111111111111111111111111111', 'a', '', '{"k": [1, 2.5, null, "x"]}',
   'héllo wörld ✓', 'abc', REPEAT('t', 1000), REPEAT('m', 70000), UNHEX('00FF00FF'), UNHEX('DEADBEEF'), UNHEX('01020304')),
  (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
   '0.00000001', 1.17549e-38, 2.2250738585072014e-308,
   '9999-12-31', '2024-02-29 12:34:56', '2024-02-29 12:34:56.000001', '2038-01-19 03:14:07.999', '00:00:00', '-00:00:00.000001', 2155,
   b'1', b'0000000001', b'0', 'c', 'x,y,z', '[]',
   '', '', '', '', '', '', ''),
  (3, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, '0', 0, 0, '2000-01-01', '2000-01-01 00:00:01', '2000-01-01 00:00:00.5', NULL, '12:00:00', '01:02:03.4', 2000,
   b'1', b'1010101010', b'101', 'b', 'y', '{"nested": {"a": {"b": "c"}}}', 'x', 'y', 'z', 'w', 'v', 'u', 't'),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;

beforeAll(async () => {
  await ensureMaxAllowedPacket(64 * 1024 * 1024);
  await freshDatabase(dbName);
  const c = await admin(dbName);
  await c.query(typesTable);
  await c.query(typesRows);
  await c.query('CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(20) NOT NULL, balance DECIMAL(10,2))');
  await c.query('CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB)');
  await c.end();
  proxy = await startProxy({ mysql: {} });
  port = proxy.mysql!.port;
});

afterAll(async () => {
  await proxy?.close();
  await dropDatabase(dbName);
});

/** One connection direct and one through the proxy, with the same options. */
async function pair(opts: Partial<mysql.ConnectionOptions> = {}): Promise<[Conn, Conn]> {
  return Promise.all([connect({ database: dbName, ...opts }), connect({ database: dbName, via: port, ...opts })]);
}

async function closeAll(...conns: Conn[]): Promise<void> {
  await Promise.all(conns.map((c) => c.end()));
}

describe('mysql2 through the proxy', () => {
  it('returns every column type from query (text rows) exactly as the direct connection does', async () => {
    for (const dateStrings of [false, true]) {
      const [direct, proxied] = await pair({ dateStrings });
      const sql = 'SELECT * FROM types ORDER BY id';
      const [rowsD, fieldsD] = await direct.query(sql);
      const [rowsP, fieldsP] = await proxied.query(sql);
      expect(rowsP).toEqual(rowsD);
      expect(fieldsOf(fieldsP)).toEqual(fieldsOf(fieldsD));
      expect((rowsP as RowDataPacket[]).length).toBe(4);
      await closeAll(direct, proxied);
    }
  });

  it('returns every column type from execute (server-side prepared, binary rows) exactly as the direct connection does', async () => {
    for (const dateStrings of [false, true]) {
      const [direct, proxied] = await pair({ dateStrings });
      for (const id of [1, 2, 3, 4]) {
        const sql = 'SELECT * FROM types WHERE id = ?';
        const [rowsD, fieldsD] = await direct.execute(sql, [id]);
        const [rowsP, fieldsP] = await proxied.execute(sql, [id]);
        expect(rowsP).toEqual(rowsD);
        expect(fieldsOf(fieldsP)).toEqual(fieldsOf(fieldsD));
      }
      await closeAll(direct, proxied);
    }
  });

  it('binds parameters of every kind in execute, NULLs and empty strings included', async () => {
    const [direct, proxied] = await pair();
    const sql = 'SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, ? AS f, ? AS g, ? AS h';
    const params = [null, '', 'text ✓', 42, -7.25, Buffer.from([0, 1, 255]), new Date(Date.UTC(2020, 1, 29, 1, 2, 3)), '12345678901234567890'];
    const [rowsD] = await direct.execute(sql, params);
    const [rowsP] = await proxied.execute(sql, params);
    expect(rowsP).toEqual(rowsD);
    await closeAll(direct, proxied);
  });

  it('runs multi-statements with several result sets and OK packets in one query', async () => {
    const [direct, proxied] = await pair({ multipleStatements: true });
    const sql = "SELECT 1 AS one; SELECT 'x' AS x, NULL AS n UNION ALL SELECT 'y', 2; DO 1; SELECT id, e, s FROM types ORDER BY id; SET @a = 5; SELECT @a";
    const [resultsD] = await direct.query(sql);
    const [resultsP] = await proxied.query(sql);
    expect(resultsP).toEqual(resultsD);
    expect((resultsP as unknown[]).length).toBe(6);
    await closeAll(direct, proxied);
  });

  it('relays a failed statement inside a transaction and the rollback that follows', async () => {
    const [c] = await Promise.all([connect({ database: dbName, via: port })]);
    await c.query('DELETE FROM accounts');
    await c.beginTransaction();
    await c.execute('INSERT INTO accounts VALUES (?, ?, ?)', [1, 'ann', '10.50']);
    const err = await caught(c.execute('INSERT INTO accounts VALUES (?, ?, ?)', [1, 'bob', '1.00']));
    expect(err).toMatchObject({ code: 'ER_DUP_ENTRY', errno: 1062, sqlState: '23000' });
    const [inside] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM accounts');
    expect(Number(inside[0]!.n)).toBe(1);
    await c.rollback();
    const [after] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM accounts');
    expect(Number(after[0]!.n)).toBe(0);
    // The same error, word for word, as the server gives a direct connection.
    const d = await connect({ database: dbName });
    await d.beginTransaction();
    await d.execute('INSERT INTO accounts VALUES (1, "ann", 1)');
    expect(await caught(d.execute('INSERT INTO accounts VALUES (1, "bob", 1)'))).toEqual(err);
    await d.rollback();
    await closeAll(c, d);
  });

  it('round-trips a 20 MiB BLOB through execute and query, split across 16 MiB packets both ways', async () => {
    const c = await connect({ database: dbName, via: port, maxPreparedStatements: 4 });
    const blob = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
    const digest = createHash('sha256').update(blob).digest('hex');
    await c.query('DELETE FROM blobs');
    await c.execute('INSERT INTO blobs VALUES (?, ?)', [1, blob]);
    await c.query('INSERT INTO blobs VALUES (?, ?)', [2, blob]);
    const [text] = await c.query<RowDataPacket[]>('SELECT id, data FROM blobs ORDER BY id');
    const [binary] = await c.execute<RowDataPacket[]>('SELECT id, data FROM blobs ORDER BY id');
    for (const rows of [text, binary]) {
      expect(rows.map((r) => r.id)).toEqual([1, 2]);
      for (const r of rows) expect(createHash('sha256').update(r.data as Buffer).digest('hex')).toBe(digest);
    }
    await c.end();
  });

  it('streams a 1,000,000-row result equal to the direct one', async () => {
    const sql = "SELECT seq, seq * 3 AS triple, CONCAT('row-', seq) AS label, IF(seq % 7 = 0, NULL, seq / 7) AS frac FROM seq_1_to_1000000";
    const digest = async (c: Conn): Promise<{ hash: string; rows: number }> => {
      const h = createHash('sha256');
      let rows = 0;
      const stream = (c as unknown as { connection: { query(o: object): { stream(): AsyncIterable<unknown[]> } } }).connection.query({ sql, rowsAsArray: true }).stream();
      for await (const row of stream) {
        h.update(row.join('\u0001'));
        h.update('\n');
        rows++;
      }
      return { hash: h.digest('hex'), rows };
    };
    const [direct, proxied] = await pair();
    const [d, p] = await Promise.all([digest(direct), digest(proxied)]);
    expect(p.rows).toBe(1_000_000);
    expect(p).toEqual(d);
    await closeAll(direct, proxied);
  });

  it('lets KILL QUERY from another connection stop a running SELECT SLEEP(10) within a second', async () => {
    const victim = await connect({ via: port });
    const killer = await connect({ via: port });
    // Connection ids are the server's: the greeting is relayed as it is.
    const [ids] = await victim.query<RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    expect(ids[0]!.id).toBe(victim.threadId);
    const sleeping = caught(victim.query('SELECT SLEEP(10) AS s'));
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    await killer.query(`KILL QUERY ${victim.threadId}`);
    expect(await sleeping).toMatchObject({ errno: 1317, sqlMessage: 'Query execution was interrupted' });
    expect(Date.now() - killedAt).toBeLessThan(1000);
    const [again] = await victim.query<RowDataPacket[]>('SELECT 2 AS two');
    expect(again[0]!.two).toBe(2);
    await closeAll(victim, killer);
  });

  it('relays ping, reset connection, change user and the session-state tracking of USE', async () => {
    const c = await connect({ via: port, database: dbName });
    await c.ping();
    await c.execute('SELECT 1');
    await c.query('SET @v = 1');
    await c.reset();
    const [vars] = await c.query<RowDataPacket[]>('SELECT @v AS v');
    expect(vars[0]!.v).toBeNull();
    // The prepared statement is gone on the server after a reset: executing it again re-prepares it.
    const [one] = await c.execute<RowDataPacket[]>('SELECT 1 AS one');
    expect(one[0]!.one).toBe(1);
    const [ok] = await c.query('USE test');
    expect((ok as mysql.ResultSetHeader & { stateChanges?: { schema?: string } }).stateChanges?.schema).toBe('test');
    await c.changeUser({ user: 'root', password: '', database: dbName });
    const [db] = await c.query<RowDataPacket[]>('SELECT DATABASE() AS db, CURRENT_USER() AS u');
    expect(db[0]).toEqual({ db: dbName, u: 'root@127.0.0.1' });
    await c.end();
  });

  it('refuses replication commands (COM_REGISTER_SLAVE) with an error and keeps the connection usable', async () => {
    const c = await connect({ via: port });
    const err = await new Promise<Error | null>((resolve) => {
      (c as unknown as { connection: { _registerSlave(o: object, cb: (err: Error | null) => void): void } }).connection._registerSlave({ serverId: 4242 }, resolve);
    });
    expect(err?.message).toMatch(/COM_REGISTER_SLAVE is not supported through sqlwarden/);
    const [rows] = await c.query<RowDataPacket[]>('SELECT 3 AS three');
    expect(rows[0]!.three).toBe(3);
    await c.end();
  });
});
