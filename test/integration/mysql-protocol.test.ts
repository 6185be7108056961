// Byte for byte: the same conversation held direct with MariaDB and through the proxy gives the same packets,
// with CLIENT_DEPRECATE_EOF on and off: multi-results, errors in the middle of them, prepared statements with
// binary rows, cursors fetched in pieces, long data, COM_FIELD_LIST and the one-packet commands.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as enc from '../../src/wire/mysql/encode.js';
import { Cap, ColumnType, Command, Header, Status } from '../../src/wire/mysql/packets.js';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { admin, dropDatabase, freshDatabase } from '../helpers/mysql-clients.js';
import { RawClient, baseCapabilities, hex, type Packet } from '../helpers/mysql-raw.js';
import { mysql as db } from '../helpers/databases.js';

const dbName = 'sw_my_proto';
let proxy: StartedProxy & { mysql?: { host: string; port: number } };

beforeAll(async () => {
  await freshDatabase(dbName);
  const c = await admin(dbName);
  await c.query("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) DEFAULT 'none', amount DECIMAL(6,2)); INSERT INTO t VALUES (1, 'a', 1.5), (2, NULL, NULL)");
  await c.end();
  proxy = await startProxy({ mysql: {} });
});

afterAll(async () => {
  await proxy?.close();
  await dropDatabase(dbName);
});

/** Runs the same script on a direct and a proxied connection; returns both transcripts. */
async function both(capabilities: number, script: (c: RawClient) => Promise<Packet[][]>): Promise<[string[][], string[][]]> {
  const direct = await RawClient.login(db.port, { capabilities, database: dbName });
  const proxied = await RawClient.login(proxy.mysql!.port, { capabilities, database: dbName });
  const [a, b] = await Promise.all([script(direct), script(proxied)]);
  for (const c of [direct, proxied]) {
    expect(await c.quiet(50)).toBe(true);
    c.end();
  }
  return [a.map(hex), b.map(hex)];
}

for (const deprecateEof of [false, true]) {
  const capabilities = (baseCapabilities | (deprecateEof ? Cap.DeprecateEof : 0)) >>> 0;
  describe(`the same packets as direct, CLIENT_DEPRECATE_EOF ${deprecateEof ? 'on' : 'off'}`, () => {
    it('for COM_QUERY with multi-results, an error in the middle of them, and a LIMIT 0 result', async () => {
      const [direct, proxied] = await both(capabilities, async (c) => [
        await c.query("SELECT 1 AS a, 'x' AS b, NULL AS c UNION ALL SELECT 2, 'y', 'z'; DO 1; SELECT * FROM seq_1_to_3; SET @x = 1"),
        await c.query('SELECT 1; SELECT * FROM no_such_table; SELECT 2'),
        await c.query('SELECT * FROM t LIMIT 0'),
        await c.query('SELECT REPEAT(CHAR(254), 300) AS fe, id FROM t ORDER BY id'),
        // Per connection, so the direct and the proxied run do not see each other's rows.
        await c.query('CREATE TEMPORARY TABLE tt LIKE t'),
        await c.query('INSERT INTO tt VALUES (3, "c", 2) ON DUPLICATE KEY UPDATE amount = amount + 1; SELECT * FROM tt'),
        await c.query('SELECT @x, DATABASE()'),
      ]);
      expect(proxied).toEqual(direct);
      expect(direct[0]!.length).toBeGreaterThan(10);
    });

    it('for prepared statements: binary rows, a cursor fetched in pieces, long data, reset and close', async () => {
      const [direct, proxied] = await both(capabilities, async (c) => {
        const out: Packet[][] = [];
        // Statement ids come from a server-wide counter: zeroed in the transcripts, which compare the rest.
        const prepare = async (sql: string) => {
          const r = await c.prepare(sql);
          r.packets[0]!.payload.writeUInt32LE(0, 1);
          return r;
        };
        const p1 = await prepare("SELECT seq, CONCAT('v', seq), seq / 3, NULL FROM seq_1_to_10 WHERE seq > ?");
        out.push(p1.packets);
        c.send(enc.encodeStmtExecute(p1.id, 0, [{ type: ColumnType.LongLong, value: 3n }]));
        out.push(await c.response());
        const p2 = await prepare('SELECT seq, seq * 2 FROM seq_1_to_5');
        out.push(p2.packets);
        c.send(enc.encodeStmtExecute(p2.id, 1, []));
        const opened = await c.response({ cursor: true });
        out.push(opened);
        expect(c.status(opened.at(-1)!) & Status.CursorExists).toBeTruthy();
        out.push(await c.fetch(p2.id, 2), await c.fetch(p2.id, 2), await c.fetch(p2.id, 10));
        expect(c.status(out.at(-1)!.at(-1)!) & Status.LastRowSent).toBeTruthy();
        const p3 = await prepare('SELECT ?, LENGTH(?)');
        out.push(p3.packets);
        for (const param of [0, 1]) {
          c.send(Buffer.concat([enc.encodeStatementCommand(Command.StmtSendLongData, p3.id), Buffer.from([param, 0]), Buffer.alloc(70_000, 0x61 + param)]));
          c.send(Buffer.concat([enc.encodeStatementCommand(Command.StmtSendLongData, p3.id), Buffer.from([param, 0]), Buffer.from('tail')]));
        }
        // Both parameters come from long data: typed, not NULL, no value in the packet.
        c.send(Buffer.concat([enc.encodeStatementCommand(Command.StmtExecute, p3.id), Buffer.from([0, 1, 0, 0, 0, 0, 1, ColumnType.Blob, 0, ColumnType.Blob, 0])]));
        out.push(await c.response());
        out.push([await c.simple(enc.encodeStatementCommand(Command.StmtReset, p3.id))]);
        c.send(enc.encodeStatementCommand(Command.StmtClose, p3.id));
        c.send(enc.encodeStmtExecute(p3.id, 0, [{ type: ColumnType.Long, value: 1 }, { type: ColumnType.Long, value: 2 }]));
        const closed = await c.response();
        expect(closed[0]!.payload.readUInt16LE(1)).toBe(1243); // unknown prepared statement handler
        out.push(closed.map((p) => ({ seq: p.seq, payload: Buffer.from(p.payload.toString('latin1').replace(/\(\d+\)/, '(N)'), 'latin1') })));
        return out;
      });
      expect(proxied).toEqual(direct);
    });

    it('for COM_FIELD_LIST and the commands one packet answers', async () => {
      const [direct, proxied] = await both(capabilities, async (c) => [
        await c.fieldList('t'),
        await c.fieldList('no_such_table'),
        [await c.simple(Buffer.from([Command.Ping]))],
        [await c.simple(Buffer.from([Command.SetOption, 1, 0]))],
        [await c.simple(Buffer.from([Command.SetOption, 0, 0]))],
        [await c.simple(enc.encodeCommandText(Command.InitDb, 'no_such_db'))],
        [await c.simple(enc.encodeCommandText(Command.InitDb, dbName))],
        [await c.simple(Buffer.from([Command.ResetConnection]))],
        await c.query('SELECT 42'),
      ]);
      expect(proxied).toEqual(direct);
      const stats = await RawClient.login(proxy.mysql!.port, { capabilities });
      const s = await stats.simple(Buffer.from([Command.Statistics]));
      expect(s.payload.toString()).toMatch(/^Uptime: \d+/);
      expect((await stats.query('SELECT 1')).length).toBeGreaterThan(2);
      stats.end();
    });
  });
}

describe('commands the proxy answers itself', () => {
  it('refuses replication and server-internal commands with an ERR packet and keeps the session', async () => {
    const c = await RawClient.login(proxy.mysql!.port);
    for (const command of [Command.BinlogDump, Command.TableDump, Command.RegisterSlave, Command.BinlogDumpGtid, Command.Sleep, Command.Daemon, 0x40]) {
      const p = await c.simple(Buffer.from([command, 0, 0, 0, 0]));
      expect(p.seq).toBe(1);
      expect(p.payload[0]).toBe(Header.Err);
      expect(p.payload.readUInt16LE(1)).toBe(1047);
      expect(p.payload.toString('latin1', 9)).toMatch(/is not supported through sqlwarden/);
    }
    expect(hex(await c.query('SELECT 5'))).toHaveLength(5);
    c.end();
  });

  it('ends a session that sends a command with a sequence id other than 0, with an ERR saying so; other sessions go on', async () => {
    const bystander = await RawClient.login(proxy.mysql!.port);
    const c = await RawClient.login(proxy.mysql!.port);
    c.send(enc.encodeCommandText(Command.Query, 'SELECT 1'), 3);
    const p = await c.next();
    expect(p.payload[0]).toBe(Header.Err);
    expect(p.payload.readUInt16LE(1)).toBe(1043);
    expect(p.payload.toString('latin1', 9)).toBe('sqlwarden: protocol violation: COM_QUERY with sequence id 3, expected 0');
    await expect(c.next()).rejects.toThrow('connection closed');
    expect((await bystander.query('SELECT 6')).length).toBe(5);
    bystander.end();
  });
});
