// Rows masked in place (RowMasker.maskInto, one pass straight into the output) against a reference built
// the slow way: decode the row, mask each value with the allocating MaskFn, encode the row again. Random
// rows cover NULLs, empty strings, multi-byte UTF-8, values long enough to change a MySQL length prefix,
// and every strategy; the output must match byte for byte, counters included, and fit the room `slack`
// promised. Rows with detector matches are checked against prepare/emit, which sizes every cell first.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMaskingRules, type MaskColumn } from '../../../src/masking/rules.js';
import { compileStrategy, type StrategySpec } from '../../../src/masking/strategies.js';
import { PgRowMasker, pgRowFormats } from '../../../src/masking/pg-rows.js';
import { MysqlRowMasker, mysqlRowColumns } from '../../../src/masking/mysql-rows.js';
import { MaskCounters } from '../../../src/masking/counters.js';
import { createRowMasker, type RowFormat } from '../../../src/masking/batch.js';
import { compilePlan } from '../../../src/masking/plan.js';
import { CopyRowMasker, copyCsv, copyText, type CopySyntax } from '../../../src/masking/pg-copy.js';
import { maskMessage, OVERWRITTEN, type RowMasker } from '../../../src/masking/row-masker.js';
import { encodeDataRow } from '../../../src/wire/postgres/encode.js';
import { encodeBinaryRow, encodeTextRow } from '../../../src/wire/mysql/encode.js';
import { framePayload } from '../../../src/wire/mysql/frames.js';
import { ColumnType } from '../../../src/wire/mysql/packets.js';

const hashKey = 'in-place-key';
const strategies: Record<string, StrategySpec> = {
  email: { kind: 'email' },
  last4: { kind: 'partial', keepFirst: 0, keepLast: 4 },
  first2last1: { kind: 'partial', keepFirst: 2, keepLast: 1 },
  hashed: { kind: 'hash', length: 16 },
  gone: { kind: 'null' },
  secret: { kind: 'redact' },
  fixed: { kind: 'fixed', value: 'n/a — hidden' },
};
const yamlOf = (spec: StrategySpec): string => {
  switch (spec.kind) {
    case 'partial':
      return `{ partial: { keepFirst: ${spec.keepFirst}, keepLast: ${spec.keepLast} } }`;
    case 'hash':
      return 'hash';
    case 'fixed':
      return `{ fixed: "${spec.value}" }`;
    default:
      return spec.kind;
  }
};
const rules = parseMaskingRules(
  `columns:\n${Object.entries(strategies)
    .map(([name, spec]) => `  - match: { column: ${name} }\n    mask: ${yamlOf(spec)}\n`)
    .join('')}`,
  'in-place.yaml',
  { hashKey },
);
const names = ['id', ...Object.keys(strategies)];
const columns: MaskColumn[] = names.map((name) => ({ name, textLike: true }));
const plan = rules.planFor(columns, {});
const fns = names.map((name) => (strategies[name] ? compileStrategy(strategies[name]!, { hashKey }) : undefined));

const value = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.emailAddress() },
  { weight: 1, arbitrary: fc.string({ minLength: 240, maxLength: 300 }) }, // MySQL length prefix 1 -> 3 bytes
);
const rowArb = fc.array(value, { minLength: names.length, maxLength: names.length });

/** Each value through the allocating MaskFn: the reference. */
function reference(values: (string | null)[]): (Buffer | null)[] {
  return values.map((v, i) => {
    if (v === null) return null;
    const b = Buffer.from(v, 'utf8');
    const fn = fns[i];
    return fn ? fn(b, 0, b.length) : b;
  });
}

/** maskInto at an offset inside a buffer exactly as big as the promised room (overruns throw). */
function inPlace(masker: RowMasker, frame: Buffer): Buffer {
  expect(masker.slack).toBeGreaterThanOrEqual(0);
  const out = Buffer.alloc(3 + frame.length + masker.slack);
  const end = masker.maskInto(frame, 0, frame.length, out, 3);
  expect(end).toBeGreaterThan(0);
  return out.subarray(3, end);
}

// Column rules that keep an ASCII value's length (partial): rows of such values are masked where they lie.
const keepPlan = parseMaskingRules(
  `columns:\n  - match: { column: last4 }\n    mask: { partial: { keepLast: 4 } }\n  - match: { column: first2last1 }\n    mask: { partial: { keepFirst: 2, keepLast: 1 } }\n`,
  'keeping.yaml',
).planFor(['id', 'last4', 'first2last1'].map((name) => ({ name, textLike: true })), {});
const keepFns = [undefined, compileStrategy(strategies.last4!), compileStrategy(strategies.first2last1!)];

/**
 * Random rows of keepPlan's 3 columns through maskOver: each masked where it lies (OVERWRITTEN) or written
 * into out, byte for byte what the strategies write, and counted; both ways taken often.
 */
function checkKeepingRows(
  frameOf: (values: (string | null)[], seq: number) => Buffer,
  maskedFrameOf: (values: (Buffer | null)[], seq: number) => Buffer,
  makeMasker: (counters: MaskCounters) => RowMasker,
): void {
  const ways = { over: 0, written: 0 };
  fc.assert(
    fc.property(fc.array(value, { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 255 }), (values, seq) => {
      const frame = frameOf(values, seq);
      const expected = maskedFrameOf(
        values.map((v, i) => (v === null ? null : (keepFns[i]?.(Buffer.from(v, 'utf8'), 0, Buffer.byteLength(v)) ?? Buffer.from(v, 'utf8')))),
        seq,
      );
      const counters = new MaskCounters(keepPlan.spec);
      const masker = makeMasker(counters);
      const out = Buffer.alloc(3 + frame.length + masker.slack);
      const end = masker.maskOver!(frame, 0, frame.length, out, 3);
      if (end === OVERWRITTEN) ways.over++;
      else ways.written++;
      expect((end === OVERWRITTEN ? frame : out.subarray(3, end)).equals(expected)).toBe(true);
      expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: values.slice(1).filter((v) => v !== null).length });
    }),
    { numRuns: 500 },
  );
  expect(ways.over).toBeGreaterThan(50);
  expect(ways.written).toBeGreaterThan(50);
}

/** The same row the two-pass way: sized by prepare, then written by emit. */
function twoPass(masker: RowMasker, frame: Buffer): Buffer {
  const size = masker.prepare(frame, 0, frame.length);
  if (size < 0) return frame;
  const out = Buffer.alloc(size);
  expect(masker.emit(out, 0)).toBe(size);
  return out;
}

describe('masking in place equals masking value by value', () => {
  it('PostgreSQL DataRow, text format', () => {
    const formats = pgRowFormats(names.map(() => ({ type: 25, format: 0 })));
    fc.assert(
      fc.property(rowArb, (values) => {
        const counters = new MaskCounters(plan.spec);
        const masker = new PgRowMasker(plan, formats, counters);
        const got = inPlace(masker, encodeDataRow(values.map((v) => (v === null ? null : Buffer.from(v, 'utf8')))));
        expect(got.equals(encodeDataRow(reference(values)))).toBe(true);
        const masked = values.slice(1).filter((v) => v !== null).length;
        expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: masked });
      }),
      { numRuns: 300 },
    );
  });

  it('PostgreSQL DataRow, maskOver: rows whose column rules keep every length are masked where they lie', () => {
    const formats = pgRowFormats([0, 1, 2].map(() => ({ type: 25, format: 0 })));
    checkKeepingRows(
      (values) => encodeDataRow(values.map((v) => (v === null ? null : Buffer.from(v, 'utf8')))),
      (values) => encodeDataRow(values),
      (counters) => new PgRowMasker(keepPlan, formats, counters),
    );
  });

  it('PostgreSQL DataRow, binary format: text values are their bytes, masked in place too', () => {
    const formats = pgRowFormats(names.map(() => ({ type: 1043, format: 1 })));
    const masker = new PgRowMasker(plan, formats, new MaskCounters(plan.spec));
    const values = ['7', 'jane@example.com', '123-45-6789', 'Zoë Ørjan', 'x', 'y', 'z', 'w'];
    expect(inPlace(masker, encodeDataRow(values.map((v) => Buffer.from(v))))).toEqual(encodeDataRow(reference(values)));
    // An int4 in binary format is read as text first, then masked: the same bytes either way.
    const intFormats = pgRowFormats(names.map((_, i) => ({ type: i === 1 ? 23 : 25, format: 1 })));
    const int4 = Buffer.alloc(4);
    int4.writeInt32BE(-1234567);
    const frame = encodeDataRow([Buffer.from('7'), int4, ...values.slice(2).map((v) => Buffer.from(v))]);
    const counted = [new MaskCounters(plan.spec), new MaskCounters(plan.spec)];
    const got = inPlace(new PgRowMasker(plan, intFormats, counted[0]!), frame);
    expect(got).toEqual(twoPass(new PgRowMasker(plan, intFormats, counted[1]!), frame));
    expect(got.includes('j***@example.com')).toBe(false);
    expect(got.includes('-1234567')).toBe(false);
    expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
  });

  it('MySQL text rows, inside a packet (header kept)', () => {
    const format = { kind: 'mysql-text' as const, columns: mysqlRowColumns(names.map(() => ({ type: ColumnType.VarString }))) };
    fc.assert(
      fc.property(rowArb, fc.integer({ min: 0, max: 255 }), (values, seq) => {
        const counters = new MaskCounters(plan.spec);
        const masker = createRowMasker(plan, format, counters);
        const got = inPlace(masker, framePayload(encodeTextRow(values), seq));
        expect(got.equals(framePayload(encodeTextRow(reference(values)), seq))).toBe(true);
        // Every non-NULL value of a column with a rule is a masked cell.
        const masked = values.filter((v, i) => v !== null && fns[i] !== undefined).length;
        expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: masked });
      }),
      { numRuns: 300 },
    );
  });

  it('MySQL text rows, maskOver: rows whose column rules keep every length are masked where they lie, in their packet', () => {
    const format = { kind: 'mysql-text' as const, columns: mysqlRowColumns([0, 1, 2].map(() => ({ type: ColumnType.VarString }))) };
    checkKeepingRows(
      (values, seq) => framePayload(encodeTextRow(values), seq),
      (values, seq) => framePayload(encodeTextRow(values), seq),
      (counters) => createRowMasker(keepPlan, format, counters),
    );
  });

  it('MySQL text rows under column rules: a truncated row or trailing bytes fail as errors of the wire', () => {
    const columnsOf = mysqlRowColumns(names.map(() => ({ type: ColumnType.VarString })));
    const masker = new MysqlRowMasker(plan, columnsOf, false, new MaskCounters(plan.spec));
    const row = encodeTextRow(names.map((n) => `${n}@example.com`));
    const out = Buffer.alloc(row.length + masker.slack + 16);
    expect(masker.maskInto(row, 0, row.length, out, 0)).toBeGreaterThan(0);
    expect(() => masker.maskInto(row, 0, row.length - 3, out, 0)).toThrow(/truncated/);
    const trailing = Buffer.concat([row, Buffer.from([1, 0x41])]);
    expect(() => masker.maskInto(trailing, 0, trailing.length, out, 0)).toThrow(/trailing/);
    const bad = Buffer.from(row);
    bad[0] = 0xff; // not a length
    expect(() => masker.maskInto(bad, 0, bad.length, out, 0)).toThrow(/truncated/);
  });

  it('MySQL binary rows: string columns in place, a NULL result sets the NULL bitmap bit', () => {
    const types = names.map((_, i) => (i === 0 ? ColumnType.LongLong : ColumnType.VarString));
    const columnsOf = mysqlRowColumns(types.map((type) => ({ type })));
    fc.assert(
      fc.property(rowArb, (values) => {
        const masker = new MysqlRowMasker(plan, columnsOf, true, new MaskCounters(plan.spec));
        const row = (vs: (Buffer | string | null)[]) => encodeBinaryRow(types, [42n, ...vs.slice(1).map((v) => (v === null ? null : Buffer.from(v)))]);
        const got = inPlace(masker, row(values));
        expect(got.equals(row(reference(values)))).toBe(true);
      }),
      { numRuns: 300 },
    );
    // A masked LONGLONG is printed as text first: not in place.
    const numeric = mysqlRowColumns(names.map(() => ({ type: ColumnType.LongLong })));
    expect(new MysqlRowMasker(plan, numeric, true, new MaskCounters(plan.spec)).slack).toBe(-1);
  });
});

// Rows with detector matches: plans that mask one column by a rule and scan the others.
const scanned = ['id', 'notes', 'hashed', 'email', 'extra'];
const detectingPlan = (hashedMask: string, file: string) =>
  parseMaskingRules(
    `columns:
  - match: { column: hashed }
    mask: ${hashedMask}
detect:
  - kind: [email, credit_card, us_ssn, phone, ipv4, jwt, aws_access_key]
    mask: { partial: { keepLast: 4 } }
  - kind: iban
    mask: { fixed: "[IBAN]" }
  - kind: api_token
    mask: null
`,
    file,
    { hashKey },
  ).planFor(scanned.map((name, i) => ({ name, textLike: i > 0 })), {});
const scanPlan = detectingPlan('hash', 'detect.yaml');
// A column rule and matches that keep their length (partial on ASCII), and some that do not (non-ASCII
// values, the fixed IBAN, the NULLed token).
const overPlan = detectingPlan('{ partial: { keepFirst: 1 } }', 'over.yaml');
const piece = fc.constantFrom('jane.doe@example.com', '4111 1111 1111 1111', '123-45-6789', '+1 415-555-0100', '10.0.0.1', 'DE89 3704 0044 0532 0130 00', 'AKIAIOSFODNN7EXAMPLE', 'ghp_' + 'a'.repeat(36), ' ', 'note ', 'Zoë ', ', ');
const text = fc.oneof(fc.array(piece, { maxLength: 12 }).map((a) => a.join('')), fc.string({ maxLength: 40 }), fc.constant(null));
const rowOf = fc.array(text, { minLength: scanned.length, maxLength: scanned.length });

describe('detector matches masked in place', () => {
  it('equals prepare/emit byte for byte and counts the same, text and binary format', () => {
    for (const format of [0, 1]) {
      const formats = pgRowFormats(scanned.map(() => ({ type: 25, format })));
      fc.assert(
        fc.property(rowOf, (values) => {
          const frame = encodeDataRow(values.map((v) => (v === null ? null : Buffer.from(v, 'utf8'))));
          const counted = [new MaskCounters(scanPlan.spec), new MaskCounters(scanPlan.spec)];
          const got = inPlace(new PgRowMasker(scanPlan, formats, counted[0]!), frame);
          expect(got.equals(twoPass(new PgRowMasker(scanPlan, formats, counted[1]!), frame))).toBe(true);
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }),
        { numRuns: 200 },
      );
    }
  });

  it('MySQL text and binary rows: equal prepare/emit byte for byte and count the same', () => {
    const types = scanned.map((_, i) => (i === 0 ? ColumnType.LongLong : ColumnType.VarString));
    const textColumns = mysqlRowColumns(scanned.map(() => ({ type: ColumnType.VarString })));
    const binaryColumns = mysqlRowColumns(types.map((type) => ({ type })));
    fc.assert(
      fc.property(rowOf, (values) => {
        for (const binary of [false, true]) {
          const row = binary
            ? encodeBinaryRow(types, [7n, ...values.slice(1).map((v) => (v === null ? null : Buffer.from(v, 'utf8')))])
            : encodeTextRow(values);
          const counted = [new MaskCounters(scanPlan.spec), new MaskCounters(scanPlan.spec)];
          const columnsOf = binary ? binaryColumns : textColumns;
          const masker = new MysqlRowMasker(scanPlan, columnsOf, binary, counted[0]!);
          const got = inPlace(masker, row);
          expect(got.equals(twoPass(new MysqlRowMasker(scanPlan, columnsOf, binary, counted[1]!), row))).toBe(true);
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }
      }),
      { numRuns: 200 },
    );
  });

  it('maskOver masks a row where it lies when every masked value keeps its length, else writes it as prepare/emit does', () => {
    let over = 0;
    let written = 0;
    for (const format of [0, 1]) {
      const formats = pgRowFormats(scanned.map(() => ({ type: 25, format })));
      fc.assert(
        fc.property(rowOf, (values) => {
          const frame = encodeDataRow(values.map((v) => (v === null ? null : Buffer.from(v, 'utf8'))));
          const original = Buffer.from(frame);
          const counted = [new MaskCounters(overPlan.spec), new MaskCounters(overPlan.spec)];
          const expected = Buffer.from(twoPass(new PgRowMasker(overPlan, formats, counted[1]!), original));
          const masker = new PgRowMasker(overPlan, formats, counted[0]!);
          const out = Buffer.alloc(3 + frame.length + masker.slack);
          const end = masker.maskOver!(frame, 0, frame.length, out, 3);
          if (end === OVERWRITTEN) {
            over++;
            expect(frame.equals(expected)).toBe(true);
          } else {
            written++;
            expect(end).toBeGreaterThan(3);
            expect(out.subarray(3, end).equals(expected)).toBe(true);
            expect(frame.equals(original)).toBe(true);
          }
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }),
        { numRuns: 300 },
      );
    }
    // Both ways were taken, many times.
    expect(over).toBeGreaterThan(50);
    expect(written).toBeGreaterThan(50);
  });

  it('maskOver, MySQL text and binary rows in their packets: masked where they lie, or written as prepare/emit writes them', () => {
    const types = scanned.map((_, i) => (i === 0 ? ColumnType.LongLong : ColumnType.VarString));
    const ways = { over: 0, written: 0 };
    for (const binary of [false, true]) {
      const format = binary
        ? { kind: 'mysql-binary' as const, columns: mysqlRowColumns(types.map((type) => ({ type }))) }
        : { kind: 'mysql-text' as const, columns: mysqlRowColumns(scanned.map(() => ({ type: ColumnType.VarString }))) };
      fc.assert(
        fc.property(rowOf, fc.integer({ min: 0, max: 255 }), (values, seq) => {
          const payload = binary ? encodeBinaryRow(types, [7n, ...values.slice(1).map((v) => (v === null ? null : Buffer.from(v, 'utf8')))]) : encodeTextRow(values);
          const packet = framePayload(payload, seq);
          const original = Buffer.from(packet);
          const counted = [new MaskCounters(overPlan.spec), new MaskCounters(overPlan.spec)];
          const expected = Buffer.from(twoPass(createRowMasker(overPlan, format, counted[1]!), original));
          const masker = createRowMasker(overPlan, format, counted[0]!);
          const out = Buffer.alloc(3 + packet.length + masker.slack);
          const end = masker.maskOver!(packet, 0, packet.length, out, 3);
          if (end === OVERWRITTEN) {
            ways.over++;
            expect(packet.equals(expected)).toBe(true);
          } else {
            ways.written++;
            expect(packet.equals(original)).toBe(true);
            expect(out.subarray(3, end).equals(expected)).toBe(true);
          }
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }),
        { numRuns: 300 },
      );
    }
    expect(ways.over).toBeGreaterThan(100);
    expect(ways.written).toBeGreaterThan(100);
  });

  it('maskOver: a row that must be rewritten and does not fit is left as it was, nothing counted', () => {
    const formats = pgRowFormats(scanned.map(() => ({ type: 25, format: 0 })));
    const counters = new MaskCounters(overPlan.spec);
    const masker = new PgRowMasker(overPlan, formats, counters);
    // The name keeps its length (partial on ASCII), the IBAN does not: the whole row is rewritten.
    const frame = encodeDataRow(['1', 'iban DE89 3704 0044 0532 0130 00', 'Jane', 'card 4111111111111111', null].map((v) => (v === null ? null : Buffer.from(v))));
    const original = Buffer.from(frame);
    expect(masker.maskOver(frame, 0, frame.length, Buffer.alloc(20), 0)).toBe(-1);
    expect(frame.equals(original)).toBe(true);
    expect(counters.snapshot()).toMatchObject({ rows: 0, maskedCells: 0 });
    const out = Buffer.alloc(frame.length + masker.slack);
    const end = masker.maskOver(frame, 0, frame.length, out, 0);
    expect(out.subarray(0, end).toString()).toContain('iban [IBAN]');
    expect(out.subarray(0, end).toString()).toContain('J***');
    expect(out.subarray(0, end).toString()).toContain('card ************1111');
    expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: 3 });
  });

  it('MySQL text rows with detectors: a truncated row, trailing bytes or a bad length fail as errors of the wire', () => {
    const columnsOf = mysqlRowColumns(scanned.map(() => ({ type: ColumnType.VarString })));
    const masker = new MysqlRowMasker(scanPlan, columnsOf, false, new MaskCounters(scanPlan.spec));
    const row = encodeTextRow(['1', 'mail jane@example.com', null, 'x'.repeat(300), 'card 4111 1111 1111 1111']);
    const out = Buffer.alloc(row.length + masker.slack + 16);
    expect(masker.maskInto(row, 0, row.length, out, 0)).toBeGreaterThan(0);
    for (const cut of [1, 10, 40]) expect(() => masker.maskInto(row, 0, row.length - cut, out, 0)).toThrow(/truncated/);
    const trailing = Buffer.concat([row, Buffer.from([1, 0x41])]);
    expect(() => masker.maskInto(trailing, 0, trailing.length, out, 0)).toThrow(/trailing/);
    expect(() => masker.maskOver(trailing, 0, trailing.length, out, 0)).toThrow(/trailing/);
    const bad = Buffer.from(row);
    bad[0] = 0xff; // not a length
    expect(() => masker.maskInto(bad, 0, bad.length, out, 0)).toThrow(/truncated/);
  });

  it('MySQL: returns -1 and counts nothing when a match would not fit', () => {
    const columnsOf = mysqlRowColumns(scanned.map(() => ({ type: ColumnType.VarString })));
    const counters = new MaskCounters(scanPlan.spec);
    const masker = new MysqlRowMasker(scanPlan, columnsOf, false, counters);
    const row = encodeTextRow(['1', 'mail jane@example.com', null, null, null]);
    expect(masker.maskInto(row, 0, row.length, Buffer.alloc(row.length - 4), 0)).toBe(-1);
    expect(counters.snapshot()).toMatchObject({ rows: 0, maskedCells: 0 });
  });

  it('returns -1 and counts nothing when the row does not fit; prepare/emit then takes it', () => {
    const formats = pgRowFormats(scanned.map(() => ({ type: 25, format: 0 })));
    const counters = new MaskCounters(scanPlan.spec);
    const masker = new PgRowMasker(scanPlan, formats, counters);
    // A room smaller than the row itself: the e-mail's cell cannot be written.
    const frame = encodeDataRow([Buffer.from('1'), Buffer.from('mail jane@example.com'), null, null, null]);
    expect(masker.maskInto(frame, 0, frame.length, Buffer.alloc(frame.length - 8), 0)).toBe(-1);
    expect(counters.snapshot()).toMatchObject({ rows: 0, maskedCells: 0 });
    expect(maskMessage(masker, frame, 0, frame.length).toString()).toContain('mail ************.com');
    expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: 1 });
  });
});

// One masker over many rows learns, per column, the kind of whole match its values are (SpanMasker#wholeKind)
// and masks the next such value like a column rule's. A fresh plan per row (nothing learned) is the reference.
const whole = fc.constantFrom('jane.doe@example.com', 'zoë@x.io', 'o.brien42@mail.example.org', '4111 1111 1111 1111', '4111-1111-1111-1111', '5555555555554444', '123-45-6789');
// Mostly whole matches, sometimes a near miss, a value around one, a NULL or an empty string.
const cell = fc.oneof(
  { weight: 6, arbitrary: whole },
  { weight: 1, arbitrary: fc.constantFrom('jane@x', ' 4111 1111 1111 1111', '-4111111111111111', '4111111111111112', '666-45-6789', 'a@b@x.io', '') },
  { weight: 1, arbitrary: fc.tuple(piece, whole).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.constant(null) },
);
const rowsOf = fc.array(fc.array(cell, { minLength: scanned.length, maxLength: scanned.length }), { minLength: 2, maxLength: 8 });
const fresh = () => compilePlan(overPlan.spec, { hashKey });
const checkRows = (rows: (string | null)[][], format: RowFormat, encode: (values: (string | null)[]) => Buffer): number => {
  const counted = [new MaskCounters(overPlan.spec), new MaskCounters(overPlan.spec)];
  const learning = createRowMasker(fresh(), format, counted[0]!);
  let over = 0;
  for (const values of rows) {
    const frame = encode(values);
    const expected = Buffer.from(twoPass(createRowMasker(fresh(), format, counted[1]!), Buffer.from(frame)));
    const out = Buffer.alloc(3 + frame.length + learning.slack);
    const end = learning.maskOver!(frame, 0, frame.length, out, 3);
    if (end === OVERWRITTEN) over++;
    // -1: a COPY field whose masked bytes would need escaping; the stage then takes prepare/emit.
    expect(end === OVERWRITTEN ? frame : end === -1 ? twoPass(learning, frame) : out.subarray(3, end)).toEqual(expected);
  }
  expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
  return over;
};

describe('detector matches in columns of whole e-mails, cards and SSNs, one masker over many rows', () => {
  it('PostgreSQL DataRow, text and binary format: each row as a fresh plan masks it, counted the same', () => {
    let over = 0;
    for (const format of [0, 1]) {
      const formats = pgRowFormats(scanned.map(() => ({ type: 25, format })));
      const encode = (values: (string | null)[]) => encodeDataRow(values.map((v) => (v === null ? null : Buffer.from(v, 'utf8'))));
      fc.assert(
        fc.property(rowsOf, (rows) => {
          over += checkRows(rows, { kind: 'pg-datarow', formats }, encode);
        }),
        { numRuns: 300 },
      );
    }
    expect(over).toBeGreaterThan(50);
  });

  it('MySQL text and binary rows: each row as a fresh plan masks it, counted the same', () => {
    const types = scanned.map((_, i) => (i === 0 ? ColumnType.LongLong : ColumnType.VarString));
    const formats: [RowFormat, (values: (string | null)[]) => Buffer][] = [
      [{ kind: 'mysql-text', columns: mysqlRowColumns(scanned.map(() => ({ type: ColumnType.VarString }))) }, (values) => framePayload(encodeTextRow(values), 1)],
      [
        { kind: 'mysql-binary', columns: mysqlRowColumns(types.map((type) => ({ type }))) },
        (values) => framePayload(encodeBinaryRow(types, [7n, ...values.slice(1).map((v) => (v === null ? null : Buffer.from(v, 'utf8')))]), 1),
      ],
    ];
    let over = 0;
    for (const [format, encode] of formats) {
      fc.assert(
        fc.property(rowsOf, (rows) => {
          over += checkRows(rows, format, encode);
        }),
        { numRuns: 300 },
      );
    }
    expect(over).toBeGreaterThan(50);
  });
});

describe('PostgreSQL rows of column rules only', () => {
  it('returns -1 and counts nothing when the row does not fit; the next row counts alone', () => {
    const formats = pgRowFormats(names.map(() => ({ type: 25, format: 0 })));
    const counters = new MaskCounters(plan.spec);
    const masker = new PgRowMasker(plan, formats, counters);
    const values = names.map((n) => `${n}-value-that-is-long-enough`);
    const frame = encodeDataRow(values.map((v) => Buffer.from(v)));
    expect(masker.maskInto(frame, 0, frame.length, Buffer.alloc(40), 0)).toBe(-1);
    expect(counters.snapshot()).toMatchObject({ rows: 0, maskedCells: 0 });
    const out = Buffer.alloc(frame.length + masker.slack);
    expect(masker.maskInto(frame, 0, frame.length, out, 0)).toBeGreaterThan(0);
    expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: names.length - 1 });
  });
});

describe('COPY TO STDOUT rows masked in place', () => {
  /** A CopyData frame of one row as the server writes it (CopyAttributeOutText / CopyAttributeOutCSV). */
  function copyRow(values: (string | null)[], syntax: CopySyntax): Buffer {
    const delimiter = String.fromCharCode(syntax.delimiter);
    const field = (v: string | null) => {
      if (v === null) return syntax.csv ? syntax.null.toString() : '\\N';
      if (!syntax.csv)
        return v.replace(/[\\\t\n\r\b\f\v]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v' })[c]!).replaceAll(delimiter, `\\${delimiter}`);
      const quoted = v === '' || v.includes(delimiter) || /["\r\n]/.test(v) || v === '\\.' || v === syntax.null.toString();
      return quoted ? `"${v.replaceAll('"', '""')}"` : v;
    };
    const line = Buffer.from(values.map(field).join(delimiter) + '\n', 'utf8');
    const frame = Buffer.allocUnsafe(5 + line.length);
    frame[0] = 0x64;
    frame.writeInt32BE(4 + line.length, 1);
    line.copy(frame, 5);
    return frame;
  }

  it('detectors over columns of whole e-mails, cards and SSNs, one masker over many rows: each row as a fresh plan masks it', () => {
    let over = 0;
    for (const syntax of [copyText, copyCsv]) {
      fc.assert(
        fc.property(rowsOf, (rows) => {
          over += checkRows(rows, { kind: 'pg-copy', syntax }, (values) => copyRow(values, syntax));
        }),
        { numRuns: 300 },
      );
    }
    expect(over).toBeGreaterThan(50);
  });

  /** maskInto in exactly the promised room, or (-1, nothing counted) prepare/emit. */
  function oneOrOther(masker: RowMasker, counters: MaskCounters, frame: Buffer): Buffer {
    const out = Buffer.alloc(2 + frame.length + masker.slack);
    const before = counters.snapshot();
    const end = masker.maskInto(frame, 0, frame.length, out, 2);
    if (end >= 0) return out.subarray(2, end);
    expect(counters.snapshot()).toEqual(before);
    return twoPass(masker, frame);
  }

  const texts = fc.oneof(value, fc.constantFrom('a\tb', 'back\\slash', 'two\nlines', 'q"uote, comma', '\\.'));

  for (const [name, syntax] of [['text', copyText], ['CSV', copyCsv]] as const) {
    it(`equals maskCopyRow byte for byte and counts the same: column rules, ${name} format`, () => {
      fc.assert(
        fc.property(fc.array(texts, { minLength: names.length, maxLength: names.length }), (values) => {
          const frame = copyRow(values, syntax);
          const counted = [new MaskCounters(plan.spec), new MaskCounters(plan.spec)];
          const got = oneOrOther(new CopyRowMasker(plan, syntax, counted[0]!), counted[0]!, frame);
          expect(got.equals(twoPass(new CopyRowMasker(plan, syntax, counted[1]!), frame))).toBe(true);
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }),
        { numRuns: 300 },
      );
    });

    it(`equals maskCopyRow byte for byte and counts the same: detectors, ${name} format`, () => {
      fc.assert(
        fc.property(rowOf, (values) => {
          const frame = copyRow(values, syntax);
          const counted = [new MaskCounters(scanPlan.spec), new MaskCounters(scanPlan.spec)];
          const got = oneOrOther(new CopyRowMasker(scanPlan, syntax, counted[0]!), counted[0]!, frame);
          expect(got.equals(twoPass(new CopyRowMasker(scanPlan, syntax, counted[1]!), frame))).toBe(true);
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }),
        { numRuns: 300 },
      );
    });
  }

  it('leaves a masked value COPY must escape or quote to maskCopyRow', () => {
    const special = parseMaskingRules(`columns:\n  - match: { column: note }\n    mask: { fixed: "a,\\"b\\"\\tc\\\\d" }\n`, 'special.yaml', { hashKey });
    const specialPlan = special.planFor([{ name: 'id', textLike: true }, { name: 'note', textLike: true }], {});
    for (const syntax of [copyText, copyCsv]) {
      const counted = [new MaskCounters(specialPlan.spec), new MaskCounters(specialPlan.spec)];
      const frame = copyRow(['1', 'plain'], syntax);
      const got = oneOrOther(new CopyRowMasker(specialPlan, syntax, counted[0]!), counted[0]!, frame);
      expect(got.equals(twoPass(new CopyRowMasker(specialPlan, syntax, counted[1]!), frame))).toBe(true);
      expect(got.toString('latin1', 5)).toBe(syntax.csv ? '1,"a,""b""\tc\\d"\n' : '1\ta,"b"\\tc\\\\d\n');
    }
  });

  it('text rows: counts the fields after the last masked one (escaped delimiters are not fields), and fails on a wrong count', () => {
    // A masked column first, then three unmasked ones: the tail is only counted.
    const tail = parseMaskingRules(`columns:\n  - match: { column: email }\n    mask: email\n`, 'tail.yaml');
    const tailPlan = tail.planFor(['email', 'a', 'b', 'c'].map((name) => ({ name, textLike: true })), {});
    const masker = new CopyRowMasker(tailPlan, copyText, new MaskCounters(tailPlan.spec));
    /** A CopyData frame of one text line as given (escapes included). */
    const frame = (text: string) => {
      const f = Buffer.concat([Buffer.from([0x64, 0, 0, 0, 0]), Buffer.from(text + '\n')]);
      f.writeInt32BE(f.length - 1, 1);
      return f;
    };
    const out = Buffer.alloc(256);
    // `\` + tab is an escaped delimiter inside the second field: four fields.
    const ok = frame('jane@example.com\tx\\\ty\tz\tw');
    const p = masker.maskInto(ok, 0, ok.length, out, 0);
    expect(out.toString('latin1', 5, p)).toBe('j***@example.com\tx\\\ty\tz\tw\n');
    for (const bad of ['jane@example.com\tx\ty', 'jane@example.com\tx\ty\tz\tw', 'jane@example.com\tx\\\ty\\\tz']) {
      const f = frame(bad);
      expect(() => masker.maskInto(f, 0, f.length, out, 0)).toThrow(/columns, expected 4/);
    }
  });

  it('text rows with a delimiter a strategy writes (`*`): the stars are escaped, not taken as delimiters', () => {
    const starred = { ...copyText, delimiter: 0x2a };
    const ssn = parseMaskingRules(`columns:\n  - match: { column: ssn }\n    mask: { partial: { keepLast: 4 } }\n`, 'star.yaml');
    const ssnPlan = ssn.planFor(['id', 'ssn'].map((name) => ({ name, textLike: true })), {});
    const counted = [new MaskCounters(ssnPlan.spec), new MaskCounters(ssnPlan.spec)];
    const frame = copyRow(['1', '123-45-6789'], starred);
    const got = oneOrOther(new CopyRowMasker(ssnPlan, starred, counted[0]!), counted[0]!, frame);
    expect(got.equals(twoPass(new CopyRowMasker(ssnPlan, starred, counted[1]!), frame))).toBe(true);
    expect(got.toString('latin1', 5)).toBe('1*\\*\\*\\*\\*\\*\\*\\*6789\n');
  });

  it('detector matches masked with bytes COPY escapes or quotes go to maskCopyRow', () => {
    const fixed = parseMaskingRules(`detect:\n  - kind: email\n    mask: { fixed: "a,\\tb" }\n`, 'fixed-detect.yaml');
    const fixedPlan = fixed.planFor(['id', 'note'].map((name) => ({ name, textLike: true })), {});
    for (const syntax of [copyText, copyCsv]) {
      const counted = [new MaskCounters(fixedPlan.spec), new MaskCounters(fixedPlan.spec)];
      const frame = copyRow(['1', 'mail jane@example.com'], syntax);
      const got = oneOrOther(new CopyRowMasker(fixedPlan, syntax, counted[0]!), counted[0]!, frame);
      expect(got.equals(twoPass(new CopyRowMasker(fixedPlan, syntax, counted[1]!), frame))).toBe(true);
      expect(got.toString('latin1', 5)).toBe(syntax.csv ? '1,"mail a,\tb"\n' : '1\tmail a,\\tb\n');
    }
  });

  it('maskOver: rows whose masked values keep their length are masked where they lie, else written as maskCopyRow writes them', () => {
    // The stars partial writes are a delimiter, or the NULL marker, in the last two: never written over there.
    const syntaxes = [copyText, copyCsv, { ...copyText, delimiter: 0x2a }, { ...copyCsv, null: Buffer.from('*') }];
    const ways = syntaxes.map(() => ({ over: 0, written: 0 }));
    syntaxes.forEach((syntax, k) => {
      fc.assert(
        fc.property(rowOf, (values) => {
          const frame = copyRow(values, syntax);
          const original = Buffer.from(frame);
          const counted = [new MaskCounters(overPlan.spec), new MaskCounters(overPlan.spec)];
          const expected = Buffer.from(twoPass(new CopyRowMasker(overPlan, syntax, counted[1]!), original));
          const masker = new CopyRowMasker(overPlan, syntax, counted[0]!);
          const out = Buffer.alloc(2 + frame.length + masker.slack);
          const end = masker.maskOver(frame, 0, frame.length, out, 2);
          if (end === OVERWRITTEN) {
            ways[k]!.over++;
            expect(frame.equals(expected)).toBe(true);
          } else {
            ways[k]!.written++;
            expect(frame.equals(original)).toBe(true);
            expect((end < 0 ? twoPass(masker, frame) : out.subarray(2, end)).equals(expected)).toBe(true);
          }
          expect(counted[0]!.snapshot()).toEqual(counted[1]!.snapshot());
        }),
        { numRuns: 300 },
      );
    });
    expect(ways[0]!.over).toBeGreaterThan(50);
    expect(ways[1]!.over).toBeGreaterThan(50);
    // Only rows with nothing to mask are left where they lie there.
    for (const k of [2, 3]) expect(ways[k]!.written).toBeGreaterThan(ways[0]!.written);
    // A one-character value written over would be `*`, the NULL marker: it goes out quoted instead.
    const nullStar = { ...copyCsv, null: Buffer.from('*') };
    const frame = copyRow(['1', null, 'J', null, null], nullStar);
    const masker = new CopyRowMasker(overPlan, nullStar, new MaskCounters(overPlan.spec));
    const out = Buffer.alloc(frame.length + masker.slack);
    const end = masker.maskOver(frame, 0, frame.length, out, 0);
    expect(end).not.toBe(OVERWRITTEN);
    expect((end < 0 ? twoPass(masker, frame) : out.subarray(0, end)).toString('latin1', 5)).toBe('1,*,"*",*,*\n');
  });

  it('masks plain fields in place (the common case takes no second pass)', () => {
    const counters = new MaskCounters(plan.spec);
    const masker = new CopyRowMasker(plan, copyText, counters);
    const frame = copyRow(['1', ...names.slice(1).map(() => 'jane.doe@example.com')], copyText);
    const out = Buffer.alloc(frame.length + masker.slack);
    expect(masker.maskInto(frame, 0, frame.length, out, 0)).toBeGreaterThan(0);
    expect(counters.snapshot()).toMatchObject({ rows: 1, maskedCells: names.length - 1 });
  });
});
