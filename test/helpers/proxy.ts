// Starts sqlwarden in-process in front of the test databases, on free ports (listeners and console).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildConfig } from '../../src/config.js';
import { startApp, type App, type AppOptions } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { AllowAllGate } from '../../src/session/gate.js';
import { pg, mysql } from './databases.js';

export interface StartedProxy {
  app: App;
  /** host and port of the named listener */
  pg: { host: string; port: number };
  close(): Promise<void>;
}

export interface ProxyOverrides {
  pg?: Record<string, unknown>;
  mysql?: Record<string, unknown> | false;
  /** Other top-level config keys (console, rules, approvals ...). */
  extra?: Record<string, unknown>;
  /**
   * Judge statements with the real policy gate (the shipped or given rules). Off by default: tests of
   * protocol transparency run DDL and COPY freely.
   */
  policy?: boolean;
  /** Mask results with the shipped or given rules. Off by default, as `policy`. */
  masking?: boolean;
}

/** `listeners` entries are merged over a default postgres listener named "pg" (and "my" for mysql). */
export async function startProxy(
  overrides: ProxyOverrides = {},
  opts: AppOptions = {},
): Promise<StartedProxy & { mysql?: { host: string; port: number } }> {
  const listeners: Record<string, unknown>[] = [
    { name: 'pg', protocol: 'postgres', listen: '127.0.0.1:0', upstream: `${pg.host}:${pg.port}`, ...overrides.pg },
  ];
  if (overrides.mysql) listeners.push({ name: 'my', protocol: 'mysql', listen: '127.0.0.1:0', upstream: `${mysql.host}:${mysql.port}`, ...overrides.mysql });
  // Each proxy its own audit file: one writer per file.
  const audit = { file: path.join(mkdtempSync(path.join(os.tmpdir(), 'sqlwarden-audit-')), 'audit.jsonl') };
  const config = buildConfig(
    { listeners, log: { level: process.env.SQLWARDEN_TEST_LOG ?? 'warn' }, console: { listen: '127.0.0.1:0' }, audit, ...overrides.extra },
    { baseDir: process.cwd(), source: 'test' },
  );
  const gate = opts.gate ?? (overrides.policy ? undefined : new AllowAllGate());
  const app = await startApp(config, { log: opts.log ?? createLogger(config.log.level), ...(overrides.masking ? {} : { masking: false as const }), ...opts, gate });
  return {
    app,
    pg: app.address('pg'),
    mysql: overrides.mysql ? app.address('my') : undefined,
    close: () => app.close(),
  };
}
