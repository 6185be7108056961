// The MySQL session's hooks, driven by scripted parts: every statement passes the gate (COM_QUERY,
// COM_STMT_PREPARE, each COM_STMT_EXECUTE, commands with an SQL meaning) with the settings the server reads
// it under; denials answer with an ERR and the session goes on; a pending verdict stops the client, pipelined
// commands included; masking follows cursors fetched in pieces and keeps sequence ids consecutive across
// 16 MiB rows whose packets it changes; and the audit hears of sessions and statement outcomes.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { ProxyError } from '../../src/errors.js';
import * as dec from '../../src/wire/mysql/decode.js';
import * as enc from '../../src/wire/mysql/encode.js';
import { framePayload, physicalPackets } from '../../src/wire/mysql/frames.js';
import { Cap, ColumnType, Command, Header, MariaCap } from '../../src/wire/mysql/packets.js';
import { allow, type Gate, type Hold, type StatementRequest, type Verdict } from '../../src/session/hooks.js';
import { startProxy } from '../helpers/proxy.js';
import { admin, caught, connect, dropDatabase, ensureMaxAllowedPacket, freshDatabase } from '../helpers/mysql-clients.js';
import { RawClient, baseCapabilities, type Packet } from '../helpers/mysql-raw.js';

const dbName = 'sw_my_hooks';

/** Denies SQL naming `forbidden`, holds `held`, keeps `pending` waiting until the test decides. */
class ScriptedGate implements Gate {
  readonly requests: StatementRequest[] = [];
  readonly waiting: ((v: Verdict) => void)[] = [];
  readonly cancelled: string[] = [];
  check(req: StatementRequest): Verdict | Hold | Promise<Verdict> {
    this.requests.push({ ...req });
    if (req.sql.includes('forbidden') || (req.via === 'execute' && req.sql.includes('exec_denied'))) {
      return { action: 'deny', error: new ProxyError('denied', 'by the scripted gate') };
    }
    if (req.sql.includes('pending')) return new Promise((resolve) => this.waiting.push(resolve));
    if (req.sql.includes('held')) {
      let settle!: (v: Verdict) => void;
      const verdict = new Promise<Verdict>((r) => (settle = r));
      this.waiting.push(settle);
      return {
        action: 'hold', requestId: 'r-1', notice: 'held for review', verdict,
        cancel: (reason) => {
          this.cancelled.push(reason);
          settle({ action: 'deny', error: new ProxyError('cancelled') });
        },
      };
    }
    return allow;
  }
}

/** Each packet's sequence id follows the last one's (counting the physical packets of large ones). */
function expectConsecutive(packets: Packet[], first: number): void {
  let want = first;
  for (const p of packets) {
    expect(p.seq).toBe(want & 0xff);
    want = (want + physicalPackets(p.payload.length)) & 0xff;
  }
}

beforeAll(async () => {
  await freshDatabase(dbName);
  const c = await admin(dbName);
  await c.query("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20), secret VARCHAR(40), phone BIGINT); INSERT INTO people VALUES (1, 'ann', 's3cr3t', 4155552671), (2, 'bob', NULL, NULL), (3, 'cy', '', 51234)");
  await c.query('CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40))');
  await c.end();
});

afterAll(() => dropDatabase(dbName));

describe('the gate', () => {
  const gate = new ScriptedGate();
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let port: number;
  beforeAll(async () => {
    proxy = await startProxy({ mysql: {} }, { gate });
    port = proxy.mysql!.port;
  });
  afterAll(() => proxy.close());

  it('sees every statement: query, prepare, each execute by statement id, and commands with an SQL meaning', async () => {
    const c = await connect({ via: port, database: dbName });
    gate.requests.length = 0;
    await c.query('SELECT 1');
    await c.execute('SELECT ? AS v', [1]);
    await c.execute('SELECT ? AS v', [2]);
    await c.end();
    const seen = gate.requests.map((r) => [r.via, r.sql, r.statement]);
    expect(seen[0]).toEqual(['query', 'SELECT 1', undefined]);
    expect(seen[1]).toEqual(['parse', 'SELECT ? AS v', undefined]);
    expect(seen[2]![0]).toBe('execute');
    expect(seen[2]![1]).toBe('SELECT ? AS v');
    expect(seen[3]).toEqual(seen[2]);
    expect(gate.requests[0]!.context).toMatchObject({ dialect: 'mysql', serverVersion: expect.any(Number), mariadb: true, charset: 'utf8mb4', noBackslashEscapes: false });
    expect(gate.requests[0]!.session).toMatchObject({ protocol: 'mysql', user: 'root', database: dbName });

    const raw = await RawClient.login(port, { database: dbName });
    gate.requests.length = 0;
    const refused = await raw.simple(enc.encodeCommandText(Command.DropDb, 'forbidden_db'));
    expect(refused.payload[0]).toBe(Header.Err);
    expect(gate.requests.map((r) => r.sql)).toEqual(['DROP DATABASE `forbidden_db`']);
    raw.end();
  });

  it('gives the classifier the settings the server reads SQL with, as the server reports them', async () => {
    const c = await connect({ via: port, database: dbName, multipleStatements: true });
    await c.query("SET SESSION session_track_system_variables = 'sql_mode,character_set_client'");
    await c.query("SET sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'");
    await c.query('SELECT 1');
    expect(gate.requests.at(-1)!.context).toMatchObject({ ansiQuotes: true, noBackslashEscapes: true });
    await c.query("SET sql_mode = ''; SET NAMES latin1");
    await c.query('SELECT 2');
    expect(gate.requests.at(-1)!.context).toMatchObject({ ansiQuotes: false, noBackslashEscapes: false, charset: 'latin1' });
    await c.reset();
    await c.query('SELECT 3');
    expect(gate.requests.at(-1)!.context).toMatchObject({ charset: 'utf8mb4' });
    await c.end();
  });

  it('answers a denied statement with ERR 1227 / 42000 and keeps the session usable (query, prepare, execute)', async () => {
    const c = await connect({ via: port, database: dbName });
    const err = await caught(c.query("SELECT 'forbidden'"));
    expect(err).toMatchObject({ errno: 1227, sqlState: '42000', sqlMessage: 'sqlwarden: denied: by the scripted gate' });
    expect(await caught(c.execute("SELECT 'forbidden' AS x"))).toMatchObject({ errno: 1227 });
    // Prepared fine, refused at each execute.
    expect(await caught(c.execute("SELECT 'exec_denied' AS x"))).toMatchObject({ errno: 1227 });
    const [rows] = await c.query<RowDataPacket[]>('SELECT 7 AS seven');
    expect(rows[0]!.seven).toBe(7);
    await c.end();
  });

  it('stops reading the client while a verdict is pending, pipelined commands included, then goes on in order', async () => {
    const raw = await RawClient.login(port, { database: dbName });
    await raw.query('DELETE FROM log');
    // Two commands in one write: the second must wait behind the first one's verdict.
    raw.socket.write(Buffer.concat([framePayload(enc.encodeCommandText(Command.Query, "SELECT 'pending' AS p"), 0), framePayload(enc.encodeCommandText(Command.Query, "INSERT INTO log (note) VALUES ('after')"), 0)]));
    await new Promise((r) => setTimeout(r, 200));
    expect(gate.waiting.length).toBe(1);
    expect(gate.requests.at(-1)!.sql).toBe("SELECT 'pending' AS p");
    const check = await admin(dbName);
    const [before] = await check.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM log');
    expect(Number(before[0]!.n)).toBe(0);
    expect(await raw.quiet(10)).toBe(true);
    gate.waiting.shift()!(allow);
    const first = await raw.response();
    expect(first[3]!.payload.toString('latin1', 1)).toBe('pending');
    const second = await raw.response();
    expect(second[0]!.payload[0]).toBe(Header.Ok);
    const [after] = await check.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM log');
    expect(Number(after[0]!.n)).toBe(1);
    await check.end();
    raw.end();
  });

  it('cancels a held statement when its client goes away', async () => {
    const c = await connect({ via: port, database: dbName });
    void c.query("SELECT 'held'").catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(gate.waiting.length).toBe(1);
    c.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(gate.cancelled).toEqual(['disconnect']);
    gate.waiting.length = 0;
  });
});

describe('masking in the session', () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let port: number;
  beforeAll(async () => {
    // The shipped rules: `secret` columns are redacted (****), `phone` columns keep their last 4 digits.
    proxy = await startProxy({ masking: true, mysql: {}, extra: { masking: { key: 'test-mask-key-0123456789', workers: 2, offload: 'always' } } });
    port = proxy.mysql!.port;
  });
  afterAll(() => proxy.close());

  it('masks the rows of a cursor fetched in pieces, with the rewritten definitions sent with the prepare and the execute', async () => {
    // MariaDB's extended metadata in the definitions, as mysql2 asks for it: the rewrite must keep the layout.
    const raw = await RawClient.login(port, { database: dbName, mariaCapabilities: MariaCap.ExtendedMetadata });
    const p = await raw.prepare('SELECT id, secret, phone FROM people WHERE id > ? ORDER BY id');
    // The prepare describes the columns as the executes will: a client may decode binary rows by these.
    const prepared = p.packets.slice(3, 6).map((d) => dec.decodeColumnDefinition(d.payload, 0, d.payload.length, true));
    expect(prepared.map((d) => [d.name, d.type])).toEqual([['id', ColumnType.Long], ['secret', ColumnType.VarString], ['phone', ColumnType.VarString]]);
    expectConsecutive(p.packets, 1);
    raw.send(enc.encodeStmtExecute(p.id, 1, [{ type: ColumnType.Long, value: 0 }]));
    const opened = await raw.response({ cursor: true });
    const defs = opened.slice(1, 4).map((d) => dec.decodeColumnDefinition(d.payload, 0, d.payload.length, true));
    expect(defs.map((d) => [d.name, d.orgName, d.type])).toEqual([['id', 'id', ColumnType.Long], ['secret', 'secret', ColumnType.VarString], ['phone', 'phone', ColumnType.VarString]]);
    expectConsecutive(opened, 1);
    const rows: (string | null)[][] = [];
    for (let k = 0; k < 2; k++) {
      const fetched = await raw.fetch(p.id, 2);
      expectConsecutive(fetched, 1);
      for (const r of fetched.filter((x) => x.payload[0] === 0x00)) {
        const out = new Int32Array(6);
        dec.binaryRowValues(r.payload, 0, r.payload.length, [ColumnType.Long, ColumnType.VarString, ColumnType.VarString], out);
        rows.push([1, 2].map((i) => (out[2 * i]! < 0 ? null : r.payload.toString('latin1', out[2 * i], out[2 * i + 1]))));
      }
    }
    expect(rows).toEqual([['****', '******2671'], [null, null], ['****', '*1234']]);
    raw.end();
  });

  it('rewrites the definitions of a prepare and masks its executes without EOF packets (CLIENT_DEPRECATE_EOF)', async () => {
    const raw = await RawClient.login(port, { database: dbName, capabilities: baseCapabilities | Cap.DeprecateEof });
    expect(raw.deprecateEof).toBe(true);
    const p = await raw.prepare('SELECT name, phone FROM people WHERE id = ?');
    expect(p.packets).toHaveLength(4);
    expect(p.packets.slice(2).map((d) => dec.decodeColumnDefinition(d.payload, 0, d.payload.length, false).type)).toEqual([ColumnType.VarString, ColumnType.VarString]);
    expectConsecutive(p.packets, 1);
    raw.send(enc.encodeStmtExecute(p.id, 0, [{ type: ColumnType.Long, value: 1 }]));
    const result = await raw.response();
    expectConsecutive(result, 1);
    const row = result[3]!.payload;
    const out = new Int32Array(4);
    dec.binaryRowValues(row, 0, row.length, [ColumnType.VarString, ColumnType.VarString], out);
    expect([row.toString('latin1', out[0], out[1]), row.toString('latin1', out[2], out[3])]).toEqual(['ann', '******2671']);
    raw.end();
  });

  it('keeps sequence ids consecutive when masking a row of 16 MiB or more changes how many packets it takes', async () => {
    await ensureMaxAllowedPacket(64 * 1024 * 1024);
    const raw = await RawClient.login(port, { database: dbName, mariaCapabilities: MariaCap.ExtendedMetadata });
    // 17 MiB shrinks to 4 bytes: two packets become one; the row after it is renumbered to follow.
    const shrunk = await raw.query("SELECT REPEAT('s', 17 * 1024 * 1024) AS secret, 'tail' AS t UNION ALL SELECT 'x', 'next'");
    expectConsecutive(shrunk, 1);
    const small = shrunk.filter((x) => x.payload.length < 100 && x.payload.toString('latin1').startsWith('\x04****'));
    expect(small.map((x) => x.payload.toString('latin1'))).toEqual(['\x04****\x04tail', '\x04****\x04next']);
    // One byte grows to four in a row of 2 x 0xFFFFFF - 1 bytes (two packets): it needs three now.
    const big = 2 * 0xffffff - 1 - (2 + 9 + 5);
    const grown = await raw.query(`SELECT 'x' AS secret, REPEAT('g', ${big}) AS big, 'tail' AS t UNION ALL SELECT 'y', 'small', 'end'`);
    expectConsecutive(grown, 1);
    // The test client joins a row's packets (checking their ids): one row of three packets.
    const row = grown.find((x) => x.payload.length >= 0xffffff)!.payload;
    expect(row.length).toBe(2 * 0xffffff + 2);
    expect(physicalPackets(row.length)).toBe(3);
    expect(row.subarray(0, 5).toString('latin1')).toBe('\x04****');
    expect(row.subarray(-5).toString('latin1')).toBe('\x04tail');
    expect(grown.some((x) => x.payload.toString('latin1') === '\x04****\x05small\x03end')).toBe(true);
    // After enough rows that the workers mask them in batches: the big row waits for the batch before it.
    const mixed = await raw.query(
      `SELECT seq, 'x' AS secret, CONCAT('n', seq) AS note FROM seq_1_to_600 UNION ALL SELECT 601, REPEAT('s', ${17 * 1024 * 1024}), 'big' UNION ALL SELECT 602, 'y', 'last' ORDER BY 1`,
    );
    expectConsecutive(mixed, 1);
    const values = mixed.slice(5, -1).map((x) => {
      const out = new Int32Array(6);
      dec.textRowValues(x.payload, 0, x.payload.length, 3, out);
      return [0, 1, 2].map((i) => (out[2 * i + 1]! - out[2 * i]! > 100 ? 'long' : x.payload.toString('latin1', out[2 * i], out[2 * i + 1])));
    });
    expect(values).toEqual(Array.from({ length: 602 }, (_, i) => [String(i + 1), '****', i === 600 ? 'big' : i === 601 ? 'last' : `n${i + 1}`]));
    raw.end();
  });
});

describe('the audit', () => {
  it('hears of the session, each statement outcome (rows, affected rows, errors) and the end', async () => {
    const proxy = await startProxy({ mysql: {} });
    const c = await connect({ via: proxy.mysql!.port, database: dbName, multipleStatements: true });
    await c.query('SELECT * FROM seq_1_to_5');
    await c.query("INSERT INTO log (note) VALUES ('a'), ('b'); SELECT 1; DO 1");
    await caught(c.query('SELECT * FROM no_such_table'));
    await c.execute('SELECT id FROM people WHERE id > ?', [1]);
    await c.end();
    await new Promise((r) => setTimeout(r, 100));
    await proxy.close();
    const lines = readFileSync(proxy.app.config.audit.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => l.listener === 'my');
    expect(mine.map((l) => l.type)).toEqual(['session.open', 'execute', 'execute', 'execute', 'execute', 'execute', 'execute', 'session.close']);
    expect(mine[0]).toMatchObject({ protocol: 'mysql', identity: { user: 'root', database: dbName } });
    expect(mine.slice(1, 7).map((l) => [l.command, l.rows, l.error === undefined ? '' : 'error'])).toEqual([
      ['COM_QUERY', 5, ''],
      ['COM_QUERY', 2, ''],
      ['COM_QUERY', 1, ''],
      ['COM_QUERY', 0, ''],
      ['COM_QUERY', 0, 'error'],
      ['COM_STMT_EXECUTE', 2, ''],
    ]);
    expect(mine[5]!.error).toMatch(/^1146 \(42S02\): Table .*no_such_table' doesn't exist$/);
  });
});
