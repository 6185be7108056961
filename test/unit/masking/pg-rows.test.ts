// PostgreSQL result messages through a MaskPlan: RowDescription rewriting, DataRow in text and binary format
// (binary values read as text, checked against the server's own send/output functions), COPY TO STDOUT rows
// in text and CSV (checked against the server's COPY output) and values quoted in errors (from real errors).
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { parseMaskingRules, type MaskColumn, type MaskingRules } from '../../../src/masking/rules.js';
import type { MaskPlan } from '../../../src/masking/plan.js';
import { maskDataRow, maskErrorFields, maskErrorResponse, pgRowFormats, rewriteRowDescription, PgRowMasker } from '../../../src/masking/pg-rows.js';
import { binaryToText, floatText } from '../../../src/masking/pg-binary.js';
import { maskCopyRow } from '../../../src/masking/pg-copy.js';
import { MaskCounters } from '../../../src/masking/counters.js';
import { dataRowColumns, decodeFields, decodeRowDescription } from '../../../src/wire/postgres/decode.js';
import { backend } from '../../helpers/pg-buffers.js';
import { pg as db } from '../../helpers/databases.js';

const rules = parseMaskingRules(
  `
columns:
  - match: { column: email }
    mask: email
  - match: { column: ssn }
    mask: { partial: { keepLast: 4 } }
  - match: { column: "/^secret/" }
    mask: redact
  - match: { column: gone }
    mask: null
  - match: { column: hashed }
    mask: hash
detect:
  - kind: email
    mask: email
  - kind: credit_card
    mask: { partial: { keepLast: 4 } }
`,
  'masking.yaml',
  { hashKey: 'k' },
);

const col = (name: string, textLike = true): MaskColumn => ({ name, textLike });
const planOf = (...columns: MaskColumn[]): MaskPlan => rules.planFor(columns, { user: 'alice' });

/** The values of a DataRow frame as strings (null for NULL). */
function values(frame: Buffer): (string | null)[] {
  const offsets = new Int32Array(32);
  const lengths = new Int32Array(32);
  const n = dataRowColumns(frame, 0, frame.length, offsets, lengths);
  return Array.from({ length: n }, (_, i) => (lengths[i]! < 0 ? null : frame.toString('utf8', offsets[i]!, offsets[i]! + lengths[i]!)));
}

/** Runs maskDataRow on a frame placed inside a larger buffer, so offsets are exercised. */
function mask(plan: MaskPlan, row: (string | Buffer | null)[], formats = pgRowFormats(row.map(() => ({ type: 25, format: 0 }))), counters = new MaskCounters(plan.spec)) {
  const frame = backend.dataRow(row);
  const buf = Buffer.concat([Buffer.from('xyz'), frame, Buffer.from('!')]);
  const out = maskDataRow(buf, 3, 3 + frame.length, plan, formats, counters);
  return { out, same: out.buffer === buf.buffer && out.byteOffset === buf.byteOffset + 3 && out.length === frame.length, counters };
}

describe('rewriteRowDescription', () => {
  const fields = [
    { name: 'id', tableID: 16384, attributeNumber: 1, dataTypeID: 23, dataTypeSize: 4, typeModifier: -1, formatCode: 1 },
    { name: 'email', tableID: 16384, attributeNumber: 2, dataTypeID: 1043, dataTypeSize: -1, typeModifier: 259, formatCode: 1 },
    { name: 'ssn', tableID: 16384, attributeNumber: 3, dataTypeID: 1700, dataTypeSize: -1, typeModifier: 655366, formatCode: 0 },
    { name: 'notes', tableID: 16384, attributeNumber: 4, dataTypeID: 25, dataTypeSize: -1, typeModifier: -1, formatCode: 0 },
  ];
  const frame = backend.rowDescription(fields);

  it('makes column-rule columns text (OID 25, typlen -1, typmod -1) and keeps the format code and everything else', () => {
    const plan = planOf(col('id', false), col('email'), col('ssn', false), col('notes'));
    const out = decodeRowDescription(rewriteRowDescription(frame, 0, frame.length, plan), 0, frame.length);
    expect(out).toEqual([
      { name: 'id', tableOid: 16384, column: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 1 },
      { name: 'email', tableOid: 16384, column: 2, typeOid: 25, typeSize: -1, typeModifier: -1, format: 1 },
      { name: 'ssn', tableOid: 16384, column: 3, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
      // scanned by detectors only: its type stays
      { name: 'notes', tableOid: 16384, column: 4, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
    ]);
    expect(frame.readUInt32BE(frame.indexOf('email') + 12)).toBe(1043); // the input is not written into
  });

  it('returns the same view when no column rule applies', () => {
    const plan = planOf(col('id', false), col('name'), col('x', false), col('notes'));
    const buf = Buffer.concat([Buffer.from('..'), frame]);
    const out = rewriteRowDescription(buf, 2, buf.length, plan);
    expect(out.buffer).toBe(buf.buffer);
    expect(out.byteOffset).toBe(buf.byteOffset + 2);
  });

  it('refuses a truncated RowDescription', () => {
    expect(() => rewriteRowDescription(frame, 0, frame.length - 3, planOf(col('id')))).toThrow(/RowDescription/);
  });
});

describe('maskDataRow, text format', () => {
  const plan = planOf(col('id', false), col('email'), col('ssn'), col('notes'), col('gone'));

  it('masks column-rule cells, recomputes lengths and keeps NULL as NULL', () => {
    const { out } = mask(plan, ['7', 'jane.doe@example.com', '123-45-6789', null, 'x']);
    expect(values(out)).toEqual(['7', 'j***@example.com', '*******6789', null, null]);
    expect(out.readInt32BE(1)).toBe(out.length - 1);
  });

  it('masks only what the detectors find in scanned columns', () => {
    const { out } = mask(plan, ['1', null, null, 'card 4111 1111 1111 1111 on file, mail bob@x.io', null]);
    expect(values(out)).toEqual(['1', null, null, 'card ***************1111 on file, mail b***@x.io', null]);
  });

  it('returns the same view, not a copy, when nothing changes', () => {
    const r = mask(plan, ['1', null, null, 'nothing to see', null]);
    expect(r.same).toBe(true);
  });

  it('masks empty strings and multi-byte UTF-8 values without breaking characters', () => {
    const { out } = mask(plan, ['1', 'zoë.ørjan@exämple.com', '', '', '']);
    expect(values(out)).toEqual(['1', 'z***@exämple.com', '', '', null]);
    const { out: out2 } = mask(plan, ['1', null, '€€€€€€1234', null, null]);
    expect(values(out2)).toEqual(['1', null, '******1234', null, null]);
  });

  it('counts rows and masked cells per rule, a row once per rule', () => {
    const counters = new MaskCounters(plan.spec);
    const formats = pgRowFormats(Array.from({ length: 5 }, () => ({ type: 25, format: 0 })));
    mask(plan, ['1', 'a@b.co', '123456789', 'x@y.io and z@w.io', 'v'], formats, counters);
    mask(plan, ['2', null, '987654321', 'plain', null], formats, counters);
    mask(plan, ['3', null, null, null, null], formats, counters);
    // The e-mail column rule and the e-mail detector share the name "email": one counter.
    expect(counters.snapshot()).toEqual({
      rows: 3,
      maskedCells: 5,
      rules: { email: { rows: 1, cells: 2 }, ssn: { rows: 2, cells: 2 }, gone: { rows: 1, cells: 1 } },
    });
  });

  it('refuses a DataRow whose column count differs from the RowDescription', () => {
    expect(() => mask(plan, ['1', 'a@b.co'], pgRowFormats([{ type: 25, format: 0 }, { type: 25, format: 0 }, { type: 25, format: 0 }]))).toThrow(/2 columns/);
  });

  it('masks many rows with one PgRowMasker, allocating only for changed rows', () => {
    const counters = new MaskCounters(plan.spec);
    const masker = new PgRowMasker(plan, pgRowFormats(Array.from({ length: 5 }, () => ({ type: 25, format: 0 }))), counters);
    const rows = [backend.dataRow(['1', 'ann@b.co', null, null, null]), backend.dataRow(['2', null, null, 'ok', null]), backend.dataRow(['3', 'cy@d.co', null, null, null])];
    const outs = rows.map((r) => masker.mask(r, 0, r.length));
    expect(outs.map(values)).toEqual([
      ['1', 'a***@b.co', null, null, null],
      ['2', null, null, 'ok', null],
      ['3', 'c***@d.co', null, null, null],
    ]);
    expect(outs[1]!.buffer).toBe(rows[1]!.buffer);
  });
});

describe('maskDataRow, binary format', () => {
  const binary = (...types: number[]) => pgRowFormats(types.map((type) => ({ type, format: 1 })));
  const int4 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n);
    return b;
  };

  it('reads a masked binary value as text first, then masks the text', () => {
    const plan = planOf(col('ssn', false), col('hashed', false));
    const { out } = mask(plan, [int4(123456789), int4(42)], binary(23, 23));
    const hashedText = rules.planFor([col('hashed')], {}).maskCell(0, Buffer.from('42'), 0, 2)!.toString();
    expect(values(out)).toEqual(['*****6789', hashedText]);
  });

  it('redacts a binary value of a type it cannot read (fail closed), or nulls it under a null rule', () => {
    const inet = Buffer.from([2, 32, 0, 4, 10, 0, 0, 1]);
    const plan = planOf(col('ssn', false), col('gone', false));
    expect(values(mask(plan, [inet, inet], binary(869, 869)).out)).toEqual(['****', null]);
  });

  it('does not read the value when the strategy ignores it (redact)', () => {
    const plan = planOf(col('secret_key', false));
    expect(values(mask(plan, [Buffer.from([1, 2, 3])], binary(23)).out)).toEqual(['****']);
  });

  it('scans binary text, jsonb (version byte kept) and text[] (elements re-encoded) of scanned columns', () => {
    const plan = planOf(col('a'), col('b'), col('c'));
    const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{"mail": "ann@example.com"}')]);
    const arr = textArray(['x', 'ann@example.com', null, 'bob@x.io']);
    const { out } = mask(plan, [Buffer.from('to ann@example.com'), jsonb, arr], binary(25, 3802, 1009));
    const offsets = new Int32Array(3);
    const lengths = new Int32Array(3);
    dataRowColumns(out, 0, out.length, offsets, lengths);
    expect(out.toString('utf8', offsets[0]!, offsets[0]! + lengths[0]!)).toBe('to a***@example.com');
    expect(out[offsets[1]!]).toBe(1);
    expect(out.toString('utf8', offsets[1]! + 1, offsets[1]! + lengths[1]!)).toBe('{"mail": "a***@example.com"}');
    expect(readTextArray(out.subarray(offsets[2]!, offsets[2]! + lengths[2]!))).toEqual(['x', 'a***@example.com', null, 'b***@x.io']);
  });

  it('leaves a binary text[] whose elements hold nothing as the same view', () => {
    const plan = planOf(col('c'));
    expect(mask(plan, [textArray(['x', 'y'])], binary(1009)).same).toBe(true);
  });
});

/** array_send of a one-dimensional text[]. */
function textArray(items: (string | null)[]): Buffer {
  const parts = [Buffer.alloc(20)];
  parts[0]!.writeInt32BE(1, 0);
  parts[0]!.writeInt32BE(items.includes(null) ? 1 : 0, 4);
  parts[0]!.writeUInt32BE(25, 8);
  parts[0]!.writeInt32BE(items.length, 12);
  parts[0]!.writeInt32BE(1, 16);
  for (const it of items) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(it === null ? -1 : Buffer.byteLength(it));
    parts.push(len);
    if (it !== null) parts.push(Buffer.from(it));
  }
  return Buffer.concat(parts);
}

function readTextArray(b: Buffer): (string | null)[] {
  const ndim = b.readInt32BE(0);
  let pos = 12 + 8 * ndim;
  const out: (string | null)[] = [];
  while (pos < b.length) {
    const len = b.readInt32BE(pos);
    pos += 4;
    out.push(len < 0 ? null : b.toString('utf8', pos, pos + len));
    if (len > 0) pos += len;
  }
  return out;
}

describe('floatText', () => {
  it('prints as PostgreSQL 12+ does: shortest digits, exponent past 1e15 (float8) or 1e6 (float4)', () => {
    expect(floatText(0.1, false)).toBe('0.1');
    expect(floatText(1e15, false)).toBe('1e+15');
    expect(floatText(123456789012345, false)).toBe('123456789012345');
    expect(floatText(1e-5, false)).toBe('1e-05');
    expect(floatText(0.0001, false)).toBe('0.0001');
    expect(floatText(-0, false)).toBe('-0');
    expect(floatText(Math.fround(1.1), true)).toBe('1.1');
    expect(floatText(Math.fround(1e6), true)).toBe('1e+06');
    expect(floatText(NaN, true)).toBe('NaN');
    expect(floatText(-Infinity, false)).toBe('-Infinity');
  });
});

describe('against PostgreSQL: binary values read as text', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client(db);
    await client.connect();
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET extra_float_digits = 1");
  });
  afterAll(() => client.end());

  /** For each SQL literal of a type: the server's output function and its send function, compared with binaryToText. */
  async function check(type: string, oid: number, send: string, literals: string[]) {
    const out = send.replace(/send$/, 'out');
    const sql = `SELECT ${out}(v)::text AS text, ${send}(v) AS bin FROM (VALUES ${literals.map((l) => `((${l})::${type})`).join(', ')}) t(v)`;
    const { rows } = await client.query<{ text: string; bin: Buffer }>(sql);
    const got = rows.map((r) => binaryToText(oid, r.bin, 0, r.bin.length)?.toString('utf8'));
    expect(got).toEqual(rows.map((r) => r.text));
  }

  it('int2, int4, int8, oid, bool', async () => {
    await check('int2', 21, 'int2send', ['0', '-32768', '32767', '-1']);
    await check('int4', 23, 'int4send', ['0', '-2147483648', '2147483647', '123456789']);
    await check('int8', 20, 'int8send', ['0', '-9223372036854775808', '9223372036854775807', '9007199254740993']);
    await check('oid', 26, 'oidsend', ['0', '4294967295', '16384']);
    await check('bool', 16, 'boolsend', ['true', 'false']);
  });

  it('float4 and float8, including exponents, -0, NaN and infinities', async () => {
    const lits = ["'0'", "'-0'", "'0.1'", "'1.5'", "'3.14159265358979'", "'1e15'", "'1e14'", "'123456.7'", "'1e-5'", "'0.0001'", "'1.2345678901234567e300'", "'-2.5e-300'", "'NaN'", "'Infinity'", "'-Infinity'", "'100'", "'1e6'", "'999999'"];
    await check('float8', 701, 'float8send', lits);
    await check('float4', 700, 'float4send', lits.filter((l) => !l.includes('e300') && !l.includes('e-300')).concat(["'3.4e38'", "'1.17549435e-38'", "'16777217'"]));
  });

  it('numeric with scales, large and tiny values, NaN and infinities', async () => {
    await check('numeric', 1700, 'numeric_send', ["'0'", "'0.00'", "'-12.3400'", "'12345678901234567890.123456789'", "'0.000001'", "'-0.5'", "'10000'", "'1e-20'", "'99999999'", "'NaN'", "'Infinity'", "'-Infinity'", "'1.10'"]);
  });

  it('date, time, timetz, timestamp, timestamptz, including BC, infinities and fractions', async () => {
    await check('date', 1082, 'date_send', ["'2000-01-01'", "'1999-12-31'", "'2024-02-29'", "'0044-03-15 BC'", "'4713-01-01 BC'", "'5874897-12-31'", "'infinity'", "'-infinity'", "'1970-01-01'"]);
    await check('time', 1083, 'time_send', ["'00:00:00'", "'23:59:59.999999'", "'12:34:56.5'", "'24:00:00'"]);
    await check('timetz', 1266, 'timetz_send', ["'12:34:56+02'", "'01:02:03.25-05:30'", "'00:00:00+00'"]);
    const ts = ["'2000-01-01 00:00:00'", "'1999-12-31 23:59:59.999999'", "'2024-02-29 12:34:56.5'", "'0044-03-15 10:00:00 BC'", "'294276-12-31 23:59:59'", "'infinity'", "'-infinity'", "'1900-06-01 01:02:03.000100'"];
    await check('timestamp', 1114, 'timestamp_send', ts);
    await check('timestamptz', 1184, 'timestamptz_send', ts.map((t) => t.replace(/'$/, "+00'")).map((t) => (t.includes('infinity') ? t.replace('+00', '') : t)));
  });

  it('uuid, bytea and the text types', async () => {
    await check('uuid', 2950, 'uuid_send', ["'00000000-0000-0000-0000-000000000000'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"]);
    await check('bytea', 17, 'byteasend', ["''", "'\\x00ff10'", "'abc'"]);
    await check('text', 25, 'textsend', ["''", "'héllo wörld'", "'tab\there'"]);
    await check('varchar', 1043, 'varcharsend', ["'x'"]);
    await check('bpchar(3)', 1042, 'bpcharsend', ["'ab'"]);
  });
});

describe('maskCopyRow', () => {
  const plan = planOf(col('id', false), col('email'), col('notes'), col('secret_x'));
  const copyData = (line: string | Buffer) => backend.copyData(Buffer.from(line));
  const run = (line: string, format: 'text' | 'csv', p = plan) => {
    const frame = copyData(line);
    const out = maskCopyRow(frame, 0, frame.length, p, format, new MaskCounters(p.spec));
    return { text: out.toString('utf8', 5), same: out === frame || (out.buffer === frame.buffer && out.byteOffset === frame.byteOffset) };
  };

  it('text: masks by column position, undoes and redoes escapes, keeps \\N', () => {
    expect(run('1\tjane@example.com\tcall bob@x.io\\tnow\tpw\n', 'text').text).toBe('1\tj***@example.com\tcall b***@x.io\\tnow\t****\n');
    expect(run('2\t\\N\t\\N\t\\N\n', 'text').same).toBe(true);
    // an escaped backslash and tab inside a masked value: the value the strategy sees is unescaped
    expect(run('3\ta\\\\b\\t@example.com\tx\ty\n', 'text').text).toBe('3\ta***@example.com\tx\t****\n');
  });

  it('text: a masked value holding a tab, newline or backslash is escaped', () => {
    const fixed = parseMaskingRules('columns:\n  - match: { column: x }\n    mask: { fixed: "a\\tb\\nc\\\\" }\n', 'm.yaml').planFor([col('x')], {});
    expect(run('v\n', 'text', fixed).text).toBe('a\\tb\\nc\\\\\n');
  });

  it('csv: quoted fields with delimiters and doubled quotes, NULL unquoted-empty, empty string quoted', () => {
    expect(run('1,"jane@example.com","said ""hi"", ann@x.io",pw\n', 'csv').text).toBe('1,j***@example.com,"said ""hi"", a***@x.io",****\n');
    expect(run('2,,"",pw\n', 'csv').text).toBe('2,,"",****\n');
    expect(run('3,,"",\n', 'csv').same).toBe(true);
  });

  it('refuses a row with another number of columns', () => {
    expect(() => run('1\tx\n', 'text')).toThrow(/2 columns, expected 4/);
  });

  describe('against PostgreSQL COPY TO STDOUT', () => {
    let client: pg.Client;
    beforeAll(async () => {
      client = new pg.Client(db);
      await client.connect();
      await client.query(`CREATE TEMP TABLE copy_src (id int, email text, notes text, secret_x text)`);
      await client.query(`INSERT INTO copy_src VALUES
        (1, 'jane@example.com', E'multi\\nline\\ttab \\\\ back, "q" bob@x.io', 'pw'),
        (2, NULL, '', NULL),
        (3, 'zoë@exämple.com', 'card 4111 1111 1111 1111', E'a\\tb')`);
    });
    afterAll(() => client.end());

    async function copyLines(sql: string): Promise<Buffer[]> {
      const stream = client.query(copyTo(sql)) as unknown as Readable;
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      const all = Buffer.concat(chunks);
      // Rows as the server sent them: one per CopyData; none of these hold a raw newline except the CSV one.
      return /csv/i.test(sql) ? splitCsvRows(all) : all.toString('utf8').split(/(?<=\n)/).map((l) => Buffer.from(l));
    }

    /** Masked rows decoded by the server itself: COPY FROM the masked output into a table, then SELECT. */
    async function roundTrip(lines: Buffer[], format: 'text' | 'csv') {
      const masked = lines.map((l) => {
        const f = copyData(l);
        return maskCopyRow(f, 0, f.length, plan, format, new MaskCounters(plan.spec)).subarray(5);
      });
      await client.query('CREATE TEMP TABLE IF NOT EXISTS copy_dst (LIKE copy_src); TRUNCATE copy_dst');
      const { from } = await import('pg-copy-streams');
      const sink = client.query(from(`COPY copy_dst FROM STDIN${format === 'csv' ? ' (FORMAT csv)' : ''}`));
      await new Promise<void>((resolve, reject) => {
        sink.on('finish', resolve);
        sink.on('error', reject);
        sink.end(Buffer.concat(masked));
      });
      return (await client.query('SELECT * FROM copy_dst ORDER BY id')).rows;
    }

    const expected = [
      { id: 1, email: 'j***@example.com', notes: 'multi\nline\ttab \\ back, "q" b***@x.io', secret_x: '****' },
      { id: 2, email: null, notes: '', secret_x: null },
      { id: 3, email: 'z***@exämple.com', notes: 'card ***************1111', secret_x: '****' },
    ];

    it('text format rows from the server mask and read back correctly', async () => {
      expect(await roundTrip(await copyLines('COPY copy_src TO STDOUT'), 'text')).toEqual(expected);
    });

    it('CSV rows from the server mask and read back correctly', async () => {
      expect(await roundTrip(await copyLines('COPY copy_src TO STDOUT (FORMAT csv)'), 'csv')).toEqual(expected);
    });
  });
});

/** CSV rows of a COPY output: a newline ends a row only outside quotes. */
function splitCsvRows(all: Buffer): Buffer[] {
  const rows: Buffer[] = [];
  let inQuotes = false;
  let from = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i] === 0x22) inQuotes = !inQuotes;
    else if (all[i] === 0x0a && !inQuotes) {
      rows.push(all.subarray(from, i + 1));
      from = i + 1;
    }
  }
  return rows;
}

describe('maskErrorFields', () => {
  const who = { user: 'alice' };
  const fields = (o: Record<string, string>) => new Map(Object.entries(o));

  it('masks a key value by its column rule and leaves the rest of the detail', () => {
    const r = maskErrorFields(fields({ S: 'ERROR', C: '23505', M: 'duplicate key value violates unique constraint "u_email"', D: 'Key (email)=(jane@example.com) already exists.', t: 'users', s: 'public' }), rules, who);
    expect(r?.fields.get('D')).toBe('Key (email)=(j***@example.com) already exists.');
    expect(r?.fields.get('M')).toBe('duplicate key value violates unique constraint "u_email"');
    expect(r?.masked).toBe(1);
  });

  it('masks each value of a multi-column key by its own column, and hides all when values cannot be split', () => {
    const d = maskErrorFields(fields({ D: 'Key (ssn, id)=(123-45-6789, 7) already exists.' }), rules, who)?.fields.get('D');
    expect(d).toBe('Key (ssn, id)=(*******6789, 7) already exists.');
    const d2 = maskErrorFields(fields({ D: 'Key (ssn, id)=(12, 34, 7) already exists.' }), rules, who)?.fields.get('D');
    expect(d2).toBe('Key (ssn, id)=(****) already exists.');
  });

  it('runs detectors over message, detail, hint and context text', () => {
    const r = maskErrorFields(fields({ M: 'bad value ann@example.com', H: 'try 4111 1111 1111 1111', W: 'PL/pgSQL function f() line 3 at RAISE', C: 'P0001' }), rules, who);
    expect(Object.fromEntries(r!.fields)).toEqual({ M: 'bad value a***@example.com', H: 'try ***************1111', W: 'PL/pgSQL function f() line 3 at RAISE', C: 'P0001' });
  });

  it('hides a failing row whole: its columns are not named', () => {
    const r = maskErrorFields(fields({ D: 'Failing row contains (1, jane, 123-45-6789).' }), rules, who);
    expect(r?.fields.get('D')).toBe('Failing row contains (****).');
  });

  it('changes nothing for an exempt user or an error without values', () => {
    const exempting = parseMaskingRules('columns:\n  - match: { column: email }\n    mask: email\nexempt:\n  - user: auditor\n', 'm.yaml');
    expect(maskErrorFields(fields({ D: 'Key (email)=(jane@example.com) already exists.' }), exempting, { user: 'auditor' })).toBeNull();
    expect(maskErrorFields(fields({ M: 'relation "x" does not exist', C: '42P01' }), rules, who)).toBeNull();
  });

  describe('against PostgreSQL errors', () => {
    let client: pg.Client;
    beforeAll(async () => {
      client = new pg.Client(db);
      await client.connect();
      await client.query('CREATE TEMP TABLE err_users (id int primary key, email text unique, ssn text NOT NULL, CHECK (id > 0))');
      await client.query(`INSERT INTO err_users VALUES (1, 'jane@example.com', '123-45-6789')`);
    });
    afterAll(() => client.end());

    async function errorFrame(sql: string): Promise<Buffer> {
      const err = (await client.query(sql).then(
        () => null,
        (e: unknown) => e,
      )) as pg.DatabaseError;
      const list = [
        ['S', err.severity],
        ['C', err.code],
        ['M', err.message],
        ['D', err.detail],
        ['s', err.schema],
        ['t', err.table],
        ['c', err.column],
        ['n', err.constraint],
      ].filter((f): f is [string, string] => typeof f[1] === 'string');
      return backend.error(list.map(([type, value]) => ({ type, value })));
    }

    it('a unique violation no longer shows the email', async () => {
      const frame = await errorFrame(`INSERT INTO err_users VALUES (2, 'jane@example.com', '1')`);
      const masked = maskErrorResponse(frame, 0, frame.length, rules, who);
      const out = decodeFields(masked, 0, masked.length);
      expect(out.get('D')).toBe('Key (email)=(j***@example.com) already exists.');
      expect(out.get('C')).toBe('23505');
    });

    it('a check violation shows no value of the row', async () => {
      const frame = await errorFrame(`INSERT INTO err_users VALUES (-1, 'ann@example.com', '987-65-4321')`);
      const masked = maskErrorResponse(frame, 0, frame.length, rules, who);
      const detail = decodeFields(masked, 0, masked.length).get('D');
      expect(detail).toBe('Failing row contains (****).');
      expect(masked.includes('987-65-4321')).toBe(false);
    });
  });
});

describe('maskErrorResponse', () => {
  it('returns the same view when nothing is masked', () => {
    const frame = backend.error([{ type: 'S', value: 'ERROR' }, { type: 'M', value: 'nothing here' }]);
    expect(maskErrorResponse(frame, 0, frame.length, rules as MaskingRules, {})).toEqual(frame);
  });
});
