// One 256-entry table of byte classes shared by the detectors: a lookup per byte instead of range tests.
// ASCII bytes have classes; UTF-8 multi-byte sequences (>= 0x80) count only in e-mail local parts.

export const DIGIT = 1;
export const UPPER = 2;
export const LOWER = 4;
export const ALNUM = DIGIT | UPPER | LOWER;
/** Hex digit. */
export const HEX = 8;
/** base64url alphabet: alnum, `-`, `_` (JWT parts, API keys, IBAN groups). */
export const RUN = 16;
/**
 * Characters of an e-mail local part: alnum and `._%+-`. RFC 5322 allows more (`/=?{}`...), but addresses
 * in data almost never use them, and in text they are delimiters: `email=jane@x.io` is `jane@x.io`.
 */
export const LOCAL = 32;
/** RFC 6750 b64token: alnum and `-._~+/` (trailing `=` handled apart). */
export const B64TOKEN = 64;
/** Word character for boundaries: alnum and `_`. */
export const WORD = 128;

export const CLS = new Uint8Array(256);
(function fill() {
  const add = (chars: string, bits: number) => {
    for (let i = 0; i < chars.length; i++) CLS[chars.charCodeAt(i)]! |= bits;
  };
  const range = (from: string, to: string, bits: number) => {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c++) CLS[c]! |= bits;
  };
  range('0', '9', DIGIT | HEX | RUN | LOCAL | B64TOKEN | WORD);
  range('A', 'Z', UPPER | RUN | LOCAL | B64TOKEN | WORD);
  range('a', 'z', LOWER | RUN | LOCAL | B64TOKEN | WORD);
  range('A', 'F', HEX);
  range('a', 'f', HEX);
  add('-_', RUN);
  add('_', WORD);
  add('._%+-', LOCAL);
  // UTF-8 bytes of internationalized local parts (RFC 6531): zoé@example.com is an address too.
  for (let b = 0x80; b <= 0xff; b++) CLS[b]! |= LOCAL;
  add('-._~+/', B64TOKEN);
})();

export const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

/** ASCII case-insensitive comparison of buf[at, at + lower.length) with `lower` (given in lowercase). */
export function equalsLower(buf: Buffer, at: number, end: number, lower: string): boolean {
  if (at + lower.length > end) return false;
  for (let i = 0; i < lower.length; i++) if ((buf[at + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Exact comparison of buf[at, at + text.length) with ASCII `text`. */
export function startsWith(buf: Buffer, at: number, end: number, text: string): boolean {
  if (at + text.length > end) return false;
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** True when every byte of buf[from, to) has one of `bits`. */
export function allOf(buf: Buffer, from: number, to: number, bits: number): boolean {
  for (let i = from; i < to; i++) if ((CLS[buf[i]!]! & bits) === 0) return false;
  return true;
}
