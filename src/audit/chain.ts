// The hash chain's format, shared by the writer and verify.
//
// Each line ends with `,"hash":"<64 hex>"}`. Its hash is SHA-256 (hex) over the previous line's hash followed
// by the line without that member: `prev + line.slice(0, -75) + "}"`. So anyone can check a line with a shell:
// strip the hash member, prepend prev, sha256sum. The first line of a chain has prev = 64 zeros.
//
// Rotated files are `<file>.1`, `<file>.2`, ... (oldest first); the chain runs through them into `<file>`.
import { hash as cryptoHash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import path from 'node:path';

export const genesis = '0'.repeat(64);

export const hashKey = ',"hash":"';
/** `,"hash":"` + 64 hex + `"}` */
export const hashSuffixLength = hashKey.length + 64 + 2;

const prevKey = Buffer.from(',"prev":"', 'latin1');
const hashKeyBytes = Buffer.from(hashKey, 'latin1');

/** Room `appendLine` may need for a line of these parts (UTF-8 takes at most 3 bytes per UTF-16 unit). */
export function lineRoom(pre: string, post: string): number {
  return 64 + pre.length + 16 + 3 * post.length + prevKey.length + 64 + 2 + hashSuffixLength + 1;
}

function copyDigits(n: number, out: Buffer, at: number): number {
  let digits = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
  for (let i = digits - 1, v = n; i >= 0; i--, v = Math.floor(v / 10)) out[at + i] = 0x30 + (v % 10);
  return at + digits;
}

/**
 * Writes the line `pre + seq + post + ,"prev":"<prev>"` + its hash member + newline into `out` at `at` (which
 * has `lineRoom` bytes free there) and returns where it ends; its hash is the 64 bytes before the last 3.
 * `prev` is the previous line's hash, 64 hex bytes at `prevAt` (for the lines after the first of a batch, in
 * `out` itself). The hash's input (prev, the line without its hash member, `}`) is laid out in `out` first
 * and hashed where it lies, then the line is moved over the prev in front of it: no string is built for a
 * line, and its text is encoded once.
 */
export function appendLine(out: Buffer, at: number, prev: Buffer, prevAt: number, pre: string, seq: number, post: string): number {
  // copyWithin and set, not Buffer#copy (a view and argument checks per call) nor byte loops (V8 does not inline
  // their element access here, and charCodeAt on a concatenated string goes to the runtime).
  if (prev === out) out.copyWithin(at, prevAt, prevAt + 64);
  else out.set(prev.subarray(prevAt, prevAt + 64), at);
  const body = at + 64;
  let p = body + out.write(pre, body, 'latin1');
  p = copyDigits(seq, out, p);
  p += out.write(post, p, 'utf8');
  out.set(prevKey, p);
  p += prevKey.length;
  out.copyWithin(p, at, body);
  p += 64;
  out[p++] = 0x22; // "
  out[p] = 0x7d; // }, the end of what is hashed
  // Hex out: a Buffer digest takes ~3x as long here.
  const hash = cryptoHash('sha256', out.subarray(at, p + 1), 'hex');
  out.copyWithin(at, body, p);
  p -= 64;
  out.set(hashKeyBytes, p);
  p += hashKeyBytes.length;
  p += out.write(hash, p, 64, 'latin1');
  out[p++] = 0x22; // "
  out[p++] = 0x7d; // }
  out[p++] = 0x0a;
  return p;
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);

/** Where the hash member starts in `line` (bytes, no newline), or -1 when the line does not end with one. */
export function hashMemberStart(line: Buffer, start: number, end: number): number {
  const at = end - hashSuffixLength;
  if (at < start || line[end - 1] !== 0x7d || line[end - 2] !== 0x22) return -1;
  for (let i = 0; i < hashKey.length; i++) if (line[at + i] !== hashKey.charCodeAt(i)) return -1;
  for (let i = at + hashKey.length; i < end - 2; i++) if (!isHex(line[i]!)) return -1;
  return at;
}

function rotationNumber(name: string, base: string): number {
  if (name.length <= base.length + 1 || !name.startsWith(base) || name.charCodeAt(base.length) !== 0x2e) return -1;
  let n = 0;
  for (let i = base.length + 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

function rotatedFrom(file: string, names: string[]): { file: string; n: number }[] {
  const base = path.basename(file);
  const dir = path.dirname(file);
  const out: { file: string; n: number }[] = [];
  for (const name of names) {
    const n = rotationNumber(name, base);
    if (n > 0) out.push({ file: path.join(dir, name), n });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** `<file>.N` files next to `file`, oldest (smallest N) first. A missing folder has none. */
export async function rotatedFiles(file: string): Promise<{ file: string; n: number }[]> {
  try {
    return rotatedFrom(file, await readdir(path.dirname(file)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function rotatedFilesSync(file: string): { file: string; n: number }[] {
  try {
    return rotatedFrom(file, readdirSync(path.dirname(file)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Where a file's chain ends. */
export interface Tail {
  /** Bytes in the file. */
  size: number;
  /** The last complete line (without its newline), if any. */
  last: Buffer | null;
  /** The file ends inside a line (a write cut short): the next write must start a new line. */
  partial: boolean;
}

const chunk = 64 * 1024;

/** Reads the end of `file` backwards until the start of its last complete line. Missing file: undefined. */
export async function readTail(file: string): Promise<Tail | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    // A device or pipe has no chain to continue (and reading one may never end).
    if (!st.isFile()) return { size: 0, last: null, partial: false };
    const size = st.size;
    if (size === 0) return { size, last: null, partial: false };
    // Walk back in chunks, collecting them, until two newlines bound the last complete line.
    const parts: Buffer[] = [];
    let pos = size;
    let lineEnd = -1; // offset of the newline ending the last complete line
    while (pos > 0) {
      const from = Math.max(0, pos - chunk);
      const buf = Buffer.allocUnsafe(pos - from);
      const { bytesRead } = await fh.read(buf, 0, buf.length, from);
      if (bytesRead !== buf.length) throw new Error(`${file}: short read at ${from}`);
      parts.unshift(buf);
      let i = buf.length;
      while (i > 0) {
        i = buf.lastIndexOf(0x0a, i - 1);
        if (i < 0) break;
        if (lineEnd < 0) lineEnd = from + i;
        else {
          const all = Buffer.concat(parts);
          return { size, last: all.subarray(from + i + 1 - from, lineEnd - from), partial: lineEnd !== size - 1 };
        }
        if (i === 0) break;
      }
      pos = from;
    }
    if (lineEnd < 0) return { size, last: null, partial: true };
    const all = Buffer.concat(parts);
    return { size, last: all.subarray(0, lineEnd), partial: lineEnd !== size - 1 };
  } finally {
    await fh.close();
  }
}

/** seq and hash of a complete line, or why they cannot be read. */
export function chainPoint(line: Buffer): { seq: number; hash: string } | string {
  if (hashMemberStart(line, 0, line.length) < 0) return 'does not end with a hash member';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const { seq, hash } = parsed as { seq?: unknown; hash?: unknown };
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'no valid seq';
  if (typeof hash !== 'string') return 'no hash';
  return { seq, hash };
}
