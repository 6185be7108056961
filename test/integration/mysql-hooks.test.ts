// The MySQL session's hooks, driven by scripted parts: every statement passes the gate (COM_QUERY,
// COM_STMT_PREPARE, each COM_STMT_EXECUTE, commands with an SQL meaning) with the settings the server reads
// it under; denials answer with an ERR and the session goes on; a pending verdict stops the client, pipelined
// commands included; result sets pass the row stage, text and binary, fetched by cursor, across 16 MiB;
// and the audit hears of sessions and statement outcomes.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { ProxyError } from '../../src/errors.js';
import * as dec from '../../src/wire/mysql/decode.js';
import * as enc from '../../src/wire/mysql/encode.js';
import { framePayload, physicalPackets } from '../../src/wire/mysql/frames.js';
import { ColumnType, Command, Header, MariaCap } from '../../src/wire/mysql/packets.js';
import { allow, type Gate, type Hold, type ResultInfo, type ResultTransform, type RowStage, type StatementRequest, type Verdict } from '../../src/session/hooks.js';
import { startProxy } from '../helpers/proxy.js';
import type { MysqlResultColumn, MysqlResultInfo } from '../../src/session/mysql-response.js';
import { admin, caught, connect, dropDatabase, freshDatabase } from '../helpers/mysql-clients.js';
import { RawClient, type Packet } from '../helpers/mysql-raw.js';

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

/**
 * Masks columns named (or originally named) `secret` as '***', renaming them `masked` in the description.
 * Its column definitions carry MariaDB's extended metadata, which mysql2 asks MariaDB for.
 */
class MaskSecret implements RowStage {
  readonly results: ResultInfo[] = [];
  ended = 0;
  constructor(
    private readonly replacement: Buffer = Buffer.from('***'),
    private readonly extendedMetadata = true,
  ) {}

  begin(result: ResultInfo): ResultTransform | null {
    this.results.push(result);
    const i = result.columns.findIndex((c) => c.name === 'secret' || c.originalName === 'secret');
    if (i < 0) return null;
    const n = result.columns.length;
    const types = Uint8Array.from(result.columns.map((c) => c.type));
    const binary = result.columns[0]!.format === 1;
    const offsets = new Int32Array(2 * n);
    const replacement = this.replacement;
    const packets = [framePayload(enc.encodeColumnCount(n), 0)];
    for (const c of result.columns) {
      const masked = c === result.columns[i];
      packets.push(
        framePayload(
          enc.encodeColumnDefinition({
            catalog: 'def', schema: c.schema ?? '', table: c.table ?? '', orgTable: c.table ?? '', name: masked ? 'masked' : c.name, orgName: c.originalName ?? '',
            characterSet: 45, columnLength: 1 << 24, type: masked ? ColumnType.VarString : c.type, flags: 0, decimals: 0,
          }, this.extendedMetadata),
          0,
        ),
      );
    }
    if (!binary) types.fill(ColumnType.VarString);
    else types[i] = ColumnType.VarString;
    return {
      description: Buffer.concat(packets),
      row: (buf, start, end) => {
        if (binary) dec.binaryRowValues(buf, start, end, result.columns.map((c) => c.type), offsets);
        else dec.textRowValues(buf, start, end, n, offsets);
        if (offsets[2 * i]! < 0) return buf.subarray(start, end);
        const values = result.columns.map((c, k) => {
          if (k === i) return replacement;
          const [s, e] = [offsets[2 * k]!, offsets[2 * k + 1]!];
          if (s < 0) return null;
          return binary ? dec.decodeBinaryValue(c.type, 0, buf, s, e) : buf.subarray(s, e);
        });
        return binary ? enc.encodeBinaryRow(types, values) : enc.encodeTextRow(values as (Buffer | null)[]);
      },
      end: () => void this.ended++,
    };
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
  await c.query("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(20), secret VARCHAR(40)); INSERT INTO people VALUES (1, 'ann', 's3cr3t'), (2, 'bob', NULL), (3, 'cy', '')");
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

describe('the row stage', () => {
  const stage = new MaskSecret();
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let port: number;
  beforeAll(async () => {
    proxy = await startProxy({ mysql: {} }, { rows: stage });
    port = proxy.mysql!.port;
  });
  afterAll(() => proxy.close());

  it('describes each result set by its columns (alias, schema, org_table, org_name, type, format, the definition as sent)', async () => {
    const c = await connect({ via: port, database: dbName });
    stage.results.length = 0;
    await c.query('SELECT p.name AS who, 1 + 1 AS two FROM people p WHERE id = 1');
    await c.execute('SELECT name FROM people WHERE id = ?', [1]);
    await c.end();
    const [who, two] = stage.results[0]!.columns as MysqlResultColumn[];
    expect(who).toMatchObject({ name: 'who', schema: dbName, table: 'people', originalName: 'name', type: ColumnType.VarString, format: 0, characterSet: 224 }); // mysql2's utf8mb4_unicode_ci
    expect(two).toMatchObject({ name: 'two', schema: '', table: '', originalName: '', type: ColumnType.Long, format: 0, characterSet: 63 });
    // The definition as sent, with what binary rows and rewritten definitions need: flags, decimals, extended metadata.
    expect(dec.decodeColumnDefinition(who!.definition, 0, who!.definition.length, true)).toMatchObject({ name: 'who', orgName: 'name', flags: who!.flags, decimals: who!.decimals });
    expect((stage.results[0] as MysqlResultInfo).extendedMetadata).toBe(true);
    expect(stage.results[1]!.columns[0]).toMatchObject({ name: 'name', originalName: 'name', format: 1 });
  });

  it('rewrites the description and the rows of text and binary results, aliased columns and multi-results included', async () => {
    const c = await connect({ via: port, database: dbName, multipleStatements: true });
    const [text] = await c.query<RowDataPacket[]>('SELECT id, secret AS s FROM people ORDER BY id');
    expect(text).toEqual([{ id: 1, masked: '***' }, { id: 2, masked: null }, { id: 3, masked: '***' }]);
    const [binary] = await c.execute<RowDataPacket[]>('SELECT id, secret, name FROM people WHERE id >= ? ORDER BY id', [1]);
    expect(binary).toEqual([{ id: 1, masked: '***', name: 'ann' }, { id: 2, masked: null, name: 'bob' }, { id: 3, masked: '***', name: 'cy' }]);
    const [multi] = await c.query<RowDataPacket[][]>('SELECT secret FROM people WHERE id = 1; SELECT name FROM people WHERE id = 1');
    expect(multi).toEqual([[{ masked: '***' }], [{ name: 'ann' }]]);
    await c.end();
  });

  it('masks the rows of a cursor fetched in pieces, with the rewritten metadata sent once', async () => {
    // Asking for extended metadata, as mysql2 does: the scripted stage writes its definitions that way.
    const raw = await RawClient.login(port, { database: dbName, mariaCapabilities: MariaCap.ExtendedMetadata });
    const p = await raw.prepare('SELECT id, secret FROM people ORDER BY id');
    raw.send(enc.encodeStmtExecute(p.id, 1, []));
    const opened = await raw.response({ cursor: true });
    expect(dec.decodeColumnDefinition(opened[2]!.payload, 0, opened[2]!.payload.length, true).name).toBe('masked');
    const rows: (string | null)[] = [];
    for (let k = 0; k < 2; k++) {
      for (const r of (await raw.fetch(p.id, 2)).filter((x) => x.payload[0] === 0x00)) {
        const out = new Int32Array(4);
        dec.binaryRowValues(r.payload, 0, r.payload.length, [ColumnType.Long, ColumnType.VarString], out);
        rows.push(out[2]! < 0 ? null : r.payload.toString('latin1', out[2], out[3]));
      }
    }
    expect(rows).toEqual(['***', null, '***']);
    raw.end();
  });

  it('keeps sequence ids consecutive when a transformed row needs fewer or more 16 MiB packets than the original', async () => {
    await (async () => {
      const c = await admin();
      await c.query(`SET GLOBAL max_allowed_packet = ${64 * 1024 * 1024}`);
      await c.end();
    })();
    const raw = await RawClient.login(port, { database: dbName, mariaCapabilities: MariaCap.ExtendedMetadata });
    // 17 MiB shrinks to 3 bytes: two packets become one.
    const shrunk = await raw.query("SELECT REPEAT('s', 17 * 1024 * 1024) AS secret, 'tail' AS t");
    expectConsecutive(shrunk, 1);
    const row = shrunk.find((x) => x.payload.length < 100 && x.payload.includes('tail'))!;
    expect(row.payload.toString('latin1')).toContain('***');
    raw.end();
    // 3 bytes grow to 17 MiB: one packet becomes two.
    const growing = await startProxy({ mysql: {} }, { rows: new MaskSecret(Buffer.alloc(17 * 1024 * 1024, 0x47)) });
    const raw2 = await RawClient.login(growing.mysql!.port, { database: dbName, mariaCapabilities: MariaCap.ExtendedMetadata });
    const grown = await raw2.query("SELECT 'abc' AS secret, 'tail' AS t UNION ALL SELECT 'x', 'y'");
    expectConsecutive(grown, 1);
    expect(grown.filter((x) => x.payload.length > 16 * 1024 * 1024).length).toBe(2);
    raw2.end();
    await growing.close();
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
