// Throughput of the masking engine alone, on one core, no sockets: PostgreSQL DataRow frames of realistic
// rows go through the row masker as a worker runs a batch and the stage runs a chunk's rows inline (locate
// the cells, mask, count, write every row into one output buffer). MB/s counts the input frames' bytes.
// Column rules and all detectors are measured twice: the JS row masker, and the native one the stage uses
// when it is built.
//
// `npm run bench` runs it (in a process of its own, `--json`) and reports its figures; alone, after
// `npm run bench` has compiled it: node .tmp/bench/bench/masking-engine.js [--json]
// Targets (DESIGN.md "Masking"): >= 200 MB/s per core for column rules, >= 50 MB/s per core for detectors.
import { parseMaskingRules, type MaskColumn } from '../src/masking/rules.js';
import type { MaskPlan } from '../src/masking/plan.js';
import { pgRowFormats } from '../src/masking/pg-rows.js';
import { createRowMasker, runBatch } from '../src/masking/batch.js';
import { MaskCounters } from '../src/masking/counters.js';
import { FULL, LEAVE, nativeRowsLoaded } from '../src/masking/native.js';
import { encodeDataRow } from '../src/wire/postgres/encode.js';

const ROWS = 20_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

// ---- realistic rows: id, first_name, last_name, email, phone, city, notes ----

let seed = 42;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const pick = <T>(a: readonly T[]): T => a[rand(a.length)]!;
const firstNames = ['Jane', 'John', 'Zoë', 'Ørjan', 'Amélie', 'Wei', 'Fatima', 'Carlos', 'Olga', 'Kenji', 'Priya', 'Liam'];
const lastNames = ['Doe', 'Smith', 'Müller', 'García', 'Nakamura', 'Okafor', 'Kowalski', 'Johansson', 'Rossi', 'Dubois'];
const cities = ['Berlin', 'São Paulo', 'Tokyo', 'New York', 'Lagos', 'Zürich', 'Montréal', 'Seoul', 'Austin', 'Lyon'];
const domains = ['example.com', 'mail.example.org', 'corp.example.net', 'x.io'];
const prose = [
  'Customer asked about the delivery window for order',
  'Follow up next week regarding the renewal of the annual plan',
  'Prefers contact by email in the morning, no calls after 6pm',
  'Upgraded to premium tier after the trial, invoice sent on 2023-10-12',
  'Complaint resolved; refund of 12.50 EUR issued for item',
  'Meeting notes: discussed onboarding, training sessions and next steps',
];
const secrets = [
  () => `card ${pick(['4111 1111 1111 1111', '5500 0000 0000 0004', '378282246310005'])} on file`,
  () => `SSN 123-45-${String(1000 + rand(9000))}`,
  () => `alt email ${pick(firstNames).toLowerCase()}@${pick(domains)}`,
  () => 'api key AKIAIOSFODNN7EXAMPLE rotated',
];

function row(i: number): string[] {
  const first = pick(firstNames);
  const last = pick(lastNames);
  let notes = `${pick(prose)} ${10000 + rand(90000)}.`;
  if (rand(20) === 0) notes += ` ${pick(secrets)()}.`; // 5% of notes hold something sensitive
  return [
    String(100000 + i),
    first,
    last,
    `${first.toLowerCase()}.${last.toLowerCase()}${rand(100)}@${pick(domains)}`,
    `+1 ${200 + rand(800)}-555-${String(1000 + rand(9000))}`,
    pick(cities),
    notes,
  ];
}

const columnNames = ['id', 'first_name', 'last_name', 'email', 'phone', 'city', 'notes'];
const frames = Buffer.concat(Array.from({ length: ROWS }, (_, i) => encodeDataRow(row(i).map((v) => Buffer.from(v)))));
const frameEnds: number[] = [];
for (let p = 0; p < frames.length; ) {
  p += 1 + frames.readInt32BE(p + 1);
  frameEnds.push(p);
}

// ---- the row stage's per-row work: the real PostgreSQL row masker, as the stage runs it inline ----

let sink = 0;
// Every column of these rows is text in text format.
const formats = pgRowFormats(columnNames.map(() => ({ type: 25, format: 0 })));

// One pass is what a worker does with a batch, and what the stage does inline with a chunk's rows: every
// row masked into one output buffer (in place when the plan allows it, else sized then written).
const input = Buffer.allocUnsafeSlow(frames.length);

/** One pass; returns its time in ns. */
function passOver(plan: MaskPlan, key: number): number {
  // Rows whose masked values keep their length are masked where they lie, in `input`: each pass starts from
  // the original rows (copied outside the timed part), or every pass after the first would scan masked text.
  // In 64 KiB pieces: one big memcpy bypasses the cache (non-temporal stores), and the pass would then read
  // its rows from memory, unlike rows just received from a socket.
  for (let off = 0; off < frames.length; off += 65536) frames.copy(input, off, off, Math.min(off + 65536, frames.length));
  const t0 = process.hrtime.bigint();
  const r = runBatch({ key, spec: plan.spec, format: { kind: 'pg-datarow', formats }, rows: input.buffer as ArrayBuffer, length: input.length }, { hashKey: 'bench-key' });
  sink += r.length;
  return Number(process.hrtime.bigint() - t0);
}
let nextKey = 1;

export interface EngineFigure {
  id: string;
  label: string;
  mbPerSec: number;
  rowsPerSec: number;
}
const figures: EngineFigure[] = [];
const json = process.argv.includes('--json');

/**
 * Rows under column rules as the stage masks a chunk's rows inline when the native row masker is built
 * (src/masking/native.ts): runs of rows into an output buffer; one pass, its time in ns.
 */
function nativePassOver(plan: MaskPlan): () => number {
  const native = createRowMasker(plan, { kind: 'pg-datarow', formats }, new MaskCounters(plan.spec)).native;
  if (!native) throw new Error('the native row masker does not take this plan');
  const out = Buffer.allocUnsafeSlow(2 * frames.length);
  return () => {
    const t0 = process.hrtime.bigint();
    // It stops to hand over its counts when the rows' hits vary (why COUNTED); anything else would be a bug here.
    for (let at = 0, pos = 0; at < frames.length; at = native.at, pos = native.pos) {
      native.run(frames, at, frames.length, out, pos);
      if (native.at < frames.length && (native.why === FULL || native.why === LEAVE)) throw new Error(`native row masker stopped at ${native.at} (why ${native.why})`);
    }
    sink += native.pos;
    return Number(process.hrtime.bigint() - t0);
  };
}

function measure(id: string, label: string, plan: MaskPlan, pass?: () => number): number {
  const key = nextKey++;
  const once = pass ?? (() => passOver(plan, key));
  for (let k = 0; k < 3; k++) once(); // warm up: let the JIT settle
  let passes = 0;
  let elapsed = 0;
  while (elapsed < SECONDS) {
    elapsed += once() / 1e9;
    passes++;
  }
  const mbps = (frames.length * passes) / elapsed / 1e6;
  const rowsPerSec = (ROWS * passes) / elapsed;
  figures.push({ id, label, mbPerSec: Math.round(mbps * 10) / 10, rowsPerSec: Math.round(rowsPerSec) });
  if (!json) console.log(`${label.padEnd(58)} ${mbps.toFixed(1).padStart(8)} MB/s  ${(rowsPerSec / 1e6).toFixed(2).padStart(6)} M rows/s`);
  return mbps;
}

// ---- scenarios ----

const cols = (textLike: boolean): MaskColumn[] => columnNames.map((name, i) => ({ name, textLike: textLike && i > 0 }));
const who = { user: 'app', database: 'app' };

const columnRules = parseMaskingRules(
  `columns:
  - match: { column: email }
    mask: email
  - match: { column: phone }
    mask: { partial: { keepLast: 4 } }
  - match: { column: last_name }
    mask: { partial: { keepFirst: 1 } }
`,
  'bench column rules',
);
const hashRules = parseMaskingRules(
  `columns:
  - match: { column: "/^(email|phone|last_name)$/" }
    mask: hash
`,
  'bench hash rules',
  { hashKey: 'bench-key' },
);
const detectorRules = (kinds: string) =>
  parseMaskingRules(
    `detect:
  - kind: [${kinds}]
    mask: { partial: { keepLast: 4 } }
`,
    'bench detector rules',
  );
const shippedKinds = 'credit_card, us_ssn, iban, email, jwt, aws_access_key, private_key, bearer_token, api_token';
const allKinds = `${shippedKinds}, phone, ipv4, ipv6`;

if (!json) console.log(`masking engine, one core: ${ROWS} rows x 7 columns, ${(frames.length / ROWS).toFixed(0)} bytes per DataRow frame, ${SECONDS}s per figure`);
const fig = {
  parseOnly: measure('baseline', 'baseline: locate cells, nothing masked', columnRules.planFor(cols(false).map((c) => ({ ...c, name: `x${c.name}` })), who)),
  columns: measure('columns', 'column rules: 3 of 7 columns (email, partial x2)', columnRules.planFor(cols(false), who)),
  ...(nativeRowsLoaded
    ? { columnsNative: measure('columns-native', 'column rules, the same 3 columns, native row masker', columnRules.planFor(cols(false), who), nativePassOver(columnRules.planFor(cols(false), who))) }
    : {}),
  hash: measure('hash', 'column rules: 3 of 7 columns hashed (HMAC-SHA256)', hashRules.planFor(cols(false), who)),
  detectShipped: measure('detect-shipped', 'detectors: 6 text columns scanned, shipped 9 detectors', detectorRules(shippedKinds).planFor(cols(true), who)),
  detectAll: measure('detect-all', 'detectors: 6 text columns scanned, all 12 detectors', detectorRules(allKinds).planFor(cols(true), who)),
  ...(nativeRowsLoaded
    ? { detectNative: measure('detect-all-native', 'detectors, the same 12, native row masker', detectorRules(allKinds).planFor(cols(true), who), nativePassOver(detectorRules(allKinds).planFor(cols(true), who))) }
    : {}),
};
if (json) {
  process.stdout.write(JSON.stringify({ rows: ROWS, bytesPerRow: Math.round(frames.length / ROWS), seconds: SECONDS, figures, checksum: sink }) + '\n');
} else {
  console.log(
    `targets: column rules ${fig.columns >= 200 ? 'met' : 'MISSED'} (>= 200 MB/s), detectors ${Math.min(fig.detectShipped, fig.detectAll) >= 50 ? 'met' : 'MISSED'} (>= 50 MB/s)`,
  );
}
