// Detectors for numbers with a shape and, where one exists, a checksum: payment cards (Luhn), US SSNs
// (assigned ranges), phone numbers, IPv4/IPv6 addresses and IBANs (mod 97). Each `match*` parses from one
// candidate start and returns the end of the match, or -1; the scanner in detectors.ts picks the starts.
// Bounded work per start (a card has at most 19 digits, a phone 15), no regex.
import { ALNUM, CLS, DIGIT, HEX, UPPER, WORD, isDigit } from './charclass.js';

const SPACE = 0x20;
const DASH = 0x2d;
const DOT = 0x2e;
const COMMA = 0x2c;
const SLASH = 0x2f;
const COLON = 0x3a;
const PLUS = 0x2b;
const LPAREN = 0x28;
const RPAREN = 0x29;

const digits = new Uint8Array(40);

/**
 * A token ends at `p`: the end of the value, or a byte that is not a word character and not a separator
 * leading on to more digits (`12.50`, `2023-10`, `1,000`), so a match is never the prefix of a longer number.
 */
export function endsToken(buf: Buffer, p: number, end: number): boolean {
  if (p >= end) return true;
  const b = buf[p]!;
  if (CLS[b]! & WORD) return false;
  if ((b === DOT || b === COMMA || b === DASH || b === SLASH) && p + 1 < end && isDigit(buf[p + 1])) return false;
  return true;
}

/**
 * A number may start at `i`: the previous byte is no word character, and no separator glued to a word
 * (`ORD-555-123-4567`, `v1.192.168.0.1`, `id_4111...` are parts of identifiers, not values of their own),
 * nor a colon after a digit (`10:30`). A colon after a letter is a label: `card:4111...` starts a number.
 */
export function startsToken(buf: Buffer, i: number, start: number): boolean {
  if (i === start) return true;
  const p = buf[i - 1]!;
  if (CLS[p]! & WORD) return false;
  if (i - 2 < start) return true;
  const before = CLS[buf[i - 2]!]!;
  if ((p === DASH || p === DOT || p === SLASH || p === COMMA) && before & ALNUM) return false;
  return !(p === COLON && before & DIGIT);
}

/** Luhn's doubled digit: 2d, less 9 when that has two digits. */
const LUHN_DOUBLE = new Uint8Array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]);

function luhn(n: number): boolean {
  // From the right: the last digit as it is, the one before it doubled, and so on in pairs.
  let sum = 0;
  let k = n - 1;
  for (; k > 0; k -= 2) sum += digits[k]! + LUHN_DOUBLE[digits[k - 1]!]!;
  if (k === 0) sum += digits[0]!;
  return sum % 10 === 0;
}

function plausibleCard(n: number): boolean {
  // Issuer prefixes in use start with 2-6 (Mastercard 2/5, Amex/Diners/JCB 3, Visa 4, Discover/UnionPay 6);
  // a run of one repeated digit passes Luhn but is filler, not a card.
  const first = digits[0]!;
  if (first < 2 || first > 6) return false;
  for (let k = 1; k < n; k++) if (digits[k] !== first) return luhn(n);
  return false;
}

/**
 * 13-19 digits, optionally grouped by single spaces or single dashes (one kind per number), Luhn-valid,
 * starting with 2-6. When space-separated groups run on into another number (`4111 1111 1111 1111 2024`),
 * the longest valid prefix that ends at a group boundary is the card.
 */
export function matchCard(buf: Buffer, i: number, end: number): number {
  let p = i;
  let n = 0;
  let sep = 0;
  // Group ends where 13..19 digits were seen, with separator positions: candidates for the prefix case.
  let cut1 = -1;
  let cut1n = 0;
  let cut2 = -1;
  let cut2n = 0;
  while (p < end) {
    const b = buf[p]!;
    if (isDigit(b)) {
      if (n === 20) break;
      digits[n++] = b - 0x30;
      p++;
    } else if ((b === SPACE || b === DASH) && (sep === 0 || sep === b) && isDigit(buf[p + 1]) && p + 1 < end) {
      sep = b;
      if (n >= 13 && n <= 19) {
        cut2 = cut1;
        cut2n = cut1n;
        cut1 = p;
        cut1n = n;
      }
      p++;
    } else break;
  }
  if (n >= 13 && n <= 19 && endsToken(buf, p, end) && plausibleCard(n)) return p;
  if (sep !== SPACE) return -1;
  if (cut1 >= 0 && plausibleCard(cut1n)) return cut1;
  if (cut2 >= 0 && plausibleCard(cut2n)) return cut2;
  return -1;
}

/**
 * Whether the 13-19 bytes buf[start, end) are one whole card as matchCard reads it, when they are all
 * digits: 1 yes, 0 no, -1 when a byte is not a digit (a card printed in groups: ask matchCard). One pass
 * from the right adds up Luhn's sum, without matchCard's digit buffer, group cuts and second loops.
 */
export function wholeCardDigits(buf: Buffer, start: number, end: number): number {
  const first = buf[start]!;
  // What plausibleCard asks of the first digit, whatever follows it.
  if (first < 0x32 || first > 0x36) return 0;
  let sum = 0;
  let differs = 0;
  let i = end - 1;
  for (; i > start; i -= 2) {
    const last = buf[i]! - 0x30;
    const doubled = buf[i - 1]! - 0x30;
    if (last >>> 0 > 9 || doubled >>> 0 > 9) return -1;
    sum += last + LUHN_DOUBLE[doubled]!;
    differs |= (last ^ doubled) | (doubled ^ (first - 0x30));
  }
  if (i === start) sum += first - 0x30;
  return differs !== 0 && sum % 10 === 0 ? 1 : 0;
}

/** matchSsn(buf, start, start + 11) === start + 11, read byte by byte without its loops. */
export function isWholeSsn(buf: Buffer, start: number): boolean {
  const sep = buf[start + 3]!;
  if ((sep !== DASH && sep !== SPACE) || buf[start + 6] !== sep) return false;
  const a0 = buf[start]! - 0x30;
  const a1 = buf[start + 1]! - 0x30;
  const a2 = buf[start + 2]! - 0x30;
  const g0 = buf[start + 4]! - 0x30;
  const g1 = buf[start + 5]! - 0x30;
  const s0 = buf[start + 7]! - 0x30;
  const s1 = buf[start + 8]! - 0x30;
  const s2 = buf[start + 9]! - 0x30;
  const s3 = buf[start + 10]! - 0x30;
  if (a0 >>> 0 > 9 || a1 >>> 0 > 9 || a2 >>> 0 > 9 || g0 >>> 0 > 9 || g1 >>> 0 > 9 || s0 >>> 0 > 9 || s1 >>> 0 > 9 || s2 >>> 0 > 9 || s3 >>> 0 > 9) return false;
  const area = a0 * 100 + a1 * 10 + a2;
  return area !== 0 && area !== 666 && area < 900 && (g0 | g1) !== 0 && (s0 | s1 | s2 | s3) !== 0;
}

function num(buf: Buffer, from: number, count: number): number {
  let v = 0;
  for (let k = 0; k < count; k++) v = v * 10 + (buf[from + k]! - 0x30);
  return v;
}

function allDigits(buf: Buffer, from: number, count: number, end: number): boolean {
  if (from + count > end) return false;
  for (let k = 0; k < count; k++) if (!isDigit(buf[from + k])) return false;
  return true;
}

/**
 * AAA-GG-SSSS (dashes, or spaces, the same both times). Numbers the SSA never assigns are not SSNs: area
 * 000, 666 and 900-999, group 00, serial 0000. Nine digits without separators are not matched: too many
 * order and account numbers look like that.
 */
export function matchSsn(buf: Buffer, i: number, end: number): number {
  if (!allDigits(buf, i, 3, end)) return -1;
  const sep = buf[i + 3];
  if (sep !== DASH && sep !== SPACE) return -1;
  if (!allDigits(buf, i + 4, 2, end) || buf[i + 6] !== sep || !allDigits(buf, i + 7, 4, end)) return -1;
  const p = i + 11;
  if (!endsToken(buf, p, end) || (p + 1 < end && buf[p] === sep && isDigit(buf[p + 1]))) return -1;
  const area = num(buf, i, 3);
  if (area === 0 || area === 666 || area >= 900) return -1;
  if (num(buf, i + 4, 2) === 0 || num(buf, i + 7, 4) === 0) return -1;
  return p;
}

/** One decimal octet 0-255 without leading zeros at `p`; returns its end or -1. */
function octet(buf: Buffer, p: number, end: number): number {
  let q = p;
  let v = 0;
  while (q < end && q - p < 4 && isDigit(buf[q])) v = v * 10 + (buf[q++]! - 0x30);
  const len = q - p;
  if (len === 0 || len > 3 || v > 255 || (len > 1 && buf[p] === 0x30)) return -1;
  return q;
}

/** Dotted quad `a.b.c.d`, each 0-255, not part of a longer dotted number (`1.2.3.4.5`). */
export function matchIpv4(buf: Buffer, i: number, end: number): number {
  let p = i;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (buf[p] !== DOT || p >= end) return -1;
      p++;
    }
    p = octet(buf, p, end);
    if (p < 0) return -1;
  }
  if (p < end && buf[p] === DOT && p + 1 < end && CLS[buf[p + 1]!]! & ALNUM) return -1;
  return endsToken(buf, p, end) ? p : -1;
}

/**
 * Phone numbers, conservatively, since plain numbers, dates and ids are everywhere:
 * - international: `+` then 8-15 digits (E.164), groups separated by single spaces, dashes or dots, one
 *   group may be in parentheses: `+14155552671`, `+44 20 7946 0958`, `+1 (415) 555-2671`;
 * - national: 10-11 digits in at least three groups or with a parenthesized area code, the last group of at
 *   least 4 digits and no group longer than 5: `(415) 555-2671`, `415-555-2671`, `415.555.2671`,
 *   `1-800-555-0199`, `020 7946 0958`. Ungrouped digits (`4155552671`) are not matched.
 */
export function matchPhone(buf: Buffer, i: number, end: number): number {
  let p = i;
  const international = buf[p] === PLUS;
  if (international) p++;
  let count = 0;
  let groups = 0;
  let glen = 0;
  // Length of the first group and of the longest, counted as each group closes.
  let first = 0;
  let longest = 0;
  let paren = false;
  while (p < end) {
    const b = buf[p]!;
    if (isDigit(b)) {
      const from = p;
      while (++p < end && isDigit(buf[p]));
      count += p - from;
      if (count > 15) return -1;
      glen += p - from;
      continue;
    }
    if (b === LPAREN && glen === 0 && !paren) {
      // (ddd) then an optional single space or dash, then digits
      let q = p + 1;
      while (q < end && isDigit(buf[q]) && q - p <= 5) q++;
      const inside = q - p - 1;
      if (inside < 1 || inside > 5 || q >= end || buf[q] !== RPAREN) break;
      count += inside;
      if (groups++ === 0) first = inside;
      if (inside > longest) longest = inside;
      glen = 0;
      paren = true;
      p = q + 1;
      if (p + 1 < end && (buf[p] === SPACE || buf[p] === DASH) && isDigit(buf[p + 1])) p++;
      if (p >= end || !isDigit(buf[p])) return -1;
      continue;
    }
    const next = buf[p + 1];
    if ((b === SPACE || b === DASH || b === DOT) && glen > 0 && p + 1 < end && (isDigit(next) || (next === LPAREN && !paren && p + 2 < end && isDigit(buf[p + 2])))) {
      if (groups++ === 0) first = glen;
      if (glen > longest) longest = glen;
      glen = 0;
      p++;
      continue;
    }
    break;
  }
  if (glen === 0) return -1;
  const last = glen;
  if (groups++ === 0) first = glen;
  if (glen > longest) longest = glen;
  if (!endsToken(buf, p, end)) return -1;
  if (international) return count >= 8 && count <= 15 ? p : -1;
  if (count < 10 || count > 11) return -1;
  if (groups < 3 && !paren) return -1;
  return last >= 4 && longest <= 5 && first <= 5 ? p : -1;
}

/**
 * IPv6: eight groups of 1-4 hex digits, or fewer around one `::`, optionally ending in a dotted quad
 * (`::ffff:192.0.2.1`). To stay clear of `a::b` in code and of times, a compressed address needs at least
 * two groups and five hex digits (`fe80::1`), or the dotted quad. `::1` alone is not worth masking.
 */
export function matchIpv6(buf: Buffer, i: number, end: number): number {
  let p = i;
  let groups = 0;
  let hexDigits = 0;
  let compressed = false;
  let quad = false;
  if (buf[p] === COLON) {
    if (p + 1 >= end || buf[p + 1] !== COLON) return -1;
    compressed = true;
    p += 2;
  }
  for (;;) {
    let q = p;
    while (q < end && CLS[buf[q]!]! & HEX && q - p < 5) q++;
    const len = q - p;
    if (len === 0) break;
    if (q < end && buf[q] === DOT) {
      const e = matchIpv4(buf, p, end);
      if (e < 0) return -1;
      groups += 2;
      quad = true;
      p = e;
      break;
    }
    if (len > 4) return -1;
    groups++;
    hexDigits += len;
    p = q;
    if (p + 1 < end && buf[p] === COLON && buf[p + 1] === COLON) {
      if (compressed) return -1;
      compressed = true;
      p += 2;
      continue;
    }
    if (p + 1 < end && buf[p] === COLON && CLS[buf[p + 1]!]! & HEX) {
      p++;
      continue;
    }
    break;
  }
  if (!endsToken(buf, p, end) || (p < end && buf[p] === COLON)) return -1;
  if (compressed) return groups >= 2 && groups <= 7 && (hexDigits >= 5 || quad) ? p : -1;
  return groups === 8 ? p : -1;
}

/** IBAN length by country (SWIFT IBAN registry). Countries not listed are not matched. */
const ibanLength: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22,
  GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30,
  KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31,
  MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24,
  SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};
// Indexed by the two letters, so the hot path looks up a number, not a string.
const ibanLengthByCode = new Uint8Array(26 * 26);
for (const [cc, len] of Object.entries(ibanLength)) ibanLengthByCode[(cc.charCodeAt(0) - 65) * 26 + cc.charCodeAt(1) - 65] = len;

/** Whether `buf[i, i+4)` looks like an IBAN's start: two capital letters, two digits. Cheap pre-check. */
export function ibanStart(buf: Buffer, i: number, end: number): boolean {
  return i + 4 <= end && (CLS[buf[i]!]! & UPPER) !== 0 && (CLS[buf[i + 1]!]! & UPPER) !== 0 && isDigit(buf[i + 2]) && isDigit(buf[i + 3]);
}

/**
 * An IBAN of the country's registered length, compact (`DE89370400440532013000`) or printed in groups of
 * four separated by single spaces (`DE89 3704 0044 0532 0130 00`), capital letters only, mod-97 == 1.
 */
export function matchIban(buf: Buffer, i: number, end: number): number {
  if (!ibanStart(buf, i, end)) return -1;
  const length = ibanLengthByCode[(buf[i]! - 65) * 26 + buf[i + 1]! - 65]!;
  if (length === 0) return -1;
  let p = i;
  let n = 0;
  let glen = 0;
  let spaced = false;
  while (n < length && p < end) {
    const b = buf[p]!;
    const c = CLS[b]!;
    if (c & (DIGIT | UPPER)) {
      digits[n++] = b;
      glen++;
      if (spaced && glen > 4) return -1;
      p++;
    } else if (b === SPACE && glen === 4 && (n === 4 || spaced) && p + 1 < end && CLS[buf[p + 1]!]! & (DIGIT | UPPER)) {
      spaced = true;
      glen = 0;
      p++;
    } else return -1;
  }
  if (n !== length || !endsToken(buf, p, end) || (p < end && CLS[buf[p]!]! & ALNUM)) return -1;
  // ISO 13616: move the first four characters to the end, letters count as 10..35, the number mod 97 is 1.
  let rem = 0;
  for (let k = 0; k < length; k++) {
    const b = digits[(k + 4) % length]!;
    rem = b <= 0x39 ? (rem * 10 + (b - 0x30)) % 97 : (rem * 100 + (b - 55)) % 97;
  }
  return rem === 1 ? p : -1;
}
