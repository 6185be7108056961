// COPY TO STDOUT rows through a MaskPlan (PostgreSQL documentation, "COPY": text and CSV formats). The
// server sends one row per CopyData message; columns are the plan's by position.
import { WireError } from '../wire/bytes.js';
import type { MaskPlan } from './plan.js';
import { copyBytes, type Strategy } from './strategies.js';
import type { MaskCounters } from './counters.js';
import { OVERWRITTEN, Overwrites, RunCopier, SCAN, STRATEGY, UNTOUCHED, type RowMasker } from './row-masker.js';

/** COPY's text or CSV syntax (COPY options DELIMITER, NULL, QUOTE, ESCAPE); the defaults for 'text'/'csv'. */
export interface CopySyntax {
  csv: boolean;
  delimiter: number;
  /** The NULL string (text: \N, CSV: the empty unquoted string). */
  null: Buffer;
  quote: number;
  escape: number;
}

export const copyText: CopySyntax = Object.freeze({ csv: false, delimiter: 0x09, null: Buffer.from('\\N'), quote: 0x22, escape: 0x22 });
export const copyCsv: CopySyntax = Object.freeze({ csv: true, delimiter: 0x2c, null: Buffer.alloc(0), quote: 0x22, escape: 0x22 });

const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

/**
 * Masks one COPY TO STDOUT row: a CopyData frame buf[start, end) holding one whole row, as the server sends
 * them (one row per CopyData, ended by a newline). Columns are the plan's by position. Returns the same view
 * when nothing changed. Binary COPY is not handled here: its values carry no type (see the report).
 */
export function maskCopyRow(buf: Buffer, start: number, end: number, plan: MaskPlan, format: 'text' | 'csv' | CopySyntax, counters: MaskCounters): Buffer {
  const syntax = format === 'text' ? copyText : format === 'csv' ? copyCsv : format;
  if (end - start < 5 || buf[start] !== 0x64) throw new WireError('COPY row: expected a CopyData message');
  const dataStart = start + 5;
  const lineEnd = end > dataStart && buf[end - 1] === NL ? end - 1 : end;
  const pieces: (Buffer | number)[] = []; // changed fields as [fieldStart, fieldEnd, replacement]
  let field = 0;
  let pos = dataStart;
  let size = end - start;
  for (;;) {
    const fieldEnd = syntax.csv ? csvFieldEnd(buf, pos, lineEnd, syntax) : textFieldEnd(buf, pos, lineEnd, syntax.delimiter);
    if (plan.masks(field)) {
      const replacement = maskCopyField(buf, pos, fieldEnd, plan, field, syntax);
      if (replacement !== undefined) {
        counters.cell(field, plan.lastDetected);
        pieces.push(pos, fieldEnd, replacement);
        size += replacement.length - (fieldEnd - pos);
      }
    }
    field++;
    if (fieldEnd >= lineEnd) break;
    pos = fieldEnd + 1;
  }
  counters.endRow();
  if (plan.spec.columns.length > 0 && field !== plan.spec.columns.length) {
    throw new WireError(`COPY row: ${field} columns, expected ${plan.spec.columns.length}`);
  }
  if (pieces.length === 0) return buf.subarray(start, end);
  const out = Buffer.allocUnsafe(size);
  out[0] = 0x64;
  out.writeInt32BE(size - 1, 1);
  let o = 5;
  let from = dataStart;
  for (let k = 0; k < pieces.length; k += 3) {
    const r = pieces[k + 2] as Buffer;
    o = copyBytes(buf, from, pieces[k] as number, out, o);
    o = copyBytes(r, 0, r.length, out, o);
    from = pieces[k + 1] as number;
  }
  copyBytes(buf, from, end, out, o);
  return out;
}

/** End of a text-format field: the next delimiter not escaped by a backslash, or the line end. */
function textFieldEnd(buf: Buffer, pos: number, lineEnd: number, delimiter: number): number {
  const r = textField(buf, null, pos, lineEnd, delimiter);
  return r < 0 ? ~r : r;
}

const ONES = 0x01010101;
const HIGHS = 0x80808080 | 0;
const BACKSLASHES = BACKSLASH * ONES;

/**
 * End of the text field from pos (the delimiter after it, or lineEnd), as ~end when the field holds an escape
 * (a backslash): the one pass the in-place maskers make over a field. With `words` (a view of buf), four
 * bytes at a time while none of them is the delimiter or a backslash, the usual field's every byte: a word
 * holds byte x when (w ^ x*0x01010101) has a zero byte, which (v - 0x01010101) & ~v & 0x80808080 tells.
 */
function textField(buf: Buffer, words: DataView | null, pos: number, lineEnd: number, delimiter: number): number {
  let escaped = false;
  let i = pos;
  if (words !== null) {
    const delimiters = Math.imul(delimiter, ONES);
    for (; i + 4 <= lineEnd; i += 4) {
      const w = words.getInt32(i, true);
      const d = w ^ delimiters;
      const b = w ^ BACKSLASHES;
      if ((((d - ONES) & ~d) | ((b - ONES) & ~b)) & HIGHS) break;
    }
  }
  for (; i < lineEnd; i++) {
    const b = buf[i]!;
    if (b === delimiter) break;
    if (b === BACKSLASH) {
      escaped = true;
      i++;
    }
  }
  if (i > lineEnd) i = lineEnd;
  return escaped ? ~i : i;
}

function hasByte(buf: Buffer, s: number, e: number, b: number): boolean {
  for (let i = s; i < e; i++) if (buf[i] === b) return true;
  return false;
}

/** End of a CSV field: the delimiter after it, outside quotes. */
function csvFieldEnd(buf: Buffer, pos: number, lineEnd: number, syntax: CopySyntax): number {
  let inQuotes = false;
  for (let i = pos; i < lineEnd; i++) {
    const b = buf[i]!;
    if (inQuotes) {
      if (b === syntax.escape && i + 1 < lineEnd && (buf[i + 1] === syntax.quote || buf[i + 1] === syntax.escape) && syntax.escape !== syntax.quote) i++;
      else if (b === syntax.quote) {
        if (syntax.escape === syntax.quote && i + 1 < lineEnd && buf[i + 1] === syntax.quote) i++;
        else inQuotes = false;
      }
    } else if (b === syntax.quote) inQuotes = true;
    else if (b === syntax.delimiter) return i;
  }
  return lineEnd;
}

/** The replacement bytes of one field as COPY writes them, or undefined to keep it. */
function maskCopyField(buf: Buffer, s: number, e: number, plan: MaskPlan, i: number, syntax: CopySyntax): Buffer | undefined {
  const quoted = syntax.csv && e > s && buf[s] === syntax.quote;
  if (!quoted && e - s === syntax.null.length && buf.compare(syntax.null, 0, syntax.null.length, s, e) === 0) return undefined; // NULL
  let value: Buffer;
  let vs: number;
  let ve: number;
  if (syntax.csv ? quoted : hasByte(buf, s, e, BACKSLASH)) {
    value = syntax.csv ? csvUnquote(buf, s, e, syntax) : textUnescape(buf, s, e);
    vs = 0;
    ve = value.length;
  } else {
    value = buf;
    vs = s;
    ve = e;
  }
  const r = plan.maskCell(i, value, vs, ve);
  if (r === undefined) return undefined;
  if (r === null) return syntax.null;
  return syntax.csv ? csvQuote(r, syntax) : textEscape(r, syntax.delimiter);
}

const escapeLetter = new Map<number, number>([
  [0x08, 0x62], // \b
  [0x0c, 0x66], // \f
  [0x0a, 0x6e], // \n
  [0x0d, 0x72], // \r
  [0x09, 0x74], // \t
  [0x0b, 0x76], // \v
]);
const unescapeLetter = new Map<number, number>([...escapeLetter].map(([a, b]) => [b, a]));

const isOctal = (b: number) => b >= 0x30 && b <= 0x37;
const hexValue = (b: number) => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1);

/** COPY text de-escaping (CopyReadAttributesText): \b \f \n \r \t \v, \ooo octal, \xhh hex, \c -> c. */
function textUnescape(buf: Buffer, s: number, e: number): Buffer {
  const out = Buffer.allocUnsafe(e - s);
  let o = 0;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (b !== BACKSLASH || i + 1 >= e) {
      out[o++] = b;
      continue;
    }
    const c = buf[++i]!;
    if (isOctal(c)) {
      let v = c - 0x30;
      for (let k = 0; k < 2 && i + 1 < e && isOctal(buf[i + 1]!); k++) v = v * 8 + buf[++i]! - 0x30;
      out[o++] = v & 0xff;
    } else if (c === 0x78 && i + 1 < e && hexValue(buf[i + 1]!) >= 0) {
      let v = hexValue(buf[++i]!);
      if (i + 1 < e && hexValue(buf[i + 1]!) >= 0) v = v * 16 + hexValue(buf[++i]!);
      out[o++] = v;
    } else out[o++] = unescapeLetter.get(c) ?? c;
  }
  return out.subarray(0, o);
}

/** COPY text escaping (CopyAttributeOutText): backslash, the delimiter and \b \f \n \r \t \v. */
function textEscape(v: Buffer, delimiter: number): Buffer {
  let extra = 0;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (b === BACKSLASH || b === delimiter || escapeLetter.has(b)) extra++;
  }
  if (extra === 0) return v;
  const out = Buffer.allocUnsafe(v.length + extra);
  let o = 0;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    const letter = escapeLetter.get(b);
    if (letter !== undefined) {
      out[o++] = BACKSLASH;
      out[o++] = letter;
    } else {
      if (b === BACKSLASH || b === delimiter) out[o++] = BACKSLASH;
      out[o++] = b;
    }
  }
  return out;
}

/** The value of a quoted CSV field (quotes removed, escaped quotes undone). */
function csvUnquote(buf: Buffer, s: number, e: number, syntax: CopySyntax): Buffer {
  const out = Buffer.allocUnsafe(e - s);
  let o = 0;
  let inQuotes = false;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (!inQuotes) {
      if (b === syntax.quote) inQuotes = true;
      else out[o++] = b;
    } else if (b === syntax.escape && i + 1 < e && (buf[i + 1] === syntax.quote || buf[i + 1] === syntax.escape) && (syntax.escape !== syntax.quote || buf[i + 1] === syntax.quote)) {
      out[o++] = buf[++i]!;
    } else if (b === syntax.quote) inQuotes = false;
    else out[o++] = b;
  }
  return out.subarray(0, o);
}

/**
 * A CSV value as COPY writes it: quoted when it holds the delimiter, a quote, the escape, CR or LF, is empty
 * (empty unquoted is NULL), is the NULL marker (as COPY quotes it), or is `\.` (end-of-data in older clients).
 */
function csvQuote(v: Buffer, syntax: CopySyntax): Buffer {
  let need = v.length === 0 || (v.length === 2 && v[0] === BACKSLASH && v[1] === 0x2e) || v.equals(syntax.null);
  let extra = 0;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (b === syntax.delimiter || b === CR || b === NL) need = true;
    else if (b === syntax.quote || b === syntax.escape) {
      need = true;
      extra++;
    }
  }
  if (!need) return v;
  const out = Buffer.allocUnsafe(v.length + extra + 2);
  let o = 0;
  out[o++] = syntax.quote;
  for (let i = 0; i < v.length; i++) {
    const b = v[i]!;
    if (b === syntax.quote || b === syntax.escape) out[o++] = syntax.escape;
    out[o++] = b;
  }
  out[o++] = syntax.quote;
  return out;
}


// ---- in place ----


/**
 * COPY rows through a plan. Fields that are written as they are (text: no backslash; CSV: not quoted) are
 * masked in one pass straight into the output (`maskInto`), as DataRows are; a field that needs unescaping,
 * or a masked value that would need escaping, sends the row through maskCopyRow instead (prepare/emit).
 */
export class CopyRowMasker implements RowMasker {
  readonly slack: number;
  private readonly how: Uint8Array;
  private readonly strategies: readonly (Strategy | undefined)[];
  /** Per column: -1 untouched, else the detectors that matched (0 for a column rule). */
  private readonly hits: Int32Array;
  private readonly runs = new RunCopier();
  private pending: Buffer = Buffer.alloc(0);
  /** maskAnyInto: the values that keep their length, written over once the row's bytes are where they go. */
  private readonly overwrites = new Overwrites();
  /** Per column: its strategy may write over a value, the bytes it writes needing no escaping or quoting. */
  private readonly overwritable: Uint8Array;
  /** The same for every detector's strategy. */
  private readonly spansOverwritable: boolean;

  constructor(
    private readonly plan: MaskPlan,
    private readonly syntax: CopySyntax,
    private readonly counters: MaskCounters,
  ) {
    const n = plan.spec.columns.length;
    this.strategies = plan.strategies;
    this.how = Uint8Array.from({ length: n }, (_, i) => (!plan.masks(i) ? UNTOUCHED : this.strategies[i] !== undefined ? STRATEGY : plan.spans !== null ? SCAN : UNTOUCHED));
    this.hits = new Int32Array(n);
    let growth = 0;
    for (let i = 0; i < n; i++) if (this.how[i] === STRATEGY) growth += Math.max(this.strategies[i]!.maxGrowth, syntax.null.length);
    // Detector matches have no bound: offer room that nearly always does.
    this.slack = this.how.includes(SCAN) ? growth + 256 : growth;
    // Text rows under column rules only take maskTextColumnsInto; there a masked field that needed no
    // escaping is checked again only when its strategy may add a byte text COPY escapes (e.g. the delimiter).
    this.lastMasked = -1;
    for (let i = 0; i < n; i++) if (this.how[i] !== UNTOUCHED) this.lastMasked = i;
    this.textColumnRulesOnly = !syntax.csv && n <= 31 && counters.countsColumnsAsBits && this.how.every((h) => h !== SCAN);
    const mayNeedEscape = (adds: Buffer) => syntax.csv || adds.some((b) => escapedInText(b, syntax.delimiter));
    this.recheck = Uint8Array.from(this.strategies.slice(0, n), (st) => (st !== undefined && !st.nulls && mayNeedEscape(st.adds) ? 1 : 0));
    this.recheckSpans = plan.spans !== null && mayNeedEscape(plan.spans.adds);
    // Bytes that need no escaping or quoting, and that no NULL marker holds (a value written over must not
    // read back as NULL: with NULL '*', a one-character value would).
    const plain = (adds: Buffer) =>
      adds.every((b) => !syntax.null.includes(b) && (syntax.csv ? !quotedInCsv(b, syntax) : !escapedInText(b, syntax.delimiter)));
    this.overwritable = Uint8Array.from(this.strategies.slice(0, n), (st) => (st?.overwrite !== undefined && plain(st.adds) ? 1 : 0));
    this.spansOverwritable = plan.spans !== null && plain(plan.spans.adds);
  }

  /** Detector matches may be masked with a byte the syntax escapes or quotes: their output is checked. */
  private readonly recheckSpans: boolean;

  private readonly textColumnRulesOnly: boolean;
  /** The last column masked: fields after it are only counted. */
  private readonly lastMasked: number;
  /** Per column: its strategy may write a byte text COPY would escape, so its output is checked. */
  private readonly recheck: Uint8Array;

  maskInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.textColumnRulesOnly ? this.maskTextColumnsInto(buf, start, end, out, pos) : this.maskAnyInto(buf, start, end, out, pos);
  }

  /**
   * A text-format row under column rules only: each field found and checked for a backslash in one pass,
   * fields after the last masked one only counted, and the row counted as one bit set.
   */
  private maskTextColumnsInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    if (end - start < 5 || buf[start] !== 0x64) throw new WireError('COPY row: expected a CopyData message');
    const { syntax, how, strategies, recheck, lastMasked, runs } = this;
    const delimiter = syntax.delimiter;
    const words = runs.viewOf(buf);
    const columns = how.length;
    const dataStart = start + 5;
    const lineEnd = end > dataStart && buf[end - 1] === NL ? end - 1 : end;
    out[pos] = 0x64;
    let p = pos + 5;
    let run = dataStart;
    let field = 0;
    let f = dataStart;
    let masked = 0;
    let atEnd = false;
    while (field <= lastMasked) {
      const r = textField(buf, words, f, lineEnd, delimiter);
      const escaped = r < 0;
      const fe = escaped ? ~r : r;
      if (how[field] !== UNTOUCHED && !isNullField(buf, f, fe, syntax)) {
        // A field COPY escaped is unescaped, masked and escaped again by maskCopyRow.
        if (escaped) return -1;
        const st = strategies[field]!;
        p = runs.copy(buf, run, f, out, p);
        if (st.nulls) p = copyBytes(syntax.null, 0, syntax.null.length, out, p);
        else {
          const q = st.write(buf, f, fe, out, p);
          if (recheck[field] === 1 && !writtenAsIs(out, p, q, syntax)) return -1;
          p = q;
        }
        run = fe;
        masked |= 1 << field;
      }
      field++;
      if (fe >= lineEnd) {
        atEnd = true;
        break;
      }
      f = fe + 1;
    }
    if (!atEnd) {
      // The fields after the last masked one are only counted (an escaped delimiter is not one).
      field++;
      for (let i = f; i < lineEnd; i++) {
        const b = buf[i]!;
        if (b === delimiter) field++;
        else if (b === BACKSLASH) i++;
      }
    }
    if (columns > 0 && field !== columns) throw new WireError(`COPY row: ${field} columns, expected ${columns}`);
    p = runs.copy(buf, run, end, out, p);
    const length = p - pos - 1;
    out[pos + 1] = length >>> 24;
    out[pos + 2] = length >>> 16;
    out[pos + 3] = length >>> 8;
    out[pos + 4] = length;
    this.counters.endRowWith(masked);
    return p;
  }

  /** See RowMasker#maskOver: rows of text format under column rules only are always rewritten. */
  maskOver(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    return this.textColumnRulesOnly ? this.maskTextColumnsInto(buf, start, end, out, pos) : this.maskAnyInto(buf, start, end, out, pos, true);
  }

  /**
   * maskInto's pass for any plan. Values that keep their length once masked do not end the run of bytes
   * copied as they are: they are written over in out once the runs are copied. With `overwrite`, a row all of
   * whose masked values keep their length is masked where it lies instead: OVERWRITTEN (RowMasker#maskOver).
   */
  private maskAnyInto(buf: Buffer, start: number, end: number, out: Buffer, pos: number, overwrite = false): number {
    if (end - start < 5 || buf[start] !== 0x64) throw new WireError('COPY row: expected a CopyData message');
    const { syntax, how, hits, plan, overwrites } = this;
    const columns = how.length;
    const spans = plan.spans;
    const words = syntax.csv ? null : this.runs.viewOf(buf);
    const dataStart = start + 5;
    const lineEnd = end > dataStart && buf[end - 1] === NL ? end - 1 : end;
    const limit = out.length;
    out[pos] = 0x64;
    let p = pos + 5;
    let run = dataStart;
    let field = 0;
    let f = dataStart;
    overwrites.clear();
    for (;;) {
      let fe: number;
      // Whether the field needed escaping or quoting: then it takes maskCopyRow, which undoes that first.
      let escaped = false;
      if (syntax.csv) {
        fe = csvFieldEnd(buf, f, lineEnd, syntax);
        escaped = fe > f && buf[f] === syntax.quote;
      } else {
        const r = textField(buf, words, f, lineEnd, syntax.delimiter);
        escaped = r < 0;
        fe = escaped ? ~r : r;
      }
      if (field < columns) {
        hits[field] = -1;
        const h = how[field]!;
        if (h !== UNTOUCHED && !isNullField(buf, f, fe, syntax)) {
          if (escaped) return -1;
          // Bytes of the current run land in out `p - run` bytes on from where they are in buf.
          let st: Strategy | undefined;
          let recheck = false;
          // Whether st keeps the value's length and adds nothing COPY escapes, so it is written over where it lies.
          let writtenOver = false;
          if (h === STRATEGY) {
            st = this.strategies[field]!;
            hits[field] = 0;
            recheck = this.recheck[field] === 1;
            writtenOver = this.overwritable[field] === 1 && st.keepsLength!(buf, f, fe);
          } else {
            // A value that is one whole e-mail, card or SSN, as the column's last one was, is masked like a
            // column rule's value (SpanMasker#wholeKind). A match that NULLs the value takes the spans' way.
            const kind = spans!.wholeKind(buf, f, fe, field);
            const whole = kind >= 0 ? spans!.strategyOf(kind) : undefined;
            if (whole !== undefined && !whole.nulls) {
              st = whole;
              hits[field] = 1 << kind;
              recheck = this.recheckSpans;
              writtenOver = this.spansOverwritable && spans!.wholeAscii && st.keepsLength !== undefined;
            }
          }
          if (st !== undefined) {
            if (writtenOver) overwrites.add(f, fe, st, p - run);
            else {
              if (p + (f - run) + (fe - f) + Math.max(st.maxGrowth, syntax.null.length) + (end - fe) > limit) return -1;
              p = this.runs.copy(buf, run, f, out, p);
              if (st.nulls) p = copyBytes(syntax.null, 0, syntax.null.length, out, p);
              else {
                const q = st.write(buf, f, fe, out, p);
                if (recheck && !writtenAsIs(out, p, q, syntax)) return -1;
                p = q;
              }
              run = fe;
            }
          } else if (spans!.scanUnconfirmed(buf, f, fe, field) > 0) {
            const listed = overwrites.length;
            hits[field] = spans!.found;
            if (!this.spansOverwritable || !spans!.addOverwrites(buf, overwrites, p - run)) {
              overwrites.truncate(listed);
              const growth = spans!.maxGrowth();
              if (growth < 0 || p + (f - run) + (fe - f) + growth + (end - fe) > limit) return -1;
              p = this.runs.copy(buf, run, f, out, p);
              const q = spans!.write(buf, f, fe, out, p);
              if (this.recheckSpans && !writtenAsIs(out, p, q, syntax)) return -1;
              p = q;
              run = fe;
            }
          }
        }
      }
      field++;
      if (fe >= lineEnd) break;
      f = fe + 1;
    }
    if (columns > 0 && field !== columns) throw new WireError(`COPY row: ${field} columns, expected ${columns}`);
    if (overwrite && run === dataStart) {
      overwrites.writeOver(buf, false);
      this.counters.endRowWithHits(this.hits, columns);
      return OVERWRITTEN;
    }
    if (p + (end - run) > limit) return -1;
    p = this.runs.copy(buf, run, end, out, p);
    const length = p - pos - 1;
    out[pos + 1] = length >>> 24;
    out[pos + 2] = length >>> 16;
    out[pos + 3] = length >>> 8;
    out[pos + 4] = length;
    overwrites.writeOver(out, true);
    this.counters.endRowWithHits(this.hits, columns);
    return p;
  }

  prepare(buf: Buffer, start: number, end: number): number {
    const r = maskCopyRow(buf, start, end, this.plan, this.syntax, this.counters);
    if (r.buffer === buf.buffer && r.byteOffset === buf.byteOffset + start) return -1;
    this.pending = r;
    return r.length;
  }

  emit(out: Buffer, pos: number): number {
    return copyBytes(this.pending, 0, this.pending.length, out, pos);
  }
}

/** A byte text COPY writes escaped: the backslash, the delimiter, and \b \t \n \v \f \r. */
function escapedInText(b: number, delimiter: number): boolean {
  return b === BACKSLASH || b === delimiter || (b >= 0x08 && b < 0x0e);
}

function isNullField(buf: Buffer, s: number, e: number, syntax: CopySyntax): boolean {
  const nul = syntax.null;
  if (e - s !== nul.length) return false;
  for (let i = 0; i < nul.length; i++) if (buf[s + i] !== nul[i]) return false;
  return true;
}

/**
 * Whether out[p, q) reads back as itself in a COPY field: no byte COPY would escape (text) or quote (CSV), and
 * not what reads as NULL (CSV's empty field) or as end of data.
 */
/** A byte that makes COPY quote a CSV field. */
function quotedInCsv(b: number, syntax: CopySyntax): boolean {
  return b === syntax.delimiter || b === syntax.quote || b === syntax.escape || b === NL || b === CR;
}

function writtenAsIs(out: Buffer, p: number, q: number, syntax: CopySyntax): boolean {
  if (syntax.csv) {
    if (q === p || (q - p === 2 && out[p] === BACKSLASH && out[p + 1] === 0x2e)) return false;
    for (let i = p; i < q; i++) if (quotedInCsv(out[i]!, syntax)) return false;
    return !isNullField(out, p, q, syntax);
  }
  for (let i = p; i < q; i++) if (escapedInText(out[i]!, syntax.delimiter)) return false;
  return true;
}
