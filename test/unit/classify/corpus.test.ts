// The labelled corpus (test/fixtures/classify): ORM, CLI and dump traffic plus evasion attempts. The gate
// holds ddl/export/grant/unknown, so a dangerous statement classified read/write/session is a hole: zero
// allowed. A legitimate statement classified stricter is a needless hold: at most 2%.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { classify, loadClassifier, strictness, type Category, type ClassifyContext, type Dialect } from '../../../src/classify/index.js';

interface Entry {
  line: number;
  expected: Category[];
  options: string[];
  sql: string;
}

function readCorpus(file: string): Entry[] {
  const entries: Entry[] = [];
  let current: Entry | undefined;
  const lines = readFileSync(new URL(`../../fixtures/classify/${file}`, import.meta.url), 'utf8').split('\n');
  lines.forEach((text, i) => {
    if (text.startsWith('=== ')) {
      const [cats, opts = ''] = text.slice(4).split('|');
      current = {
        line: i + 1,
        expected: cats!.split(',').map((c) => c.trim() as Category),
        options: opts.trim().split(/\s+/).filter(Boolean),
        sql: '',
      };
      entries.push(current);
    } else if (current) {
      current.sql += (current.sql ? '\n' : '') + text;
    }
  });
  for (const e of entries) e.sql = e.sql.replace(/\n+$/, '');
  return entries;
}

function contextFor(dialect: Dialect, options: string[]): ClassifyContext {
  if (dialect === 'postgres') {
    const enc = options.find((o) => o.startsWith('enc='));
    return { dialect, standardConformingStrings: !options.includes('scs=off'), ...(enc ? { clientEncoding: enc.slice(4) } : {}) };
  }
  const mysql8 = options.includes('mysql8');
  const unknownMode = options.includes('unknown-mode');
  const charset = options.find((o) => o.startsWith('charset='));
  return {
    dialect,
    serverVersion: mysql8 ? 80036 : 101106,
    mariadb: !mysql8,
    noBackslashEscapes: unknownMode ? undefined : options.includes('nbe'),
    ansiQuotes: unknownMode ? undefined : options.includes('ansi'),
    ...(charset ? { charset: charset.slice(8) } : {}),
  };
}

const dangerous = (c: Category) => c === 'ddl' || c === 'export' || c === 'grant' || c === 'unknown';

interface Outcome {
  dangerous: number;
  missedDangerous: string[];
  legitimate: number;
  stricterLegitimate: string[];
  laxerLegitimate: string[];
  mismatches: string[];
  statements: number;
}

function run(dialect: Dialect, file: string): Outcome {
  const out: Outcome = { dangerous: 0, missedDangerous: [], legitimate: 0, stricterLegitimate: [], laxerLegitimate: [], mismatches: [], statements: 0 };
  for (const e of readCorpus(file)) {
    const got = classify(e.sql, contextFor(dialect, e.options));
    const where = `${file}:${e.line}`;
    if (got.length !== e.expected.length) {
      out.mismatches.push(`${where}: expected ${e.expected.length} statements [${e.expected}], got ${got.length} [${got.map((g) => g.category)}]: ${e.sql}`);
    }
    e.expected.forEach((want, i) => {
      // A statement the classifier did not find counts as classified `read`: the laxest answer.
      const st = got[i];
      const have: Category = st?.category ?? 'read';
      const line = `${where} #${i + 1}: expected ${want}, got ${have} (${st?.kind ?? 'missing'}${st?.reason ? `: ${st.reason}` : ''}): ${st?.text ?? e.sql}`;
      out.statements++;
      if (have !== want) out.mismatches.push(line);
      if (dangerous(want)) {
        out.dangerous++;
        if (!dangerous(have)) out.missedDangerous.push(line);
      } else {
        out.legitimate++;
        if (strictness[have] > strictness[want]) out.stricterLegitimate.push(line);
        if (strictness[have] < strictness[want]) out.laxerLegitimate.push(line);
      }
    });
  }
  return out;
}

describe('classification corpus', () => {
  beforeAll(async () => {
    await loadClassifier();
  });

  const results: Record<Dialect, Outcome | undefined> = { postgres: undefined, mysql: undefined };

  for (const [dialect, file] of [
    ['postgres', 'postgres.txt'],
    ['mysql', 'mysql.txt'],
  ] as const) {
    it(`${dialect}: no dangerous statement is classified read, write or session`, () => {
      const r = run(dialect, file);
      results[dialect] = r;
      console.log(
        `${dialect}: ${r.statements} statements; dangerous missed ${r.missedDangerous.length}/${r.dangerous}; ` +
          `legitimate classified stricter ${r.stricterLegitimate.length}/${r.legitimate} ` +
          `(${((100 * r.stricterLegitimate.length) / r.legitimate).toFixed(2)}%), laxer ${r.laxerLegitimate.length}`,
      );
      for (const m of r.mismatches) console.log(`mismatch ${m}`);
      expect(r.missedDangerous).toEqual([]);
    });

    it(`${dialect}: no legitimate statement is classified laxer than labelled`, () => {
      const r = results[dialect] ?? run(dialect, file);
      expect(r.laxerLegitimate).toEqual([]);
    });

    it(`${dialect}: at most 2% of legitimate statements are classified stricter`, () => {
      const r = results[dialect] ?? run(dialect, file);
      expect(r.stricterLegitimate.length / r.legitimate).toBeLessThanOrEqual(0.02);
    });
  }

  it('has at least 300 labelled statements across both dialects', () => {
    const total = readCorpus('postgres.txt').concat(readCorpus('mysql.txt')).reduce((n, e) => n + e.expected.length, 0);
    expect(total).toBeGreaterThanOrEqual(300);
  });
});
