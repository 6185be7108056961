// `npm run bench`: what sqlwarden costs, measured against the database itself and against a plain TCP relay,
// in one run on one machine. See bench/README.md for what each figure means and how it is measured.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { bulkClients, bulkProtocol, readTable, type Read } from './bulk.js';
import { dbFromUrl, mariadbValue, psqlValue, via, type Db } from './db.js';
import { parseOptions, usage, type Options } from './options.js';
import {
  addRatios,
  bulkTable,
  goals,
  goalsText,
  processTable,
  ratioChart,
  smallTable,
  summarizeBulk,
  summarizeSmall,
  type BulkRow,
  type ProcessRow,
  type SmallRow,
} from './report.js';
import { pgbenchDatabase, seed, table } from './seed.js';
import { runSmall, smallTests, type Small } from './small.js';
import { cpuMs, repoRoot, rss, scenarios, startTargets, type Target } from './targets.js';

const began = Date.now();
const tty = process.stderr.isTTY;
let lastProgressLength = 0;

/** One progress line, rewritten in place on a terminal. */
function progress(text: string): void {
  const line = `[${String(Math.round((Date.now() - began) / 1000)).padStart(4)} s] ${text}`;
  if (tty) {
    process.stderr.write(`\r${line.padEnd(lastProgressLength)}`);
    lastProgressLength = line.length;
  } else process.stderr.write(`${line}\n`);
}

function say(text: string): void {
  if (tty && lastProgressLength) process.stderr.write('\n');
  lastProgressLength = 0;
  process.stderr.write(`${text}\n`);
}

/** Each round starts one target further along, so no target always runs first (cold) or last. */
const rotate = <T>(items: T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length]!);

const endpoint = (t: Target, protocol: 'postgres' | 'mysql') => (protocol === 'postgres' ? t.pg : t.mysql);

/** Runs `fn` and returns it with the proxy's CPU time spent meanwhile (ms); none for direct. */
async function withCpu<T>(t: Target, fn: () => Promise<T>): Promise<{ value: T; cpu?: number }> {
  const before = t.pid ? cpuMs(t.pid) : 0;
  const value = await fn();
  return t.pid ? { value, cpu: cpuMs(t.pid) - before } : { value };
}

// ---- is masking active? ----

const maskedColumns = ['email', 'ssn', 'card'] as const;

async function pgRow(db: Db): Promise<string[]> {
  const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, ssl: false });
  await client.connect();
  try {
    const r = await client.query({ text: `SELECT ${maskedColumns.join(', ')} FROM ${table} WHERE id = 1`, rowMode: 'array' });
    return (r.rows[0] as unknown[]).map(String);
  } finally {
    await client.end();
  }
}

async function myRow(db: Db): Promise<string[]> {
  const conn = await mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
  try {
    const [rows] = await conn.query({ sql: `SELECT ${maskedColumns.join(', ')} FROM ${table} WHERE id = 1`, rowsAsArray: true });
    return (rows as unknown[][])[0]!.map(String);
  } finally {
    await conn.end();
  }
}

/** "active" when email, ssn and card all differ from what the database holds, "not active" when none does. */
function maskingState(direct: string[], seen: string[]): string {
  const changed = seen.filter((v, i) => v !== direct[i]).length;
  return changed === maskedColumns.length ? 'active' : changed === 0 ? 'not active' : `partial (${changed} of ${maskedColumns.length})`;
}

async function checkMasking(targets: Target[], pgDb: Db, myDb: Db): Promise<Map<string, { postgres: string; mysql: string }>> {
  const directPg = await pgRow(pgDb);
  const directMy = await myRow(myDb);
  const states = new Map<string, { postgres: string; mysql: string }>();
  for (const t of targets) {
    if (t.masking === 'none') continue;
    const postgres = maskingState(directPg, await pgRow(via(pgDb, t.pg)).catch((e: Error) => [`error: ${e.message}`]));
    const mysqlState = maskingState(directMy, await myRow(via(myDb, t.mysql)).catch((e: Error) => [`error: ${e.message}`]));
    states.set(t.id, { postgres, mysql: mysqlState });
  }
  return states;
}

// ---- the masking engine alone ----

interface EngineResult {
  rows: number;
  bytesPerRow: number;
  seconds: number;
  figures: { id: string; label: string; mbPerSec: number; rowsPerSec: number }[];
}

/** masking-engine.js in a process of its own: a fresh JIT, and one core's figure undisturbed by this one. */
function runEngine(): EngineResult {
  const script = fileURLToPath(new URL('./masking-engine.js', import.meta.url));
  const out = execFileSync(process.execPath, [script, '--json'], { encoding: 'utf8', env: { ...process.env, BENCH_SECONDS: '2' } });
  return JSON.parse(out.trim().split('\n').pop()!) as EngineResult;
}

function engineTable(e: EngineResult): string {
  return e.figures.map((f) => `  ${f.label.padEnd(58)} ${f.mbPerSec.toFixed(1).padStart(8)} MB/s  ${(f.rowsPerSec / 1e6).toFixed(2).padStart(6)} M rows/s`).join('\n');
}

// ---- the run ----

/** The commit measured, and whether tracked files differed from it: what a reader of the figures asks first. */
function buildOf(): { commit: string; uncommittedChanges: boolean } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return { commit: git('rev-parse', '--short', 'HEAD'), uncommittedChanges: git('status', '--porcelain', '--untracked-files=no') !== '' };
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommittedChanges: false };
  }
}

async function machine(pgDb: Db, myDb: Db) {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    postgres: await psqlValue(pgDb, 'SHOW server_version'),
    mysql: await mariadbValue(myDb, 'SELECT version()'),
  };
}

async function main(opts: Options): Promise<void> {
  const pgDb = dbFromUrl(opts.pgUrl, { port: 5432, user: 'postgres' });
  const myDb = dbFromUrl(opts.mysqlUrl, { port: 3306, user: 'root' });
  if (!existsSync(path.join(repoRoot, 'dist/main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const host = await machine(pgDb, myDb);
  const build = buildOf();
  say(`sqlwarden bench: ${opts.rows.toLocaleString('en-US')} rows, ${opts.rounds} rounds, ${host.cores} cores (${host.cpu}), load ${host.loadAverageAtStart.join(' ')}`);
  let engine: EngineResult | undefined;
  if (opts.only.has('engine')) {
    progress('masking engine alone, one core (5 figures, 2 s each)');
    engine = runEngine();
  }
  await seed(pgDb, myDb, opts.rows, say);

  const started = await startTargets(pgDb, myDb, scenarios);
  const { targets } = started;
  const bulkSamples = new Map<string, { reads: Read[]; cpu: number[] }>();
  const smallSamples = new Map<string, { runs: Small[]; cpu: number[] }>();
  let masking = new Map<string, { postgres: string; mysql: string }>();
  let processes: ProcessRow[] = [];
  try {
    masking = await checkMasking(targets, pgDb, myDb);
    for (const [id, s] of masking) say(`masking check ${id}: postgres ${s.postgres}, mysql ${s.mysql}`);

    if (opts.only.has('bulk')) {
      const bulkTargets = targets.filter((t) => !t.smallOnly);
      const total = opts.rounds * bulkClients.length * bulkTargets.length;
      let done = 0;
      for (let round = 0; round < opts.rounds; round++) {
        for (const client of bulkClients) {
          for (const t of rotate(bulkTargets, round)) {
            progress(`bulk round ${round + 1}/${opts.rounds}: ${client} via ${t.id} (${++done}/${total})`);
            const db = via(bulkProtocol[client] === 'postgres' ? pgDb : myDb, endpoint(t, bulkProtocol[client]));
            const { value, cpu } = await withCpu(t, () => readTable(client, db, table));
            if (value.rows !== opts.rows) throw new Error(`${client} via ${t.id}: read ${value.rows} rows, expected ${opts.rows}`);
            const key = `${client}|${t.id}`;
            const s = bulkSamples.get(key) ?? { reads: [], cpu: [] };
            s.reads.push(value);
            if (cpu !== undefined) s.cpu.push(cpu);
            bulkSamples.set(key, s);
          }
        }
      }
    }

    if (opts.only.has('small')) {
      const smallTargets = targets.filter((t) => t.id === 'direct' || t.id === 'relay' || t.id === 'passthrough' || t.id === 'shipped-rules');
      const total = opts.rounds * smallTests.length * smallTargets.length;
      let done = 0;
      // One unmeasured second of each test through each target first: the proxies' code for statements (framing,
      // classification, audit) is compiled by then, as in a proxy that has run a while, and the first round's
      // figures are not its warm-up (a round of 1 s tests without it: pgbench -S simple at 1 client, 724 µs a
      // statement in sqlwarden).
      for (const test of smallTests) {
        progress(`small warm-up: ${test.id}`);
        for (const t of smallTargets) {
          const base = test.protocol === 'postgres' ? { ...pgDb, database: pgbenchDatabase } : myDb;
          await runSmall(test, via(base, endpoint(t, test.protocol)), 1, opts.rows);
        }
      }
      for (let round = 0; round < opts.rounds; round++) {
        for (const test of smallTests) {
          for (const t of rotate(smallTargets, round)) {
            progress(`small round ${round + 1}/${opts.rounds}: ${test.id} via ${t.id} (${++done}/${total})`);
            const base = test.protocol === 'postgres' ? { ...pgDb, database: pgbenchDatabase } : myDb;
            const { value, cpu } = await withCpu(t, () => runSmall(test, via(base, endpoint(t, test.protocol)), opts.seconds, opts.rows));
            const key = `${test.id}|${t.id}`;
            const s = smallSamples.get(key) ?? { runs: [], cpu: [] };
            s.runs.push(value);
            if (cpu !== undefined) s.cpu.push(cpu);
            smallSamples.set(key, s);
          }
        }
      }
    }
  } finally {
    processes = targets
      .filter((t) => t.pid)
      .map((t) => {
        try {
          return { target: t.id, cpuSeconds: cpuMs(t.pid!) / 1000, peakRssMb: rss(t.pid!).peak / 1e6 };
        } catch {
          return { target: t.id, cpuSeconds: NaN, peakRssMb: NaN };
        }
      });
    await started.close();
  }
  say(`done in ${Math.round((Date.now() - began) / 1000)} s`);

  const bulk: BulkRow[] = [];
  for (const client of bulkClients) {
    for (const t of targets) {
      const s = bulkSamples.get(`${client}|${t.id}`);
      if (!s) continue;
      const row = summarizeBulk(client, t.id, s.reads, s.cpu);
      const m = masking.get(t.id);
      if (m) row.masking = bulkProtocol[client] === 'postgres' ? m.postgres : m.mysql;
      bulk.push(row);
    }
  }
  addRatios(bulk, (r) => r.client);
  const small: SmallRow[] = [];
  for (const test of smallTests) {
    for (const t of targets) {
      const s = smallSamples.get(`${test.id}|${t.id}`);
      if (s) small.push(summarizeSmall(test.id, t.id, s.runs, s.cpu));
    }
  }
  addRatios(small, (r) => r.test);

  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const result = {
    date: new Date().toISOString(),
    build,
    machine: { ...host, loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
    options: { rows: opts.rows, rounds: opts.rounds, seconds: opts.seconds, only: [...opts.only] },
    targets: targets.map((t) => ({ id: t.id, label: t.label, masking: t.masking, workers: t.workers })),
    maskingCheck: Object.fromEntries(masking),
    bulk,
    small,
    processes,
    engine,
    goals: goals(bulk, small, engine?.figures),
    durationSeconds: Math.round((Date.now() - began) / 1000),
  };
  mkdirSync(opts.outDir, { recursive: true });
  const jsonFile = path.join(opts.outDir, `${date}.json`);
  const svgFile = path.join(opts.outDir, `${date}.svg`);
  writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n');
  const groups = [
    ...bulkClients.map((c) => ({ name: `bulk read, ${c} (rows/s vs direct)`, bars: bulk.filter((r) => r.client === c && r.target !== 'direct').map((r) => ({ target: r.target, ratio: r.vsDirect ?? NaN })) })),
    ...smallTests.map((t) => ({ name: `${t.label} (TPS vs direct)`, bars: small.filter((r) => r.test === t.id && r.target !== 'direct').map((r) => ({ target: r.target, ratio: r.vsDirect ?? NaN })) })),
  ].filter((g) => g.bars.length > 0);
  writeFileSync(svgFile, ratioChart(`sqlwarden bench ${result.date.slice(0, 10)}: ratio to a direct connection (${host.cores} cores, ${opts.rows.toLocaleString('en-US')} rows)`, groups));

  if (opts.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  const out: string[] = [];
  out.push(`build: ${build.commit}${build.uncommittedChanges ? ' with uncommitted changes' : ''}`);
  out.push(`machine: ${host.cores} cores ${host.cpu}, ${host.memoryGb} GiB, node ${host.node}, PostgreSQL ${host.postgres}, ${host.mysql}; load ${host.loadAverageAtStart.join(' ')} at start, ${result.machine.loadAverageAtEnd.join(' ')} at end`);
  out.push('targets:');
  for (const t of targets) out.push(`  ${t.id.padEnd(16)} ${t.label}`);
  if (bulk.length) {
    out.push('', `bulk: SELECT * / COPY of ${opts.rows.toLocaleString('en-US')} rows, median of ${opts.rounds} (MB/s min-max); ratios: median of each round's ratio; proxy CPU ms = the proxy process's CPU per read`);
    out.push(bulkTable(bulk));
  }
  if (small.length) {
    out.push('', `small queries: point selects, ${opts.seconds} s each, median of ${opts.rounds}; ratios: median of each round's ratio`);
    out.push(smallTable(small));
  }
  out.push('', 'proxy processes (CPU over the whole run, peak RSS)', processTable(processes));
  if (engine) out.push('', `masking engine alone, one core, no sockets (${engine.rows.toLocaleString('en-US')} rows of ${engine.bytesPerRow} bytes, MB/s of input frames)`, engineTable(engine));
  out.push('', 'ratios the project aims at (issue 7)', goalsText(result.goals));
  out.push('', `written: ${jsonFile}, ${svgFile}`);
  process.stdout.write(out.join('\n') + '\n');
}

let opts: Options | undefined;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${usage}\n`);
  process.exit(2);
}
if (!opts) {
  process.stdout.write(`${usage}\n`);
} else {
  main(opts).catch((err: unknown) => {
    say(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
