// caching_sha2_password through the proxy with mysql2 as the client. MariaDB has no server side for it, so a
// scripted MySQL 8 server (helpers/mysql-fake-server.ts) plays the exchange: the fast path, full
// authentication with the RSA public key over plain TCP, and clear text over TLS; including the two mixed
// cases the proxy must bridge (TLS client with a plain server, plain client with a TLS server), where the
// password must never cross a plain hop in clear text. Where a Docker engine runs, also against mysql:8.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { startProxy } from '../helpers/proxy.js';
import { caught, connect } from '../helpers/mysql-clients.js';
import { selfSignedCertificate } from '../helpers/mysql-cli.js';
import { FakeMysqlServer, type FakeServerOptions } from '../helpers/mysql-fake-server.js';

const user = 'sha2user';
const password = 'sha2-pässword';
let tlsFiles: Awaited<ReturnType<typeof selfSignedCertificate>>;
let ca: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tlsFiles = await selfSignedCertificate();
  ca = readFileSync(tlsFiles.cert, 'utf8');
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(tlsFiles.dir, { recursive: true, force: true });
});

/** A scripted server and a proxy in front of it; `clientTls` gives the proxy's listener a certificate. */
async function setup(server: Omit<FakeServerOptions, 'user' | 'password' | 'tls'> & { serverTls: boolean }, listener: { clientTls: boolean; upstreamTls?: string }) {
  const fake = new FakeMysqlServer({ user, password, fastAuth: server.fastAuth, tls: server.serverTls ? { cert: tlsFiles.cert, key: tlsFiles.key } : undefined });
  const upstreamPort = await fake.listen();
  const proxy = await startProxy({
    mysql: {
      upstream: `127.0.0.1:${upstreamPort}`,
      upstreamTls: listener.upstreamTls ?? 'prefer',
      ...(listener.clientTls ? { tls: { cert: tlsFiles.cert, key: tlsFiles.key } } : {}),
    },
  });
  cleanups.push(async () => {
    await proxy.close();
    await fake.close();
  });
  const login = (pw = password) =>
    connect({ via: proxy.mysql!.port, user, password: pw, database: undefined, ...(listener.clientTls ? { ssl: { ca } } : {}) });
  return { fake, login };
}

async function echo(c: Awaited<ReturnType<typeof connect>>): Promise<string> {
  const [rows] = await c.query<RowDataPacket[]>('SELECT 1');
  return rows[0]!.echo as string;
}

describe('caching_sha2_password through the proxy (scripted MySQL 8 server)', () => {
  it('relays the fast path (0x01 0x03 then OK) and refuses a wrong token with the server error', async () => {
    const { fake, login } = await setup({ fastAuth: true, serverTls: false }, { clientTls: false });
    const c = await login();
    expect(await echo(c)).toBe('plain:SELECT 1');
    await c.ping();
    await c.end();
    expect(fake.connections[0]).toMatchObject({ path: 'fast', ok: true, tls: false });
    const err = await caught(login('wrong'));
    expect(err).toMatchObject({ errno: 1045, sqlState: '28000', sqlMessage: `Access denied for user '${user}'@'localhost' (using password: YES)` });
  });

  it('relays full authentication with the RSA public-key exchange when neither hop is TLS', async () => {
    const { fake, login } = await setup({ fastAuth: false, serverTls: false }, { clientTls: false, upstreamTls: 'prefer' });
    const c = await login();
    expect(await echo(c)).toBe('plain:SELECT 1');
    await c.end();
    expect(fake.connections[0]).toMatchObject({ path: 'rsa', ok: true, tls: false, cleartextOverPlain: false });
    expect((await caught(login('wrong'))).errno).toBe(1045);
    expect(fake.connections[1]).toMatchObject({ path: 'rsa', ok: false, cleartextOverPlain: false });
  });

  it('relays the clear-text password when both hops are TLS', async () => {
    const { fake, login } = await setup({ fastAuth: false, serverTls: true }, { clientTls: true, upstreamTls: 'require' });
    const c = await login();
    expect(await echo(c)).toBe('tls:SELECT 1');
    await c.end();
    expect(fake.connections[0]).toMatchObject({ path: 'cleartext', ok: true, tls: true });
  });

  it('does the RSA exchange itself when the client is on TLS but the server connection is not', async () => {
    const { fake, login } = await setup({ fastAuth: false, serverTls: false }, { clientTls: true, upstreamTls: 'prefer' });
    const c = await login();
    expect(await echo(c)).toBe('plain:SELECT 1');
    await c.end();
    // mysql2 sent its password in clear text (its connection is TLS); the server got it RSA-encrypted.
    expect(fake.connections[0]).toMatchObject({ path: 'rsa', ok: true, tls: false, cleartextOverPlain: false });
    expect((await caught(login('wrong'))).errno).toBe(1045);
    expect(fake.connections[1]).toMatchObject({ path: 'rsa', ok: false, cleartextOverPlain: false });
  });

  it('gives a plain client its own public key and passes the password on over TLS when only the server connection is TLS', async () => {
    const { fake, login } = await setup({ fastAuth: false, serverTls: true }, { clientTls: false, upstreamTls: 'require' });
    const c = await login();
    expect(await echo(c)).toBe('tls:SELECT 1');
    await c.end();
    expect(fake.connections[0]).toMatchObject({ path: 'cleartext', ok: true, tls: true });
    expect((await caught(login('wrong'))).errno).toBe(1045);
  });
});

/** A Docker engine that answers, found without starting one. */
function dockerRuns(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

// Against the real thing only where a Docker engine already runs (the issue asks not to start one).
if (dockerRuns()) {
  describe('caching_sha2_password through the proxy (mysql:8 in Docker)', () => {
    it('logs in with full authentication, then the fast path, and relays queries', async () => {
      const { GenericContainer, Wait } = await import('testcontainers');
      const container = await new GenericContainer('mysql:8.0')
        .withEnvironment({ MYSQL_ROOT_PASSWORD: 'rootpw', MYSQL_DATABASE: 'test' })
        .withExposedPorts(3306)
        .withWaitStrategy(Wait.forLogMessage(/ready for connections.*port: 3306/))
        .withStartupTimeout(180_000)
        .start();
      cleanups.push(async () => void (await container.stop()));
      const port = container.getMappedPort(3306);
      const host = container.getHost();
      const root = await connect({ host, port, user: 'root', password: 'rootpw', database: 'test' });
      await root.query(`CREATE USER '${user}'@'%' IDENTIFIED WITH caching_sha2_password BY '${password}'`);
      await root.query(`GRANT SELECT ON test.* TO '${user}'@'%'`);
      await root.end();
      for (const upstreamTls of ['disable', 'require']) {
        const proxy = await startProxy({ mysql: { upstream: `${host}:${port}`, upstreamTls, tls: { cert: tlsFiles.cert, key: tlsFiles.key } } });
        cleanups.push(() => proxy.close());
        for (const ssl of [undefined, { ca }]) {
          for (let i = 0; i < 2; i++) {
            const c = await connect({ via: proxy.mysql!.port, user, password, database: 'test', ssl });
            const [rows] = await c.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u');
            expect(rows[0]!.u).toBe(`${user}@%`);
            await c.end();
          }
          expect((await caught(connect({ via: proxy.mysql!.port, user, password: 'wrong', database: 'test', ssl }))).errno).toBe(1045);
        }
      }
    });
  });
}
