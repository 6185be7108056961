// What one result's masking did, for the audit: rows, and per rule the rows it touched and the cells it
// masked. Shared by the stage (inline rows) and the workers (a batch's counts, added by the stage).
import { detectorId, detectorKinds, type KindSet } from './detectors.js';
import type { PlanSpec } from './plan.js';

/** What one result's masking did, for the audit. */
export interface MaskCounts {
  rows: number;
  maskedCells: number;
  /** Per rule that masked something: rows it touched and cells it masked. */
  rules: Record<string, { rows: number; cells: number }>;
}

/** How a plan's columns and detectors map to rule numbers: read-only, so the results of one plan share it. */
interface CounterLayout {
  rules: readonly string[];
  columnRule: Int32Array;
  detectorRule: Int32Array;
  columnBit: Int32Array;
}

/** Plans are kept by the rules (MaskingRules.planFor), so most results open with a spec seen before. */
const layouts = new WeakMap<PlanSpec, CounterLayout>();

function layoutOf(spec: PlanSpec): CounterLayout {
  const known = layouts.get(spec);
  if (known) return known;
  const names: string[] = [];
  const index = (name: string) => {
    const k = names.indexOf(name);
    return k >= 0 ? k : names.push(name) - 1;
  };
  const columnRule = Int32Array.from(spec.columns, (c) => (c !== null && 'rule' in c ? index(c.rule) : -1));
  const detectorRule = new Int32Array(detectorKinds.length).fill(-1);
  for (const d of spec.detectors) detectorRule[detectorId[d.kind]] = index(d.rule);
  const columnBit = Int32Array.from(columnRule, (r, i) => (r >= 0 && i < 31 && !detectorRule.includes(r) ? 1 << i : 0));
  const layout = { rules: names, columnRule, detectorRule, columnBit };
  layouts.set(spec, layout);
  return layout;
}

/**
 * Per-rule counters of one result. Rules are numbered from the plan (column rules, then detector rules), so
 * a worker's counters for a batch line up with the stage's and are added as two arrays.
 */
export class MaskCounters {
  rows = 0;
  readonly rules: readonly string[];
  private readonly ruleRowCounts: Uint32Array;
  private readonly ruleCellCounts: Uint32Array;
  /** The row number each rule was last counted in, so a rule counts a row once. */
  private readonly lastRow: Float64Array;
  private readonly columnRule: Int32Array;
  private readonly detectorRule: Int32Array;
  // Column rules are counted by the set of columns a row had masked (bit i: column i, for the first 31
  // columns), and consecutive rows with the same set as one run: the rows of a result mostly mask the same
  // columns, so a row costs a bit-or per cell and a compare instead of a lookup and a test per cell.
  // A rule that is also a detector rule (the same name) is counted row by row, so that a row counts once.
  private readonly columnBit: Int32Array;
  private rowColumns = 0;
  private runColumns = 0;
  private runRows = 0;
  /** Per rule, the flush that last counted a row for it. */
  private readonly flushedIn: Float64Array;
  private flushes = 0;
  // Rows reported by endRowWithHits are counted the same way: a run of rows whose cells had the same hits
  // (a scanned column of e-mails is an e-mail in every row) is counted once, when it ends.
  private runHits = new Int32Array(0);
  private runHitsColumns = 0;
  private runHitsRows = 0;

  constructor(spec: PlanSpec) {
    const layout = layoutOf(spec);
    this.columnRule = layout.columnRule;
    this.detectorRule = layout.detectorRule;
    this.columnBit = layout.columnBit;
    const names = (this.rules = layout.rules);
    this.flushedIn = new Float64Array(names.length);
    this.ruleRowCounts = new Uint32Array(names.length);
    this.ruleCellCounts = new Uint32Array(names.length);
    this.lastRow = new Float64Array(names.length).fill(-1);
  }

  /** Column `column`'s value was masked; `detected`: the detectors that matched in it (scanned columns). */
  cell(column: number, detected: KindSet): void {
    const r = this.columnRule[column];
    if (r !== undefined && r >= 0) {
      const bit = this.columnBit[column]!;
      if (bit !== 0) this.rowColumns |= bit;
      else this.bump(r);
      return;
    }
    for (let set = detected; set !== 0; set &= set - 1) {
      const k = this.detectorRule[31 - Math.clz32(set & -set)]!;
      if (k >= 0) this.bump(k);
    }
  }

  /**
   * Whether every column-rule cell can be reported as a bit (columns under 31, rules not shared with a
   * detector): then a row masker may count a row with one `endRowWith` call.
   */
  get countsColumnsAsBits(): boolean {
    for (let i = 0; i < this.columnRule.length; i++) if (this.columnRule[i]! >= 0 && this.columnBit[i] === 0) return false;
    return true;
  }

  /** Ends a row whose column-rule cells are the bit set `columns` (bit i: column i); see countsColumnsAsBits. */
  endRowWith(columns: number): void {
    this.endRowsWith(columns, 1);
  }

  /** endRowWith(columns) `rows` times over (the native masker reports its rows so: native.ts). */
  endRowsWith(columns: number, rows: number): void {
    this.rowColumns |= columns;
    if (this.rowColumns !== this.runColumns) {
      this.flushRun();
      this.runColumns = this.rowColumns;
    }
    this.runRows += rows;
    this.rowColumns = 0;
    this.rows += rows;
  }

  /**
   * Ends a row, given each column's hits: -1 not masked, else the detectors that matched in it (0 for a column
   * rule): what `cell` takes, for `columns` columns at once.
   */
  endRowWithHits(hits: Int32Array, columns: number): void {
    this.endRowsWithHits(hits, 0, columns, 1);
  }

  /** endRowWithHits `rows` times over, the hits at hits[from, from + columns) (the native masker's runs). */
  endRowsWithHits(hits: Int32Array, from: number, columns: number, rows: number): void {
    this.rows += rows;
    if (columns === this.runHitsColumns && this.runHitsRows > 0) {
      const run = this.runHits;
      let same = true;
      for (let i = 0; i < columns; i++) {
        if (hits[from + i] !== run[i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.runHitsRows += rows;
        return;
      }
    }
    this.flushHitsRun();
    if (this.runHits.length < columns) this.runHits = new Int32Array(columns);
    this.runHits.set(hits.subarray(from, from + columns));
    this.runHitsColumns = columns;
    this.runHitsRows = rows;
  }

  endRow(): void {
    this.endRowsWith(0, 1);
  }

  /** Rows per rule, up to date. */
  get ruleRows(): Uint32Array {
    this.flushRun();
    this.flushHitsRun();
    return this.ruleRowCounts;
  }

  /** Cells per rule, up to date. */
  get ruleCells(): Uint32Array {
    this.flushRun();
    this.flushHitsRun();
    return this.ruleCellCounts;
  }

  /** Adds the run of rows with the same hits (endRowWithHits) to the rules that masked them. */
  private flushHitsRun(): void {
    const rows = this.runHitsRows;
    if (rows === 0) return;
    this.runHitsRows = 0;
    const flush = ++this.flushes;
    const run = this.runHits;
    for (let i = 0; i < this.runHitsColumns; i++) {
      const detected = run[i]!;
      if (detected < 0) continue;
      const r = this.columnRule[i];
      if (r !== undefined && r >= 0) {
        this.countRun(r, rows, flush);
        continue;
      }
      for (let set = detected; set !== 0; set &= set - 1) {
        const k = this.detectorRule[31 - Math.clz32(set & -set)]!;
        if (k >= 0) this.countRun(k, rows, flush);
      }
    }
  }

  /** `rows` rows, one cell each, for rule r; the rule's rows once per flush (a rule counts a row once). */
  private countRun(r: number, rows: number, flush: number): void {
    this.ruleCellCounts[r]! += rows;
    if (this.flushedIn[r] === flush) return;
    this.flushedIn[r] = flush;
    this.ruleRowCounts[r]! += rows;
  }

  /** Adds the run of rows that masked the same columns to the rules of those columns. */
  private flushRun(): void {
    const rows = this.runRows;
    if (rows === 0) return;
    this.runRows = 0;
    // A rule counts a row once even when several of its columns were masked in it.
    const flush = ++this.flushes;
    for (let set = this.runColumns; set !== 0; set &= set - 1) this.countRun(this.columnRule[31 - Math.clz32(set & -set)]!, rows, flush);
  }

  private bump(r: number): void {
    this.ruleCellCounts[r]!++;
    if (this.lastRow[r] !== this.rows) {
      this.lastRow[r] = this.rows;
      this.ruleRowCounts[r]!++;
    }
  }

  /** Adds a batch's counts (from the worker). */
  add(rows: number, ruleRows: ArrayLike<number>, ruleCells: ArrayLike<number>): void {
    this.rows += rows;
    for (let k = 0; k < this.rules.length; k++) {
      this.ruleRowCounts[k]! += ruleRows[k]!;
      this.ruleCellCounts[k]! += ruleCells[k]!;
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
