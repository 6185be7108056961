// Value detectors (DESIGN.md "Masking"): find sensitive data INSIDE a value and report each match as a span
// [start, end), so the strategy masks the match and keeps the rest: "contact: j***@x.io today". Only a
// `null` strategy nulls the whole value (part of a value cannot be NULL).
//
// scanValue makes one pass over the bytes that cuts base64url runs (API keys, JWTs, AWS ids, IBANs, PEM
// headers are looked at only when a run ends, its first byte could start one and it is long enough) and
// counts what the other detectors need: `@` for e-mail, digits (and where the runs holding them are) for
// cards/SSNs/phones/IPv4, colons and `::` for IPv6. Those second passes run only when the counts say a match
// is possible, and only for the kinds the counts allow, so prose and short values cost one loop. No regex,
// no allocation except while confirming a rare candidate (a JWT header is decoded and JSON-parsed).
import { ALNUM, CLS, DIGIT, HEX, LOCAL, LOWER, RUN, UPPER, WORD, isDigit } from './charclass.js';
import { ibanStart, isWholeSsn, matchCard, matchIban, matchIpv4, matchIpv6, matchPhone, matchSsn, startsToken, wholeCardDigits } from './detect-numbers.js';
import {
  API_TOKEN_FIRST,
  API_TOKEN_MIN_RUN,
  bearerTokenStart,
  matchApiToken,
  matchAwsAccessKey,
  matchBearerToken,
  matchJwt,
  matchPrivateKey,
} from './detect-tokens.js';

export const detectorKinds = [
  'email',
  'credit_card',
  'us_ssn',
  'iban',
  'phone',
  'ipv4',
  'ipv6',
  'jwt',
  'aws_access_key',
  'private_key',
  'bearer_token',
  'api_token',
] as const;

export type DetectorKind = (typeof detectorKinds)[number];
/** A detector's index in `detectorKinds`: what scanValue reports, so the hot path passes numbers. */
export type DetectorId = number;
/** A set of detectors as a bit mask (bit = 1 << id). */
export type KindSet = number;

export const detectorId = Object.fromEntries(detectorKinds.map((k, i) => [k, i])) as { readonly [K in DetectorKind]: DetectorId };

export function kindSet(kinds: Iterable<DetectorKind>): KindSet {
  let set = 0;
  for (const k of kinds) set |= 1 << detectorId[k];
  return set;
}

export function kindsOf(set: KindSet): DetectorKind[] {
  return detectorKinds.filter((_, i) => set & (1 << i));
}

export const allKinds: KindSet = kindSet(detectorKinds);

/** Called once per match, in no particular order; matches of different detectors may overlap. */
export type OnMatch = (kind: DetectorId, start: number, end: number) => void;

const EMAIL = 1 << detectorId.email;
const CARD = 1 << detectorId.credit_card;
const SSN = 1 << detectorId.us_ssn;
const IBAN = 1 << detectorId.iban;
const PHONE = 1 << detectorId.phone;
const IPV4 = 1 << detectorId.ipv4;
const IPV6 = 1 << detectorId.ipv6;
const JWT = 1 << detectorId.jwt;
const AWS = 1 << detectorId.aws_access_key;
const PRIVATE_KEY = 1 << detectorId.private_key;
const BEARER = 1 << detectorId.bearer_token;
const API = 1 << detectorId.api_token;
const RUN_KINDS = IBAN | JWT | AWS | PRIVATE_KEY | BEARER | API;
const LONG_NUMBERS = CARD | SSN | PHONE;

const AT = 0x40;
const COLON = 0x3a;
const DOT = 0x2e;
const DASH = 0x2d;
const PLUS = 0x2b;
const LPAREN = 0x28;
const SPACE = 0x20;

// The first pass's own byte table, so each byte costs one load: the low bit is the digit count's increment,
// S_RUN continues a base64url run, and the rest mark the bytes the second passes are gated on.
const S_DIGIT = 1;
const S_RUN = 2;
const S_AT = 4;
const S_COLON = 8;
const S_DOT = 16;
const SCAN = new Uint8Array(256);
for (let b = 0; b < 256; b++) SCAN[b] = (CLS[b]! & DIGIT ? S_DIGIT : 0) | (CLS[b]! & RUN ? S_RUN : 0);
SCAN[AT] = S_AT;
SCAN[COLON] = S_COLON;
SCAN[DOT] = S_DOT;

/**
 * The shortest run, by its first byte, that can start a run-detected token (see onRun): `Bearer` is 6
 * bytes, a JWT header 10+, `-----BEGIN` 10, vendor keys their prefix and shortest body, and an IBAN printed
 * in groups starts with a 4-byte run. Other first bytes start nothing, so most words end without a call.
 */
const NEVER = 0xffff;
const MIN_RUN = new Uint16Array(256).fill(NEVER);
(function fillMinRun() {
  const atLeast = (b: number, len: number) => {
    MIN_RUN[b] = Math.min(MIN_RUN[b]!, Math.max(4, len));
  };
  for (let b = 0x41; b <= 0x5a; b++) atLeast(b, 4); // IBAN (two capitals, two digits), AKIA/ASIA, AIza
  atLeast(0x42, 6); // Bearer
  atLeast(0x62, 6); // bearer
  atLeast(0x65, 10); // eyJ (JWT header)
  atLeast(DASH, 10); // -----BEGIN
  for (let b = 0; b < 256; b++) if (API_TOKEN_FIRST[b]) atLeast(b, API_TOKEN_MIN_RUN[b]!);
})();

/** First bytes from which only an IBAN can start. */
const IBAN_ONLY = new Uint8Array(256);
for (let b = 0x43; b <= 0x5a; b++) IBAN_ONLY[b] = API_TOKEN_FIRST[b] ? 0 : 1;

/** Runs every detector in `kinds` over buf[start, end) and reports each match. */
export function scanValue(buf: Buffer, start: number, end: number, kinds: KindSet, onMatch: OnMatch): void {
  const runKinds = kinds & RUN_KINDS;
  let digits = 0;
  let firstAt = -1;
  let colons = 0;
  let lastColon = -2;
  let colonPairs = 0;
  let dots = 0;
  // Bytes inside a token the run detectors matched are skipped uncounted; when that happened the gates
  // below fall back to what the counts outside the token allow.
  let skipped = false;
  // Where the runs holding digits begin and end: the number scan looks only there.
  let numFrom = -1;
  let numTo = -1;
  let i = start;
  while (i < end) {
    let c = SCAN[buf[i]!]!;
    if ((c & S_RUN) === 0) {
      if (c !== 0) {
        if (c === S_AT) {
          if (firstAt < 0) firstAt = i;
        } else if (c === S_COLON) {
          colons++;
          if (lastColon === i - 1) colonPairs++;
          lastColon = i;
        } else dots++;
      }
      i++;
      continue;
    }
    // A base64url run: count its digits, then let the run-detected kinds look at it if it is long enough.
    const rs = i;
    const digitsBefore = digits;
    do {
      digits += c & S_DIGIT;
      if (++i === end) break;
      c = SCAN[buf[i]!]!;
    } while (c & S_RUN);
    if (digits !== digitsBefore) {
      if (numFrom < 0) numFrom = rs;
      numTo = i;
    }
    const b0 = buf[rs]!;
    // Capitals other than A and B start only IBANs, whose second byte is a capital too: `Customer` is not.
    if (runKinds !== 0 && i - rs >= MIN_RUN[b0]! && (IBAN_ONLY[b0] === 0 || CLS[buf[rs + 1]!]! & UPPER)) {
      const next = onRun(buf, rs, i, end, runKinds, onMatch);
      // A token that runs past this run (JWT, Bearer credential, PEM block) is skipped whole.
      if (next > i) {
        i = next;
        skipped = true;
      }
    }
  }

  if (firstAt >= 0 && kinds & EMAIL) scanEmails(buf, firstAt, start, end, onMatch);
  if ((kinds & LONG_NUMBERS && digits >= 8) || (kinds & IPV4 && digits >= 4 && dots >= 3)) {
    // A number starts at a digit or at the `+` or `(` just before one. Digits inside a skipped token were
    // not counted, so then the whole value is looked at with every kind.
    // A card has 13+ digits, an SSN 9 and a phone 8+, so kinds the count rules out are not tried.
    let numKinds = kinds;
    if (!skipped) {
      if (digits < 13) numKinds &= ~CARD;
      if (digits < 9) numKinds &= ~SSN;
      if (digits < 8) numKinds &= ~PHONE;
    }
    const from = skipped ? start : Math.max(start, numFrom - 1);
    scanNumbers(buf, start, from, skipped ? end : numTo, end, numKinds, onMatch);
  }
  // An IPv6 address has a `::` or at least six colons (six groups and a dotted quad).
  if (kinds & IPV6 && colons >= 2 && (colonPairs > 0 || colons >= 6 || skipped)) scanIpv6(buf, start, end, onMatch);
}

/**
 * The kinds `wholeMatch` can confirm: the values of a column holding e-mail addresses, card numbers or
 * SSNs are mostly each one whole match, and confirming that directly is much cheaper than the scan.
 */
export const WHOLE_KINDS: KindSet = EMAIL | CARD | SSN;

/** What `wholeMatch` says of a value: not one whole match; one, holding a non-ASCII byte; one of ASCII bytes only. */
export const NOT_WHOLE = 0;
export const WHOLE = 1;
export const WHOLE_ASCII = 2;

/**
 * Whether buf[start, end) is, whole, one match of `kind` (one of WHOLE_KINDS) as scanValue would report it,
 * and whether its bytes are all ASCII (a card's and an SSN's always are; an e-mail's local part may not be),
 * which tells a caller whether a strategy keeps the value's length without looking at its bytes again.
 * When it is a whole match, scanValue with any kinds that include `kind` masks exactly that one span: a span
 * of the whole value is the longest at its start, so every other match overlaps it and is dropped, and no
 * kind that scanValue tries before `kind` can match the whole value too (a run detector's token never holds
 * an `@` or, without a space, spans the separators of a number; a card is tried before an SSN but has 13+
 * digits). The tests compare the two on generated values.
 */
export function wholeMatch(kind: DetectorId, buf: Buffer, start: number, end: number): number {
  if (kind === detectorId.email) return wholeEmail(buf, start, end);
  if (kind === detectorId.credit_card) {
    // matchCard is called at a digit by the scan, and would take a leading space or dash for a separator.
    if (end - start < 13 || !isDigit(buf[start])) return NOT_WHOLE;
    const digits = end - start <= 19 ? wholeCardDigits(buf, start, end) : -1;
    if (digits >= 0) return digits === 1 ? WHOLE_ASCII : NOT_WHOLE;
    return matchCard(buf, start, end) === end ? WHOLE_ASCII : NOT_WHOLE;
  }
  if (kind === detectorId.us_ssn) return end - start === 11 && isWholeSsn(buf, start) ? WHOLE_ASCII : NOT_WHOLE;
  return NOT_WHOLE;
}

// wholeEmail's bytes in one table, so that each costs one load: local-part bytes (non-ASCII among them),
// the first byte a local part may start with, domain label bytes, the letters a TLD is made of, `.` and `@`.
const E_LOCAL = 1;
const E_HIGH = 2;
const E_FIRST = 4;
const E_LABEL = 8;
const E_ALPHA = 16;
const E_DOT = 32;
const E_AT = 64;
const EMAIL_BYTE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const cls = CLS[b]!;
  if (cls & LOCAL) EMAIL_BYTE[b]! |= E_LOCAL;
  if (b >= 0x80) EMAIL_BYTE[b]! |= E_HIGH | E_FIRST;
  if (cls & ALNUM) EMAIL_BYTE[b]! |= E_FIRST | E_LABEL;
  if (cls & (UPPER | LOWER)) EMAIL_BYTE[b]! |= E_ALPHA;
}
EMAIL_BYTE[DASH]! |= E_LABEL;
EMAIL_BYTE[DOT]! |= E_DOT;
EMAIL_BYTE[AT] = E_AT;

/**
 * wholeMatch for e-mail, in one forward pass: localPartStart(buf, at, start) === start (every byte before the
 * `@` a local-part byte, the first a letter, digit or non-ASCII, 1-64 of them, the last not a dot) and
 * domainEnd(buf, at + 1, end) === end (labels joined by single dots up to the end of the value, the last a
 * TLD of 2+ letters; a dot at the end, `..` or any other byte is no whole domain).
 */
function wholeEmail(buf: Buffer, start: number, end: number): number {
  let at = start;
  let seen = 0;
  let c = 0;
  for (; at < end; at++) {
    c = EMAIL_BYTE[buf[at]!]!;
    if ((c & E_LOCAL) === 0) break;
    seen |= c;
  }
  const local = at - start;
  // c is the `@`'s class only when the loop stopped at one (a value of local-part bytes ends with one of those).
  if (c !== E_AT || local < 1 || local > 64 || (EMAIL_BYTE[buf[start]!]! & E_FIRST) === 0 || buf[at - 1] === DOT) return NOT_WHOLE;
  let labelStart = at + 1;
  let labels = 0;
  // Stays E_ALPHA while every byte of the label so far is a letter.
  let alpha = E_ALPHA;
  for (let q = labelStart; q < end; q++) {
    const d = EMAIL_BYTE[buf[q]!]!;
    if (d & E_LABEL) {
      alpha &= d;
      continue;
    }
    if ((d & E_DOT) === 0 || !isLabel(buf, labelStart, q)) return NOT_WHOLE;
    labels++;
    labelStart = q + 1;
    alpha = E_ALPHA;
  }
  if (labels === 0 || end - labelStart < 2 || alpha === 0 || !isLabel(buf, labelStart, end)) return NOT_WHOLE;
  return seen & E_HIGH ? WHOLE : WHOLE_ASCII;
}

/** buf[from, to) of label characters is a label: 1-63 of them, no dash first or last. */
function isLabel(buf: Buffer, from: number, to: number): boolean {
  return to - from >= 1 && to - from <= 63 && buf[from] !== DASH && buf[to - 1] !== DASH;
}

/** One base64url run [rs, re) whose first byte may start a token; returns the end of a match or -1. */
function onRun(buf: Buffer, rs: number, re: number, end: number, kinds: KindSet, onMatch: OnMatch): number {
  const b0 = buf[rs]!;
  let m = -1;
  if (b0 === 0x65 && kinds & JWT && (m = matchJwt(buf, rs, re, end)) >= 0) return report(onMatch, detectorId.jwt, rs, m);
  if (b0 === DASH && kinds & PRIVATE_KEY && (m = matchPrivateKey(buf, rs, re, end)) >= 0) return report(onMatch, detectorId.private_key, rs, m);
  if ((b0 | 0x20) === 0x62 && kinds & BEARER) {
    const ts = bearerTokenStart(buf, rs, re, end);
    if (ts >= 0 && (m = matchBearerToken(buf, ts, end)) >= 0) return report(onMatch, detectorId.bearer_token, ts, m);
  }
  if (API_TOKEN_FIRST[b0] && kinds & API && (m = matchApiToken(buf, rs, re)) >= 0) return report(onMatch, detectorId.api_token, rs, m);
  if (b0 === 0x41 && kinds & AWS && (m = matchAwsAccessKey(buf, rs, re)) >= 0) return report(onMatch, detectorId.aws_access_key, rs, m);
  if (kinds & IBAN && ibanStart(buf, rs, end) && (m = matchIban(buf, rs, end)) >= 0) return report(onMatch, detectorId.iban, rs, m);
  return -1;
}

function report(onMatch: OnMatch, kind: DetectorId, start: number, end: number): number {
  onMatch(kind, start, end);
  return end;
}

/**
 * Addresses around each `@`: a local part of up to 64 characters (see LOCAL) starting with a letter or digit
 * and not ending with a dot, and a domain of at least two dot-separated labels of 1-63 letters, digits and inner
 * dashes, ending in an alphabetic TLD of 2+ letters. A sentence's final dot is not part of the domain.
 */
function scanEmails(buf: Buffer, at: number, start: number, end: number, onMatch: OnMatch): void {
  let floor = start;
  while (at >= 0) {
    let resume = at + 1;
    const ls = localPartStart(buf, at, floor);
    if (ls >= 0) {
      const de = domainEnd(buf, at + 1, end);
      if (de > 0) {
        onMatch(detectorId.email, ls, de);
        resume = floor = de;
      }
    }
    at = -1;
    for (let p = resume; p < end; p++) {
      if (buf[p] === AT) {
        at = p;
        break;
      }
    }
  }
}

/** Start of the local part before the `@` at `at` (not before `floor`), or -1 when there is no valid one. */
function localPartStart(buf: Buffer, at: number, floor: number): number {
  let ls = at;
  while (ls > floor && CLS[buf[ls - 1]!]! & LOCAL) ls--;
  // A local part starts with a letter or digit (any non-ASCII character counts as one).
  while (ls < at && buf[ls]! < 0x80 && !(CLS[buf[ls]!]! & ALNUM)) ls++;
  return at - ls >= 1 && at - ls <= 64 && buf[at - 1] !== DOT ? ls : -1;
}

// Domain bytes in one table: label characters (ASCII letters, digits, `-`) and whether they are letters.
const D_LABEL = 1;
const D_ALPHA = 2;
const DOMAIN = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  if (CLS[b]! & ALNUM) DOMAIN[b] = D_LABEL;
  if (CLS[b]! & (UPPER | LOWER)) DOMAIN[b] = D_LABEL | D_ALPHA;
}
DOMAIN[DASH] = D_LABEL;

/**
 * End of a valid domain starting at `p`, or -1: labels of label characters joined by single dots. Dots that
 * end the domain are not part of it (`x.io.`), but dots followed by more label characters make an empty label.
 */
function domainEnd(buf: Buffer, p: number, end: number): number {
  let labels = 0;
  let q = p;
  for (;;) {
    const labelStart = q;
    let alpha = D_ALPHA;
    let d = 0;
    while (q < end && (d = DOMAIN[buf[q]!]!) !== 0) {
      alpha &= d;
      q++;
    }
    const len = q - labelStart;
    if (len < 1 || len > 63 || buf[labelStart] === DASH || buf[q - 1] === DASH) return -1;
    labels++;
    if (q < end && buf[q] === DOT) {
      let r = q + 1;
      while (r < end && buf[r] === DOT) r++;
      if (r < end && DOMAIN[buf[r]!]! !== 0) {
        if (r > q + 1) return -1; // `..` inside the domain: an empty label
        q = r;
        continue;
      }
    }
    // The last label is the TLD: two or more letters.
    return labels >= 2 && alpha !== 0 && len >= 2 ? q : -1;
  }
}

/** What scanNumbers stops at: digits, and the `+` / `(` a phone number may start with. */
const N_DIGIT = 1;
const N_PHONE_LEAD = 2;
const NUM = new Uint8Array(256);
for (let b = 0x30; b <= 0x39; b++) NUM[b] = N_DIGIT;
NUM[PLUS] = N_PHONE_LEAD;
NUM[LPAREN] = N_PHONE_LEAD;

/**
 * Cards, SSNs, IPv4 addresses and phones, tried at each place in [from, to) a number may start; the value
 * is [start, end).
 */
function scanNumbers(buf: Buffer, start: number, from: number, to: number, end: number, kinds: KindSet, onMatch: OnMatch): void {
  let i = from;
  while (i < to) {
    const n = NUM[buf[i]!]!;
    if (n === 0) {
      i++;
      continue;
    }
    if (n === N_PHONE_LEAD) {
      let m = -1;
      if (i + 1 < end && NUM[buf[i + 1]!] === N_DIGIT && kinds & PHONE && startsToken(buf, i, start) && (m = matchPhone(buf, i, end)) >= 0) {
        onMatch(detectorId.phone, i, m);
        i = m;
      } else i++;
      continue;
    }
    // A run of digits [i, q): only its start can start a number.
    let q = i + 1;
    while (q < end && NUM[buf[q]!] === N_DIGIT) q++;
    if (startsToken(buf, i, start)) {
      const m = matchNumber(buf, i, q, end, kinds, onMatch);
      if (m >= 0) {
        i = m;
        continue;
      }
    }
    i = q;
  }
}

/**
 * Tries the number kinds at `i`, whose first digits run to `q`. Each kind is tried only when that first
 * group and the byte after it fit its shape (what its match function would reject at once otherwise):
 * a card starts with 2-6 and has 13-19 digits or a separator after its first group, an SSN's first group
 * is 3 digits and a dash or space, an IPv4 address's 1-3 digits and a dot, a national phone's 1-5 digits
 * and a space, dash or dot.
 */
function matchNumber(buf: Buffer, i: number, q: number, end: number, kinds: KindSet, onMatch: OnMatch): number {
  const len = q - i;
  const next = q < end ? buf[q]! : -1;
  const first = buf[i]!;
  let m = -1;
  if (kinds & CARD && first >= 0x32 && first <= 0x36 && len <= 19 && (len >= 13 || next === SPACE || next === DASH) && (m = matchCard(buf, i, end)) >= 0)
    return report(onMatch, detectorId.credit_card, i, m);
  if (kinds & SSN && len === 3 && (next === DASH || next === SPACE) && (m = matchSsn(buf, i, end)) >= 0) return report(onMatch, detectorId.us_ssn, i, m);
  if (kinds & IPV4 && len <= 3 && next === DOT && (m = matchIpv4(buf, i, end)) >= 0) return report(onMatch, detectorId.ipv4, i, m);
  if (kinds & PHONE && len <= 5 && (next === SPACE || next === DASH || next === DOT) && (m = matchPhone(buf, i, end)) >= 0)
    return report(onMatch, detectorId.phone, i, m);
  return -1;
}

function scanIpv6(buf: Buffer, start: number, end: number, onMatch: OnMatch): void {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if ((CLS[b]! & HEX || b === COLON) && (i === start || !(CLS[buf[i - 1]!]! & WORD || buf[i - 1] === COLON || buf[i - 1] === DOT))) {
      const m = matchIpv6(buf, i, end);
      if (m >= 0) {
        onMatch(detectorId.ipv6, i, m);
        i = m;
        continue;
      }
    }
    i++;
  }
}
