// MySQL codecs by round trip (decode(encode(x)) == x and encode(decode(bytes)) == bytes), against packets
// another implementation (mysql2) built or parses, and by fuzzing: a decoder given any bytes returns or
// throws a WireError, never anything else.
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../../src/wire/bytes.js';
import * as dec from '../../../src/wire/mysql/decode.js';
import * as enc from '../../../src/wire/mysql/encode.js';
import { Cap, ColumnFlag, ColumnType, Command, MariaCap, Status, charsetOfCollation, versionNumber } from '../../../src/wire/mysql/packets.js';

// mysql2's own packet classes (not in its package exports: loaded by path).
const require = createRequire(import.meta.url);
const mysql2Lib = (file: string) => require(path.join(path.dirname(require.resolve('mysql2')), 'lib', 'packets', file));
const HandshakeResponse = mysql2Lib('handshake_response.js');
const Handshake = mysql2Lib('handshake.js');
const Packet = mysql2Lib('packet.js');
const MysqlColumnDefinition = mysql2Lib('column_definition.js');

/** A greeting as MariaDB 10.11 sent it (captured), header included. */
const mariaGreeting = Buffer.from(
  '640000000a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531001a0200006444634a267d6563' +
    '00fef72d0200ff81150000000000001d00000040556d43446d7730266d737a006d7973716c5f6e61746976655f70617373776f726400',
  'hex',
);

describe('HandshakeV10', () => {
  it('decodes a MariaDB greeting and re-encodes it byte for byte', () => {
    const p = mariaGreeting.subarray(4);
    const g = dec.decodeHandshakeV10(p, 0, p.length);
    expect(g).toMatchObject({ protocolVersion: 10, serverVersion: '5.5.5-10.11.19-MariaDB-0+deb12u1', connectionId: 538, authPluginName: 'mysql_native_password', characterSet: 45 });
    expect(dec.hasMariaCapabilities(g.capabilities)).toBe(true);
    expect(g.mariaCapabilities & MariaCap.ExtendedMetadata).toBeTruthy();
    expect(dec.scrambleOf(g.authPluginData).length).toBe(20);
    expect(enc.encodeHandshakeV10(g).equals(p)).toBe(true);
    expect(versionNumber(g.serverVersion)).toBe(101119);
  });

  it('reads a greeting mysql2 writes, and mysql2 reads the one it writes back', () => {
    const h = new Handshake({
      protocolVersion: 10, serverVersion: '8.0.36', capabilityFlags: (0xffffffff & ~Cap.Ssl) >>> 0, connectionId: 4242,
      authPluginData1: Buffer.from('abcdefgh'), authPluginData2: Buffer.from('ijklmnopqrst'), characterSet: 255, statusFlags: 2,
    });
    const bytes: Buffer = h.toPacket(0).buffer;
    const g = dec.decodeHandshakeV10(bytes, 4, bytes.length);
    expect(g).toMatchObject({ serverVersion: '8.0.36', connectionId: 4242, characterSet: 255, statusFlags: 2, authPluginName: 'mysql_native_password' });
    expect(dec.scrambleOf(g.authPluginData).toString()).toBe('abcdefghijklmnopqrst');
    expect(versionNumber(g.serverVersion)).toBe(80036);
    const again = enc.encodeHandshakeV10(g);
    const parsed = Handshake.fromPacket(new Packet(0, Buffer.concat([Buffer.alloc(4), again]), 0, again.length + 4));
    expect(parsed.connectionId).toBe(4242);
    expect(parsed.capabilityFlags >>> 0).toBe(g.capabilities);
  });
});

describe('HandshakeResponse41', () => {
  it('decodes what mysql2 sends (attributes, lenenc auth data, database, plugin) and re-encodes it exactly', () => {
    for (const database of ['app', '']) {
      const flags = Cap.Protocol41 | Cap.SecureConnection | Cap.PluginAuth | Cap.PluginAuthLenencData | Cap.ConnectAttrs | Cap.LongFlag | (database ? Cap.ConnectWithDb : 0);
      const r = new HandshakeResponse({
        user: 'alice', database, flags, charsetNumber: 45, authToken: Buffer.alloc(20, 7), authPluginName: 'mysql_native_password',
        connectAttributes: { _client_name: 'Node-MySQL-2', program_name: 'billing' }, mariadbExtendedClientFlags: MariaCap.ExtendedMetadata,
      });
      const bytes: Buffer = r.toPacket().buffer;
      const hr = dec.decodeHandshakeResponse41(bytes, 4, bytes.length);
      expect(hr).toMatchObject({ user: 'alice', characterSet: 45, authPluginName: 'mysql_native_password', mariaCapabilities: MariaCap.ExtendedMetadata });
      expect(hr.database).toBe(database || undefined);
      expect(hr.authResponse).toEqual(Buffer.alloc(20, 7));
      expect(Object.fromEntries(hr.attributes!)).toEqual({ _client_name: 'Node-MySQL-2', program_name: 'billing' });
      expect(enc.encodeHandshakeResponse41(hr).equals(bytes.subarray(4))).toBe(true);
    }
  });

  it('round-trips every optional field combination', () => {
    fc.assert(
      fc.property(
        fc.record({
          lenenc: fc.boolean(), secure: fc.boolean(), db: fc.option(fc.string({ maxLength: 10 }).filter((s) => !s.includes('\0')), { nil: undefined }),
          plugin: fc.option(fc.constantFrom('mysql_native_password', 'caching_sha2_password', 'client_ed25519'), { nil: undefined }),
          attrs: fc.option(fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 300 })), { maxLength: 4 }), { nil: undefined }),
          auth: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a.map((b) => b || 1))),
        }),
        (f) => {
          const capabilities =
            (Cap.Protocol41 | (f.lenenc ? Cap.PluginAuthLenencData : 0) | (f.secure ? Cap.SecureConnection : 0) | (f.db !== undefined ? Cap.ConnectWithDb : 0) |
              (f.plugin !== undefined ? Cap.PluginAuth : 0) | (f.attrs !== undefined ? Cap.ConnectAttrs : 0)) >>> 0;
          const auth = f.lenenc || f.secure ? f.auth : f.auth.subarray(0, Math.min(f.auth.length, 250));
          const hr: dec.HandshakeResponse41 = {
            capabilities, maxPacketSize: 1 << 24, characterSet: 33, filler: Buffer.alloc(19), mariaCapabilities: 0, user: 'u',
            authResponse: auth,
            database: f.db, authPluginName: f.plugin, attributes: f.attrs, extra: Buffer.alloc(0),
          };
          const bytes = enc.encodeHandshakeResponse41(hr);
          const back = dec.decodeHandshakeResponse41(bytes, 0, bytes.length);
          expect(enc.encodeHandshakeResponse41(back).equals(bytes)).toBe(true);
          expect(back.database).toBe(f.db === '' && f.plugin === undefined && f.attrs === undefined ? '' : f.db);
          expect(back.authPluginName).toBe(f.plugin);
        },
      ),
    );
  });

  it('reads an SSLRequest: the first 32 bytes of a response, with CLIENT_SSL', () => {
    const req = { capabilities: (Cap.Protocol41 | Cap.Ssl | Cap.SecureConnection) >>> 0, maxPacketSize: 16777216, characterSet: 45, mariaCapabilities: 4 };
    const bytes = enc.encodeSSLRequest(req);
    expect(bytes.length).toBe(dec.sslRequestLength);
    expect(dec.decodeSSLRequest(bytes, 0, bytes.length)).toEqual(req);
  });

  it('refuses the pre-4.1 protocol with a clear error', () => {
    const bytes = Buffer.alloc(40);
    expect(() => dec.decodeHandshakeResponse41(bytes, 0, bytes.length)).toThrow('HandshakeResponse: the pre-4.1 protocol is not supported');
  });
});

describe('generic responses', () => {
  it('round-trips OK, ERR and EOF packets and reads their status flags without allocating', () => {
    const ok = enc.encodeOk({ affectedRows: 70000, lastInsertId: 2 ** 40, statusFlags: Status.MoreResultsExist | Status.Autocommit, warnings: 3, info: 'Rows matched: 1' });
    expect(dec.decodeOk(ok, 0, ok.length, 0)).toEqual({ affectedRows: 70000, lastInsertId: 2 ** 40, statusFlags: 0x0a, warnings: 3, info: 'Rows matched: 1', sessionState: undefined });
    expect(dec.endStatusFlags(ok, 0, ok.length, true)).toBe(0x0a);
    const okFe = enc.encodeOk({ header: 0xfe, statusFlags: Status.CursorExists });
    expect(dec.endStatusFlags(okFe, 0, okFe.length, true)).toBe(Status.CursorExists);
    const eof = enc.encodeEof(Status.LastRowSent, 1);
    expect(dec.decodeEof(eof, 0, eof.length)).toEqual({ warnings: 1, statusFlags: Status.LastRowSent });
    expect(dec.endStatusFlags(eof, 0, eof.length, false)).toBe(Status.LastRowSent);
    const err = enc.encodeErr(1227, '42000', 'sqlwarden: denied');
    expect(dec.decodeErr(err, 0, err.length)).toEqual({ code: 1227, sqlState: '42000', message: 'sqlwarden: denied' });
    expect(dec.isProgressReport(err, 0, err.length)).toBe(false);
    const progress = Buffer.from([0xff, 0xff, 0xff, 1, 1, 2, 0, 0, 0]);
    expect(dec.isProgressReport(progress, 0, progress.length)).toBe(true);
  });

  it('reads session state changes (system variables) from an OK packet', () => {
    const variable = new enc.PayloadWriter().lenencString('sql_mode').lenencString('ANSI_QUOTES,NO_BACKSLASH_ESCAPES').finish();
    const schema = new enc.PayloadWriter().lenencString('shop').finish();
    const state = new enc.PayloadWriter().u8(0).lenencBytes(variable).u8(1).lenencBytes(schema).finish();
    const ok = new enc.PayloadWriter().u8(0).lenenc(0).lenenc(0).u16(Status.SessionStateChanged).u16(0).lenencString('').lenencBytes(state).finish();
    const decoded = dec.decodeOk(ok, 0, ok.length, Cap.SessionTrack);
    const changes = dec.decodeSessionState(decoded.sessionState!);
    expect(changes.map((c) => c.type)).toEqual([0, 1]);
    expect(dec.decodeSystemVariable(changes[0]!.data)).toEqual(['sql_mode', 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES']);
  });

  it('names the character set of a collation, and says when it does not know', () => {
    expect([45, 224, 255, 33, 8, 63, 28].map(charsetOfCollation)).toEqual(['utf8mb4', 'utf8mb4', 'utf8mb4', 'utf8mb3', 'latin1', 'binary', 'gbk']);
    expect(charsetOfCollation(2048)).toBeNull();
  });
});

describe('column definitions', () => {
  const def: dec.ColumnDefinition = {
    catalog: 'def', schema: 'shop', table: 'c', orgTable: 'customers', name: 'mail', orgName: 'email',
    characterSet: 45, columnLength: 1020, type: ColumnType.VarString, flags: ColumnFlag.NotNull, decimals: 0,
  };

  it('round-trips with and without MariaDB extended metadata and the COM_FIELD_LIST default', () => {
    const plain = enc.encodeColumnDefinition(def);
    expect(dec.decodeColumnDefinition(plain, 0, plain.length)).toEqual(def);
    const ext = { ...def, extendedTypeName: 'json', extendedFormat: 'x' };
    const withExt = enc.encodeColumnDefinition(ext, true);
    expect(dec.decodeColumnDefinition(withExt, 0, withExt.length, true)).toEqual(ext);
    const withDefault = { ...def, defaultValue: Buffer.from('n/a') };
    const fl = enc.encodeColumnDefinition(withDefault, false, true);
    expect(dec.decodeColumnDefinition(fl, 0, fl.length, false, true)).toEqual(withDefault);
  });

  it('is read by mysql2 as it reads the server', () => {
    const bytes = Buffer.concat([Buffer.alloc(4), enc.encodeColumnDefinition(def)]);
    const col = new MysqlColumnDefinition(new Packet(0, bytes, 0, bytes.length), 'utf8');
    expect({ db: col.schema, table: col.table, orgTable: col.orgTable, name: col.name, orgName: col.orgName, type: col.columnType, length: col.columnLength }).toEqual({
      db: 'shop', table: 'c', orgTable: 'customers', name: 'mail', orgName: 'email', type: ColumnType.VarString, length: 1020,
    });
  });

  it('decodes COM_STMT_PREPARE_OK', () => {
    const ok = enc.encodeStmtPrepareOk({ statementId: 0xfffffffe, columns: 3, params: 2, warnings: 1 });
    expect(dec.decodeStmtPrepareOk(ok, 0, ok.length)).toEqual({ statementId: 0xfffffffe, columns: 3, params: 2, warnings: 1 });
  });
});

/** One generator per binary type, with the value as decodeBinaryValue returns it. */
const binaryColumns: { type: number; flags: number; value: fc.Arbitrary<dec.BinaryValue> }[] = [
  { type: ColumnType.Tiny, flags: 0, value: fc.integer({ min: -128, max: 127 }) },
  { type: ColumnType.Tiny, flags: ColumnFlag.Unsigned, value: fc.integer({ min: 0, max: 255 }) },
  { type: ColumnType.Short, flags: 0, value: fc.integer({ min: -32768, max: 32767 }) },
  { type: ColumnType.Short, flags: ColumnFlag.Unsigned, value: fc.integer({ min: 0, max: 65535 }) },
  { type: ColumnType.Year, flags: ColumnFlag.Unsigned, value: fc.integer({ min: 1901, max: 2155 }) },
  { type: ColumnType.Int24, flags: 0, value: fc.integer({ min: -8388608, max: 8388607 }) },
  { type: ColumnType.Long, flags: 0, value: fc.integer({ min: -2147483648, max: 2147483647 }) },
  { type: ColumnType.Long, flags: ColumnFlag.Unsigned, value: fc.integer({ min: 0, max: 4294967295 }) },
  { type: ColumnType.LongLong, flags: 0, value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) },
  { type: ColumnType.LongLong, flags: ColumnFlag.Unsigned, value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
  { type: ColumnType.Float, flags: 0, value: fc.float({ noNaN: true }).map((f) => Math.fround(f)) },
  { type: ColumnType.Double, flags: 0, value: fc.double({ noNaN: true }) },
  {
    type: ColumnType.Date, flags: 0,
    value: fc.record({ year: fc.integer({ min: 0, max: 9999 }), month: fc.integer({ min: 0, max: 12 }), day: fc.integer({ min: 0, max: 31 }) }).map((d) => ({ ...d, hour: 0, minute: 0, second: 0, microsecond: 0 })),
  },
  ...[ColumnType.DateTime, ColumnType.Timestamp].map((type) => ({
    type, flags: 0,
    value: fc.record({
      year: fc.integer({ min: 1, max: 9999 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 31 }),
      hour: fc.integer({ min: 0, max: 23 }), minute: fc.integer({ min: 0, max: 59 }), second: fc.integer({ min: 0, max: 59 }), microsecond: fc.integer({ min: 0, max: 999999 }),
    }) as fc.Arbitrary<dec.BinaryValue>,
  })),
  {
    type: ColumnType.Time, flags: 0,
    value: fc.record({
      negative: fc.boolean(), days: fc.integer({ min: 0, max: 34 }), hours: fc.integer({ min: 0, max: 23 }), minutes: fc.integer({ min: 0, max: 59 }),
      seconds: fc.integer({ min: 0, max: 59 }), microseconds: fc.integer({ min: 0, max: 999999 }),
    }).map((t) => (t.days || t.hours || t.minutes || t.seconds || t.microseconds ? t : { ...t, negative: false })),
  },
  ...[ColumnType.NewDecimal, ColumnType.Json, ColumnType.Bit, ColumnType.Enum, ColumnType.Set, ColumnType.VarString, ColumnType.String, ColumnType.Blob, ColumnType.Geometry].map((type) => ({
    type, flags: 0,
    value: fc.oneof({ arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 9 }, { arbitrary: fc.constant(new Uint8Array(70_000).fill(9)), weight: 1 }).map((a) => Buffer.from(a)) as fc.Arbitrary<dec.BinaryValue>,
  })),
];

describe('binary rows', () => {
  it('round-trips a row of every type, NULLs anywhere, through encode, offsets and decode', () => {
    const row = fc.array(fc.nat(binaryColumns.length - 1), { minLength: 1, maxLength: 40 }).chain((cols) =>
      fc.tuple(fc.constant(cols), fc.tuple(...cols.map((c) => fc.option(binaryColumns[c]!.value, { nil: null, freq: 4 })))),
    );
    fc.assert(
      fc.property(row, ([cols, values]) => {
        const types = Uint8Array.from(cols.map((c) => binaryColumns[c]!.type));
        const bytes = enc.encodeBinaryRow(types, values);
        const offsets = new Int32Array(2 * cols.length);
        dec.binaryRowValues(bytes, 0, bytes.length, types, offsets);
        cols.forEach((c, i) => {
          const { type, flags } = binaryColumns[c]!;
          const v = offsets[2 * i]! < 0 ? null : dec.decodeBinaryValue(type, flags, bytes, offsets[2 * i]!, offsets[2 * i + 1]!);
          const want = values[i];
          // Buffers by equals(): a deep toEqual over 70 kB is needlessly slow.
          if (Buffer.isBuffer(want)) expect(Buffer.isBuffer(v) && want.equals(v)).toBe(true);
          else expect(v).toEqual(want);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a truncated binary row with a WireError naming the column', () => {
    const types = [ColumnType.Long, ColumnType.VarString];
    const bytes = enc.encodeBinaryRow(types, [5, Buffer.from('hello')]);
    const out = new Int32Array(4);
    expect(() => dec.binaryRowValues(bytes, 0, bytes.length - 1, types, out)).toThrow('binary row: column 2 truncated');
  });
});

describe('text rows', () => {
  it('finds every value, NULL and empty included, across all length-encoding sizes', () => {
    const values = [null, '', 'a', 'x'.repeat(250), 'y'.repeat(251), 'z'.repeat(65536), null, '✓'];
    const bytes = enc.encodeTextRow(values);
    const out = new Int32Array(2 * values.length);
    dec.textRowValues(bytes, 0, bytes.length, values.length, out);
    values.forEach((v, i) => {
      if (v === null) expect(out[2 * i]).toBe(-1);
      else expect(bytes.toString('utf8', out[2 * i]!, out[2 * i + 1]!)).toBe(v);
    });
    expect(() => dec.textRowValues(bytes, 0, bytes.length, values.length - 1, out)).toThrow(/unexpected trailing bytes/);
  });
});

describe('commands', () => {
  it('decodes COM_STMT_EXECUTE with its parameters, COM_CHANGE_USER and statement commands', () => {
    const x = enc.encodeStmtExecute(77, 1, [{ type: ColumnType.LongLong, value: 5n }, { type: ColumnType.VarString, value: null }]);
    expect(dec.decodeStmtExecute(x, 0, x.length)).toEqual({ statementId: 77, flags: 1, iterations: 1 });
    const close = enc.encodeStatementCommand(Command.StmtClose, 9);
    expect(dec.decodeStatementId(close, 0, close.length)).toBe(9);
    const cu = new enc.PayloadWriter().u8(Command.ChangeUser).cstring('bob').u8(3).bytes(Buffer.from([1, 2, 3])).cstring('db2').u16(45).cstring('client_ed25519').finish();
    expect(dec.decodeChangeUser(cu, 0, cu.length, Cap.SecureConnection | Cap.PluginAuth)).toEqual({
      user: 'bob', authResponse: Buffer.from([1, 2, 3]), database: 'db2', characterSet: 45, authPluginName: 'client_ed25519',
    });
    const q = enc.encodeCommandText(Command.Query, 'SELECT ✓');
    expect(dec.decodeCommandText(q, 0, q.length)).toBe('SELECT ✓');
  });
});

describe('decoders on arbitrary bytes', () => {
  const decoders: [string, (b: Buffer) => unknown][] = [
    ['HandshakeV10', (b) => dec.decodeHandshakeV10(b, 0, b.length)],
    ['HandshakeResponse41', (b) => dec.decodeHandshakeResponse41(b, 0, b.length)],
    ['SSLRequest', (b) => dec.decodeSSLRequest(b, 0, b.length)],
    ['AuthSwitchRequest', (b) => dec.decodeAuthSwitchRequest(b, 0, b.length)],
    ['OK', (b) => dec.decodeOk(b, 0, b.length, Cap.SessionTrack)],
    ['ERR', (b) => dec.decodeErr(b, 0, b.length)],
    ['EOF', (b) => dec.decodeEof(b, 0, b.length)],
    ['endStatusFlags', (b) => [dec.endStatusFlags(b, 0, b.length, true), dec.endStatusFlags(b, 0, b.length, false)]],
    ['column count', (b) => dec.decodeColumnCount(b, 0, b.length)],
    ['column definition', (b) => [dec.decodeColumnDefinition(b, 0, b.length, true, true)]],
    ['column definition (plain)', (b) => dec.decodeColumnDefinition(b, 0, b.length)],
    ['PREPARE_OK', (b) => dec.decodeStmtPrepareOk(b, 0, b.length)],
    ['text row', (b) => dec.textRowValues(b, 0, b.length, 3, new Int32Array(6))],
    ['binary row', (b) => dec.binaryRowValues(b, 0, b.length, [ColumnType.Long, ColumnType.DateTime, ColumnType.Blob, ColumnType.Time], new Int32Array(8))],
    ['COM_STMT_EXECUTE', (b) => dec.decodeStmtExecute(b, 0, b.length)],
    ['statement id', (b) => dec.decodeStatementId(b, 0, b.length)],
    ['COM_CHANGE_USER', (b) => dec.decodeChangeUser(b, 0, b.length, Cap.SecureConnection | Cap.PluginAuth | Cap.ConnectAttrs)],
    ['session state', (b) => dec.decodeSessionState(b).map((c) => dec.decodeSystemVariable(c.data))],
  ];

  it('either decode or throw a WireError, for random bytes and for mutations of valid packets', () => {
    const valid = [
      mariaGreeting.subarray(4),
      enc.encodeHandshakeResponse41({ capabilities: (Cap.Protocol41 | Cap.PluginAuthLenencData | Cap.ConnectWithDb | Cap.PluginAuth | Cap.ConnectAttrs) >>> 0, maxPacketSize: 0, characterSet: 45, filler: Buffer.alloc(19), mariaCapabilities: 0, user: 'u', authResponse: Buffer.alloc(20, 1), database: 'd', authPluginName: 'p', attributes: [['a', 'b']], extra: Buffer.alloc(0) }),
      enc.encodeColumnDefinition({ catalog: 'def', schema: 's', table: 't', orgTable: 't', name: 'n', orgName: 'n', characterSet: 45, columnLength: 4, type: 3, flags: 0, decimals: 0 }, true, true),
      enc.encodeBinaryRow([ColumnType.Long, ColumnType.DateTime, ColumnType.Blob, ColumnType.Time], [1, { year: 2020, month: 1, day: 2, hour: 3, minute: 4, second: 5, microsecond: 6 }, Buffer.from('x'), null]),
      enc.encodeOk({ statusFlags: 2, info: 'x' }),
    ];
    const mutated = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.nat()).map(([b, edits, cut]) => {
      const copy = Buffer.from(b);
      for (const [at, v] of edits) copy[at % copy.length] = v;
      return copy.subarray(0, cut % (copy.length + 1));
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), mutated), (bytes) => {
        for (const [name, decode] of decoders) {
          try {
            decode(bytes);
          } catch (err) {
            if (!(err instanceof WireError)) throw new Error(`${name} threw ${(err as Error).name}: ${(err as Error).message}`);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
