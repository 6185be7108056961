// Masking strategies (DESIGN.md "Rules (contract)"): pure functions over a value's bytes. A strategy is
// described by plain data (StrategySpec, safe to post to a worker) and compiled once into a MaskFn.
//
// Contract of a MaskFn, shared by column rules and detector spans:
// - input is the value's bytes src[start, end); SQL NULL never reaches a strategy (NULL stays NULL);
// - output is the replacement bytes, or null meaning "send SQL NULL instead";
// - at most one Buffer is allocated per call; redact and fixed return one shared constant Buffer, so a
//   caller copies the result into its outgoing frame and never writes into it;
// - values are taken as UTF-8 (client_encoding UTF8, utf8mb4): `partial` and `email` count characters and
//   never split a multi-byte sequence. Bytes that are not valid UTF-8 are kept whole with the character
//   whose lead byte precedes them, so a broken value is masked, never made worse.
import { createHmac } from 'node:crypto';

export type StrategySpec =
  | { kind: 'redact' }
  | { kind: 'partial'; keepFirst: number; keepLast: number }
  | { kind: 'email' }
  /** `length` hex characters of HMAC-SHA256(key, value): 16 (64 bits) unless configured, at most 64. */
  | { kind: 'hash'; length: number }
  | { kind: 'null' }
  | { kind: 'fixed'; value: string };

export type StrategyKind = StrategySpec['kind'];

/** Replacement bytes for src[start, end), or null for SQL NULL. See the contract above. */
export type MaskFn = (src: Buffer, start: number, end: number) => Buffer | null;

export interface StrategyOptions {
  /** HMAC key of the `hash` strategy (config `masking.key`). Required only when a hash strategy is used. */
  hashKey?: string | Buffer;
}

export const REDACTED = Buffer.from('****');
export const defaultHashLength = 16;
const STAR = 0x2a;
const AT = 0x40;
const EMPTY = Buffer.alloc(0);

export class StrategyError extends Error {
  override name = 'StrategyError';
}

export function compileStrategy(spec: StrategySpec, opts: StrategyOptions = {}): MaskFn {
  switch (spec.kind) {
    case 'redact':
      return redact;
    case 'partial':
      return partial(spec.keepFirst, spec.keepLast);
    case 'email':
      return email;
    case 'hash':
      return hash(opts.hashKey, spec.length);
    case 'null':
      return toNull;
    case 'fixed': {
      const value = Buffer.from(spec.value, 'utf8');
      return () => value;
    }
  }
}

const redact: MaskFn = () => REDACTED;
const toNull: MaskFn = () => null;

/**
 * Copies src[from, to) to out at pos and returns the position after it. Cell values are short, and for
 * short ranges a loop is several times faster than Buffer#copy, whose native call costs ~50 ns.
 */
export function copyBytes(src: Buffer, from: number, to: number, out: Buffer, pos: number): number {
  if (to - from > 48) return pos + src.copy(out, pos, from, to);
  for (let i = from; i < to; i++) out[pos++] = src[i]!;
  return pos;
}

/** True for a UTF-8 continuation byte (10xxxxxx): never the first byte of a character. */
function isContinuation(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

/** Byte offset just past the first `n` characters of src[start, end). */
function skipChars(src: Buffer, start: number, end: number, n: number): number {
  let p = start;
  for (let k = 0; k < n && p < end; k++) {
    p++;
    while (p < end && isContinuation(src[p]!)) p++;
  }
  return p;
}

/** Byte offset where the last `n` characters of src[start, end) begin. */
function backChars(src: Buffer, start: number, end: number, n: number): number {
  let p = end;
  for (let k = 0; k < n && p > start; k++) {
    p--;
    while (p > start && isContinuation(src[p]!)) p--;
  }
  return p;
}

/** Characters in src[start, end): a leading run of stray continuation bytes counts as one. */
export function countChars(src: Buffer, start: number, end: number): number {
  if (end <= start) return 0;
  let n = 1;
  for (let i = start + 1; i < end; i++) if (!isContinuation(src[i]!)) n++;
  return n;
}

/**
 * Keeps the first `keepFirst` and last `keepLast` characters and writes one `*` per masked character:
 * `123-45-6789` with keepLast 4 is `*******6789`. A value too short to hide anything (no more characters
 * than it would keep) is masked entirely, so `partial` never returns its input unchanged.
 */
function partial(keepFirst: number, keepLast: number): MaskFn {
  return (src, start, end) => {
    const chars = countChars(src, start, end);
    if (chars === 0) return EMPTY;
    const revealing = keepFirst + keepLast < chars;
    const head = revealing ? skipChars(src, start, end, keepFirst) : start;
    const tail = revealing ? backChars(src, start, end, keepLast) : end;
    const masked = revealing ? chars - keepFirst - keepLast : chars;
    const out = Buffer.allocUnsafe(head - start + masked + (end - tail));
    let pos = copyBytes(src, start, head, out, 0);
    for (let k = 0; k < masked; k++) out[pos++] = STAR;
    copyBytes(src, tail, end, out, pos);
    return out;
  };
}

const EMAIL_MASK = Buffer.from('***@');

/**
 * `jane.doe@example.com` -> `j***@example.com`: the first character of the local part, `***@`, and the
 * domain after the last `@`. A one-character local part is not revealed (`***@example.com`). A value
 * without `@` is not an address: it is redacted.
 */
const email: MaskFn = (src, start, end) => {
  let at = end - 1;
  while (at >= start && src[at] !== AT) at--;
  if (at < start) return REDACTED;
  const first = skipChars(src, start, at, 1);
  const keep = first < at ? first - start : 0;
  const out = Buffer.allocUnsafe(keep + EMAIL_MASK.length + (end - at - 1));
  let pos = copyBytes(src, start, start + keep, out, 0);
  pos = copyBytes(EMAIL_MASK, 0, EMAIL_MASK.length, out, pos);
  copyBytes(src, at + 1, end, out, pos);
  return out;
};

const HEX = Buffer.from('0123456789abcdef');

/**
 * The first `length` lowercase hex characters of HMAC-SHA256(key, value bytes), no prefix: equal values give
 * equal outputs under one key, so joins, DISTINCT and GROUP BY on a hashed column still work, and a
 * different key gives unrelated outputs. 16 characters (64 bits) keep collisions out of reach of any table
 * a proxy will see while staying short.
 */
function hash(key: string | Buffer | undefined, length: number): MaskFn {
  if (key === undefined || key.length === 0) throw new StrategyError('hash needs a key (config masking.key)');
  if (!Number.isInteger(length) || length < 1 || length > 64) throw new StrategyError(`hash length must be 1..64, got ${length}`);
  return (src, start, end) => {
    const digest = createHmac('sha256', key).update(src.subarray(start, end)).digest();
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) {
      const byte = digest[i >> 1]!;
      out[i] = HEX[i & 1 ? byte & 0x0f : byte >> 4]!;
    }
    return out;
  };
}
