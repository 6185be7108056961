// What every row rewriter offers (PostgreSQL DataRow, COPY rows, MySQL rows): mask a row straight into an
// output buffer in one pass (`maskInto`), or size the new message first and then write it (`prepare`/`emit`),
// and the copier of the unchanged runs between masked cells.
import type { NativeRowRun } from './native.js';
import type { Strategy } from './strategies.js';

/**
 * How a row masker treats a column in place: left as it is, written by its column rule's strategy, scanned
 * by the detectors where it lies, or (not in place) through the plan's maskCell.
 */
export const UNTOUCHED = 0;
export const STRATEGY = 1;
export const SCAN = 2;
export const MASK_CELL = 3;

/** Masks one row message: `prepare` returns the size of the message to send instead (-1: keep it), `emit` writes it. */
export interface RowMasker {
  prepare(buf: Buffer, start: number, end: number): number;
  emit(out: Buffer, pos: number): number;
  /**
   * Room beyond a row's own length to offer `maskInto`, which masks the row in one pass straight into out
   * at pos and returns the position after it, or -1 when the row did not fit (nothing counted: size it with
   * prepare/emit instead). Rows always fit when every masked column writes in place with a bounded growth
   * (column rules on text values); detector matches usually do. -1: the masker has no `maskInto`.
   */
  readonly slack: number;
  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number;
  /**
   * maskInto that may instead mask the row where it lies, when every value it masks keeps its length
   * (Strategy.overwrite): it then returns OVERWRITTEN, what it put in out is of no use, and the caller sends
   * the row's own (now masked) bytes on, uncopied. Maskers without it always write into out.
   */
  maskOver?(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number;
  /** Masks runs of whole rows outside JS (native.ts), when the addon is built and the plan is one it has. */
  readonly native?: NativeRowRun | null;
}

/** What RowMasker#maskOver returns for a row masked where it lies. */
export const OVERWRITTEN = -2;

/**
 * The values of one row to write over where they lie (see RowMasker#maskOver), gathered while the row is
 * checked and written once every one of them is known to keep its length.
 */
export class Overwrites {
  private n = 0;
  private starts = new Int32Array(16);
  private ends = new Int32Array(16);
  private shifts = new Int32Array(16);
  private readonly strategies: Strategy[] = [];

  get length(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
  }

  /** Drops the values added after the first n. */
  truncate(n: number): void {
    this.n = n;
  }

  /** The value buf[start, end), written over by `strategy`; in the output it lands `shift` bytes on. */
  add(start: number, end: number, strategy: Strategy, shift: number): void {
    if (this.n === this.starts.length) {
      this.starts = grown(this.starts);
      this.ends = grown(this.ends);
      this.shifts = grown(this.shifts);
    }
    this.starts[this.n] = start;
    this.ends[this.n] = end;
    this.shifts[this.n] = shift;
    this.strategies[this.n++] = strategy;
  }

  /** Writes every value over, in the buffer it was found in, or (`shifted`) in the output. */
  writeOver(buf: Buffer, shifted: boolean): void {
    for (let j = 0; j < this.n; j++) {
      const d = shifted ? this.shifts[j]! : 0;
      this.strategies[j]!.overwrite!(buf, this.starts[j]! + d, this.ends[j]! + d);
    }
  }
}

function grown(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** A row message through a RowMasker: the same view when nothing changed, else one new buffer. */
export function maskMessage(masker: RowMasker, buf: Buffer, start: number, end: number): Buffer {
  const size = masker.prepare(buf, start, end);
  if (size < 0) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(size);
  masker.emit(out, 0);
  return out;
}

/**
 * Copies the unchanged runs of rows (the cells between masked ones) into the output. Runs are short (a few
 * cells, 10-60 bytes): Buffer#copy costs ~50 ns a call whatever the length, a byte loop ~1.5 ns a byte, and
 * 4-byte DataView reads and writes a third of that. The views are kept while rows come from the same chunk
 * and go to the same output buffer (one copier per result: it lives as long as the result's masker).
 */
export class RunCopier {
  private src: Buffer | null = null;
  private srcView: DataView = EMPTY_VIEW;
  private out: Buffer | null = null;
  private outView: DataView = EMPTY_VIEW;

  /** A DataView over src, kept while rows come from it (what `copy` reads runs through, and scans may read words through). */
  viewOf(src: Buffer): DataView {
    if (src !== this.src) {
      this.src = src;
      this.srcView = new DataView(src.buffer, src.byteOffset, src.length);
    }
    return this.srcView;
  }

  copy(src: Buffer, from: number, to: number, out: Buffer, pos: number): number {
    // Nothing between two masked cells, or around a match that is the whole value: the common case.
    if (to <= from) return pos;
    if (to - from > 96) return pos + src.copy(out, pos, from, to);
    this.viewOf(src);
    if (out !== this.out) {
      this.out = out;
      this.outView = new DataView(out.buffer, out.byteOffset, out.length);
    }
    const sv = this.srcView;
    const ov = this.outView;
    let i = from;
    let p = pos;
    for (; i + 4 <= to; i += 4, p += 4) ov.setUint32(p, sv.getUint32(i));
    for (; i < to; i++) out[p++] = src[i]!;
    return p;
  }
}

const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
