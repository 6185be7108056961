// Small queries: point selects, where a proxy's per-message cost (framing, classification, policy, audit)
// shows rather than its bandwidth.
//   pgbench   -S (SELECT abalance FROM pgbench_accounts WHERE aid = :aid), -M simple or prepared, 1 or 8
//             clients, -T seconds; TPS as pgbench reports it (without connection time); p50/p99 from its
//             per-transaction log (-l).
//   mysql2    N connections, each a loop of `SELECT * FROM bench_pii WHERE id = <random>` (text protocol).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { pgEnv, run, type Db } from './db.js';

export interface Small {
  tps: number;
  p50Ms: number;
  p99Ms: number;
  transactions: number;
}

export interface SmallTest {
  id: string;
  label: string;
  protocol: 'postgres' | 'mysql';
  clients: number;
  mode?: 'simple' | 'prepared';
}

export const smallTests: SmallTest[] = [
  { id: 'pgbench-simple-1', label: 'pgbench -S -M simple -c 1', protocol: 'postgres', clients: 1, mode: 'simple' },
  { id: 'pgbench-simple-8', label: 'pgbench -S -M simple -c 8', protocol: 'postgres', clients: 8, mode: 'simple' },
  { id: 'pgbench-prepared-1', label: 'pgbench -S -M prepared -c 1', protocol: 'postgres', clients: 1, mode: 'prepared' },
  { id: 'pgbench-prepared-8', label: 'pgbench -S -M prepared -c 8', protocol: 'postgres', clients: 8, mode: 'prepared' },
  { id: 'mysql2-1', label: 'mysql2 point select, 1 conn', protocol: 'mysql', clients: 1 },
  { id: 'mysql2-8', label: 'mysql2 point select, 8 conns', protocol: 'mysql', clients: 8 },
];

/** Percentile of sorted values (nearest rank). */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function runSmall(test: SmallTest, db: Db, seconds: number, rows: number): Promise<Small> {
  return test.protocol === 'postgres' ? pgbench(test, db, seconds) : mysql2Loop(test.clients, db, seconds, rows);
}

async function pgbench(test: SmallTest, db: Db, seconds: number): Promise<Small> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-pgbench-'));
  try {
    const args = ['-n', '-S', '-M', test.mode!, '-c', String(test.clients), '-j', String(Math.min(test.clients, 2)), '-T', String(seconds), '-l', '--log-prefix', path.join(dir, 'tx')];
    const { stdout } = await run('pgbench', args, pgEnv(db));
    const tps = Number(/^tps = ([\d.]+)/m.exec(stdout)?.[1]);
    if (!Number.isFinite(tps)) throw new Error(`pgbench: no "tps =" line in its output: ${stdout.slice(-300)}`);
    // Log lines: client_id transaction_no time_us script_no time_epoch time_us_part
    const latencies: number[] = [];
    for (const f of readdirSync(dir)) {
      for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const a = line.indexOf(' ');
        const b = line.indexOf(' ', a + 1);
        const c = line.indexOf(' ', b + 1);
        if (c > 0) latencies.push(Number(line.slice(b + 1, c)) / 1000);
      }
    }
    const sorted = Float64Array.from(latencies).sort();
    return { tps, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), transactions: sorted.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function mysql2Loop(clients: number, db: Db, seconds: number, rows: number): Promise<Small> {
  const conns = await Promise.all(
    Array.from({ length: clients }, () => mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database })),
  );
  try {
    let latencies = new Float64Array(1 << 16);
    let n = 0;
    const record = (ms: number) => {
      if (n === latencies.length) {
        const bigger = new Float64Array(n * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    };
    let seed = 1;
    const start = process.hrtime.bigint();
    const until = start + BigInt(seconds) * 1_000_000_000n;
    await Promise.all(
      conns.map(async (conn) => {
        for (;;) {
          const t0 = process.hrtime.bigint();
          if (t0 >= until) return;
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          await conn.query(`SELECT * FROM bench_pii WHERE id = ${1 + (seed % rows)}`);
          record(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }),
    );
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    const sorted = latencies.subarray(0, n).sort();
    return { tps: n / elapsed, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), transactions: n };
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}
