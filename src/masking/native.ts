// The native row masker (native/rows.c): column rules over runs of PostgreSQL DataRows and MySQL text rows,
// at a few times the speed of the JS maskers, which it must match byte for byte. It is built at install
// (`npm install` runs node-gyp; see package.json) when a C compiler is there; without it, or with
// SQLWARDEN_NATIVE=0, `nativeRows` is null and the JS maskers do all the work.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryFixedSize, isTemporal } from '../wire/mysql/decode.js';
import type { MaskCounters } from './counters.js';
import type { StrategySpec } from './strategies.js';

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
const FIRST_RUN = 5;
const MAX_RUNS = 64;

/** Why a run stopped before its end: out had no room for the next row, or that row is left to JS. */
export const FULL = 1;
export const LEAVE = 2;
/**
 * Room past a row's length and its masker's slack (RowMasker#slack) that the addon wants for the row: where a
 * long MySQL value is written before its length prefix is known. The addon works its bound out from the plan.
 */
export const nativeRowMargin = 9;

const COLUMN_WORDS = 4;
const PARTIAL = 1;
const EMAIL = 2;
const CONSTANT = 3;
const TO_NULL = 4;

/** How a binary row lays out a value of `type`: its size when fixed, -1 a date or time, -2 a string. */
function binaryValueShape(type: number): number {
  const fixed = binaryFixedSize(type);
  return fixed >= 0 ? fixed : isTemporal(type) ? -1 : -2;
}

/**
 * Masks runs of rows for one result: `run` masks whole row messages from src[at, end) into out from pos and
 * leaves `at`, `pos` and `why` where it stopped (at === end: all of them), the rows counted in `counters`.
 */
export class NativeRowRun {
  private readonly io = new Int32Array(FIRST_RUN + 2 * MAX_RUNS);
  at = 0;
  pos = 0;
  why = 0;

  private constructor(
    private readonly addon: Addon,
    private readonly plan: Int32Array,
    private readonly consts: Uint8Array,
    private readonly counters: MaskCounters,
  ) {}

  /**
   * For a result whose masked columns (strategies[i] set) are all written in place by column rules; null when
   * the addon is not loaded or a strategy is not one it has (`hash`). MySQL binary rows need the columns'
   * types, to find values of fixed size, dates and strings.
   */
  static for(
    format: 'pg' | 'mysql' | 'mysql-binary',
    strategies: readonly (StrategySpec | undefined)[] | null,
    counters: MaskCounters,
    types?: ArrayLike<number>,
  ): NativeRowRun | null {
    if (addon === null || strategies === null || strategies.length > 31) return null;
    const plan = new Int32Array(2 + COLUMN_WORDS * strategies.length);
    plan[0] = format === 'pg' ? 0 : format === 'mysql' ? 1 : 2;
    plan[1] = strategies.length;
    if (format === 'mysql-binary') {
      if (types === undefined || types.length !== strategies.length) return null;
      for (let i = 0; i < types.length; i++) {
        const shape = binaryValueShape(types[i]!);
        // A masked value must be a string where it lies (the addon refuses a plan with another).
        if (strategies[i] !== undefined && shape !== -2) return null;
        plan[2 + COLUMN_WORDS * i + 3] = shape;
      }
    }
    const consts: Buffer[] = [];
    let constBytes = 0;
    for (let i = 0; i < strategies.length; i++) {
      const st = strategies[i];
      if (st === undefined) continue;
      const w = 2 + COLUMN_WORDS * i;
      switch (st.kind) {
        case 'partial':
          plan.set([PARTIAL, st.keepFirst, st.keepLast], w);
          break;
        case 'email':
          plan[w] = EMAIL;
          break;
        case 'redact':
        case 'fixed': {
          const value = Buffer.from(st.kind === 'redact' ? '****' : st.value, 'utf8');
          plan.set([CONSTANT, constBytes, value.length], w);
          consts.push(value);
          constBytes += value.length;
          break;
        }
        case 'null':
          plan[w] = TO_NULL;
          break;
        default:
          return null;
      }
    }
    return new NativeRowRun(addon, plan, Buffer.concat(consts), counters);
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
    for (let k = 0; k < runs; k++) this.counters.endRowsWith(io[FIRST_RUN + 2 * k]!, io[FIRST_RUN + 2 * k + 1]!);
  }
}
