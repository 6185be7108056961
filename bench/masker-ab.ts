// Two builds' row maskers side by side, no sockets: the rows of bench_pii masked the way a worker masks a
// batch (runBatch), passes of A and B interleaved in one process, CPU time per row. A change to the masking
// hot path moves the proxy's figures by a few percent, less than the machine drifts between two bench runs;
// here both builds run in the same seconds, so B/A per round is the evidence (bench/ab.ts is the same through
// the proxy, with its sockets and its database).
//
//   npm run bench:masker -- --a DIR --b DIR [--masking detect|columns|partial] [--format pg|mysql|copy] [--rows 20000]
//        [--rounds 16] [--native]
//
// --native: rows under column rules through the native row masker (src/masking/native.ts), as the stage masks
// a socket read's rows inline when it is built, instead of through runBatch (the JS row masker).
//
// --a / --b name checkouts whose dist/ is built, as for bench:ab. The rows are read from bench_pii (`npm run
// bench` seeds it) in PostgreSQL.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { dbFromUrl, defaultPgUrl, pgEnv } from './db.js';
import { table } from './seed.js';
import { maskingYaml, type Masking } from './targets.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    masking: { type: 'string', default: 'detect' },
    format: { type: 'string', default: 'pg' },
    rows: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '16' },
    native: { type: 'boolean', default: false },
  },
});
if (!values.a || !values.b) throw new Error('usage: masker-ab --a DIR --b DIR [--masking detect|columns|partial] [--format pg|mysql|copy] [--rows N] [--rounds N]');
const masking = values.masking!;
if (masking !== 'detect' && masking !== 'columns' && masking !== 'partial') throw new Error('--masking: detect, columns or partial');
// partial: the ssn and card columns under `partial` only, rules whose rows keep their length (masked where they lie).
const partialYaml = `columns:
  - match: { column: ssn }
    mask: { partial: { keepLast: 4 } }
  - match: { column: card }
    mask: { partial: { keepLast: 4 } }
`;
const format = values.format!;
if (!['pg', 'mysql', 'copy'].includes(format)) throw new Error('--format: pg, mysql or copy');
const rowCount = Number(values.rows);
const rounds = Number(values.rounds);

// bench_pii: id bigint, email, full_name, ssn, card text, created_at timestamptz, amount numeric.
const names = ['id', 'email', 'full_name', 'ssn', 'card', 'created_at', 'amount'];
const pgTypes = [20, 25, 25, 25, 25, 1184, 1700];
const mysqlTypes = [8, 253, 253, 253, 253, 12, 246]; // LONGLONG, VAR_STRING, DATETIME, NEWDECIMAL

const pg = dbFromUrl(defaultPgUrl(), { port: 5432, user: 'postgres' });
const text = execFileSync('psql', ['-Atc', `COPY (SELECT * FROM ${table} ORDER BY id LIMIT ${rowCount}) TO STDOUT`], { env: pgEnv(pg), encoding: 'utf8', maxBuffer: 1 << 30 });
const lines = text.split('\n').filter((l) => l !== '');
if (lines.length === 0) throw new Error(`${table} is empty or missing: npm run bench seeds it`);

interface Build {
  dir: string;
  run: () => number;
}

async function load(dir: string): Promise<Build> {
  const from = async <T>(module: string): Promise<T> => (await import(pathToFileURL(path.resolve(dir, 'dist', module)).href)) as T;
  const rules = await from<typeof import('../src/masking/rules.js')>('masking/rules.js');
  const batch = await from<typeof import('../src/masking/batch.js')>('masking/batch.js');
  const pgRows = await from<typeof import('../src/masking/pg-rows.js')>('masking/pg-rows.js');
  const mysqlRows = await from<typeof import('../src/masking/mysql-rows.js')>('masking/mysql-rows.js');
  const pgCopy = await from<typeof import('../src/masking/pg-copy.js')>('masking/pg-copy.js');
  const pgEncode = await from<typeof import('../src/wire/postgres/encode.js')>('wire/postgres/encode.js');
  const mysqlEncode = await from<typeof import('../src/wire/mysql/encode.js')>('wire/mysql/encode.js');
  const mysqlFrames = await from<typeof import('../src/wire/mysql/frames.js')>('wire/mysql/frames.js');

  const plan = rules
    .parseMaskingRules(masking === 'partial' ? partialYaml : maskingYaml(masking as Masking), 'masker-ab', { hashKey: 'masker-ab' })
    .planFor(names.map((name, i) => ({ name, textLike: pgTypes[i] === 25 })), { user: 'bench', database: 'test' });
  const copyFrame = (line: string): Buffer => {
    const body = Buffer.from(`${line}\n`);
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0x64;
    frame.writeInt32BE(4 + body.length, 1);
    body.copy(frame, 5);
    return frame;
  };
  const frames = Buffer.concat(
    lines.map((line) => {
      const cells = line.split('\t');
      if (format === 'copy') return copyFrame(line);
      if (format === 'mysql') return mysqlFrames.framePayload(mysqlEncode.encodeTextRow(cells), 1);
      return pgEncode.encodeDataRow(cells.map((c) => Buffer.from(c)));
    }),
  );
  const rowFormat: import('../src/masking/batch.js').RowFormat =
    format === 'copy'
      ? { kind: 'pg-copy', syntax: pgCopy.copyText }
      : format === 'mysql'
        ? { kind: 'mysql-text', columns: mysqlRows.mysqlRowColumns(mysqlTypes.map((type) => ({ type }))) }
        : { kind: 'pg-datarow', formats: pgRows.pgRowFormats(pgTypes.map((type) => ({ type, format: 0 }))) };
  // Rows are masked where they lie when they can be: each pass masks a fresh copy (made untimed, in 64 KiB
  // pieces, as bench/masking-engine.ts explains), into an output buffer kept across passes, as a worker's is.
  const input = Buffer.allocUnsafeSlow(frames.length);
  const out = new ArrayBuffer(2 * frames.length + 4096);
  const key = 1 + Math.floor(Math.random() * 1e9);
  if (values.native) {
    const counters = await from<typeof import('../src/masking/counters.js')>('masking/counters.js');
    const native = batch.createRowMasker(plan, rowFormat, new counters.MaskCounters(plan.spec)).native;
    if (!native) throw new Error(`${dir}: no native row masker for this plan and format (not built, or a build without one)`);
    const nativeOut = Buffer.from(out);
    return {
      dir,
      run() {
        const c0 = process.cpuUsage();
        for (let at = 0; at < frames.length; at = native.at) native.run(frames, at, frames.length, nativeOut, 0);
        const c = process.cpuUsage(c0);
        return ((c.user + c.system) * 1000) / lines.length;
      },
    };
  }
  return {
    dir,
    run() {
      for (let off = 0; off < frames.length; off += 65536) frames.copy(input, off, off, Math.min(off + 65536, frames.length));
      const c0 = process.cpuUsage();
      batch.runBatch({ key, spec: plan.spec, format: rowFormat, rows: input.buffer as ArrayBuffer, length: input.length, out }, { hashKey: 'masker-ab' });
      const c = process.cpuUsage(c0);
      return ((c.user + c.system) * 1000) / lines.length;
    },
  };
}

const a = await load(values.a);
const b = await load(values.b);
for (let k = 0; k < 5; k++) a.run() + b.run(); // let the JIT settle on both
const perRound: { a: number; b: number }[] = [];
for (let r = 0; r < rounds; r++) {
  // Best of five passes each, the order alternating round by round.
  let x = Infinity;
  let y = Infinity;
  for (let k = 0; k < 5; k++) {
    if (r % 2 === 0) {
      x = Math.min(x, a.run());
      y = Math.min(y, b.run());
    } else {
      y = Math.min(y, b.run());
      x = Math.min(x, a.run());
    }
  }
  perRound.push({ a: x, b: y });
}
const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1]!;
const ratios = perRound.map((r) => r.b / r.a);
console.log(`${format} rows of ${table} (${lines.length}), masking ${masking}, ${rounds} rounds; CPU ns a row, best of 5 passes a round`);
console.log(`A ${a.dir}: median ${median(perRound.map((r) => r.a)).toFixed(0)}`);
console.log(`B ${b.dir}: median ${median(perRound.map((r) => r.b)).toFixed(0)}`);
console.log(`B/A per round: median ${median(ratios).toFixed(3)}, min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}`);
