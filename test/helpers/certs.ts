// Self-signed certificates for TLS tests, made with the openssl CLI into a temp dir.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCert {
  dir: string;
  cert: string;
  key: string;
}

/** A certificate for CN=localhost with SANs localhost and 127.0.0.1; it is its own CA. */
export function makeCert(dir = mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-cert-')), name = 'server'): TestCert {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { dir, cert, key };
}
