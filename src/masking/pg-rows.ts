// PostgreSQL result messages through a MaskPlan (PostgreSQL documentation, "Message Formats", "COPY"):
// RowDescription (masked columns become text), DataRow in text and binary format, COPY TO STDOUT rows in
// text and CSV format, and the values ErrorResponse/NoticeResponse quote. Frames are (buf, start, end) with
// the type byte; a row that needs no change comes back as the same view, a changed one is built in one
// allocation whose size is computed first.
import { WireError } from '../wire/bytes.js';
import { dataRowColumns, decodeFields } from '../wire/postgres/decode.js';
import { encodeFields } from '../wire/postgres/encode.js';
import type { MaskPlan, CellResult } from './plan.js';
import { REDACTED, copyBytes, type Strategy, type StrategyKind, type StrategySpec } from './strategies.js';
import { NativeRowRun, type NativeColumn } from './native.js';
import type { MaskingRules, MaskIdentity, MaskColumn } from './rules.js';
import { JSONB, binaryToText, isTextArray, sameBytesAsText } from './pg-binary.js';
import type { MaskCounters } from './counters.js';
import { MASK_CELL, maskMessage, OVERWRITTEN, Overwrites, RunCopier, SCAN, STRATEGY, UNTOUCHED, type RowMasker } from './row-masker.js';

export const TEXT_OID = 25;

/** Whether column `i` is masked by a column rule (its type becomes text), not merely scanned by detectors. */
export function hasColumnRule(plan: MaskPlan, i: number): boolean {
  const step = plan.spec.columns[i];
  return step != null && 'rule' in step;
}

/** The strategy of column `i`'s column rule, if it has one. */
export function ruleStrategy(plan: MaskPlan, i: number): StrategyKind | undefined {
  const step = plan.spec.columns[i];
  return step != null && 'rule' in step ? step.strategy.kind : undefined;
}

/**
 * Per column, for the native masker, what a row masker does with it in place: the strategy of its column
 * rule (how[i] === STRATEGY), 'scan' (SCAN), or undefined (UNTOUCHED); null when a column takes anything else
 * (MASK_CELL: a binary value read as text first) or a STRATEGY column has no column rule to name it.
 */
export function columnSteps(plan: MaskPlan, how: Uint8Array): NativeColumn[] | null {
  const steps: NativeColumn[] = [];
  for (let i = 0; i < how.length; i++) {
    const step = plan.spec.columns[i];
    if (how[i] === UNTOUCHED) steps.push(undefined);
    else if (how[i] === SCAN) steps.push('scan');
    else if (how[i] === STRATEGY && step != null && 'rule' in step) steps.push(step.strategy);
    else return null;
  }
  return steps;
}

/** A column rule whose output does not depend on the value: no need to turn a binary value into text first. */
export function ignoresValue(plan: MaskPlan, i: number): boolean {
  const kind = ruleStrategy(plan, i);
  return kind === 'redact' || kind === 'fixed' || kind === 'null';
}

// ---- RowDescription ----

/**
 * RowDescription with each column-rule column's type made text: OID 25, typlen -1, typmod -1. The format
 * code stays: text's binary format is its UTF-8 bytes, so a client that asked for binary decodes the masked
 * value as text too. Columns only scanned by detectors keep their type: detectors replace a part of a text
 * value by text, which stays a valid value of a text-like type. Returns the same view when nothing changes.
 */
export function rewriteRowDescription(buf: Buffer, start: number, end: number, plan: MaskPlan): Buffer {
  if (end - start < 7 || buf[start] !== 0x54) throw new WireError('RowDescription: expected a T message');
  const n = buf.readInt16BE(start + 5);
  let out: Buffer | null = null;
  let pos = start + 7;
  for (let i = 0; i < n; i++) {
    const nul = buf.indexOf(0, pos);
    if (nul < 0 || nul + 19 > end) throw new WireError('RowDescription: truncated');
    pos = nul + 1;
    if (hasColumnRule(plan, i)) {
      if (out === null) {
        out = Buffer.allocUnsafe(end - start);
        buf.copy(out, 0, start, end);
      }
      const at = pos - start;
      out.writeUInt32BE(TEXT_OID, at + 6);
      out.writeInt16BE(-1, at + 10);
      out.writeInt32BE(-1, at + 12);
    }
    pos += 18;
  }
  if (pos !== end) throw new WireError('RowDescription: trailing bytes');
  return out ?? buf.subarray(start, end);
}

// ---- DataRow ----

/** Each column's type OID and whether its values come in binary format: fixed for a result's life. */
export interface PgRowFormats {
  types: Uint32Array;
  binary: Uint8Array;
}

/**
 * From the RowDescription's columns. A RowDescription answering Describe of a statement has format 0 for
 * every column; the real formats are the Bind's result-format codes, which the caller passes then.
 */
export function pgRowFormats(columns: readonly { type: number; format: number }[]): PgRowFormats {
  const types = new Uint32Array(columns.length);
  const binary = new Uint8Array(columns.length);
  columns.forEach((c, i) => {
    types[i] = c.type;
    binary[i] = c.format === 1 ? 1 : 0;
  });
  return { types, binary };
}

/**
 * Masks DataRow frames of one result. Holds scratch arrays sized for the result, so a row costs no
 * allocation unless it changes. `prepare` + `emit` let a caller (the worker) write many rows into one buffer;
 * `mask` is both for one row.
 */
export class PgRowMasker implements RowMasker {
  private readonly runs = new RunCopier();
  private readonly offsets: Int32Array;
  private readonly lengths: Int32Array;
  /** What `emit` does with each cell of the prepared row (KEEP, WRITE, BUFFER, NULL). */
  private readonly actions: Uint8Array;
  /** WRITE cells: the size their strategy announced. */
  private readonly sizes: Int32Array;
  /** BUFFER cells: the masked bytes. */
  private readonly results: (Buffer | undefined)[];
  /** Column rules that write in place (text values, and binary values whose bytes are their text). */
  private readonly inPlace: (Strategy | undefined)[];
  /** How maskInto treats each column (UNTOUCHED, STRATEGY, SCAN, MASK_CELL). */
  private readonly how: Uint8Array;
  /** maskInto: per column, -1 untouched, else the detectors that matched (0 for a column rule). */
  private readonly hits: Int32Array;
  readonly slack: number;
  /** Every masked column is written in place by its column rule: maskInto takes maskColumnsInto. */
  private readonly columnRulesOnly: boolean;
  private readonly columns: number;
  /** maskAnyInto: the values that keep their length, written over once the row's bytes are where they go. */
  private readonly overwrites = new Overwrites();
  private n = 0;
  private size = 0;
  private start = 0;
  private end = 0;
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    readonly plan: MaskPlan,
    readonly formats: PgRowFormats,
    readonly counters: MaskCounters,
  ) {
    this.columns = formats.types.length;
    this.offsets = new Int32Array(this.columns);
    this.lengths = new Int32Array(this.columns);
    this.actions = new Uint8Array(this.columns);
    this.sizes = new Int32Array(this.columns);
    this.results = new Array<Buffer | undefined>(this.columns).fill(undefined);
    this.inPlace = Array.from({ length: this.columns }, (_, i) =>
      formats.binary[i] && !sameBytesAsText(formats.types[i]!) ? undefined : plan.strategies[i],
    );
    // How maskInto treats each column: untouched, written by its strategy, scanned where it lies (values
    // whose bytes are their text), or through maskCell (binary values read as text first).
    this.how = Uint8Array.from({ length: this.columns }, (_, i) => {
      if (!plan.masks(i)) return UNTOUCHED;
      if (this.inPlace[i] !== undefined) return STRATEGY;
      const textBytes = !formats.binary[i] || sameBytesAsText(formats.types[i]!);
      return plan.spans !== null && !hasColumnRule(plan, i) && textBytes ? SCAN : MASK_CELL;
    });
    this.hits = new Int32Array(this.columns);
    let growth = 0;
    for (let i = 0; i < this.columns; i++) if (this.how[i] === STRATEGY) growth += this.inPlace[i]!.maxGrowth;
    // Detector matches and binary values read as text have no bound: offer room that nearly always does.
    const bounded = this.how.every((h) => h === UNTOUCHED || h === STRATEGY);
    this.slack = bounded ? growth : growth + 256;
    this.columnRulesOnly = bounded && this.columns <= 31 && counters.countsColumnsAsBits;
  }

  /** The native masker of runs of these rows (RowMasker#native), made when first asked for: only the stage asks. */
  get native(): NativeRowRun | null {
    if (this.nativeRun === undefined) {
      this.nativeRun = this.columns <= 31 ? NativeRowRun.for('pg', columnSteps(this.plan, this.how), this.plan.spec.detectors, this.counters) : null;
    }
    return this.nativeRun;
  }

  private nativeRun: NativeRowRun | null | undefined;

  /** See RowMasker#maskOver. */
  maskOver(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.columnRulesOnly ? this.maskColumnsInto(buf, start, end, out, pos, true) : this.maskAnyInto(buf, start, end, out, pos, true);
  }

  private countHits(n: number): void {
    const { hits, counters } = this;
    if (this.columnRulesOnly) {
      let masked = 0;
      for (let i = 0; i < n; i++) if (hits[i]! >= 0) masked |= 1 << i;
      counters.endRowWith(masked);
      return;
    }
    counters.endRowWithHits(hits, n);
  }

  /**
   * The DataRow buf[start, end) masked in one pass into out at pos; returns the position after the new
   * frame, or -1 when it did not fit in out (nothing counted: use prepare/emit for that row).
   */
  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.columnRulesOnly ? this.maskColumnsInto(buf, start, end, out, pos) : this.maskAnyInto(buf, start, end, out, pos);
  }

  /**
   * maskInto for plans of column rules on values whose bytes are their text (the common case): the same
   * pass without the detector and binary branches, small enough for the JIT to keep tight, and counted as
   * one bit set per row.
   */
  private maskColumnsInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number, overwrite = false): number {
    if (end - start < 7 || buf[start] !== 0x44) throw new WireError('DataRow: expected a D message');
    const n = (buf[start + 5]! << 8) | buf[start + 6]!;
    if (n !== this.columns) throw new WireError(`DataRow: ${n} columns, RowDescription announced ${this.columns}`);
    const { inPlace, how, runs, overwrites } = this;
    const limit = out.length;
    out[pos] = 0x44;
    let p = pos + 5;
    let run = start + 5;
    let at = start + 7;
    let masked = 0;
    overwrites.clear();
    for (let i = 0; i < n; i++) {
      const len = cellLength(buf, at, end);
      const s = at + 4;
      at = len < 0 ? s : s + len;
      if (at > end) throw new WireError('DataRow: truncated');
      if (len < 0 || how[i] === UNTOUCHED) continue;
      const st = inPlace[i]!;
      masked |= 1 << i;
      // Values that keep their length stay in the run, written over once it is copied (see maskAnyInto).
      if (st.keepsLength !== undefined && st.keepsLength(buf, s, at)) {
        overwrites.add(s, at, st, p - run);
        continue;
      }
      if (p + (s - run) + len + st.maxGrowth + (end - at) > limit) return -1;
      p = writeStrategyCell(st, buf, s, at, out, runs.copy(buf, run, s - 4, out, p));
      run = at;
    }
    if (at !== end) throw new WireError('DataRow: trailing bytes');
    if (overwrite && run === start + 5) {
      overwrites.writeOver(buf, false);
      this.counters.endRowWith(masked);
      return OVERWRITTEN;
    }
    if (p + (end - run) > limit) return -1;
    p = runs.copy(buf, run, end, out, p);
    putInt32(out, pos + 1, p - pos - 1);
    overwrites.writeOver(out, true);
    this.counters.endRowWith(masked);
    return p;
  }

  /**
   * maskInto's pass for any plan. Values that keep their length once masked (Strategy.overwrite) do not end
   * the run of bytes copied as they are: they are written over in out once the runs are copied. With
   * `overwrite`, a row all of whose masked values keep their length is masked where it lies instead:
   * OVERWRITTEN (see RowMasker#maskOver).
   */
  private maskAnyInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number, overwrite = false): number {
    if (end - start < 7 || buf[start] !== 0x44) throw new WireError('DataRow: expected a D message');
    const n = (buf[start + 5]! << 8) | buf[start + 6]!;
    if (n !== this.columns) throw new WireError(`DataRow: ${n} columns, RowDescription announced ${this.columns}`);
    const { inPlace, how, hits, plan, overwrites } = this;
    const { types, binary } = this.formats;
    const spans = plan.spans;
    const limit = out.length;
    out[pos] = 0x44;
    // The length word is written last; the column count and unchanged cells are copied in runs.
    let p = pos + 5;
    let run = start + 5;
    let at = start + 7;
    overwrites.clear();
    for (let i = 0; i < n; i++) {
      const len = cellLength(buf, at, end);
      const s = at + 4;
      at = len < 0 ? s : s + len;
      if (at > end) throw new WireError('DataRow: truncated');
      hits[i] = -1;
      const h = how[i];
      if (len < 0 || h === UNTOUCHED) continue;
      let st: Strategy | undefined;
      // Whether st keeps the value's length, so that it is written over where it lies.
      let keeps = false;
      if (h === STRATEGY) {
        st = inPlace[i]!;
        hits[i] = 0;
        keeps = st.keepsLength !== undefined && st.keepsLength(buf, s, at);
      } else if (h === SCAN) {
        // A value that is one whole e-mail, card or SSN, as the column's last one was, is masked like a
        // column rule's value (SpanMasker#wholeKind): the spans' bookkeeping would find the one match there is.
        const kind = spans!.wholeKind(buf, s, at, i);
        if (kind >= 0) {
          st = spans!.strategyOf(kind);
          hits[i] = 1 << kind;
          keeps = spans!.wholeAscii && st.keepsLength !== undefined;
        }
      }
      if (st !== undefined) {
        // Bytes of the current run land in out `p - run` bytes on from where they are in buf.
        if (keeps) {
          overwrites.add(s, at, st, p - run);
          continue;
        }
        if (p + (s - run) + len + st.maxGrowth + (end - at) > limit) return -1;
        p = writeStrategyCell(st, buf, s, at, out, this.runs.copy(buf, run, s - 4, out, p));
      } else if (h === SCAN) {
        if (spans!.scanUnconfirmed(buf, s, at, i) === 0) continue;
        const listed = overwrites.length;
        if (spans!.addOverwrites(buf, overwrites, p - run)) {
          hits[i] = spans!.found;
          continue;
        }
        overwrites.truncate(listed);
        // Written first and its length put before it after: the growth bound saves sizing every match.
        const growth = spans!.maxGrowth();
        if (p + (s - run) + (growth < 0 ? 0 : at - s + growth) + (end - at) > limit) return -1;
        p = this.runs.copy(buf, run, s - 4, out, p);
        if (growth < 0) {
          putInt32(out, p, -1);
          p += 4;
        } else {
          const q = spans!.write(buf, s, at, out, p + 4);
          putInt32(out, p, q - p - 4);
          p = q;
        }
        hits[i] = spans!.found;
      } else {
        const r = binary[i] ? this.maskBinary(i, types[i]!, buf, s, at) : plan.maskCell(i, buf, s, at);
        if (r === undefined) continue;
        if (p + (s - run) + (r === null ? 0 : r.length) + (end - at) > limit) return -1;
        p = this.runs.copy(buf, run, s - 4, out, p);
        if (r === null) putInt32(out, p, -1);
        else {
          putInt32(out, p, r.length);
          copyBytes(r, 0, r.length, out, p + 4);
          p += r.length;
        }
        p += 4;
        hits[i] = plan.lastDetected;
      }
      run = at;
    }
    if (at !== end) throw new WireError('DataRow: trailing bytes');
    if (overwrite && run === start + 5) {
      overwrites.writeOver(buf, false);
      this.countHits(n);
      return OVERWRITTEN;
    }
    if (p + (end - run) > limit) return -1;
    p = this.runs.copy(buf, run, end, out, p);
    putInt32(out, pos + 1, p - pos - 1);
    overwrites.writeOver(out, true);
    this.countHits(n);
    return p;
  }

  /**
   * Masks the cells of the DataRow buf[start, end) and returns the size of the frame to send instead, or -1
   * when the row stays as it is. Call `emit` next for a changed row.
   */
  prepare(buf: Buffer, start: number, end: number): number {
    const n = dataRowColumns(buf, start, end, this.offsets, this.lengths);
    if (n !== this.columns) throw new WireError(`DataRow: ${n} columns, RowDescription announced ${this.columns}`);
    const { plan, offsets, lengths, actions, sizes, results, inPlace, counters } = this;
    const { types, binary } = this.formats;
    let size = end - start;
    let changed = false;
    for (let i = 0; i < n; i++) {
      const len = lengths[i]!;
      actions[i] = KEEP;
      if (len < 0 || !plan.masks(i)) continue;
      const s = offsets[i]!;
      const st = inPlace[i];
      if (st !== undefined) {
        const m = st.size(buf, s, s + len);
        changed = true;
        counters.cell(i, 0);
        if (m < 0) {
          actions[i] = NULL;
          size -= len;
        } else {
          actions[i] = WRITE;
          sizes[i] = m;
          size += m - len;
        }
        continue;
      }
      const r = binary[i] ? this.maskBinary(i, types[i]!, buf, s, s + len) : plan.maskCell(i, buf, s, s + len);
      if (r === undefined) continue;
      changed = true;
      counters.cell(i, plan.lastDetected);
      if (r === null) {
        actions[i] = NULL;
        size -= len;
      } else {
        actions[i] = BUFFER;
        results[i] = r;
        size += r.length - len;
      }
    }
    counters.endRow();
    this.n = n;
    if (!changed) return -1;
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.size = size;
    return size;
  }

  /** Writes the frame `prepare` sized into out at pos; returns the position after it. */
  emit(out: Buffer, pos: number): number {
    const { buf, offsets, lengths, actions, sizes, results, inPlace } = this;
    out[pos] = 0x44;
    out.writeInt32BE(this.size - 1, pos + 1);
    out.writeInt16BE(this.n, pos + 5);
    let p = pos + 7;
    // Unchanged columns are copied in runs: length words and values together.
    let run = this.start + 7;
    for (let i = 0; i < this.n; i++) {
      const action = actions[i];
      if (action === KEEP) continue;
      const s = offsets[i]!;
      p = this.runs.copy(buf, run, s - 4, out, p);
      if (action === NULL) {
        out.writeInt32BE(-1, p);
        p += 4;
      } else if (action === WRITE) {
        out.writeInt32BE(sizes[i]!, p);
        p = inPlace[i]!.write(buf, s, s + lengths[i]!, out, p + 4);
      } else {
        const r = results[i]!;
        out.writeInt32BE(r.length, p);
        p = copyBytes(r, 0, r.length, out, p + 4);
        results[i] = undefined; // drop the reference
      }
      run = s + lengths[i]!;
    }
    p = this.runs.copy(buf, run, this.end, out, p);
    this.buf = EMPTY;
    return p;
  }

  /** One DataRow: the same view when nothing changed, else a new frame. */
  mask(buf: Buffer, start: number, end: number): Buffer {
    return maskMessage(this, buf, start, end);
  }

  private maskBinary(i: number, type: number, buf: Buffer, s: number, e: number): CellResult {
    const plan = this.plan;
    if (sameBytesAsText(type)) return plan.maskCell(i, buf, s, e);
    if (type === JSONB) return withVersionByte(plan.maskCell(i, buf, s + 1, e), buf[s]!);
    if (!hasColumnRule(plan, i)) {
      // A scanned (text-like) column keeps its type, so its binary encoding must stay valid.
      if (isTextArray(type)) return maskTextArray(plan, i, buf, s, e);
      return plan.maskCell(i, buf, s, e);
    }
    if (ignoresValue(plan, i)) return plan.maskCell(i, buf, s, s);
    const text = binaryToText(type, buf, s, e);
    // Fail closed: a binary value sqlwarden cannot read is redacted whole, never passed on.
    if (text === undefined) return ruleStrategy(plan, i) === 'null' ? null : REDACTED;
    return plan.maskCell(i, text, 0, text.length);
  }
}

const EMPTY = Buffer.alloc(0);

/** The length word of the DataRow cell at buf[at] (-1: NULL). */
function cellLength(buf: Buffer, at: number, end: number): number {
  if (at + 4 > end) throw new WireError('DataRow: truncated');
  return (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
}

/** The cell of the value buf[s, e) through its column rule (length word, then the bytes), at out[p]; returns its end. */
function writeStrategyCell(st: Strategy, buf: Buffer, s: number, e: number, out: Buffer, p: number): number {
  if (st.nulls) {
    putInt32(out, p, -1);
    return p + 4;
  }
  const q = st.write(buf, s, e, out, p + 4);
  putInt32(out, p, q - p - 4);
  return q;
}

/** out.writeInt32BE without its argument checks: the hot path has checked the room already. */
function putInt32(out: Buffer, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
}

/** How PgRowMasker#maskInto treats a column. */
/** PgRowMasker cell actions. */
const KEEP = 0;
const WRITE = 1;
const BUFFER = 2;
const NULL = 3;

/**
 * DataRow buf[start, end) with the plan's cells masked: the same view when nothing changed, else a new
 * frame with the lengths recomputed; NULL stays NULL. Values of binary-format columns are read as text
 * first (see `binaryToText`). For many rows, keep one PgRowMasker instead.
 */
export function maskDataRow(buf: Buffer, start: number, end: number, plan: MaskPlan, formats: PgRowFormats, counters: MaskCounters): Buffer {
  return new PgRowMasker(plan, formats, counters).mask(buf, start, end);
}

// ---- binary arrays of text ----

function withVersionByte(r: CellResult, version: number): CellResult {
  if (r === undefined || r === null) return r;
  const out = Buffer.allocUnsafe(r.length + 1);
  out[0] = version;
  copyBytes(r, 0, r.length, out, 1);
  return out;
}

/**
 * A binary array of text-like elements (array_send: ndim, has-nulls flag, element OID, ndim x (size, lower
 * bound), then each element as int32 length and bytes) with each element scanned; undefined when none
 * changed. A NULL result for an element (a `null` strategy) makes that element NULL.
 */
function maskTextArray(plan: MaskPlan, i: number, buf: Buffer, s: number, e: number): CellResult {
  if (e - s < 12) throw new WireError('DataRow: truncated binary array');
  const ndim = buf.readInt32BE(s);
  const elemType = buf.readUInt32BE(s + 8);
  let pos = s + 12 + 8 * ndim;
  if (ndim < 0 || pos > e) throw new WireError('DataRow: malformed binary array');
  const jsonb = elemType === JSONB;
  const parts: CellResult[] = [];
  let detected = 0;
  let changed = false;
  let size = pos - s;
  let nulls = false;
  while (pos < e) {
    if (pos + 4 > e) throw new WireError('DataRow: truncated binary array');
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len < 0) {
      parts.push(undefined);
      size += 4;
      nulls = true;
      continue;
    }
    if (pos + len > e) throw new WireError('DataRow: truncated binary array');
    const r = jsonb ? withVersionByte(plan.maskCell(i, buf, pos + 1, pos + len), buf[pos]!) : plan.maskCell(i, buf, pos, pos + len);
    detected |= plan.lastDetected;
    parts.push(r);
    if (r !== undefined) changed = true;
    if (r === null) nulls = true;
    size += 4 + (r === undefined ? len : r === null ? 0 : r.length);
    pos += len;
  }
  plan.lastDetected = detected;
  if (!changed) return undefined;
  const out = Buffer.allocUnsafe(size);
  buf.copy(out, 0, s, s + 12 + 8 * ndim);
  if (nulls) out.writeInt32BE(1, 4);
  let o = 12 + 8 * ndim;
  pos = s + 12 + 8 * ndim;
  for (const r of parts) {
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len < 0 || r === null) {
      out.writeInt32BE(-1, o);
      o += 4;
    } else if (r === undefined) {
      out.writeInt32BE(len, o);
      o = copyBytes(buf, pos, pos + len, out, o + 4);
    } else {
      out.writeInt32BE(r.length, o);
      o = copyBytes(r, 0, r.length, out, o + 4);
    }
    if (len > 0) pos += len;
  }
  return out;
}

// ---- ErrorResponse / NoticeResponse ----

/** Fields whose text is the server's own (codes, positions, names): not scanned. */
const structuralFields = new Set(['S', 'V', 'C', 'P', 'p', 'F', 'L', 'R', 's', 't', 'c', 'd', 'n']);

/** Detail shapes that quote key values (ri_triggers.c, nbtinsert.c, execIndexing.c, "Key (cols)=(vals) ..."). */
const keyDetail = /[Kk]ey \(((?:[^()]|\([^()]*\))*)\)=\((.*?)\)(?= already exists\.| is not present in table | is still referenced from table | conflicts with |\.$|$)/gs;
const failingRow = /^(Failing row contains \()(.*)(\)\.)$/s;

/**
 * Masks what ErrorResponse/NoticeResponse fields quote: key values in `Key (col, ...)=(val, ...)` details by
 * the rule of their column (table from the `t`/`s` fields), the values of `Failing row contains (...)`
 * (columns unknown: redacted whole when any column rule exists, fail closed), then the detectors over the
 * text of every message field. Returns the masked fields and how many values were masked, or null when
 * nothing changed.
 */
export function maskErrorFields(fields: Map<string, string>, rules: MaskingRules, who: MaskIdentity): { fields: Map<string, string>; masked: number } | null {
  if (rules.isExempt(who)) return null;
  const table = fields.get('t');
  const schema = fields.get('s');
  // Column 0 scans free text (no column is named ""); the key columns follow.
  const keyColumns: string[] = [];
  const detail = fields.get('D');
  if (detail !== undefined) {
    for (const m of detail.matchAll(keyDetail)) keyColumns.push(...splitList(m[1]!));
  }
  const columns: MaskColumn[] = [{ name: '', textLike: true }, ...keyColumns.map((name) => ({ name: unquoteIdent(name), textLike: true, table, schema }))];
  const plan = rules.planFor(columns, who);
  const anyColumnRule = rules.counts.columns > 0;
  if (plan.isEmpty && !(anyColumnRule && detail !== undefined && detail.includes('Failing row contains ('))) return null;
  let masked = 0;
  const scan = (text: string): string => {
    if (!plan.masks(0) || text.length === 0) return text;
    const b = Buffer.from(text, 'utf8');
    const r = plan.maskCell(0, b, 0, b.length);
    if (r === undefined) return text;
    masked++;
    return r === null ? '****' : r.toString('utf8');
  };
  const maskValue = (column: number, value: string): string => {
    if (!hasColumnRule(plan, column)) return scan(value);
    const b = Buffer.from(value, 'utf8');
    const r = plan.maskCell(column, b, 0, b.length);
    masked++;
    return r == null ? 'NULL' : r.toString('utf8');
  };
  const out = new Map<string, string>();
  for (const [code, value] of fields) {
    if (structuralFields.has(code)) {
      out.set(code, value);
      continue;
    }
    if (code !== 'D') {
      out.set(code, scan(value));
      continue;
    }
    let column = 1;
    let text = '';
    let last = 0;
    for (const m of value.matchAll(keyDetail)) {
      const names = splitList(m[1]!);
      const values = splitList(m[2]!);
      const valuesAt = m.index! + m[0].length - 1 - m[2]!.length;
      text += scan(value.slice(last, valuesAt));
      if (values.length === names.length) text += values.map((v, k) => maskValue(column + k, v)).join(', ');
      else if (names.some((_, k) => hasColumnRule(plan, column + k))) {
        text += '****'; // values that contain ", " cannot be told apart: all of them are hidden
        masked++;
      } else text += scan(m[2]!);
      column += names.length;
      last = valuesAt + m[2]!.length;
    }
    let rest = value.slice(last);
    const failing = failingRow.exec(rest);
    if (failing && anyColumnRule) {
      rest = `${scan(failing[1]!)}****${failing[3]}`;
      masked++;
    } else rest = scan(rest);
    out.set(code, text + rest);
  }
  return masked > 0 ? { fields: out, masked } : null;
}

/** "a, b" as PostgreSQL joins key columns and values (", "); parenthesized expressions stay whole. */
function splitList(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0 && s[i + 1] === ' ') {
      out.push(s.slice(from, i));
      from = i + 2;
      i++;
    }
  }
  out.push(s.slice(from));
  return out;
}

/** quote_identifier undone: "Email" -> Email. */
function unquoteIdent(name: string): string {
  return name.length >= 2 && name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name;
}

/**
 * An ErrorResponse or NoticeResponse frame with `maskErrorFields` applied: the same view when nothing was
 * masked, else the re-encoded message (field order kept).
 */
export function maskErrorResponse(buf: Buffer, start: number, end: number, rules: MaskingRules, who: MaskIdentity): Buffer {
  const r = maskErrorFields(decodeFields(buf, start, end), rules, who);
  return r === null ? buf.subarray(start, end) : encodeFields(buf[start]!, r.fields);
}
