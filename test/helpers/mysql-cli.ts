// Runs the MariaDB command-line tools (/usr/bin/mariadb, /usr/bin/mariadb-dump) against a port, and makes
// throwaway TLS material with openssl.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mysql as db } from './databases.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** `mariadb` against `port` (the server's when omitted), batch mode, no ~/.my.cnf. */
export function mariadb(args: string[], opts: { port?: number; user?: string; password?: string; input?: string } = {}): Promise<RunResult> {
  const password = opts.password ?? db.password;
  return run(
    '/usr/bin/mariadb',
    [
      '--no-defaults',
      '--protocol=TCP',
      `--host=${opts.port ? '127.0.0.1' : db.host}`,
      `--port=${opts.port ?? db.port}`,
      `--user=${opts.user ?? db.user}`,
      ...(password ? [`--password=${password}`] : []),
      '--batch',
      ...args,
    ],
    opts.input,
  );
}

export function mariadbDump(args: string[], port?: number): Promise<RunResult> {
  return run('/usr/bin/mariadb-dump', [
    '--no-defaults',
    '--protocol=TCP',
    `--host=${port ? '127.0.0.1' : db.host}`,
    `--port=${port ?? db.port}`,
    `--user=${db.user}`,
    ...(db.password ? [`--password=${db.password}`] : []),
    ...args,
  ]);
}

/** A self-signed certificate for localhost / 127.0.0.1 in a fresh temp dir. */
export async function selfSignedCertificate(): Promise<{ dir: string; cert: string; key: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sw-mysql-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = await run('/usr/bin/openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { dir, cert, key };
}
