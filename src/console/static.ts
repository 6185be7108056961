// The console page: the files of public/ (read once at start), served at `/` and `/<name>` with their content
// type and the headers that keep the page to itself. Only names found in the folder at start have a route, so
// no request path can reach another file (`/../x`, `%2e%2e`, `a/b` match nothing).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsoleServer } from './server.js';

/** src/console/public next to this file, also when it runs from dist/console (the package ships src/console/public). */
export function publicDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, 'public');
  return existsSync(beside) ? beside : path.join(here, '..', '..', 'src', 'console', 'public');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/**
 * Scripts and styles from this origin only, no inline script, no plugins, no framing; the WebSocket goes to
 * this origin (`'self'` covers ws: and wss: of the same host in current browsers; ws: wss: for older ones).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Adds GET routes for `/` (index.html) and every file of `dir`. */
export function servePage(console: ConsoleServer, dir = publicDir()): void {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const type = TYPES[path.extname(entry.name).toLowerCase()];
    if (!type) continue;
    files.set(entry.name, { body: readFileSync(path.join(dir, entry.name)), type });
  }
  if (!files.has('index.html')) throw new Error(`console page: no index.html in ${dir}`);
  const serve = (name: string) => {
    const f = files.get(name)!;
    console.route('GET', name === 'index.html' ? '/' : `/${name}`, ({ res }) => {
      res.writeHead(200, { ...PAGE_HEADERS, 'content-type': f.type, 'content-length': f.body.length });
      res.end(f.body);
    });
  };
  for (const name of files.keys()) serve(name);
}
