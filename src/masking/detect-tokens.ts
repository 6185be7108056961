// Detectors for secrets with a recognizable shape: JWTs, AWS access key ids, vendor API keys, `Bearer`
// credentials and PEM private keys. The scanner (detectors.ts) cuts the value into runs of base64url
// characters; these functions look at one run (runStart, runEnd) and return the end of a match or -1.
// Only a run's first bytes are compared on the common path; decoding happens for real candidates only.
import { ALNUM, B64TOKEN, CLS, DIGIT, RUN, UPPER, allOf, equalsLower, startsWith } from './charclass.js';

const DOT = 0x2e;
const SPACE = 0x20;
const TAB = 0x09;
const EQUALS = 0x3d;

/** AKIA (long-term) or ASIA (temporary) and 16 capital letters or digits: an AWS access key id. */
export function matchAwsAccessKey(buf: Buffer, runStart: number, runEnd: number): number {
  if (runEnd - runStart !== 20) return -1;
  if (!startsWith(buf, runStart, runEnd, 'AKIA') && !startsWith(buf, runStart, runEnd, 'ASIA')) return -1;
  return allOf(buf, runStart + 4, runEnd, UPPER | DIGIT) ? runEnd : -1;
}

interface Vendor {
  prefix: string;
  /** Body length bounds after the prefix. */
  min: number;
  max: number;
  /** Byte classes the body may use. */
  body: number;
}

const vendors: Vendor[] = [
  // GitHub: personal, OAuth, user-to-server, server-to-server, refresh tokens; fine-grained PATs.
  { prefix: 'ghp_', min: 36, max: 251, body: ALNUM },
  { prefix: 'gho_', min: 36, max: 251, body: ALNUM },
  { prefix: 'ghu_', min: 36, max: 251, body: ALNUM },
  { prefix: 'ghs_', min: 36, max: 251, body: ALNUM },
  { prefix: 'ghr_', min: 36, max: 251, body: ALNUM },
  { prefix: 'github_pat_', min: 22, max: 255, body: RUN },
  // Slack bot, user, app, refresh and legacy tokens.
  { prefix: 'xoxb-', min: 10, max: 255, body: RUN },
  { prefix: 'xoxp-', min: 10, max: 255, body: RUN },
  { prefix: 'xoxa-', min: 10, max: 255, body: RUN },
  { prefix: 'xoxr-', min: 10, max: 255, body: RUN },
  { prefix: 'xoxs-', min: 10, max: 255, body: RUN },
  // Stripe secret and restricted keys (publishable pk_ keys are public by design).
  { prefix: 'sk_live_', min: 16, max: 255, body: ALNUM },
  { prefix: 'sk_test_', min: 16, max: 255, body: ALNUM },
  { prefix: 'rk_live_', min: 16, max: 255, body: ALNUM },
  { prefix: 'rk_test_', min: 16, max: 255, body: ALNUM },
  // OpenAI-style `sk-...` and `sk-proj-...` keys: long, so `sk-` in prose does not match.
  { prefix: 'sk-', min: 32, max: 255, body: RUN },
  // Google API keys: AIza and 35 characters.
  { prefix: 'AIza', min: 35, max: 35, body: RUN },
];

/** Vendors by the first byte of their prefix, so a run is compared with two or three prefixes at most. */
const vendorsByFirst = new Map<number, Vendor[]>();
for (const v of vendors) {
  const first = v.prefix.charCodeAt(0);
  vendorsByFirst.set(first, [...(vendorsByFirst.get(first) ?? []), v]);
}

/** First bytes any vendor prefix starts with: a table lookup rules out most runs. */
export const API_TOKEN_FIRST = new Uint8Array(256);
for (const first of vendorsByFirst.keys()) API_TOKEN_FIRST[first] = 1;

/** The shortest run a vendor key starting with each byte can be: its prefix and shortest body. */
export const API_TOKEN_MIN_RUN = new Uint16Array(256);
for (const [first, list] of vendorsByFirst) API_TOKEN_MIN_RUN[first] = Math.min(...list.map((v) => v.prefix.length + v.min));

/** A whole run that is a known vendor's API key (GitHub, Slack, Stripe, OpenAI-style, Google). */
export function matchApiToken(buf: Buffer, runStart: number, runEnd: number): number {
  const list = vendorsByFirst.get(buf[runStart]!);
  if (!list) return -1;
  for (const v of list) {
    const bodyLen = runEnd - runStart - v.prefix.length;
    if (bodyLen < v.min || bodyLen > v.max || !startsWith(buf, runStart, runEnd, v.prefix)) continue;
    if (allOf(buf, runStart + v.prefix.length, runEnd, v.body)) return runEnd;
  }
  return -1;
}

/** End of the base64url run starting at `p` (`p` itself when there is none). */
function runFrom(buf: Buffer, p: number, end: number): number {
  while (p < end && CLS[buf[p]!]! & RUN) p++;
  return p;
}

/**
 * A JWS compact serialization: three base64url parts joined by dots, the header decoding to a JSON object
 * with an "alg" member. The header run must start with `eyJ` (`{"`); the signature may be empty (alg none).
 * The run passed in is the header.
 */
export function matchJwt(buf: Buffer, runStart: number, runEnd: number, end: number): number {
  if (runEnd - runStart < 10 || !startsWith(buf, runStart, runEnd, 'eyJ') || runEnd >= end || buf[runEnd] !== DOT) return -1;
  const payloadEnd = runFrom(buf, runEnd + 1, end);
  if (payloadEnd === runEnd + 1 || payloadEnd >= end || buf[payloadEnd] !== DOT) return -1;
  const signatureEnd = runFrom(buf, payloadEnd + 1, end);
  if (signatureEnd < end && (buf[signatureEnd] === DOT || buf[signatureEnd] === EQUALS)) return -1;
  return headerHasAlg(buf, runStart, runEnd) ? signatureEnd : -1;
}

function headerHasAlg(buf: Buffer, start: number, end: number): boolean {
  if (end - start > 4096) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(buf.toString('latin1', start, end), 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** Start of the credential after a `Bearer` run: the run must be the word and be followed by blanks. */
export function bearerTokenStart(buf: Buffer, runStart: number, runEnd: number, end: number): number {
  if (runEnd - runStart !== 6 || !equalsLower(buf, runStart, runEnd, 'bearer')) return -1;
  let p = runEnd;
  while (p < end && (buf[p] === SPACE || buf[p] === TAB)) p++;
  return p > runEnd ? p : -1;
}

/**
 * The credential of `Bearer <b64token>` (RFC 6750 section 2.1), at least 16 characters so `Bearer of bad
 * news` is prose. Only the credential is the match: `Authorization: Bearer ****` keeps its scheme.
 */
export function matchBearerToken(buf: Buffer, tokenStart: number, end: number): number {
  let p = tokenStart;
  while (p < end && CLS[buf[p]!]! & B64TOKEN) p++;
  if (p - tokenStart < 16) return -1;
  while (p < end && buf[p] === EQUALS) p++;
  if (p < end && CLS[buf[p]!]! & B64TOKEN) return -1;
  return p;
}

const PEM_BEGIN = '-----BEGIN ';
const PEM_LABEL_END = 'PRIVATE KEY-----';
const PEM_END = '-----END ';

/**
 * `-----BEGIN [RSA |EC |DSA |OPENSSH |ENCRYPTED ]PRIVATE KEY-----` through the matching END line; a value
 * cut before its END line is masked to its end. The run passed in is the `-----BEGIN` run.
 */
export function matchPrivateKey(buf: Buffer, runStart: number, runEnd: number, end: number): number {
  if (runEnd - runStart !== PEM_BEGIN.length - 1 || !startsWith(buf, runStart, end, PEM_BEGIN)) return -1;
  // The label: capital words and spaces, then PRIVATE KEY-----, on the BEGIN line.
  let p = runStart + PEM_BEGIN.length;
  const labelLimit = Math.min(end, p + 40);
  while (p < labelLimit && !startsWith(buf, p, end, PEM_LABEL_END)) {
    const b = buf[p]!;
    if (!(CLS[b]! & UPPER) && b !== SPACE) return -1;
    p++;
  }
  if (!startsWith(buf, p, end, PEM_LABEL_END)) return -1;
  p += PEM_LABEL_END.length;
  // The END line, bounded by the value (a subarray view keeps indexOf from reading past it).
  const rest = buf.subarray(p, end);
  const endLine = rest.indexOf(PEM_END);
  if (endLine < 0) return end;
  const close = rest.indexOf(PEM_LABEL_END, endLine + PEM_END.length);
  return close < 0 ? end : p + close + PEM_LABEL_END.length;
}
