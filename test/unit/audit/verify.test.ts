// verify: an intact chain passes; an edited, dropped, reordered, repeated or cut line fails at that line.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/log.js';
import { formatVerify, runAuditVerify, verifyAudit } from '../../../src/audit/verify.js';
import { MemoryLogger, removeTempDirs, sampleEvent, tempDir } from './helpers.js';

afterEach(removeTempDirs);

async function writeChain(file: string, count: number, maxBytes?: number): Promise<void> {
  const audit = await AuditLog.open(file, { log: new MemoryLogger(), ...(maxBytes && { maxBytes }) });
  for (let i = 0; i < count; i++) {
    if (maxBytes) await audit.writeAndFlush(sampleEvent(i));
    else audit.write(sampleEvent(i));
  }
  await audit.close();
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('verifyAudit on one file', () => {
  let file: string;
  let lines: string[];
  const rewrite = (ls: string[]) => writeFileSync(file, ls.map((l) => l + '\n').join(''));

  beforeEach(async () => {
    file = path.join(tempDir(), 'audit.jsonl');
    await writeChain(file, 100);
    lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  });

  it('passes an intact chain and prints ok', async () => {
    expect(verifyAudit(file)).toMatchObject({ ok: true, lines: 100, files: [file], firstSeq: 1, continues: false, lastSeq: 100 });
    const { io, out, err } = capture();
    await expect(runAuditVerify(file, io)).resolves.toBe(0);
    expect(out).toEqual(['ok: 100 lines, chain intact']);
    expect(err).toEqual([]);
  });

  it('finds an edited field: hash mismatch at that line', async () => {
    expect(lines[56]).toContain('"requestId":"r56"');
    lines[56] = lines[56]!.replace('"requestId":"r56"', '"requestId":"r55"');
    rewrite(lines);
    expect(verifyAudit(file)).toMatchObject({ ok: false, lines: 56, firstBad: { file, line: 57, seq: 57, reason: 'hash mismatch (line edited)' } });
    const { io, err } = capture();
    await expect(runAuditVerify(file, io)).resolves.toBe(1);
    expect(err).toEqual([`FAIL at ${file}:57 (seq 57): hash mismatch (line edited)`]);
  });

  it('finds an edited line whose hash was recomputed: the next line no longer chains to it', () => {
    const obj = JSON.parse(lines[21]!) as Record<string, unknown>;
    const body = lines[21]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '').replace('"reason":"ok"', '"reason":"forged"');
    expect(body).toContain('forged');
    const forged = createHash('sha256').update(`${obj.prev as string}${body}}`).digest('hex');
    lines[21] = `${body},"hash":"${forged}"}`;
    rewrite(lines);
    expect(verifyAudit(file).firstBad).toEqual({ file, line: 23, seq: 23, reason: 'prev does not match line 22 (reordered or replaced)' });
  });

  it('finds a dropped line: seq jumps', () => {
    lines.splice(56, 1);
    rewrite(lines);
    expect(verifyAudit(file).firstBad).toEqual({ file, line: 57, seq: 58, reason: 'seq jumps from 56 to 58 (line dropped)' });
    expect(formatVerify(verifyAudit(file))).toBe(`FAIL at ${file}:57 (seq 58): seq jumps from 56 to 58 (line dropped)`);
  });

  it('counts several dropped lines', () => {
    lines.splice(10, 3);
    rewrite(lines);
    expect(verifyAudit(file).firstBad).toMatchObject({ line: 11, seq: 14, reason: 'seq jumps from 10 to 14 (3 lines dropped)' });
  });

  it('finds two swapped lines: reordered', () => {
    [lines[56], lines[57]] = [lines[57]!, lines[56]!];
    rewrite(lines);
    expect(verifyAudit(file).firstBad).toEqual({ file, line: 57, seq: 58, reason: 'prev does not match line 56 (reordered: seq 57 comes later)' });
  });

  it('finds a repeated line: seq goes back', () => {
    lines.splice(11, 0, lines[10]!);
    rewrite(lines);
    expect(verifyAudit(file).firstBad).toEqual({ file, line: 12, seq: 11, reason: 'seq goes back from 11 to 11 (reordered or repeated)' });
  });

  it('finds a last line cut short', () => {
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, -30));
    expect(verifyAudit(file)).toMatchObject({ ok: false, lines: 99, firstBad: { line: 100, reason: expect.stringMatching(/^truncated line/) } });
  });

  it('finds a line cut short in the middle of the file', () => {
    lines[40] = lines[40]!.slice(0, 50);
    rewrite(lines);
    expect(verifyAudit(file).firstBad).toMatchObject({ line: 41, reason: expect.stringMatching(/^not an audit line/) });
  });

  it('finds a first line removed when the chain must start here, and says a continued chain when it may not', () => {
    lines.shift();
    rewrite(lines);
    const r = verifyAudit(file);
    // Without the first line, the file reads as the continuation of an earlier chain: accepted, but said.
    expect(r).toMatchObject({ ok: true, lines: 99, firstSeq: 2, continues: true });
    expect(formatVerify(r)).toBe('ok: 99 lines, chain intact; the first line continues an earlier chain at seq 2: lines before it are not here and were not checked');
  });

  it('refuses a new chain that does not start at seq 1', () => {
    const obj = JSON.parse(lines[0]!) as Record<string, unknown>;
    const body = lines[0]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '').replace('"seq":1,', '"seq":5,');
    lines[0] = `${body},"hash":"${createHash('sha256').update(`${obj.prev as string}${body}}`).digest('hex')}"}`;
    rewrite(lines.slice(0, 1));
    expect(verifyAudit(file).firstBad).toMatchObject({ line: 1, seq: 5, reason: 'a new chain starts at seq 5, not 1' });
  });

  it('says what is missing when there is no file', async () => {
    rmSync(file);
    const { io, err } = capture();
    await expect(runAuditVerify(file, io)).resolves.toBe(1);
    expect(err).toEqual([`FAIL at ${file}:0: no such file`]);
  });
});

describe('verifyAudit on rotated files', () => {
  it('walks <file>.1, .2 ... then <file> as one chain', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    await writeChain(file, 30, 1500);
    const r = verifyAudit(file);
    expect(r.files.length).toBeGreaterThan(3);
    expect(r).toMatchObject({ ok: true, lines: 30, continues: false });
    const { io, out } = capture();
    await expect(runAuditVerify(file, io)).resolves.toBe(0);
    expect(out).toEqual([`ok: 30 lines in ${r.files.length} files, chain intact`]);
  });

  it('finds a missing rotated file at the first line of the next one', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    await writeChain(file, 30, 1500);
    const files = verifyAudit(file).files;
    const firstOfThird = JSON.parse(readFileSync(files[2]!, 'utf8').split('\n')[0]!).seq as number;
    const lastOfFirst = JSON.parse(readFileSync(files[0]!, 'utf8').trimEnd().split('\n').at(-1)!).seq as number;
    rmSync(files[1]!);
    expect(verifyAudit(file).firstBad).toMatchObject({
      file: files[2],
      line: 1,
      seq: firstOfThird,
      reason: expect.stringMatching(new RegExp(`^seq jumps from ${lastOfFirst} to ${firstOfThird}`)),
    });
  });

  it('names the previous file when the break is at a file boundary', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    await writeChain(file, 30, 1500);
    const files = verifyAudit(file).files;
    // Swap the first two lines of file 2: the break is at its line 1, after the last line of file 1.
    const a = readFileSync(files[0]!, 'utf8').split('\n').slice(0, -1);
    const b = readFileSync(files[1]!, 'utf8').split('\n').slice(0, -1);
    expect(b.length).toBeGreaterThan(1);
    [b[0], b[1]] = [b[1]!, b[0]!];
    writeFileSync(files[1]!, b.map((l) => l + '\n').join(''));
    expect(verifyAudit(file).firstBad).toMatchObject({
      file: files[1],
      line: 1,
      seq: a.length + 2,
      reason: `prev does not match audit.jsonl.1:${a.length} (reordered: seq ${a.length + 1} comes later)`,
    });
  });

  it('accepts one rotated file on its own as the continuation of a chain, and says so', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    await writeChain(file, 30, 1500);
    const second = `${file}.2`;
    const r = verifyAudit(second);
    expect(r).toMatchObject({ ok: true, files: [second], continues: true });
    expect(r.firstSeq).toBeGreaterThan(1);
    expect(formatVerify(r)).toMatch(/^ok: \d+ lines, chain intact; the first line continues an earlier chain at seq \d+/);
    expect(verifyAudit([`${file}.2`, `${file}.3`])).toMatchObject({ ok: true, continues: true });
    expect(verifyAudit([`${file}.3`, `${file}.2`]).firstBad).toMatchObject({ file: `${file}.2`, line: 1, reason: expect.stringMatching(/^seq goes back/) });
  });
});
