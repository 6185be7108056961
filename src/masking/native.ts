// The native row masker (native/rows.c, native/detect.c): column rules and detectors over runs of PostgreSQL
// DataRows and MySQL text and binary rows, at a few times the speed of the JS maskers, which it must match
// byte for byte. It is built at install (`npm install` runs node-gyp; see package.json) when a C compiler is
// there; without it, or with SQLWARDEN_NATIVE=0, `nativeRowsLoaded` is false and the JS maskers do all the work.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryFixedSize, isTemporal } from '../wire/mysql/decode.js';
import type { MaskCounters } from './counters.js';
import { REDACTED, type StrategySpec } from './strategies.js';
import { detectorId, detectorKinds } from './detectors.js';
import type { DetectorStep } from './plan.js';

interface Addon {
  maskRows(io: Int32Array, plan: Int32Array, consts: Uint8Array, src: Uint8Array, out: Uint8Array): void;
}

const built = 'src/masking/native/build/Release/sqlwarden_rows.node';

function load(): Addon | null {
  if (process.env.SQLWARDEN_NATIVE === '0') return null;
  // The addon node-gyp built beside rows.c, found from this module in dist/masking/ (src/masking/ under
  // vitest, .tmp/bench/src/masking/ for the benches) by going up to the package root.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = path.dirname(dir)) {
    const file = path.join(dir, built);
    if (!existsSync(file)) continue;
    try {
      return createRequire(import.meta.url)(file) as Addon;
    } catch {
      return null; // built for another Node ABI or platform: the JS maskers do the work
    }
  }
  return null;
}

const addon = load();

/** Whether the native masker is loaded (for the start-up log and the tests). */
export const nativeRowsLoaded = addon !== null;

/** The addon's own entry point, for the tests of its argument checks; null when not loaded. */
export const rawMaskRows = addon?.maskRows ?? null;

// The io words rows.c reads and writes (see there).
const AT = 0;
const END = 1;
const POS = 2;
const WHY = 3;
const RUNS = 4;
const GUESSES = 5;
const FIRST_RUN = GUESSES + 31;
const MAX_RUNS = 64;

/** Why a run stopped before its end: out had no room for the next row, or that row is left to JS. */
export const FULL = 1;
export const LEAVE = 2;
/**
 * Room past a row's length and its masker's slack (RowMasker#slack) that the addon wants for the row: where a
 * long MySQL value is written before its length prefix is known. The addon works its bound out from the plan.
 */
export const nativeRowMargin = 9;

// The plan words rows.c reads (see there): [format, columns, kinds], a strategy per detector kind, then per
// column (op, a, b, shape).
const DETECTOR_WORDS = 3 * detectorKinds.length;
const PLAN_HEAD = 3 + DETECTOR_WORDS;
const COLUMN_WORDS = 4;
const PARTIAL = 1;
const EMAIL = 2;
const CONSTANT = 3;
const TO_NULL = 4;
const SCAN = 5;

/** What the native masker does with a column: its column rule's strategy, scan it, or leave it (undefined). */
export type NativeColumn = StrategySpec | 'scan' | undefined;

// How a binary row lays out a value (rows.c): its size when fixed, else one of these.
const TEMPORAL = -1; // a length byte and that many bytes: dates and times
const LENENC = -2; // an int<lenenc> string

function binaryValueShape(type: number): number {
  const fixed = binaryFixedSize(type);
  return fixed >= 0 ? fixed : isTemporal(type) ? TEMPORAL : LENENC;
}

/** A strategy's op words for the addon, its constant added to `consts`; null for one it has not (`hash`). */
function opWords(st: StrategySpec, consts: Buffer[]): number[] | null {
  switch (st.kind) {
    case 'partial':
      return [PARTIAL, st.keepFirst, st.keepLast];
    case 'email':
      return [EMAIL, 0, 0];
    case 'redact':
    case 'fixed': {
      const value = st.kind === 'redact' ? REDACTED : Buffer.from(st.value, 'utf8');
      const at = consts.reduce((n, b) => n + b.length, 0);
      consts.push(value);
      return [CONSTANT, at, value.length];
    }
    case 'null':
      return [TO_NULL, 0, 0];
    default:
      return null;
  }
}

/**
 * Masks runs of rows for one result: `run` masks whole row messages from src[at, end) into out from pos and
 * leaves `at`, `pos` and `why` where it stopped (at === end: all of them), the rows counted in `counters`.
 */
export class NativeRowRun {
  private readonly io: Int32Array;
  /** Rows are counted by their hits (plans that scan), not by the set of columns masked. */
  private readonly byHits: boolean;
  private readonly columns: number;
  at = 0;
  pos = 0;
  why = 0;

  private constructor(
    private readonly addon: Addon,
    private readonly plan: Int32Array,
    private readonly consts: Uint8Array,
    private readonly counters: MaskCounters,
    scans: boolean,
  ) {
    this.columns = plan[1]!;
    this.byHits = scans;
    this.io = new Int32Array(FIRST_RUN + (this.byHits ? 1 + this.columns : 2) * MAX_RUNS);
    // No column has a guess yet (see rows.c).
    this.io.fill(-1, GUESSES, FIRST_RUN);
  }

  /**
   * For a result whose masked columns are all masked in place (`columns`: see columnSteps), scanned ones by
   * `detectors`; null when the addon is not loaded, a strategy is not one it has (`hash`), or the rows would
   * be counted otherwise than it counts them. MySQL binary rows need the columns' types, to find values of
   * fixed size, dates and strings.
   */
  static for(
    format: 'pg' | 'mysql' | 'mysql-binary',
    columns: readonly NativeColumn[] | null,
    detectors: readonly DetectorStep[],
    counters: MaskCounters,
    types?: ArrayLike<number>,
  ): NativeRowRun | null {
    if (addon === null || columns === null || columns.length > 31) return null;
    const scans = columns.includes('scan');
    // Without a scan, rows are counted as the set of columns masked, which needs every column rule's cells
    // to count as a bit (MaskCounters#countsColumnsAsBits).
    if (!scans && !counters.countsColumnsAsBits) return null;
    const plan = new Int32Array(PLAN_HEAD + COLUMN_WORDS * columns.length);
    const consts: Buffer[] = [];
    plan[0] = format === 'pg' ? 0 : format === 'mysql' ? 1 : 2;
    plan[1] = columns.length;
    if (scans) {
      // The first detector step of a kind gives its strategy, as SpanMasker takes them.
      let kinds = 0;
      for (const d of detectors) {
        const k = detectorId[d.kind];
        if (kinds & (1 << k)) continue;
        const words = opWords(d.strategy, consts);
        if (words === null) return null;
        plan.set(words, 3 + 3 * k);
        kinds |= 1 << k;
      }
      plan[2] = kinds;
    }
    for (let i = 0; i < columns.length; i++) {
      const step = columns[i];
      const w = PLAN_HEAD + COLUMN_WORDS * i;
      if (format === 'mysql-binary') {
        const shape = binaryValueShape(types![i]!);
        // A masked value must be a string where it lies (the addon refuses a plan with another).
        if (step !== undefined && shape !== LENENC) return null;
        plan[w + 3] = shape;
      }
      if (step === undefined) continue;
      if (step === 'scan') {
        plan[w] = SCAN;
        continue;
      }
      const words = opWords(step, consts);
      if (words === null) return null;
      plan.set(words, w);
    }
    return new NativeRowRun(addon, plan, Buffer.concat(consts), counters, scans);
  }

  run(src: Buffer, at: number, end: number, out: Buffer, pos: number): void {
    const io = this.io;
    io[AT] = at;
    io[END] = end;
    io[POS] = pos;
    this.addon.maskRows(io, this.plan, this.consts, src, out);
    this.at = io[AT]!;
    this.pos = io[POS]!;
    this.why = io[WHY]!;
    const runs = io[RUNS]!;
    if (this.byHits) {
      const record = 1 + this.columns;
      for (let k = 0; k < runs; k++) this.counters.endRowsWithHits(io, FIRST_RUN + record * k + 1, this.columns, io[FIRST_RUN + record * k]!);
    } else for (let k = 0; k < runs; k++) this.counters.endRowsWith(io[FIRST_RUN + 2 * k]!, io[FIRST_RUN + 2 * k + 1]!);
  }
}
