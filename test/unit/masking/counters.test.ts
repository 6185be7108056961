// MaskCounters counts column rules by runs of rows that masked the same columns, and rows given as a hits
// array by runs of equal rows; these tests hold it to a
// plain per-cell count (each rule counts a row once, and every masked cell), for random sequences of rows
// that mix column rules, a rule over several columns, columns past the 31 a bit set holds, detectors, a
// rule name shared by a column rule and a detector, and reads of the totals in the middle of a run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MaskCounters } from '../../../src/masking/counters.js';
import { detectorId } from '../../../src/masking/detectors.js';
import type { PlanSpec } from '../../../src/masking/plan.js';

const partial = { kind: 'partial', keepFirst: 0, keepLast: 4 } as const;

/** 40 columns: 0 email, 1-2 one rule over two columns, 3 shares its rule's name with the card detector, 35 past the bit set, 36 scanned. */
function spec(): PlanSpec {
  const columns: PlanSpec['columns'] = Array.from({ length: 40 }, () => null);
  columns[0] = { rule: 'email', strategy: { kind: 'email' } };
  columns[1] = { rule: 'names', strategy: partial };
  columns[2] = { rule: 'names', strategy: partial };
  columns[3] = { rule: 'pii', strategy: partial };
  columns[35] = { rule: 'far', strategy: partial };
  columns[36] = { scan: true };
  return {
    columns,
    detectors: [
      { kind: 'credit_card', rule: 'pii', strategy: partial },
      { kind: 'email', rule: 'found-email', strategy: partial },
    ],
  };
}

/** The reference: every cell looked up, rows deduplicated per rule with a set. */
class Reference {
  rows = 0;
  counts = new Map<string, { rows: number; cells: number }>();
  private row = new Set<string>();
  constructor(private readonly s: PlanSpec) {}
  cell(column: number, detected: number): void {
    const step = this.s.columns[column];
    if (step != null && 'rule' in step) return this.bump(step.rule);
    for (const d of this.s.detectors) if (detected & (1 << detectorId[d.kind])) this.bump(d.rule);
  }
  private bump(rule: string): void {
    const c = this.counts.get(rule) ?? { rows: 0, cells: 0 };
    c.cells++;
    if (!this.row.has(rule)) c.rows++;
    this.row.add(rule);
    this.counts.set(rule, c);
  }
  endRow(): void {
    this.rows++;
    this.row.clear();
  }
  snapshot() {
    const rules = Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
    const maskedCells = [...this.counts.values()].reduce((n, c) => n + c.cells, 0);
    return { rows: this.rows, maskedCells, rules };
  }
}

const sorted = (snap: ReturnType<MaskCounters['snapshot']>) => ({ ...snap, rules: Object.fromEntries(Object.entries(snap.rules).sort(([a], [b]) => a.localeCompare(b))) });

const CARD = 1 << detectorId.credit_card;
const EMAIL = 1 << detectorId.email;
// A row: the cells masked in it, as [column, detectors]. Few distinct rows, so runs of equal rows happen.
const rowShapes: [number, number][][] = [
  [],
  [[0, 0]],
  [[0, 0], [1, 0], [2, 0]],
  [[1, 0], [3, 0], [36, CARD]],
  [[2, 0], [35, 0]],
  [[36, CARD | EMAIL], [0, 0]],
  [[3, 0], [36, CARD]],
];

describe('MaskCounters', () => {
  it('counts as a per-cell count does, across runs, shared names and columns past 31, cell by cell or a row of hits at a time', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: rowShapes.length - 1 }), fc.nat({ max: 6 }), fc.boolean(), fc.boolean()), { maxLength: 60 }), (rows) => {
        const counters = new MaskCounters(spec());
        const reference = new Reference(spec());
        // The row maskers' hits array: -1 for a cell not masked, reused row after row.
        const hits = new Int32Array(40);
        for (const [shape, repeat, peek, byHits] of rows) {
          for (let k = 0; k <= repeat; k++) {
            hits.fill(-1);
            for (const [column, detected] of rowShapes[shape]!) {
              if (byHits) hits[column] = detected;
              else counters.cell(column, detected);
              reference.cell(column, detected);
            }
            if (byHits) counters.endRowWithHits(hits, hits.length);
            else counters.endRow();
            reference.endRow();
          }
          if (peek) expect(sorted(counters.snapshot())).toEqual(reference.snapshot());
        }
        expect(sorted(counters.snapshot())).toEqual(reference.snapshot());
      }),
      { numRuns: 300 },
    );
  });

  it('hands a worker totals that include the run under way, and adds them up on the other side', () => {
    const worker = new MaskCounters(spec());
    for (let k = 0; k < 5; k++) {
      worker.cell(1, 0);
      worker.cell(2, 0);
      worker.endRow();
    }
    const stage = new MaskCounters(spec());
    stage.add(worker.rows, worker.ruleRows, worker.ruleCells);
    expect(stage.snapshot()).toEqual({ rows: 5, maskedCells: 10, rules: { names: { rows: 5, cells: 10 } } });
  });
});
