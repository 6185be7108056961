// The MariaDB command-line tools through the proxy: `mariadb -e`, a sourced script, LOAD DATA LOCAL INFILE,
// mariadb-dump equal to the dump taken direct; logins with mysql_native_password and ed25519 users, wrong
// passwords answered with the server's own error; TLS from the client to the proxy.
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { admin, caught, connect, dropDatabase, freshDatabase } from '../helpers/mysql-clients.js';
import { mariadb, mariadbDump, selfSignedCertificate } from '../helpers/mysql-cli.js';

const fixtures = fileURLToPath(new URL('../fixtures/mysql/', import.meta.url));
const viaDb = 'sw_my_cli_proxy';
const directDb = 'sw_my_cli_direct';
const nativeUser = 'sw_my_native';
const edUser = 'sw_my_ed25519';
const nativePassword = 'n4tive-pass';
const edPassword = 'ed-pass-25519';

let proxy: Awaited<ReturnType<typeof startProxy>>;
let plain: StartedProxy & { mysql?: { host: string; port: number } };
let port: number;
let plainPort: number;
let tls: Awaited<ReturnType<typeof selfSignedCertificate>>;

beforeAll(async () => {
  tls = await selfSignedCertificate();
  await Promise.all([freshDatabase(viaDb), freshDatabase(directDb)]);
  const c = await admin();
  const [plugins] = await c.query<RowDataPacket[]>("SELECT PLUGIN_STATUS AS s FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'");
  if (plugins.length === 0) await c.query("INSTALL SONAME 'auth_ed25519'");
  for (const u of [nativeUser, edUser]) await c.query(`DROP USER IF EXISTS '${u}'@'%'`);
  await c.query(`CREATE USER '${nativeUser}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${nativePassword}')`);
  await c.query(`CREATE USER '${edUser}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('${edPassword}')`);
  for (const u of [nativeUser, edUser]) await c.query(`GRANT SELECT ON \`${viaDb}\`.* TO '${u}'@'%'`);
  await c.end();
  proxy = await startProxy({ mysql: { tls: { cert: tls.cert, key: tls.key } } });
  plain = await startProxy({ mysql: {} });
  port = proxy.mysql!.port;
  plainPort = plain.mysql!.port;
});

afterAll(async () => {
  await proxy?.close();
  await plain?.close();
  const c = await admin();
  for (const u of [nativeUser, edUser]) await c.query(`DROP USER IF EXISTS '${u}'@'%'`);
  await c.end();
  await Promise.all([dropDatabase(viaDb), dropDatabase(directDb)]);
  rmSync(tls.dir, { recursive: true, force: true });
});

describe('the mariadb CLI through the proxy', () => {
  it('runs -e queries with several statements and result sets', async () => {
    const sql = "SELECT 1 AS a, 'x' AS b, NULL AS c; SELECT @@version_comment IS NOT NULL AS v; SHOW DATABASES LIKE 'sw_my_cli%'";
    const [direct, proxied] = await Promise.all([mariadb(['-e', sql]), mariadb(['-e', sql], { port })]);
    expect(proxied).toEqual({ code: 0, stdout: direct.stdout, stderr: '' });
    expect(proxied.stdout).toContain('sw_my_cli_proxy');
  });

  it('sources a script (quoting, comments, DELIMITER, a procedure with two result sets) with the output of a direct run', async () => {
    const script = path.join(fixtures, 'script.sql');
    const [direct, proxied] = await Promise.all([
      mariadb(['--table', directDb, '-e', `source ${script}`]),
      mariadb(['--table', viaDb, '-e', `source ${script}`], { port }),
    ]);
    expect(direct.code).toBe(0);
    expect(proxied).toEqual(direct);
    expect(proxied.stdout).toContain("it's quoted; with a semicolon");
  });

  it('loads a file with LOAD DATA LOCAL INFILE: the server asks, the client sends it through the proxy', async () => {
    const big = path.join(tls.dir, 'big.csv');
    let text = '';
    for (let i = 1; i <= 60_000; i++) text += `${i},"name ${i}, ${'x'.repeat(i % 200)}",${(i * 0.25).toFixed(2)}\n`;
    writeFileSync(big, text);
    const load = (db: string, file: string, table: string) =>
      `CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(255), amount DECIMAL(10,2));` +
      `LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${table} FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"';` +
      `SELECT COUNT(*), SUM(amount), MD5(GROUP_CONCAT(id, name, IFNULL(amount, 'null') ORDER BY id SEPARATOR '|')) FROM ${db}.${table}`;
    for (const [file, table] of [
      [path.join(fixtures, 'infile.csv'), 'small'],
      [big, 'big'],
    ] as const) {
      const [direct, proxied] = await Promise.all([
        mariadb(['--local-infile=1', directDb, '-e', load(directDb, file, table)]),
        mariadb(['--local-infile=1', viaDb, '-e', load(viaDb, file, table)], { port }),
      ]);
      expect(direct.code).toBe(0);
      expect(proxied).toEqual(direct);
      expect(proxied.stdout).toContain(table === 'big' ? '60000\t' : '3\t');
    }
    // The session goes on normally after the file: the next statement on the same connection works.
    const after = await mariadb(['--local-infile=1', viaDb, '-e', `LOAD DATA LOCAL INFILE '${path.join(fixtures, 'infile.csv')}' INTO TABLE small FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"'; SELECT 'still here'`], { port });
    // LOCAL loads turn duplicate keys into warnings, so this second load succeeds too.
    expect(after).toMatchObject({ code: 0, stderr: '' });
    expect(after.stdout).toContain('still here');
  });

  it('dumps a schema with mariadb-dump equal to the dump taken direct', async () => {
    const c = await admin(viaDb);
    await c.query(`CREATE TABLE IF NOT EXISTS dumped (id INT PRIMARY KEY, doc JSON, b BLOB, d DATETIME(6), note TEXT);
      INSERT INTO dumped VALUES (1, '{"a": 1}', UNHEX('00FF10'), '2024-05-06 07:08:09.123456', 'line\\nbreak'), (2, NULL, NULL, NULL, '');
      CREATE OR REPLACE VIEW dumped_view AS SELECT id, note FROM dumped;
      CREATE TRIGGER IF NOT EXISTS dumped_bi BEFORE INSERT ON dumped FOR EACH ROW SET NEW.note = IFNULL(NEW.note, '');`);
    await c.end();
    const args = ['--routines', '--triggers', '--events', '--hex-blob', viaDb];
    const [direct, proxied] = await Promise.all([mariadbDump(args), mariadbDump(args, port)]);
    expect(direct.code).toBe(0);
    expect(proxied.code).toBe(0);
    // Only the host line and the completion date differ legitimately.
    const strip = (dump: string) => dump.split('\n').filter((l) => !l.startsWith('-- Host:') && !l.startsWith('-- Dump completed')).join('\n');
    expect(strip(proxied.stdout)).toEqual(strip(direct.stdout));
    expect(proxied.stdout).toContain('CREATE TABLE `dumped`');
    expect(proxied.stdout).toContain('two_results');
  });
});

describe('logins through the proxy', () => {
  const whoami = ['-N', '-e', 'SELECT CURRENT_USER()'];

  it('logs in a mysql_native_password user (CLI and mysql2) and refuses a wrong password with the server error', async () => {
    const ok = await mariadb(whoami, { port, user: nativeUser, password: nativePassword });
    expect(ok).toEqual({ code: 0, stdout: `${nativeUser}@%\n`, stderr: '' });
    const [bad, badDirect] = await Promise.all([
      mariadb(whoami, { port, user: nativeUser, password: 'wrong' }),
      mariadb(whoami, { user: nativeUser, password: 'wrong' }),
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ERROR 1045 \(28000\): Access denied for user 'sw_my_native'/);
    expect(bad.stderr).toBe(badDirect.stderr);

    const c = await connect({ via: port, user: nativeUser, password: nativePassword, database: viaDb });
    const [rows] = await c.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u');
    expect(rows[0]!.u).toBe(`${nativeUser}@%`);
    await c.end();
    const viaProxy = await caught(connect({ via: port, user: nativeUser, password: 'wrong', database: viaDb }));
    const direct = await caught(connect({ user: nativeUser, password: 'wrong', database: viaDb }));
    expect(viaProxy).toEqual(direct);
    expect(viaProxy.errno).toBe(1045);
  });

  it('logs in an ed25519 user (auth switch to client_ed25519), over TLS too, and refuses a wrong password with the server error', async () => {
    const ok = await mariadb(whoami, { port, user: edUser, password: edPassword });
    expect(ok).toEqual({ code: 0, stdout: `${edUser}@%\n`, stderr: '' });
    const overTls = await mariadb(['--ssl', ...whoami], { port, user: edUser, password: edPassword });
    expect(overTls).toEqual(ok);
    const [bad, badDirect] = await Promise.all([mariadb(whoami, { port, user: edUser, password: 'nope' }), mariadb(whoami, { user: edUser, password: 'nope' })]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ERROR 1045 \(28000\): Access denied for user 'sw_my_ed25519'/);
    expect(bad.stderr).toBe(badDirect.stderr);
  });
});

describe('TLS from the client to the proxy', () => {
  it('accepts mariadb --ssl, verified against the certificate, and relays the session', async () => {
    const status = await mariadb(['--ssl', '-e', 'status'], { port });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/SSL:\s+Cipher in use is TLS_/);
    const verified = await mariadb(['--ssl', `--ssl-ca=${tls.cert}`, '--ssl-verify-server-cert', '-N', '-e', "SELECT 'verified', 1 + 1"], { port });
    expect(verified).toEqual({ code: 0, stdout: 'verified\t2\n', stderr: '' });
  });

  it('accepts mysql2 with ssl and runs queries and prepared statements over it', async () => {
    const c = await connect({ via: port, database: viaDb, ssl: { ca: (await import('node:fs')).readFileSync(tls.cert, 'utf8') } });
    const stream = (c as unknown as { connection: { stream: { encrypted?: boolean; getProtocol?(): string } } }).connection.stream;
    expect(stream.encrypted).toBe(true);
    expect(stream.getProtocol?.()).toMatch(/^TLSv1\.[23]$/);
    const [rows] = await c.execute<RowDataPacket[]>('SELECT ? AS v', ['over tls']);
    expect(rows[0]!.v).toBe('over tls');
    const big = 'y'.repeat(3 * 1024 * 1024);
    const [echo] = await c.query<RowDataPacket[]>('SELECT ? AS big', [big]);
    expect(createHash('md5').update(echo[0]!.big as string).digest('hex')).toBe(createHash('md5').update(big).digest('hex'));
    await c.end();
  });

  it('does not offer TLS on a listener without a certificate: a client that requires it is refused by its driver', async () => {
    const err = await caught(connect({ via: plainPort, ssl: { rejectUnauthorized: false } }));
    expect(err.code).toBe('HANDSHAKE_NO_SSL_SUPPORT');
    const cli = await mariadb(['--ssl', `--ssl-ca=${tls.cert}`, '--ssl-verify-server-cert', '-e', 'SELECT 1'], { port: plainPort });
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/SSL/i);
    // Without TLS the same listener serves the client in plain text.
    const ok = await mariadb(['-N', '-e', 'SELECT 7'], { port: plainPort });
    expect(ok.stdout).toBe('7\n');
  });
});
