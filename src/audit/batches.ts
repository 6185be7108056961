// Queued audit lines, chained as they are queued: each line gets its seq, prev and hash at once and its bytes
// go straight into the batch being filled, so no string or object of an event outlives the tick that wrote it.
// (Kept as strings until the batch was built, batchDelayMs later, they were still alive at each young-generation
// GC and copied by it: that copying was about a third of what the audit cost a statement, measured without sockets.)
//
//   const q = new BatchQueue(1024, seq, hash)   the chain goes on from seq/hash
//   q.push(pre, post, estimate)                  one line: pre + seq + post + prev + hash (chain.ts appendLine)
//   q.take()                                     the oldest batch (full ones first, then the one being filled)
import { appendLine, lineRoom } from './chain.js';

export interface Batch {
  buf: Buffer;
  /** Bytes of buf already written. */
  offset: number;
  count: number;
  /** seq and hash of the line before the batch: where the chain stands in the file before it. */
  afterSeq: number;
  afterHash: string;
  /** The queue-size estimate of its lines (what the writer's bound counts). */
  estimate: number;
  /** The allocation buf is the start of: given back (release) once written, for a later batch. */
  whole: Buffer;
}

const minCapacity = 16 * 1024;
const maxCapacity = 1024 * 1024;

export class BatchQueue {
  /** seq of the last line queued. */
  seq: number;
  /** Where the last line's hash is (64 hex bytes). */
  private lastBuf: Buffer;
  private lastAt = 0;
  private readonly ready: Batch[] = [];
  private open: Batch | null = null;
  private used = 0;
  /** Buffer size for the next batch: what the last one grew to (up to maxCapacity). */
  private capacity = minCapacity;
  /**
   * A written batch's buffer, for the next one: fresh memory costs a page fault per 4 KiB first touched. The
   * last line's hash may lie in it: a new batch reads it (afterHash, the first line's prev) before writing there.
   */
  private spare: Buffer | null = null;

  constructor(
    private readonly batchLines: number,
    seq: number,
    hash: string,
  ) {
    this.seq = seq;
    this.lastBuf = Buffer.from(hash, 'latin1');
  }

  /** Hash of the last line queued. */
  get hash(): string {
    return this.lastBuf.toString('latin1', this.lastAt, this.lastAt + 64);
  }

  /** Lines queued and not yet taken. */
  get lines(): number {
    let n = this.open?.count ?? 0;
    for (const b of this.ready) n += b.count;
    return n;
  }

  /** Full batches waiting (a writer takes them back to back rather than wait for more lines). */
  get full(): number {
    return this.ready.length;
  }

  push(pre: string, post: string, estimate: number): void {
    const room = lineRoom(pre, post);
    let b = this.open;
    if (!b) {
      const spare = this.spare;
      this.spare = null;
      const buf = spare && spare.length >= room ? spare : Buffer.allocUnsafe(Math.max(room, this.capacity));
      b = { buf, offset: 0, count: 0, afterSeq: this.seq, afterHash: this.hash, estimate: 0, whole: buf };
      this.open = b;
      this.used = 0;
    } else if (this.used + room > b.buf.length) {
      // A batch is one fs write of up to batchLines lines: it grows rather than ends early, and the next one
      // starts at the size this one needed.
      const bigger = Buffer.allocUnsafe(Math.max(2 * b.buf.length, this.used + room));
      b.buf.copy(bigger, 0, 0, this.used);
      if (this.lastBuf === b.buf) this.lastBuf = bigger;
      b.buf = bigger;
      b.whole = bigger;
      this.capacity = Math.min(maxCapacity, bigger.length);
    }
    // prev is read where the line before holds its hash (in this batch, the one before, or the start value).
    this.used = appendLine(b.buf, this.used, this.lastBuf, this.lastAt, pre, ++this.seq, post);
    this.lastBuf = b.buf;
    this.lastAt = this.used - 3 - 64;
    b.count++;
    b.estimate += estimate;
    if (b.count >= this.batchLines) this.close();
  }

  take(): Batch | null {
    if (this.ready.length === 0 && this.open) this.close();
    return this.ready.shift() ?? null;
  }

  /** A taken batch is written: its buffer may hold the next one. */
  release(b: Batch): void {
    if (b.whole.length >= this.capacity) this.spare = b.whole;
  }

  /** Every queued line's text, oldest first: for the log, when they cannot be written. */
  texts(): string[] {
    const out: string[] = [];
    const all = this.open ? [...this.ready, { ...this.open, buf: this.open.buf.subarray(0, this.used) }] : this.ready;
    for (const b of all) for (const line of b.buf.toString('utf8').split('\n')) if (line) out.push(line);
    return out;
  }

  private close(): void {
    const b = this.open!;
    this.open = null;
    this.ready.push({ ...b, buf: b.buf.subarray(0, this.used) });
  }
}
