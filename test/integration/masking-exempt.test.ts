// Exemptions (masking.yaml `exempt`) through the proxy: a session whose application matches an entry sees
// the values in the clear (results, prepared statements, COPY TO STDOUT, the CLIs), while every other
// session through the same listener is masked. The shipped rules, with one exemption added. Also: a COPY
// with nothing to mask streams raw, and the session's next COPY is masked again.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pgLib from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../helpers/proxy.js';
import { pg } from '../helpers/databases.js';
import { admin, connect, dropDatabase, freshDatabase, type Conn } from '../helpers/mysql-clients.js';

const run = promisify(execFile);
const auditor = 'sw-auditor';
const myDb = 'sw_my_exempt';
let proxy: Awaited<ReturnType<typeof startProxy>>;
let direct: pgLib.Client;
let mysqlDirect: Conn;

beforeAll(async () => {
  const rules = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-exempt-'));
  cpSync(path.resolve('rules'), rules, { recursive: true });
  const masking = readFileSync(path.join(rules, 'masking.yaml'), 'utf8');
  writeFileSync(path.join(rules, 'masking.yaml'), masking.replace(/^exempt: \[\]$/m, `exempt:\n  - application: ${auditor}`));
  direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
  await direct.connect();
  await direct.query(`DROP TABLE IF EXISTS sw_exempt_t;
    CREATE TABLE sw_exempt_t (id int primary key, email text, ssn text, note text);
    INSERT INTO sw_exempt_t VALUES (1, 'jane.doe@example.com', '123-45-6789', 'mail bob@corp.io'), (2, NULL, '', 'nothing')`);
  await freshDatabase(myDb);
  mysqlDirect = await admin(myDb);
  await mysqlDirect.query('CREATE TABLE t (id INT PRIMARY KEY, email VARCHAR(100), ssn VARCHAR(20), note TEXT) DEFAULT CHARSET = utf8mb4');
  await mysqlDirect.query(`INSERT INTO t VALUES (1, 'jane.doe@example.com', '123-45-6789', 'mail bob@corp.io'), (2, NULL, '', 'nothing')`);
  proxy = await startProxy({ masking: true, mysql: {}, extra: { rules, masking: { key: 'test-mask-key-0123456789', workers: 2, offload: 'always' } } });
});

afterAll(async () => {
  await direct?.query('DROP TABLE IF EXISTS sw_exempt_t');
  await direct?.end();
  await mysqlDirect?.end();
  await dropDatabase(myDb);
  await proxy?.close();
});

const pgSelect = 'SELECT id, email, ssn, note FROM sw_exempt_t ORDER BY id';

async function pgSession<T>(application: string, use: (c: pgLib.Client) => Promise<T>): Promise<T> {
  const c = new pgLib.Client({ host: '127.0.0.1', port: proxy.pg.port, user: pg.user, database: pg.database, application_name: application });
  await c.connect();
  try {
    return await use(c);
  } finally {
    await c.end();
  }
}

async function copied(c: pgLib.Client, sql: string): Promise<string> {
  const chunks: Buffer[] = [];
  await pipeline(c.query(copyTo(sql)), new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) }));
  return Buffer.concat(chunks).toString();
}

describe('exempt sessions', () => {
  it('PostgreSQL: the exempt application sees clear values (simple, prepared, binary, COPY), others stay masked', async () => {
    const clear = (await direct.query(pgSelect)).rows;
    await pgSession(auditor, async (c) => {
      expect((await c.query(pgSelect)).rows).toEqual(clear);
      expect((await c.query({ name: 'sw-exempt', text: `${pgSelect.replace('ORDER BY', 'WHERE id > $1 ORDER BY')}`, values: [0] })).rows).toEqual(clear);
      const binary = await c.query({ text: 'SELECT ssn FROM sw_exempt_t WHERE id = 1', binary: true } as pgLib.QueryConfig);
      expect(binary.rows[0].ssn).toBe('123-45-6789');
      // COPY rows stream as they come, and the next COPY of the session too.
      for (let i = 0; i < 2; i++) expect(await copied(c, 'COPY sw_exempt_t TO STDOUT')).toBe('1\tjane.doe@example.com\t123-45-6789\tmail bob@corp.io\n2\t\\N\t\tnothing\n');
    });
    await pgSession('someone-else', async (c) => {
      const rows = (await c.query(pgSelect)).rows;
      expect(rows[0]).toMatchObject({ email: 'j***@example.com', ssn: '*******6789', note: 'mail b***@corp.io' });
      expect(rows[1]).toMatchObject({ email: null, ssn: '' });
      expect(await copied(c, 'COPY sw_exempt_t TO STDOUT')).not.toContain('jane.doe');
    });
  });

  it('PostgreSQL: psql with the exempt application_name sees clear values', async () => {
    const psql = (app: string) =>
      run('psql', ['-h', '127.0.0.1', '-p', String(proxy.pg.port), '-U', pg.user, '-d', pg.database, '-X', '-A', '-t', '-c', pgSelect], { env: { ...process.env, PGAPPNAME: app } });
    expect((await psql(auditor)).stdout.split('\n')[0]).toBe('1|jane.doe@example.com|123-45-6789|mail bob@corp.io');
    expect((await psql('psql')).stdout.split('\n')[0]).toBe('1|j***@example.com|*******6789|mail b***@corp.io');
  });

  it('MySQL: the exempt program_name sees clear values (query and execute), others stay masked', async () => {
    const sql = 'SELECT id, email, ssn, note FROM t ORDER BY id';
    const [clear] = await mysqlDirect.query(sql);
    const exempt = await connect({ via: proxy.mysql!.port, database: myDb, connectAttributes: { program_name: auditor } });
    const other = await connect({ via: proxy.mysql!.port, database: myDb, connectAttributes: { program_name: 'someone-else' } });
    try {
      expect((await exempt.query(sql))[0]).toEqual(clear);
      expect((await exempt.execute(sql))[0]).toEqual(clear);
      const [masked] = await other.query(sql);
      expect((masked as Record<string, unknown>[])[0]).toMatchObject({ email: 'j***@example.com', ssn: '*******6789', note: 'mail b***@corp.io' });
    } finally {
      await exempt.end();
      await other.end();
    }
  });

  it('PostgreSQL: a COPY with nothing to mask streams raw, and the next COPY of the session is masked again', async () => {
    const rules = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-copy-raw-'));
    cpSync(path.resolve('rules'), rules, { recursive: true });
    // One column rule and no detectors: a COPY of other columns has nothing to mask.
    writeFileSync(path.join(rules, 'masking.yaml'), 'columns:\n  - match: { column: email }\n    mask: email\n');
    const only = await startProxy({ masking: true, extra: { rules, masking: { key: 'test-mask-key-0123456789', workers: 0 } } });
    const c = new pgLib.Client({ host: '127.0.0.1', port: only.pg.port, user: pg.user, database: pg.database });
    await c.connect();
    try {
      for (let i = 0; i < 2; i++) {
        expect(await copied(c, 'COPY (SELECT id, ssn FROM sw_exempt_t ORDER BY id) TO STDOUT')).toBe('1\t123-45-6789\n2\t\n');
        expect(await copied(c, 'COPY (SELECT id, email FROM sw_exempt_t ORDER BY id) TO STDOUT')).toBe('1\tj***@example.com\n2\t\\N\n');
      }
    } finally {
      await c.end();
      await only.close();
    }
  });
});
