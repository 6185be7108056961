// The hash chain's format, shared by the writer and verify.
//
// Each line ends with `,"hash":"<64 hex>"}`. Its hash is SHA-256 (hex) over the previous line's hash followed
// by the line without that member: `prev + line.slice(0, -75) + "}"`. So anyone can check a line with a shell:
// strip the hash member, prepend prev, sha256sum. The first line of a chain has prev = 64 zeros.
//
// Rotated files are `<file>.1`, `<file>.2`, ... (oldest first); the chain runs through them into `<file>`.
import { hash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import path from 'node:path';

export const genesis = '0'.repeat(64);

export const hashKey = ',"hash":"';
/** `,"hash":"` + 64 hex + `"}` */
export const hashSuffixLength = hashKey.length + 64 + 2;

/**
 * The hash of a line, `body` being the line up to (not including) its hash member: SHA-256 of prev, body and
 * `}`. One-shot `hash` (no Hash object per line) takes about half the time of createHash for lines this short.
 */
export function lineHash(prev: string, body: string): string {
  return hash('sha256', prev + body + '}', 'hex');
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
