// The row stage: inline or batched to a pool, rows out in input order whatever order batches finish in,
// bounded batches in flight and bounded output behind them (back-pressure), counters, fail-closed errors;
// a fake pool makes ordering and back-pressure deterministic, the real piscina pool checks the worker loads
// and masks exactly as inline does. Also the session-facing MaskingRowStage.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MaskingRules, parseMaskingRules, type MaskColumn } from '../../../src/masking/rules.js';
import { compilePlan, type MaskPlan } from '../../../src/masking/plan.js';
import { PgRowMasker, pgRowFormats } from '../../../src/masking/pg-rows.js';
import { MaskingStage, ResultMasker, type StageOptions } from '../../../src/masking/stage.js';
import { BatchBuffers, createRowMasker, messageEnd, runBatch, needsWorkers, type BatchExecutor, type BatchJob, type BatchResult, type RowFormat } from '../../../src/masking/batch.js';
import { MaskCounters } from '../../../src/masking/counters.js';
import { nativeRowsLoaded } from '../../../src/masking/native.js';
import { OrderedOutput } from '../../../src/masking/ordered-output.js';
import { maskMessage } from '../../../src/masking/row-masker.js';
import { MaskingPool } from '../../../src/masking/pool.js';
import { MaskingRowStage } from '../../../src/masking/row-stage.js';
import { mysqlRowColumns } from '../../../src/masking/mysql-rows.js';
import { dataRowColumns, decodeRowDescription } from '../../../src/wire/postgres/decode.js';
import { decodeColumnDefinition, type ColumnDefinition } from '../../../src/wire/mysql/decode.js';
import { encodeBinaryRow, encodeColumnCount, encodeColumnDefinition, encodeTextRow } from '../../../src/wire/mysql/encode.js';
import { framePayload } from '../../../src/wire/mysql/frames.js';
import { ColumnType } from '../../../src/wire/mysql/packets.js';
import type { SessionInfo } from '../../../src/session/hooks.js';
import { backend } from '../../helpers/pg-buffers.js';

const hashKey = 'test-key';
const rules = parseMaskingRules(
  `
columns:
  - match: { column: email }
    mask: email
  - match: { column: account }
    mask: hash
detect:
  - kind: email
    mask: email
  - kind: credit_card
    mask: { partial: { keepLast: 4 } }
exempt:
  - user: auditor
`,
  'masking.yaml',
  { hashKey },
);
const col = (name: string, textLike = true): MaskColumn => ({ name, textLike });
const detectPlan = rules.planFor([col('id', false), col('email'), col('notes')], {});
const cheapPlan = rules.planFor([col('id', false), col('email'), col('notes', false)], {});
const textFormat = (n: number): RowFormat => ({ kind: 'pg-datarow', formats: pgRowFormats(Array.from({ length: n }, () => ({ type: 25, format: 0 }))) });

/** Row i: id, an email, and notes that hold a card number every third row. */
function rows(n: number, from = 0): Buffer[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return backend.dataRow([String(i), `user${i}@example.com`, i % 3 === 0 ? `card 4111 1111 1111 1111 #${i}` : `note ${i}`]);
  });
}

/** Each DataRow of a byte stream, as its values. */
function parseRows(stream: Buffer): string[][] {
  const out: string[][] = [];
  const offsets = new Int32Array(16);
  const lengths = new Int32Array(16);
  for (let p = 0; p < stream.length; ) {
    const end = p + 1 + stream.readInt32BE(p + 1);
    if (stream[p] === 0x44) {
      const n = dataRowColumns(stream, p, end, offsets, lengths);
      out.push(Array.from({ length: n }, (_, i) => stream.toString('utf8', offsets[i]!, offsets[i]! + lengths[i]!)));
    } else out.push([String.fromCharCode(stream[p]!)]);
    p = end;
  }
  return out;
}

/** The same rows masked one by one on this thread: what every path must produce. */
function inlineExpected(plan: MaskPlan, input: Buffer[]): { rows: string[][]; counters: MaskCounters } {
  const counters = new MaskCounters(plan.spec);
  const masker = new PgRowMasker(plan, pgRowFormats([{ type: 25, format: 0 }, { type: 25, format: 0 }, { type: 25, format: 0 }]), counters);
  return { rows: parseRows(Buffer.concat(input.map((r) => masker.mask(r, 0, r.length)))), counters };
}

/** A pool whose batches finish when the test says so; rows are moved (transferred), as piscina does. */
class FakePool implements BatchExecutor {
  readonly jobs: { job: BatchJob; resolve: (r: BatchResult) => void; reject: (e: Error) => void; done: boolean }[] = [];
  run(job: BatchJob): Promise<BatchResult> {
    const moved = structuredClone(job, { transfer: [job.rows] });
    return new Promise((resolve, reject) => this.jobs.push({ job: moved, resolve, reject, done: false }));
  }
  complete(i: number): void {
    const j = this.jobs[i]!;
    j.done = true;
    j.resolve(runBatch(j.job, { hashKey }));
  }
  fail(i: number, err: Error): void {
    this.jobs[i]!.done = true;
    this.jobs[i]!.reject(err);
  }
}

const settle = () => new Promise((r) => setImmediate(r));

function harness(opts: StageOptions, plan = detectPlan) {
  const written: Buffer[] = [];
  const errors: Error[] = [];
  const out = new OrderedOutput(
    (b) => written.push(Buffer.from(b)),
    (e) => errors.push(e),
  );
  // The pool's mechanics and the JS maskers' ways are what these tests are about: the native masker is off
  // unless a test turns it on.
  const stage = new MaskingStage({ native: false, ...opts });
  const result = stage.open(plan, textFormat(3), out);
  const rowsOut = () => {
    out.flush();
    return parseRows(Buffer.concat(written));
  };
  return { out, result, written, errors, rowsOut };
}

describe('inline or pool', () => {
  it('runs plans of byte-copy strategies inline even with a pool, gathering the rows into one write', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0 }, cheapPlan);
    const input = rows(10);
    for (const r of input) expect(h.result.row(r, 0, r.length)).toBe(true);
    expect(pool.jobs).toHaveLength(0);
    expect(h.written).toHaveLength(0);
    // Nothing else flushes them: the end of the tick does.
    await Promise.resolve();
    expect(h.written).toHaveLength(1);
    expect(h.rowsOut()).toEqual(inlineExpected(cheapPlan, input).rows);
    h.out.write(backend.commandComplete('SELECT 10'));
    // Held until the session's flush at the end of its chunk (a next message of the same chunk would join it).
    expect(h.written).toHaveLength(1);
    h.out.flush();
    expect(h.written).toHaveLength(2);
    expect(needsWorkers(cheapPlan.spec)).toBe(false);
    expect(needsWorkers(detectPlan.spec)).toBe(true);
    expect(needsWorkers(rules.planFor([col('account', false)], {}).spec)).toBe(true);
  });

  it('masks a run of rows (rows) as row by row would: across slabs, and rows that outgrow the room offered', async () => {
    // A fixed replacement longer than the room maskInto is offered (slack 256) for a card match: those rows
    // take the sized path in the middle of a run.
    const growing = parseMaskingRules(`detect:\n  - kind: credit_card\n    mask: { fixed: "${'#'.repeat(400)}" }\n  - kind: email\n    mask: email\n`, 'grow.yaml');
    const plan = growing.planFor([col('id', false), col('email'), col('notes')], {});
    const input = rows(3000);
    const one = harness({ executor: null }, plan);
    for (const r of input) one.result.row(r, 0, r.length);
    const run = harness({ executor: null }, plan);
    // Runs of up to 700 rows (~40 KiB): several slabs of 64 KiB fill up inside a run.
    for (let k = 0; k < input.length; k += 700) {
      const chunk = Buffer.concat(input.slice(k, k + 700));
      expect(run.result.rows(chunk, 0, chunk.length)).toBe(true);
    }
    await Promise.resolve();
    expect(run.rowsOut()).toEqual(one.rowsOut());
    expect(run.rowsOut()[0]![2]).toContain('#'.repeat(400));
    expect(run.result.counters.snapshot()).toEqual(one.result.counters.snapshot());
  });

  it('masks runs of rows under column rules (through the native masker when built) as row by row would: across slabs, a bad row failing', async () => {
    expect(createRowMasker(cheapPlan, textFormat(3), new MaskCounters(cheapPlan.spec)).native !== null).toBe(nativeRowsLoaded);
    const input = rows(3000);
    const one = harness({ executor: null }, cheapPlan);
    for (const r of input) one.result.row(r, 0, r.length);
    const run = harness({ executor: null, native: true }, cheapPlan);
    // Runs of 1,000 rows (~60 KiB): the 64 KiB slabs fill up inside a run.
    for (let k = 0; k < input.length; k += 1000) {
      const chunk = Buffer.concat(input.slice(k, k + 1000));
      expect(run.result.rows(chunk, 0, chunk.length)).toBe(true);
    }
    await Promise.resolve();
    expect(run.rowsOut()).toEqual(one.rowsOut());
    expect(run.result.counters.snapshot()).toEqual(one.result.counters.snapshot());
    expect(run.result.counters.snapshot()).toMatchObject({ rows: 3000, rules: { email: { rows: 3000, cells: 3000 } } });

    // A row with a column too many in the middle of a run (the native masker leaves it to JS): a wire error.
    const bad = harness({ executor: null, native: true }, cheapPlan);
    const chunk = Buffer.concat([...input.slice(0, 5), backend.dataRow(['1', 'a@b.c', 'x', 'extra']), ...input.slice(5, 8)]);
    expect(() => bad.result.rows(chunk, 0, chunk.length)).toThrow(/DataRow: 4 columns/);
  });

  it('rows masked where they lie (values that keep their length) go out uncopied, in order with rows rewritten around them', async () => {
    // partial keeps an ASCII value's length: rows whose matches are all ASCII are masked in the input itself.
    // An e-mail with a multi-byte local part does not: its row is rewritten into the slab, between the others.
    const keeping = parseMaskingRules(`detect:\n  - kind: [email, credit_card]\n    mask: { partial: { keepLast: 4 } }\n`, 'keep.yaml');
    const plan = keeping.planFor([col('id', false), col('email'), col('notes')], {});
    const input = Array.from({ length: 900 }, (_, i) =>
      backend.dataRow([String(i), i % 5 === 0 ? `zoë${i}@example.com` : `user${i}@example.com`, i % 3 === 0 ? `card 4111 1111 1111 1111 #${i}` : `note ${i}`]),
    );
    const one = harness({ executor: null }, plan);
    for (const r of input) one.result.row(Buffer.from(r), 0, r.length);
    const run = harness({ executor: null }, plan);
    for (let k = 0; k < input.length; k += 300) {
      const chunk = Buffer.concat(input.slice(k, k + 300));
      expect(run.result.rows(chunk, 0, chunk.length)).toBe(true);
    }
    await Promise.resolve();
    const got = run.rowsOut();
    expect(got).toEqual(one.rowsOut());
    expect(got[1]).toEqual(['1', `${'*'.repeat(13)}.com`, 'note 1']);
    expect(got[5]![1]).toBe(`${'*'.repeat(12)}.com`); // one * per character of zoë5@example
    expect(run.result.counters.snapshot()).toEqual(one.result.counters.snapshot());
    expect(run.result.counters.snapshot()).toMatchObject({ rows: 900, rules: { email: { cells: 900 }, credit_card: { cells: 300 } } });

    // A run none of whose rows needed rewriting reaches the sink as the input's own bytes.
    const sent: Buffer[] = [];
    const out = new OrderedOutput((b) => sent.push(b));
    const result = new MaskingStage({ executor: null, native: false }).open(plan, textFormat(3), out);
    const chunk = Buffer.concat([input[1]!, input[2]!, input[3]!]);
    expect(result.rows(chunk, 0, chunk.length)).toBe(true);
    out.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.buffer).toBe(chunk.buffer);
    expect(parseRows(sent[0]!)).toEqual(got.slice(1, 4));

    // Many such rows before one rewritten: they go out as they are too, then the rewritten row from the slab.
    sent.length = 0;
    const ascii = input.filter((_, i) => i % 5 !== 0).slice(0, 400);
    const long = Buffer.concat([...ascii, input[5]!]);
    expect(long.length - input[5]!.length).toBeGreaterThan(16 * 1024);
    expect(result.rows(long, 0, long.length)).toBe(true);
    out.flush();
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent[0]!.buffer).toBe(long.buffer);
    const back = parseRows(Buffer.concat(sent));
    expect(back).toHaveLength(401);
    expect(back[400]).toEqual(got[5]);
    expect(back[0]).toEqual(got[1]);
  });

  it('a batch masks rows where they lie and copies them out together, as row by row would', () => {
    const keeping = parseMaskingRules(`detect:\n  - kind: [email, credit_card]\n    mask: { partial: { keepLast: 4 } }\n`, 'keep.yaml');
    const plan = keeping.planFor([col('id', false), col('email'), col('notes')], {});
    const input = Array.from({ length: 200 }, (_, i) =>
      backend.dataRow([String(i), i % 7 < 2 ? `zoë${i}@example.com` : `user${i}@example.com`, i % 3 === 0 ? `card 4111 1111 1111 1111 #${i}` : `note ${i}`]),
    );
    const rowsBuf = Buffer.concat(input);
    const ab = new ArrayBuffer(rowsBuf.length);
    rowsBuf.copy(Buffer.from(ab));
    const r = runBatch({ key: 901, spec: plan.spec, format: textFormat(3), rows: ab, length: rowsBuf.length }, {});
    const counters = new MaskCounters(plan.spec);
    const masker = new PgRowMasker(plan, pgRowFormats([0, 1, 2].map(() => ({ type: 25, format: 0 }))), counters);
    const expected = Buffer.concat(input.map((row) => masker.mask(row, 0, row.length)));
    expect(Buffer.from(r.out, 0, r.length).equals(expected)).toBe(true);
    expect(r.rows).toBe(200);
  });

  it('runs a detector plan inline when there is no pool', () => {
    const h = harness({ executor: null }, detectPlan);
    const input = rows(600);
    for (const r of input) h.result.row(r, 0, r.length);
    expect(h.rowsOut()).toEqual(inlineExpected(detectPlan, input).rows);
    expect(h.result.usesWorkers).toBe(false);
  });
});

describe('ordering', () => {
  it('masks the first rows inline, then batches; rows leave in input order whatever order batches finish in', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 3, batchRows: 4, maxInFlight: 10 });
    const input = rows(17);
    for (const r of input) h.result.row(r, 0, r.length);
    expect(h.rowsOut()).toHaveLength(3);
    expect(pool.jobs).toHaveLength(3); // the last two rows wait for end()
    let counts: unknown;
    void h.result.end().then((c) => (counts = c));
    expect(pool.jobs).toHaveLength(4);

    pool.complete(2);
    await settle();
    expect(h.rowsOut()).toHaveLength(3);
    pool.complete(0);
    await settle();
    expect(h.rowsOut()).toHaveLength(7);
    pool.complete(3);
    await settle();
    expect(h.rowsOut()).toHaveLength(7);
    expect(counts).toBeUndefined();
    pool.complete(1);
    await settle();
    const expected = inlineExpected(detectPlan, input);
    expect(h.rowsOut()).toEqual(expected.rows);
    expect(counts).toEqual(expected.counters.snapshot());
    expect(counts).toMatchObject({ rows: 17, rules: { email: { rows: 17, cells: 17 }, credit_card: { rows: 6, cells: 6 } } });
  });

  it('keeps what the session writes after the rows (CommandComplete) behind the batches still out', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 5 });
    for (const r of rows(7)) h.result.row(r, 0, r.length);
    void h.result.end();
    h.out.write(backend.commandComplete('SELECT 7'));
    h.out.write(backend.readyForQuery());
    expect(h.written).toHaveLength(0);
    pool.complete(1);
    pool.complete(0);
    await settle();
    const got = h.rowsOut();
    expect(got.map((r) => r[0])).toEqual(['0', '1', '2', '3', '4', '5', '6', 'C', 'Z']);
  });

  it('sends a row larger than a batch in a batch of its own size', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 100, batchBytes: 64 });
    const big = backend.dataRow(['1', 'x'.repeat(1000) + '@example.com', 'n']);
    const small = rows(2, 2);
    h.result.row(small[0]!, 0, small[0]!.length);
    h.result.row(big, 0, big.length);
    h.result.row(small[1]!, 0, small[1]!.length);
    void h.result.end();
    pool.jobs.forEach((_, i) => pool.complete(i));
    await settle();
    expect(h.rowsOut().map((r) => r[1])).toEqual(['u***@example.com', 'x***@example.com', 'u***@example.com']);
  });
});

describe('following the offload advice (masking.offload: auto)', () => {
  /** A FakePool whose advice the test sets, as CpuHeadroom does from its samples. */
  class AdvisedPool extends FakePool {
    readonly offload = {
      generation: 0,
      pays: true,
      /** As CpuHeadroom's: a sample after the one under way when the result opened. */
      paysSince(since: number): boolean {
        return this.pays && this.generation >= since + 2;
      },
    };
    /** A sample: the advice `pays`. */
    advise(pays: boolean): void {
      this.offload.pays = pays;
      this.offload.generation++;
    }
  }
  const completeAll = async (pool: FakePool) => {
    for (let i = 0; i < pool.jobs.length; i++) if (!pool.jobs[i]!.done) pool.complete(i);
    await settle();
  };
  /** Ends the result with every batch done: rows and counts as masking them one by one inline gives. */
  const endsAsInline = async (h: ReturnType<typeof harness>, pool: FakePool, input: Buffer[]) => {
    const ended = h.result.end();
    await completeAll(pool);
    const counts = await ended;
    const expected = inlineExpected(detectPlan, input);
    expect(h.rowsOut()).toEqual(expected.rows);
    expect(counts).toEqual(expected.counters.snapshot());
  };

  it('keeps a result inline past its first rows while the machine has no core to spare: the pool gets nothing', async () => {
    const pool = new AdvisedPool();
    pool.advise(false);
    const h = harness({ executor: pool, inlineRows: 3, batchRows: 4 });
    const input = rows(40);
    for (const r of input) h.result.row(r, 0, r.length);
    const counts = await h.result.end();
    expect(pool.jobs).toHaveLength(0);
    expect(h.result.usesWorkers).toBe(false);
    const expected = inlineExpected(detectPlan, input);
    expect(h.rowsOut()).toEqual(expected.rows);
    expect(counts).toEqual(expected.counters.snapshot());
  });

  it('keeps a result inline until a sample taken wholly after it began says the pool pays', async () => {
    const pool = new AdvisedPool();
    const h = harness({ executor: pool, inlineRows: 2, batchRows: 4, maxInFlight: 10 });
    const input = rows(24);
    const send = (from: number, to: number) => {
      for (const r of input.slice(from, to)) h.result.row(r, 0, r.length);
    };
    // The advice says yes, from before the result began: past its inline rows it stays inline all the same.
    send(0, 8);
    expect(pool.jobs).toHaveLength(0);
    pool.advise(true); // the sample under way when it began
    send(8, 12);
    expect(pool.jobs).toHaveLength(0);
    expect(h.result.usesWorkers).toBe(false);
    pool.advise(true); // a sample of its own
    send(12, 24);
    expect(h.result.usesWorkers).toBe(true);
    expect(pool.jobs).toHaveLength(3);
    await endsAsInline(h, pool, input);
  });

  it('moves a result between pool and inline as the advice changes, rows in input order and masked the same', async () => {
    const pool = new AdvisedPool();
    const h = harness({ executor: pool, inlineRows: 2, batchRows: 4, maxInFlight: 10 });
    // Two samples since it opened: the second measured only time after the result began.
    pool.advise(true);
    pool.advise(true);
    const input = rows(30);
    const send = (from: number, to: number) => {
      for (const r of input.slice(from, to)) h.result.row(r, 0, r.length);
    };
    send(0, 10); // 2 inline, 8 in two batches
    expect(pool.jobs).toHaveLength(2);
    expect(h.result.usesWorkers).toBe(true);
    send(10, 12); // a batch under way with two rows
    pool.advise(false);
    send(12, 20); // the batch under way goes to the pool, the rest inline behind it
    expect(pool.jobs).toHaveLength(3);
    expect(h.result.usesWorkers).toBe(false);
    // Written inline, yet not out before the batches ahead of them.
    expect(h.rowsOut()).toHaveLength(2);
    pool.advise(true);
    // A run of rows (rows()) follows the advice too.
    const run = Buffer.concat(input.slice(20, 30));
    h.result.rows(run, 0, run.length);
    expect(h.result.usesWorkers).toBe(true);
    expect(pool.jobs.length).toBeGreaterThan(3);
    await endsAsInline(h, pool, input);
  });
});

describe('messageEnd', () => {
  const mysqlFormat: RowFormat = { kind: 'mysql-text', columns: mysqlRowColumns([{ type: ColumnType.VarString }]) };
  it('reads a DataRow or a MySQL packet header, and refuses one that is cut or runs past the end', () => {
    const row = backend.dataRow(['a', 'bc']);
    const two = Buffer.concat([Buffer.from([0xee]), row, row]);
    expect(messageEnd(textFormat(2), two, 1, two.length)).toBe(1 + row.length);
    expect(messageEnd(textFormat(2), two, 1 + row.length, two.length)).toBe(two.length);
    for (const cut of [1, 3, 4, row.length - 1]) expect(() => messageEnd(textFormat(2), row, 0, cut)).toThrow(/truncated/);
    const negative = Buffer.from(row);
    negative[1] = 0x80;
    expect(() => messageEnd(textFormat(2), negative, 0, negative.length)).toThrow(/truncated/);
    const packet = framePayload(encodeTextRow(['x'.repeat(300)]), 7);
    expect(messageEnd(mysqlFormat, packet, 0, packet.length)).toBe(packet.length);
    for (const cut of [2, 3, packet.length - 1]) expect(() => messageEnd(mysqlFormat, packet, 0, cut)).toThrow(/truncated/);
  });
});

describe('rows that come slowly', () => {
  // Only the stage's batch timers are faked: settle() still waits for real setImmediate turns.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a batch once it has waited maxBatchDelayMs, not only when it fills or the result ends', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 100, maxBatchDelayMs: 20 });
    const input = rows(6);
    for (const r of input.slice(0, 3)) h.result.row(r, 0, r.length);
    vi.advanceTimersByTime(19);
    expect(pool.jobs).toHaveLength(0);
    vi.advanceTimersByTime(1);
    // The three rows went on by themselves; the next rows start a batch of their own.
    expect(pool.jobs).toHaveLength(1);
    pool.complete(0);
    await settle();
    expect(h.rowsOut()).toHaveLength(3);
    for (const r of input.slice(3)) h.result.row(r, 0, r.length);
    const ended = h.result.end();
    expect(pool.jobs).toHaveLength(2);
    pool.complete(1);
    await ended;
    expect(h.rowsOut()).toEqual(inlineExpected(detectPlan, input).rows);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holds a waiting batch while the stage is full, and sends it once a batch comes back', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 2, maxInFlight: 1, maxBatchDelayMs: 20 });
    const input = rows(3);
    for (const r of input) h.result.row(r, 0, r.length);
    expect(pool.jobs).toHaveLength(1);
    expect(h.result.full).toBe(true);
    vi.advanceTimersByTime(20);
    expect(pool.jobs).toHaveLength(1); // no more than maxInFlight in the pool
    pool.complete(0);
    await settle();
    vi.advanceTimersByTime(20);
    expect(pool.jobs).toHaveLength(2);
    pool.complete(1);
    await settle();
    expect(h.rowsOut()).toEqual(inlineExpected(detectPlan, input).rows);
  });

  it('sends nothing more once the output failed', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 2, maxInFlight: 4, maxBatchDelayMs: 20 });
    const input = rows(3);
    for (const r of input) h.result.row(r, 0, r.length);
    pool.fail(0, new Error('worker died'));
    await settle();
    vi.advanceTimersByTime(20);
    expect(pool.jobs).toHaveLength(1);
    expect(h.errors.map((e) => e.message)).toEqual(['worker died']);
  });

  it("times each batch from its own first row: a full batch's timer does not send the next one early", () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 3, maxBatchDelayMs: 20 });
    const input = rows(4);
    for (const r of input.slice(0, 3)) h.result.row(r, 0, r.length);
    expect(pool.jobs).toHaveLength(1); // full: sent at once
    vi.advanceTimersByTime(15);
    h.result.row(input[3]!, 0, input[3]!.length);
    vi.advanceTimersByTime(15); // 30 ms after the first batch began, 15 after the second did
    expect(pool.jobs).toHaveLength(1);
    vi.advanceTimersByTime(5);
    expect(pool.jobs).toHaveLength(2);
  });
});

describe('back-pressure', () => {
  it('reports full at maxInFlight batches and drains when one completes', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 2, maxInFlight: 2 });
    const input = rows(6);
    expect(h.result.row(input[0]!, 0, input[0]!.length)).toBe(true);
    expect(h.result.row(input[1]!, 0, input[1]!.length)).toBe(true); // one batch out
    expect(h.result.row(input[2]!, 0, input[2]!.length)).toBe(true);
    expect(h.result.row(input[3]!, 0, input[3]!.length)).toBe(false); // two batches out: full
    let drained = false;
    void h.result.drained().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    pool.complete(1); // out of order: it frees a place all the same
    await settle();
    expect(drained).toBe(true);
    expect(h.result.full).toBe(false);
    expect(h.written).toHaveLength(0); // batch 1 waits for batch 0
    pool.complete(0);
    await settle();
    expect(h.rowsOut()).toHaveLength(4);
  });

  it('reports full when too many bytes wait in the output behind a pending batch', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 1, maxInFlight: 8, maxQueuedBytes: 200 });
    const first = rows(1)[0]!;
    h.result.row(first, 0, first.length);
    void h.result.end();
    // The next result of the same session is cheap (inline); its rows queue behind the pending batch.
    const next = new MaskingStage({ executor: pool, maxQueuedBytes: 200 }).open(cheapPlan, textFormat(3), h.out);
    const more = rows(10, 1);
    const accepted = more.map((r) => next.row(r, 0, r.length));
    expect(accepted.indexOf(false)).toBeGreaterThan(0);
    let drained = false;
    void next.drained().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    pool.complete(0);
    await settle();
    expect(drained).toBe(true);
    expect(h.rowsOut().map((r) => r[0])).toEqual(Array.from({ length: 11 }, (_, i) => String(i)));
  });
});

describe('failures', () => {
  it('a failed batch stops all output for good and reports the error: nothing unmasked or out of order follows', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 1, batchRows: 2 });
    for (const r of rows(5)) h.result.row(r, 0, r.length);
    const ended = h.result.end();
    pool.fail(0, new Error('worker died'));
    pool.complete(1);
    await ended;
    h.out.write(backend.commandComplete('SELECT 5'));
    expect(h.errors.map((e) => e.message)).toEqual(['worker died']);
    expect(h.rowsOut()).toHaveLength(1); // only the inline row, written before the failure
    expect(h.out.error?.message).toBe('worker died');
  });

  it('a malformed row fails its batch in the worker, not the session thread', async () => {
    const pool = new FakePool();
    const h = harness({ executor: pool, inlineRows: 0, batchRows: 1 });
    const bad = backend.dataRow(['1', 'a']); // two columns where three were described
    h.result.row(bad, 0, bad.length);
    const j = pool.jobs[0]!;
    expect(() => runBatch(j.job, { hashKey })).toThrow(/2 columns/);
  });
});

describe('the piscina pool', () => {
  let pool: MaskingPool;
  beforeAll(async () => {
    pool = new MaskingPool({ workers: 2, hashKey, offload: 'always' });
    await pool.ready();
  }, 60_000);
  afterAll(() => pool.close());

  it('loads the worker from the sources and masks exactly as inline, hashes included, in order', async () => {
    const plan = rules.planFor([col('id', false), col('account', false), col('notes')], {});
    const written: Buffer[] = [];
    const out = new OrderedOutput((b) => written.push(b));
    const result = new MaskingStage({ executor: pool, inlineRows: 10, batchRows: 64 }).open(plan, textFormat(3), out);
    const input = rows(3000);
    for (const r of input) {
      if (!result.row(r, 0, r.length)) await result.drained();
    }
    const counts = await result.end();
    const expected = inlineExpected(compilePlan(plan.spec, { hashKey }), input);
    expect(parseRows(Buffer.concat(written))).toEqual(expected.rows);
    expect(counts).toEqual(expected.counters.snapshot());
    expect(counts.rules.account).toEqual({ rows: 3000, cells: 3000 });
    expect(result.usesWorkers).toBe(true);
  });

  it('moves the batch to the worker: the stage keeps no copy (its ArrayBuffer is detached)', async () => {
    const rowsBuf = Buffer.concat(rows(10));
    const batch = Buffer.allocUnsafeSlow(rowsBuf.length);
    rowsBuf.copy(batch);
    const job: BatchJob = { key: 999, spec: detectPlan.spec, format: textFormat(3), rows: batch.buffer as ArrayBuffer, length: batch.length };
    const r = await pool.run(job);
    expect(job.rows.byteLength).toBe(0);
    expect(parseRows(Buffer.from(r.out, 0, r.length))).toEqual(inlineExpected(detectPlan, rows(10)).rows);
  });

  it('hands the rows buffer back with the output, and writes the output into the buffer it was given', async () => {
    const rowsBuf = Buffer.concat(rows(10));
    const batch = Buffer.allocUnsafeSlow(rowsBuf.length);
    rowsBuf.copy(batch);
    const given = new ArrayBuffer(rowsBuf.length * 2 + 1024);
    const r = await pool.run({ key: 998, spec: detectPlan.spec, format: textFormat(3), rows: batch.buffer as ArrayBuffer, length: batch.length, out: given });
    expect(given.byteLength).toBe(0); // moved to the worker
    expect(r.input?.byteLength).toBe(rowsBuf.length);
    expect(r.out.byteLength).toBe(rowsBuf.length * 2 + 1024); // the buffer given, come back
    expect(parseRows(Buffer.from(r.out, 0, r.length))).toEqual(inlineExpected(detectPlan, rows(10)).rows);
  });

  it('keeps handed-back batch buffers of its size for later batches, a bounded number', () => {
    const buffers = new BatchBuffers(1000, 2);
    const first = buffers.take(10);
    expect(first.length).toBe(1000);
    const ab = first.buffer as ArrayBuffer;
    buffers.give(ab);
    expect(buffers.take(10).buffer).toBe(ab);
    expect(buffers.take(5000).length).toBe(5000); // a batch grown for one big row
    buffers.give(new ArrayBuffer(5000)); // not kept: another size
    buffers.give(new ArrayBuffer(1000));
    buffers.give(new ArrayBuffer(1000));
    buffers.give(new ArrayBuffer(1000)); // past the bound
    expect(new Set([buffers.take(1).buffer, buffers.take(1).buffer]).size).toBe(2);
    expect(buffers.take(1).buffer.byteLength).toBe(1000); // a new one
    const out = buffers.takeOut();
    expect(out.byteLength).toBeGreaterThan(1000 + 1000 / 8);
    buffers.giveOut(out);
    expect(buffers.takeOut()).toBe(out);
  });

  it('masks MySQL binary rows and COPY rows in the worker', async () => {
    const plan = rules.planFor([col('id', false), col('email'), col('notes')], {});
    const types = [ColumnType.LongLong, ColumnType.VarString, ColumnType.Blob];
    const format: RowFormat = { kind: 'mysql-binary', columns: mysqlRowColumns(types.map((type) => ({ type }))) };
    const packets = Array.from({ length: 50 }, (_, i) => framePayload(encodeBinaryRow(types, [BigInt(i), Buffer.from(`u${i}@example.com`), Buffer.from(`to ann@x.io ${i}`)]), (i + 3) & 0xff));
    const stage = new MaskingStage({ executor: pool, inlineRows: 0, batchRows: 16 });
    const viaPool = await collect((out) => stage.open(plan, format, out), packets);
    const inline = Buffer.concat(packets.map((p) => maskMessage(createRowMasker(plan, format, new MaskCounters(plan.spec)), p, 0, p.length)));
    expect(viaPool.equals(inline)).toBe(true);
    expect(viaPool[3]).toBe(3); // sequence ids kept
    expect(viaPool.includes('ann@x.io')).toBe(false);

    const copy: RowFormat = { kind: 'pg-copy', syntax: { csv: false, delimiter: 9, null: Buffer.from('\\N'), quote: 34, escape: 34 } };
    const lines = Array.from({ length: 40 }, (_, i) => backend.copyData(Buffer.from(`${i}\tu${i}@example.com\t\\N\n`)));
    const copied = await collect((out) => stage.open(plan, copy, out), lines);
    expect(copied.toString()).toContain('d\x00\x00\x00\x1b39\tu***@example.com\t\\N\n');
    expect(copied.includes('u39@example.com')).toBe(false);
  });

  /** Feeds messages through a fresh output and returns everything written, once the result has ended. */
  async function collect(open: (out: OrderedOutput) => ResultMasker, messages: Buffer[]): Promise<Buffer> {
    const written: Buffer[] = [];
    const result = open(new OrderedOutput((b) => written.push(b)));
    for (const m of messages) if (!result.row(m, 0, m.length)) await result.drained();
    await result.end();
    return Buffer.concat(written);
  }
});

describe('MaskingRowStage', () => {
  const session = (protocol: 'postgres' | 'mysql', user = 'alice'): SessionInfo => ({
    id: 's1', listener: 'l', protocol, client: '127.0.0.1:1', user, signal: new AbortController().signal,
  });
  const rowStage = new MaskingRowStage(() => rules, new MaskingStage({ executor: null }));
  const pgFields = [
    { name: 'id', dataTypeID: 23, formatCode: 0 },
    { name: 'email', dataTypeID: 1043, formatCode: 0 },
    { name: 'notes', dataTypeID: 25, formatCode: 0 },
  ];
  const rowDescription = backend.rowDescription(pgFields);
  const pgColumns = pgFields.map((f) => ({ name: f.name, type: f.dataTypeID, format: f.formatCode }));

  it('PostgreSQL: rewrites the RowDescription and masks rows written through the output', () => {
    const written: Buffer[] = [];
    const out = new OrderedOutput((b) => written.push(b));
    const t = rowStage.begin({ session: session('postgres'), columns: pgColumns, raw: [rowDescription] }, out)!;
    expect(decodeRowDescription(t.description!, 0, t.description!.length).map((f) => f.typeOid)).toEqual([23, 25, 25]);
    const r = backend.dataRow(['1', 'jane@example.com', 'ping bob@x.io']);
    t.row(r, 0, r.length);
    expect(written).toHaveLength(0); // gathered until the session flushes, at the end of the chunk it read
    out.flush();
    expect(parseRows(Buffer.concat(written))).toEqual([['1', 'j***@example.com', 'ping b***@x.io']]);
  });

  it('PostgreSQL: results of one shape share the plan and the rewritten RowDescription; another description gets its own', () => {
    const out = new OrderedOutput(() => undefined);
    const a = rowStage.begin({ session: session('postgres'), columns: pgColumns, raw: [rowDescription] }, out)!;
    const b = rowStage.begin({ session: session('postgres'), columns: pgColumns, raw: [Buffer.from(rowDescription)] }, out)!;
    expect(b.plan).toBe(a.plan);
    expect(b.description).toBe(a.description);
    expect(b.counters).not.toBe(a.counters);
    // The same column names and text-likeness (the same plan), other types: its own rewrite.
    const varchar = [pgFields[0]!, pgFields[1]!, { name: 'notes', dataTypeID: 1043, formatCode: 0 }];
    const other = backend.rowDescription(varchar);
    const c = rowStage.begin({ session: session('postgres'), columns: varchar.map((f) => ({ name: f.name, type: f.dataTypeID, format: f.formatCode })), raw: [other] }, out)!;
    expect(c.plan).toBe(a.plan);
    expect(c.description).not.toBe(a.description);
    expect(decodeRowDescription(c.description!, 0, c.description!.length).map((f) => [f.name, f.typeOid])).toEqual([['id', 23], ['email', 25], ['notes', 1043]]);
    expect(decodeRowDescription(a.description!, 0, a.description!.length).map((f) => f.typeOid)).toEqual([23, 25, 25]);
  });

  it('returns null (rows pass raw) when nothing is masked: an exempt user, or no masked or text column', () => {
    const out = new OrderedOutput(() => undefined);
    expect(rowStage.begin({ session: session('postgres', 'auditor'), columns: pgColumns, raw: [rowDescription] }, out)).toBeNull();
    expect(rowStage.begin({ session: session('postgres'), columns: [{ name: 'id', type: 23, format: 0 }] }, out)).toBeNull();
    // The session asks first, and skips describing its results (no catalog lookup) when nothing can be masked.
    expect(rowStage.masksNothing(session('postgres', 'auditor'))).toBe(true);
    expect(rowStage.masksNothing(session('postgres'))).toBe(false);
    const empty = new MaskingRowStage(() => MaskingRules.none, new MaskingStage({ executor: null }));
    expect(empty.masksNothing(session('mysql'))).toBe(true);
    expect(empty.begin({ session: session('postgres'), columns: pgColumns, raw: [rowDescription] }, out)).toBeNull();
  });

  it('MySQL: rewrites the column definitions (framed, sequence ids kept) and masks text rows', () => {
    const defs: ColumnDefinition[] = ['id', 'email', 'notes'].map((name, i) => ({
      catalog: 'def', schema: 'app', table: 'users', orgTable: 'users', name, orgName: name,
      characterSet: i === 0 ? 63 : 45, columnLength: 40, type: i === 0 ? ColumnType.Long : ColumnType.VarString, flags: 0, decimals: 0,
    }));
    const raw = [framePayload(encodeColumnCount(3), 1), ...defs.map((d, i) => framePayload(encodeColumnDefinition(d), 2 + i))];
    const written: Buffer[] = [];
    const columns = defs.map((d) => ({ name: d.name, schema: d.schema, table: d.orgTable, originalName: d.orgName, type: d.type, format: 0 }));
    const out = new OrderedOutput((b) => written.push(b));
    const t = rowStage.begin({ session: session('mysql'), columns, raw }, out)!;
    const desc = t.description!;
    expect(desc.subarray(0, raw[0]!.length).equals(raw[0]!)).toBe(true);
    let at = raw[0]!.length;
    const back = [];
    for (let i = 0; i < 3; i++) {
      const len = desc.readUIntLE(at, 3);
      expect(desc[at + 3]).toBe(2 + i);
      back.push(decodeColumnDefinition(desc, at + 4, at + 4 + len));
      at += 4 + len;
    }
    expect(back.map((d) => [d.type, d.characterSet])).toEqual([[ColumnType.Long, 63], [ColumnType.VarString, 45], [ColumnType.VarString, 45]]);
    const row = framePayload(encodeTextRow(['1', 'jane@example.com', 'x']), 6);
    t.row(row, 0, row.length);
    out.flush();
    expect(written[0]![3]).toBe(6);
    expect(written[0]!.subarray(4).toString()).toContain('j***@example.com');
  });
});
