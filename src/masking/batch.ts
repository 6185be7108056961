// A batch of row messages masked in one go: what a worker runs (`runBatch`), the row maskers of each row
// format, and the buffers batches travel in. Imports no pool and no socket: the worker loads this module.
import type { OffloadAdvice } from './headroom.js';
import { WireError } from '../wire/bytes.js';
import { compilePlan, type MaskPlan, type PlanSpec } from './plan.js';
import { PgRowMasker, type PgRowFormats } from './pg-rows.js';
import { CopyRowMasker, type CopySyntax } from './pg-copy.js';
import { MysqlRowMasker, type MysqlRowColumns } from './mysql-rows.js';
import { copyBytes, type StrategyOptions } from './strategies.js';
import type { NativeRowRun } from './native.js';
import { OVERWRITTEN, type RowMasker } from './row-masker.js';
import { MaskCounters } from './counters.js';

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

/** End of the row message that starts at buf[pos] (a whole one: else WireError). */
export function messageEnd(format: RowFormat, buf: Buffer, pos: number, end: number): number {
  const mysql = format.kind === 'mysql-text' || format.kind === 'mysql-binary';
  // The header read byte by byte: Buffer's readers check their arguments, and this runs once a row.
  if (pos + (mysql ? 4 : 5) > end) throw new WireError('masking batch: truncated message');
  const next = mysql
    ? pos + 4 + (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16))
    : pos + 1 + ((buf[pos + 1]! << 24) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!);
  if (next > end || next <= pos) throw new WireError('masking batch: truncated message');
  return next;
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
  /** The native masker takes whole packets, header included (native/rows.c). */
  get native(): NativeRowRun | null {
    return this.rows.native;
  }
  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.framed(this.rows.maskInto(buf, start + 4, end, out, pos + 4), buf, start, out, pos);
  }
  /** A payload masked where it lies keeps its length: the packet header stays as it is. */
  maskOver(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    const p = this.rows.maskOver(buf, start + 4, end, out, pos + 4);
    return p === OVERWRITTEN ? p : this.framed(p, buf, start, out, pos);
  }
  /** The header of the payload maskInto wrote at out[pos + 4, p). */
  private framed(p: number, buf: Buffer, start: number, out: Buffer, pos: number): number {
    if (p < 0) return -1;
    const size = p - pos - 4;
    if (size >= 0xffffff) throw new WireError(`masking grew a row to ${size} bytes, past one packet`);
    out[pos] = size;
    out[pos + 1] = size >>> 8;
    out[pos + 2] = size >>> 16;
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
  /** Whether batches should go to it now (see headroom.ts); absent: always. */
  readonly offload?: OffloadAdvice;
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
  // Rows masked where they lie, [kept, at), are copied out together when a row written into out follows
  // them (written past the room they take) or the batch ends.
  let kept = 0;
  for (let at = 0; at < job.length; ) {
    const end = messageEnd(job.format, input, at, job.length);
    if (masker.slack >= 0) {
      const gap = at - kept;
      out = ensureRoom(out, pos, gap + end - at + masker.slack);
      const dest = pos + gap;
      const p = masker.maskOver === undefined ? masker.maskInto(input, at, end, out, dest) : masker.maskOver(input, at, end, out, dest);
      if (p === OVERWRITTEN) {
        at = end;
        continue;
      }
      kept = end;
      if (p >= 0) {
        if (gap > 0) input.copy(out, pos, at - gap, at);
        pos = p;
        at = end;
        continue;
      }
      if (gap > 0) pos += input.copy(out, pos, at - gap, at);
    }
    const size = masker.prepare(input, at, end);
    const need = size < 0 ? end - at : size;
    out = ensureRoom(out, pos, need);
    pos = size < 0 ? copyBytes(input, at, end, out, pos) : masker.emit(out, pos);
    kept = at = end;
  }
  if (kept < job.length) {
    out = ensureRoom(out, pos, job.length - kept);
    pos += input.copy(out, pos, kept, job.length);
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
