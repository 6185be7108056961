// Two sqlwarden builds side by side, reads alternating between them: the proxy's own CPU per read (from /proc)
// and rows/s, for one masking scenario and one client. On a shared machine whose speed drifts by 20% within
// an hour, this is how a change is measured: A and B in one window, under the same load.
//
//   npm run bench:ab -- --a ../base --b . [--masking detect] [--client pg-raw] [--table bench_pii] [--pairs 6]
//
// --a / --b name checkouts whose dist/ is built (for an older commit: git worktree add ../base <commit>, link
// node_modules into it, npx tsc -p tsconfig.build.json there). The table must exist (npm run bench seeds it).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dbFromUrl, defaultMysqlUrl, defaultPgUrl } from './db.js';
import { bulkClients, bulkProtocol, readTable, type BulkClient } from './bulk.js';
import { cpuMs, startTargets, type Masking, type Target } from './targets.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    masking: { type: 'string', default: 'detect' },
    client: { type: 'string', default: 'pg-raw' },
    table: { type: 'string', default: 'bench_pii' },
    pairs: { type: 'string', default: '6' },
    workers: { type: 'string', default: '0' },
  },
});
if (!values.a || !values.b) throw new Error('usage: npm run bench:ab -- --a DIR --b DIR [--masking none|columns|detect] [--client pg-raw|mysql2|psql|mariadb] [--table T] [--pairs N] [--workers N]');
const client = values.client as BulkClient;
if (!bulkClients.includes(client)) throw new Error(`--client: one of ${bulkClients.join(', ')}`);
const masking = values.masking as Masking;
const pairs = Number(values.pairs);
const pg = dbFromUrl(defaultPgUrl(), { port: 5432, user: 'postgres' });
const my = dbFromUrl(defaultMysqlUrl(), { port: 3306, user: 'root' });
const main = (dir: string) => path.resolve(dir, 'dist/main.js');
const workers = Number(values.workers);
const started = await startTargets(pg, my, [
  { id: 'A', label: values.a, masking, workers, main: main(values.a) },
  { id: 'B', label: values.b, masking, workers, main: main(values.b) },
]);
try {
  const ab = started.targets.filter((t) => t.kind === 'sqlwarden');
  const db = (t: Target) => {
    const base = bulkProtocol[client] === 'postgres' ? pg : my;
    return { ...base, ...(bulkProtocol[client] === 'postgres' ? t.pg : t.mysql) };
  };
  for (const t of ab) await readTable(client, db(t), values.table!); // warm up both
  const cpu = new Map<string, number[]>(ab.map((t) => [t.id, []]));
  const rate = new Map<string, number[]>(ab.map((t) => [t.id, []]));
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, so neither always reads right after the other.
    for (const t of i % 2 === 0 ? ab : [...ab].reverse()) {
      const c0 = cpuMs(t.pid!);
      const read = await readTable(client, db(t), values.table!);
      cpu.get(t.id)!.push(cpuMs(t.pid!) - c0);
      rate.get(t.id)!.push((read.rows * 1000) / read.ms);
    }
  }
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
  console.log(`${client} reading ${values.table}, masking ${masking}, ${pairs} pairs; sqlwarden CPU per read (ms), rows/s`);
  for (const t of ab) {
    const c = cpu.get(t.id)!;
    console.log(`${t.id} ${t.label}: cpu ${c.join(' ')}  mean ${Math.round(mean(c))}  median rows/s ${Math.round(median(rate.get(t.id)!)).toLocaleString('en-US')}`);
  }
} finally {
  await started.close();
}
