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

export class StrategyError extends Error {
  override name = 'StrategyError';
}

/**
 * A strategy that writes its replacement straight into an outgoing frame, so the hot path allocates
 * nothing per value: `size` says how many bytes, `write` puts exactly those bytes at out[pos]. Both are
 * pure functions of the value (`write` recomputes what `size` found), so one instance serves every column
 * and row.
 */
export interface Strategy {
  /** Bytes of the replacement of src[start, end), or -1 when the replacement is SQL NULL. */
  size(src: Buffer, start: number, end: number): number;
  /** Writes the replacement at out[pos] and returns the position after it. Not called for a NULL result. */
  write(src: Buffer, start: number, end: number, out: Buffer, pos: number): number;
  /** The replacement is always SQL NULL (the `null` strategy). */
  readonly nulls: boolean;
  /** At most this many bytes more than the value: what a caller writing in place must have room for. */
  readonly maxGrowth: number;
  /**
   * The bytes a replacement may hold that are not the value's own: a COPY row whose field needed no escaping
   * needs none once masked unless one of these is special there (pg-copy.ts).
   */
  readonly adds: Buffer;
  /**
   * Strategies whose replacement can have the value's own length (partial on ASCII text) may write it over
   * the value where it lies: a row whose masked values all keep their length is masked without being copied.
   * `keepsLength` says whether it does for src[start, end); `overwrite` then writes it there. `keepsLength` is
   * true exactly for the values of ASCII bytes (one `*` per masked character is one per byte there; a value
   * whose multi-byte characters are all kept keeps its length too, but is written, not written over): callers
   * that know whether a value is ASCII (SpanMasker#wholeAscii) need not ask.
   */
  keepsLength?(src: Buffer, start: number, end: number): boolean;
  overwrite?(src: Buffer, start: number, end: number): void;
}

const STARS = Buffer.from('*');
const EMAIL_ADDS = Buffer.from('*@');

export function compileStrategy(spec: StrategySpec, opts: StrategyOptions = {}): MaskFn {
  switch (spec.kind) {
    case 'redact':
      return redact;
    case 'null':
      return toNull;
    case 'fixed': {
      const value = Buffer.from(spec.value, 'utf8');
      return () => value;
    }
    default:
      return allocating(compileSizedStrategy(spec, opts));
  }
}

export function compileSizedStrategy(spec: StrategySpec, opts: StrategyOptions = {}): Strategy {
  switch (spec.kind) {
    case 'redact':
      return constant(REDACTED);
    case 'partial':
      return partial(spec.keepFirst, spec.keepLast);
    case 'email':
      return email;
    case 'hash':
      return hash(opts.hashKey, spec.length);
    case 'null':
      return { size: () => -1, write: (_s, _a, _b, _o, pos) => pos, nulls: true, maxGrowth: 0, adds: Buffer.alloc(0) };
    case 'fixed':
      return constant(Buffer.from(spec.value, 'utf8'));
  }
}

/** A MaskFn (one new Buffer per value) from a Strategy. */
function allocating(st: Strategy): MaskFn {
  return (src, start, end) => {
    const n = st.size(src, start, end);
    if (n < 0) return null;
    const out = Buffer.allocUnsafe(n);
    st.write(src, start, end, out, 0);
    return out;
  };
}

function constant(value: Buffer): Strategy {
  return { size: () => value.length, write: (_s, _a, _b, out, pos) => copyBytes(value, 0, value.length, out, pos), nulls: false, maxGrowth: value.length, adds: value };
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

/** Characters in src[start, end): a leading run of stray continuation bytes counts as one. */
export function countChars(src: Buffer, start: number, end: number): number {
  if (end <= start) return 0;
  let n = 1;
  for (let i = start + 1; i < end; i++) if (!isContinuation(src[i]!)) n++;
  return n;
}

/** Where the kept tail of the last `keepLast` characters of src[head, end) begins; `head` when fewer. */
function tailOf(src: Buffer, head: number, end: number, keepLast: number): number {
  let tail = end;
  let kept = 0;
  while (kept < keepLast && tail > head) {
    tail--;
    while (tail > head && isContinuation(src[tail]!)) tail--;
    kept++;
  }
  return kept < keepLast ? head : tail;
}

/**
 * Keeps the first `keepFirst` and last `keepLast` characters and writes one `*` per masked character:
 * `123-45-6789` with keepLast 4 is `*******6789`. A value too short to hide anything (no more characters
 * than it would keep) is masked entirely, so `partial` never returns its input unchanged.
 */
function partial(keepFirst: number, keepLast: number): Strategy {
  // The hidden middle is [head, tail): all of the value when it has no more characters than are kept.
  const headOf = (src: Buffer, start: number, end: number): number => (keepFirst === 0 ? start : skipChars(src, start, end, keepFirst));
  return {
    size(src, start, end) {
      const head = headOf(src, start, end);
      const tail = tailOf(src, head, end, keepLast);
      if (tail === head) return countChars(src, start, end);
      return head - start + countChars(src, head, tail) + (end - tail);
    },
    write(src, start, end, out, pos) {
      // An ASCII value (the usual case) has a character per byte: the kept ends and the stars are byte counts.
      // It is written so in the pass that checks its bytes; the first non-ASCII byte sends the value to the
      // character-wise writing below, which writes over what that pass put in out. The pass may write up to
      // as many bytes as the value has, more than a multi-byte value's `size`: only where out has that room.
      if (pos + (end - start) <= out.length) {
        const q = partialAscii(src, start, end, out, pos, keepFirst, keepLast);
        if (q >= 0) return q;
      } else if (isAscii(src, start, end)) return partialAscii(src, start, end, out, pos, keepFirst, keepLast);
      let head = headOf(src, start, end);
      let tail = tailOf(src, head, end, keepLast);
      if (tail === head) {
        head = start;
        tail = end;
      }
      let p = pos;
      for (let i = start; i < head; i++) out[p++] = src[i]!;
      // One '*' per character, counted as countChars does: the first byte, then each non-continuation byte.
      if (tail > head) out[p++] = STAR;
      for (let i = head + 1; i < tail; i++) if ((src[i]! & 0xc0) !== 0x80) out[p++] = STAR;
      for (let i = tail; i < end; i++) out[p++] = src[i]!;
      return p;
    },
    nulls: false,
    maxGrowth: 0, // one '*' per hidden character: never more bytes than the characters had
    adds: STARS,
    // One '*' per ASCII byte: the masked value has the value's length, and only the stars are written.
    keepsLength: isAscii,
    overwrite(src, start, end) {
      const hidden = end - start <= keepFirst + keepLast;
      fillStars(src, hidden ? start : start + keepFirst, hidden ? end : end - keepLast);
    },
  };
}

function isAscii(src: Buffer, start: number, end: number): boolean {
  let high = 0;
  for (let i = start; i < end; i++) high |= src[i]!;
  return high < 0x80;
}

/** Writes '*' over out[from, to): a loop for the usual few bytes, fill (~20 ns a call) for long runs. */
function fillStars(out: Buffer, from: number, to: number): void {
  if (to - from > 24) out.fill(STAR, from, to);
  else for (let i = from; i < to; i++) out[i] = STAR;
}

/**
 * partial's write for a value of ASCII bytes only, found out as it writes: the position after the value in
 * out, or -1 at the first byte that is not ASCII (what it wrote is then of no use).
 */
function partialAscii(src: Buffer, start: number, end: number, out: Buffer, pos: number, keepFirst: number, keepLast: number): number {
  let p = pos;
  const hidden = end - start <= keepFirst + keepLast;
  const head = hidden ? start : start + keepFirst;
  const tail = hidden ? end : end - keepLast;
  for (let i = start; i < head; i++) {
    const b = src[i]!;
    if (b >= 0x80) return -1;
    out[p++] = b;
  }
  for (let i = head; i < tail; i++) {
    if (src[i]! >= 0x80) return -1;
    out[p++] = STAR;
  }
  for (let i = tail; i < end; i++) {
    const b = src[i]!;
    if (b >= 0x80) return -1;
    out[p++] = b;
  }
  return p;
}

const EMAIL_MASK = Buffer.from('***@');

/** Index of the last `@` in src[start, end), or -1. */
function lastAt(src: Buffer, start: number, end: number): number {
  let at = end - 1;
  while (at >= start && src[at] !== AT) at--;
  return at < start ? -1 : at;
}

/** Bytes of the local part that `email` keeps: its first character, unless that is all there is. */
function keptLocal(src: Buffer, start: number, at: number): number {
  const first = skipChars(src, start, at, 1);
  return first < at ? first - start : 0;
}

/**
 * `jane.doe@example.com` -> `j***@example.com`: the first character of the local part, `***@`, and the
 * domain after the last `@`. A one-character local part is not revealed (`***@example.com`). A value
 * without `@` is not an address: it is redacted.
 */
const email: Strategy = {
  size(src, start, end) {
    const at = lastAt(src, start, end);
    if (at < 0) return REDACTED.length;
    return keptLocal(src, start, at) + EMAIL_MASK.length + (end - at - 1);
  },
  write(src, start, end, out, pos) {
    const at = lastAt(src, start, end);
    if (at < 0) return copyBytes(REDACTED, 0, REDACTED.length, out, pos);
    // Written byte by byte rather than through copyBytes: these pieces are a few bytes each.
    let p = pos;
    const kept = start + keptLocal(src, start, at);
    for (let i = start; i < kept; i++) out[p++] = src[i]!;
    out[p++] = STAR;
    out[p++] = STAR;
    out[p++] = STAR;
    out[p++] = AT;
    return copyBytes(src, at + 1, end, out, p);
  },
  nulls: false,
  maxGrowth: REDACTED.length, // '***@' for the '@' and the local part's tail, or '****' for a short value
  adds: EMAIL_ADDS,
};

const HEX = Buffer.from('0123456789abcdef');

/**
 * The first `length` lowercase hex characters of HMAC-SHA256(key, value bytes), no prefix: equal values give
 * equal outputs under one key, so joins, DISTINCT and GROUP BY on a hashed column still work, and a
 * different key gives unrelated outputs. 16 characters (64 bits) keep collisions out of reach of any table
 * a proxy will see while staying short.
 */
function hash(key: string | Buffer | undefined, length: number): Strategy {
  if (key === undefined || key.length === 0) throw new StrategyError('hash needs a key (config masking.key)');
  if (!Number.isInteger(length) || length < 1 || length > 64) throw new StrategyError(`hash length must be 1..64, got ${length}`);
  return {
    size: () => length,
    write(src, start, end, out, pos) {
      const digest = createHmac('sha256', key).update(src.subarray(start, end)).digest();
      for (let i = 0; i < length; i++) {
        const byte = digest[i >> 1]!;
        out[pos + i] = HEX[i & 1 ? byte & 0x0f : byte >> 4]!;
      }
      return pos + length;
    },
    nulls: false,
    maxGrowth: length,
    adds: HEX,
  };
}
