// The audit writer: chain, canonical lines, restarts, rotation, flush and fsync, order, a failing disk.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuditLog, AuditWriteError, type AuditLogOptions } from '../../../src/audit/log.js';
import { verifyAudit } from '../../../src/audit/verify.js';
import type { AuditEvent } from '../../../src/audit/events.js';
import { MemoryLogger, linesOf, removeTempDirs, sampleEvent, tempDir } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTempDirs();
});

const zeros = '0'.repeat(64);

/** The hash as the format defines it, computed here independently of src/audit. */
function expectedHash(raw: string, prev: string): string {
  const m = /^(.*),"hash":"[0-9a-f]{64}"\}$/.exec(raw);
  if (!m) throw new Error(`no hash member: ${raw}`);
  return createHash('sha256').update(prev + m[1] + '}').digest('hex');
}

async function openLog(file: string, opts: Partial<AuditLogOptions> = {}) {
  const log = new MemoryLogger();
  const audit = await AuditLog.open(file, { log, ...opts });
  return { audit, log };
}

const decision = (reason: string): AuditEvent => ({ type: 'decision', requestId: 'r1', status: 'approved', reviewer: 'bob', reason });

describe('AuditLog chain', () => {
  it('writes seq 1, 2, 3... with prev and hash chaining every line', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit, log } = await openLog(file);
    for (let i = 0; i < 60; i++) audit.write(sampleEvent(i));
    await audit.close();
    const lines = linesOf(file);
    expect(lines).toHaveLength(60);
    let prev = zeros;
    lines.forEach(({ raw, obj }, i) => {
      expect(obj.seq).toBe(i + 1);
      expect(obj.prev).toBe(prev);
      expect(obj.hash).toBe(expectedHash(raw, prev));
      expect(obj.type).toBe(sampleEvent(i).type);
      expect(new Date(obj.ts as string).toISOString()).toBe(obj.ts);
      prev = obj.hash as string;
    });
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 60, continues: false, lastSeq: 60, lastHash: prev });
    expect(log.errors()).toEqual([]);
    expect(log.entries.at(-1)).toMatchObject({ msg: 'audit: closed', obj: { seq: 60, hash: prev } });
  });

  it('writes keys in a fixed order whatever the caller used, leaving out undefined fields', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit } = await openLog(file);
    audit.write({
      action: 'hold',
      sql: 'DROP TABLE t',
      requestId: 'r9',
      category: 'ddl',
      kind: undefined,
      fingerprint: 'ab',
      listener: 'pg',
      type: 'statement',
      session: 's1',
      rule: null,
      identity: { user: 'u', client: '10.0.0.1:5', tlsCommonName: undefined },
    });
    audit.write({ type: 'execute', durationMs: 2, session: 's1', listener: 'pg', rows: 3, maskedCells: { zeta: 1, alpha: 2 } });
    await audit.close();
    const [a, b] = linesOf(file);
    expect(a!.raw.replace(/"ts":"[^"]+"/, '"ts":T').replace(/"(prev|hash)":"[0-9a-f]+"/g, '"$1":H')).toBe(
      '{"ts":T,"seq":1,"type":"statement","session":"s1","listener":"pg","identity":{"client":"10.0.0.1:5","user":"u"},' +
        '"requestId":"r9","fingerprint":"ab","category":"ddl","action":"hold","rule":null,"sql":"DROP TABLE t","prev":H,"hash":H}',
    );
    expect(b!.raw).toContain('"type":"execute","session":"s1","listener":"pg","rows":3,"maskedCells":{"alpha":2,"zeta":1},"durationMs":2,"prev"');
  });

  it('runs every sql field through the redact hook, and writes a marker when the hook throws', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    // The hook runs when a line is made (at the end of the tick), so what it fails on is in the text itself.
    const redact = (text: string) => {
      if (text.includes('secret@')) throw new Error('detector broke');
      return text.replace(/[\w.]+@[\w.]+/g, '[email]');
    };
    const { audit, log } = await openLog(file, { redact });
    audit.write({ type: 'statement', session: 's1', listener: 'pg', fingerprint: 'f', category: 'write', sql: "INSERT INTO u VALUES ('jane@example.com')", action: 'allow' });
    audit.write({ type: 'hold', session: 's1', listener: 'pg', requestId: 'r1', identity: { client: 'c' }, category: 'ddl', fingerprints: [], sql: 'COMMENT ON t IS \'bob@example.org\'' });
    audit.write({ type: 'statement', session: 's1', listener: 'pg', fingerprint: 'f', category: 'write', sql: "SELECT 'secret@example.com'", action: 'allow' });
    await audit.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('example.');
    const sql = linesOf(file).map((l) => l.obj.sql);
    expect(sql).toEqual(["INSERT INTO u VALUES ('[email]')", "COMMENT ON t IS '[email]'", '[redact failed]']);
    expect(log.errors().map((e) => e.msg)).toEqual(['audit: redact hook failed; sql written as "[redact failed]"']);
  });

  it('cuts sql longer than maxSqlChars and says how much was cut', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit } = await openLog(file, { maxSqlChars: 10 });
    audit.write({ type: 'statement', session: 's1', listener: 'pg', fingerprint: 'f', category: 'read', sql: 'SELECT 1234567890', action: 'allow' });
    await audit.close();
    expect(linesOf(file)[0]!.obj.sql).toBe('SELECT 123…[7 more chars]');
  });

  it('continues seq and hash after a restart, so restarts keep one chain', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const first = await openLog(file);
    for (let i = 0; i < 3; i++) first.audit.write(sampleEvent(i));
    await first.audit.close();
    const second = await openLog(file);
    expect(second.audit.status()).toMatchObject({ ok: true, seq: 3 });
    for (let i = 3; i < 5; i++) second.audit.write(sampleEvent(i));
    await second.audit.close();
    const lines = linesOf(file);
    expect(lines.map((l) => l.obj.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(lines[3]!.obj.prev).toBe(lines[2]!.obj.hash);
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 5 });
  });

  it('continues the chain of the newest rotated file when the current file is missing', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const first = await openLog(file);
    for (let i = 0; i < 4; i++) first.audit.write(sampleEvent(i));
    await first.audit.close();
    renameSync(file, `${file}.1`);
    const second = await openLog(file);
    second.audit.write(sampleEvent(4));
    await second.audit.close();
    expect(linesOf(file)[0]!.obj).toMatchObject({ seq: 5, prev: linesOf(`${file}.1`)[3]!.obj.hash });
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 5, files: [`${file}.1`, file] });
  });

  it('starts its own line after a file that ends inside a line, and logs it', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const first = await openLog(file);
    for (let i = 0; i < 3; i++) first.audit.write(sampleEvent(i));
    await first.audit.close();
    appendFileSync(file, '{"ts":"2024-01-01T00:00:00.000Z","seq":4,"ty');
    const second = await openLog(file);
    second.audit.write(sampleEvent(3));
    await second.audit.close();
    const raw = readFileSync(file, 'utf8').split('\n');
    expect(raw[3]).toBe('{"ts":"2024-01-01T00:00:00.000Z","seq":4,"ty');
    expect(JSON.parse(raw[4]!)).toMatchObject({ seq: 4, prev: JSON.parse(raw[2]!).hash });
    expect(second.log.errors()[0]!.msg).toContain('ends inside a line');
    expect(verifyAudit(file).firstBad).toMatchObject({ line: 4, reason: expect.stringContaining('not an audit line') });
  });
});

describe('AuditLog rotation', () => {
  it('rotates to <file>.1, .2 ... by size, the first line of each file chaining to the last of the one before', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit, log } = await openLog(file, { maxBytes: 2000 });
    for (let i = 0; i < 40; i++) await audit.writeAndFlush(sampleEvent(i));
    await audit.close();
    const files = verifyAudit(file).files;
    expect(files.length).toBeGreaterThan(3);
    expect(files.slice(0, -1)).toEqual(files.slice(0, -1).map((_, i) => `${file}.${i + 1}`));
    for (let i = 1; i < files.length; i++) {
      expect(statSync(files[i - 1]!).size).toBeLessThanOrEqual(2000);
      expect(linesOf(files[i]!)[0]!.obj.prev).toBe(linesOf(files[i - 1]!).at(-1)!.obj.hash);
    }
    expect(files.flatMap((f) => linesOf(f).map((l) => l.obj.seq))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 40, continues: false });
    const rotated = log.entries.filter((e) => e.msg === 'audit: file rotated');
    expect(rotated.map((e) => e.obj)).toEqual(
      files.slice(0, -1).map((f) => ({ file: f, seq: linesOf(f).at(-1)!.obj.seq, hash: linesOf(f).at(-1)!.obj.hash })),
    );
  });

  it('never overwrites an existing rotated file: numbering goes on after the highest', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'audit.jsonl');
    const first = await openLog(file, { maxBytes: 1500 });
    for (let i = 0; i < 12; i++) await first.audit.writeAndFlush(sampleEvent(i));
    await first.audit.close();
    const before = verifyAudit(file).files;
    const second = await openLog(file, { maxBytes: 1500 });
    for (let i = 12; i < 24; i++) await second.audit.writeAndFlush(sampleEvent(i));
    await second.audit.close();
    const after = verifyAudit(file);
    expect(after.files.length).toBeGreaterThan(before.length);
    expect(after).toMatchObject({ ok: true, lines: 24 });
  });
});

describe('AuditLog flushing and order', () => {
  it('buffers write() and puts it on disk by the next tick; writeAndFlush resolves with the line on disk', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit } = await openLog(file);
    audit.write(sampleEvent(1));
    expect(readFileSync(file, 'utf8')).toBe('');
    await audit.flush();
    expect(linesOf(file)).toHaveLength(1);
    await audit.writeAndFlush(decision('needed for the migration'));
    const last = linesOf(file).at(-1)!.obj;
    expect(last).toMatchObject({ seq: 2, type: 'decision', reason: 'needed for the migration' });
    await audit.close();
  });

  it("makes write()'s lines when the batch is due, off the caller's turn, counted as pending at once", async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const redacted: string[] = [];
    const { audit } = await openLog(file, { redact: (t) => (redacted.push(t), t) });
    const stmt = (sql: string) => ({ type: 'statement', session: 's1', listener: 'pg', fingerprint: 'f', category: 'read', sql, action: 'allow' }) as const;
    audit.write(stmt('SELECT 1'));
    expect(redacted).toEqual([]);
    expect(audit.status().pending).toBe(1);
    expect(redacted).toEqual(['SELECT 1']);
    audit.write(stmt('SELECT 2'));
    audit.write(stmt('SELECT 3'));
    await new Promise((r) => setImmediate(r));
    expect(redacted).toEqual(['SELECT 1']); // not at the end of the tick: they wait for the batch
    await new Promise((r) => setTimeout(r, 30));
    expect(redacted).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
    expect(linesOf(file).map((l) => l.obj.sql)).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
    await audit.close();
  });

  it('makes the lines at the end of the tick once a batch of them waits', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const redacted: string[] = [];
    const { audit } = await openLog(file, { batchLines: 4, redact: (t) => (redacted.push(t), t) });
    for (let i = 1; i <= 4; i++) audit.write({ type: 'statement', session: 's1', listener: 'pg', fingerprint: 'f', category: 'read', sql: `SELECT ${i}`, action: 'allow' });
    expect(redacted).toEqual([]);
    await Promise.resolve();
    expect(redacted).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3', 'SELECT 4']);
    await audit.close();
    expect(linesOf(file)).toHaveLength(4);
  });

  it('fsyncs for writeAndFlush and close, not for plain writes', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit } = await openLog(file);
    const probe = await open(file, 'r');
    const proto = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(proto, 'datasync');
    audit.write(sampleEvent(1));
    await audit.flush();
    expect(datasync).not.toHaveBeenCalled();
    await audit.writeAndFlush(decision('x'));
    expect(datasync).toHaveBeenCalledTimes(1);
    audit.write(sampleEvent(2));
    await audit.close();
    expect(datasync).toHaveBeenCalledTimes(2);
  });

  it('writes a tick of writes with one fs write, and at most batchLines lines per write', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit } = await openLog(file, { batchLines: 300 });
    const probe = await open(file, 'r');
    const proto = Object.getPrototypeOf(probe) as { write(...args: unknown[]): Promise<unknown> };
    await probe.close();
    const write = vi.spyOn(proto, 'write');
    for (let i = 0; i < 250; i++) audit.write(sampleEvent(i));
    await audit.flush();
    expect(write).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 1000; i++) audit.write(sampleEvent(i));
    await audit.flush();
    expect(write).toHaveBeenCalledTimes(1 + 4);
    await audit.close();
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 1250 });
  });

  it('keeps the order of writes from concurrent callers', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit } = await openLog(file, { batchLines: 7 });
    const order: string[] = [];
    const caller = async (c: number) => {
      for (let i = 0; i < 40; i++) {
        const reason = `${c}:${i}`;
        order.push(reason);
        if (i % 9 === 0) await audit.writeAndFlush(decision(reason));
        else audit.write(decision(reason));
        if ((i + c) % 3 === 0) await new Promise((r) => setImmediate(r));
        else if ((i + c) % 5 === 0) await Promise.resolve();
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(caller));
    await audit.close();
    expect(linesOf(file).map((l) => l.obj.reason)).toEqual(order);
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 200 });
  });
});

describe('AuditLog on a failing disk', () => {
  it('does not throw when the path is a directory: logs, rejects writeAndFlush, keeps the events and writes them once it can', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'audit.jsonl');
    mkdirSync(file);
    const { audit, log } = await openLog(file, { retryMinMs: 20, retryMaxMs: 40 });
    expect(log.errors()[0]!.msg).toContain(`cannot write ${file}`);
    expect(() => audit.write(sampleEvent(0))).not.toThrow();
    await expect(audit.writeAndFlush(decision('first'))).rejects.toBeInstanceOf(AuditWriteError);
    await expect(audit.flush()).rejects.toThrow(/EISDIR|illegal operation on a directory/);
    expect(audit.status()).toMatchObject({ ok: false, pending: 2 });
    audit.write(sampleEvent(2));
    rmdirSync(file);
    await audit.flush();
    expect(audit.status()).toMatchObject({ ok: true, pending: 0 });
    expect(log.entries.some((e) => e.level === 'warn' && e.msg.includes('writing again'))).toBe(true);
    await audit.close();
    expect(linesOf(file).map((l) => l.obj.type)).toEqual(['session.open', 'decision', 'hold']);
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 3 });
  });

  it('keeps the lines written before the chain could even be read, and chains them once it can', async () => {
    const dir = tempDir();
    // A regular file where the audit folder should be: reading the chain fails (ENOTDIR), not just opening.
    const folder = path.join(dir, 'logs');
    appendFileSync(folder, 'not a folder');
    const file = path.join(folder, 'audit.jsonl');
    const { audit, log } = await openLog(file, { retryMinMs: 20, retryMaxMs: 40 });
    expect(log.errors()[0]!.msg).toContain(`cannot write ${file}`);
    for (let i = 0; i < 5; i++) audit.write(sampleEvent(i));
    expect(audit.status()).toMatchObject({ ok: false, pending: 5, seq: 0 });
    unlinkSync(folder);
    mkdirSync(folder);
    await audit.flush();
    for (let i = 5; i < 8; i++) audit.write(sampleEvent(i));
    await audit.close();
    const lines = linesOf(file);
    expect(lines.map((l) => l.obj.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(lines.map((l) => l.obj.type)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => sampleEvent(i).type));
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 8 });
  });

  it('retries on its own after a write fails with a full disk, continuing the chain in the file it reopens', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const first = await openLog(file);
    for (let i = 0; i < 3; i++) first.audit.write(sampleEvent(i));
    await first.audit.close();
    renameSync(file, `${file}.1`);
    symlinkSync('/dev/full', file);
    const { audit, log } = await openLog(file, { retryMinMs: 20, retryMaxMs: 40 });
    expect(audit.status().seq).toBe(3); // chain read from the rotated file: /dev/full has none
    audit.write(sampleEvent(3));
    await expect(audit.writeAndFlush(decision('approve'))).rejects.toThrow(/ENOSPC|no space/i);
    expect(log.errors()).toHaveLength(1); // loudly, once per outage rather than per retry
    unlinkSync(file);
    await vi.waitFor(() => expect(existsSync(file) && linesOf(file)).toHaveLength(2), { timeout: 2000 });
    await audit.close();
    expect(linesOf(file)[0]!.obj).toMatchObject({ seq: 4, type: 'decision', session: 's3' });
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 5 });
  });

  it('bounds what it keeps: past maxPendingBytes an event goes to the log in full, and the chain says how many', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    mkdirSync(file);
    const { audit, log } = await openLog(file, { maxPendingBytes: 3000, retryMinMs: 10_000 });
    // Events of one size: once the queue is full, every later one is turned away.
    for (let i = 0; i < 30; i++) audit.write(decision(`reason ${10 + i}`));
    const { pending, dropped } = audit.status();
    expect(dropped).toBeGreaterThan(0);
    expect(pending + dropped).toBe(30);
    const logged = log.errors().filter((e) => e.msg.includes('record logged here instead'));
    expect(logged.map((e) => JSON.parse(e.obj.record as string).reason)).toEqual(
      Array.from({ length: dropped }, (_, i) => `reason ${10 + pending + i}`),
    );
    expect(JSON.parse(logged[0]!.obj.record as string)).toMatchObject({ seq: null, type: 'decision', requestId: 'r1' });
    rmdirSync(file);
    await audit.flush();
    audit.write(sampleEvent(99));
    await audit.close();
    const lines = linesOf(file).map((l) => l.obj);
    expect(lines).toHaveLength(pending + 2);
    expect(lines[pending]).toMatchObject({ type: 'audit.dropped', count: dropped });
    expect(lines[pending + 1]).toMatchObject({ session: 's99' });
    expect(verifyAudit(file)).toMatchObject({ ok: true });
  });

  it('keeps a burst larger than maxPendingBytes when the disk is healthy, only behind', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit, log } = await openLog(file, { maxPendingBytes: 3000 });
    for (let i = 0; i < 20; i++) audit.write(decision(`reason ${i}`));
    expect(audit.status()).toMatchObject({ pending: 20, dropped: 0 });
    await audit.close();
    expect(linesOf(file)).toHaveLength(20);
    expect(log.errors()).toEqual([]);
  });

  it('at close with the disk still failing, logs every record it could not write, in order, and resolves', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    mkdirSync(file);
    const { audit, log } = await openLog(file, { retryMinMs: 10_000 });
    for (let i = 0; i < 4; i++) audit.write(sampleEvent(i));
    await expect(audit.close()).resolves.toBeUndefined();
    const records = log.errors().filter((e) => e.msg.startsWith('audit: record not written'));
    expect(records.map((e) => JSON.parse(e.obj.record as string).session)).toEqual(['s0', 's1', 's2', 's3']);
    expect(log.errors().at(-1)).toMatchObject({ obj: { count: 4 } });
  });

  it('logs, and does not throw, for a write after close and an event JSON cannot hold', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const { audit, log } = await openLog(file);
    const cyclic: Record<string, unknown> = { type: 'execute', session: 's1', listener: 'pg', rows: 1, durationMs: 1 };
    cyclic.maskedCells = cyclic;
    expect(() => audit.write(cyclic as unknown as AuditEvent)).not.toThrow();
    await expect(audit.writeAndFlush(cyclic as unknown as AuditEvent)).rejects.toBeInstanceOf(AuditWriteError);
    await audit.close();
    expect(() => audit.write(sampleEvent(1))).not.toThrow();
    await expect(audit.writeAndFlush(sampleEvent(1))).rejects.toBeInstanceOf(AuditWriteError);
    expect(log.errors().map((e) => e.msg)).toEqual([
      'audit: event cannot be serialized; not written',
      'audit: event cannot be serialized; not written',
      'audit: event after close; not written',
      'audit: event after close; not written',
    ]);
    expect(readFileSync(file, 'utf8')).toBe('');
  });
});
