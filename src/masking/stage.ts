// The row stage (DESIGN.md "Masking"): one result's row messages through its MaskPlan, in order, with
// back-pressure. Cheap plans (column rules whose strategies are byte copies) run inline; plans that scan
// with detectors or hash go to a worker pool in batches (rows copied into one ArrayBuffer, transferred to
// the worker with a buffer for its output; both come back and are used again), at most `maxInFlight`
// batches at a time. Output goes through an OrderedOutput, which keeps everything the session writes
// behind the rows still being masked.
//
// This module is also what the worker runs (`runBatch`): it imports no pool and no socket.
import { WireError } from '../wire/bytes.js';
import { detectorId, detectorKinds, type KindSet } from './detectors.js';
import { compilePlan, type MaskPlan, type PlanSpec } from './plan.js';
import { PgRowMasker, type PgRowFormats } from './pg-rows.js';
import { maskCopyRow, type CopySyntax } from './pg-copy.js';
import { MysqlRowMasker, type MysqlRowColumns } from './mysql-rows.js';
import { copyBytes, type StrategyOptions } from './strategies.js';
import { maskMessage, type RowMasker } from './row-masker.js';

export { maskMessage, type RowMasker };

// ---- counters ----

/** What one result's masking did, for the audit. */
export interface MaskCounts {
  rows: number;
  maskedCells: number;
  /** Per rule that masked something: rows it touched and cells it masked. */
  rules: Record<string, { rows: number; cells: number }>;
}

/**
 * Per-rule counters of one result. Rules are numbered from the plan (column rules, then detector rules), so
 * a worker's counters for a batch line up with the stage's and are added as two arrays.
 */
export class MaskCounters {
  rows = 0;
  readonly rules: readonly string[];
  readonly ruleRows: Uint32Array;
  readonly ruleCells: Uint32Array;
  /** The row number each rule was last counted in, so a rule counts a row once. */
  private readonly lastRow: Float64Array;
  private readonly columnRule: Int32Array;
  private readonly detectorRule: Int32Array;

  constructor(spec: PlanSpec) {
    const names: string[] = [];
    const index = (name: string) => {
      const k = names.indexOf(name);
      return k >= 0 ? k : names.push(name) - 1;
    };
    this.columnRule = Int32Array.from(spec.columns, (c) => (c !== null && 'rule' in c ? index(c.rule) : -1));
    this.detectorRule = new Int32Array(detectorKinds.length).fill(-1);
    for (const d of spec.detectors) this.detectorRule[detectorId[d.kind]] = index(d.rule);
    this.rules = names;
    this.ruleRows = new Uint32Array(names.length);
    this.ruleCells = new Uint32Array(names.length);
    this.lastRow = new Float64Array(names.length).fill(-1);
  }

  /** Column `column`'s value was masked; `detected`: the detectors that matched in it (scanned columns). */
  cell(column: number, detected: KindSet): void {
    const r = this.columnRule[column];
    if (r !== undefined && r >= 0) return this.bump(r);
    for (let set = detected; set !== 0; set &= set - 1) {
      const k = this.detectorRule[31 - Math.clz32(set & -set)]!;
      if (k >= 0) this.bump(k);
    }
  }

  endRow(): void {
    this.rows++;
  }

  private bump(r: number): void {
    this.ruleCells[r]!++;
    if (this.lastRow[r] !== this.rows) {
      this.lastRow[r] = this.rows;
      this.ruleRows[r]!++;
    }
  }

  /** Adds a batch's counts (from the worker). */
  add(rows: number, ruleRows: ArrayLike<number>, ruleCells: ArrayLike<number>): void {
    this.rows += rows;
    for (let k = 0; k < this.rules.length; k++) {
      this.ruleRows[k]! += ruleRows[k]!;
      this.ruleCells[k]! += ruleCells[k]!;
    }
  }

  snapshot(): MaskCounts {
    const rules: MaskCounts['rules'] = {};
    let maskedCells = 0;
    this.rules.forEach((name, k) => {
      if (this.ruleCells[k] === 0) return;
      rules[name] = { rows: this.ruleRows[k]!, cells: this.ruleCells[k]! };
      maskedCells += this.ruleCells[k]!;
    });
    return { rows: this.rows, maskedCells, rules };
  }
}

// ---- row formats ----

/** The row messages of one result; plain data, so a batch job carries it to the worker. */
export type RowFormat =
  /** DataRow frames (type byte and length included). */
  | { kind: 'pg-datarow'; formats: PgRowFormats }
  /** CopyData frames of COPY TO STDOUT, one row each. */
  | { kind: 'pg-copy'; syntax: CopySyntax }
  /** One physical MySQL packet each (4-byte header included); the sequence id is kept. */
  | { kind: 'mysql-text'; columns: MysqlRowColumns }
  | { kind: 'mysql-binary'; columns: MysqlRowColumns };


export function createRowMasker(plan: MaskPlan, format: RowFormat, counters: MaskCounters): RowMasker {
  switch (format.kind) {
    case 'pg-datarow':
      return new PgRowMasker(plan, format.formats, counters);
    case 'pg-copy':
      return new CopyRowMasker(plan, format.syntax, counters);
    case 'mysql-text':
    case 'mysql-binary':
      return new MysqlPacketMasker(new MysqlRowMasker(plan, format.columns, format.kind === 'mysql-binary', counters));
  }
}

/** Length of the message that starts at buf[pos]. */
function messageEnd(format: RowFormat, buf: Buffer, pos: number, end: number): number {
  const mysql = format.kind === 'mysql-text' || format.kind === 'mysql-binary';
  const next = mysql ? pos + 4 + buf.readUIntLE(pos, 3) : pos + 1 + buf.readInt32BE(pos + 1);
  if (next > end || next <= pos) throw new WireError('masking batch: truncated message');
  return next;
}


class CopyRowMasker implements RowMasker {
  /** COPY rows are rebuilt by maskCopyRow, not in place. */
  readonly slack = -1;
  private pending: Buffer = Buffer.alloc(0);
  constructor(
    private readonly plan: MaskPlan,
    private readonly syntax: CopySyntax,
    private readonly counters: MaskCounters,
  ) {}
  prepare(buf: Buffer, start: number, end: number): number {
    const r = maskCopyRow(buf, start, end, this.plan, this.syntax, this.counters);
    if (r.buffer === buf.buffer && r.byteOffset === buf.byteOffset + start) return -1;
    this.pending = r;
    return r.length;
  }
  emit(out: Buffer, pos: number): number {
    return copyBytes(this.pending, 0, this.pending.length, out, pos);
  }
  maskInto(): number {
    throw new Error('COPY rows are not masked in place');
  }
}

/**
 * A MySQL row packet, header included. A masked payload keeps its packet's sequence id and must fit one
 * packet: a row that masking grows past 16 MiB fails (closing the session) rather than renumber packets.
 */
class MysqlPacketMasker implements RowMasker {
  readonly slack: number;
  private seq = 0;
  private size = 0;
  constructor(private readonly rows: MysqlRowMasker) {
    this.slack = rows.slack;
  }
  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    const p = this.rows.maskInto(buf, start + 4, end, out, pos + 4);
    if (p < 0) return -1;
    const size = p - pos - 4;
    if (size >= 0xffffff) throw new WireError(`masking grew a row to ${size} bytes, past one packet`);
    out.writeUIntLE(size, pos, 3);
    out[pos + 3] = buf[start + 3]!;
    return p;
  }
  prepare(buf: Buffer, start: number, end: number): number {
    const size = this.rows.prepare(buf, start + 4, end);
    if (size < 0) return -1;
    if (size >= 0xffffff) throw new WireError(`masking grew a row to ${size} bytes, past one packet`);
    this.seq = buf[start + 3]!;
    this.size = size;
    return 4 + size;
  }
  emit(out: Buffer, pos: number): number {
    out.writeUIntLE(this.size, pos, 3);
    out[pos + 3] = this.seq;
    return this.rows.emit(out, pos + 4);
  }
}

// ---- batches (what the worker runs) ----

export interface BatchJob {
  /** Identifies the result: the worker compiles its plan once. */
  key: number;
  spec: PlanSpec;
  format: RowFormat;
  /** Row messages back to back in rows[0, length); transferred to the worker. */
  rows: ArrayBuffer;
  length: number;
  /** A buffer to write the output into when it fits (transferred too); else the worker allocates one. */
  out?: ArrayBuffer;
}

export interface BatchResult {
  /** The messages to send, back to back in out[0, length); transferred back. */
  out: ArrayBuffer;
  /** The job's rows buffer, handed back (transferred) to take a later batch. */
  input?: ArrayBuffer;
  length: number;
  rows: number;
  ruleRows: Uint32Array;
  ruleCells: Uint32Array;
  /** The worker thread that ran it. */
  thread?: number;
}

/** Something that runs batches: the piscina pool (pool.ts), or a test's fake. */
export interface BatchExecutor {
  run(job: BatchJob): Promise<BatchResult>;
}

const compiledPlans = new Map<number, MaskPlan>();

/** Masks a batch; pure apart from a small cache of compiled plans. Runs in the worker (or inline in tests). */
export function runBatch(job: BatchJob, opts: StrategyOptions = {}): BatchResult {
  let plan = compiledPlans.get(job.key);
  if (plan === undefined) {
    plan = compilePlan(job.spec, opts);
    if (compiledPlans.size >= 64) compiledPlans.delete(compiledPlans.keys().next().value!);
    compiledPlans.set(job.key, plan);
  }
  const counters = new MaskCounters(job.spec);
  const masker = createRowMasker(plan, revive(job.format), counters);
  const input = Buffer.from(job.rows, 0, job.length);
  // Masking mostly shrinks values; an output that outgrows this is copied once into a bigger one.
  const room = job.length + (job.length >> 3) + 1024;
  let out: Buffer = job.out !== undefined && job.out.byteLength >= room ? Buffer.from(job.out) : Buffer.allocUnsafeSlow(room);
  let pos = 0;
  for (let at = 0; at < job.length; ) {
    const end = messageEnd(job.format, input, at, job.length);
    if (masker.slack >= 0) {
      out = ensureRoom(out, pos, end - at + masker.slack);
      const p = masker.maskInto(input, at, end, out, pos);
      if (p >= 0) {
        pos = p;
        at = end;
        continue;
      }
    }
    const size = masker.prepare(input, at, end);
    const need = size < 0 ? end - at : size;
    out = ensureRoom(out, pos, need);
    pos = size < 0 ? copyBytes(input, at, end, out, pos) : masker.emit(out, pos);
    at = end;
  }
  return { out: out.buffer as ArrayBuffer, length: pos, rows: counters.rows, ruleRows: counters.ruleRows, ruleCells: counters.ruleCells };
}

/** out, or a copy of out[0, pos) twice as big, so that `need` bytes fit from pos. */
function ensureRoom(out: Buffer, pos: number, need: number): Buffer {
  if (pos + need <= out.length) return out;
  const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, pos + need));
  out.copy(bigger, 0, 0, pos);
  return bigger;
}

/** Buffers inside a format arrive in a worker as plain Uint8Arrays. */
function revive(format: RowFormat): RowFormat {
  if (format.kind !== 'pg-copy' || Buffer.isBuffer(format.syntax.null)) return format;
  const n = format.syntax.null as Uint8Array;
  return { kind: 'pg-copy', syntax: { ...format.syntax, null: Buffer.from(n.buffer, n.byteOffset, n.length) } };
}

/** Whether a plan's work is worth a worker: detector scans or HMAC hashing. Other strategies are byte copies. */
export function needsWorkers(spec: PlanSpec): boolean {
  return spec.columns.some((c) => c !== null && ('scan' in c || c.strategy.kind === 'hash'));
}

// ---- ordered output ----

interface Slot {
  bytes: Buffer | null;
}

/** What a slot's place holds once its bytes went out. */
const sent: Slot = { bytes: Buffer.alloc(0) };
const EMPTY_SLAB = Buffer.alloc(0);

/** Size of the buffers rows are gathered in before they go to the sink. */
const slabBytes = 64 * 1024;

/**
 * The one way bytes reach a session's client while masking is on: in order, whether written now or filled
 * in later by a batch. Writes go straight to the sink while nothing is pending. A failure (a batch that
 * could not be masked) stops all output for good: nothing after it may reach the client unmasked or out
 * of order, so the session closes the connection (`onError`).
 *
 * Rows masked inline are gathered (`room`/`commit`) in a slab and reach the sink as one buffer per
 * `flush`: a socket write per row would cost more than masking it. The session flushes at the end of each
 * chunk it reads; anything else written, and the end of the tick, flush too, so gathered bytes never wait.
 */
export class OrderedOutput {
  /** Bytes waiting behind a pending slot. */
  queuedBytes = 0;
  private queue: Slot[] = [];
  private head = 0;
  private failed: Error | null = null;
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];
  /** Gathered bytes are slab[slabStart, slabPos); what precedes slabStart went out and is never rewritten. */
  private slab: Buffer = EMPTY_SLAB;
  private slabStart = 0;
  /** Where the next gathered bytes go (see `room`). */
  slabPos = 0;
  private flushQueued = false;
  private readonly flushLater = () => {
    this.flushQueued = false;
    this.flush();
  };

  constructor(
    private readonly sink: (bytes: Buffer) => void,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** No slot is pending: writes, and flushed rows, go straight through. */
  get idle(): boolean {
    return this.head === this.queue.length;
  }

  get error(): Error | null {
    return this.failed;
  }

  write(bytes: Buffer): void {
    if (this.failed) return;
    this.flush();
    this.send(bytes);
  }

  /**
   * A buffer with room for n bytes from `slabPos`: write them there, then `commit` the position after them.
   * Nothing else may be written in between.
   */
  room(n: number): Buffer {
    if (this.slab.length - this.slabPos < n) {
      this.flush();
      this.slab = Buffer.allocUnsafe(Math.max(slabBytes, n));
      this.slabStart = 0;
      this.slabPos = 0;
    }
    return this.slab;
  }

  commit(pos: number): void {
    this.slabPos = pos;
    // Behind a pending slot the bytes wait in the queue anyway, where they count for back-pressure.
    if (!this.idle) return this.flush();
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushLater);
    }
  }

  /** Sends the gathered bytes on (to the sink, or behind a pending slot). */
  flush(): void {
    if (this.slabPos === this.slabStart) return;
    const bytes = this.slab.subarray(this.slabStart, this.slabPos);
    this.slabStart = this.slabPos;
    if (!this.failed) this.send(bytes);
  }

  private send(bytes: Buffer): void {
    if (this.head === this.queue.length) this.sink(bytes);
    else {
      this.queue.push({ bytes });
      this.queuedBytes += bytes.length;
    }
  }

  /** A place in the order for bytes that come later (`fill`). */
  reserve(): Slot {
    this.flush();
    const slot: Slot = { bytes: null };
    this.queue.push(slot);
    return slot;
  }

  fill(slot: Slot, bytes: Buffer): void {
    if (this.failed) return this.notify();
    slot.bytes = bytes;
    this.queuedBytes += bytes.length;
    while (this.head < this.queue.length && this.queue[this.head]!.bytes !== null) {
      const b = this.queue[this.head]!.bytes!;
      // The slot leaves the queue now: a long result keeps a pending slot at the tail for good, so sent
      // slots must not hold their bytes until the queue empties.
      this.queue[this.head++] = sent;
      this.queuedBytes -= b.length;
      this.sink(b);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.notify();
  }

  fail(err: Error): void {
    if (!this.failed) {
      this.failed = err;
      this.queue = [];
      this.head = 0;
      this.queuedBytes = 0;
      this.slabStart = this.slabPos;
      this.onError(err);
    }
    this.notify();
  }

  /** Resolves once `ready()` holds, checked after every fill (or at once). */
  until(ready: () => boolean): Promise<void> {
    if (ready() || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ready, resolve }));
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.failed || w.ready()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}

// ---- one result ----

export interface StageOptions {
  /** Runs batches; null: everything inline. */
  executor?: BatchExecutor | null;
  /** A batch is sent when it holds this many rows ... */
  batchRows?: number;
  /** ... or this many bytes. */
  batchBytes?: number;
  /** Batches of one result in the pool at once; more rows make the stage report full. */
  maxInFlight?: number;
  /** Bytes the output may hold behind a pending batch before the stage reports full. */
  maxQueuedBytes?: number;
  /** Rows of a result masked inline before batching starts: short results skip the hop. */
  inlineRows?: number;
}

const defaults = { batchRows: 1024, batchBytes: 256 * 1024, maxInFlight: 4, maxQueuedBytes: 1024 * 1024, inlineRows: 256 };

/**
 * Batch buffers handed back by the workers, kept to take later batches: a fresh ArrayBuffer per batch made
 * the main thread's garbage collector its busiest part (about a third of its CPU with detectors on workers).
 * One per process; buffers of another size (a batch grown for one big row) are let go.
 */
export class BatchBuffers {
  private readonly free: ArrayBuffer[] = [];
  constructor(
    readonly size: number,
    private readonly keep = 16,
  ) {}

  take(atLeast: number): Buffer {
    if (atLeast <= this.size) {
      const ab = this.free.pop();
      if (ab !== undefined) return Buffer.from(ab);
    }
    return Buffer.allocUnsafeSlow(Math.max(this.size, atLeast));
  }

  give(ab: ArrayBuffer | undefined): void {
    if (ab !== undefined && ab.byteLength === this.size && this.free.length < this.keep) this.free.push(ab);
  }

  private readonly freeOut: ArrayBuffer[] = [];
  /** Room for the output of a batch of up to `size` bytes, as runBatch wants it. */
  private get outSize(): number {
    return this.size + (this.size >> 3) + 1024;
  }

  /** An output buffer for a batch: one handed back, or a new one. */
  takeOut(): ArrayBuffer {
    return this.freeOut.pop() ?? new ArrayBuffer(this.outSize);
  }

  giveOut(ab: ArrayBuffer): void {
    if (ab.byteLength === this.outSize && this.freeOut.length < this.keep) this.freeOut.push(ab);
  }
}

let nextKey = 1;

/**
 * The rows of one result set. `row()` takes each row message in order and returns false when the stage is
 * full: the session stops reading upstream until `drained()` resolves. `end()` sends the last batch and
 * resolves with the counts once every row has been handed to the output.
 */
export class ResultMasker {
  readonly counters: MaskCounters;
  /** The rewritten description (RowDescription, MySQL column definitions) to send instead, or null to keep it. */
  description: Buffer | null = null;
  private readonly masker: RowMasker;
  private readonly key = nextKey++;
  private readonly opts: typeof defaults;
  private pooled: boolean;
  private inlineLeft: number;
  private batch: Buffer | null = null;
  /** Bytes of the batch so far, the pending run included. */
  private batchLength = 0;
  /**
   * Rows not yet copied into the batch: pendingSrc[pendingStart, batchLength - pendingAt + pendingStart).
   * Rows of one socket chunk lie back to back, so a chunk's rows are copied with one call, not one per row.
   */
  private pendingSrc: Buffer | null = null;
  private pendingStart = 0;
  private pendingAt = 0;
  private batchRowCount = 0;
  private batchSlot: Slot | null = null;
  private inFlight = 0;
  private ended: ((counts: MaskCounts) => void) | null = null;
  private readonly notFull = () => !this.full;

  constructor(
    readonly plan: MaskPlan,
    private readonly format: RowFormat,
    private readonly out: OrderedOutput,
    private readonly executor: BatchExecutor | null,
    opts: StageOptions = {},
    private readonly buffers = new BatchBuffers(opts.batchBytes ?? defaults.batchBytes),
  ) {
    this.opts = { ...defaults, ...definedOnly(opts) };
    this.counters = new MaskCounters(plan.spec);
    this.masker = createRowMasker(plan, format, this.counters);
    this.pooled = false;
    this.inlineLeft = executor ? this.opts.inlineRows : Infinity;
  }

  /** Batches in the pool, or output waiting behind them, are at their bound. */
  get full(): boolean {
    return this.inFlight >= this.opts.maxInFlight || this.out.queuedBytes > this.opts.maxQueuedBytes;
  }

  /** Rows batched for the pool (or inline when pooled is false). */
  get usesWorkers(): boolean {
    return this.pooled;
  }

  row(buf: Buffer, start: number, end: number): boolean {
    if (!this.pooled) {
      if (this.inlineLeft > 0) {
        this.inlineLeft--;
        this.maskInline(buf, start, end);
        return !this.full;
      }
      this.pooled = true;
    }
    const len = end - start;
    if (this.batch !== null && this.batchLength + len > this.batch.length) this.dispatch();
    if (this.batch === null) {
      this.batch = this.buffers.take(len);
      this.batchSlot = this.out.reserve();
    }
    const pendingEnd = this.pendingStart + (this.batchLength - this.pendingAt);
    if (buf !== this.pendingSrc || start !== pendingEnd) {
      this.copyPending();
      this.pendingSrc = buf;
      this.pendingStart = start;
      this.pendingAt = this.batchLength;
    }
    this.batchLength += len;
    if (++this.batchRowCount >= this.opts.batchRows || this.batchLength >= this.opts.batchBytes) this.dispatch();
    return !this.full;
  }

  /** Copies the rows still pending into the batch. */
  private copyPending(): void {
    const src = this.pendingSrc;
    if (src === null) return;
    const n = this.batchLength - this.pendingAt;
    if (n > 0) src.copy(this.batch!, this.pendingAt, this.pendingStart, this.pendingStart + n);
    this.pendingSrc = null;
  }

  /** Masks one row into the output's slab: no buffer of its own, no write of its own. */
  private maskInline(buf: Buffer, start: number, end: number): void {
    const out = this.out;
    const m = this.masker;
    if (m.slack >= 0) {
      const slab = out.room(end - start + m.slack);
      const p = m.maskInto(buf, start, end, slab, out.slabPos);
      if (p >= 0) return out.commit(p);
    }
    const size = m.prepare(buf, start, end);
    const slab = out.room(size < 0 ? end - start : size);
    out.commit(size < 0 ? copyBytes(buf, start, end, slab, out.slabPos) : m.emit(slab, out.slabPos));
  }

  /** Resolves when the stage is no longer full. */
  drained(): Promise<void> {
    return this.out.until(this.notFull);
  }

  /**
   * Sends the batch under way now, so that what the session writes to the output next comes after its rows
   * (a MySQL row of several packets, which the session masks itself).
   */
  flush(): void {
    if (this.batch !== null) this.dispatch();
  }

  /** The result ended: sends the last batch; resolves with the counts once every row went to the output. */
  end(): Promise<MaskCounts> {
    if (this.batch !== null) this.dispatch();
    if (this.inFlight === 0) return Promise.resolve(this.counters.snapshot());
    return new Promise((resolve) => {
      this.ended = resolve;
    });
  }

  private dispatch(): void {
    this.copyPending();
    const rows = this.batch!;
    const slot = this.batchSlot!;
    const job: BatchJob = { key: this.key, spec: this.plan.spec, format: this.format, rows: rows.buffer as ArrayBuffer, length: this.batchLength, out: this.buffers.takeOut() };
    this.batch = null;
    this.batchSlot = null;
    this.batchLength = 0;
    this.batchRowCount = 0;
    this.inFlight++;
    let running: Promise<BatchResult>;
    try {
      running = this.executor!.run(job);
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      (r) => {
        this.inFlight--;
        this.buffers.give(r.input);
        this.counters.add(r.rows, r.ruleRows, r.ruleCells);
        // Copied out, so the worker's buffer can take another batch (see BatchBuffers).
        const bytes = Buffer.allocUnsafe(r.length);
        Buffer.from(r.out, 0, r.length).copy(bytes);
        this.buffers.giveOut(r.out);
        this.out.fill(slot, bytes);
        this.settle();
      },
      (err: unknown) => {
        this.inFlight--;
        this.out.fail(err instanceof Error ? err : new Error(String(err)));
        this.settle();
      },
    );
  }

  private settle(): void {
    if (this.inFlight === 0 && this.ended) {
      const resolve = this.ended;
      this.ended = null;
      resolve(this.counters.snapshot());
    }
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Opens ResultMaskers with shared options and executor (one per process). */
export class MaskingStage {
  private readonly buffers: BatchBuffers;
  constructor(private readonly opts: StageOptions = {}) {
    this.buffers = new BatchBuffers(opts.batchBytes ?? defaults.batchBytes);
  }

  /** The rows of one result. Plans that need no workers (see needsWorkers) always run inline. */
  open(plan: MaskPlan, format: RowFormat, out: OrderedOutput): ResultMasker {
    const executor = needsWorkers(plan.spec) ? (this.opts.executor ?? null) : null;
    return new ResultMasker(plan, format, out, executor, this.opts, this.buffers);
  }
}
