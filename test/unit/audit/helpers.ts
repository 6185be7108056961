// Shared by the audit tests: temp folders, a logger that keeps what it is told, sample events.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '../../../src/audit/events.js';
import type { AuditLogger } from '../../../src/audit/log.js';

export interface Entry {
  level: 'error' | 'warn' | 'info';
  obj: Record<string, unknown>;
  msg: string;
}

export class MemoryLogger implements AuditLogger {
  readonly entries: Entry[] = [];
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  errors(): Entry[] {
    return this.entries.filter((e) => e.level === 'error');
  }
}

const made: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sqlwarden-audit-'));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const identity = { user: 'alice', database: 'app', application: 'psql', client: '127.0.0.1:50000' };

/** One of each event type for session `s<i>`, cycling. */
export function sampleEvent(i: number): AuditEvent {
  const session = `s${i}`;
  switch (i % 6) {
    case 0:
      return { type: 'session.open', session, listener: 'pg', protocol: 'postgres', identity };
    case 1:
      return { type: 'statement', session, listener: 'pg', fingerprint: 'f'.repeat(32), category: 'read', kind: 'select', sql: `SELECT ? FROM t${i}`, action: 'allow' };
    case 2:
      return { type: 'hold', session, listener: 'pg', requestId: `r${i}`, identity, category: 'ddl', fingerprints: ['a'.repeat(32)], sql: 'DROP TABLE t', rule: { index: 1, line: 4, description: 'category: ddl' } };
    case 3:
      return { type: 'decision', requestId: `r${i}`, session, status: 'approved', reviewer: 'bob', reason: 'ok' };
    case 4:
      return { type: 'execute', session, listener: 'pg', rows: i, maskedCells: { email: 2, 'detect:credit_card': 1 }, durationMs: 1.5 };
    default:
      return { type: 'session.close', session, listener: 'pg', durationMs: 1000, statements: 3, reason: 'client closed' };
  }
}

/** The lines of an audit file, raw and parsed. */
export function linesOf(file: string): { raw: string; obj: Record<string, unknown> }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((raw) => ({ raw, obj: JSON.parse(raw) as Record<string, unknown> }));
}
