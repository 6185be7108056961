// The audit writer: append-only JSON lines, hash-chained (chain.ts), batched, rotated by size.
//
// API:
//   const audit = await AuditLog.open(config.audit.file, { log, redact?, maxBytes? ... })
//       Continues the chain where the file (or its newest rotated file) ends: seq and hash go on across restarts.
//       Never rejects: a file that cannot be opened is logged and retried, like a failing write.
//   audit.write(event)                  buffered; written every few ms (at once when a batch of `batchLines` is full); never throws.
//                                       Its line is made when the batch is written (after the session's socket writes)
//   await audit.writeAndFlush(event)    resolves once the line is written and fsynced; rejects (AuditWriteError)
//                                       if it could not be: a decision must not be acted on unrecorded
//   await audit.flush()                 everything written so far is on disk (page cache); rejects like above
//   await audit.close()                 flush, fsync, close; never rejects (what could not be written is logged)
//   audit.status()                      { ok, file, seq, hash, pending, dropped, lastError? } for /healthz
//
// seq, prev and hash are given to a line when it is queued (batches.ts), once the file's chain is known: lines
// queued before the file could even be read wait as text, and join the chain the file holds once it can be.
//
// When the disk fails, events stay queued in order and the write is retried (100 ms doubling to 5 s, reopening
// the file). The queue is bounded (`maxPendingBytes` while the disk fails, 4x that while it is healthy but behind):
// past it, an event is logged in full at error level (its only copy) and counted; the next line that fits is
// preceded by an `audit.dropped` line saying how many.
import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BatchQueue, type Batch } from './batches.js';
import { chainPoint, genesis, readTail, rotatedFiles } from './chain.js';
import { serializeEvent, type AuditEvent, type DroppedEvent, type SerializedEvent } from './events.js';

/** pino fits. */
export interface AuditLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** How long plain writes gather before they are hashed and written. */
const batchDelayMs = 5;

export interface AuditLogOptions {
  log: AuditLogger;
  /** Applied to every `sql` field before it is written (e.g. the masking detectors). Default: none. */
  redact?: (text: string) => string;
  /** Rotate when the next batch would take the file past this size. Default 64 MiB. */
  maxBytes?: number;
  /** Longer `sql` is cut (and says so). Default 64 Ki chars. */
  maxSqlChars?: number;
  /** Most lines in one fs write. Default 1024. */
  batchLines?: number;
  /** Most event text kept in memory while the disk fails (4x that while it is only behind). Default 64 MiB. */
  maxPendingBytes?: number;
  /** Retry delays after a failed write. Default 100 ms doubling to 5 s. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface AuditStatus {
  /** The last write (or open) succeeded. */
  ok: boolean;
  file: string;
  /** seq and hash of the last line given to the chain. */
  seq: number;
  hash: string;
  /** Events not yet on disk. */
  pending: number;
  /** Events logged instead of kept since start (queue full while the disk failed). */
  dropped: number;
  lastError?: string;
}

export class AuditWriteError extends Error {
  override name = 'AuditWriteError';
}

interface Waiter {
  /** Resolves once this many events are written (and synced, when `sync`). */
  n: number;
  sync: boolean;
  resolve(): void;
  reject(err: Error): void;
}

const newline = Buffer.from('\n');
/** Event text size estimate per queued event, beyond its strings: seq, prev, hash, object overhead. */
const lineOverhead = 180;
const failureLogIntervalMs = 30_000;
const rotationRetryMs = 60_000;

export class AuditLog {
  readonly file: string;
  private readonly log: AuditLogger;
  private readonly ser: { redact?: (text: string) => string; maxSqlChars: number };
  private readonly maxBytes: number;
  private readonly batchLines: number;
  private readonly maxPendingBytes: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  private fh: FileHandle | null = null;
  private regular = false;
  private ino = 0;
  private size = 0;
  /** Lines queued, chained; null until the file's chain is read. */
  private chain: BatchQueue | null = null;
  /** The file ends inside a line: the next write starts with a newline. */
  private needsNewline = false;

  /**
   * Events given to write(), with their times, not yet serialized (and redacted): that work waits for the batch
   * timer, so it is done for a whole batch at once, off the path between a query and its answer, rather than
   * once per turn of the event loop. At most `batchLines` wait; while the disk fails, or someone waits for the
   * queue, they are taken at the end of the tick. Anything that reads the queue's order or its counts
   * (writeAndFlush, flush, close, status, pump) takes them first.
   */
  private unserialized: AuditEvent[] = [];
  private unserializedTimes: string[] = [];
  private readonly serializeLater = () => this.serializeWritten();
  /** Events queued before the chain was read, in order. */
  private unchained: SerializedEvent[] = [];
  private pendingBytes = 0;
  private inflight: Batch | null = null;
  /** Events ever queued, written, fsynced: waiters wait for these counters. */
  private enqueued = 0;
  private written = 0;
  private synced = 0;
  private waiters: Waiter[] = [];

  private pumping = false;
  private scheduled = false;
  private batchTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private failure: Error | null = null;
  private failures = 0;
  private lastFailureLog = 0;
  private rotateBlockedUntil = 0;
  private droppedNow: { count: number; since: string; until: string } | null = null;
  private droppedTotal = 0;
  private closing: Promise<void> | null = null;
  private isoMs = 0;
  private iso = '';

  private constructor(file: string, opts: AuditLogOptions) {
    this.file = path.resolve(file);
    this.log = opts.log;
    const redact = opts.redact;
    this.ser = {
      maxSqlChars: opts.maxSqlChars ?? 64 * 1024,
      ...(redact && {
        redact: (text: string) => {
          try {
            return redact(text);
          } catch (err) {
            // The unredacted text may hold the very values the hook exists to keep out.
            this.log.error({ err }, 'audit: redact hook failed; sql written as "[redact failed]"');
            return '[redact failed]';
          }
        },
      }),
    };
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.batchLines = opts.batchLines ?? 1024;
    this.maxPendingBytes = opts.maxPendingBytes ?? 64 * 1024 * 1024;
    this.retryMinMs = opts.retryMinMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.retryDelay = this.retryMinMs;
  }

  static async open(file: string, opts: AuditLogOptions): Promise<AuditLog> {
    const audit = new AuditLog(file, opts);
    try {
      await audit.openFile();
    } catch (err) {
      audit.fail(err);
    }
    return audit;
  }

  write(event: AuditEvent): void {
    const n = this.unserialized.push(event);
    this.unserializedTimes.push(this.now());
    if (n === 1) this.scheduleSerialize();
    else if (n === this.batchLines) queueMicrotask(this.serializeLater);
  }

  /** The first unserialized event waits for the batch timer (pump takes it), unless the queue is busy or failing. */
  private scheduleSerialize(): void {
    if (this.pumping || this.retryTimer || this.failure || this.scheduled || this.waiters.length > 0) {
      queueMicrotask(this.serializeLater);
      return;
    }
    this.batchTimer ??= setTimeout(this.batchDue, batchDelayMs);
  }

  private readonly batchDue = () => {
    this.batchTimer = null;
    void this.pump();
  };

  writeAndFlush(event: AuditEvent): Promise<void> {
    this.serializeWritten();
    const n = this.enqueue(event, this.now());
    if (n === 0) return Promise.reject(new AuditWriteError(`audit: ${event?.type} event not recorded (see the log)`));
    return this.waitFor(n, true);
  }

  flush(): Promise<void> {
    this.serializeWritten();
    return this.waitFor(this.enqueued, false);
  }

  close(): Promise<void> {
    this.serializeWritten();
    this.closing ??= this.shutdown();
    return this.closing;
  }

  status(): AuditStatus {
    this.serializeWritten();
    return {
      ok: this.failure === null,
      file: this.file,
      ...this.chainEnd(),
      pending: this.enqueued - this.written,
      dropped: this.droppedTotal,
      ...(this.failure && { lastError: this.failure.message }),
    };
  }

  // ---- queue ----

  /** Queues what write() was given, in order. */
  private serializeWritten(): void {
    const events = this.unserialized;
    if (events.length === 0) return;
    const times = this.unserializedTimes;
    this.unserialized = [];
    this.unserializedTimes = [];
    for (let i = 0; i < events.length; i++) this.enqueue(events[i]!, times[i]!);
  }

  /** Queues an event; returns its count (what waiters wait for), or 0 when it was not kept. */
  private enqueue(event: AuditEvent | DroppedEvent, ts: string): number {
    let s: SerializedEvent;
    try {
      s = serializeEvent(event, ts, this.ser);
    } catch (err) {
      this.log.error({ err, event }, 'audit: event cannot be serialized; not written');
      return 0;
    }
    if (this.closing) {
      this.log.error({ record: s.pre + 'null' + s.post + '}' }, 'audit: event after close; not written');
      return 0;
    }
    const bytes = s.pre.length + s.post.length + lineOverhead;
    // The bound is for an outage; a healthy writer only falls behind within one burst, so it gets more room.
    const limit = this.failure ? this.maxPendingBytes : 4 * this.maxPendingBytes;
    if (this.pendingBytes + bytes > limit && this.pendingBytes > 0) {
      // This record's only copy goes to the log.
      this.droppedTotal++;
      if (this.droppedNow) {
        this.droppedNow.count++;
        this.droppedNow.until = ts;
      } else this.droppedNow = { count: 1, since: ts, until: ts };
      this.log.error(
        { record: s.pre + 'null' + s.post + '}' },
        `audit: queue full (${this.failure ? 'the disk fails' : 'writes outrun the disk'}); record logged here instead`,
      );
      return 0;
    }
    if (this.droppedNow && event.type !== 'audit.dropped') {
      const d = this.droppedNow;
      this.droppedNow = null;
      this.enqueue({ type: 'audit.dropped', ...d }, ts);
    }
    this.push(s, bytes);
    this.schedule();
    return this.enqueued;
  }

  private push(s: SerializedEvent, estimate: number): void {
    if (this.chain) this.chain.push(s.pre, s.post, estimate);
    else this.unchained.push(s);
    this.pendingBytes += estimate;
    this.enqueued++;
  }

  /** seq and hash of the last line given to the chain (before it is read: of none). */
  private chainEnd(): { seq: number; hash: string } {
    return this.chain ? { seq: this.chain.seq, hash: this.chain.hash } : { seq: 0, hash: genesis };
  }

  /** Lines queued and not taken by the writer. */
  private queuedLines(): number {
    return this.chain ? this.chain.lines : this.unchained.length;
  }

  /** ISO time, formatted once per millisecond: a burst of lines shares one string. */
  private now(): string {
    const ms = Date.now();
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }

  private waitFor(n: number, sync: boolean): Promise<void> {
    if (sync ? n <= this.synced : n <= this.written) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ n, sync, resolve, reject });
      // A caller waiting is worth an attempt now rather than at the next retry.
      if (this.retryTimer && !this.closing) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.pumping || this.retryTimer) return;
    if (this.waiters.length > 0) {
      // Someone waits (a decision, flush, close): write at the end of this tick.
      if (this.batchTimer) {
        clearTimeout(this.batchTimer);
        this.batchTimer = null;
      }
      if (this.scheduled) return;
      this.scheduled = true;
      // setImmediate, not a microtask: every write() of this tick joins the batch.
      setImmediate(() => {
        this.scheduled = false;
        void this.pump();
      });
      return;
    }
    // Nobody waits: gather lines for a few milliseconds, so they go out as one write rather than a write per
    // statement (each a trip through the thread pool, between a query and its answer).
    if (this.scheduled || this.batchTimer) return;
    this.batchTimer = setTimeout(this.batchDue, batchDelayMs);
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.n <= (w.sync ? this.synced : this.written)) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private needsSync(): boolean {
    for (const w of this.waiters) if (w.sync && w.n <= this.written && w.n > this.synced) return true;
    return false;
  }

  // ---- writing ----

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.serializeWritten();
      for (;;) {
        if (!this.fh) await this.openFile();
        if (!this.inflight) {
          this.inflight = this.chain!.take();
          if (this.inflight) this.pendingBytes -= this.inflight.estimate;
          if (this.inflight && this.regular && this.size > 0 && this.size + this.inflight.buf.length > this.maxBytes) await this.rotate();
        }
        if (this.inflight) {
          await this.writeBatch(this.inflight);
          this.written += this.inflight.count;
          this.chain!.release(this.inflight);
          this.inflight = null;
          this.settle();
        }
        if (this.needsSync()) {
          const upTo = this.written;
          await this.fh!.datasync();
          this.synced = upTo;
          this.settle();
        }
        if (this.chain!.lines === 0 && !this.needsSync()) break;
        // Nobody waits and no full batch is queued: the next lines gather for batchDelayMs (schedule) rather
        // than go out one small write after another, each a round trip through the thread pool.
        if (this.waiters.length === 0 && this.chain!.full === 0) break;
      }
      if (this.failure) {
        this.log.warn({ file: this.file, failures: this.failures, seq: this.chainEnd().seq }, 'audit: writing again; queued events are on disk');
        this.failure = null;
        this.failures = 0;
        this.retryDelay = this.retryMinMs;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
      if (this.queuedLines() > 0 && !this.failure) this.schedule();
    }
  }

  private async writeBatch(batch: Batch): Promise<void> {
    const fh = this.fh!;
    if (this.needsNewline && batch.offset === 0) {
      await fh.write(newline, 0, 1, null);
      this.size += 1;
      this.needsNewline = false;
    }
    while (batch.offset < batch.buf.length) {
      // A short write (disk full) is continued where it stopped, so no line is written twice.
      const { bytesWritten } = await fh.write(batch.buf, batch.offset, batch.buf.length - batch.offset, null);
      if (bytesWritten <= 0) throw new Error('write returned 0 bytes');
      batch.offset += bytesWritten;
      this.size += bytesWritten;
    }
  }

  /** Opens the file for appending; the first time, reads where its chain ends. */
  private async openFile(): Promise<void> {
    if (!this.chain) await this.loadChain();
    const fh = await open(this.file, 'a+');
    try {
      const st = await fh.stat();
      this.regular = st.isFile();
      // A batch cut short goes on where it stopped, if that is still where this file ends; otherwise (the file
      // is gone or changed) the batch is written whole here.
      const continuing = this.inflight !== null && this.inflight.offset > 0 && st.ino === this.ino && st.size === this.size;
      if (this.inflight && !continuing) this.inflight.offset = 0;
      if (!continuing) {
        this.needsNewline = false;
        if (this.regular && st.size > 0) {
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, st.size - 1);
          this.needsNewline = last[0] !== 0x0a;
        }
      }
      this.ino = st.ino;
      this.size = st.size;
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    this.fh = fh;
  }

  /** seq and hash of the last line of the file, or of its newest rotated file when the file is new or empty. */
  private async loadChain(): Promise<void> {
    const tail = await readTail(this.file);
    let last = tail?.last ?? null;
    let from = this.file;
    if (!last) {
      const newest = (await rotatedFiles(this.file)).at(-1);
      if (newest) {
        last = (await readTail(newest.file))?.last ?? null;
        from = newest.file;
      }
    }
    if (tail?.partial) {
      this.log.error({ file: this.file }, 'audit: the file ends inside a line (a write cut short?); it stays as it is, and verify will report it');
    }
    let seq = 0;
    let hash = genesis;
    if (last) {
      const point = chainPoint(last);
      if (typeof point === 'string') {
        this.log.error({ file: from, problem: point }, 'audit: the last line is not an audit line; a new chain starts after it');
      } else ({ seq, hash } = point);
    }
    const chain = new BatchQueue(this.batchLines, seq, hash);
    for (const s of this.unchained) chain.push(s.pre, s.post, s.pre.length + s.post.length + lineOverhead);
    this.unchained = [];
    this.chain = chain;
  }

  /** Renames the file to `<file>.<n+1>` and opens a fresh one; on failure, writing goes on in the current file. */
  private async rotate(): Promise<void> {
    if (Date.now() < this.rotateBlockedUntil) return;
    const fh = this.fh!;
    let target = '';
    try {
      await fh.datasync();
      const n = ((await rotatedFiles(this.file)).at(-1)?.n ?? 0) + 1;
      target = `${this.file}.${n}`;
      // rename replaces silently; a rotated file is never overwritten.
      const exists = await stat(target).then(
        () => true,
        () => false,
      );
      if (exists) throw new Error(`${target} exists`);
      await rename(this.file, target);
    } catch (err) {
      this.rotateBlockedUntil = Date.now() + rotationRetryMs;
      this.log.error({ err, file: this.file }, 'audit: rotation failed; writing on in the current file');
      return;
    }
    this.fh = null;
    await fh.close().catch(() => {});
    // The last seq and hash of the rotated file, in the process log: an anchor outside the files themselves.
    this.log.info({ file: target, seq: this.inflight!.afterSeq, hash: this.inflight!.afterHash }, 'audit: file rotated');
    await this.openFile();
  }

  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    const first = this.failure === null;
    this.failure = error;
    this.failures++;
    const now = Date.now();
    if (first || now - this.lastFailureLog >= failureLogIntervalMs) {
      this.lastFailureLog = now;
      this.log.error(
        { err: error, file: this.file, pending: this.enqueued - this.written, failures: this.failures },
        `audit: cannot write ${this.file}; events are kept in memory (up to ${this.maxPendingBytes} bytes) and retried`,
      );
    }
    const waiters = this.waiters;
    this.waiters = [];
    const rejection = new AuditWriteError(`audit: cannot write ${this.file}: ${error.message}`);
    for (const w of waiters) w.reject(rejection);
    const fh = this.fh;
    this.fh = null;
    if (fh) fh.close().catch(() => {});
    if (this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.pump();
    }, this.retryDelay);
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }

  private async shutdown(): Promise<void> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.droppedNow) {
      const d = this.droppedNow;
      this.droppedNow = null;
      this.push(serializeEvent({ type: 'audit.dropped', ...d }, this.now(), this.ser), 0);
    }
    try {
      await this.waitFor(this.enqueued, true);
    } catch {
      // Logged by fail(); what is left goes to the log below.
    }
    if (this.enqueued > this.written) this.logUnwritten();
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close().catch((err: unknown) => this.log.error({ err }, 'audit: close failed'));
    this.log.info({ file: this.file, ...this.chainEnd() }, 'audit: closed');
  }

  /** At shutdown with the disk failing: every record not on disk goes to the log, in order. */
  private logUnwritten(): void {
    const msg = 'audit: record not written (disk failing at shutdown); logged here instead';
    if (this.inflight) {
      const text = this.inflight.buf.toString('utf8', 0);
      for (const line of text.split('\n')) if (line) this.log.error({ record: line }, msg);
    }
    for (const line of this.chain?.texts() ?? []) this.log.error({ record: line }, msg);
    for (const ev of this.unchained) this.log.error({ record: ev.pre + 'null' + ev.post + '}' }, msg);
    this.log.error({ file: this.file, count: this.enqueued - this.written }, 'audit: records not written at shutdown');
  }
}
