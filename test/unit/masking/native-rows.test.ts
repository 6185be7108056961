// The native row masker (src/masking/native/rows.c) against the JS maskers it stands in for: for any plan of
// the column rules it takes and any rows (NULLs, empty values, multi-byte and broken UTF-8, values long
// enough to need a longer MySQL length prefix), the same bytes out and the same counts; and where it stops:
// a full output, a malformed row (left to JS, which raises the wire error), more masked column sets than it
// reports at once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MaskCounters } from '../../../src/masking/counters.js';
import { FULL, LEAVE, nativeRowMargin, nativeRowsLoaded, rawMaskRows, type NativeRowRun } from '../../../src/masking/native.js';
import { createRowMasker } from '../../../src/masking/batch.js';
import { mysqlRowColumns } from '../../../src/masking/mysql-rows.js';
import { pgRowFormats } from '../../../src/masking/pg-rows.js';
import type { MaskPlan } from '../../../src/masking/plan.js';
import type { RowMasker } from '../../../src/masking/row-masker.js';
import { parseMaskingRules } from '../../../src/masking/rules.js';
import { encodeBinaryRow, encodeTextRow } from '../../../src/wire/mysql/encode.js';
import type { BinaryValue } from '../../../src/wire/mysql/decode.js';
import { ColumnType } from '../../../src/wire/mysql/packets.js';
import { framePayload } from '../../../src/wire/mysql/frames.js';
import { encodeDataRow } from '../../../src/wire/postgres/encode.js';

type Format = 'pg' | 'mysql';
type Cell = Buffer | null;

it('is built and loaded here (npm install builds it; SQLWARDEN_NATIVE=0 turns it off)', () => {
  expect(nativeRowsLoaded).toBe(process.env.SQLWARDEN_NATIVE !== '0');
});

const run = nativeRowsLoaded ? describe : describe.skip;

const strategyArb = fc.oneof(
  fc.constant('email'),
  fc.constant('redact'),
  fc.constant('null'),
  fc.record({ keepFirst: fc.integer({ min: 0, max: 4 }), keepLast: fc.integer({ min: 0, max: 5 }) }).map((p) => `{ partial: ${JSON.stringify(p)} }`),
  fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', minLength: 250, maxLength: 300 })).map((v) => `{ fixed: ${JSON.stringify(v)} }`),
);

/** Per column a strategy's YAML, or null for a column left as it is. */
const planArb = fc.array(fc.option(strategyArb, { nil: null }), { minLength: 1, maxLength: 8 });

const valueArb: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }).map((s) => Buffer.from(s)) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s) => Buffer.from(s)) },
  { weight: 3, arbitrary: fc.tuple(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ maxLength: 12 })).map(([l, d]) => Buffer.from(`${l}@${d}`)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 240, maxLength: 400 }).map((s) => Buffer.from(s)) },
);

function planOf(strategies: (string | null)[]): MaskPlan {
  const yaml = strategies.map((s, i) => (s === null ? '' : `  - match: { column: c${i} }\n    mask: ${s}\n`)).join('');
  const rules = parseMaskingRules(yaml === '' ? 'columns: []\n' : `columns:\n${yaml}`, 'native-rows.yaml');
  return rules.planFor(
    strategies.map((_, i) => ({ name: `c${i}`, textLike: true })),
    {},
  );
}

/** The row masker the stage makes for a result of `columns` text columns (MySQL: whole packets). */
function maskerOf(format: Format, plan: MaskPlan, columns: number, counters: MaskCounters): RowMasker {
  return createRowMasker(
    plan,
    format === 'pg'
      ? { kind: 'pg-datarow', formats: pgRowFormats(Array.from({ length: columns }, () => ({ type: 25, format: 0 }))) }
      : { kind: 'mysql-text', columns: mysqlRowColumns(Array.from({ length: columns }, () => ({ type: 253 }))) },
    counters,
  );
}

/** A MySQL binary row masker for columns of these types. */
function binaryMaskerOf(plan: MaskPlan, types: number[], counters: MaskCounters): RowMasker {
  return createRowMasker(plan, { kind: 'mysql-binary', columns: mysqlRowColumns(types.map((type) => ({ type }))) }, counters);
}

function frameOf(format: Format, cells: Cell[], seq: number): Buffer {
  return format === 'pg' ? encodeDataRow(cells) : framePayload(encodeTextRow(cells), seq & 0xff);
}

/** Where the row message at src[at] ends (its header's length), or null when that runs past src. */
function frameEndOrNull(format: Format, src: Buffer, at: number): number | null {
  if (src.length - at < (format === 'pg' ? 5 : 4)) return null;
  const next = format === 'pg' ? at + 1 + src.readUInt32BE(at + 1) : at + 4 + src.readUIntLE(at, 3);
  return next <= src.length ? next : null;
}

function frameEnd(format: Format, src: Buffer, at: number): number {
  const next = frameEndOrNull(format, src, at);
  if (next === null) throw new Error(`the addon masked a row that runs past its buffer, at ${at}`);
  return next;
}

/** The rows through the JS masker, row by row (maskInto, as the stage's JS loop calls it). */
function viaJs(format: Format, plan: MaskPlan, columns: number, frames: Buffer[], make = (c: MaskCounters) => maskerOf(format, plan, columns, c)): { bytes: Buffer; counts: MaskCounters } {
  const counts = new MaskCounters(plan.spec);
  const m = make(counts);
  const out = Buffer.alloc(frames.reduce((n, f) => n + f.length + m.slack + 16, 0));
  let p = 0;
  for (const f of frames) {
    const q = m.maskInto(f, 0, f.length, out, p);
    expect(q).toBeGreaterThanOrEqual(0);
    p = q;
  }
  return { bytes: out.subarray(0, p), counts };
}

/** The rows back to back through the native masker, called again whenever it stops; `room` bytes of out a call. */
function viaNative(
  format: Format,
  plan: MaskPlan,
  columns: number,
  frames: Buffer[],
  room?: number,
  make = (c: MaskCounters) => maskerOf(format, plan, columns, c),
): { bytes: Buffer; counts: MaskCounters; calls: number[] } {
  const counts = new MaskCounters(plan.spec);
  const m = make(counts);
  const native = m.native as NativeRowRun;
  const src = Buffer.concat(frames);
  const pieces: Buffer[] = [];
  const calls: number[] = [];
  for (let at = 0; at < src.length; ) {
    const out = Buffer.alloc(room ?? 2 * src.length + (m.slack + nativeRowMargin) * frames.length + 1024);
    native.run(src, at, src.length, out, 0);
    calls.push(native.why);
    expect(native.why).not.toBe(LEAVE);
    pieces.push(out.subarray(0, native.pos));
    if (native.at === at) throw new Error(`no progress at ${at} (why ${native.why})`);
    at = native.at;
  }
  return { bytes: Buffer.concat(pieces), counts, calls };
}

function expectSameCounts(a: MaskCounters, b: MaskCounters): void {
  expect(b.rows).toBe(a.rows);
  expect([...b.ruleRows]).toEqual([...a.ruleRows]);
  expect([...b.ruleCells]).toEqual([...a.ruleCells]);
}

run.each(['pg', 'mysql'] as const)('native row masker, %s', (format) => {
  it('writes the bytes and counts the cells the JS masker does, for any column rules and rows', () => {
    fc.assert(
      fc.property(
        planArb.filter((s) => s.some((x) => x !== null)),
        fc.integer({ min: 1, max: 40 }),
        fc.infiniteStream(valueArb),
        (strategies, rowCount, values) => {
          const plan = planOf(strategies);
          const frames = Array.from({ length: rowCount }, (_, r) => frameOf(format, strategies.map(() => values.next().value as Cell), r + 1));
          const js = viaJs(format, plan, strategies.length, frames);
          const native = viaNative(format, plan, strategies.length, frames);
          expect(native.bytes.equals(js.bytes)).toBe(true);
          expectSameCounts(js.counts, native.counts);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('masks a MySQL-prefix-crossing value: 70,000 bytes under partial, and a fixed value that grows past 250', () => {
    const plan = planOf(['{ partial: { keepLast: 4 } }', '{ fixed: "' + 'x'.repeat(300) + '" }', null]);
    const frames = [frameOf(format, [Buffer.alloc(70_000, 'a'), Buffer.from('short'), Buffer.from('kept')], 1)];
    const js = viaJs(format, plan, 3, frames);
    expect(viaNative(format, plan, 3, frames).bytes.equals(js.bytes)).toBe(true);
  });

  it('stops when out has no room for the next row, and goes on from there into another', () => {
    const plan = planOf(['email', null, '{ partial: { keepLast: 2 } }']);
    const frames = Array.from({ length: 50 }, (_, r) => frameOf(format, [Buffer.from(`user${r}@example.com`), Buffer.from('x'.repeat(r)), Buffer.from(`${r}-secret`)], r));
    const js = viaJs(format, plan, 3, frames);
    const native = viaNative(format, plan, 3, frames, 400);
    expect(native.bytes.equals(js.bytes)).toBe(true);
    expect(native.calls.filter((w) => w === FULL).length).toBeGreaterThan(3);
    expectSameCounts(js.counts, native.counts);
  });

  it('reports more than 64 different masked column sets over several calls, counted as JS counts them', () => {
    const strategies = Array.from({ length: 8 }, () => 'redact');
    const plan = planOf(strategies);
    // Row r has column i NULL where bit i of r is set: 256 rows, a different set of masked columns each.
    const frames = Array.from({ length: 256 }, (_, r) => frameOf(format, strategies.map((_, i) => ((r >> i) & 1 ? null : Buffer.from(`v${i}`))), r));
    const js = viaJs(format, plan, 8, frames);
    const native = viaNative(format, plan, 8, frames);
    expect(native.calls.length).toBe(4);
    expect(native.bytes.equals(js.bytes)).toBe(true);
    expectSameCounts(js.counts, native.counts);
  });

  it('on rows a server garbled (bytes changed, cut, grown), masks each one as JS does or leaves it to JS', () => {
    // Whatever the bytes, a row the addon masks is one the JS masker masks the same way; a row it leaves is
    // masked (or refused with a wire error) by JS, as the stage does. It never reads or writes past the buffers.
    let masked = 0;
    let left = 0;
    fc.assert(
      fc.property(
        planArb.filter((s) => s.some((x) => x !== null)),
        fc.array(fc.array(valueArb, { minLength: 1, maxLength: 9 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'grow')), { minLength: 1, maxLength: 4 }),
        (strategies, rowCells, edits) => {
          const plan = planOf(strategies);
          // Rows of the plan's width, and some of another: a column count the description did not announce.
          let src = Buffer.concat(rowCells.map((cells, r) => frameOf(format, strategies.map((_, i) => cells[i] ?? null).concat(r % 4 === 3 ? cells : []), r)));
          for (const [where, byte, how] of edits) {
            const k = where % src.length;
            if (how === 'set') src[k] = byte;
            else if (how === 'cut') src = src.subarray(0, Math.max(1, k));
            else src = Buffer.concat([src.subarray(0, k), Buffer.from([byte, byte]), src.subarray(k)]);
          }
          const m = maskerOf(format, plan, strategies.length, new MaskCounters(plan.spec));
          const reference = maskerOf(format, plan, strategies.length, new MaskCounters(plan.spec));
          const out = Buffer.alloc(src.length * 2 + 4096 + 16 * (m.slack + nativeRowMargin));
          for (let at = 0, pos = 0; at < src.length; ) {
            m.native!.run(src, at, src.length, out, pos);
            // Every row it masked: what JS writes for it.
            for (let r = at, q = pos; r < m.native!.at; ) {
              const next = frameEnd(format, src, r);
              const expected = Buffer.alloc(next - r + m.slack + 16);
              const e = reference.maskInto(src, r, next, expected, 0);
              expect(e).toBeGreaterThanOrEqual(0);
              expect(out.subarray(q, q + e).equals(expected.subarray(0, e))).toBe(true);
              q += e;
              r = next;
              masked++;
            }
            if (m.native!.at >= src.length) break;
            expect(m.native!.why).toBe(LEAVE);
            left++;
            // The row left: JS masks it or refuses it; either way the run ends here (a refusal ends the result).
            const next = frameEndOrNull(format, src, m.native!.at);
            if (next === null) break;
            try {
              const room = Buffer.alloc(next - m.native!.at + m.slack + 64);
              if (m.maskInto(src, m.native!.at, next, room, 0) < 0) break;
            } catch {
              break;
            }
            pos = 0;
            at = next;
          }
        },
      ),
      { numRuns: 500 },
    );
    // Both kinds of rows came up: garbled rows the addon still masked, and rows it left.
    expect(masked).toBeGreaterThan(200);
    expect(left).toBeGreaterThan(200);
  });

  it('leaves a malformed row to JS: the rows before it are written, it is not consumed', () => {
    const plan = planOf(['email', null]);
    const good = frameOf(format, [Buffer.from('a@b.c'), Buffer.from('x')], 1);
    const wrongCount = frameOf(format, [Buffer.from('a@b.c'), Buffer.from('x'), Buffer.from('y')], 2);
    const src = Buffer.concat([good, good, wrongCount, good]);
    const counts = new MaskCounters(plan.spec);
    const m = maskerOf(format, plan, 2, counts);
    const out = Buffer.alloc(1024);
    m.native!.run(src, 0, src.length, out, 0);
    expect(m.native!.why).toBe(LEAVE);
    expect(m.native!.at).toBe(2 * good.length);
    expect(counts.rows).toBe(2);
    expect(() => m.maskInto(src, 2 * good.length, 2 * good.length + wrongCount.length, out, m.native!.pos)).toThrow(/column|trailing/);
    // A cell that runs past its row: left too.
    const cut = Buffer.from(good);
    if (format === 'pg') cut.writeInt32BE(1000, 7);
    else cut[4] = 200;
    m.native!.run(Buffer.concat([good, cut]), 0, good.length + cut.length, out, 0);
    expect([m.native!.why, m.native!.at]).toEqual([LEAVE, good.length]);
  });

  it('asks for no more room than the stage offers a row: its length, the masker slack and nativeRowMargin', () => {
    const plan = planOf(['{ fixed: "a fixed value of some length" }', 'email']);
    const frame = frameOf(format, [Buffer.from('v'), Buffer.from('q@x.io')], 1);
    const m = maskerOf(format, plan, 2, new MaskCounters(plan.spec));
    const out = Buffer.alloc(frame.length + m.slack + nativeRowMargin);
    m.native!.run(frame, 0, frame.length, out, 0);
    expect([m.native!.why, m.native!.at]).toEqual([0, frame.length]);
  });
});

run('native row masker, MySQL binary rows', () => {
  // Columns left as they are have any type (fixed sizes, dates and times, decimals, strings); masked ones are strings.
  const kept: [number, fc.Arbitrary<BinaryValue>][] = [
    [ColumnType.Tiny, fc.integer({ min: 0, max: 255 })],
    [ColumnType.Short, fc.integer({ min: 0, max: 65535 })],
    [ColumnType.Long, fc.integer({ min: 0, max: 2 ** 31 - 1 })],
    [ColumnType.LongLong, fc.bigInt({ min: 0n, max: 2n ** 63n })],
    [ColumnType.Double, fc.double({ noNaN: true })],
    [ColumnType.DateTime, fc.record({ year: fc.integer({ min: 0, max: 9999 }), month: fc.integer({ min: 0, max: 12 }), day: fc.integer({ min: 0, max: 31 }), hour: fc.integer({ min: 0, max: 23 }), minute: fc.constant(1), second: fc.constant(0), microsecond: fc.integer({ min: 0, max: 999999 }) })],
    [ColumnType.Time, fc.record({ negative: fc.boolean(), days: fc.integer({ min: 0, max: 30 }), hours: fc.integer({ min: 0, max: 23 }), minutes: fc.integer({ min: 0, max: 59 }), seconds: fc.integer({ min: 0, max: 59 }), microseconds: fc.integer({ min: 0, max: 999999 }) })],
    [ColumnType.NewDecimal, fc.integer().map((n) => Buffer.from(String(n / 100)))],
    [ColumnType.VarString, fc.string({ unit: 'binary', maxLength: 20 }).map((v) => Buffer.from(v))],
  ];
  const columnArb = fc.oneof(
    fc.tuple(strategyArb, fc.constantFrom(ColumnType.VarString, ColumnType.Blob)).map(([strategy, type]) => ({ strategy, type, value: valueArb as fc.Arbitrary<BinaryValue> })),
    fc.constantFrom(...kept).map(([type, value]) => ({ strategy: null, type, value: fc.option(value, { nil: null }) })),
  );

  it('writes the bytes and counts the cells the JS masker does, for any column rules and rows', () => {
    fc.assert(
      fc.property(
        fc.array(columnArb, { minLength: 1, maxLength: 10 }).filter((cs) => cs.some((c) => c.strategy !== null)),
        fc.integer({ min: 1, max: 30 }),
        fc.infiniteStream(fc.nat()),
        (columns, rowCount, seeds) => {
          const plan = planOf(columns.map((c) => c.strategy));
          const types = columns.map((c) => c.type);
          const frames = Array.from({ length: rowCount }, (_, r) =>
            framePayload(encodeBinaryRow(types, columns.map((c) => fc.sample(c.value, { seed: seeds.next().value as number, numRuns: 1 })[0]!)), (r + 1) & 0xff),
          );
          const make = (c: MaskCounters) => binaryMaskerOf(plan, types, c);
          expect(make(new MaskCounters(plan.spec)).native).not.toBeNull();
          const js = viaJs('mysql', plan, columns.length, frames, make);
          const native = viaNative('mysql', plan, columns.length, frames, undefined, make);
          expect(native.bytes.equals(js.bytes)).toBe(true);
          expectSameCounts(js.counts, native.counts);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('has no native masker when a masked column is not a string where it lies (an integer read as text)', () => {
    const plan = planOf(['redact', null]);
    expect(binaryMaskerOf(plan, [ColumnType.Long, ColumnType.VarString], new MaskCounters(plan.spec)).native).toBeNull();
  });
});

run('native row masker, its own checks of what JS hands it', () => {
  const maskRows = rawMaskRows!;
  const io = () => new Int32Array(36 + 2 * 64).fill(-1, 5, 36);
  const src = encodeDataRow([Buffer.from('a@b.c')]);
  const out = Buffer.alloc(256);
  const consts = Buffer.from('****');
  /**
   * A plan's words (see rows.c): [format, columns, kinds], 12 detector strategies (op, a, b), then per column
   * (op, a, b, shape); `detectors` sets some of the strategies.
   */
  const planWords = (format: number, columns: number[][], kinds = 0, detectors: Record<number, number[]> = {}, count = columns.length) => {
    const head = [format, count, kinds, ...Array.from({ length: 12 }, (_, k) => detectors[k] ?? [0, 0, 0]).flat()];
    return [...head, ...columns.flat()];
  };
  const call = (plan: number[], args: { io?: Int32Array; consts?: Uint8Array; src?: unknown; out?: unknown } = {}) => {
    const words = args.io ?? io();
    words[1] = src.length;
    return () => maskRows(words, Int32Array.from(plan), args.consts ?? consts, (args.src ?? src) as Uint8Array, (args.out ?? out) as Uint8Array);
  };
  const email = planWords(0, [[2, 0, 0, 0]]);

  it('refuses a plan with an op it does not know, a negative count or a constant outside its bytes', () => {
    expect(call(email)).not.toThrow();
    expect(call(planWords(0, [[5, 0, 0, 0]], 1, { 0: [3, 0, 4] }))).not.toThrow(); // scanned for e-mails, redacted
    const bads = [
      planWords(0, [[6, 0, 0, 0]]), // an unknown op
      planWords(0, [[1, -3, 0, 0]]), // negative keeps
      planWords(0, [[1, 0, -1, 0]]),
      planWords(0, [[3, 2, 4, 0]]), // a constant past consts' 4 bytes
      planWords(0, [[3, 0, -1, 0]]),
      planWords(3, [[2, 0, 0, 0]]), // an unknown format
      planWords(0, [], 0, {}, 32), // too many columns
      planWords(0, [[2, 0, 0, 0]], 0, {}, 2), // shorter than its columns
      planWords(2, [[2, 0, 0, 4]]), // a binary row's masked value that is not a string
      planWords(0, [[5, 0, 0, 0]]), // scanned with no detector
      planWords(0, [[5, 0, 0, 0]], 1 << 12), // a detector that does not exist
      planWords(0, [[5, 0, 0, 0]], 1, { 0: [3, 0, 9] }), // a detector's constant past consts
      planWords(0, [[5, 0, 0, 0]], 2, { 1: [7, 0, 0] }), // a detector's unknown op
    ];
    for (const bad of bads) expect(call(bad), JSON.stringify(bad.slice(0, 3)) + JSON.stringify(bad.slice(39))).toThrow(/bad plan|bad arguments/);
  });

  it('refuses arguments of the wrong kind or positions outside the buffers', () => {
    expect(call(email, { src: new Int32Array(src.buffer, src.byteOffset, src.length >> 2) })).toThrow(/bad arguments/);
    expect(call(email, { out: [1, 2, 3] })).toThrow(/bad arguments/);
    expect(call(email, { io: new Int32Array(4) })).toThrow(/io too short/);
    // A scanning plan counts by hits: 1 + columns words a run.
    expect(call(planWords(0, [[5, 0, 0, 0], [0, 0, 0, 0]], 1, { 0: [2, 0, 0] }), { io: new Int32Array(36 + 2 * 64) })).toThrow(/io too short/);
    const past = io();
    past[0] = 1;
    past[1] = src.length + 1;
    expect(() => maskRows(past, Int32Array.from(email), consts, src, out)).toThrow(/out of range/);
    const far = io();
    far[1] = src.length;
    far[2] = out.length + 1;
    expect(() => maskRows(far, Int32Array.from(email), consts, src, out)).toThrow(/out of range/);
  });
});

describe('native row masker, plans it does not take', () => {
  it('has none for hash, as a column rule or a detector strategy: those stay in JS', () => {
    const hashed = parseMaskingRules('columns:\n  - match: { column: a }\n    mask: hash\n', 'x.yaml', { hashKey: 'k' }).planFor([{ name: 'a', textLike: true }], {});
    expect(maskerOf('pg', hashed, 1, new MaskCounters(hashed.spec)).native).toBeNull();
    const scanned = parseMaskingRules('detect:\n  - kind: email\n    mask: hash\n', 'x.yaml', { hashKey: 'k' }).planFor([{ name: 'a', textLike: true }], {});
    expect(maskerOf('mysql', scanned, 1, new MaskCounters(scanned.spec)).native).toBeNull();
  });
});
