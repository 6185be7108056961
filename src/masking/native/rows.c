// Masking of runs of row messages outside JS: PostgreSQL DataRows and MySQL text and binary rows whose
// masked columns are written by a column rule (`partial`, `email`, a constant for `redact` and `fixed`,
// `null`) or scanned by the detectors (detect.c) with such strategies for their matches. It is the same work
// as the JS row maskers (PgRowMasker, MysqlRowMasker in src/masking), byte for byte and count for count
// (test/unit/masking/native-rows.test.ts holds them together), at a few times the speed. native.ts loads
// it; without a compiler the JS maskers do all the work.
//
// One call masks whole row messages from src[at, end) into out[pos, out's length), stopping at the first
// row it leaves to JS (malformed; a MySQL row of more than one packet or one that masking would grow past
// one; a value holding a JWT candidate, whose header only JS parses, or more matches than it keeps), when
// out has no room for the next row, or when its rows' counts fill what it reports at once. The JS caller
// masks that row its own way (which raises the wire error a malformed row deserves) and calls again.
#include <node_api.h>
#include <stdint.h>
#include <string.h>

#include "detect.h"

// io (Int32Array), read: [AT] first row, [END] end of the rows, [POS] where out's first row goes.
// Written: [AT] the first row not masked, [POS] the position after the last one written, [WHY] why it
// stopped, [RUNS] how many records follow from [FIRST_RUN], each a run of consecutive rows counted alike:
// for plans of column rules only (columns, rows), the set of columns masked (bit i: column i) as
// MaskCounters#endRowsWith takes it; for plans that scan, (rows, hits of each column), a column's hits
// being -1 (not masked), 0 (a column rule) or the detectors that matched (bit k: kind k), as
// MaskCounters#endRowsWithHits takes them.
// [GUESSES + i]: the kind column i's last scanned value was one whole match of, or -1 (SpanMasker's guesses):
// its next value is checked as that kind first, which finds what the scan would for much less.
enum { AT = 0, END = 1, POS = 2, WHY = 3, RUNS = 4, GUESSES = 5, FIRST_RUN = 5 + 31 };
#define MAX_RUNS 64
enum { DONE = 0, FULL = 1, LEAVE = 2, COUNTED = 3 };

// plan (Int32Array): [format, columns, kinds], the strategy of each detector kind's matches (op, a, b),
// then per column (op, a, b, shape). Strategy ops: partial a = keepFirst, b = keepLast; constant a = offset in
// consts, b = length. Column ops are those, KEEP or SCAN (the detectors in `kinds`, bit k: kind k). shape
// (MySQL binary rows): how a value of the column's type is laid out, its size when fixed, else TEMPORAL or
// LENENC. maskRows checks every word before it masks anything, and works out itself the room a row needs.
enum { PG = 0, MYSQL = 1, MYSQL_BINARY = 2 };
enum { TEMPORAL = -1, LENENC = -2 };  // a length byte and that many bytes; an int<lenenc> string
#define COLUMN_WORDS 4
enum { KEEP = 0, PARTIAL = 1, EMAIL = 2, CONSTANT = 3, TO_NULL = 4, SCAN = 5 };
#define DETECTOR_WORDS (3 * DETECTOR_KINDS)
#define PLAN_HEAD (3 + DETECTOR_WORDS)
#define MAX_COLUMNS 31

typedef struct {
  const int32_t *plan;
  const uint8_t *consts;
  int columns;
  uint32_t kinds;
  // Some column is scanned: rows are counted by their hits, and a masked value's growth is checked as it is
  // written (matches are not known before).
  int scans;
  // Room a row may need beyond its own length for its column rules: each masked value's growth (email: "***@"
  // for the local part's tail and the '@', at most 4 bytes more; a constant: its length) plus, for MySQL, a
  // longer length prefix (up to 8 bytes more) and where a long value is written before its prefix is known.
  int64_t slack;
} Plan;

static const int32_t *columnOp(const Plan *plan, int i) { return plan->plan + PLAN_HEAD + COLUMN_WORDS * i; }

static const int32_t *kindOp(const Plan *plan, int kind) { return plan->plan + 3 + 3 * kind; }

// Copies n bytes between buffers that do not overlap. Values and the runs between them are mostly a few
// bytes, where a call to memcpy costs more than the copy: 8 bytes at a time (the last 8 overlapping the ones
// before), a byte loop below 8.
static inline void put(uint8_t *dst, const uint8_t *src, int64_t n) {
  if (n >= 8) {
    uint64_t v;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      memcpy(&v, src + i, 8);
      memcpy(dst + i, &v, 8);
    }
    if (i < n) {
      memcpy(&v, src + n - 8, 8);
      memcpy(dst + n - 8, &v, 8);
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = src[i];
}

// Writes n '*' (the masked characters of `partial`), as `put`.
static inline void stars(uint8_t *dst, int64_t n) {
  const uint64_t v = 0x2a2a2a2a2a2a2a2aull;
  if (n >= 8) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(dst + i, &v, 8);
    if (i < n) memcpy(dst + n - 8, &v, 8);
    return;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = '*';
}

static int isContinuation(uint8_t b) { return (b & 0xc0) == 0x80; }

// Byte offset just past the first n characters of src[start, end) (strategies.ts skipChars).
static int64_t skipChars(const uint8_t *src, int64_t start, int64_t end, int64_t n) {
  int64_t p = start;
  for (int64_t k = 0; k < n && p < end; k++) {
    p++;
    while (p < end && isContinuation(src[p])) p++;
  }
  return p;
}

// Where the last keepLast characters of src[head, end) begin; head when there are fewer (tailOf).
static int64_t tailOf(const uint8_t *src, int64_t head, int64_t end, int64_t keepLast) {
  int64_t tail = end;
  int64_t kept = 0;
  while (kept < keepLast && tail > head) {
    tail--;
    while (tail > head && isContinuation(src[tail])) tail--;
    kept++;
  }
  return kept < keepLast ? head : tail;
}

static int isAscii(const uint8_t *src, int64_t start, int64_t end) {
  uint8_t high = 0;
  for (int64_t i = start; i < end; i++) high |= src[i];
  return high < 0x80;
}

// `partial`: the first keepFirst and last keepLast characters kept, one '*' per character between; a value
// with no more characters than are kept is all stars.
static int64_t writePartial(const uint8_t *src, int64_t start, int64_t end, uint8_t *out, int64_t p, int64_t keepFirst, int64_t keepLast) {
  int64_t head, tail;
  if (isAscii(src, start, end)) {
    int hidden = end - start <= keepFirst + keepLast;
    head = hidden ? start : start + keepFirst;
    tail = hidden ? end : end - keepLast;
    put(out + p, src + start, head - start);
    p += head - start;
    stars(out + p, tail - head);
    p += tail - head;
    put(out + p, src + tail, end - tail);
    return p + (end - tail);
  }
  head = keepFirst == 0 ? start : skipChars(src, start, end, keepFirst);
  tail = tailOf(src, head, end, keepLast);
  if (tail == head) {
    head = start;
    tail = end;
  }
  put(out + p, src + start, head - start);
  p += head - start;
  if (tail > head) out[p++] = '*';
  for (int64_t i = head + 1; i < tail; i++)
    if (!isContinuation(src[i])) out[p++] = '*';
  put(out + p, src + tail, end - tail);
  return p + (end - tail);
}

// `email`: the local part's first character, "***@", the domain after the last '@'; "****" without an '@'.
static int64_t writeEmail(const uint8_t *src, int64_t start, int64_t end, uint8_t *out, int64_t p) {
  int64_t at = end - 1;
  while (at >= start && src[at] != '@') at--;
  if (at < start) {
    memcpy(out + p, "****", 4);
    return p + 4;
  }
  int64_t first = skipChars(src, start, at, 1);
  if (first < at) {
    put(out + p, src + start, first - start);
    p += first - start;
  }
  memcpy(out + p, "***@", 4);
  p += 4;
  put(out + p, src + at + 1, end - at - 1);
  return p + (end - at - 1);
}

// A strategy (op words) over src[start, end) written at out[p]; the position after it. Not TO_NULL.
static int64_t writeOp(const Plan *plan, const int32_t *c, const uint8_t *src, int64_t start, int64_t end, uint8_t *out, int64_t p) {
  switch (c[0]) {
    case PARTIAL:
      return writePartial(src, start, end, out, p, c[1], c[2]);
    case EMAIL:
      return writeEmail(src, start, end, out, p);
    case CONSTANT:
      put(out + p, plan->consts + c[1], c[2]);
      return p + c[2];
  }
  return p;  // not reached: maskRows admits no other op here
}

static int64_t opGrowth(const int32_t *c) { return c[0] == EMAIL ? 4 : c[0] == CONSTANT ? c[2] : 0; }

// What masks one value: a strategy, or the matches a scan found (each masked by its kind's strategy and the
// bytes between them kept; SpanMasker#write).
typedef struct {
  const int32_t *op;
  const Matches *matches;
} Masking;

static int64_t writeMasked(const Plan *plan, const Masking *how, const uint8_t *src, int64_t s, int64_t e, uint8_t *out, int64_t p) {
  if (how->matches == NULL) return writeOp(plan, how->op, src, s, e, out, p);
  const Matches *m = how->matches;
  int64_t from = s;
  for (int j = 0; j < m->n; j++) {
    put(out + p, src + from, m->start[j] - from);
    p += m->start[j] - from;
    p = writeOp(plan, kindOp(plan, m->kind[j]), src, m->start[j], m->end[j], out, p);
    from = m->end[j];
  }
  put(out + p, src + from, e - from);
  return p + (e - from);
}

// The most bytes masking adds to the value, or -1 when it makes the value NULL (a `null` strategy).
static int64_t maskedGrowth(const Plan *plan, const Masking *how) {
  if (how->matches == NULL) return how->op[0] == TO_NULL ? -1 : opGrowth(how->op);
  int64_t growth = 0;
  for (int j = 0; j < how->matches->n; j++) {
    const int32_t *c = kindOp(plan, how->matches->kind[j]);
    if (c[0] == TO_NULL) return -1;
    growth += opGrowth(c);
  }
  return growth;
}

// How column i's value src[s, e) is masked: 1 and *how set; 0 when it stays as it is; -1 when the row is
// left to JS. *hits (-1 from the caller): the column's hits when it is masked; guesses: see io.
static int maskingOf(const Plan *plan, int i, const uint8_t *src, int64_t s, int64_t e, Matches *m, Masking *how, int32_t *hits, int32_t *guesses) {
  const int32_t *c = columnOp(plan, i);
  if (c[0] == KEEP) return 0;
  if (c[0] != SCAN) {
    how->op = c;
    how->matches = NULL;
    *hits = 0;
    return 1;
  }
  int32_t guess = guesses[i];
  if (guess >= 0 && guess < DETECTOR_KINDS && (plan->kinds >> guess) & 1 && wholeMatch(guess, src, s, e)) {
    m->n = 1;
    m->unsure = 0;
    m->start[0] = s;
    m->end[0] = e;
    m->kind[0] = guess;
  } else {
    scanValue(src, s, e, plan->kinds, m);
    if (m->unsure) return -1;
    guesses[i] = m->n == 1 && m->start[0] == s && m->end[0] == e && ((1u << m->kind[0]) & WHOLE_KINDS) ? m->kind[0] : -1;
  }
  if (m->n == 0) return 0;
  int32_t found = 0;
  for (int j = 0; j < m->n; j++) found |= 1 << m->kind[j];
  *hits = found;
  how->op = NULL;
  how->matches = m;
  return 1;
}

static uint32_t be32(const uint8_t *b) { return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3]; }

static void putBe32(uint8_t *b, uint32_t v) {
  b[0] = v >> 24;
  b[1] = v >> 16;
  b[2] = v >> 8;
  b[3] = v;
}

// One DataRow src[at, ...) masked into out[p] (out usable up to limit): the position after it, -1 to leave the
// row to JS, -2 when it does not fit. *next is where the row ends; hits[i] each column's hits (see io).
static int64_t pgRow(const Plan *plan, const uint8_t *src, int64_t at, int64_t end, uint8_t *out, int64_t p, int64_t limit, int64_t *next, int32_t *hits, Matches *m, int32_t *guesses) {
  if (end - at < 7 || src[at] != 'D') return -1;
  int64_t rowEnd = at + 1 + (int64_t)be32(src + at + 1);
  if (rowEnd > end || rowEnd < at + 7) return -1;
  if (((src[at + 5] << 8) | src[at + 6]) != plan->columns) return -1;
  if (p + (rowEnd - at) + plan->slack > limit) return -2;
  int64_t start = p;
  int64_t run = at;  // src[run, cell) goes out as it is
  int64_t cell = at + 7;
  for (int i = 0; i < plan->columns; i++) {
    hits[i] = -1;
    if (rowEnd - cell < 4) return -1;
    int32_t len = (int32_t)be32(src + cell);
    int64_t s = cell + 4;
    if (len < -1 || (len > 0 && rowEnd - s < len)) return -1;
    int64_t e = len < 0 ? s : s + len;
    Masking how;
    int masks = len < 0 ? 0 : maskingOf(plan, i, src, s, e, m, &how, &hits[i], guesses);
    if (masks < 0) return -1;
    if (masks) {
      int64_t growth = maskedGrowth(plan, &how);
      if (plan->scans && p + (cell - run) + 4 + (e - s) + (growth < 0 ? 0 : growth) + (rowEnd - e) + plan->slack > limit) return -2;
      put(out + p, src + run, cell - run);
      p += cell - run;
      if (growth < 0) {
        putBe32(out + p, 0xffffffffu);
        p += 4;
      } else {
        int64_t q = writeMasked(plan, &how, src, s, e, out, p + 4);
        putBe32(out + p, (uint32_t)(q - p - 4));
        p = q;
      }
      run = e;
    }
    cell = e;
  }
  if (cell != rowEnd) return -1;
  put(out + p, src + run, rowEnd - run);
  p += rowEnd - run;
  putBe32(out + start + 1, (uint32_t)(p - start - 1));
  *next = rowEnd;
  return p;
}

static int64_t putLenenc(uint8_t *out, int64_t p, uint64_t n) {
  if (n < 0xfb) {
    out[p] = (uint8_t)n;
    return p + 1;
  }
  int bytes = n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 8;
  out[p++] = bytes == 2 ? 0xfc : bytes == 3 ? 0xfd : 0xfe;
  for (int k = 0; k < bytes; k++) out[p++] = (uint8_t)(n >> (8 * k));
  return p;
}

// A masked value with its length prefix at out[p]. A value whose masked length might not fit a one-byte
// prefix is written 9 bytes on (the longest prefix) and moved back once its length is known.
static int64_t writeMysqlValue(const Plan *plan, const Masking *how, int64_t growth, const uint8_t *src, int64_t s, int64_t e, uint8_t *out, int64_t p) {
  if (e - s + growth < 0xfb) {
    int64_t q = writeMasked(plan, how, src, s, e, out, p + 1);
    out[p] = (uint8_t)(q - p - 1);
    return q;
  }
  int64_t q = writeMasked(plan, how, src, s, e, out, p + 9);
  int64_t len = q - p - 9;
  int64_t v = putLenenc(out, p, (uint64_t)len);
  memmove(out + v, out + p + 9, len);
  return v + len;
}

// The int<lenenc> length of a string value at src[cell] (not 0xfb, NULL in a text row): its value's bounds
// in *s and *e, or 0 when the prefix is not one or the value runs past rowEnd.
static int lenencValue(const uint8_t *src, int64_t cell, int64_t rowEnd, int64_t *s, int64_t *e) {
  if (cell >= rowEnd) return 0;
  uint8_t first = src[cell];
  uint64_t len = first;
  *s = cell + 1;
  if (first >= 0xfb) {
    if (first == 0xfb || first == 0xff) return 0;
    int bytes = first == 0xfc ? 2 : first == 0xfd ? 3 : 8;
    if (rowEnd - cell < 1 + bytes) return 0;
    len = 0;
    for (int k = 0; k < bytes; k++) len |= (uint64_t)src[cell + 1 + k] << (8 * k);
    *s = cell + 1 + bytes;
  }
  if (len > (uint64_t)(rowEnd - *s)) return 0;
  *e = *s + (int64_t)len;
  return 1;
}

// One MySQL row packet src[at, ...), text (ProtocolText::ResultsetRow) or binary (0x00, a NULL bitmap whose
// bits start at bit 2, then the values that are not NULL), masked into out[p]; as pgRow.
static int64_t mysqlRow(const Plan *plan, int binary, const uint8_t *src, int64_t at, int64_t end, uint8_t *out, int64_t p, int64_t limit, int64_t *next, int32_t *hits, Matches *m, int32_t *guesses) {
  if (end - at < 4) return -1;
  int64_t size = src[at] | (src[at + 1] << 8) | (src[at + 2] << 16);
  int64_t rowEnd = at + 4 + size;
  // A payload of 0xffffff bytes continues in the next packet: a row of its own kind, left to JS.
  if (size == 0xffffff || rowEnd > end) return -1;
  if (p + (rowEnd - at) + plan->slack > limit) return -2;
  int64_t start = p;
  int64_t cell = at + 4;
  int64_t bitmap = cell + 1;  // binary rows: the NULL bitmap, in src and (from outBitmap) in out
  int64_t outBitmap = p + 5;
  if (binary) {
    int64_t head = 1 + ((plan->columns + 9) >> 3);
    if (rowEnd - cell < head || src[cell] != 0x00) return -1;
    put(out + p + 4, src + cell, head);
    p += head;
    cell += head;
  }
  int64_t run = cell;
  p += 4;
  for (int i = 0; i < plan->columns; i++) {
    const int32_t *c = columnOp(plan, i);
    int bit = i + 2;
    int64_t s, e;
    hits[i] = -1;
    if (binary) {
      if (src[bitmap + (bit >> 3)] & (1 << (bit & 7))) continue;  // NULL
      if (c[3] >= 0) {
        s = cell;
        e = cell + c[3];
      } else if (c[3] == TEMPORAL) {
        if (cell >= rowEnd) return -1;
        s = cell;
        e = cell + 1 + src[cell];
      } else if (!lenencValue(src, cell, rowEnd, &s, &e))
        return -1;
      if (e > rowEnd) return -1;
    } else {
      if (cell >= rowEnd) return -1;
      if (src[cell] == 0xfb) {
        cell++;  // NULL
        continue;
      }
      if (!lenencValue(src, cell, rowEnd, &s, &e)) return -1;
    }
    Masking how;
    int masks = maskingOf(plan, i, src, s, e, m, &how, &hits[i], guesses);
    if (masks < 0) return -1;
    if (masks) {
      int64_t growth = maskedGrowth(plan, &how);
      if (plan->scans && p + (cell - run) + 9 + (e - s) + (growth < 0 ? 0 : growth) + (rowEnd - e) + plan->slack > limit) return -2;
      put(out + p, src + run, cell - run);
      p += cell - run;
      if (growth >= 0) p = writeMysqlValue(plan, &how, growth, src, s, e, out, p);
      else if (binary) out[outBitmap + (bit >> 3)] |= 1 << (bit & 7);
      else out[p++] = 0xfb;
      run = e;
    }
    cell = e;
  }
  if (cell != rowEnd) return -1;
  put(out + p, src + run, rowEnd - run);
  p += rowEnd - run;
  int64_t payload = p - start - 4;
  if (payload >= 0xffffff) return -1;
  out[start] = (uint8_t)payload;
  out[start + 1] = (uint8_t)(payload >> 8);
  out[start + 2] = (uint8_t)(payload >> 16);
  out[start + 3] = src[at + 3];
  *next = rowEnd;
  return p;
}

// A typed array of the given type (Int32Array or Uint8Array): its data and its length in bytes.
static int typedArray(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *bytes) {
  napi_typedarray_type type;
  size_t length;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &buffer, &offset) != napi_ok || type != want) return 0;
  *bytes = length * (want == napi_int32_array ? 4 : 1);
  return 1;
}

// Checks a strategy's op words: an op it knows, counts that are not negative, a constant inside consts.
static int checkOp(const int32_t *c, size_t constBytes) {
  switch (c[0]) {
    case PARTIAL:
      return c[1] >= 0 && c[2] >= 0;
    case EMAIL:
    case TO_NULL:
      return 1;
    case CONSTANT:
      return c[1] >= 0 && c[2] >= 0 && (size_t)c[1] + (size_t)c[2] <= constBytes;
  }
  return 0;
}

// Checks every word of the plan (ops, counts, constants, the kinds scanned and their strategies) and works
// out the room a row's column rules may need past its length; 0 when the plan is bad.
static int checkPlan(Plan *plan, int format, size_t constBytes) {
  plan->kinds = (uint32_t)plan->plan[2];
  if (plan->kinds >= (1u << DETECTOR_KINDS)) return 0;
  for (int k = 0; k < DETECTOR_KINDS; k++)
    if ((plan->kinds & (1u << k)) && !checkOp(kindOp(plan, k), constBytes)) return 0;
  int64_t slack = format == PG ? 0 : 9;
  plan->scans = 0;
  for (int i = 0; i < plan->columns; i++) {
    const int32_t *c = columnOp(plan, i);
    if (c[0] == KEEP) continue;
    if (c[0] == SCAN) {
      if (plan->kinds == 0) return 0;
      plan->scans = 1;
    } else if (!checkOp(c, constBytes))
      return 0;
    else
      slack += opGrowth(c);
    // A binary row's masked value must be a string where it lies (the JS maskers turn others into text first).
    if (format == MYSQL_BINARY && c[3] != LENENC) return 0;
    if (format != PG) slack += 8;
  }
  plan->slack = slack;
  return 1;
}

// maskRows(io: Int32Array, plan: Int32Array, consts: Uint8Array, src: Uint8Array, out: Uint8Array): undefined.
static napi_value maskRows(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *io;
  int32_t *planWords;
  uint8_t *consts, *src, *out;
  size_t ioBytes, planBytes, constBytes, srcBytes, outBytes;
  if (argc < 5 || !typedArray(env, argv[0], napi_int32_array, (void **)&io, &ioBytes) ||
      !typedArray(env, argv[1], napi_int32_array, (void **)&planWords, &planBytes) || !typedArray(env, argv[2], napi_uint8_array, (void **)&consts, &constBytes) ||
      !typedArray(env, argv[3], napi_uint8_array, (void **)&src, &srcBytes) || !typedArray(env, argv[4], napi_uint8_array, (void **)&out, &outBytes) ||
      planBytes < 4 * PLAN_HEAD) {
    napi_throw_type_error(env, NULL, "maskRows(io: Int32Array, plan: Int32Array, consts, src, out: Uint8Array): bad arguments");
    return NULL;
  }
  Plan plan = {planWords, consts, planWords[1], 0, 0, 0};
  int format = planWords[0];
  if (format < PG || format > MYSQL_BINARY || plan.columns < 0 || plan.columns > MAX_COLUMNS ||
      planBytes < 4 * (size_t)(PLAN_HEAD + COLUMN_WORDS * plan.columns) || !checkPlan(&plan, format, constBytes)) {
    napi_throw_type_error(env, NULL, "maskRows: bad plan");
    return NULL;
  }
  // A run's record: (columns masked, rows), or with scans (rows, each column's hits).
  int record = plan.scans ? 1 + plan.columns : 2;
  if (ioBytes < 4 * (size_t)(FIRST_RUN + record * MAX_RUNS)) {
    napi_throw_type_error(env, NULL, "maskRows: io too short for the plan's counts");
    return NULL;
  }
  // Positions go back to JS as int32: an output past that is used only up to it.
  if (outBytes > INT32_MAX) outBytes = INT32_MAX;
  int64_t at = io[AT], end = io[END], p = io[POS];
  if (at < 0 || end < at || (size_t)end > srcBytes || p < 0 || (size_t)p > outBytes) {
    napi_throw_range_error(env, NULL, "maskRows: positions out of range");
    return NULL;
  }
  int runs = 0;
  int why = DONE;
  int32_t hits[MAX_COLUMNS];
  Matches matches;
  while (at < end) {
    int64_t next;
    int64_t q = format == PG ? pgRow(&plan, src, at, end, out, p, (int64_t)outBytes, &next, hits, &matches, io + GUESSES)
                             : mysqlRow(&plan, format == MYSQL_BINARY, src, at, end, out, p, (int64_t)outBytes, &next, hits, &matches, io + GUESSES);
    if (q < 0) {
      why = q == -2 ? FULL : LEAVE;
      break;
    }
    // Counted with the run before when the row was masked alike; else in a new record, when there is room.
    int32_t *last = runs > 0 ? io + FIRST_RUN + record * (runs - 1) : NULL;
    if (!plan.scans) {
      int32_t masked = 0;
      for (int i = 0; i < plan.columns; i++)
        if (hits[i] >= 0) masked |= 1 << i;
      if (last != NULL && last[0] == masked) {
        last[1]++;
      } else if (runs < MAX_RUNS) {
        int32_t *r = io + FIRST_RUN + record * runs++;
        r[0] = masked;
        r[1] = 1;
      } else {
        why = COUNTED;  // this row is not counted: it is masked again next call, over the same bytes of out
        break;
      }
    } else if (last != NULL && memcmp(last + 1, hits, 4 * (size_t)plan.columns) == 0) {
      last[0]++;
    } else if (runs < MAX_RUNS) {
      int32_t *r = io + FIRST_RUN + record * runs++;
      r[0] = 1;
      memcpy(r + 1, hits, 4 * (size_t)plan.columns);
    } else {
      why = COUNTED;
      break;
    }
    at = next;
    p = q;
  }
  io[AT] = (int32_t)at;
  io[POS] = (int32_t)p;
  io[WHY] = why;
  io[RUNS] = runs;
  return NULL;
}

NAPI_MODULE_INIT() {
  detectInitOnce();
  napi_value fn;
  napi_create_function(env, "maskRows", NAPI_AUTO_LENGTH, maskRows, NULL, &fn);
  napi_set_named_property(env, exports, "maskRows", fn);
  return exports;
}
