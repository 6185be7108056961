// A throwaway PostgreSQL cluster for tests that need what the shared server does not have: password auth
// (SCRAM, MD5, cleartext) and TLS. initdb on a free port under a temp dir, run as the postgres OS user.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeCert } from './certs.js';

const binDir = ['/usr/lib/postgresql/15/bin', '/usr/local/bin'].find((d) => existsSync(path.join(d, 'pg_ctl')))!;

export interface TestCluster {
  port: number;
  dir: string;
  /** The server's certificate (its own CA), for verify-full. */
  certFile: string;
  /** Runs SQL as the superuser over the unix socket. */
  sql(query: string): string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

function asPostgres(cmd: string, args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', path.join(binDir, cmd), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Users: `scram_user` / `md5_user` / `plain_user` with password `secret-pw` authenticate by SCRAM-SHA-256,
 * MD5 and cleartext password; everyone else is trusted. `ssl = on`.
 */
export async function startTestCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-pg-'));
  chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()));
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const { cert, key } = makeCert(dir, 'tls');
  copyFileSync(cert, path.join(data, 'server.crt'));
  copyFileSync(key, path.join(data, 'server.key'));
  execFileSync('chown', ['postgres:postgres', path.join(data, 'server.crt'), path.join(data, 'server.key')]);
  chmodSync(path.join(data, 'server.key'), 0o600);
  appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nssl = on\nfsync = off\nshared_buffers = 32MB\nmax_connections = 40\n`,
  );
  writeFileSync(
    path.join(data, 'pg_hba.conf'),
    [
      'local all all trust',
      'host all scram_user 127.0.0.1/32 scram-sha-256',
      'host all md5_user 127.0.0.1/32 md5',
      'host all plain_user 127.0.0.1/32 password',
      'host all all 127.0.0.1/32 trust',
      '',
    ].join('\n'),
  );
  asPostgres('pg_ctl', ['-D', data, '-w', '-l', path.join(dir, 'log'), 'start']);
  const sql = (query: string) =>
    execFileSync(path.join(binDir, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-tAX', '-v', 'ON_ERROR_STOP=1', '-c', query], {
      encoding: 'utf8',
    });
  sql(`SET password_encryption = 'scram-sha-256'; CREATE ROLE scram_user LOGIN PASSWORD 'secret-pw'`);
  sql(`SET password_encryption = 'md5'; CREATE ROLE md5_user LOGIN PASSWORD 'secret-pw'`);
  sql(`CREATE ROLE plain_user LOGIN PASSWORD 'secret-pw'`);
  return {
    port,
    dir,
    certFile: cert,
    sql,
    stop() {
      try {
        asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
