// Seeds `bench_pii`, a table of realistic personal data, in PostgreSQL and MySQL/MariaDB, once: a table that
// is already there with the asked-for row count is kept. Rows are generated here (deterministic), written to
// one TSV file and bulk-loaded by each server's own loader (psql \copy, LOAD DATA LOCAL INFILE), which is
// much faster than INSERTs. pgbench's tables live in their own database, `bench`.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mariadbArgs, mariadbValue, pgEnv, psqlValue, run, type Db } from './db.js';

export const table = 'bench_pii';
/** pgbench -i scale: 100,000 accounts, enough that point selects do not all hit one page. */
const pgbenchScale = 1;
export const pgbenchDatabase = 'bench';

const firstNames = ['Jane', 'John', 'Zoë', 'Ørjan', 'Amélie', 'Wei', 'Fatima', 'Carlos', 'Olga', 'Kenji', 'Priya', 'Liam', 'Siobhán', 'Ahmed'];
const lastNames = ['Doe', 'Smith', 'Müller', 'García', 'Nakamura', 'Okafor', 'Kowalski', 'Johansson', 'Rossi', 'Dubois', "O'Brien", 'Nguyen'];
const domains = ['example.com', 'mail.example.org', 'corp.example.net', 'x.io'];

let state = 7;
const rand = (n: number) => {
  state = (state * 1103515245 + 12345) & 0x7fffffff;
  return state % n;
};

/** A 16-digit Visa-like number that passes the Luhn check, as a card detector wants. */
function card(): string {
  const d = [4];
  for (let i = 0; i < 14; i++) d.push(rand(10));
  let sum = 0;
  // Digits from the right, check digit excluded: every second one (starting with the rightmost) doubled.
  for (let i = 0; i < 15; i++) {
    let v = d[14 - i]!;
    if (i % 2 === 0) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
    sum += v;
  }
  d.push((10 - (sum % 10)) % 10);
  return d.join('');
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const epoch2023 = Date.UTC(2023, 0, 1) / 1000;

function row(id: number): string {
  const first = firstNames[rand(firstNames.length)]!;
  const last = lastNames[rand(lastNames.length)]!;
  const email = `${first.toLowerCase()}.${last.toLowerCase().replace("'", '')}${id % 1000}@${domains[rand(domains.length)]}`;
  const ssn = `${pad(100 + rand(565), 3)}-${pad(1 + rand(99), 2)}-${pad(1 + rand(9999), 4)}`;
  const t = new Date((epoch2023 + id * 31 + rand(30)) * 1000).toISOString();
  const created = `${t.slice(0, 10)} ${t.slice(11, 19)}`;
  const amount = `${rand(100000)}.${pad(rand(100), 2)}`;
  return `${id}\t${email}\t${first} ${last}\t${ssn}\t${card()}\t${created}\t${amount}\n`;
}

function writeTsv(file: string, rows: number): void {
  state = 7;
  const fd = openSync(file, 'w');
  try {
    let chunk = '';
    for (let id = 1; id <= rows; id++) {
      chunk += row(id);
      if (chunk.length > 1 << 20) {
        writeSync(fd, chunk);
        chunk = '';
      }
    }
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

async function pgCount(db: Db, sql: string): Promise<number> {
  return Number(await psqlValue(db, sql).catch(() => '-1'));
}

async function myCount(db: Db, sql: string): Promise<number> {
  return Number(await mariadbValue(db, sql).catch(() => '-1'));
}

/** Seeds what is missing; says what it did through `say`. */
export async function seed(pg: Db, my: Db | undefined, rows: number, say: (line: string) => void): Promise<void> {
  const pgOk = (await pgCount(pg, `SELECT count(*) FROM ${table}`)) === rows;
  const myOk = !my || (await myCount(my, `SELECT count(*) FROM ${table}`)) === rows;
  if (!pgOk || !myOk) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-bench-seed-'));
    const file = path.join(dir, `${table}.tsv`);
    try {
      say(`seeding ${table} with ${rows} rows (once)`);
      writeTsv(file, rows);
      if (!pgOk) {
        const ddl =
          `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id bigint PRIMARY KEY, email text NOT NULL, full_name text NOT NULL, ` +
          'ssn text NOT NULL, card text NOT NULL, created_at timestamptz NOT NULL, amount numeric(12,2) NOT NULL)';
        await run('psql', ['-v', 'ON_ERROR_STOP=1', '-qc', ddl, '-c', `\\copy ${table} FROM '${file}'`, '-c', `VACUUM ANALYZE ${table}`], pgEnv(pg));
        say(`  postgres: ${table} seeded`);
      }
      if (my && !myOk) {
        const ddl =
          `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id bigint PRIMARY KEY, email varchar(255) NOT NULL, full_name varchar(255) NOT NULL, ` +
          'ssn varchar(11) NOT NULL, card varchar(19) NOT NULL, created_at datetime NOT NULL, amount decimal(12,2) NOT NULL) DEFAULT CHARSET=utf8mb4; ' +
          `LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${table} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'; ANALYZE TABLE ${table}`;
        await run('mariadb', ['--local-infile=1', ...mariadbArgs(my), '-e', ddl]);
        say(`  mysql: ${table} seeded`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  await seedPgbench(pg, say);
}

async function seedPgbench(pg: Db, say: (line: string) => void): Promise<void> {
  const bench = { ...pg, database: pgbenchDatabase };
  if ((await psqlValue(pg, `SELECT count(*) FROM pg_database WHERE datname = '${pgbenchDatabase}'`)) === '0') {
    await psqlValue(pg, `CREATE DATABASE ${pgbenchDatabase}`);
  }
  if ((await pgCount(bench, 'SELECT count(*) FROM pgbench_accounts')) === pgbenchScale * 100_000) return;
  say(`initializing pgbench tables in database ${pgbenchDatabase} (once)`);
  await run('pgbench', ['-i', '-q', '-s', String(pgbenchScale)], pgEnv(bench));
}
