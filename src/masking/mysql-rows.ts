// MySQL/MariaDB result packets through a MaskPlan (MySQL "Client/Server Protocol": Column Definition,
// Text Resultset Row, Binary Protocol Resultset Row). A masked column's definition becomes a string, so
// every client decodes the masked value as text; its values are re-encoded as length-encoded strings in
// both row formats. Payloads are (buf, start, end) without the 4-byte packet header; a row that needs no
// change comes back as the same view, a changed one is built in one allocation whose size is computed first.
import { WireError } from '../wire/bytes.js';
import { binaryRowNullBitmapLength, binaryRowValues, decodeErr, textRowValues } from '../wire/mysql/decode.js';
import { encodeErr } from '../wire/mysql/encode.js';
import { ColumnFlag, ColumnType, utf8mb4GeneralCi } from '../wire/mysql/packets.js';
import { lenencSize, readLenenc } from '../wire/mysql/reader.js';
import type { CellResult, MaskPlan } from './plan.js';
import { copyBytes, type Strategy } from './strategies.js';
import { columnSteps, hasColumnRule, ruleStrategy } from './pg-rows.js';
import { NativeRowRun } from './native.js';
import { shortestExponential } from './pg-binary.js';
import type { MaskCounters } from './counters.js';
import type { MaskingRules, MaskIdentity } from './rules.js';
import { MASK_CELL, maskMessage, OVERWRITTEN, Overwrites, RunCopier, SCAN, STRATEGY, UNTOUCHED, type RowMasker } from './row-masker.js';

/**
 * The character set a masked column is described with: utf8mb4_general_ci (45), known to every MySQL since
 * 5.5 and every MariaDB. 255 (utf8mb4_0900_ai_ci) is MySQL 8 only.
 */
export const maskedCharset = utf8mb4GeneralCi;

/** Flags a masked column keeps: what it says about keys. BINARY, UNSIGNED, BLOB, NUM and the rest go. */
const keptFlags = ColumnFlag.NotNull | ColumnFlag.PrimaryKey | ColumnFlag.UniqueKey | ColumnFlag.MultipleKey | 0x4000; /* PART_KEY */

/** Characters a masked value may take at least (a hash is up to 64 hex characters). */
const minMaskedChars = 64;

/** Bytes of an int<lenenc> holding n. */
export function lenencLength(n: number): number {
  return n < 0xfb ? 1 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 9;
}

/** The value buf[s, e) through its column rule, length-encoded, at out[p]; returns its end. */
function writeStrategyValue(st: Strategy, buf: Buffer, s: number, e: number, out: Buffer, p: number): number {
  if (e - s + st.maxGrowth < 0xfb) {
    // The new length fits one byte: write the value, then its length before it.
    const q = st.write(buf, s, e, out, p + 1);
    out[p] = q - p - 1;
    return q;
  }
  return st.write(buf, s, e, out, writeLenenc(out, p, st.size(buf, s, e)));
}

/** Writes n as an int<lenenc> at pos; returns the position after it. */
export function writeLenenc(out: Buffer, pos: number, n: number): number {
  if (n < 0xfb) {
    out[pos] = n;
    return pos + 1;
  }
  if (n < 0x10000) {
    out[pos] = 0xfc;
    out.writeUInt16LE(n, pos + 1);
    return pos + 3;
  }
  if (n < 0x1000000) {
    out[pos] = 0xfd;
    out.writeUIntLE(n, pos + 1, 3);
    return pos + 4;
  }
  out[pos] = 0xfe;
  out.writeUInt32LE(n >>> 0, pos + 1);
  out.writeUInt32LE(Math.floor(n / 2 ** 32), pos + 5);
  return pos + 9;
}

/** Position after the int<lenenc>-prefixed string at `at`. */
function skipLenencString(buf: Buffer, at: number, end: number): number {
  const n = readLenenc(buf, at, end);
  if (n < 0) throw new WireError('column definition: truncated');
  const next = at + lenencSize(buf[at]!) + n;
  if (next > end) throw new WireError('column definition: truncated');
  return next;
}

/**
 * Column definition payload buf[start, end) of column `i`, rewritten when a column rule masks it: type
 * VAR_STRING (0xfd), character set utf8mb4 (`maskedCharset`), a length that fits any masked value (4 bytes
 * per character, at least 64 characters or the original length), decimals 0, only the key flags kept (and
 * NOT_NULL dropped when the strategy is `null`). MariaDB extended metadata (json, uuid, ...) is emptied: the
 * value is no longer of that type. Columns only scanned by detectors keep their definition (same view).
 */
export function rewriteColumnDefinition(buf: Buffer, start: number, end: number, plan: MaskPlan, i: number, extendedMetadata = false): Buffer {
  if (!hasColumnRule(plan, i)) return buf.subarray(start, end);
  let at = start;
  for (let k = 0; k < 6; k++) at = skipLenencString(buf, at, end); // catalog, schema, table, org_table, name, org_name
  const namesEnd = at;
  if (extendedMetadata) at = skipLenencString(buf, at, end);
  const fixedLength = readLenenc(buf, at, end);
  if (fixedLength < 10) throw new WireError(`column definition: fixed-length fields of ${fixedLength} bytes, expected 12`);
  at += lenencSize(buf[at]!);
  if (at + fixedLength > end) throw new WireError('column definition: truncated');
  const tailStart = at + fixedLength;
  const out = Buffer.allocUnsafe(namesEnd - start + (extendedMetadata ? 1 : 0) + 1 + 12 + (end - tailStart));
  let p = buf.copy(out, 0, start, namesEnd);
  if (extendedMetadata) out[p++] = 0; // no extended type: a plain string
  out[p++] = 0x0c;
  const step = plan.spec.columns[i] as { strategy: { kind: string; value?: string } };
  const fixedChars = step.strategy.kind === 'fixed' ? Buffer.byteLength(step.strategy.value ?? '') : 0;
  const length = Math.min(0xffffffff, Math.max(buf.readUInt32LE(at + 2), fixedChars, minMaskedChars) * 4);
  let flags = buf.readUInt16LE(at + 7) & keptFlags;
  if (ruleStrategy(plan, i) === 'null') flags &= ~ColumnFlag.NotNull;
  out.writeUInt16LE(maskedCharset, p);
  out.writeUInt32LE(length, p + 2);
  out[p + 6] = ColumnType.VarString;
  out.writeUInt16LE(flags, p + 7);
  out[p + 9] = 0; // decimals
  out.writeUInt16LE(0, p + 10);
  p += 12;
  buf.copy(out, p, tailStart, end);
  return out;
}

/** Each column's type, flags and decimals (from its definition): what binary rows need. */
export interface MysqlRowColumns {
  types: Uint8Array;
  flags: Uint16Array;
  decimals: Uint8Array;
}

export function mysqlRowColumns(defs: readonly { type: number; flags?: number; decimals?: number }[]): MysqlRowColumns {
  const c: MysqlRowColumns = { types: new Uint8Array(defs.length), flags: new Uint16Array(defs.length), decimals: new Uint8Array(defs.length) };
  defs.forEach((d, i) => {
    c.types[i] = d.type;
    c.flags[i] = d.flags ?? 0;
    c.decimals[i] = d.decimals ?? 0;
  });
  return c;
}

/**
 * Masks the rows of one result, text (Protocol::ResultsetRow) or binary (Protocol::BinaryResultsetRow).
 * Scratch arrays are sized for the result, so a row costs no allocation unless it changes. `prepare` +
 * `emit` let the worker write many rows into one buffer; `mask` is both for one row.
 */
export class MysqlRowMasker implements RowMasker {
  private readonly runs = new RunCopier();
  /** maskAnyInto: the values that keep their length, written over once the row's bytes are where they go. */
  private readonly overwrites = new Overwrites();
  private readonly n: number;
  /** Start and end of each value (-1 for NULL), as textRowValues/binaryRowValues give them. */
  private readonly ranges: Int32Array;
  /** Where each column's bytes begin, length prefix included. */
  private readonly cellStarts: Int32Array;
  private readonly results: CellResult[];
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  private newNulls = false;

  constructor(
    readonly plan: MaskPlan,
    readonly columns: MysqlRowColumns,
    readonly binary: boolean,
    readonly counters: MaskCounters,
  ) {
    this.n = columns.types.length;
    this.ranges = new Int32Array(2 * this.n);
    this.cellStarts = new Int32Array(this.n);
    this.results = new Array<CellResult>(this.n).fill(undefined);
    // In place: column rules on values that are strings in the row already (every text-row value; binary
    // rows' length-encoded types), and detector matches in such values. A masked value's length prefix may
    // grow by up to 8 bytes.
    this.inPlace = Array.from({ length: this.n }, (_, i) => (!binary || isLengthEncoded(columns.types[i]!) ? plan.strategies[i] : undefined));
    this.how = Uint8Array.from({ length: this.n }, (_, i) => {
      if (!plan.masks(i)) return UNTOUCHED;
      if (this.inPlace[i] !== undefined) return STRATEGY;
      const stringValue = !binary || isLengthEncoded(columns.types[i]!);
      return plan.spans !== null && !hasColumnRule(plan, i) && stringValue ? SCAN : MASK_CELL;
    });
    this.hits = new Int32Array(this.n);
    let growth = 0;
    for (let i = 0; i < this.n; i++) if (this.how[i] === STRATEGY) growth += this.inPlace[i]!.maxGrowth + 8;
    // Detector matches have no bound: offer room that nearly always does (maskInto checks, and says -1).
    this.scans = this.how.includes(SCAN);
    this.slack = this.how.includes(MASK_CELL) ? -1 : this.scans ? growth + 256 : growth;
    this.countAsBits = !this.scans && this.n <= 31 && counters.countsColumnsAsBits;
    this.textColumnRulesOnly = !binary && this.countAsBits && this.slack >= 0;
    this.rowsMayKeep = this.inPlace.every((st, i) => this.how[i] !== STRATEGY || st?.keepsLength !== undefined);
  }

  /**
   * The native masker of runs of these rows (RowMasker#native), made when first asked for (only the stage asks):
   * for rows whose every masked value is a string where it lies, written by its column rule or scanned.
   */
  get native(): NativeRowRun | null {
    if (this.nativeRun === undefined) {
      const format = this.binary ? 'mysql-binary' : 'mysql';
      this.nativeRun = this.n <= 31 ? NativeRowRun.for(format, columnSteps(this.plan, this.how), this.plan.spec.detectors, this.counters, this.columns.types) : null;
    }
    return this.nativeRun;
  }

  private nativeRun: NativeRowRun | null | undefined;

  /** Text rows, every masked column written in place by its column rule: maskInto takes maskTextColumnsInto. */
  private readonly textColumnRulesOnly: boolean;

  /**
   * Every column rule's strategy may keep a value's length (`partial`), so a row may be masked where it lies.
   * A plan with one that never does (`email`, `hash`) rewrites its rows, and maskTextColumnsInto does not try.
   */
  private readonly rowsMayKeep: boolean;

  /** Column rules only: a row's masked cells are counted as one bit set (MaskCounters.endRowWith). */
  private readonly countAsBits: boolean;

  /** Some column is scanned by detectors: maskInto checks the room it writes into. */
  private readonly scans: boolean;

  private readonly inPlace: (Strategy | undefined)[];
  /** How maskInto treats each column (UNTOUCHED, STRATEGY, SCAN; MASK_CELL: not in place). */
  private readonly how: Uint8Array;
  /** maskInto: per column, -1 untouched, else the detectors that matched (0 for a column rule). */
  private readonly hits: Int32Array;
  /** The most a row grows when every masked column writes in place, or -1 (see RowMasker). */
  readonly slack: number;

  /**
   * The row payload buf[start, end) masked in one pass into out at pos (room for its length plus
   * `slack`); returns the position after it. Only when `slack >= 0` (see RowMasker).
   */
  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.textColumnRulesOnly ? this.maskTextColumnsInto(buf, start, end, out, pos) : this.maskAnyInto(buf, start, end, out, pos);
  }

  /** See RowMasker#maskOver. */
  maskOver(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.textColumnRulesOnly ? this.maskTextColumnsInto(buf, start, end, out, pos, this.rowsMayKeep) : this.maskAnyInto(buf, start, end, out, pos, true);
  }

  /**
   * maskInto's pass for any plan. Values that keep their length once masked do not end the run of bytes
   * copied as they are: they are written over in out once the runs are copied. With `overwrite`, a row all of
   * whose masked values keep their length is masked where it lies instead: OVERWRITTEN (RowMasker#maskOver).
   */
  private maskAnyInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number, overwrite = false): number {
    const { ranges, inPlace, how, hits, n, binary, scans, overwrites } = this;
    const spans = this.plan.spans;
    const limit = out.length;
    let at: number;
    let p = pos;
    if (binary) {
      binaryRowValues(buf, start, end, this.columns.types, ranges);
      at = start + 1 + binaryRowNullBitmapLength(n);
      p = copyBytes(buf, start, at, out, p);
    } else at = start;
    const values = at;
    let run = at;
    let masked = 0;
    overwrites.clear();
    for (let i = 0; i < n; i++) {
      hits[i] = -1;
      let s: number;
      let e: number;
      if (binary) {
        s = ranges[2 * i]!;
        e = ranges[2 * i + 1]!;
        if (s < 0) continue; // a binary row's NULL is a bitmap bit
      } else {
        // A text row's values are found as they are masked, as maskTextColumnsInto does.
        if (at >= end) throw new WireError(`text row: column ${i + 1} truncated`);
        const first = buf[at]!;
        if (first === 0xfb) {
          at++; // NULL
          continue;
        }
        s = at + 1;
        let len = first;
        if (first > 0xfb) {
          len = readLenenc(buf, at, end);
          if (len < 0) throw new WireError(`text row: column ${i + 1} truncated`);
          s = at + lenencSize(first);
        }
        e = s + len;
        if (e > end) throw new WireError(`text row: column ${i + 1} truncated`);
      }
      const cellStart = at;
      at = e;
      const h = how[i];
      if (h === UNTOUCHED) continue;
      let st: Strategy | undefined;
      // Whether st keeps the value's length, so that it is written over where it lies.
      let keeps = false;
      if (h === STRATEGY) {
        st = inPlace[i]!;
        hits[i] = 0;
        keeps = st.keepsLength !== undefined && st.keepsLength(buf, s, e);
      } else {
        // A value that is one whole e-mail, card or SSN, as the column's last one was, is masked like a
        // column rule's value (SpanMasker#wholeKind): the spans' bookkeeping would find the one match there is.
        const kind = spans!.wholeKind(buf, s, e, i);
        if (kind >= 0) {
          st = spans!.strategyOf(kind);
          hits[i] = 1 << kind;
          keeps = spans!.wholeAscii && st.keepsLength !== undefined;
        }
      }
      if (st !== undefined) {
        masked |= 1 << i;
        // Bytes of the current run land in out `p - run` bytes on from where they are in buf.
        if (keeps) {
          overwrites.add(s, e, st, p - run);
          continue;
        }
        // Only detector matches may outgrow the room offered (slack): column rules always fit.
        if (scans && p + (cellStart - run) + 9 + (e - s) + st.maxGrowth + (end - e) > limit) return -1;
        p = this.runs.copy(buf, run, cellStart, out, p);
        if (st.nulls) {
          if (binary) out[pos + 1 + ((i + 2) >>> 3)]! |= 1 << ((i + 2) & 7);
          else out[p++] = 0xfb;
        } else p = writeStrategyValue(st, buf, s, e, out, p);
      } else {
        if (spans!.scanUnconfirmed(buf, s, e, i) === 0) continue;
        hits[i] = spans!.found;
        const listed = overwrites.length;
        if (spans!.addOverwrites(buf, overwrites, p - run)) continue;
        overwrites.truncate(listed);
        const growth = spans!.maxGrowth();
        if (p + (cellStart - run) + 9 + (e - s) + (growth < 0 ? 0 : growth) + (end - e) > limit) return -1;
        p = this.runs.copy(buf, run, cellStart, out, p);
        if (growth < 0) {
          if (binary) out[pos + 1 + ((i + 2) >>> 3)]! |= 1 << ((i + 2) & 7);
          else out[p++] = 0xfb;
        } else if (e - s + growth < 0xfb) {
          const q = spans!.write(buf, s, e, out, p + 1);
          out[p] = q - p - 1;
          p = q;
        } else {
          p = writeLenenc(out, p, spans!.size(buf, s, e));
          p = spans!.write(buf, s, e, out, p);
        }
      }
      run = e;
    }
    if (!binary && at !== end) throw new WireError(`text row: ${end - at} unexpected trailing bytes`);
    if (overwrite && run === values) {
      overwrites.writeOver(buf, false);
      this.countHits(masked);
      return OVERWRITTEN;
    }
    if (scans && p + (end - run) > limit) return -1;
    p = this.runs.copy(buf, run, end, out, p);
    overwrites.writeOver(out, true);
    this.countHits(masked);
    return p;
  }

  private countHits(masked: number): void {
    const { counters, hits, n } = this;
    if (this.countAsBits) return counters.endRowWith(masked);
    counters.endRowWithHits(hits, n);
  }

  /**
   * maskInto for text rows under column rules only (the common case): the values are located as they are
   * masked, in the one pass, and the row is counted as one bit set. Column rules always fit the room offered.
   * With `overwrite`, a row all of whose masked values keep their length is masked where it lies
   * (OVERWRITTEN), as maskAnyInto does.
   */
  private maskTextColumnsInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number, overwrite = false): number {
    const { inPlace, how, n, runs, overwrites } = this;
    let p = pos;
    let at = start;
    let run = start;
    let masked = 0;
    overwrites.clear();
    for (let i = 0; i < n; i++) {
      if (at >= end) throw new WireError(`text row: column ${i + 1} truncated`);
      const first = buf[at]!;
      if (first === 0xfb) {
        at++; // NULL
        continue;
      }
      let s = at + 1;
      let len = first;
      if (first > 0xfb) {
        len = readLenenc(buf, at, end);
        if (len < 0) throw new WireError(`text row: column ${i + 1} truncated`);
        s = at + lenencSize(first);
      }
      const e = s + len;
      if (e > end) throw new WireError(`text row: column ${i + 1} truncated`);
      const cellStart = at;
      at = e;
      if (how[i] === UNTOUCHED) continue;
      const st = inPlace[i]!;
      masked |= 1 << i;
      // While the row may still be masked where it lies, a value that keeps its length (and its length prefix)
      // stays in the run, to be written over there or where it lands in out. Once the row is rewritten anyway,
      // writing the value straight into out costs less.
      if (overwrite && run === start && st.keepsLength !== undefined && st.keepsLength(buf, s, e)) {
        overwrites.add(s, e, st, p - run);
        continue;
      }
      p = runs.copy(buf, run, cellStart, out, p);
      if (st.nulls) out[p++] = 0xfb;
      else p = writeStrategyValue(st, buf, s, e, out, p);
      run = e;
    }
    if (at !== end) throw new WireError(`text row: ${end - at} unexpected trailing bytes`);
    if (overwrite && run === start) {
      overwrites.writeOver(buf, false);
      this.counters.endRowWith(masked);
      return OVERWRITTEN;
    }
    p = runs.copy(buf, run, end, out, p);
    if (overwrites.length > 0) overwrites.writeOver(out, true);
    this.counters.endRowWith(masked);
    return p;
  }

  /** Masks the row payload buf[start, end); returns the size of the payload to send instead, or -1 to keep it. */
  prepare(buf: Buffer, start: number, end: number): number {
    const { plan, ranges, cellStarts, results, counters, n } = this;
    let at: number;
    if (this.binary) {
      binaryRowValues(buf, start, end, this.columns.types, ranges);
      at = start + 1 + binaryRowNullBitmapLength(n);
    } else {
      textRowValues(buf, start, end, n, ranges);
      at = start;
    }
    let size = end - start;
    let changed = false;
    this.newNulls = false;
    for (let i = 0; i < n; i++) {
      const s = ranges[2 * i]!;
      const e = ranges[2 * i + 1]!;
      if (s < 0) {
        // NULL: a 0xFB byte in a text row, nothing (a bitmap bit) in a binary row.
        cellStarts[i] = at;
        if (!this.binary) at++;
        results[i] = undefined;
        continue;
      }
      cellStarts[i] = at;
      at = e;
      if (!plan.masks(i)) {
        results[i] = undefined;
        continue;
      }
      const r = this.binary ? this.maskBinary(i, buf, s, e) : plan.maskCell(i, buf, s, e);
      results[i] = r;
      if (r === undefined) continue;
      changed = true;
      counters.cell(i, plan.lastDetected);
      if (r === null) {
        this.newNulls = true;
        size -= e - cellStarts[i]!;
        if (!this.binary) size += 1;
      } else size += lenencLength(r.length) + r.length - (e - cellStarts[i]!);
    }
    counters.endRow();
    if (!changed) return -1;
    this.buf = buf;
    this.start = start;
    this.end = end;
    return size;
  }

  /** Writes the payload `prepare` sized into out at pos; returns the position after it. */
  emit(out: Buffer, pos: number): number {
    const { buf, ranges, cellStarts, results, n } = this;
    let p = pos;
    let run = this.start;
    if (this.binary) {
      const bitmapEnd = this.start + 1 + binaryRowNullBitmapLength(n);
      p = copyBytes(buf, this.start, bitmapEnd, out, p);
      if (this.newNulls) {
        for (let i = 0; i < n; i++) if (results[i] === null) out[pos + 1 + ((i + 2) >>> 3)]! |= 1 << ((i + 2) & 7);
      }
      run = bitmapEnd;
    }
    for (let i = 0; i < n; i++) {
      const r = results[i];
      if (r === undefined) continue;
      p = this.runs.copy(buf, run, cellStarts[i]!, out, p);
      if (r === null) {
        if (!this.binary) out[p++] = 0xfb;
      } else {
        p = writeLenenc(out, p, r.length);
        p = copyBytes(r, 0, r.length, out, p);
      }
      run = ranges[2 * i + 1]!;
      results[i] = undefined;
    }
    p = this.runs.copy(buf, run, this.end, out, p);
    this.buf = EMPTY;
    return p;
  }

  mask(buf: Buffer, start: number, end: number): Buffer {
    return maskMessage(this, buf, start, end);
  }

  /** A binary value of column i: strings are masked as they are, other types in their text form. */
  private maskBinary(i: number, buf: Buffer, s: number, e: number): CellResult {
    const plan = this.plan;
    const type = this.columns.types[i]!;
    if (!hasColumnRule(plan, i) || isLengthEncoded(type)) return plan.maskCell(i, buf, s, e);
    const text = binaryValueText(type, this.columns.flags[i]!, this.columns.decimals[i]!, buf, s, e);
    return plan.maskCell(i, text, 0, text.length);
  }
}

const EMPTY = Buffer.alloc(0);

/** Text row payload buf[start, end) with the plan's cells masked (same view when nothing changed). */
export function maskTextRow(buf: Buffer, start: number, end: number, plan: MaskPlan, columns: number | MysqlRowColumns, counters: MaskCounters): Buffer {
  const c = typeof columns === 'number' ? mysqlRowColumns(Array.from({ length: columns }, () => ({ type: ColumnType.VarString }))) : columns;
  return new MysqlRowMasker(plan, c, false, counters).mask(buf, start, end);
}

/** Binary row payload buf[start, end) with the plan's cells masked, masked values as length-encoded strings. */
export function maskBinaryRow(buf: Buffer, start: number, end: number, plan: MaskPlan, columns: MysqlRowColumns, counters: MaskCounters): Buffer {
  return new MysqlRowMasker(plan, columns, true, counters).mask(buf, start, end);
}

// ---- binary values as text ----

function isLengthEncoded(type: number): boolean {
  switch (type) {
    case ColumnType.Decimal:
    case ColumnType.NewDecimal:
    case ColumnType.VarChar:
    case ColumnType.Bit:
    case ColumnType.Json:
    case ColumnType.Enum:
    case ColumnType.Set:
    case ColumnType.TinyBlob:
    case ColumnType.MediumBlob:
    case ColumnType.LongBlob:
    case ColumnType.Blob:
    case ColumnType.VarString:
    case ColumnType.String:
    case ColumnType.Geometry:
      return true;
    default:
      return false;
  }
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/**
 * A binary-protocol value (range from binaryRowValues: dates and times include their length byte) as the
 * text protocol would have sent it.
 */
export function binaryValueText(type: number, flags: number, decimals: number, buf: Buffer, s: number, e: number): Buffer {
  const unsigned = (flags & ColumnFlag.Unsigned) !== 0;
  switch (type) {
    case ColumnType.Tiny:
      return ascii(String(unsigned ? buf.readUInt8(s) : buf.readInt8(s)));
    case ColumnType.Short:
      return ascii(String(unsigned ? buf.readUInt16LE(s) : buf.readInt16LE(s)));
    case ColumnType.Year:
      return ascii(String(buf.readUInt16LE(s)).padStart(4, '0'));
    case ColumnType.Long:
    case ColumnType.Int24:
      return ascii(String(unsigned ? buf.readUInt32LE(s) : buf.readInt32LE(s)));
    case ColumnType.LongLong:
      return ascii((unsigned ? buf.readBigUInt64LE(s) : buf.readBigInt64LE(s)).toString());
    case ColumnType.Float:
      return ascii(mysqlFloatText(buf.readFloatLE(s), true));
    case ColumnType.Double:
      return ascii(mysqlFloatText(buf.readDoubleLE(s), false));
    case ColumnType.Time:
    case ColumnType.Time2:
      return ascii(timeText(buf, s, e, decimals));
    case ColumnType.Date:
    case ColumnType.NewDate:
    case ColumnType.DateTime:
    case ColumnType.DateTime2:
    case ColumnType.Timestamp:
    case ColumnType.Timestamp2:
      return ascii(dateTimeText(type, buf, s, e, decimals));
    default:
      return buf.subarray(s, e);
  }
}

function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Shortest round-trip digits, fixed notation for exponents -4 .. 14, else 1.5e20 / 1e-7 (no '+'), as MySQL prints. */
function mysqlFloatText(v: number, single: boolean): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const e = shortestExponential(v, single);
  const x = e.indexOf('e');
  const exp = Number(e.slice(x + 1));
  if (exp < -4 || exp >= 15) return `${e.slice(0, x)}e${exp}`;
  return String(Number(e));
}

/** `.ffffff` cut to the column's decimals (31 means not fixed: all six when there is a fraction). */
function fraction(micro: number, decimals: number): string {
  const d = decimals > 6 ? (micro ? 6 : 0) : decimals;
  return d > 0 ? '.' + String(micro).padStart(6, '0').slice(0, d) : '';
}

function dateTimeText(type: number, buf: Buffer, s: number, e: number, decimals: number): string {
  const n = buf[s]!;
  if (e - s !== 1 + n || (n !== 0 && n !== 4 && n !== 7 && n !== 11)) throw new WireError(`binary row: date/time value of ${n} bytes`);
  const year = n >= 4 ? buf.readUInt16LE(s + 1) : 0;
  const date = `${String(year).padStart(4, '0')}-${pad2(n >= 4 ? buf[s + 3]! : 0)}-${pad2(n >= 4 ? buf[s + 4]! : 0)}`;
  if (type === ColumnType.Date || type === ColumnType.NewDate) return date;
  const time = n >= 7 ? `${pad2(buf[s + 5]!)}:${pad2(buf[s + 6]!)}:${pad2(buf[s + 7]!)}` : '00:00:00';
  return `${date} ${time}${fraction(n >= 11 ? buf.readUInt32LE(s + 8) : 0, decimals)}`;
}

function timeText(buf: Buffer, s: number, e: number, decimals: number): string {
  const n = buf[s]!;
  if (e - s !== 1 + n || (n !== 0 && n !== 8 && n !== 12)) throw new WireError(`binary row: TIME value of ${n} bytes`);
  if (n === 0) return `00:00:00${fraction(0, decimals)}`;
  const negative = buf[s + 1] === 1;
  const hours = buf.readUInt32LE(s + 2) * 24 + buf[s + 6]!;
  const micro = n >= 12 ? buf.readUInt32LE(s + 9) : 0;
  return `${negative ? '-' : ''}${pad2(hours)}:${pad2(buf[s + 7]!)}:${pad2(buf[s + 8]!)}${fraction(micro, decimals)}`;
}

// ---- ERR packets ----

/** ER_DUP_ENTRY's message: "Duplicate entry '%s' for key '%s'" (MySQL 8 names the key `table.key`). */
const duplicateEntry = /^(Duplicate entry ')(.*)(' for key '(?:[^']*\.)?([^'.]*)')$/s;

/**
 * An ERR packet payload buf[start, end) with the values its message quotes masked: the value of a duplicate
 * key by the rule of the column the key is named after (a unique key on `email` is named `email` unless
 * named otherwise), then the detectors over the whole message. Returns the same view when nothing changed.
 */
export function maskErrPacket(buf: Buffer, start: number, end: number, rules: MaskingRules, who: MaskIdentity): Buffer {
  if (rules.isExempt(who)) return buf.subarray(start, end);
  const err = decodeErr(buf, start, end);
  const dup = duplicateEntry.exec(err.message);
  // Column 0 scans the message (no column is named ""); column 1 is the duplicate key's column.
  const plan = rules.planFor([{ name: '', textLike: true }, ...(dup ? [{ name: dup[4]!, textLike: true }] : [])], who);
  if (plan.isEmpty) return buf.subarray(start, end);
  const mask = (column: number, text: string): string => {
    const b = Buffer.from(text, 'utf8');
    const r = plan.maskCell(column, b, 0, b.length);
    return r === undefined ? text : r === null ? 'NULL' : r.toString('utf8');
  };
  const message = dup && hasColumnRule(plan, 1) ? `${dup[1]}${mask(1, dup[2]!)}${dup[3]}` : err.message;
  const masked = plan.masks(0) ? mask(0, message) : message;
  return masked === err.message ? buf.subarray(start, end) : encodeErr(err.code, err.sqlState, masked);
}
