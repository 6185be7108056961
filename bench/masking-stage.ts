// Throughput of the row stage (masking/stage.ts) on PostgreSQL DataRow frames, no sockets: the same rows
// through a ResultMasker inline and through the piscina pool, with the output's bytes counted. MB/s counts
// the input frames' bytes; the pool figures include the copy into batches, the transfer both ways and the
// ordered output, i.e. everything but the sockets.
//
// Run (no TypeScript runner in the dependencies, so compile first; the worker is compiled with it):
//   npx tsc --outDir .tmp/bench --rootDir . --module nodenext --moduleResolution nodenext --target es2022 \
//     --strict --skipLibCheck --types node bench/masking-stage.ts && node .tmp/bench/bench/masking-stage.js
// BENCH_SECONDS (default 2) per case, BENCH_WORKERS (default 2) pool threads, BENCH_BATCH_ROWS (default 1024, the stage default).
import { parseMaskingRules, type MaskColumn } from '../src/masking/rules.js';
import type { MaskPlan } from '../src/masking/plan.js';
import { pgRowFormats } from '../src/masking/pg-rows.js';
import { ResultMasker } from '../src/masking/stage.js';
import { OrderedOutput } from '../src/masking/ordered-output.js';
import type { BatchExecutor } from '../src/masking/batch.js';
import { MaskingPool } from '../src/masking/pool.js';
import { encodeDataRow } from '../src/wire/postgres/encode.js';

const ROWS = 20_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const BATCH_ROWS = Number(process.env.BENCH_BATCH_ROWS ?? 1024);
const hashKey = 'bench-key';

// ---- rows: id, first_name, last_name, email, phone, city, notes (5% of notes hold something sensitive) ----

let seed = 7;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const pick = <T>(a: readonly T[]): T => a[rand(a.length)]!;
const firsts = ['Jane', 'John', 'Zoë', 'Ørjan', 'Amélie', 'Wei', 'Fatima', 'Carlos'];
const lasts = ['Doe', 'Smith', 'Müller', 'García', 'Nakamura', 'Okafor'];
const cities = ['Berlin', 'São Paulo', 'Tokyo', 'New York', 'Lagos', 'Zürich'];
const prose = [
  'Customer asked about the delivery window for order',
  'Follow up next week regarding the renewal of the annual plan',
  'Prefers contact by email in the morning, no calls after 6pm',
  'Meeting notes: discussed onboarding, training sessions and next steps',
];
const secrets = ['card 4111 1111 1111 1111 on file', 'SSN 123-45-6789', 'alt email someone@example.org', 'key AKIAIOSFODNN7EXAMPLE'];

function row(i: number): Buffer {
  const first = pick(firsts);
  const last = pick(lasts);
  let notes = `${pick(prose)} ${10000 + rand(90000)}.`;
  if (rand(20) === 0) notes += ` ${pick(secrets)}.`;
  const values = [String(100000 + i), first, last, `${first.toLowerCase()}.${last.toLowerCase()}${rand(100)}@example.com`, `+1 ${200 + rand(800)}-555-${1000 + rand(9000)}`, pick(cities), notes];
  return encodeDataRow(values.map((v) => Buffer.from(v)));
}

const originals = Array.from({ length: ROWS }, (_, i) => row(i));
// Inline, rows whose masked values keep their length are masked where they lie: each pass gets fresh copies
// of the original rows (made outside the timed part), or every pass after the first would mask masked text.
const frames = originals.map((f) => Buffer.from(f));
const restoreFrames = () => {
  for (let i = 0; i < ROWS; i++) originals[i]!.copy(frames[i]!);
};
const inputBytes = frames.reduce((n, f) => n + f.length, 0);
const names = ['id', 'first_name', 'last_name', 'email', 'phone', 'city', 'notes'];
const columns: MaskColumn[] = names.map((name, i) => ({ name, textLike: i > 0 }));
const format = { kind: 'pg-datarow' as const, formats: pgRowFormats(names.map(() => ({ type: 25, format: 0 }))) };

const columnRules = `
columns:
  - { match: { column: email }, mask: email }
  - { match: { column: phone }, mask: { partial: { keepLast: 4 } } }
  - { match: { column: last_name }, mask: { partial: { keepFirst: 1 } } }
`;
const detectors = `
detect:
  - { kind: [email, credit_card, us_ssn, iban, phone], mask: { partial: { keepLast: 4 } } }
  - { kind: [jwt, aws_access_key, private_key, bearer_token, api_token], mask: redact }
`;
const plans: [string, MaskPlan][] = [
  ['column rules (3 of 7)', parseMaskingRules(columnRules, 'bench', { hashKey }).planFor(columns, {})],
  ['detectors on 6 text columns', parseMaskingRules(detectors, 'bench', { hashKey }).planFor(columns, {})],
  ['column rules + detectors on the other 3', parseMaskingRules(columnRules + detectors, 'bench', { hashKey }).planFor(columns, {})],
  ['hash (email) + column rules', parseMaskingRules(columnRules.replace('mask: email', 'mask: hash'), 'bench', { hashKey }).planFor(columns, {})],
];

/** Passes over the rows through one stage until SECONDS elapse; returns rows/s and MB/s. */
async function measure(plan: MaskPlan, executor: BatchExecutor | null): Promise<{ rowsPerSec: number; mbPerSec: number; outBytes: number }> {
  let outBytes = 0;
  const pass = async () => {
    restoreFrames();
    const t0 = process.hrtime.bigint();
    const out = new OrderedOutput((b) => (outBytes += b.length));
    // Straight to a ResultMasker, not MaskingStage.open: the bench puts every plan both inline and in the pool.
    const result = new ResultMasker(plan, format, out, executor, { inlineRows: 0, batchRows: BATCH_ROWS });
    for (const f of frames) if (!result.row(f, 0, f.length)) await result.drained();
    await result.end();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  await pass(); // warm-up
  outBytes = 0;
  let passes = 0;
  let elapsed = 0;
  while (elapsed < SECONDS) {
    elapsed += await pass();
    passes++;
  }
  return { rowsPerSec: (passes * ROWS) / elapsed, mbPerSec: (passes * inputBytes) / elapsed / 1e6, outBytes: outBytes / passes };
}

const pool = new MaskingPool({ workers: WORKERS, hashKey });
await pool.ready();
console.log(`${ROWS} rows of 7 columns, ${(inputBytes / ROWS).toFixed(0)} bytes per DataRow; ${WORKERS} worker threads, batches of ${BATCH_ROWS} rows; node ${process.version}`);
console.log('case'.padEnd(42), 'mode'.padEnd(8), 'rows/s'.padStart(12), 'MB/s'.padStart(8), 'out/in'.padStart(7));
for (const [name, plan] of plans) {
  for (const [mode, executor] of [['inline', null], ['workers', pool]] as const) {
    const r = await measure(plan, executor);
    console.log(name.padEnd(42), mode.padEnd(8), Math.round(r.rowsPerSec).toLocaleString('en').padStart(12), r.mbPerSec.toFixed(1).padStart(8), (r.outBytes / inputBytes).toFixed(2).padStart(7));
  }
}
await pool.close();
