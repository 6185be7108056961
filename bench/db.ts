// The databases the bench talks to, and the command-line clients it runs (psql, pgbench, mariadb).
import { spawn } from 'node:child_process';

export interface Db {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** The databases the bench runs against unless told: $PG_URL / $MYSQL_URL, else the local servers. */
export const defaultPgUrl = (): URL => new URL(process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
export const defaultMysqlUrl = (): URL => new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test');

export function dbFromUrl(url: URL, defaults: { port: number; user: string }): Db {
  return {
    host: url.hostname,
    port: Number(url.port || defaults.port),
    user: decodeURIComponent(url.username || defaults.user),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1) || 'test',
  };
}

/** The same database reached at another address (the relay's or a sqlwarden listener's). */
export const via = (db: Db, at: { host: string; port: number }): Db => ({ ...db, host: at.host, port: at.port });

/**
 * Environment for psql and pgbench. TLS off: the proxies talk to the server in clear, so the direct
 * connection must too, or "direct" would pay for TLS the others do not.
 */
export function pgEnv(db: Db): NodeJS.ProcessEnv {
  return { ...process.env, PGHOST: db.host, PGPORT: String(db.port), PGUSER: db.user, PGPASSWORD: db.password, PGDATABASE: db.database, PGSSLMODE: 'disable' };
}

export function mariadbArgs(db: Db): string[] {
  const args = ['-h', db.host, '-P', String(db.port), '-u', db.user, '--protocol=TCP', '--skip-ssl'];
  if (db.password) args.push(`-p${db.password}`);
  return [...args, db.database];
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program to its end; a non-zero exit is an error that quotes its stderr. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (err) => reject(new Error(`${cmd}: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.filter((a) => !a.startsWith('-p')).join(' ')}: exited ${code ?? signal}: ${stderr.trim().slice(0, 500)}`));
    });
    child.stdin.end(input);
  });
}

/** One value from psql (-At), e.g. a count. */
export async function psqlValue(db: Db, sql: string): Promise<string> {
  return (await run('psql', ['-v', 'ON_ERROR_STOP=1', '-Atc', sql], pgEnv(db))).stdout.trim();
}

export async function mariadbValue(db: Db, sql: string): Promise<string> {
  return (await run('mariadb', [...mariadbArgs(db), '-N', '-B', '-e', sql])).stdout.trim();
}
