// MySQL result packets through a MaskPlan: column definitions rewritten to strings, text rows and binary rows
// masked (binary values of masked columns re-encoded as text), checked on packets from the codec's encoders
// and on the server's own binary rows against its text rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMaskingRules, type MaskColumn } from '../../../src/masking/rules.js';
import type { MaskPlan } from '../../../src/masking/plan.js';
import {
  binaryValueText,
  lenencLength,
  maskBinaryRow,
  maskTextRow,
  mysqlRowColumns,
  rewriteColumnDefinition,
  writeLenenc,
  MysqlRowMasker,
  maskedCharset,
  maskErrPacket,
} from '../../../src/masking/mysql-rows.js';
import { MaskCounters } from '../../../src/masking/counters.js';
import { binaryRowValues, decodeColumnDefinition, decodeErr, textRowValues, type BinaryValue, type ColumnDefinition } from '../../../src/wire/mysql/decode.js';
import { encodeBinaryRow, encodeColumnDefinition, encodeErr, encodeStmtExecute, encodeTextRow } from '../../../src/wire/mysql/encode.js';
import { ColumnFlag, ColumnType } from '../../../src/wire/mysql/packets.js';
import { readLenenc } from '../../../src/wire/mysql/reader.js';
import { RawClient, type Packet } from '../../helpers/mysql-raw.js';
import { mysql as db } from '../../helpers/databases.js';

const rules = parseMaskingRules(
  `
columns:
  - match: { column: email }
    mask: email
  - match: { column: ssn }
    mask: { partial: { keepLast: 4 } }
  - match: { column: gone }
    mask: null
  - match: { column: label }
    mask: { fixed: "a label much longer than sixty-four characters, so the length must grow to fit it" }
detect:
  - kind: email
    mask: email
`,
  'masking.yaml',
);

const col = (name: string, textLike = true): MaskColumn => ({ name, textLike });
const planOf = (...columns: MaskColumn[]): MaskPlan => rules.planFor(columns, {});

function def(name: string, type: number, more: Partial<ColumnDefinition> = {}): ColumnDefinition {
  return { catalog: 'def', schema: 'app', table: 'users', orgTable: 'users', name, orgName: name, characterSet: 63, columnLength: 11, type, flags: 0, decimals: 0, ...more };
}

/** The values of a text row payload as strings (null for NULL). */
function textValues(payload: Buffer, n: number, encoding: BufferEncoding = 'utf8'): (string | null)[] {
  const out = new Int32Array(2 * n);
  textRowValues(payload, 0, payload.length, n, out);
  return Array.from({ length: n }, (_, i) => (out[2 * i]! < 0 ? null : payload.toString(encoding, out[2 * i]!, out[2 * i + 1]!)));
}

/** The values of a binary row payload: strings for length-encoded columns, raw ranges as hex otherwise. */
function binaryValues(payload: Buffer, types: number[]): (string | null)[] {
  const out = new Int32Array(2 * types.length);
  binaryRowValues(payload, 0, payload.length, types, out);
  return types.map((_, i) => (out[2 * i]! < 0 ? null : payload.toString('utf8', out[2 * i]!, out[2 * i + 1]!)));
}

/** Each value's bytes in a binary row (null for NULL). */
function ranges(payload: Buffer, types: number[]): (Buffer | null)[] {
  const out = new Int32Array(2 * types.length);
  binaryRowValues(payload, 0, payload.length, types, out);
  return types.map((_, i) => (out[2 * i]! < 0 ? null : payload.subarray(out[2 * i]!, out[2 * i + 1]!)));
}

describe('lenenc helpers', () => {
  it('writes every width that readLenenc reads back', () => {
    for (const n of [0, 1, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, 2 ** 40]) {
      const b = Buffer.alloc(9);
      const end = writeLenenc(b, 0, n);
      expect(end).toBe(lenencLength(n));
      expect(readLenenc(b, 0, end)).toBe(n);
    }
  });
});

describe('rewriteColumnDefinition', () => {
  const plan = planOf(col('id', false), col('email'), col('notes'), col('gone', false), col('label'));

  it('makes a masked column a utf8mb4 VAR_STRING with a length that fits, decimals 0 and only key flags', () => {
    const d = def('id', ColumnType.NewDecimal, { flags: ColumnFlag.NotNull | ColumnFlag.PrimaryKey | ColumnFlag.Unsigned | ColumnFlag.Binary | 0x8000, decimals: 2, columnLength: 12 });
    const emailDef = encodeColumnDefinition({ ...d, name: 'email', orgName: 'email' });
    const out = rewriteColumnDefinition(emailDef, 0, emailDef.length, plan, 1);
    expect(decodeColumnDefinition(out, 0, out.length)).toEqual({
      ...d,
      name: 'email',
      orgName: 'email',
      characterSet: maskedCharset,
      columnLength: 64 * 4,
      type: ColumnType.VarString,
      flags: ColumnFlag.NotNull | ColumnFlag.PrimaryKey,
      decimals: 0,
    });
  });

  it('drops NOT_NULL under a null rule and makes room for a long fixed value', () => {
    const gone = encodeColumnDefinition(def('gone', ColumnType.Long, { flags: ColumnFlag.NotNull }));
    const g = rewriteColumnDefinition(gone, 0, gone.length, plan, 3);
    expect(decodeColumnDefinition(g, 0, g.length).flags).toBe(0);
    const label = encodeColumnDefinition(def('label', ColumnType.VarString, { columnLength: 40 }));
    const l = rewriteColumnDefinition(label, 0, label.length, plan, 4);
    expect(decodeColumnDefinition(l, 0, l.length).columnLength).toBe(Buffer.byteLength('a label much longer than sixty-four characters, so the length must grow to fit it') * 4);
  });

  it('empties MariaDB extended metadata (json is no longer json)', () => {
    const d = { ...def('email', ColumnType.Blob), extendedTypeName: 'json', extendedFormat: 'x' };
    const b = encodeColumnDefinition(d, true);
    const out = rewriteColumnDefinition(b, 0, b.length, plan, 1, true);
    const back = decodeColumnDefinition(out, 0, out.length, true);
    expect(back.extendedTypeName).toBeUndefined();
    expect(back.extendedFormat).toBeUndefined();
    expect(back.type).toBe(ColumnType.VarString);
    expect(back.name).toBe('email');
  });

  it('keeps the definition of a scanned or unmasked column as the same view', () => {
    const b = encodeColumnDefinition(def('notes', ColumnType.Blob));
    const out = rewriteColumnDefinition(b, 0, b.length, plan, 2);
    expect(out.buffer).toBe(b.buffer);
    expect(out.length).toBe(b.length);
  });

  it('refuses a truncated definition', () => {
    const b = encodeColumnDefinition(def('email', ColumnType.Blob));
    expect(() => rewriteColumnDefinition(b, 0, b.length - 8, plan, 1)).toThrow(/truncated/);
  });
});

describe('maskTextRow', () => {
  const plan = planOf(col('id', false), col('email'), col('ssn'), col('notes'), col('gone'));

  it('masks cells as length-encoded strings, keeps NULL as 0xFB, empties and multi-byte values', () => {
    const row = encodeTextRow(['7', 'jane.doe@example.com', '123-45-6789', null, 'x']);
    const out = maskTextRow(row, 0, row.length, plan, 5, new MaskCounters(plan.spec));
    expect(textValues(out, 5)).toEqual(['7', 'j***@example.com', '*******6789', null, null]);
    const row2 = encodeTextRow(['8', '', '€€€€€1234', 'mail für zoe@example.com', '']);
    expect(textValues(maskTextRow(row2, 0, row2.length, plan, 5, new MaskCounters(plan.spec)), 5)).toEqual(['8', '****', '*****1234', 'mail für z***@example.com', null]);
  });

  it('grows a length prefix past 250 bytes and shrinks it back', () => {
    const long = 'x'.repeat(300) + '@example.com';
    const row = encodeTextRow(['1', long, null, 'a'.repeat(260), null]);
    const out = maskTextRow(row, 0, row.length, plan, 5, new MaskCounters(plan.spec));
    expect(textValues(out, 5)).toEqual(['1', 'x***@example.com', null, 'a'.repeat(260), null]);
  });

  it('returns the same view when nothing changes', () => {
    const buf = Buffer.concat([Buffer.from('head'), encodeTextRow(['1', null, null, 'plain', null])]);
    const out = maskTextRow(buf, 4, buf.length, plan, 5, new MaskCounters(plan.spec));
    expect(out.buffer).toBe(buf.buffer);
    expect(out.byteOffset).toBe(buf.byteOffset + 4);
  });

  it('refuses a row with fewer values than columns', () => {
    const row = encodeTextRow(['1', 'a@b.co']);
    expect(() => maskTextRow(row, 0, row.length, plan, 5, new MaskCounters(plan.spec))).toThrow(/truncated/);
  });
});

describe('maskBinaryRow', () => {
  const types = [ColumnType.Long, ColumnType.VarString, ColumnType.LongLong, ColumnType.Blob, ColumnType.DateTime, ColumnType.Double, ColumnType.Tiny];
  const plan = planOf(col('id', false), col('email'), col('ssn', false), col('notes'), col('gone', false), col('x', false), col('ssn', false));
  const columns = mysqlRowColumns(types.map((type) => ({ type, flags: type === ColumnType.Tiny ? ColumnFlag.Unsigned : 0, decimals: type === ColumnType.DateTime ? 3 : 0 })));
  const newTypes = types.map((t, i) => (plan.spec.columns[i] && 'rule' in plan.spec.columns[i]! ? ColumnType.VarString : t));

  it('re-encodes masked values as length-encoded text, sets the NULL bit of nulled ones, keeps the rest', () => {
    const values: BinaryValue[] = [
      7,
      Buffer.from('jane@example.com'),
      123456789012n,
      Buffer.from('see ann@example.com'),
      { year: 2024, month: 2, day: 29, hour: 1, minute: 2, second: 3, microsecond: 450000 },
      2.5,
      200,
    ];
    const row = encodeBinaryRow(types, values);
    const out = maskBinaryRow(row, 0, row.length, plan, columns, new MaskCounters(plan.spec));
    const got = binaryValues(out, newTypes);
    expect([got[1], got[2], got[3], got[4], got[6]]).toEqual(['j***@example.com', '********9012', 'see a***@example.com', null, '***']);
    // Unmasked fixed-size values (the int, the double) are the same bytes as before.
    const before = ranges(row, types);
    const after = ranges(out, newTypes);
    expect(after[0]).toEqual(before[0]);
    expect(after[5]).toEqual(before[5]);
  });

  it('keeps existing NULLs and returns the same view when nothing changes', () => {
    const row = encodeBinaryRow(types, [1, null, null, Buffer.from('plain'), null, 1.5, null]);
    const out = maskBinaryRow(row, 0, row.length, plan, columns, new MaskCounters(plan.spec));
    expect(out.buffer).toBe(row.buffer);
    expect(out.length).toBe(row.length);
  });

  it('masks many rows with one MysqlRowMasker and counts per rule', () => {
    const counters = new MaskCounters(plan.spec);
    const m = new MysqlRowMasker(plan, columns, true, counters);
    for (let i = 0; i < 3; i++) {
      const row = encodeBinaryRow(types, [i, Buffer.from(`u${i}x@example.com`), null, null, null, 0, null]);
      m.mask(row, 0, row.length);
    }
    expect(counters.snapshot()).toEqual({ rows: 3, maskedCells: 3, rules: { email: { rows: 3, cells: 3 } } });
  });
});

describe('binaryValueText', () => {
  const text = (type: number, v: BinaryValue, flags = 0, decimals = 0) => {
    const row = encodeBinaryRow([type], [v]);
    const out = new Int32Array(2);
    binaryRowValues(row, 0, row.length, [type], out);
    return binaryValueText(type, flags, decimals, row, out[0]!, out[1]!).toString();
  };

  it('prints integers signed and unsigned, years, floats and doubles', () => {
    expect(text(ColumnType.Tiny, -1)).toBe('-1');
    expect(text(ColumnType.Tiny, 255, ColumnFlag.Unsigned)).toBe('255');
    expect(text(ColumnType.LongLong, 18446744073709551615n, ColumnFlag.Unsigned)).toBe('18446744073709551615');
    expect(text(ColumnType.LongLong, -5n)).toBe('-5');
    expect(text(ColumnType.Year, 5)).toBe('0005');
    expect(text(ColumnType.Float, 1.1)).toBe('1.1');
    expect(text(ColumnType.Double, 1e20)).toBe('1e20');
    expect(text(ColumnType.Double, 0.25)).toBe('0.25');
  });

  it('prints dates, datetimes with the column decimals, and times past 24 hours', () => {
    expect(text(ColumnType.Date, { year: 2024, month: 1, day: 5, hour: 0, minute: 0, second: 0, microsecond: 0 })).toBe('2024-01-05');
    expect(text(ColumnType.DateTime, { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, microsecond: 0 })).toBe('0000-00-00 00:00:00');
    expect(text(ColumnType.DateTime, { year: 2024, month: 1, day: 5, hour: 1, minute: 2, second: 3, microsecond: 120000 }, 0, 2)).toBe('2024-01-05 01:02:03.12');
    expect(text(ColumnType.Time, { negative: true, days: 1, hours: 2, minutes: 3, seconds: 4, microseconds: 0 })).toBe('-26:03:04');
  });
});

describe('against MariaDB: binary rows read as the text protocol prints them', () => {
  let client: RawClient;
  beforeAll(async () => {
    client = await RawClient.login(db.port);
  });
  afterAll(() => client.end());

  /** Column definitions and row payloads of one result set (no CLIENT_DEPRECATE_EOF: EOFs after both). */
  function result(packets: Packet[]): { defs: ColumnDefinition[]; rows: Buffer[] } {
    const n = readLenenc(packets[0]!.payload, 0, packets[0]!.payload.length);
    const defs = packets.slice(1, 1 + n).map((p) => decodeColumnDefinition(p.payload, 0, p.payload.length));
    const rows = packets.slice(2 + n, -1).map((p) => p.payload);
    return { defs, rows };
  }

  it('every column type, binary value as text equals the text protocol value', async () => {
    const sql = `SELECT CAST(-5 AS SIGNED) a, CAST(18446744073709551615 AS UNSIGNED) b, CAST(3 AS UNSIGNED) c,
      1.5e0 d, CAST(0.1 AS FLOAT) e, 12.345 f, DATE '2024-02-29' g, TIMESTAMP '2024-02-29 01:02:03.456' h,
      CAST('2024-01-05 06:07:08' AS DATETIME) i, CAST('-26:03:04.5' AS TIME(1)) j, CAST('12:00:00' AS TIME) k,
      'héllo' l, X'00ff' m, YEAR(NOW()) - YEAR(NOW()) + 1999 n, CAST(1e20 AS DOUBLE) o, CAST(123 AS DECIMAL(10,2)) p`;
    const text = result(await client.query(sql));
    const prepared = await client.prepare(sql);
    client.send(encodeStmtExecute(prepared.id, 0, []));
    const bin = result(await client.response());
    const types = bin.defs.map((d) => d.type);
    const ranges = new Int32Array(2 * types.length);
    binaryRowValues(bin.rows[0]!, 0, bin.rows[0]!.length, types, ranges);
    const got = bin.defs.map((d, i) => binaryValueText(d.type, d.flags, d.decimals, bin.rows[0]!, ranges[2 * i]!, ranges[2 * i + 1]!).toString('latin1'));
    expect(got).toEqual(textValues(text.rows[0]!, types.length, 'latin1'));
  });
});

describe('maskErrPacket', () => {
  const who = { user: 'alice' };
  const errText = (payload: Buffer) => decodeErr(payload, 0, payload.length);

  it('masks a duplicate key value by the rule of the column the key is named after, code and SQLSTATE kept', () => {
    const p = encodeErr(1062, '23000', "Duplicate entry '123-45-6789' for key 'users.ssn'");
    expect(errText(maskErrPacket(p, 0, p.length, rules, who))).toEqual({ code: 1062, sqlState: '23000', message: "Duplicate entry '*******6789' for key 'users.ssn'" });
  });

  it('runs the detectors over the message when the key names no masked column', () => {
    const p = encodeErr(1062, '23000', "Duplicate entry 'ann@example.com' for key 'uq_contact'");
    expect(errText(maskErrPacket(p, 0, p.length, rules, who)).message).toBe("Duplicate entry 'a***@example.com' for key 'uq_contact'");
  });

  it('returns the same view when nothing is quoted', () => {
    const p = encodeErr(1146, '42S02', "Table 'test.nope' doesn't exist");
    const out = maskErrPacket(p, 0, p.length, rules, who);
    expect(out.buffer).toBe(p.buffer);
    expect(out.byteOffset).toBe(p.byteOffset);
  });

  it("masks MariaDB's own duplicate-entry error", async () => {
    const c = await RawClient.login(db.port);
    try {
      await c.query('CREATE TEMPORARY TABLE dup_users (id int primary key, email varchar(100), UNIQUE KEY email (email))');
      await c.query("INSERT INTO dup_users VALUES (1, 'jane@example.com')");
      const [err] = await c.query("INSERT INTO dup_users VALUES (2, 'jane@example.com')");
      expect(errText(err!.payload).message).toContain('jane@example.com');
      const masked = errText(maskErrPacket(err!.payload, 0, err!.payload.length, rules, who));
      expect(masked.code).toBe(1062);
      expect(masked.message).toMatch(/^Duplicate entry 'j\*\*\*@example\.com' for key '(dup_users\.)?email'$/);
    } finally {
      c.end();
    }
  });
});
