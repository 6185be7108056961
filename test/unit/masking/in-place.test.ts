// Rows masked in place (RowMasker.maskInto, one pass straight into the output) against a reference built
// the slow way: decode the row, mask each value with the allocating MaskFn, encode the row again. Random
// rows cover NULLs, empty strings, multi-byte UTF-8, values long enough to change a MySQL length prefix,
// and every strategy; the output must match byte for byte, counters included, and never outgrow the room
// `maxGrowth` promised.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMaskingRules, type MaskColumn } from '../../../src/masking/rules.js';
import { compileStrategy, type StrategySpec } from '../../../src/masking/strategies.js';
import { PgRowMasker, pgRowFormats } from '../../../src/masking/pg-rows.js';
import { MysqlRowMasker, mysqlRowColumns } from '../../../src/masking/mysql-rows.js';
import { MaskCounters, createRowMasker } from '../../../src/masking/stage.js';
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
function inPlace(masker: { maxGrowth: number; maskInto(buf: Buffer, s: number, e: number, out: Buffer, p: number): number }, frame: Buffer): Buffer {
  expect(masker.maxGrowth).toBeGreaterThanOrEqual(0);
  const out = Buffer.alloc(3 + frame.length + masker.maxGrowth);
  const end = masker.maskInto(frame, 0, frame.length, out, 3);
  return out.subarray(3, end);
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

  it('PostgreSQL DataRow, binary format: text values are their bytes, masked in place too', () => {
    const formats = pgRowFormats(names.map(() => ({ type: 1043, format: 1 })));
    const masker = new PgRowMasker(plan, formats, new MaskCounters(plan.spec));
    const values = ['7', 'jane@example.com', '123-45-6789', 'Zoë Ørjan', 'x', 'y', 'z', 'w'];
    expect(inPlace(masker, encodeDataRow(values.map((v) => Buffer.from(v))))).toEqual(encodeDataRow(reference(values)));
    // An int4 in binary format is read as text first: not in place.
    const ints = new PgRowMasker(plan, pgRowFormats(names.map((_, i) => ({ type: i === 1 ? 23 : 25, format: 1 }))), new MaskCounters(plan.spec));
    expect(ints.maxGrowth).toBe(-1);
  });

  it('MySQL text rows, inside a packet (header kept)', () => {
    const format = { kind: 'mysql-text' as const, columns: mysqlRowColumns(names.map(() => ({ type: ColumnType.VarString }))) };
    fc.assert(
      fc.property(rowArb, fc.integer({ min: 0, max: 255 }), (values, seq) => {
        const masker = createRowMasker(plan, format, new MaskCounters(plan.spec));
        const got = inPlace(masker, framePayload(encodeTextRow(values), seq));
        expect(got.equals(framePayload(encodeTextRow(reference(values)), seq))).toBe(true);
      }),
      { numRuns: 300 },
    );
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
    expect(new MysqlRowMasker(plan, numeric, true, new MaskCounters(plan.spec)).maxGrowth).toBe(-1);
  });

  it('a plan with detector scans is not masked in place', () => {
    const scanning = parseMaskingRules('detect:\n  - kind: email\n    mask: email\n', 'd.yaml').planFor(columns, {});
    expect(new PgRowMasker(scanning, pgRowFormats(names.map(() => ({ type: 25, format: 0 }))), new MaskCounters(scanning.spec)).maxGrowth).toBe(-1);
  });
});
