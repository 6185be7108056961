// Classification throughput, statements per second, PostgreSQL and MySQL, short and ~2 KB statements:
//   cold    classify() on a text never seen: every parser runs (MySQL's node-sql-parser cache emptied)
//   values  classify() on a new text each call that differs only in a literal (ORM with inlined values)
//   cached  Classifier.classify() on the same text again: the LRU hit path
//
// Run (no TS runner is installed; the project's tsc compiles it next to node_modules so imports resolve):
//   npx tsc -p tsconfig.json --outDir node_modules/.cache/sqlwarden-bench && node node_modules/.cache/sqlwarden-bench/bench/classify.js
import { Classifier, classify, loadClassifier, type ClassifyContext } from '../src/classify/index.js';
import { parseCache } from '../src/classify/mysql-parse.js';

const pg: ClassifyContext = { dialect: 'postgres' };
const my: ClassifyContext = { dialect: 'mysql', serverVersion: 101106, mariadb: true, noBackslashEscapes: false, ansiQuotes: false };

const shortPg = 'SELECT "users".* FROM "users" WHERE "users"."id" = 42 LIMIT 1';
const shortMy = 'SELECT `users`.* FROM `users` WHERE `users`.`id` = 42 LIMIT 1';

/** A reporting query of about 2 KB: many columns, joins, a CASE, an IN list. */
function longQuery(q: (name: string) => string): string {
  const cols = Array.from({ length: 38 }, (_, i) => `${q('o')}.${q(`column_number_${i}`)} AS ${q(`c${i}`)}`).join(', ');
  const ids = Array.from({ length: 60 }, (_, i) => 1000 + i).join(', ');
  const sql =
    `SELECT ${cols}, CASE WHEN ${q('o')}.${q('total')} > 1000 THEN 'large' WHEN ${q('o')}.${q('total')} > 100 THEN 'medium' ELSE 'small' END AS ${q('size')} ` +
    `FROM ${q('orders')} ${q('o')} JOIN ${q('customers')} ${q('c')} ON ${q('c')}.${q('id')} = ${q('o')}.${q('customer_id')} ` +
    `LEFT JOIN ${q('shipments')} ${q('s')} ON ${q('s')}.${q('order_id')} = ${q('o')}.${q('id')} ` +
    `WHERE ${q('o')}.${q('status')} IN ('paid', 'shipped', 'delivered') AND ${q('o')}.${q('id')} IN (${ids}) ` +
    `AND ${q('c')}.${q('email')} LIKE '%@example.com' ORDER BY ${q('o')}.${q('created_at')} DESC LIMIT 100`;
  return sql;
}
const longPg = longQuery((n) => `"${n}"`);
const longMy = longQuery((n) => `\`${n}\``);

function measure(fn: () => void, minMs = 1000): number {
  for (let i = 0; i < 20; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n * 1000) / elapsed;
}

async function main(): Promise<void> {
  await loadClassifier();
  const rows: [string, string, number, string, number][] = [];
  let n = 0;
  for (const [dialect, ctx, short, long] of [
    ['postgres', pg, shortPg, longPg],
    ['mysql', my, shortMy, longMy],
  ] as const) {
    for (const [size, sql] of [
      ['short', short],
      ['long', long],
    ] as const) {
      const cold = measure(() => {
        parseCache.clear();
        classify(sql, ctx);
      });
      // Every text has a literal (42, 1000...) to vary.
      const values = measure(() => classify(sql.replace(/\b(42|1000)\b/, String(++n)), ctx));
      const classifier = new Classifier();
      const cached = measure(() => classifier.classify(sql, ctx));
      rows.push([dialect, size, sql.length, 'cold', cold], [dialect, size, sql.length, 'values', values], [dialect, size, sql.length, 'cached', cached]);
    }
  }
  console.log('dialect   size   bytes  path       statements/s');
  for (const [dialect, size, bytes, path, rate] of rows) {
    console.log(`${dialect.padEnd(9)} ${size.padEnd(6)} ${String(bytes).padStart(5)}  ${path.padEnd(9)} ${Math.round(rate).toLocaleString('en-US').padStart(13)}`);
  }
}

await main();
