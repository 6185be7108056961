// PostgreSQL decoders against frames built by pg-protocol (frontend) and by test/helpers/pg-buffers.ts
// (backend); encoders decoded back by our decoders and by pg-protocol's own parser; every decoder fuzzed with
// random and mutated bytes: it returns or throws WireError, never a RangeError or anything else.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { parse, serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import * as dec from '../../../src/wire/postgres/decode.js';
import * as enc from '../../../src/wire/postgres/encode.js';
import { WireError } from '../../../src/wire/bytes.js';
import { AuthCode, Back } from '../../../src/wire/postgres/messages.js';
import { backend, frame, frontend, BufferList } from '../../helpers/pg-buffers.js';

type Decoder = (buf: Buffer, start: number, end: number) => unknown;

/** Decodes a whole frame placed inside a larger buffer, so a decoder that ignores (start, end) is caught. */
function inside<T>(decode: (buf: Buffer, start: number, end: number) => T, bytes: Buffer): T {
  const before = Buffer.from('<before>');
  const after = Buffer.from('\0after\0\0\0\0\0\0\0\0');
  const buf = Buffer.concat([before, bytes, after]);
  return decode(buf, before.length, before.length + bytes.length);
}

function wireError(fn: () => unknown): WireError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WireError) return err;
    throw new Error(`expected a WireError, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  throw new Error('expected a WireError, but it decoded');
}

/** pg-protocol's own parser, fed through a stream as a client would. */
async function pgParse(bytes: Buffer): Promise<BackendMessage[]> {
  const stream = new PassThrough();
  const out: BackendMessage[] = [];
  const done = parse(stream, (m) => void out.push(m));
  stream.end(bytes);
  await done;
  return out;
}

// ---- startup phase ----

describe('decodeStartupPacket', () => {
  it('reads the protocol version and every parameter of a StartupMessage', () => {
    const p = inside(dec.decodeStartupPacket, serialize.startup({ user: 'alice', database: 'app', options: '-c search_path=x', application_name: 'héllo ✓' }));
    expect(p).toEqual({
      kind: 'startup',
      major: 3,
      minor: 0,
      params: new Map([
        ['user', 'alice'],
        ['database', 'app'],
        ['options', '-c search_path=x'],
        ['application_name', 'héllo ✓'],
        ['client_encoding', 'UTF8'],
      ]),
    });
  });

  it('reads protocol 3.2 and an empty parameter list', () => {
    expect(inside(dec.decodeStartupPacket, frontend.startup({}, 3, 2))).toEqual({ kind: 'startup', major: 3, minor: 2, params: new Map() });
  });

  it('recognizes SSLRequest, GSSENCRequest and CancelRequest with 4-byte and 32-byte keys', () => {
    expect(inside(dec.decodeStartupPacket, serialize.requestSsl())).toEqual({ kind: 'ssl' });
    expect(inside(dec.decodeStartupPacket, frontend.gssencRequest())).toEqual({ kind: 'gssenc' });
    const cancel = inside(dec.decodeStartupPacket, serialize.cancel(4242, 0x01020304));
    expect(cancel).toEqual({ kind: 'cancel', processId: 4242, key: Buffer.from([1, 2, 3, 4]) });
    const longKey = Buffer.alloc(32, 0xab);
    expect(inside(dec.decodeStartupPacket, frontend.cancelRequest(7, longKey))).toEqual({ kind: 'cancel', processId: 7, key: longKey });
  });

  it('refuses a parameter list without its terminator, and bytes after it', () => {
    const ok = serialize.startup({ user: 'u' });
    expect(wireError(() => inside(dec.decodeStartupPacket, ok.subarray(0, ok.length - 1))).message).toMatch(/unterminated string/);
    expect(wireError(() => inside(dec.decodeStartupPacket, Buffer.concat([ok, Buffer.from('x')]))).message).toMatch(/trailing/);
    // A name without its value.
    const half = new BufferList().addInt32(196608).addCString('user').joinStartup();
    expect(wireError(() => inside(dec.decodeStartupPacket, half)).message).toMatch(/startup packet/);
  });
});

// ---- frontend ----

describe('frontend decoders on frames from pg-protocol serialize', () => {
  it('decodeQuery reads the SQL, including empty and non-ASCII text', () => {
    expect(inside(dec.decodeQuery, serialize.query('select 1'))).toEqual({ sql: 'select 1' });
    expect(inside(dec.decodeQuery, serialize.query(''))).toEqual({ sql: '' });
    expect(inside(dec.decodeQuery, serialize.query("select 'ünïcødé ✓ 😀'"))).toEqual({ sql: "select 'ünïcødé ✓ 😀'" });
  });

  it('decodeQuery refuses text without its NUL and bytes after it', () => {
    expect(wireError(() => inside(dec.decodeQuery, frame('Q', Buffer.from('select 1')))).message).toBe('Query: unterminated string');
    expect(wireError(() => inside(dec.decodeQuery, frame('Q', Buffer.from('select 1\0; drop table x\0')))).message).toMatch(/Query: \d+ unexpected trailing bytes/);
  });

  it('decodeParse reads the statement name, SQL and parameter types (full OID range)', () => {
    expect(inside(dec.decodeParse, serialize.parse({ name: 's1', text: 'select $1, $2', types: [23, 25] }))).toEqual({
      statement: 's1',
      sql: 'select $1, $2',
      paramTypes: [23, 25],
    });
    expect(inside(dec.decodeParse, serialize.parse({ text: 'select 1' }))).toEqual({ statement: '', sql: 'select 1', paramTypes: [] });
    const bigOid = new BufferList().addCString('').addCString('select $1').addInt16(1).addInt32(0xfffffff0).join('P');
    expect(inside(dec.decodeParse, bigOid).paramTypes).toEqual([0xfffffff0]);
  });

  it('decodeParse reads the type count unsigned, as the server does: 0xFFFF types that are not there is truncation', () => {
    const lying = new BufferList().addCString('').addCString('select 1').addInt16(0xffff).join('P');
    expect(wireError(() => inside(dec.decodeParse, lying)).message).toBe('Parse: truncated');
  });

  it('decodeBind reads text, binary, empty and NULL parameters and the result formats', () => {
    const bytes = serialize.bind({ portal: 'p1', statement: 's1', values: ['42', null, Buffer.from([0, 1, 2, 255]), ''], binary: true });
    const b = inside(dec.decodeBind, bytes);
    expect(b).toEqual({
      portal: 'p1',
      statement: 's1',
      paramFormats: [0, 0, 1, 0],
      params: [Buffer.from('42'), null, Buffer.from([0, 1, 2, 255]), Buffer.alloc(0)],
      resultFormats: [1],
    });
    expect(inside(dec.decodeBindNames, bytes)).toEqual({ portal: 'p1', statement: 's1' });
    expect(inside(dec.decodeBind, serialize.bind())).toEqual({ portal: '', statement: '', paramFormats: [], params: [], resultFormats: [0] });
  });

  it('decodeBindResultFormats steps over the values and reads what decodeBind reads', () => {
    for (const bytes of [serialize.bind(), serialize.bind({ portal: 'p', statement: 's', values: ['42', null, Buffer.from([1, 2]), ''], binary: true })]) {
      const full = inside(dec.decodeBind, bytes);
      expect(inside(dec.decodeBindResultFormats, bytes)).toEqual({ portal: full.portal, statement: full.statement, resultFormats: full.resultFormats });
    }
    const long = new BufferList().addCString('').addCString('').addInt16(0).addInt16(1).addInt32(100).add(Buffer.from('abc')).addInt16(0).join('B');
    expect(wireError(() => inside(dec.decodeBindResultFormats, long)).message).toBe('Bind: truncated');
  });

  it('decodeBind returns parameter values as views into the message, not copies', () => {
    const bytes = serialize.bind({ values: ['abc'] });
    const b = dec.decodeBind(bytes, 0, bytes.length);
    expect(b.params[0]!.buffer).toBe(bytes.buffer);
  });

  it('decodeBind refuses a parameter length below -1 and one past the end', () => {
    const negative = new BufferList().addCString('').addCString('').addInt16(0).addInt16(1).addInt32(-2).addInt16(0).join('B');
    expect(wireError(() => inside(dec.decodeBind, negative)).message).toBe('Bind: negative length');
    const long = new BufferList().addCString('').addCString('').addInt16(0).addInt16(1).addInt32(100).add(Buffer.from('abc')).addInt16(0).join('B');
    expect(wireError(() => inside(dec.decodeBind, long)).message).toBe('Bind: truncated');
  });

  it('decodeBind reads the counts unsigned, as the server does', () => {
    const lying = new BufferList().addCString('').addCString('').addInt16(0).addInt16(0xffff).addInt16(0).join('B');
    expect(wireError(() => inside(dec.decodeBind, lying)).message).toBe('Bind: truncated');
  });

  it('decodeTarget reads Describe and Close of statements and portals, named and unnamed', () => {
    expect(inside(dec.decodeTarget, serialize.describe({ type: 'S', name: 's1' }))).toEqual({ target: 'S', name: 's1' });
    expect(inside(dec.decodeTarget, serialize.describe({ type: 'P' }))).toEqual({ target: 'P', name: '' });
    expect(inside(dec.decodeTarget, serialize.close({ type: 'S', name: 'stmt ✓' }))).toEqual({ target: 'S', name: 'stmt ✓' });
    expect(inside(dec.decodeTarget, serialize.close({ type: 'P', name: 'p' }))).toEqual({ target: 'P', name: 'p' });
  });

  it('decodeTarget refuses a target other than S or P', () => {
    expect(wireError(() => inside(dec.decodeTarget, frame('D', Buffer.from('Xname\0')))).message).toMatch(/expected 'S' or 'P'/);
    expect(wireError(() => inside(dec.decodeTarget, frame('C', Buffer.alloc(0)))).message).toBe('Close: truncated');
  });

  it('decodeExecute reads the portal and row limit', () => {
    expect(inside(dec.decodeExecute, serialize.execute())).toEqual({ portal: '', maxRows: 0 });
    expect(inside(dec.decodeExecute, serialize.execute({ portal: 'p1', rows: 100 }))).toEqual({ portal: 'p1', maxRows: 100 });
  });

  it('decodeCopyFail reads the message; copyDataPayload is the body as a view', () => {
    expect(inside(dec.decodeCopyFail, serialize.copyFail('client gave up'))).toEqual({ message: 'client gave up' });
    const d = serialize.copyData(Buffer.from('1\tx\n'));
    const payload = dec.copyDataPayload(d, 0, d.length);
    expect(payload).toEqual(Buffer.from('1\tx\n'));
    expect(payload.buffer).toBe(d.buffer);
  });
});

// ---- backend ----

describe('backend decoders on frames from the test builders', () => {
  it('decodeAuthentication reads every request kind', () => {
    expect(inside(dec.decodeAuthentication, backend.authenticationOk())).toEqual({ code: AuthCode.ok });
    expect(inside(dec.decodeAuthentication, backend.authenticationKerberosV5())).toEqual({ code: AuthCode.kerberosV5 });
    expect(inside(dec.decodeAuthentication, backend.authenticationCleartextPassword())).toEqual({ code: AuthCode.cleartextPassword });
    expect(inside(dec.decodeAuthentication, backend.authenticationMD5Password(Buffer.from([9, 8, 7, 6])))).toEqual({
      code: AuthCode.md5Password,
      salt: Buffer.from([9, 8, 7, 6]),
    });
    expect(inside(dec.decodeAuthentication, backend.authenticationGSS())).toEqual({ code: AuthCode.gss });
    expect(inside(dec.decodeAuthentication, backend.authenticationSSPI())).toEqual({ code: AuthCode.sspi });
    expect(inside(dec.decodeAuthentication, backend.authenticationGSSContinue(Buffer.from([1, 0, 2])))).toEqual({
      code: AuthCode.gssContinue,
      data: Buffer.from([1, 0, 2]),
    });
    expect(inside(dec.decodeAuthentication, backend.authenticationSASL(['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS']))).toEqual({
      code: AuthCode.sasl,
      mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'],
    });
    expect(inside(dec.decodeAuthentication, backend.authenticationSASL([]))).toEqual({ code: AuthCode.sasl, mechanisms: [] });
    const first = 'r=abc,s=c2FsdA==,i=4096';
    expect(inside(dec.decodeAuthentication, backend.authenticationSASLContinue(first))).toEqual({ code: AuthCode.saslContinue, data: Buffer.from(first) });
    expect(inside(dec.decodeAuthentication, backend.authenticationSASLFinal('v=xyz'))).toEqual({ code: AuthCode.saslFinal, data: Buffer.from('v=xyz') });
  });

  it('decodeAuthentication copies salts and SASL data out of the socket buffer', () => {
    const bytes = backend.authenticationSASLContinue('data');
    const a = dec.decodeAuthentication(bytes, 0, bytes.length) as { data: Buffer };
    bytes.fill(0);
    expect(a.data).toEqual(Buffer.from('data'));
  });

  it('decodeAuthentication refuses an unknown request code and a SASL list without its terminator', () => {
    expect(wireError(() => inside(dec.decodeAuthentication, new BufferList().addInt32(99).join('R'))).message).toBe('unknown authentication request 99');
    const open = new BufferList().addInt32(10).addCString('SCRAM-SHA-256').join('R');
    expect(wireError(() => inside(dec.decodeAuthentication, open)).message).toBe('Authentication: unterminated string');
    expect(wireError(() => inside(dec.decodeAuthentication, backend.authenticationMD5Password(Buffer.from([1, 2])))).message).toBe('Authentication: truncated');
  });

  it('decodeBackendKeyData reads 4-byte (3.0) and 32-byte (3.2) keys', () => {
    expect(inside(dec.decodeBackendKeyData, backend.backendKeyData(1234, 0xdeadbeef))).toEqual({ processId: 1234, key: Buffer.from([0xde, 0xad, 0xbe, 0xef]) });
    const key = Buffer.alloc(32, 5);
    expect(inside(dec.decodeBackendKeyData, backend.backendKeyData(1, key))).toEqual({ processId: 1, key });
  });

  it('decodeParameterStatus, decodeCommandComplete and decodeReadyForQuery read their fields', () => {
    expect(inside(dec.decodeParameterStatus, backend.parameterStatus('TimeZone', 'Europe/Paris'))).toEqual({ name: 'TimeZone', value: 'Europe/Paris' });
    expect(inside(dec.decodeCommandComplete, backend.commandComplete('INSERT 0 5'))).toEqual({ tag: 'INSERT 0 5' });
    for (const s of ['I', 'T', 'E'] as const) expect(inside(dec.decodeReadyForQuery, backend.readyForQuery(s))).toEqual({ status: s });
  });

  it('decodeReadyForQuery refuses an unknown status and a missing one', () => {
    expect(wireError(() => inside(dec.decodeReadyForQuery, frame('Z', Buffer.from('X')))).message).toBe("ReadyForQuery: unknown status 'X'");
    expect(wireError(() => inside(dec.decodeReadyForQuery, frame('Z'))).message).toBe('ReadyForQuery: truncated');
    expect(wireError(() => inside(dec.decodeReadyForQuery, frame('Z', Buffer.from('II')))).message).toMatch(/trailing/);
  });

  it('decodeFields reads ErrorResponse and NoticeResponse fields in order', () => {
    const fields = [
      { type: 'S', value: 'ERROR' },
      { type: 'V', value: 'ERROR' },
      { type: 'C', value: '23505' },
      { type: 'M', value: 'duplicate key value violates unique constraint "t_pkey"' },
      { type: 'D', value: 'Key (email)=(a@b.c) already exists.' },
    ];
    const e = inside(dec.decodeFields, backend.error(fields));
    expect([...e]).toEqual(fields.map((f) => [f.type, f.value]));
    const n = inside(dec.decodeFields, backend.notice([{ type: 'S', value: 'NOTICE' }]));
    expect([...n]).toEqual([['S', 'NOTICE']]);
    expect([...inside(dec.decodeFields, backend.error([]))]).toEqual([]);
  });

  it('decodeFields names the message it failed on', () => {
    const open = new BufferList().addChar('S').addCString('ERROR').join('E');
    expect(wireError(() => inside(dec.decodeFields, open)).message).toBe('ErrorResponse: truncated');
    const openNotice = new BufferList().addChar('S').addString('NOTICE').join('N');
    expect(wireError(() => inside(dec.decodeFields, openNotice)).message).toBe('NoticeResponse: unterminated string');
  });

  it('decodeRowDescription reads every field attribute, OIDs unsigned', () => {
    const spec = [
      { name: 'id', tableID: 16384, attributeNumber: 1, dataTypeID: 23, dataTypeSize: 4, typeModifier: -1, formatCode: 0 },
      { name: 'ssn ✓', tableID: 0xfffffffe, attributeNumber: -7, dataTypeID: 0x80000001, dataTypeSize: -1, typeModifier: 68, formatCode: 1 },
    ];
    expect(inside(dec.decodeRowDescription, backend.rowDescription(spec))).toEqual(
      spec.map((f) => ({ name: f.name, tableOid: f.tableID, column: f.attributeNumber, typeOid: f.dataTypeID, typeSize: f.dataTypeSize, typeModifier: f.typeModifier, format: f.formatCode })),
    );
    expect(inside(dec.decodeRowDescription, backend.rowDescription([]))).toEqual([]);
  });
});

describe('dataRowColumns', () => {
  const offsets = new Int32Array(8);
  const lengths = new Int32Array(8);

  it('locates text, binary, empty and NULL values by absolute offset and length', () => {
    const row = backend.dataRow(['abc', null, '', Buffer.from([0, 255, 0]), 'é']);
    const prefix = Buffer.from('xyz');
    const buf = Buffer.concat([prefix, row, Buffer.from('trailing junk outside the frame')]);
    const n = dec.dataRowColumns(buf, prefix.length, prefix.length + row.length, offsets, lengths);
    expect(n).toBe(5);
    expect([...lengths.subarray(0, n)]).toEqual([3, -1, 0, 3, 2]);
    // Each value starts right after its int32 length; a NULL's offset is where its (absent) value would be.
    const base = prefix.length + 7;
    expect([...offsets.subarray(0, n)]).toEqual([base + 4, base + 11, base + 15, base + 19, base + 26]);
    const value = (i: number) => buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
    expect([value(0).toString(), value(2).length, value(3), value(4).toString()]).toEqual(['abc', 0, Buffer.from([0, 255, 0]), 'é']);
  });

  it('reads a row of no columns', () => {
    const row = backend.dataRow([]);
    expect(dec.dataRowColumns(row, 0, row.length, offsets, lengths)).toBe(0);
  });

  it('refuses more columns than the arrays hold, a negative count, a length below -1, truncation and trailing bytes', () => {
    const nine = backend.dataRow(Array.from({ length: 9 }, () => 'x'));
    expect(wireError(() => dec.dataRowColumns(nine, 0, nine.length, offsets, lengths)).message).toBe('DataRow: 9 columns, expected at most 8');
    const negCount = new BufferList().addInt16(0xffff).join('D');
    expect(wireError(() => dec.dataRowColumns(negCount, 0, negCount.length, offsets, lengths)).message).toMatch(/-1 columns/);
    const neg = new BufferList().addInt16(1).addInt32(-2).join('D');
    expect(wireError(() => dec.dataRowColumns(neg, 0, neg.length, offsets, lengths)).message).toBe('DataRow: invalid length -2');
    const row = backend.dataRow(['abc', 'de']);
    for (let cut = 0; cut < row.length; cut++) {
      expect(wireError(() => dec.dataRowColumns(row, 0, cut, offsets, lengths)).message).toMatch(/DataRow: truncated/);
    }
    const extra = Buffer.concat([row, Buffer.from('!')]);
    expect(wireError(() => dec.dataRowColumns(extra, 0, extra.length, offsets, lengths)).message).toBe('DataRow: trailing bytes');
    const huge = new BufferList().addInt16(1).addInt32(0x7fffffff).join('D');
    expect(wireError(() => dec.dataRowColumns(huge, 0, huge.length, offsets, lengths)).message).toBe('DataRow: truncated');
  });

  it('finds every value of random rows built by the test builder and by encodeDataRow', () => {
    const column = fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { nil: null });
    fc.assert(
      fc.property(fc.array(column, { maxLength: 8 }), fc.nat(5), (cols, pad) => {
        for (const row of [backend.dataRow(cols), enc.encodeDataRow(cols)]) {
          const buf = Buffer.concat([Buffer.alloc(pad, 0xee), row]);
          const n = dec.dataRowColumns(buf, pad, buf.length, offsets, lengths);
          if (n !== cols.length) return false;
          for (let i = 0; i < n; i++) {
            const c = cols[i]!;
            if (c === null ? lengths[i] !== -1 : !buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!).equals(c)) return false;
          }
        }
        return true;
      }),
      { numRuns: 1000 },
    );
  });
});

// ---- encoders ----

describe('encoders, decoded back by our decoders and by pg-protocol', () => {
  it('encodeErrorResponse carries severity (S and V), code, message, detail and hint', async () => {
    const bytes = enc.encodeErrorResponse({ severity: 'FATAL', code: '08P01', message: 'sqlwarden: protocol violation', detail: 'd ✓', hint: 'h' });
    expect(bytes[0]).toBe(Back.ErrorResponse);
    expect(bytes.readInt32BE(1)).toBe(bytes.length - 1);
    expect([...dec.decodeFields(bytes, 0, bytes.length)]).toEqual([
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', '08P01'],
      ['M', 'sqlwarden: protocol violation'],
      ['D', 'd ✓'],
      ['H', 'h'],
    ]);
    const [m] = await pgParse(bytes);
    expect(m).toMatchObject({ name: 'error', severity: 'FATAL', code: '08P01', message: 'sqlwarden: protocol violation', detail: 'd ✓', hint: 'h' });
  });

  it('encodeNoticeResponse leaves out absent detail and hint', async () => {
    const bytes = enc.encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'held as request 42' });
    expect(bytes[0]).toBe(Back.NoticeResponse);
    expect([...dec.decodeFields(bytes, 0, bytes.length).keys()]).toEqual(['S', 'V', 'C', 'M']);
    const [m] = await pgParse(bytes);
    expect(m).toMatchObject({ name: 'notice', severity: 'NOTICE', code: '00000', message: 'held as request 42', detail: undefined });
  });

  it('encodeFields re-encodes decoded fields byte for byte', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0x41, max: 0x5a }), fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0'))), { selector: (t) => t[0], maxLength: 10 }),
        fc.constantFrom(Back.ErrorResponse, Back.NoticeResponse),
        (pairs, type) => {
          const fields = pairs.map(([c, value]) => ({ type: String.fromCharCode(c), value }));
          const original = new BufferList();
          for (const f of fields) original.addChar(f.type).addCString(f.value);
          const built = original.addByte(0).join(type);
          const decoded = dec.decodeFields(built, 0, built.length);
          return enc.encodeFields(type, decoded).equals(built);
        },
      ),
    );
  });

  it('encodeReadyForQuery matches the builder and both parsers', async () => {
    for (const s of ['I', 'T', 'E'] as const) {
      const bytes = enc.encodeReadyForQuery(s);
      expect(bytes).toEqual(backend.readyForQuery(s));
      expect(dec.decodeReadyForQuery(bytes, 0, bytes.length)).toEqual({ status: s });
      expect(await pgParse(bytes)).toMatchObject([{ name: 'readyForQuery', status: s }]);
    }
  });

  it('encodeAuthenticationSASL matches the builder and both parsers', async () => {
    for (const mechs of [['SCRAM-SHA-256'], ['SCRAM-SHA-256', 'OAUTHBEARER'], []]) {
      const bytes = enc.encodeAuthenticationSASL(mechs);
      expect(bytes).toEqual(backend.authenticationSASL(mechs));
      expect(dec.decodeAuthentication(bytes, 0, bytes.length)).toEqual({ code: AuthCode.sasl, mechanisms: mechs });
      if (mechs.length) expect(await pgParse(bytes)).toMatchObject([{ name: 'authenticationSASL', mechanisms: mechs }]);
    }
  });

  const fieldArb = fc.record({
    name: fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0')),
    tableOid: fc.nat({ max: 0xffffffff }),
    column: fc.integer({ min: -32768, max: 32767 }),
    typeOid: fc.nat({ max: 0xffffffff }),
    typeSize: fc.integer({ min: -32768, max: 32767 }),
    typeModifier: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    format: fc.constantFrom(0, 1),
  });

  it('encodeRowDescription round-trips through decodeRowDescription for any field values', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 12 }), (fields) => {
        const bytes = enc.encodeRowDescription(fields);
        expect(dec.decodeRowDescription(bytes, 0, bytes.length)).toEqual(fields);
      }),
    );
  });

  it('encodeRowDescription is read by pg-protocol as the same fields', async () => {
    const fields = fc.sample(fc.array(fieldArb, { minLength: 1, maxLength: 6 }), { numRuns: 50, seed: 7 });
    for (const f of fields) {
      const [m] = (await pgParse(enc.encodeRowDescription(f))) as unknown as [{ name: string; fields: Record<string, unknown>[] }];
      expect(m.name).toBe('rowDescription');
      expect(m.fields).toEqual(
        f.map((x) => ({
          name: x.name,
          tableID: x.tableOid,
          columnID: x.column,
          dataTypeID: x.typeOid,
          dataTypeSize: x.typeSize,
          dataTypeModifier: x.typeModifier,
          format: x.format === 0 ? 'text' : 'binary',
        })),
      );
    }
  });

  it('encodeDataRow matches the builder, and pg-protocol reads the same values and NULLs', async () => {
    const cols = ['abc', null, '', 'héllo ✓'];
    const bytes = enc.encodeDataRow(cols.map((c) => (c === null ? null : Buffer.from(c))));
    expect(bytes).toEqual(backend.dataRow(cols));
    expect(await pgParse(bytes)).toMatchObject([{ name: 'dataRow', fields: cols }]);
  });

  it('encodeSSLRequest and encodeCancelRequest match pg-protocol and decode back', () => {
    const ssl = enc.encodeSSLRequest();
    expect(ssl).toEqual(serialize.requestSsl());
    expect(dec.decodeStartupPacket(ssl, 0, ssl.length)).toEqual({ kind: 'ssl' });
    const key = Buffer.from([0x80, 0, 0, 1]);
    const cancel = enc.encodeCancelRequest(99, key);
    expect(cancel).toEqual(serialize.cancel(99, key.readInt32BE(0)));
    expect(dec.decodeStartupPacket(cancel, 0, cancel.length)).toEqual({ kind: 'cancel', processId: 99, key });
    const long = Buffer.alloc(256, 3);
    const cancel32 = enc.encodeCancelRequest(-5, long);
    expect(cancel32.readInt32BE(0)).toBe(cancel32.length);
    expect(dec.decodeStartupPacket(cancel32, 0, cancel32.length)).toEqual({ kind: 'cancel', processId: -5, key: long });
  });

  it('answers SSLRequest with a single S or N', () => {
    expect([enc.sslAccepted, enc.sslRefused]).toEqual([Buffer.from('S'), Buffer.from('N')]);
  });
});

// ---- fuzz ----

const offsets = new Int32Array(16);
const lengths = new Int32Array(16);

/** Each decoder with valid samples; `rest`: the message ends in a variable part, so a truncated sample may be valid. */
const decoders: { name: string; decode: Decoder; samples: Buffer[]; rest?: boolean }[] = [
  {
    name: 'decodeStartupPacket',
    decode: dec.decodeStartupPacket,
    samples: [serialize.startup({ user: 'u', database: 'd' }), frontend.startup({ a: 'b' }, 3, 2)],
  },
  { name: 'decodeQuery', decode: dec.decodeQuery, samples: [serialize.query('select 1'), serialize.query('')] },
  { name: 'decodeParse', decode: dec.decodeParse, samples: [serialize.parse({ name: 'n', text: 'select $1', types: [23, 25] })] },
  { name: 'decodeBind', decode: dec.decodeBind, samples: [serialize.bind({ portal: 'p', statement: 's', values: ['1', null, Buffer.from([1, 2])], binary: true })] },
  { name: 'decodeTarget', decode: dec.decodeTarget, samples: [serialize.describe({ type: 'S', name: 'x' }), serialize.close({ type: 'P', name: 'p' })] },
  { name: 'decodeExecute', decode: dec.decodeExecute, samples: [serialize.execute({ portal: 'p', rows: 5 })] },
  { name: 'decodeCopyFail', decode: dec.decodeCopyFail, samples: [serialize.copyFail('no')] },
  {
    name: 'decodeAuthentication',
    decode: dec.decodeAuthentication,
    samples: [backend.authenticationOk(), backend.authenticationMD5Password(), backend.authenticationSASL(['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'])],
  },
  { name: 'decodeParameterStatus', decode: dec.decodeParameterStatus, samples: [backend.parameterStatus('server_version', '15.4')] },
  { name: 'decodeReadyForQuery', decode: dec.decodeReadyForQuery, samples: [backend.readyForQuery('T')] },
  { name: 'decodeCommandComplete', decode: dec.decodeCommandComplete, samples: [backend.commandComplete('SELECT 1')] },
  { name: 'decodeFields', decode: dec.decodeFields, samples: [backend.error([{ type: 'S', value: 'ERROR' }, { type: 'C', value: '42P01' }])] },
  { name: 'decodeRowDescription', decode: dec.decodeRowDescription, samples: [backend.rowDescription([{ name: 'a', dataTypeID: 23 }, { name: 'b' }])] },
  { name: 'dataRowColumns', decode: (b, s, e) => dec.dataRowColumns(b, s, e, offsets, lengths), samples: [backend.dataRow(['a', null, '', 'bcd'])] },
  { name: 'decodeBindNames', decode: dec.decodeBindNames, samples: [serialize.bind({ portal: 'p', statement: 's' })], rest: true },
  // These end in "the rest of the message": a truncated one can still be a valid message.
  { name: 'decodeBackendKeyData', decode: dec.decodeBackendKeyData, samples: [backend.backendKeyData(1, 2)], rest: true },
  { name: 'decodeAuthentication (SASL data)', decode: dec.decodeAuthentication, samples: [backend.authenticationSASLContinue('r=x')], rest: true },
];

/** True when the decoder returned or threw a WireError; anything else is a crash. */
function survives(decode: Decoder, buf: Buffer, start: number, end: number): boolean {
  try {
    decode(buf, start, end);
    return true;
  } catch (err) {
    return err instanceof WireError;
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('int' as const), at: fc.nat(), value: fc.oneof(fc.integer(), fc.constantFrom(-1, -2, 0, 0x7fffffff, -0x80000000, 0xffff)) }),
);

type Mutation = { kind: 'flip' | 'truncate' | 'insert' | 'int'; at: number; value?: number; bytes?: Uint8Array };

function mutate(b: Buffer, muts: Mutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    if (m.kind === 'flip' && out.length) out[at] = m.value!;
    else if (m.kind === 'truncate') out = out.subarray(0, at);
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes!), out.subarray(at)]);
    else if (m.kind === 'int' && out.length >= 4) out.writeInt32BE(m.value! | 0, Math.min(at, out.length - 4));
  }
  return out;
}

describe('decoders never crash on bad bytes', () => {
  for (const d of decoders) {
    it(`${d.name} returns or throws WireError on random bytes, inside a larger buffer`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (body, pre, post) => {
          const buf = Buffer.concat([Buffer.from(pre), Buffer.from(body), Buffer.from(post)]);
          return survives(d.decode, buf, pre.length, pre.length + body.length);
        }),
        { numRuns: 2000 },
      );
    });

    it(`${d.name} returns or throws WireError on mutated valid frames`, () => {
      fc.assert(
        fc.property(fc.constantFrom(...d.samples), fc.array(mutation, { minLength: 1, maxLength: 4 }), (sample, muts) => {
          const bad = mutate(sample, muts);
          // The original bytes continue after `end`: a decoder must not read on into them.
          const buf = Buffer.concat([bad, sample]);
          return survives(d.decode, buf, 0, bad.length);
        }),
        { numRuns: 2000 },
      );
    });

    if (!d.rest) {
      it(`${d.name} throws WireError for the sample cut at every length, even with the rest following in the buffer`, () => {
        for (const s of d.samples) {
          for (let cut = 0; cut < s.length; cut++) expect(() => d.decode(s, 0, cut), `cut at ${cut}`).toThrow(WireError);
          expect(() => d.decode(s, 0, s.length)).not.toThrow();
        }
      });
    }
  }
});
