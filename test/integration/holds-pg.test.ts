// Holds end to end on PostgreSQL: the shipped policy holds DDL, export and grant; a reviewer decides through the
// console API; the client sees the contract's NOTICE and errors; nothing held reaches the server first.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import pgLib from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { consoleApi, pendingRequest as pendingFor } from '../helpers/console.js';
import { pg } from '../helpers/databases.js';
import { encodeCancelRequest } from '../../src/wire/postgres/encode.js';
import type { RequestView } from '../../src/approval/broker.js';

const alice = { name: 'alice', token: 'alice-token-0123456789', databaseUsers: ['alice'] };
// bob is the database user the tests connect as: he may never decide those requests.
const bob = { name: 'bob', token: 'bob-token-0123456789abc', databaseUsers: [pg.user] };

let proxy: StartedProxy;
let direct: pgLib.Client;

async function startWithTimeout(timeout: string): Promise<StartedProxy> {
  return startProxy({ policy: true, extra: { console: { listen: '127.0.0.1:0', reviewers: [alice, bob] }, approvals: { timeout } } });
}

beforeAll(async () => {
  proxy = await startWithTimeout('30s');
  direct = new pgLib.Client({ ...pg, host: '127.0.0.1' });
  await direct.connect();
});
afterAll(async () => {
  await direct.query('DROP TABLE IF EXISTS sw_h_drop, sw_h_keep, sw_h_created, sw_h_win');
  await direct.end();
  await proxy?.close();
});
beforeEach(async () => {
  await direct.query('DROP TABLE IF EXISTS sw_h_drop, sw_h_keep, sw_h_created, sw_h_win');
  await direct.query('CREATE TABLE sw_h_drop (id int); CREATE TABLE sw_h_keep (id int); CREATE TABLE sw_h_win (id int)');
});

const api = consoleApi;
const pendingRequest = (p: StartedProxy, marker: string) => pendingFor(p, marker, alice.token);

async function client(p = proxy): Promise<pgLib.Client & { notices: string[] }> {
  const c = new pgLib.Client({ host: '127.0.0.1', port: p.pg.port, user: pg.user, database: pg.database, application_name: 'holds-test' }) as pgLib.Client & { notices: string[] };
  c.notices = [];
  c.on('notice', (n) => c.notices.push(n.message ?? ''));
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

const tableExists = async (name: string) => (await direct.query('select to_regclass($1) as t', [name])).rows[0].t !== null;
const serverSees = async (text: string) =>
  (await direct.query('select count(*)::int as n from pg_stat_activity where query like $1 and pid <> pg_backend_pid()', [`%${text}%`])).rows[0].n as number;

describe('held statements on PostgreSQL', () => {
  it('holds DROP TABLE, keeps it from the server, runs it once approved through the API', async () => {
    const c = await client();
    const dropping = c.query('DROP TABLE sw_h_drop');
    const req = await pendingRequest(proxy, 'sw_h_drop');
    expect(req).toMatchObject({ status: 'pending', user: pg.user, database: pg.database, application: 'holds-test', listener: 'pg', protocol: 'postgres' });
    expect(req.statements).toEqual([expect.objectContaining({ category: 'ddl', text: 'DROP TABLE sw_h_drop' })]);
    expect(c.notices[0]).toContain(`request ${req.id}`);
    expect(c.notices[0]).toContain(proxy.app.consoleUrl);
    expect(await tableExists('sw_h_drop')).toBe(true);
    expect(await serverSees('sw_h_drop')).toBe(0);
    const approved = await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, { reason: 'cleanup' });
    expect(approved.status).toBe(200);
    await dropping;
    expect(await tableExists('sw_h_drop')).toBe(false);
    await c.end();
  });

  it('refuses a denied statement with 42501 and the reviewer reason; the table stays, the session goes on', async () => {
    const c = await client();
    const dropping = c.query('DROP TABLE sw_h_keep');
    const req = await pendingRequest(proxy, 'sw_h_keep');
    expect((await api(proxy, 'POST', `/api/requests/${req.id}/deny`, alice.token, { reason: 'not in prod' })).status).toBe(200);
    await expect(dropping).rejects.toMatchObject({ code: '42501', message: `sqlwarden: denied by alice: not in prod (request ${req.id})` });
    expect(await tableExists('sw_h_keep')).toBe(true);
    expect((await c.query('select 1 as ok')).rows[0].ok).toBe(1);
    await c.end();
  });

  it('expires a request nobody decides: 57014', async () => {
    const short = await startWithTimeout('1s');
    try {
      const c = await client(short);
      await expect(c.query('DROP TABLE sw_h_keep')).rejects.toMatchObject({ code: '57014' });
      expect(await tableExists('sw_h_keep')).toBe(true);
      expect((await c.query('select 1 as ok')).rows[0].ok).toBe(1);
      await c.end();
    } finally {
      await short.close();
    }
  });

  it('cancels the request when the client disconnects or sends a CancelRequest', async () => {
    const gone = await client();
    gone.query('DROP TABLE sw_h_keep').catch(() => undefined);
    const first = await pendingRequest(proxy, 'sw_h_keep');
    (gone as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    const cancelled = async (id: string) => {
      for (let i = 0; i < 100; i++) {
        const { json } = await api(proxy, 'GET', `/api/requests/${id}`, alice.token);
        if (json.status !== 'pending') return json as RequestView;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('still pending');
    };
    expect((await cancelled(first.id)).status).toBe('cancelled');

    const c = await client();
    const held = c.query('DROP TABLE sw_h_keep');
    const second = await pendingRequest(proxy, 'sw_h_keep');
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const key = Buffer.alloc(4);
    key.writeInt32BE(secretKey);
    const s = net.connect(proxy.pg.port, '127.0.0.1', () => s.end(encodeCancelRequest(processID, key)));
    await expect(held).rejects.toMatchObject({ code: '57014' });
    expect((await cancelled(second.id)).status).toBe('cancelled');
    expect(await tableExists('sw_h_keep')).toBe(true);
    await c.end();
  });

  it('holds DDL sent over the extended protocol (a named prepared statement) and runs it once approved', async () => {
    const c = await client();
    const creating = c.query({ name: 'create-it', text: 'CREATE TABLE sw_h_created (id int)' });
    const req = await pendingRequest(proxy, 'sw_h_created');
    expect(await tableExists('sw_h_created')).toBe(false);
    await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, {});
    await creating;
    expect(await tableExists('sw_h_created')).toBe(true);
    await c.end();
  });

  it('holds GRANT and COPY TO STDOUT', async () => {
    const c = await client();
    const granting = c.query('GRANT SELECT ON sw_h_keep TO PUBLIC');
    const grant = await pendingRequest(proxy, 'GRANT SELECT');
    expect(grant.statements[0]!.category).toBe('grant');
    await api(proxy, 'POST', `/api/requests/${grant.id}/deny`, alice.token, { reason: 'no' });
    await expect(granting).rejects.toMatchObject({ code: '42501' });

    await direct.query('INSERT INTO sw_h_keep VALUES (1), (2)');
    const chunks: Buffer[] = [];
    const copying = pipeline(
      c.query(copyTo('COPY sw_h_keep TO STDOUT')),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          chunks.push(chunk);
          cb();
        },
      }),
    );
    const copy = await pendingRequest(proxy, 'COPY sw_h_keep');
    expect(copy.statements[0]!.category).toBe('export');
    await api(proxy, 'POST', `/api/requests/${copy.id}/approve`, alice.token, { reason: 'export ok' });
    await copying;
    expect(Buffer.concat(chunks).toString()).toBe('1\n2\n');
    await c.end();
  });

  it('never holds ordinary reads and writes', async () => {
    const c = await client();
    await c.query('INSERT INTO sw_h_keep VALUES ($1)', [5]);
    await c.query('UPDATE sw_h_keep SET id = 6 WHERE id = 5');
    expect((await c.query('SELECT id FROM sw_h_keep')).rows).toEqual([{ id: 6 }]);
    await c.query('BEGIN; DELETE FROM sw_h_keep; ROLLBACK');
    expect(c.notices).toEqual([]);
    const { json } = await api(proxy, 'GET', '/api/requests?status=pending', alice.token);
    expect(json).toEqual([]);
    await c.end();
  });

  it('refuses a reviewer who is the requester (403), and another reviewer decides', async () => {
    const c = await client();
    const dropping = c.query('DROP TABLE sw_h_drop');
    const req = await pendingRequest(proxy, 'sw_h_drop');
    const self = await api(proxy, 'POST', `/api/requests/${req.id}/approve`, bob.token, { reason: 'me' });
    expect(self.status).toBe(403);
    expect(await tableExists('sw_h_drop')).toBe(true);
    expect((await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, {})).status).toBe(200);
    await dropping;
    expect(await api(proxy, 'POST', `/api/requests/${req.id}/deny`, alice.token, { reason: 'late' })).toMatchObject({ status: 409 });
    await c.end();
  });

  it('lets the same statement through without a new hold while an approval window is open, then holds again', async () => {
    const c = await client();
    const first = c.query('TRUNCATE sw_h_win');
    const req = await pendingRequest(proxy, 'TRUNCATE sw_h_win');
    await api(proxy, 'POST', `/api/requests/${req.id}/approve`, alice.token, { reason: 'batch', for: '2s' });
    await first;
    await c.query('TRUNCATE sw_h_win');
    await c.query('TRUNCATE sw_h_win');
    expect(c.notices).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2100));
    const again = c.query('TRUNCATE sw_h_win');
    const next = await pendingRequest(proxy, 'TRUNCATE sw_h_win');
    expect(next.id).not.toBe(req.id);
    await api(proxy, 'POST', `/api/requests/${next.id}/approve`, alice.token, {});
    await again;
    await c.end();
  });
});
