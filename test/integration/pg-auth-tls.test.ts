// Password authentication (SCRAM-SHA-256, MD5, cleartext) passes through untouched, and TLS works on both
// hops: client -> proxy (a certificate the test makes) and proxy -> server (per upstreamTls).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import pgLib from 'pg';
import { serialize } from 'pg-protocol';
import { startProxy, type StartedProxy } from '../helpers/proxy.js';
import { startTestCluster, type TestCluster } from '../helpers/pg-cluster.js';
import { makeCert, type TestCert } from '../helpers/certs.js';
import { pg } from '../helpers/databases.js';
import { decodeAuthentication } from '../../src/wire/postgres/decode.js';

const run = promisify(execFile);
let cluster: TestCluster;
let cert: TestCert;
const proxies: StartedProxy[] = [];

beforeAll(async () => {
  cluster = await startTestCluster();
  cert = makeCert();
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  cluster?.stop();
});

async function proxyFor(listener: Record<string, unknown>): Promise<StartedProxy> {
  const p = await startProxy({ pg: { upstream: `127.0.0.1:${cluster.port}`, ...listener } });
  proxies.push(p);
  return p;
}

async function query(port: number, user: string, password: string | undefined, sql: string, extra: Partial<pgLib.ClientConfig> = {}) {
  const c = new pgLib.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', ...extra });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

async function psql(port: number, conninfo: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', ['-X', '-tA', '-v', 'ON_ERROR_STOP=1', `host=127.0.0.1 port=${port} dbname=postgres ${conninfo}`, '-c', sql], {
    env: { ...process.env, PGPASSWORD: '' },
  });
  return stdout.trim();
}

describe('password authentication through the proxy', () => {
  for (const user of ['scram_user', 'md5_user', 'plain_user']) {
    it(`logs in ${user} with the right password and gets the server's own error for a wrong one`, async () => {
      const p = await proxyFor({ upstreamTls: 'disable' });
      const rows = await query(p.pg.port, user, 'secret-pw', 'select current_user as u');
      expect(rows).toEqual([{ u: user }]);
      await expect(query(p.pg.port, user, 'wrong-pw', 'select 1')).rejects.toMatchObject({
        code: '28P01',
        message: `password authentication failed for user "${user}"`,
      });
      expect(await psql(p.pg.port, `user=${user} password=secret-pw`, 'select current_user')).toBe(user);
    });
  }

  it('offers SCRAM-SHA-256 but never SCRAM-SHA-256-PLUS, and SCRAM works over a TLS upstream', async () => {
    const p = await proxyFor({ upstreamTls: 'require' });
    // Direct over TLS the server offers both; through the proxy the client must only see what can succeed.
    expect(await saslMechanisms(p.pg.port)).toEqual(['SCRAM-SHA-256']);
    const rows = await query(p.pg.port, 'scram_user', 'secret-pw', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    expect(rows).toEqual([{ ssl: true }]);
  });
});

/** Opens a raw connection as scram_user and returns the mechanisms of the AuthenticationSASL it gets. */
async function saslMechanisms(port: number): Promise<string[]> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise((r) => socket.once('connect', r));
  socket.write(serialize.startup({ user: 'scram_user', database: 'postgres' }));
  let got = Buffer.alloc(0);
  while (got.length < 5 || got.length < got.readInt32BE(1) + 1) {
    got = Buffer.concat([got, await new Promise<Buffer>((resolve) => socket.once('data', resolve))]);
  }
  socket.destroy();
  const auth = decodeAuthentication(got, 0, got.readInt32BE(1) + 1);
  if (auth.code !== 10) throw new Error(`expected AuthenticationSASL, got code ${auth.code}`);
  return auth.mechanisms;
}

describe('TLS between the proxy and the server', () => {
  it('requires TLS upstream (require) and reports it in pg_stat_ssl', async () => {
    const p = await proxyFor({ upstreamTls: 'require' });
    expect(await query(p.pg.port, 'postgres', undefined, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()')).toEqual([{ ssl: true }]);
  });

  it('streams a 30 MB result over TLS to the server whole (the TLS socket over a raw socket that reads into slabs)', async () => {
    const p = await proxyFor({ upstreamTls: 'require' });
    const sql = "select g, md5(g::text) || repeat('x', 100) as v from generate_series(1, 200000) g";
    const c = new pgLib.Client({ host: '127.0.0.1', port: p.pg.port, user: 'postgres', database: 'postgres' });
    await c.connect();
    try {
      const { rows } = await c.query<{ g: number; v: string }>(sql);
      expect(rows).toHaveLength(200_000);
      const { rows: sums } = await c.query<{ n: string; bytes: string }>(`select count(*) as n, sum(length(v)) as bytes from (${sql}) r`);
      expect(rows.reduce((n, r, i) => (r.g === i + 1 ? n + r.v.length : NaN), 0)).toBe(Number(sums[0]!.bytes));
      expect(rows[123_456]!.v).toBe(`${(await c.query<{ m: string }>('select md5(123457::text) as m')).rows[0]!.m}${'x'.repeat(100)}`);
    } finally {
      await c.end();
    }
  });

  it('verifies the server certificate and host with verify-full', async () => {
    const good = await proxyFor({ upstreamTls: 'verify-full', upstreamCa: cluster.certFile });
    expect(await query(good.pg.port, 'postgres', undefined, 'select 1 as ok')).toEqual([{ ok: 1 }]);
    const wrongCa = await proxyFor({ upstreamTls: 'verify-full', upstreamCa: cert.cert });
    await expect(query(wrongCa.pg.port, 'postgres', undefined, 'select 1')).rejects.toMatchObject({ code: '08001' });
  });

  it('refuses to go on in the clear when require meets a server without TLS (08001)', async () => {
    const p = await startProxy({ pg: { upstreamTls: 'require' } });
    proxies.push(p);
    await expect(query(p.pg.port, pg.user, pg.password, 'select 1')).rejects.toMatchObject({
      code: '08001',
      message: expect.stringMatching(/does not offer TLS/),
    });
  });

  it('falls back to plain TCP with prefer when the server has no TLS', async () => {
    const p = await startProxy({ pg: { upstreamTls: 'prefer' } });
    proxies.push(p);
    expect(await query(p.pg.port, pg.user, pg.password, 'select 1 as ok', { database: pg.database })).toEqual([{ ok: 1 }]);
  });
});

describe('TLS from the client to the proxy', () => {
  it('terminates TLS for psql with sslmode=verify-full against the test certificate', async () => {
    const p = await proxyFor({ tls: { cert: cert.cert, key: cert.key }, upstreamTls: 'disable' });
    const out = await psql(p.pg.port, `user=scram_user password=secret-pw sslmode=verify-full sslrootcert=${cert.cert} host=localhost`, 'select current_user');
    expect(out).toBe('scram_user');
    // The client's connection is encrypted (psql reports it), the proxy's upstream is not.
    const { stdout } = await run('psql', ['-X', `host=localhost port=${p.pg.port} dbname=postgres user=postgres sslmode=verify-full sslrootcert=${cert.cert}`, '-c', '\\conninfo']);
    expect(stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
  });

  it('terminates TLS for node pg, with TLS upstream too (SCRAM, channel binding disabled by the client)', async () => {
    const p = await proxyFor({ tls: { cert: cert.cert, key: cert.key }, upstreamTls: 'require' });
    const rows = await query(p.pg.port, 'scram_user', 'secret-pw', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', {
      ssl: { ca: [readFileSync(cert.cert, 'utf8')], servername: 'localhost' },
    });
    expect(rows).toEqual([{ ssl: true }]);
    const viaPsql = await psql(p.pg.port, `user=scram_user password=secret-pw sslmode=require channel_binding=disable`, 'select current_user');
    expect(viaPsql).toBe('scram_user');
  });

  it('answers N to SSLRequest when the listener has no certificate, and the client goes on in the clear', async () => {
    const p = await proxyFor({ upstreamTls: 'disable' });
    expect(await psql(p.pg.port, 'user=postgres sslmode=prefer', 'select 1')).toBe('1');
    await expect(psql(p.pg.port, 'user=postgres sslmode=require', 'select 1')).rejects.toThrow(/server does not support SSL/);
  });
});
