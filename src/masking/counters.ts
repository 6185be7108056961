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

/**
 * Per-rule counters of one result. Rules are numbered from the plan (column rules, then detector rules), so
 * a worker's counters for a batch line up with the stage's and are added as two arrays.
 */
export class MaskCounters {
  rows = 0;
  readonly rules: readonly string[];
  readonly ruleRows: Uint32Array;
  readonly ruleCells: Uint32Array;
  /** The row number each rule was last counted in, so a rule counts a row once. */
  private readonly lastRow: Float64Array;
  private readonly columnRule: Int32Array;
  private readonly detectorRule: Int32Array;

  constructor(spec: PlanSpec) {
    const names: string[] = [];
    const index = (name: string) => {
      const k = names.indexOf(name);
      return k >= 0 ? k : names.push(name) - 1;
    };
    this.columnRule = Int32Array.from(spec.columns, (c) => (c !== null && 'rule' in c ? index(c.rule) : -1));
    this.detectorRule = new Int32Array(detectorKinds.length).fill(-1);
    for (const d of spec.detectors) this.detectorRule[detectorId[d.kind]] = index(d.rule);
    this.rules = names;
    this.ruleRows = new Uint32Array(names.length);
    this.ruleCells = new Uint32Array(names.length);
    this.lastRow = new Float64Array(names.length).fill(-1);
  }

  /** Column `column`'s value was masked; `detected`: the detectors that matched in it (scanned columns). */
  cell(column: number, detected: KindSet): void {
    const r = this.columnRule[column];
    if (r !== undefined && r >= 0) return this.bump(r);
    for (let set = detected; set !== 0; set &= set - 1) {
      const k = this.detectorRule[31 - Math.clz32(set & -set)]!;
      if (k >= 0) this.bump(k);
    }
  }

  endRow(): void {
    this.rows++;
  }

  private bump(r: number): void {
    this.ruleCells[r]!++;
    if (this.lastRow[r] !== this.rows) {
      this.lastRow[r] = this.rows;
      this.ruleRows[r]!++;
    }
  }

  /** Adds a batch's counts (from the worker). */
  add(rows: number, ruleRows: ArrayLike<number>, ruleCells: ArrayLike<number>): void {
    this.rows += rows;
    for (let k = 0; k < this.rules.length; k++) {
      this.ruleRows[k]! += ruleRows[k]!;
      this.ruleCells[k]! += ruleCells[k]!;
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
