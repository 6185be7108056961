// Holds end to end on MySQL/MariaDB: COM_QUERY, COM_STMT_PREPARE/EXECUTE held by the shipped policy and decided
// through the console API; denied 1227/42000, expired 1317/70100; nothing held reaches the server first.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import mysqlLib, { type Connection } from 'mysql2/promise';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { consoleApi, pendingRequest as pendingFor } from '../helpers/console.js';
import { mysql } from '../helpers/databases.js';

const alice = { name: 'alice', token: 'alice-token-0123456789', databaseUsers: ['alice'] };
const me = { name: 'rooty', token: 'rooty-token-0123456789', databaseUsers: [mysql.user] };

let proxy: StartedProxy & { mysql?: { host: string; port: number } };
let direct: Connection;

const start = (timeout: string) =>
  startProxy({ policy: true, mysql: {}, extra: { console: { listen: '127.0.0.1:0', reviewers: [alice, me] }, approvals: { timeout } } });

beforeAll(async () => {
  proxy = await start('30s');
  direct = await mysqlLib.createConnection({ ...mysql, host: '127.0.0.1' });
});
afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS sw_mh_drop, sw_mh_keep, sw_mh_created');
  await direct.end();
  await proxy?.close();
});
beforeEach(async () => {
  await direct.query('DROP TABLE IF EXISTS sw_mh_drop, sw_mh_keep, sw_mh_created');
  await direct.query('CREATE TABLE sw_mh_drop (id int)');
  await direct.query('CREATE TABLE sw_mh_keep (id int)');
});

const api = consoleApi;
const pendingRequest = (p: StartedProxy, marker: string) => pendingFor(p, marker, alice.token);

/** A statement's promise that will be checked later: rejections before then are not "unhandled". */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

const client = (p = proxy) => mysqlLib.createConnection({ ...mysql, host: '127.0.0.1', port: p.mysql!.port });
const tableExists = async (name: string) =>
  ((await direct.query('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?', [name])) as any)[0][0].n > 0;
const serverSees = async (text: string) =>
  ((await direct.query('SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE ? AND id <> CONNECTION_ID()', [`%${text}%`])) as any)[0][0].n as number;

describe('held statements on MySQL', () => {
  it('holds DROP TABLE, keeps it from the server, runs it once approved', async () => {
    const c = await client();
    const dropping = c.query('DROP TABLE sw_mh_drop');
    const req = await pendingRequest(proxy, 'sw_mh_drop');
    expect(req).toMatchObject({ protocol: 'mysql', listener: 'my', user: mysql.user, database: mysql.database });
    expect(req.statements[0]!.category).toBe('ddl');
    expect(await tableExists('sw_mh_drop')).toBe(true);
    expect(await serverSees('sw_mh_drop')).toBe(0);
    expect((await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, { reason: 'ok' })).status).toBe(200);
    await dropping;
    expect(await tableExists('sw_mh_drop')).toBe(false);
    await c.end();
  });

  it('refuses a denied statement with errno 1227 / SQLSTATE 42000 and the reason; the session goes on', async () => {
    const c = await client();
    const dropping = later(c.query('DROP TABLE sw_mh_keep'));
    const req = await pendingRequest(proxy, 'sw_mh_keep');
    await api(proxy, 'POST', `/api/requests/${req.id}/deny`, alice.token, { reason: 'no drops' });
    await expect(dropping).rejects.toMatchObject({ errno: 1227, sqlState: '42000', message: `sqlwarden: denied by alice: no drops (request ${req.id})` });
    expect(await tableExists('sw_mh_keep')).toBe(true);
    expect(((await c.query('SELECT 1 AS ok')) as any)[0][0].ok).toBe(1);
    await c.end();
  });

  it('expires an undecided request: errno 1317 / SQLSTATE 70100', async () => {
    const short = await start('1s');
    try {
      const c = await client(short);
      await expect(c.query('DROP TABLE sw_mh_keep')).rejects.toMatchObject({ errno: 1317, sqlState: '70100' });
      expect(((await c.query('SELECT 2 AS ok')) as any)[0][0].ok).toBe(2);
      await c.end();
    } finally {
      await short.close();
    }
    expect(await tableExists('sw_mh_keep')).toBe(true);
  });

  it('cancels the request when the client disconnects', async () => {
    const c = await client();
    c.query('DROP TABLE sw_mh_keep').catch(() => undefined);
    const req = await pendingRequest(proxy, 'sw_mh_keep');
    c.destroy();
    let status = 'pending';
    for (let i = 0; i < 100 && status === 'pending'; i++) {
      status = (await api(proxy, 'GET', `/api/requests/${req.id}`, alice.token)).json.status;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('cancelled');
    expect(await tableExists('sw_mh_keep')).toBe(true);
  });

  it("ends a held statement with errno 1317 when the same user's KILL QUERY names its connection; another user's does not", async () => {
    await direct.query("CREATE USER IF NOT EXISTS 'sw_mh_other'@'%' IDENTIFIED BY 'other-pw'");
    await direct.query("CREATE USER IF NOT EXISTS 'sw_mh_other'@'localhost' IDENTIFIED BY 'other-pw'");
    const c = await client();
    const threadId = c.threadId!;
    const dropping = later(c.query('DROP TABLE sw_mh_keep'));
    const req = await pendingRequest(proxy, 'sw_mh_keep');
    const statusOf = async () => (await api(proxy, 'GET', `/api/requests/${req.id}`, alice.token)).json.status as string;

    // Someone else may not end it: the server says so, and the request stays.
    const other = await mysqlLib.createConnection({ ...mysql, host: '127.0.0.1', port: proxy.mysql!.port, user: 'sw_mh_other', password: 'other-pw', database: undefined });
    await expect(other.query(`KILL QUERY ${threadId}`)).rejects.toMatchObject({ errno: 1095 });
    await other.end();
    expect(await statusOf()).toBe('pending');

    // What a driver sends on a timeout, from a second connection of the same user.
    const killer = await client();
    await killer.query(`KILL QUERY ${threadId}`);
    await killer.end();
    await expect(dropping).rejects.toMatchObject({ errno: 1317, sqlState: '70100' });
    expect(await statusOf()).toBe('cancelled');
    expect(await tableExists('sw_mh_keep')).toBe(true);
    expect(((await c.query('SELECT 3 AS ok')) as any)[0][0].ok).toBe(3);
    await c.end();
    await direct.query("DROP USER IF EXISTS 'sw_mh_other'@'%', 'sw_mh_other'@'localhost'");
  });

  it('holds each execution of a prepared DDL statement (COM_STMT_EXECUTE) and runs it once approved', async () => {
    const c = await client();
    const creating = c.execute('CREATE TABLE sw_mh_created (id int)');
    const req = await pendingRequest(proxy, 'sw_mh_created');
    expect(await tableExists('sw_mh_created')).toBe(false);
    await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, {});
    await creating;
    expect(await tableExists('sw_mh_created')).toBe(true);
    await c.end();
  });

  it('holds SELECT ... INTO OUTFILE and GRANT', async () => {
    const c = await client();
    const exporting = later(c.query("SELECT * FROM sw_mh_keep INTO OUTFILE '/tmp/sqlwarden-never-written.txt'"));
    const exp = await pendingRequest(proxy, 'INTO OUTFILE');
    expect(exp.statements[0]!.category).toBe('export');
    await api(proxy, 'POST', `/api/requests/${exp.id}/deny`, alice.token, { reason: 'no exports' });
    await expect(exporting).rejects.toMatchObject({ errno: 1227 });
    const granting = later(c.query("GRANT SELECT ON test.sw_mh_keep TO 'nobody'@'localhost'"));
    const grant = await pendingRequest(proxy, 'GRANT SELECT');
    expect(grant.statements[0]!.category).toBe('grant');
    await api(proxy, 'POST', `/api/requests/${grant.id}/deny`, alice.token, { reason: 'no' });
    await expect(granting).rejects.toMatchObject({ errno: 1227 });
    await c.end();
  });

  it('never holds ordinary reads and writes, in text or binary protocol', async () => {
    const c = await client();
    await c.query('INSERT INTO sw_mh_keep VALUES (1)');
    await c.execute('UPDATE sw_mh_keep SET id = ? WHERE id = ?', [2, 1]);
    expect(((await c.execute('SELECT id FROM sw_mh_keep')) as any)[0]).toEqual([{ id: 2 }]);
    expect((await api(proxy, 'GET', '/api/requests?status=pending', alice.token)).json).toEqual([]);
    await c.end();
  });

  it('refuses a reviewer deciding their own database user (403)', async () => {
    const c = await client();
    const dropping = c.query('DROP TABLE sw_mh_drop');
    const req = await pendingRequest(proxy, 'sw_mh_drop');
    expect((await api(proxy, 'POST', `/api/requests/${req.id}/approve`, me.token, {})).status).toBe(403);
    await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, {});
    await dropping;
    await c.end();
  });
});
