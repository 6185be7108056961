// Two sqlwarden builds side by side, reads alternating between them: the proxy's own CPU per read (from /proc)
// and rows/s, for one masking scenario and one client. On a shared machine whose speed drifts by 20% within
// an hour, this is how a change is measured: A and B in one window, under the same load.
//
//   npm run bench:ab -- --a ../base --b . [--masking detect] [--client pg-raw] [--table bench_pii] [--pairs 6]
//   npm run bench:ab -- --a ../base --b . --small pgbench-prepared-8 [--seconds 3]
//   npm run bench:ab -- --a ../base --b . --workers 2 --idle 1500   (a pause before each read, as between queries)
//
// --small runs one of the small-query tests of `npm run bench` instead of a bulk read: the proxy's CPU per
// statement (µs) and TPS, which is what a statement's framing, classification, policy and audit cost.
//
// --a / --b name checkouts whose dist/ is built (for an older commit: git worktree add ../base <commit>, link
// node_modules into it, npx tsc -p tsconfig.build.json there). The table must exist (npm run bench seeds it).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dbFromUrl, defaultMysqlUrl, defaultPgUrl } from './db.js';
import { abClients, bulkProtocol, readTable, type BulkClient } from './bulk.js';
import { pgbenchDatabase } from './seed.js';
import { runSmall, smallTests } from './small.js';
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
    offload: { type: 'string' },
    small: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '0' },
  },
});
if (!values.a || !values.b) {
  throw new Error(
    'usage: npm run bench:ab -- --a DIR --b DIR [--masking none|columns|detect] [--client pg-raw|mysql2|mysql2-execute|psql|mariadb | --small TEST [--seconds S]] [--table T] [--pairs N] [--workers N [--offload auto|always]] [--idle MS]',
  );
}
const client = values.client as BulkClient;
if (!abClients.includes(client)) throw new Error(`--client: one of ${abClients.join(', ')}`);
const small = values.small === undefined ? undefined : smallTests.find((t) => t.id === values.small);
if (values.small !== undefined && !small) throw new Error(`--small: one of ${smallTests.map((t) => t.id).join(', ')}`);
const masking = values.masking as Masking;
const pairs = Number(values.pairs);
const pg = dbFromUrl(defaultPgUrl(), { port: 5432, user: 'postgres' });
const my = dbFromUrl(defaultMysqlUrl(), { port: 3306, user: 'root' });
const main = (dir: string) => path.resolve(dir, 'dist/main.js');
const workers = Number(values.workers);
const offload = values.offload as 'auto' | 'always' | undefined;
if (offload !== undefined && offload !== 'auto' && offload !== 'always') throw new Error('--offload: auto or always');
const started = await startTargets(pg, my, [
  { id: 'A', label: values.a, masking, workers, offload, main: main(values.a) },
  { id: 'B', label: values.b, masking, workers, offload, main: main(values.b) },
]);
try {
  const ab = started.targets.filter((t) => t.kind === 'sqlwarden');
  const protocol = small ? small.protocol : bulkProtocol[client];
  const db = (t: Target) => {
    const base = protocol === 'mysql' ? my : small ? { ...pg, database: pgbenchDatabase } : pg;
    return { ...base, ...(protocol === 'postgres' ? t.pg : t.mysql) };
  };
  const seconds = Number(values.seconds);
  // One measurement: the proxy's CPU in ms, and how many rows (bulk) or statements (small) in how many ms.
  const idleMs = Number(values.idle);
  const measure = async (t: Target) => {
    // A pause first, as between a user's queries: what offload auto saw of the machine before the read counts.
    if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
    const c0 = cpuMs(t.pid!);
    if (small) {
      // bench_pii as npm run bench seeds it by default (the mysql2 loop picks ids in 1..1,000,000)
      const r = await runSmall(small, db(t), seconds, 1_000_000);
      return { cpu: cpuMs(t.pid!) - c0, count: r.transactions, ms: (r.transactions * 1000) / r.tps };
    }
    const read = await readTable(client, db(t), values.table!);
    return { cpu: cpuMs(t.pid!) - c0, count: read.rows, ms: read.ms };
  };
  for (const t of ab) await measure(t); // warm up both
  const cpu = new Map<string, number[]>(ab.map((t) => [t.id, []]));
  const rate = new Map<string, number[]>(ab.map((t) => [t.id, []]));
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first, so neither always runs right after the other.
    for (const t of i % 2 === 0 ? ab : [...ab].reverse()) {
      const m = await measure(t);
      // Small tests run for a fixed time, so their CPU is per statement (µs); a bulk read's is per read (ms).
      cpu.get(t.id)!.push(small ? Math.round((m.cpu * 1000) / m.count) : m.cpu);
      rate.get(t.id)!.push((m.count * 1000) / m.ms);
    }
  }
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
  if (small) console.log(`${small.label}, masking ${masking}, ${pairs} pairs of ${seconds} s; sqlwarden CPU per statement (µs), statements/s`);
  else console.log(`${client} reading ${values.table}, masking ${masking}, ${pairs} pairs; sqlwarden CPU per read (ms), rows/s`);
  for (const t of ab) {
    const c = cpu.get(t.id)!;
    console.log(`${t.id} ${t.label}: cpu ${c.join(' ')}  mean ${Math.round(mean(c))}  median ${small ? 'statements' : 'rows'}/s ${Math.round(median(rate.get(t.id)!)).toLocaleString('en-US')}`);
  }
} finally {
  await started.close();
}
