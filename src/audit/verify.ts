// `sqlwarden audit verify FILE`: walks the hash chain and names the first line that breaks it.
//
// API:
//   verifyAudit(file)      FILE and its rotated predecessors (`FILE.1`, `FILE.2`, ... oldest first), then FILE
//   verifyAudit([a, b])    exactly these files, in this order
//       -> { ok, files, lines, firstSeq?, continues, lastSeq?, lastHash?, firstBad?: { file, line, seq?, reason } }
//       A first line whose prev is not 64 zeros continues a chain whose earlier files are not here: accepted,
//       with `continues` set (the report says so), since a pruned or single rotated file starts that way.
//   runAuditVerify(file)   prints `ok: ...` or `FAIL at file:line (seq N): reason`; resolves 0 or 1
//
// What each break looks like: an edited line no longer hashes to its hash; a dropped line leaves a seq gap;
// swapped lines put a later seq first (and the missing one turns up after it); a line cut short has no hash
// member. Dropping whole lines at the very end leaves no trace in the chain itself: compare the last seq and
// hash with the ones the process logs ("audit: closed", "audit: file rotated").
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { genesis, hashKey, hashMemberStart, rotatedFilesSync } from './chain.js';

export interface VerifyProblem {
  file: string;
  /** 1-based line number in `file`. */
  line: number;
  /** The seq the line carries, when it could be read. */
  seq?: number;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  files: string[];
  /** Lines checked and found intact. */
  lines: number;
  /** seq of the first line. */
  firstSeq?: number;
  /** The first line continues an earlier chain (its prev is not 64 zeros). */
  continues: boolean;
  lastSeq?: number;
  lastHash?: string;
  firstBad?: VerifyProblem;
}

interface Point {
  file: string;
  line: number;
  seq: number;
  hash: string;
}

const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

/** The files that make up the chain ending in `file`: its rotated predecessors, oldest first, then itself. */
export function auditFiles(file: string): string[] {
  const files = rotatedFilesSync(file).map((r) => r.file);
  if (existsSync(file)) files.push(file);
  return files;
}

export function verifyAudit(target: string | readonly string[]): VerifyResult {
  const files = typeof target === 'string' ? auditFiles(target) : [...target];
  const result: VerifyResult = { ok: true, files, lines: 0, continues: false };
  const bad = (file: string, line: number, reason: string, seq?: number): VerifyResult => {
    result.ok = false;
    result.firstBad = { file, line, reason, ...(seq !== undefined && { seq }) };
    return result;
  };
  if (files.length === 0) return bad(typeof target === 'string' ? target : '(none)', 0, 'no such file');

  let last: Point | null = null;
  for (let f = 0; f < files.length; f++) {
    const file = files[f]!;
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      return bad(file, 0, `cannot read: ${(err as Error).message}`);
    }
    let lineNo = 0;
    let start = 0;
    while (start < buf.length) {
      lineNo++;
      const nl = buf.indexOf(0x0a, start);
      const end = nl < 0 ? buf.length : nl;
      const next = nl < 0 ? buf.length : nl + 1;
      if (nl < 0) return bad(file, lineNo, 'truncated line (no newline at the end: a write cut short, or the file was cut)');
      if (end === start) return bad(file, lineNo, 'empty line');
      const at = hashMemberStart(buf, start, end);
      if (at < 0) return bad(file, lineNo, 'not an audit line (no hash member at the end: cut short or edited)');
      let parsed: { seq?: unknown; prev?: unknown; type?: unknown; ts?: unknown };
      try {
        parsed = JSON.parse(buf.toString('utf8', start, end)) as typeof parsed;
      } catch {
        return bad(file, lineNo, 'not valid JSON (line edited)');
      }
      const { seq, prev } = parsed;
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return bad(file, lineNo, 'no valid seq (line edited)');
      if (!isHash(prev)) return bad(file, lineNo, 'no valid prev (line edited)', seq);
      if (typeof parsed.type !== 'string' || typeof parsed.ts !== 'string') return bad(file, lineNo, 'no type or ts (line edited)', seq);
      const hash = buf.toString('latin1', at + hashKey.length, end - 2);
      const actual = createHash('sha256').update(prev).update(buf.subarray(start, at)).update('}').digest('hex');
      if (actual !== hash) return bad(file, lineNo, 'hash mismatch (line edited)', seq);

      if (last === null) {
        result.firstSeq = seq;
        result.continues = prev !== genesis;
        if (prev === genesis && seq !== 1) return bad(file, lineNo, `a new chain starts at seq ${seq}, not 1`, seq);
      } else {
        const where = last.file === file ? `line ${last.line}` : `${path.basename(last.file)}:${last.line}`;
        const expected = last.seq + 1;
        if (seq > expected) {
          const reason = seqLater(files, f, buf, next, expected)
            ? `prev does not match ${where} (reordered: seq ${expected} comes later)`
            : `seq jumps from ${last.seq} to ${seq} (${seq - expected === 1 ? 'line' : `${seq - expected} lines`} dropped)`;
          return bad(file, lineNo, reason, seq);
        }
        if (seq < expected) return bad(file, lineNo, `seq goes back from ${last.seq} to ${seq} (reordered or repeated)`, seq);
        if (prev !== last.hash) return bad(file, lineNo, `prev does not match ${where} (reordered or replaced)`, seq);
      }
      last = { file, line: lineNo, seq, hash };
      result.lines++;
      start = next;
    }
  }
  if (last) {
    result.lastSeq = last.seq;
    result.lastHash = last.hash;
  }
  return result;
}

/** Whether a line with seq `seq` appears after `from` in this file or a later one. */
function seqLater(files: readonly string[], f: number, buf: Buffer, from: number, seq: number): boolean {
  // In a canonical line `"seq":N,` only occurs as the seq member: quotes inside strings are escaped.
  const needle = `"seq":${seq},`;
  if (buf.indexOf(needle, from) >= 0) return true;
  for (let i = f + 1; i < files.length; i++) {
    try {
      if (readFileSync(files[i]!).indexOf(needle) >= 0) return true;
    } catch {
      return false;
    }
  }
  return false;
}

export function formatVerify(r: VerifyResult): string {
  if (r.firstBad) {
    const b = r.firstBad;
    return `FAIL at ${b.file}:${b.line}${b.seq !== undefined ? ` (seq ${b.seq})` : ''}: ${b.reason}`;
  }
  const where = r.files.length > 1 ? ` in ${r.files.length} files` : '';
  const cont = r.continues
    ? `; the first line continues an earlier chain at seq ${r.firstSeq}: lines before it are not here and were not checked`
    : '';
  return `ok: ${r.lines} lines${where}, chain intact${cont}`;
}

export interface VerifyIo {
  out(line: string): void;
  err(line: string): void;
}

const stdio: VerifyIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** The CLI's `audit verify FILE`: exit code 0 when the chain is intact, 1 when not. */
export async function runAuditVerify(file: string, io: VerifyIo = stdio): Promise<number> {
  const r = verifyAudit(file);
  if (r.ok) io.out(formatVerify(r));
  else io.err(formatVerify(r));
  return r.ok ? 0 : 1;
}
