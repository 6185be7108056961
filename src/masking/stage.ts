// The row stage (DESIGN.md "Masking"): one result's row messages through its MaskPlan, in order, with
// back-pressure. Cheap plans (column rules whose strategies are byte copies) run inline; plans that scan
// with detectors or hash go to a worker pool in batches (rows copied into one ArrayBuffer, transferred to
// the worker with a buffer for its output; both come back and are used again), at most `maxInFlight`
// batches at a time. Output goes through an OrderedOutput, which keeps everything the session writes
// behind the rows still being masked.
import type { MaskPlan } from './plan.js';
import { copyBytes } from './strategies.js';
import { OVERWRITTEN, type RowMasker } from './row-masker.js';
import { FULL as NATIVE_FULL, LEAVE as NATIVE_LEAVE, nativeRowMargin, type NativeRowRun } from './native.js';
import { MaskCounters, type MaskCounts } from './counters.js';
import { BatchBuffers, createRowMasker, messageEnd, needsWorkers, type BatchExecutor, type BatchJob, type BatchResult, type RowFormat } from './batch.js';
import type { OrderedOutput, Slot } from './ordered-output.js';
import type { OffloadAdvice } from './headroom.js';

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
  /**
   * The longest a batch waits for more rows: a result whose rows come slowly (a long query, a cursor) has
   * what it has so far sent on then, rather than when the batch fills or the result ends.
   */
  maxBatchDelayMs?: number;
  /**
   * Whether rows the native masker takes (native.ts; when it is built) are masked by it: inline, never
   * batched, as it masks them for less than a batch's trip to a worker costs. Off: the JS maskers and the
   * pool, as without the addon (their tests).
   */
  native?: boolean;
}

/** Rows masked where they lie, this many bytes or more, go out as a write of their own rather than copied. */
const keptWriteBytes = 16 * 1024;

const defaults = { batchRows: 4096, batchBytes: 512 * 1024, maxInFlight: 4, maxQueuedBytes: 1024 * 1024, inlineRows: 256, maxBatchDelayMs: 5, native: true };

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
  /**
   * Sends the batch under way once it is maxBatchDelayMs old (see StageOptions): not after the output failed
   * (nothing more goes out), and not while the stage is full (the batch waits for the next look: the timer
   * adds no batch past maxInFlight while the session waits for the pool). Unref'd: it only hurries rows along.
   */
  private batchTimer: NodeJS.Timeout | null = null;
  private readonly sendStale = () => {
    this.batchTimer = null;
    if (this.batch === null || this.out.error !== null) return;
    if (this.full) this.startBatchTimer();
    else this.dispatch();
  };
  private inFlight = 0;
  private ended: ((counts: MaskCounts) => void) | null = null;
  private readonly notFull = () => !this.full;
  /** Whether the pool should take batches now, and the generation of it this result last followed. */
  private readonly advice: OffloadAdvice | null;
  private adviceSeen = 0;
  /** The advice's generation when this result opened (see OffloadAdvice.paysSince). */
  private readonly openedAt: number;

  /** Runs batches; null when the rows are masked inline only. */
  private readonly executor: BatchExecutor | null;
  /** Masks runs of rows natively (see StageOptions.native), or null. */
  private readonly native: NativeRowRun | null;

  constructor(
    readonly plan: MaskPlan,
    private readonly format: RowFormat,
    private readonly out: OrderedOutput,
    executor: BatchExecutor | null,
    opts: StageOptions = {},
    private readonly buffers = new BatchBuffers(opts.batchBytes ?? defaults.batchBytes),
  ) {
    this.opts = withDefaults(opts);
    this.counters = new MaskCounters(plan.spec);
    this.masker = createRowMasker(plan, format, this.counters);
    // Rows the native masker takes cost less inline than a batch's trip to a worker: no pool for them.
    this.native = this.opts.native ? (this.masker.native ?? null) : null;
    this.executor = this.native ? null : executor;
    this.pooled = false;
    this.inlineLeft = this.executor ? this.opts.inlineRows : Infinity;
    this.advice = this.executor?.offload ?? null;
    this.openedAt = this.advice?.generation ?? 0;
    this.adviceSeen = this.openedAt;
  }

  /** Batches in the pool, or output waiting behind them, are at their bound. */
  get full(): boolean {
    return this.inFlight >= this.opts.maxInFlight || this.out.queuedBytes > this.opts.maxQueuedBytes;
  }

  /** Rows batched for the pool (or inline when pooled is false). */
  get usesWorkers(): boolean {
    return this.pooled;
  }

  /**
   * A run of whole row messages back to back in buf[start, end) (see PgFramer.express). Masked inline, they
   * go into the output's slab in one loop, with one commit; else one by one as `row` takes them.
   */
  rows(buf: Buffer, start: number, end: number): boolean {
    if (this.advice !== null && this.advice.generation !== this.adviceSeen) this.followAdvice();
    if (this.pooled || this.inlineLeft !== Infinity || this.masker.slack < 0) {
      let full = false;
      for (let at = start; at < end; ) {
        const next = messageEnd(this.format, buf, at, end);
        full = !this.row(buf, at, next);
        at = next;
      }
      return !full;
    }
    if (this.native) return this.nativeRows(this.native, buf, start, end);
    const out = this.out;
    const m = this.masker;
    const slack = m.slack;
    let slab = out.room(0);
    let p = out.slabPos;
    // Rows masked where they lie, [kept, at), join the output when a row written into the slab follows them
    // (the row is written past the room they take) or the run ends; a run of nothing else goes on as the
    // input's own bytes.
    let kept = start;
    for (let at = start; at < end; ) {
      const next = messageEnd(this.format, buf, at, end);
      if (slab.length - p < next - kept + slack) {
        out.commit(p);
        if (kept < at) this.sendKept(buf, kept, at);
        kept = at;
        slab = out.room(next - at + slack);
        p = out.slabPos;
      }
      const gap = at - kept;
      // A row written into the slab lands after the kept rows, which are copied in front of it once it is.
      const copyGap = gap > 0 && gap < keptWriteBytes;
      const dest = copyGap ? p + gap : p;
      const q = m.maskOver === undefined ? m.maskInto(buf, at, next, slab, dest) : m.maskOver(buf, at, next, slab, dest);
      if (q === OVERWRITTEN) {
        at = next;
        continue;
      }
      kept = next;
      if (q >= 0) {
        if (copyGap) buf.copy(slab, p, at - gap, at);
        else if (gap > 0) {
          out.commit(p);
          out.write(buf.subarray(at - gap, at));
        }
        p = q;
      } else {
        // Did not fit after all (a detector match): sized first, as `row` would.
        out.commit(p);
        if (gap > 0) this.sendKept(buf, at - gap, at);
        this.maskInline(buf, at, next);
        slab = out.room(0);
        p = out.slabPos;
      }
      at = next;
    }
    out.commit(p);
    if (kept === start) out.write(buf.subarray(start, end));
    else if (kept < end) this.sendKept(buf, kept, end);
    return !this.full;
  }

  /**
   * rows() through the native masker (native.ts): it writes runs of rows into the output's slab; a row it
   * leaves (malformed, or not for it) is masked by maskInline, which raises the wire error a bad row deserves.
   */
  private nativeRows(native: NativeRowRun, buf: Buffer, start: number, end: number): boolean {
    const out = this.out;
    let slab = out.room(0);
    let freshRoom = false;
    for (let at = start; at < end; ) {
      native.run(buf, at, end, slab, out.slabPos);
      out.commit(native.pos);
      const moved = native.at !== at;
      at = native.at;
      if (at >= end) break;
      if (native.why === NATIVE_FULL && (moved || !freshRoom)) {
        slab = out.room(messageEnd(this.format, buf, at, end) - at + this.masker.slack + nativeRowMargin);
        freshRoom = true;
        continue;
      }
      freshRoom = false;
      if (native.why === NATIVE_FULL || native.why === NATIVE_LEAVE) {
        const next = messageEnd(this.format, buf, at, end);
        this.maskInline(buf, at, next);
        slab = out.room(0);
        at = next;
      }
    }
    return !this.full;
  }

  /**
   * Rows masked where they lie, buf[from, to), to the output: copied into the slab, or when they are many,
   * written as they are (a write of their own costs less than copying that much).
   */
  private sendKept(buf: Buffer, from: number, to: number): void {
    if (to - from >= keptWriteBytes) return this.out.write(buf.subarray(from, to));
    const slab = this.out.room(to - from);
    this.out.commit(this.out.slabPos + buf.copy(slab, this.out.slabPos, from, to));
  }

  row(buf: Buffer, start: number, end: number): boolean {
    if (this.advice !== null && this.advice.generation !== this.adviceSeen) this.followAdvice();
    if (!this.pooled) {
      if (this.inlineLeft > 0) {
        this.inlineLeft--;
        this.maskInline(buf, start, end);
        return !this.full;
      }
      // The result outgrew its inline rows: to the pool, unless the machine has no core to spare for it, or
      // has not been measured since the result began.
      if (this.advice !== null && !this.advice.paysSince(this.openedAt)) {
        this.inlineLeft = Infinity;
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
      this.startBatchTimer();
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

  /**
   * The advice changed (headroom.ts): a pooled result sends the batch it was filling and masks inline from
   * here; one kept inline past its first rows goes to the pool once a sample taken wholly after it began says so.
   * The output keeps the order either way: what is written inline waits behind the batches still in the pool.
   */
  private followAdvice(): void {
    const advice = this.advice!;
    this.adviceSeen = advice.generation;
    if (this.pooled && !advice.pays) {
      if (this.batch !== null) this.dispatch();
      this.pooled = false;
      this.inlineLeft = Infinity;
    } else if (!this.pooled && this.inlineLeft === Infinity && advice.paysSince(this.openedAt)) {
      this.pooled = true;
    }
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

  private startBatchTimer(): void {
    this.batchTimer = setTimeout(this.sendStale, this.opts.maxBatchDelayMs);
    this.batchTimer.unref();
  }

  private dispatch(): void {
    if (this.batchTimer !== null) {
      clearTimeout(this.batchTimer);
      this.batchTimer = null;
    }
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

/** The stage's options object is one per process: merged with the defaults once, not per result. */
const merged = new WeakMap<StageOptions, typeof defaults>();

function withDefaults(opts: StageOptions): typeof defaults {
  let full = merged.get(opts);
  if (!full) merged.set(opts, (full = { ...defaults, ...definedOnly(opts) }));
  return full;
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
