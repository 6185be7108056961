// A MaskPlan says, for one result set, what happens to each column's values. Plans are built once per
// result (masking/rules.ts `planFor`) and then called per cell; the per-cell path allocates only the masked
// value itself. A plan is also plain data (`spec`), so the row stage can post it to a worker thread and
// rebuild it there with `compilePlan`.
import { compileSizedStrategy, compileStrategy, type MaskFn, type Strategy, type StrategyOptions, type StrategySpec } from './strategies.js';
import { RunCopier, type Overwrites } from './row-masker.js';
import { detectorId, NOT_WHOLE, scanValue, wholeMatch, WHOLE_ASCII, WHOLE_KINDS, type DetectorKind, type KindSet, type OnMatch } from './detectors.js';

/** One column: pass through (null), a column rule's strategy, or a scan by the detectors. */
export type ColumnStep = null | { rule: string; strategy: StrategySpec } | { scan: true };

/** A detector the scan runs and the strategy for its matches; `rule` names it in audit counters. */
export interface DetectorStep {
  kind: DetectorKind;
  rule: string;
  strategy: StrategySpec;
}

export interface PlanSpec {
  columns: ColumnStep[];
  /** Empty when no column is scanned. */
  detectors: DetectorStep[];
}

/**
 * What `maskCell` returns: the masked bytes, null for SQL NULL, or undefined when a scanned value had
 * nothing to mask (send the original bytes). Column strategies never return undefined.
 */
export type CellResult = Buffer | null | undefined;

/**
 * Masks the detector matches inside one value and keeps the bytes between them. Overlapping matches are
 * resolved left to right, the longer one first at equal starts. A match whose strategy is `null` makes the
 * whole value NULL. Reuses its span buffers: one instance per plan, one value at a time.
 *
 * Row maskers that write frames in place call `scan`, then `size`, then `write` for the same value; `mask`
 * does the three into a new buffer.
 */
export class SpanMasker {
  readonly kinds: KindSet;
  /** Detectors that matched in the last `scan`, as a bit set (see detectors.ts `kindsOf`). */
  found: KindSet = 0;
  /**
   * Whether the value `wholeKind` confirmed last is all ASCII bytes: exactly then a strategy with `keepsLength`
   * keeps its length, and the row maskers do not ask it.
   */
  wholeAscii = false;
  private readonly strategies: (Strategy | undefined)[] = [];
  private spans = new Int32Array(3 * 8);
  private n = 0;
  /** Per column (the first 64), the kind its last scanned value was one whole match of, or -1. */
  private readonly guesses = new Int8Array(64).fill(-1);
  /** Copies the text between matches. */
  private readonly runs = new RunCopier();

  /** Bytes a masked value may hold that were not in it: what the detectors' strategies add (Strategy.adds). */
  readonly adds: Buffer;

  constructor(detectors: readonly { kind: DetectorKind; sized: Strategy }[]) {
    let kinds = 0;
    for (const d of detectors) {
      const id = detectorId[d.kind];
      if (this.strategies[id] === undefined) this.strategies[id] = d.sized;
      kinds |= 1 << id;
    }
    this.kinds = kinds;
    this.adds = Buffer.concat(detectors.map((d) => d.sized.adds));
  }

  private readonly collect: OnMatch = (kind, start, end) => {
    if (3 * this.n + 3 > this.spans.length) {
      const grown = new Int32Array(this.spans.length * 2);
      grown.set(this.spans);
      this.spans = grown;
    }
    const k = 3 * this.n++;
    this.spans[k] = start;
    this.spans[k + 1] = end;
    this.spans[k + 2] = kind;
  };

  /**
   * The kind buf[start, end) is one whole match of, when column `column`'s last value was one whole match of
   * that kind and this one is too (see `scan`); else -1, and the value needs `scanUnconfirmed`. Row maskers then
   * mask the value with `strategyOf(kind)` as they would a column rule's, without the spans.
   */
  wholeKind(buf: Buffer, start: number, end: number, column: number): number {
    const kind = column >= 0 && column < this.guesses.length ? this.guesses[column]! : -1;
    if (kind < 0) return -1;
    const whole = wholeMatch(kind, buf, start, end);
    this.wholeAscii = whole === WHOLE_ASCII;
    return whole === NOT_WHOLE ? -1 : kind;
  }

  /** The strategy for matches of `kind` (a kind of this masker's detectors). */
  strategyOf(kind: number): Strategy {
    return this.strategies[kind]!;
  }

  /**
   * Finds the matches to mask in buf[start, end); returns how many (0: the value stays as it is). `column`
   * (a result column's index, when the caller has one) lets a column whose last value was one whole e-mail,
   * card or SSN have the next value confirmed as the same kind directly (see wholeMatch), which finds what
   * the scan would at a fraction of its cost; any other value takes the scan.
   */
  scan(buf: Buffer, start: number, end: number, column = -1): number {
    const kind = this.wholeKind(buf, start, end, column);
    if (kind < 0) return this.scanUnconfirmed(buf, start, end, column);
    const s = this.spans;
    s[0] = start;
    s[1] = end;
    s[2] = kind;
    this.found = 1 << kind;
    return (this.n = 1);
  }

  /**
   * `scan` of a value `wholeKind` did not confirm (callers that asked it already): every detector over the
   * whole value, and what the column's next value is checked as.
   */
  scanUnconfirmed(buf: Buffer, start: number, end: number, column = -1): number {
    const s = this.spans;
    this.n = 0;
    this.found = 0;
    scanValue(buf, start, end, this.kinds, this.collect);
    if (this.n > 0) {
      this.n = this.orderAndDropOverlaps();
      for (let j = 0; j < this.n; j++) this.found |= 1 << s[3 * j + 2]!;
    }
    if (column >= 0 && column < this.guesses.length) {
      this.guesses[column] = this.n === 1 && s[0] === start && s[1] === end && (1 << s[2]!) & WHOLE_KINDS ? s[2]! : -1;
    }
    return this.n;
  }

  /**
   * The most bytes masking the value scanned last adds (what `write` may need beyond the value's length),
   * or -1 when a match's strategy makes it NULL.
   */
  maxGrowth(): number {
    const s = this.spans;
    let growth = 0;
    for (let j = 0; j < this.n; j++) {
      const st = this.strategies[s[3 * j + 2]!]!;
      if (st.nulls) return -1;
      growth += st.maxGrowth;
    }
    return growth;
  }

  /** Bytes of the value scanned last once masked, or -1 when a match's strategy makes it NULL. */
  size(buf: Buffer, start: number, end: number): number {
    const s = this.spans;
    let length = end - start;
    for (let j = 0; j < this.n; j++) {
      const a = s[3 * j]!;
      const b = s[3 * j + 1]!;
      const m = this.strategies[s[3 * j + 2]!]!.size(buf, a, b);
      if (m < 0) return -1;
      length += m - (b - a);
    }
    return length;
  }

  /** Writes the value scanned last, masked (`size` bytes), at out[pos]; returns the position after it. */
  write(buf: Buffer, start: number, end: number, out: Buffer, pos: number): number {
    const s = this.spans;
    let from = start;
    let p = pos;
    for (let j = 0; j < this.n; j++) {
      const a = s[3 * j]!;
      p = this.runs.copy(buf, from, a, out, p);
      from = s[3 * j + 1]!;
      p = this.strategies[s[3 * j + 2]!]!.write(buf, a, from, out, p);
    }
    return this.runs.copy(buf, from, end, out, p);
  }

  /**
   * Adds the matches of the value scanned last to `list` (landing `shift` bytes on in the output) when each
   * keeps its length once masked, and returns true; false when one does not (some may have been added).
   */
  addOverwrites(buf: Buffer, list: Overwrites, shift: number): boolean {
    const s = this.spans;
    for (let j = 0; j < this.n; j++) {
      const st = this.strategies[s[3 * j + 2]!]!;
      if (st.keepsLength === undefined || !st.keepsLength(buf, s[3 * j]!, s[3 * j + 1]!)) return false;
      list.add(s[3 * j]!, s[3 * j + 1]!, st, shift);
    }
    return true;
  }

  mask(buf: Buffer, start: number, end: number, column = -1): CellResult {
    if (this.scan(buf, start, end, column) === 0) return undefined;
    const size = this.size(buf, start, end);
    if (size < 0) return null;
    const out = Buffer.allocUnsafe(size);
    this.write(buf, start, end, out, 0);
    return out;
  }

  /** Sorts the spans by start (longest first on ties) and drops those overlapping a kept one. Few spans: insertion sort. */
  private orderAndDropOverlaps(): number {
    const s = this.spans;
    for (let i = 1; i < this.n; i++) {
      const a = s[3 * i]!;
      const b = s[3 * i + 1]!;
      const c = s[3 * i + 2]!;
      let j = i - 1;
      while (j >= 0 && (s[3 * j]! > a || (s[3 * j] === a && s[3 * j + 1]! < b))) {
        s[3 * j + 3] = s[3 * j]!;
        s[3 * j + 4] = s[3 * j + 1]!;
        s[3 * j + 5] = s[3 * j + 2]!;
        j--;
      }
      s[3 * j + 3] = a;
      s[3 * j + 4] = b;
      s[3 * j + 5] = c;
    }
    let kept = 0;
    let lastEnd = -1;
    for (let i = 0; i < this.n; i++) {
      if (s[3 * i]! < lastEnd) continue;
      lastEnd = s[3 * i + 1]!;
      s[3 * kept] = s[3 * i]!;
      s[3 * kept + 1] = lastEnd;
      s[3 * kept + 2] = s[3 * i + 2]!;
      kept++;
    }
    return kept;
  }
}

export class MaskPlan {
  /** True when no column needs anything: the caller passes the rows' bytes through untouched. */
  readonly isEmpty: boolean;
  /** Bit set of the detectors that matched in the last `maskCell` on a scanned column, 0 otherwise. */
  lastDetected: KindSet = 0;

  constructor(
    readonly spec: PlanSpec,
    private readonly fns: readonly (MaskFn | undefined)[],
    /** The detectors' span masker when some column is scanned. */
    readonly spans: SpanMasker | null,
    /**
     * Column rules' strategies in their writing form, by column: row maskers that build frames size and
     * write such cells in place instead of calling `maskCell`.
     */
    readonly strategies: readonly (Strategy | undefined)[] = [],
  ) {
    this.isEmpty = spec.columns.every((c) => c === null);
  }

  /** Whether column `i`'s values go through `maskCell` at all. */
  masks(i: number): boolean {
    return this.spec.columns[i] != null;
  }

  /** The rule that masks column `i` (for audit counters), `detect` for a scanned column, or undefined. */
  ruleOf(i: number): string | undefined {
    const step = this.spec.columns[i];
    return step == null ? undefined : 'rule' in step ? step.rule : 'detect';
  }

  /** Masks one non-NULL value of column `i`, given as buf[start, end). See CellResult. */
  maskCell(i: number, buf: Buffer, start: number, end: number): CellResult {
    const fn = this.fns[i];
    if (fn !== undefined) {
      this.lastDetected = 0;
      return fn(buf, start, end);
    }
    if (this.spans !== null && this.spec.columns[i] != null) {
      const r = this.spans.mask(buf, start, end, i);
      this.lastDetected = this.spans.found;
      return r;
    }
    this.lastDetected = 0;
    return undefined;
  }
}

/** Rebuilds a plan from its plain-data form, e.g. in a worker thread. */
export function compilePlan(spec: PlanSpec, opts: StrategyOptions = {}): MaskPlan {
  const fns = spec.columns.map((c) => (c !== null && 'rule' in c ? compileStrategy(c.strategy, opts) : undefined));
  const strategies = spec.columns.map((c) => (c !== null && 'rule' in c ? compileSizedStrategy(c.strategy, opts) : undefined));
  const scans = spec.columns.some((c) => c !== null && 'scan' in c);
  const spans = scans ? new SpanMasker(spec.detectors.map((d) => ({ kind: d.kind, sized: compileSizedStrategy(d.strategy, opts) }))) : null;
  return new MaskPlan(spec, fns, spans, strategies);
}
