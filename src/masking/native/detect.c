// The value detectors, ported from src/masking/detectors.ts, detect-numbers.ts, detect-tokens.ts and
// charclass.ts: the same one pass over base64url runs and counts, the same second passes, the same match
// functions, written to find exactly what they find (see detect.h). Comments here say only where the C
// differs; the reasons behind each rule are with the TypeScript.
//
// One difference in kind: a JWT candidate whose three parts have the right shape is a match only if its
// header decodes to a JSON object with a string "alg". That takes a JSON parser; the scan marks the value
// `unsure` instead, and the row masker leaves the row to JS.
#include "detect.h"

#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <pthread.h>
#endif

#define DIGIT 1
#define UPPER 2
#define LOWER 4
#define ALNUM (DIGIT | UPPER | LOWER)
#define HEX 8
#define RUN 16
#define LOCAL 32
#define B64TOKEN 64
#define WORD 128

static uint8_t CLS[256];

// scanValue's own byte table.
#define S_DIGIT 1
#define S_RUN 2
#define S_AT 4
#define S_COLON 8
#define S_DOT 16
static uint8_t SCAN[256];

#define NEVER 0xffff
static uint16_t MIN_RUN[256];
static uint8_t IBAN_ONLY[256];
static uint8_t API_TOKEN_FIRST[256];
static uint16_t API_TOKEN_MIN_RUN[256];

#define D_LABEL 1
#define D_ALPHA 2
static uint8_t DOMAIN[256];

#define N_DIGIT 1
#define N_PHONE_LEAD 2
static uint8_t NUM[256];

static uint8_t IBAN_LENGTH[26 * 26];

// wholeEmail's table (detectors.ts EMAIL_BYTE).
#define E_LOCAL 1
#define E_HIGH 2
#define E_FIRST 4
#define E_LABEL 8
#define E_ALPHA 16
#define E_DOT 32
#define E_AT 64
static uint8_t EMAIL_BYTE[256];

typedef struct {
  const char *prefix;
  int min, max, body;
} Vendor;

static const Vendor VENDORS[] = {
    {"ghp_", 36, 251, ALNUM},  {"gho_", 36, 251, ALNUM},     {"ghu_", 36, 251, ALNUM},     {"ghs_", 36, 251, ALNUM},
    {"ghr_", 36, 251, ALNUM},  {"github_pat_", 22, 255, RUN}, {"xoxb-", 10, 255, RUN},     {"xoxp-", 10, 255, RUN},
    {"xoxa-", 10, 255, RUN},   {"xoxr-", 10, 255, RUN},       {"xoxs-", 10, 255, RUN},     {"sk_live_", 16, 255, ALNUM},
    {"sk_test_", 16, 255, ALNUM}, {"rk_live_", 16, 255, ALNUM}, {"rk_test_", 16, 255, ALNUM}, {"sk-", 32, 255, RUN},
    {"AIza", 35, 35, RUN},
};
#define VENDOR_COUNT (sizeof VENDORS / sizeof VENDORS[0])

static const struct {
  const char *cc;
  int len;
} IBANS[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28},
    {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
    {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31}, {"SE", 24}, {"SI", 19},
    {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static void add(const char *chars, int bits) {
  for (; *chars; chars++) CLS[(uint8_t)*chars] |= bits;
}

static void range(int from, int to, int bits) {
  for (int c = from; c <= to; c++) CLS[c] |= bits;
}

static void atLeast(int b, int len) {
  int v = len < 4 ? 4 : len;
  if (v < MIN_RUN[b]) MIN_RUN[b] = (uint16_t)v;
}

static void detectInit(void) {
  memset(CLS, 0, sizeof CLS);
  range('0', '9', DIGIT | HEX | RUN | LOCAL | B64TOKEN | WORD);
  range('A', 'Z', UPPER | RUN | LOCAL | B64TOKEN | WORD);
  range('a', 'z', LOWER | RUN | LOCAL | B64TOKEN | WORD);
  range('A', 'F', HEX);
  range('a', 'f', HEX);
  add("-_", RUN);
  add("_", WORD);
  add("._%+-", LOCAL);
  for (int b = 0x80; b <= 0xff; b++) CLS[b] |= LOCAL;
  add("-._~+/", B64TOKEN);

  for (int b = 0; b < 256; b++) SCAN[b] = (CLS[b] & DIGIT ? S_DIGIT : 0) | (CLS[b] & RUN ? S_RUN : 0);
  SCAN['@'] = S_AT;
  SCAN[':'] = S_COLON;
  SCAN['.'] = S_DOT;

  memset(API_TOKEN_FIRST, 0, sizeof API_TOKEN_FIRST);
  memset(API_TOKEN_MIN_RUN, 0, sizeof API_TOKEN_MIN_RUN);
  for (size_t v = 0; v < VENDOR_COUNT; v++) {
    uint8_t first = (uint8_t)VENDORS[v].prefix[0];
    int shortest = (int)strlen(VENDORS[v].prefix) + VENDORS[v].min;
    if (!API_TOKEN_FIRST[first] || shortest < API_TOKEN_MIN_RUN[first]) API_TOKEN_MIN_RUN[first] = (uint16_t)shortest;
    API_TOKEN_FIRST[first] = 1;
  }
  for (int b = 0; b < 256; b++) MIN_RUN[b] = NEVER;
  for (int b = 0x41; b <= 0x5a; b++) atLeast(b, 4);
  atLeast(0x42, 6);
  atLeast(0x62, 6);
  atLeast(0x65, 10);
  atLeast('-', 10);
  for (int b = 0; b < 256; b++)
    if (API_TOKEN_FIRST[b]) atLeast(b, API_TOKEN_MIN_RUN[b]);
  for (int b = 0; b < 256; b++) IBAN_ONLY[b] = b >= 0x43 && b <= 0x5a && !API_TOKEN_FIRST[b];

  for (int b = 0; b < 256; b++) {
    DOMAIN[b] = 0;
    if (CLS[b] & ALNUM) DOMAIN[b] = D_LABEL;
    if (CLS[b] & (UPPER | LOWER)) DOMAIN[b] = D_LABEL | D_ALPHA;
  }
  DOMAIN['-'] = D_LABEL;

  memset(NUM, 0, sizeof NUM);
  for (int b = '0'; b <= '9'; b++) NUM[b] = N_DIGIT;
  NUM['+'] = N_PHONE_LEAD;
  NUM['('] = N_PHONE_LEAD;

  for (int b = 0; b < 256; b++) {
    EMAIL_BYTE[b] = 0;
    if (CLS[b] & LOCAL) EMAIL_BYTE[b] |= E_LOCAL;
    if (b >= 0x80) EMAIL_BYTE[b] |= E_HIGH | E_FIRST;
    if (CLS[b] & ALNUM) EMAIL_BYTE[b] |= E_FIRST | E_LABEL;
    if (CLS[b] & (UPPER | LOWER)) EMAIL_BYTE[b] |= E_ALPHA;
  }
  EMAIL_BYTE['-'] |= E_LABEL;
  EMAIL_BYTE['.'] |= E_DOT;
  EMAIL_BYTE['@'] = E_AT;

  memset(IBAN_LENGTH, 0, sizeof IBAN_LENGTH);
  for (size_t k = 0; k < sizeof IBANS / sizeof IBANS[0]; k++) IBAN_LENGTH[(IBANS[k].cc[0] - 'A') * 26 + IBANS[k].cc[1] - 'A'] = (uint8_t)IBANS[k].len;
}

// The tables are shared by every thread of the process, and each Node environment (the main thread, every
// worker) initializes the addon: filling them once, before any scan reads them, keeps a worker that loads it
// from clearing tables another thread is scanning with.
#ifdef _WIN32
static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static BOOL CALLBACK initOnce(PINIT_ONCE o, PVOID parameter, PVOID *context) {
  (void)o;
  (void)parameter;
  (void)context;
  detectInit();
  return TRUE;
}
void detectInitOnce(void) { InitOnceExecuteOnce(&once, initOnce, NULL, NULL); }
#else
static pthread_once_t once = PTHREAD_ONCE_INIT;
void detectInitOnce(void) { pthread_once(&once, detectInit); }
#endif

static int isDigitAt(const uint8_t *buf, int64_t p, int64_t end) { return p < end && buf[p] >= '0' && buf[p] <= '9'; }

static int startsWithAt(const uint8_t *buf, int64_t at, int64_t end, const char *text) {
  size_t n = strlen(text);
  if (at + (int64_t)n > end) return 0;
  return memcmp(buf + at, text, n) == 0;
}

static int allOf(const uint8_t *buf, int64_t from, int64_t to, int bits) {
  for (int64_t i = from; i < to; i++)
    if ((CLS[buf[i]] & bits) == 0) return 0;
  return 1;
}

static void report(Matches *m, int kind, int64_t start, int64_t end) {
  if (m->n == MAX_SPANS) {
    m->unsure = 1;
    return;
  }
  m->start[m->n] = start;
  m->end[m->n] = end;
  m->kind[m->n] = kind;
  m->n++;
}

// ---- detect-numbers.ts ----

static int endsToken(const uint8_t *buf, int64_t p, int64_t end) {
  if (p >= end) return 1;
  uint8_t b = buf[p];
  if (CLS[b] & WORD) return 0;
  if ((b == '.' || b == ',' || b == '-' || b == '/') && isDigitAt(buf, p + 1, end)) return 0;
  return 1;
}

static int startsToken(const uint8_t *buf, int64_t i, int64_t start) {
  if (i == start) return 1;
  uint8_t p = buf[i - 1];
  if (CLS[p] & WORD) return 0;
  if (i - 2 < start) return 1;
  uint8_t before = CLS[buf[i - 2]];
  if ((p == '-' || p == '.' || p == '/' || p == ',') && (before & ALNUM)) return 0;
  return !(p == ':' && (before & DIGIT));
}

static const uint8_t LUHN_DOUBLE[10] = {0, 2, 4, 6, 8, 1, 3, 5, 7, 9};

static int luhn(const uint8_t *digits, int n) {
  int sum = 0;
  int k = n - 1;
  for (; k > 0; k -= 2) sum += digits[k] + LUHN_DOUBLE[digits[k - 1]];
  if (k == 0) sum += digits[0];
  return sum % 10 == 0;
}

static int plausibleCard(const uint8_t *digits, int n) {
  int first = digits[0];
  if (first < 2 || first > 6) return 0;
  for (int k = 1; k < n; k++)
    if (digits[k] != first) return luhn(digits, n);
  return 0;
}

static int64_t matchCard(const uint8_t *buf, int64_t i, int64_t end) {
  uint8_t digits[20];
  int64_t p = i;
  int n = 0;
  int sep = 0;
  int64_t cut1 = -1, cut2 = -1;
  int cut1n = 0, cut2n = 0;
  while (p < end) {
    uint8_t b = buf[p];
    if (b >= '0' && b <= '9') {
      if (n == 20) break;
      digits[n++] = b - '0';
      p++;
    } else if ((b == ' ' || b == '-') && (sep == 0 || sep == b) && isDigitAt(buf, p + 1, end)) {
      sep = b;
      if (n >= 13 && n <= 19) {
        cut2 = cut1;
        cut2n = cut1n;
        cut1 = p;
        cut1n = n;
      }
      p++;
    } else
      break;
  }
  if (n >= 13 && n <= 19 && endsToken(buf, p, end) && plausibleCard(digits, n)) return p;
  if (sep != ' ') return -1;
  if (cut1 >= 0 && plausibleCard(digits, cut1n)) return cut1;
  if (cut2 >= 0 && plausibleCard(digits, cut2n)) return cut2;
  return -1;
}

// wholeCardDigits: 1 a whole card of bare digits, 0 not, -1 a byte that is not a digit (ask matchCard).
static int wholeCardDigits(const uint8_t *buf, int64_t start, int64_t end) {
  int first = buf[start];
  if (first < '2' || first > '6') return 0;
  int sum = 0, differs = 0;
  int64_t i = end - 1;
  for (; i > start; i -= 2) {
    int last = buf[i] - '0';
    int doubled = buf[i - 1] - '0';
    if ((unsigned)last > 9 || (unsigned)doubled > 9) return -1;
    sum += last + LUHN_DOUBLE[doubled];
    differs |= (last ^ doubled) | (doubled ^ (first - '0'));
  }
  if (i == start) sum += first - '0';
  return differs != 0 && sum % 10 == 0 ? 1 : 0;
}

// isWholeSsn: buf[start, start + 11) is one SSN as matchSsn reads it.
static int isWholeSsn(const uint8_t *buf, int64_t start) {
  uint8_t sep = buf[start + 3];
  if ((sep != '-' && sep != ' ') || buf[start + 6] != sep) return 0;
  static const int at[9] = {0, 1, 2, 4, 5, 7, 8, 9, 10};
  int d[9];
  for (int k = 0; k < 9; k++) {
    d[k] = buf[start + at[k]] - '0';
    if ((unsigned)d[k] > 9) return 0;
  }
  int area = d[0] * 100 + d[1] * 10 + d[2];
  return area != 0 && area != 666 && area < 900 && (d[3] | d[4]) != 0 && (d[5] | d[6] | d[7] | d[8]) != 0;
}

static int allDigits(const uint8_t *buf, int64_t from, int count, int64_t end) {
  if (from + count > end) return 0;
  for (int k = 0; k < count; k++)
    if (buf[from + k] < '0' || buf[from + k] > '9') return 0;
  return 1;
}

static int num(const uint8_t *buf, int64_t from, int count) {
  int v = 0;
  for (int k = 0; k < count; k++) v = v * 10 + (buf[from + k] - '0');
  return v;
}

static int64_t matchSsn(const uint8_t *buf, int64_t i, int64_t end) {
  if (!allDigits(buf, i, 3, end) || i + 3 >= end) return -1;
  uint8_t sep = buf[i + 3];
  if (sep != '-' && sep != ' ') return -1;
  if (!allDigits(buf, i + 4, 2, end) || i + 6 >= end || buf[i + 6] != sep || !allDigits(buf, i + 7, 4, end)) return -1;
  int64_t p = i + 11;
  if (!endsToken(buf, p, end) || (p + 1 < end && buf[p] == sep && isDigitAt(buf, p + 1, end))) return -1;
  int area = num(buf, i, 3);
  if (area == 0 || area == 666 || area >= 900) return -1;
  if (num(buf, i + 4, 2) == 0 || num(buf, i + 7, 4) == 0) return -1;
  return p;
}

static int64_t octet(const uint8_t *buf, int64_t p, int64_t end) {
  int64_t q = p;
  int v = 0;
  while (q < end && q - p < 4 && isDigitAt(buf, q, end)) v = v * 10 + (buf[q++] - '0');
  int64_t len = q - p;
  if (len == 0 || len > 3 || v > 255 || (len > 1 && buf[p] == '0')) return -1;
  return q;
}

static int64_t matchIpv4(const uint8_t *buf, int64_t i, int64_t end) {
  int64_t p = i;
  for (int k = 0; k < 4; k++) {
    if (k > 0) {
      if (p >= end || buf[p] != '.') return -1;
      p++;
    }
    p = octet(buf, p, end);
    if (p < 0) return -1;
  }
  if (p < end && buf[p] == '.' && p + 1 < end && (CLS[buf[p + 1]] & ALNUM)) return -1;
  return endsToken(buf, p, end) ? p : -1;
}

static int64_t matchPhone(const uint8_t *buf, int64_t i, int64_t end) {
  int64_t p = i;
  int international = buf[p] == '+';
  if (international) p++;
  int64_t count = 0;
  int groups = 0;
  int64_t glen = 0, first = 0, longest = 0;
  int paren = 0;
  while (p < end) {
    uint8_t b = buf[p];
    if (b >= '0' && b <= '9') {
      int64_t from = p;
      while (++p < end && isDigitAt(buf, p, end));
      count += p - from;
      if (count > 15) return -1;
      glen += p - from;
      continue;
    }
    if (b == '(' && glen == 0 && !paren) {
      int64_t q = p + 1;
      while (q < end && isDigitAt(buf, q, end) && q - p <= 5) q++;
      int64_t inside = q - p - 1;
      if (inside < 1 || inside > 5 || q >= end || buf[q] != ')') break;
      count += inside;
      if (groups++ == 0) first = inside;
      if (inside > longest) longest = inside;
      glen = 0;
      paren = 1;
      p = q + 1;
      if (p + 1 < end && (buf[p] == ' ' || buf[p] == '-') && isDigitAt(buf, p + 1, end)) p++;
      if (p >= end || !isDigitAt(buf, p, end)) return -1;
      continue;
    }
    if ((b == ' ' || b == '-' || b == '.') && glen > 0 && p + 1 < end &&
        (isDigitAt(buf, p + 1, end) || (buf[p + 1] == '(' && !paren && p + 2 < end && isDigitAt(buf, p + 2, end)))) {
      if (groups++ == 0) first = glen;
      if (glen > longest) longest = glen;
      glen = 0;
      p++;
      continue;
    }
    break;
  }
  if (glen == 0) return -1;
  int64_t last = glen;
  if (groups++ == 0) first = glen;
  if (glen > longest) longest = glen;
  if (!endsToken(buf, p, end)) return -1;
  if (international) return count >= 8 && count <= 15 ? p : -1;
  if (count < 10 || count > 11) return -1;
  if (groups < 3 && !paren) return -1;
  return last >= 4 && longest <= 5 && first <= 5 ? p : -1;
}

static int64_t matchIpv6(const uint8_t *buf, int64_t i, int64_t end) {
  int64_t p = i;
  int groups = 0;
  int64_t hexDigits = 0;
  int compressed = 0, quad = 0;
  if (buf[p] == ':') {
    if (p + 1 >= end || buf[p + 1] != ':') return -1;
    compressed = 1;
    p += 2;
  }
  for (;;) {
    int64_t q = p;
    while (q < end && (CLS[buf[q]] & HEX) && q - p < 5) q++;
    int64_t len = q - p;
    if (len == 0) break;
    if (q < end && buf[q] == '.') {
      int64_t e = matchIpv4(buf, p, end);
      if (e < 0) return -1;
      groups += 2;
      quad = 1;
      p = e;
      break;
    }
    if (len > 4) return -1;
    groups++;
    hexDigits += len;
    p = q;
    if (p + 1 < end && buf[p] == ':' && buf[p + 1] == ':') {
      if (compressed) return -1;
      compressed = 1;
      p += 2;
      continue;
    }
    if (p + 1 < end && buf[p] == ':' && (CLS[buf[p + 1]] & HEX)) {
      p++;
      continue;
    }
    break;
  }
  if (!endsToken(buf, p, end) || (p < end && buf[p] == ':')) return -1;
  if (compressed) return groups >= 2 && groups <= 7 && (hexDigits >= 5 || quad) ? p : -1;
  return groups == 8 ? p : -1;
}

static int ibanStart(const uint8_t *buf, int64_t i, int64_t end) {
  return i + 4 <= end && (CLS[buf[i]] & UPPER) && (CLS[buf[i + 1]] & UPPER) && isDigitAt(buf, i + 2, end) && isDigitAt(buf, i + 3, end);
}

static int64_t matchIban(const uint8_t *buf, int64_t i, int64_t end) {
  uint8_t chars[40];
  if (!ibanStart(buf, i, end)) return -1;
  int length = IBAN_LENGTH[(buf[i] - 65) * 26 + buf[i + 1] - 65];
  if (length == 0) return -1;
  int64_t p = i;
  int n = 0, glen = 0, spaced = 0;
  while (n < length && p < end) {
    uint8_t b = buf[p];
    if (CLS[b] & (DIGIT | UPPER)) {
      chars[n++] = b;
      glen++;
      if (spaced && glen > 4) return -1;
      p++;
    } else if (b == ' ' && glen == 4 && (n == 4 || spaced) && p + 1 < end && (CLS[buf[p + 1]] & (DIGIT | UPPER))) {
      spaced = 1;
      glen = 0;
      p++;
    } else
      return -1;
  }
  if (n != length || !endsToken(buf, p, end) || (p < end && (CLS[buf[p]] & ALNUM))) return -1;
  int rem = 0;
  for (int k = 0; k < length; k++) {
    uint8_t b = chars[(k + 4) % length];
    rem = b <= '9' ? (rem * 10 + (b - '0')) % 97 : (rem * 100 + (b - 55)) % 97;
  }
  return rem == 1 ? p : -1;
}

// ---- detect-tokens.ts ----

static int64_t matchAwsAccessKey(const uint8_t *buf, int64_t rs, int64_t re) {
  if (re - rs != 20) return -1;
  if (!startsWithAt(buf, rs, re, "AKIA") && !startsWithAt(buf, rs, re, "ASIA")) return -1;
  return allOf(buf, rs + 4, re, UPPER | DIGIT) ? re : -1;
}

static int64_t matchApiToken(const uint8_t *buf, int64_t rs, int64_t re) {
  for (size_t v = 0; v < VENDOR_COUNT; v++) {
    const Vendor *vendor = &VENDORS[v];
    if ((uint8_t)vendor->prefix[0] != buf[rs]) continue;
    int64_t prefix = (int64_t)strlen(vendor->prefix);
    int64_t bodyLen = re - rs - prefix;
    if (bodyLen < vendor->min || bodyLen > vendor->max || !startsWithAt(buf, rs, re, vendor->prefix)) continue;
    if (allOf(buf, rs + prefix, re, vendor->body)) return re;
  }
  return -1;
}

static int64_t runFrom(const uint8_t *buf, int64_t p, int64_t end) {
  while (p < end && (CLS[buf[p]] & RUN)) p++;
  return p;
}

// matchJwt's shape; a candidate that has it needs its header parsed: unsure (see the top of this file).
static int64_t matchJwt(const uint8_t *buf, int64_t rs, int64_t re, int64_t end, Matches *m) {
  if (re - rs < 10 || !startsWithAt(buf, rs, re, "eyJ") || re >= end || buf[re] != '.') return -1;
  int64_t payloadEnd = runFrom(buf, re + 1, end);
  if (payloadEnd == re + 1 || payloadEnd >= end || buf[payloadEnd] != '.') return -1;
  int64_t signatureEnd = runFrom(buf, payloadEnd + 1, end);
  if (signatureEnd < end && (buf[signatureEnd] == '.' || buf[signatureEnd] == '=')) return -1;
  m->unsure = 1;
  return -1;
}

static int equalsLower(const uint8_t *buf, int64_t at, int64_t end, const char *lower) {
  size_t n = strlen(lower);
  if (at + (int64_t)n > end) return 0;
  for (size_t i = 0; i < n; i++)
    if ((buf[at + i] | 0x20) != (uint8_t)lower[i]) return 0;
  return 1;
}

static int64_t bearerTokenStart(const uint8_t *buf, int64_t rs, int64_t re, int64_t end) {
  if (re - rs != 6 || !equalsLower(buf, rs, re, "bearer")) return -1;
  int64_t p = re;
  while (p < end && (buf[p] == ' ' || buf[p] == '\t')) p++;
  return p > re ? p : -1;
}

static int64_t matchBearerToken(const uint8_t *buf, int64_t ts, int64_t end) {
  int64_t p = ts;
  while (p < end && (CLS[buf[p]] & B64TOKEN)) p++;
  if (p - ts < 16) return -1;
  while (p < end && buf[p] == '=') p++;
  if (p < end && (CLS[buf[p]] & B64TOKEN)) return -1;
  return p;
}

// The first occurrence of `text` in buf[from, end), or -1.
static int64_t indexOf(const uint8_t *buf, int64_t from, int64_t end, const char *text) {
  int64_t n = (int64_t)strlen(text);
  for (int64_t p = from; p + n <= end; p++)
    if (buf[p] == (uint8_t)text[0] && memcmp(buf + p, text, n) == 0) return p;
  return -1;
}

static int64_t matchPrivateKey(const uint8_t *buf, int64_t rs, int64_t re, int64_t end) {
  static const char *BEGIN = "-----BEGIN ", *LABEL_END = "PRIVATE KEY-----", *END_LINE = "-----END ";
  if (re - rs != (int64_t)strlen(BEGIN) - 1 || !startsWithAt(buf, rs, end, BEGIN)) return -1;
  int64_t p = rs + (int64_t)strlen(BEGIN);
  int64_t labelLimit = end < p + 40 ? end : p + 40;
  while (p < labelLimit && !startsWithAt(buf, p, end, LABEL_END)) {
    uint8_t b = buf[p];
    if (!(CLS[b] & UPPER) && b != ' ') return -1;
    p++;
  }
  if (!startsWithAt(buf, p, end, LABEL_END)) return -1;
  p += (int64_t)strlen(LABEL_END);
  int64_t endLine = indexOf(buf, p, end, END_LINE);
  if (endLine < 0) return end;
  int64_t close = indexOf(buf, endLine + (int64_t)strlen(END_LINE), end, LABEL_END);
  return close < 0 ? end : close + (int64_t)strlen(LABEL_END);
}

// ---- detectors.ts ----

#define EMAIL (1u << K_EMAIL)
#define CARD (1u << K_CARD)
#define SSN (1u << K_SSN)
#define IBAN (1u << K_IBAN)
#define PHONE (1u << K_PHONE)
#define IPV4 (1u << K_IPV4)
#define IPV6 (1u << K_IPV6)
#define JWT (1u << K_JWT)
#define AWS (1u << K_AWS)
#define PRIVATE_KEY (1u << K_PRIVATE_KEY)
#define BEARER (1u << K_BEARER)
#define API (1u << K_API)
#define RUN_KINDS (IBAN | JWT | AWS | PRIVATE_KEY | BEARER | API)
#define LONG_NUMBERS (CARD | SSN | PHONE)

static int64_t found(Matches *m, int kind, int64_t start, int64_t end) {
  report(m, kind, start, end);
  return end;
}

static int64_t onRun(const uint8_t *buf, int64_t rs, int64_t re, int64_t end, uint32_t kinds, Matches *m) {
  uint8_t b0 = buf[rs];
  int64_t e;
  if (b0 == 0x65 && (kinds & JWT) && (e = matchJwt(buf, rs, re, end, m)) >= 0) return found(m, K_JWT, rs, e);
  if (b0 == '-' && (kinds & PRIVATE_KEY) && (e = matchPrivateKey(buf, rs, re, end)) >= 0) return found(m, K_PRIVATE_KEY, rs, e);
  if ((b0 | 0x20) == 0x62 && (kinds & BEARER)) {
    int64_t ts = bearerTokenStart(buf, rs, re, end);
    if (ts >= 0 && (e = matchBearerToken(buf, ts, end)) >= 0) return found(m, K_BEARER, ts, e);
  }
  if (API_TOKEN_FIRST[b0] && (kinds & API) && (e = matchApiToken(buf, rs, re)) >= 0) return found(m, K_API, rs, e);
  if (b0 == 0x41 && (kinds & AWS) && (e = matchAwsAccessKey(buf, rs, re)) >= 0) return found(m, K_AWS, rs, e);
  if ((kinds & IBAN) && ibanStart(buf, rs, end) && (e = matchIban(buf, rs, end)) >= 0) return found(m, K_IBAN, rs, e);
  return -1;
}

static int64_t localPartStart(const uint8_t *buf, int64_t at, int64_t floor) {
  int64_t ls = at;
  while (ls > floor && (CLS[buf[ls - 1]] & LOCAL)) ls--;
  while (ls < at && buf[ls] < 0x80 && !(CLS[buf[ls]] & ALNUM)) ls++;
  return at - ls >= 1 && at - ls <= 64 && buf[at - 1] != '.' ? ls : -1;
}

static int64_t domainEnd(const uint8_t *buf, int64_t p, int64_t end) {
  int labels = 0;
  int64_t q = p;
  for (;;) {
    int64_t labelStart = q;
    int alpha = D_ALPHA;
    uint8_t d = 0;
    while (q < end && (d = DOMAIN[buf[q]]) != 0) {
      alpha &= d;
      q++;
    }
    int64_t len = q - labelStart;
    if (len < 1 || len > 63 || buf[labelStart] == '-' || buf[q - 1] == '-') return -1;
    labels++;
    if (q < end && buf[q] == '.') {
      int64_t r = q + 1;
      while (r < end && buf[r] == '.') r++;
      if (r < end && DOMAIN[buf[r]] != 0) {
        if (r > q + 1) return -1;
        q = r;
        continue;
      }
    }
    return labels >= 2 && alpha != 0 && len >= 2 ? q : -1;
  }
}

static void scanEmails(const uint8_t *buf, int64_t at, int64_t start, int64_t end, Matches *m) {
  int64_t floor = start;
  while (at >= 0) {
    int64_t resume = at + 1;
    int64_t ls = localPartStart(buf, at, floor);
    if (ls >= 0) {
      int64_t de = domainEnd(buf, at + 1, end);
      if (de > 0) {
        report(m, K_EMAIL, ls, de);
        resume = floor = de;
      }
    }
    at = -1;
    for (int64_t p = resume; p < end; p++) {
      if (buf[p] == '@') {
        at = p;
        break;
      }
    }
  }
}

static int64_t matchNumber(const uint8_t *buf, int64_t i, int64_t q, int64_t end, uint32_t kinds, Matches *m) {
  int64_t len = q - i;
  int next = q < end ? buf[q] : -1;
  uint8_t first = buf[i];
  int64_t e;
  if ((kinds & CARD) && first >= 0x32 && first <= 0x36 && len <= 19 && (len >= 13 || next == ' ' || next == '-') && (e = matchCard(buf, i, end)) >= 0)
    return found(m, K_CARD, i, e);
  if ((kinds & SSN) && len == 3 && (next == '-' || next == ' ') && (e = matchSsn(buf, i, end)) >= 0) return found(m, K_SSN, i, e);
  if ((kinds & IPV4) && len <= 3 && next == '.' && (e = matchIpv4(buf, i, end)) >= 0) return found(m, K_IPV4, i, e);
  if ((kinds & PHONE) && len <= 5 && (next == ' ' || next == '-' || next == '.') && (e = matchPhone(buf, i, end)) >= 0) return found(m, K_PHONE, i, e);
  return -1;
}

static void scanNumbers(const uint8_t *buf, int64_t start, int64_t from, int64_t to, int64_t end, uint32_t kinds, Matches *m) {
  int64_t i = from;
  while (i < to) {
    uint8_t n = NUM[buf[i]];
    if (n == 0) {
      i++;
      continue;
    }
    if (n == N_PHONE_LEAD) {
      int64_t e = -1;
      if (i + 1 < end && NUM[buf[i + 1]] == N_DIGIT && (kinds & PHONE) && startsToken(buf, i, start) && (e = matchPhone(buf, i, end)) >= 0) {
        report(m, K_PHONE, i, e);
        i = e;
      } else
        i++;
      continue;
    }
    int64_t q = i + 1;
    while (q < end && NUM[buf[q]] == N_DIGIT) q++;
    if (startsToken(buf, i, start)) {
      int64_t e = matchNumber(buf, i, q, end, kinds, m);
      if (e >= 0) {
        i = e;
        continue;
      }
    }
    i = q;
  }
}

static void scanIpv6(const uint8_t *buf, int64_t start, int64_t end, Matches *m) {
  int64_t i = start;
  while (i < end) {
    uint8_t b = buf[i];
    if (((CLS[b] & HEX) || b == ':') && (i == start || !((CLS[buf[i - 1]] & WORD) || buf[i - 1] == ':' || buf[i - 1] == '.'))) {
      int64_t e = matchIpv6(buf, i, end);
      if (e >= 0) {
        report(m, K_IPV6, i, e);
        i = e;
        continue;
      }
    }
    i++;
  }
}

static int isLabel(const uint8_t *buf, int64_t from, int64_t to) {
  return to - from >= 1 && to - from <= 63 && buf[from] != '-' && buf[to - 1] != '-';
}

static int wholeEmail(const uint8_t *buf, int64_t start, int64_t end) {
  int64_t at = start;
  int seen = 0;
  uint8_t c = 0;
  for (; at < end; at++) {
    c = EMAIL_BYTE[buf[at]];
    if ((c & E_LOCAL) == 0) break;
    seen |= c;
  }
  (void)seen;
  int64_t local = at - start;
  if (c != E_AT || local < 1 || local > 64 || (EMAIL_BYTE[buf[start]] & E_FIRST) == 0 || buf[at - 1] == '.') return 0;
  int64_t labelStart = at + 1;
  int labels = 0;
  int alpha = E_ALPHA;
  for (int64_t q = labelStart; q < end; q++) {
    uint8_t d = EMAIL_BYTE[buf[q]];
    if (d & E_LABEL) {
      alpha &= d;
      continue;
    }
    if ((d & E_DOT) == 0 || !isLabel(buf, labelStart, q)) return 0;
    labels++;
    labelStart = q + 1;
    alpha = E_ALPHA;
  }
  return labels != 0 && end - labelStart >= 2 && alpha != 0 && isLabel(buf, labelStart, end);
}

int wholeMatch(int kind, const uint8_t *buf, int64_t start, int64_t end) {
  if (kind == K_EMAIL) return wholeEmail(buf, start, end);
  if (kind == K_CARD) {
    if (end - start < 13 || buf[start] < '0' || buf[start] > '9') return 0;
    int digits = end - start <= 19 ? wholeCardDigits(buf, start, end) : -1;
    if (digits >= 0) return digits == 1;
    return matchCard(buf, start, end) == end;
  }
  if (kind == K_SSN) return end - start == 11 && isWholeSsn(buf, start);
  return 0;
}

// SpanMasker#orderAndDropOverlaps: by start, the longer first at equal starts; spans overlapping a kept one dropped.
static void orderAndDropOverlaps(Matches *m) {
  for (int i = 1; i < m->n; i++) {
    int64_t a = m->start[i], b = m->end[i];
    int c = m->kind[i];
    int j = i - 1;
    while (j >= 0 && (m->start[j] > a || (m->start[j] == a && m->end[j] < b))) {
      m->start[j + 1] = m->start[j];
      m->end[j + 1] = m->end[j];
      m->kind[j + 1] = m->kind[j];
      j--;
    }
    m->start[j + 1] = a;
    m->end[j + 1] = b;
    m->kind[j + 1] = c;
  }
  int kept = 0;
  int64_t lastEnd = -1;
  for (int i = 0; i < m->n; i++) {
    if (m->start[i] < lastEnd) continue;
    lastEnd = m->end[i];
    m->start[kept] = m->start[i];
    m->end[kept] = lastEnd;
    m->kind[kept] = m->kind[i];
    kept++;
  }
  m->n = kept;
}

int scanValue(const uint8_t *buf, int64_t start, int64_t end, uint32_t kinds, Matches *m) {
  m->n = 0;
  m->unsure = 0;
  uint32_t runKinds = kinds & RUN_KINDS;
  int64_t digits = 0, firstAt = -1, colons = 0, lastColon = -2, colonPairs = 0, dots = 0;
  int skipped = 0;
  int64_t numFrom = -1, numTo = -1;
  int64_t i = start;
  while (i < end) {
    uint8_t c = SCAN[buf[i]];
    if ((c & S_RUN) == 0) {
      if (c != 0) {
        if (c == S_AT) {
          if (firstAt < 0) firstAt = i;
        } else if (c == S_COLON) {
          colons++;
          if (lastColon == i - 1) colonPairs++;
          lastColon = i;
        } else
          dots++;
      }
      i++;
      continue;
    }
    int64_t rs = i;
    int64_t digitsBefore = digits;
    do {
      digits += c & S_DIGIT;
      if (++i == end) break;
      c = SCAN[buf[i]];
    } while (c & S_RUN);
    if (digits != digitsBefore) {
      if (numFrom < 0) numFrom = rs;
      numTo = i;
    }
    uint8_t b0 = buf[rs];
    if (runKinds != 0 && i - rs >= MIN_RUN[b0] && (IBAN_ONLY[b0] == 0 || (CLS[buf[rs + 1]] & UPPER))) {
      int64_t next = onRun(buf, rs, i, end, runKinds, m);
      if (next > i) {
        i = next;
        skipped = 1;
      }
    }
  }
  if (firstAt >= 0 && (kinds & EMAIL)) scanEmails(buf, firstAt, start, end, m);
  if (((kinds & LONG_NUMBERS) && digits >= 8) || ((kinds & IPV4) && digits >= 4 && dots >= 3)) {
    uint32_t numKinds = kinds;
    if (!skipped) {
      if (digits < 13) numKinds &= ~CARD;
      if (digits < 9) numKinds &= ~SSN;
      if (digits < 8) numKinds &= ~PHONE;
    }
    int64_t from = skipped ? start : (numFrom - 1 > start ? numFrom - 1 : start);
    scanNumbers(buf, start, from, skipped ? end : numTo, end, numKinds, m);
  }
  if ((kinds & IPV6) && colons >= 2 && (colonPairs > 0 || colons >= 6 || skipped)) scanIpv6(buf, start, end, m);
  if (m->n > 1) orderAndDropOverlaps(m);
  return m->n;
}
