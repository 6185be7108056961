// The native detectors (src/masking/native/detect.c) against the JS ones, through the row maskers: rows with
// scanned columns (and a column rule beside them) masked by the addon and by the JS masker, for values full
// of matches, near misses and noise, every detector kind with a strategy that shows where it matched
// (`fixed: <kind>`) or any other. The same bytes, the same counts; a row the addon leaves (a JWT candidate:
// only JS parses its header) is masked by JS, as the stage does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRowMasker, type RowFormat } from '../../../src/masking/batch.js';
import { MaskCounters } from '../../../src/masking/counters.js';
import { detectorKinds } from '../../../src/masking/detectors.js';
import { LEAVE, nativeRowMargin, nativeRowsLoaded } from '../../../src/masking/native.js';
import { mysqlRowColumns } from '../../../src/masking/mysql-rows.js';
import { pgRowFormats } from '../../../src/masking/pg-rows.js';
import { parseMaskingRules } from '../../../src/masking/rules.js';
import { encodeBinaryRow, encodeTextRow } from '../../../src/wire/mysql/encode.js';
import { framePayload } from '../../../src/wire/mysql/frames.js';
import { ColumnType } from '../../../src/wire/mysql/packets.js';
import { encodeDataRow } from '../../../src/wire/postgres/encode.js';

const run = nativeRowsLoaded ? describe : describe.skip;

const jwtPart = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: '1' })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;

// Whole matches of every kind, and near misses.
const samples = [
  'jane@x.io', 'o.brien42@mail.example.org', 'zoë@x.io', '.jane@x.io', 'jane.@x.io', 'jane@x', 'a@b.co', 'x@y..zz', 'j@x.io.', 'a-@-b.io',
  '4111 1111 1111 1111', '4111-1111-1111-1111', '4111111111111111', '4111111111111112', '5555555555554444', '4111 1111 1111 1111 2024',
  '378282246310005', '4444444444444444', '6011-0009-9013-9424',
  '123-45-6789', '123 45 6789', '666-45-6789', '123-45-67890', '078-05-1120', '123-45-6789-1', '000-12-3456',
  'DE89 3704 0044 0532 0130 00', 'DE89370400440532013000', 'GB82WEST12345698765432', 'GB82 WEST 1234 5698 7654 32', 'NO9386011117947', 'DE89370400440532013001',
  '+1 (415) 555-2671', '(415) 555-2671', '415-555-2671', '415.555.2671', '1-800-555-0199', '020 7946 0958', '+14155552671', '+44 20 7946 0958', '4155552671',
  '192.168.0.1', '10.0.0.255', '256.1.1.1', '1.2.3.4.5', '01.2.3.4', 'v1.192.168.0.1',
  'fe80::1', '2001:db8::8a2e:370:7334', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:192.0.2.1', 'a::b', '::1', '10:30:00',
  'AKIAIOSFODNN7EXAMPLE', 'ASIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLEX',
  `ghp_${'a1B'.repeat(12)}`, 'xoxb-123456789012', `sk_live_${'a1'.repeat(8)}`, `sk-${'x_'.repeat(16)}`, `AIza${'B-'.repeat(17)}C`, `github_pat_${'Z9'.repeat(11)}`,
  'Bearer abcdefghijklmnop1234', 'bearer abc.def_ghi-jkl~mno+pq/==', 'Bearer short', 'Authorization: Bearer\tAAAAAAAAAAAAAAAAAAAA=',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----', '-----BEGIN PRIVATE KEY-----abc', '-----BEGIN PUBLIC KEY-----',
  '-----BEGIN EC PRIVATE KEY-----x-----END EC PRIVATE KEY----- after',
  jwt, 'eyJhbGciOiJIUzI1NiJ9.e30.', 'eyJub3QiOiJqd3QifQ.e30.sig',
];
const pieces = [
  ' ', '-', '.', ':', '@', ',', '/', '(', ')', '+', '_', '=', '\n', '\t', 'x', 'é', 'ß', '0', '9', '12', '1234', 'jane', 'x.io', '4111',
  '::', 'eyJ', 'AKIA', 'DE89', 'Bearer ', 'ghp_', 'sk-', '-----BEGIN ', 'PRIVATE KEY-----', '-----END ', 'card:', 'id_',
];
const valueArb = fc.oneof(
  fc.array(fc.constantFrom(...pieces), { maxLength: 20 }).map((a) => a.join('')),
  fc.tuple(fc.array(fc.constantFrom(...pieces), { maxLength: 3 }), fc.constantFrom(...samples), fc.array(fc.constantFrom(...pieces), { maxLength: 3 })).map(
    ([a, v, b]) => a.join('') + v + b.join(''),
  ),
  fc.array(fc.constantFrom(...samples), { minLength: 1, maxLength: 4 }).chain((vs) => fc.constantFrom(' ', ', ', '; ', '\n', '').map((sep) => vs.join(sep))),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('latin1')),
);
const cellArb = fc.option(valueArb.map((v) => Buffer.from(v, v.length > 0 && /[\u0080-\u00ff]/.test(v) && !/[^\u0000-\u00ff]/.test(v) ? 'latin1' : 'utf8')), { nil: null, freq: 8 });

const strategyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(null) }, // `fixed: <kind>`: shows which kind matched where
  { weight: 1, arbitrary: fc.constantFrom('email', 'redact', 'null', '{ partial: { keepLast: 4 } }', '{ partial: { keepFirst: 1, keepLast: 2 } }', '{ fixed: "ü" }') },
);
const detectArb = fc.subarray([...detectorKinds], { minLength: 1 }).chain((kinds) => fc.tuple(...kinds.map((k) => strategyArb.map((st) => [k, st ?? `{ fixed: "<${k}>" }`] as const))));

type Format = 'pg' | 'mysql' | 'mysql-binary';

function frameOf(format: Format, cells: (Buffer | null)[], seq: number): Buffer {
  if (format === 'pg') return encodeDataRow(cells);
  if (format === 'mysql') return framePayload(encodeTextRow(cells), seq & 0xff);
  return framePayload(encodeBinaryRow(cells.map(() => ColumnType.VarString), cells), seq & 0xff);
}

function rowFormat(format: Format, columns: number): RowFormat {
  if (format === 'pg') return { kind: 'pg-datarow', formats: pgRowFormats(Array.from({ length: columns }, () => ({ type: 25, format: 0 }))) };
  return { kind: format === 'mysql' ? 'mysql-text' : 'mysql-binary', columns: mysqlRowColumns(Array.from({ length: columns }, () => ({ type: ColumnType.VarString }))) };
}

function frameEnd(format: Format, src: Buffer, at: number): number {
  return format === 'pg' ? at + 1 + src.readUInt32BE(at + 1) : at + 4 + src.readUIntLE(at, 3);
}

/** The rows through the JS masker one by one, and through the addon (JS taking the rows it leaves). */
function bothWays(format: Format, yaml: string, rows: (Buffer | null)[][]): { js: string; native: string; jsCounts: MaskCounters; counts: MaskCounters; left: number } {
  const columns = rows[0]!.length;
  const plan = parseMaskingRules(yaml, 'native-detect.yaml').planFor(Array.from({ length: columns }, (_, i) => ({ name: `c${i}`, textLike: true })), {});
  const frames = rows.map((cells, r) => frameOf(format, cells, r));
  const jsCounts = new MaskCounters(plan.spec);
  const js = createRowMasker(plan, rowFormat(format, columns), jsCounts);
  const counts = new MaskCounters(plan.spec);
  const m = createRowMasker(plan, rowFormat(format, columns), counts);
  const viaJs = (masker: typeof js, f: Buffer, from: number, to: number): Buffer => {
    const out = Buffer.alloc((to - from) * 8 + 4096);
    const p = masker.maskInto(f, from, to, out, 0);
    if (p >= 0) return Buffer.from(out.subarray(0, p));
    const size = masker.prepare(f, from, to);
    if (size < 0) return Buffer.from(f.subarray(from, to));
    const sized = Buffer.alloc(size);
    masker.emit(sized, 0);
    return sized;
  };
  const expected = frames.map((f) => viaJs(js, f, 0, f.length));
  const src = Buffer.concat(frames);
  const got: Buffer[] = [];
  const out = Buffer.alloc(src.length * 8 + 4096 + frames.length * (m.slack + nativeRowMargin));
  let left = 0;
  for (let at = 0; at < src.length; ) {
    m.native!.run(src, at, src.length, out, 0);
    got.push(Buffer.from(out.subarray(0, m.native!.pos)));
    if (m.native!.at >= src.length) break;
    expect(m.native!.why).toBe(LEAVE);
    const next = frameEnd(format, src, m.native!.at);
    // Only a value holding a JWT-shaped run (or more matches than the addon keeps) is left.
    expect(src.subarray(m.native!.at, next).includes('eyJ'), src.subarray(m.native!.at, next).toString('latin1')).toBe(true);
    left++;
    got.push(viaJs(m, src, m.native!.at, next));
    at = next;
  }
  return { js: Buffer.concat(expected).toString('latin1'), native: Buffer.concat(got).toString('latin1'), jsCounts, counts, left };
}

function expectSameCounts(a: MaskCounters, b: MaskCounters): void {
  expect(b.rows).toBe(a.rows);
  expect([...b.ruleRows]).toEqual([...a.ruleRows]);
  expect([...b.ruleCells]).toEqual([...a.ruleCells]);
}

run.each(['pg', 'mysql', 'mysql-binary'] as const)('native detectors, %s rows', (format) => {
  it('check a column as the kind its last value was, whole, and find there what the scan finds', () => {
    // A column of whole e-mails, cards or SSNs (the addon then checks the next value as that kind first),
    // followed by any value: near misses, other kinds, the same kind inside text.
    const primers = ['jane@x.io', '4111 1111 1111 1111', '4111111111111111', '123-45-6789'];
    const next = fc.oneof(fc.constantFrom(...samples), valueArb, fc.constantFrom('jane@x.io', 'zoë@x.io', 'a@b.c', 'j'.repeat(65) + '@x.io', 'x@' + 'a'.repeat(64) + '.io', '4111111111111111 ', '411111111111111', '4111 1111 1111 1112', '900-45-6789', '123-00-6789'));
    fc.assert(
      fc.property(fc.constantFrom(...primers), fc.array(next, { minLength: 1, maxLength: 6 }), (primer, values) => {
        const yaml = `detect:\n${detectorKinds.map((k) => `  - kind: ${k}\n    mask: { fixed: "<${k}>" }\n`).join('')}`;
        const rows = [primer, primer, ...values.flatMap((v) => [v, primer])].map((v) => [Buffer.from(v)]);
        const r = bothWays(format, yaml, rows);
        expect(r.native).toBe(r.js);
        expectSameCounts(r.jsCounts, r.counts);
      }),
      { numRuns: 1500 },
    );
  });

  it('mask what the JS detectors mask, count what they count, and leave only JWT candidates to JS', () => {
    let scannedRows = 0;
    let left = 0;
    fc.assert(
      fc.property(detectArb, fc.boolean(), fc.array(fc.tuple(cellArb, cellArb, cellArb), { minLength: 1, maxLength: 12 }), (detect, withRule, rows) => {
        // Columns c0 and c1 scanned; c2 under a column rule, or scanned too.
        const yaml =
          (withRule ? 'columns:\n  - match: { column: c2 }\n    mask: { partial: { keepLast: 2 } }\n' : '') +
          `detect:\n${detect.map(([k, st]) => `  - kind: ${k}\n    mask: ${st}\n`).join('')}`;
        const r = bothWays(format, yaml, rows);
        expect(r.native).toBe(r.js);
        expectSameCounts(r.jsCounts, r.counts);
        scannedRows += rows.length;
        left += r.left;
      }),
      { numRuns: 1500 },
    );
    expect(scannedRows).toBeGreaterThan(3000);
    // JWT candidates came up, and were left: not every row.
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(scannedRows / 4);
  });
});
