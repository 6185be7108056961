// psql and pgbench, the server's own clients, through the proxy: output equal to the direct connection's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';

const run = promisify(execFile);
let proxy: StartedProxy;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-psql-'));

function connArgs(port: number): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-U', pg.user, '-d', pg.database];
}

/** pgbench takes the database as its last argument (its -d means --debug). */
function pgbenchArgs(port: number, ...args: string[]): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-U', pg.user, ...args, pg.database];
}

async function psql(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('psql', [...connArgs(port), '-X', '-v', 'ON_ERROR_STOP=1', ...args], {
    env: { ...process.env, PGPASSWORD: pg.password ?? '', PGSSLMODE: 'prefer' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** sha256 and size of a command's stdout, streamed (large outputs never sit in memory). */
function hashOutput(cmd: string, args: string[]): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const h = createHash('sha256');
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      h.update(d);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ sha256: h.digest('hex'), bytes }) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

beforeAll(async () => {
  proxy = await startProxy();
  await psql(pg.port, '-c', 'DROP TABLE IF EXISTS sw_psql_t; CREATE TABLE sw_psql_t (id int primary key, name text not null, tags text[], at date)');
});
afterAll(async () => {
  await psql(pg.port, '-c', 'DROP TABLE IF EXISTS sw_psql_t');
  await proxy?.close();
});

describe('psql through the proxy', () => {
  it('runs \\copy in both directions with the same bytes', async () => {
    const rows: string[] = [];
    for (let i = 1; i <= 5000; i++) rows.push(`${i},"name, ${i} ✓","{a,b${i}}",2024-02-${String((i % 28) + 1).padStart(2, '0')}`);
    const input = path.join(tmp, 'in.csv');
    writeFileSync(input, rows.join('\n') + '\n');
    await psql(proxy.pg.port, '-c', `\\copy sw_psql_t from '${input}' with (format csv)`);
    const output = path.join(tmp, 'out.csv');
    await psql(proxy.pg.port, '-c', `\\copy (select * from sw_psql_t order by id) to '${output}' with (format csv)`);
    expect(readFileSync(output, 'utf8')).toBe(readFileSync(input, 'utf8'));
  });

  it('describes a table with \\d exactly as direct', async () => {
    const viaProxy = await psql(proxy.pg.port, '-c', '\\d sw_psql_t');
    const direct = await psql(pg.port, '-c', '\\d sw_psql_t');
    expect(viaProxy).toContain('sw_psql_t_pkey');
    expect(viaProxy).toBe(direct);
  });

  it('streams a 1,000,000-row result whose bytes equal the direct connection', async () => {
    const query = "select g, md5(g::text) as h, (date '2020-01-01' + g % 1000) as d, g * 0.5 as half from generate_series(1, 1000000) g";
    const args = (port: number) => [...connArgs(port), '-X', '-A', '-t', '-c', query];
    const [viaProxy, direct] = await Promise.all([hashOutput('psql', args(proxy.pg.port)), hashOutput('psql', args(pg.port))]);
    expect(viaProxy.bytes).toBeGreaterThan(50_000_000);
    expect(viaProxy).toEqual(direct);
  });
});

describe('pgbench through the proxy', () => {
  beforeAll(async () => {
    await run('pgbench', pgbenchArgs(pg.port, '-i', '-s', '1', '-q', '--no-vacuum'));
  });

  for (const mode of ['simple', 'extended', 'prepared'] as const) {
    it(`runs -S -M ${mode} for 3 seconds with zero failed transactions`, async () => {
      const { stdout } = await run('pgbench', pgbenchArgs(proxy.pg.port, '-n', '-S', '-M', mode, '-c', '2', '-j', '1', '-T', '3'));
      const processed = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
      const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1]);
      expect(processed).toBeGreaterThan(1000);
      expect(failed).toBe(0);
    });
  }
});
