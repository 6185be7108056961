// PostgreSQL binary-format values as text (PostgreSQL documentation, "Binary format" of each type's send
// function; the text forms are those of the type's output function with DateStyle ISO). A masked column of
// a binary-format result becomes text, so its value is masked in its text form, as a text-format client
// would have seen it.
const BOOL = 16;
const BYTEA = 17;
const CHAR = 18;
const NAME = 19;
const INT8 = 20;
const INT2 = 21;
const INT4 = 23;
const TEXT = 25;
const OID = 26;
const JSON_OID = 114;
const XML = 142;
const FLOAT4 = 700;
const FLOAT8 = 701;
const UNKNOWN = 705;
const BPCHAR = 1042;
const VARCHAR = 1043;
const DATE = 1082;
const TIME = 1083;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;
const TIMETZ = 1266;
const NUMERIC = 1700;
const UUID = 2950;
export const JSONB = 3802;

/** Types whose binary format is the text itself (the client encoding's bytes). */
export function sameBytesAsText(type: number): boolean {
  return type === TEXT || type === VARCHAR || type === BPCHAR || type === NAME || type === UNKNOWN || type === JSON_OID || type === XML || type === CHAR;
}

/** Arrays of text-like elements, whose binary elements are text (or jsonb) bytes. */
const textArrayElement = new Map<number, number>([
  [1009, TEXT],
  [1015, VARCHAR],
  [1014, BPCHAR],
  [1003, NAME],
  [199, JSON_OID],
  [3807, JSONB],
]);

export function isTextArray(type: number): boolean {
  return textArrayElement.has(type);
}

const TRUE_TEXT = Buffer.from('t');
const FALSE_TEXT = Buffer.from('f');
const HEX = '0123456789abcdef';

/**
 * The text output of a binary value, as PostgreSQL prints it with DateStyle ISO, for the common types;
 * undefined for any other type or a value of the wrong size (the caller redacts it: fail closed).
 * timestamptz and timetz print in UTC (+00): the session's TimeZone is not known here.
 */
export function binaryToText(type: number, buf: Buffer, s: number, e: number): Buffer | undefined {
  if (sameBytesAsText(type)) return buf.subarray(s, e);
  const n = e - s;
  switch (type) {
    case BOOL:
      return n === 1 ? (buf[s] ? TRUE_TEXT : FALSE_TEXT) : undefined;
    case INT2:
      return n === 2 ? ascii(String(buf.readInt16BE(s))) : undefined;
    case INT4:
      return n === 4 ? ascii(String(buf.readInt32BE(s))) : undefined;
    case OID:
      return n === 4 ? ascii(String(buf.readUInt32BE(s))) : undefined;
    case INT8:
      return n === 8 ? ascii(buf.readBigInt64BE(s).toString()) : undefined;
    case FLOAT4:
      return n === 4 ? ascii(floatText(buf.readFloatBE(s), true)) : undefined;
    case FLOAT8:
      return n === 8 ? ascii(floatText(buf.readDoubleBE(s), false)) : undefined;
    case NUMERIC:
      return numericText(buf, s, e);
    case DATE:
      return n === 4 ? ascii(dateText(buf.readInt32BE(s))) : undefined;
    case TIME:
      return n === 8 ? ascii(timeText(Number(buf.readBigInt64BE(s)))) : undefined;
    case TIMETZ:
      // The zone is stored with the value, in seconds west of UTC.
      return n === 12 ? ascii(timeText(Number(buf.readBigInt64BE(s))) + zoneText(-buf.readInt32BE(s + 8))) : undefined;
    case TIMESTAMP:
      return n === 8 ? ascii(timestampText(buf.readBigInt64BE(s), '')) : undefined;
    case TIMESTAMPTZ:
      return n === 8 ? ascii(timestampText(buf.readBigInt64BE(s), '+00')) : undefined;
    case UUID: {
      if (n !== 16) return undefined;
      let t = '';
      for (let k = 0; k < 16; k++) {
        if (k === 4 || k === 6 || k === 8 || k === 10) t += '-';
        t += HEX[buf[s + k]! >> 4]! + HEX[buf[s + k]! & 15]!;
      }
      return ascii(t);
    }
    case BYTEA: {
      const out = Buffer.allocUnsafe(2 + 2 * n);
      out[0] = 0x5c; // \
      out[1] = 0x78; // x
      out.write(buf.toString('hex', s, e), 2, 'latin1');
      return out;
    }
    default:
      return undefined;
  }
}

function ascii(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/**
 * float4/float8 output since PostgreSQL 12 (extra_float_digits >= 1, the default): the shortest digits that
 * read back as the same value, fixed notation for decimal exponents -4 .. 14 (float8) or -4 .. 5 (float4),
 * else d.ddde+XX with at least two exponent digits (src/common/d2s.c, f2s.c).
 */
export function floatText(v: number, single: boolean): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  let e = shortestExponential(v, single);
  const neg = e.charCodeAt(0) === 0x2d;
  if (neg) e = e.slice(1);
  const x = e.indexOf('e');
  const digits = e.slice(0, x).replace('.', '');
  const exp = Number(e.slice(x + 1));
  const sign = neg ? '-' : '';
  if (exp >= -4 && exp < (single ? 6 : 15)) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    if (digits.length <= exp + 1) return sign + digits + '0'.repeat(exp + 1 - digits.length);
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const a = Math.abs(exp);
  return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${a < 10 ? '0' : ''}${a}`;
}

/**
 * The shortest decimal that reads back as the same value, as toExponential writes it ("1.5e+2"); `single`:
 * the same float4 (a float4 widened to a number).
 */
export function shortestExponential(v: number, single: boolean): string {
  if (!single) return v.toExponential();
  for (let p = 0; p < 9; p++) {
    const t = v.toExponential(p);
    if (Math.fround(Number(t)) === v) return t;
  }
  return v.toExponential(8);
}

/**
 * numeric_send: ndigits, weight, sign, dscale, then base-10000 digits; printed as get_str_from_var does
 * (src/backend/utils/adt/numeric.c): the integer part without leading zeros, then dscale decimals.
 */
function numericText(buf: Buffer, s: number, e: number): Buffer | undefined {
  if (e - s < 8) return undefined;
  const ndigits = buf.readInt16BE(s);
  const weight = buf.readInt16BE(s + 2);
  const sign = buf.readUInt16BE(s + 4);
  const dscale = buf.readUInt16BE(s + 6);
  if (ndigits < 0 || e - s !== 8 + 2 * ndigits) return undefined;
  if (sign === 0xc000) return ascii('NaN');
  if (sign === 0xd000) return ascii('Infinity');
  if (sign === 0xf000) return ascii('-Infinity');
  if (sign !== 0 && sign !== 0x4000) return undefined;
  const digit = (k: number) => (k >= 0 && k < ndigits ? buf.readInt16BE(s + 8 + 2 * k) : 0);
  let t = sign === 0x4000 ? '-' : '';
  if (weight < 0) t += '0';
  else {
    t += String(digit(0));
    for (let k = 1; k <= weight; k++) t += String(digit(k)).padStart(4, '0');
  }
  if (dscale > 0) {
    let frac = '';
    for (let k = weight + 1; frac.length < dscale; k++) frac += String(digit(k)).padStart(4, '0');
    t += '.' + frac.slice(0, dscale);
  }
  return ascii(t);
}

const POSTGRES_EPOCH_JDATE = 2451545;
const USECS_PER_DAY = 86_400_000_000n;
const INT32_MAX = 0x7fffffff;

/** j2date (src/backend/utils/adt/datetime.c): Julian day -> [year, month, day], year <= 0 being BC. */
function j2date(jd: number): [number, number, number] {
  let julian = jd + 32044;
  let quad = Math.floor(julian / 146097);
  const extra = (julian - quad * 146097) * 4 + 3;
  julian += 60 + quad * 3 + Math.floor(extra / 146097);
  quad = Math.floor(julian / 1461);
  julian -= quad * 1461;
  let y = Math.floor((julian * 4) / 1461);
  julian = (y !== 0 ? (julian + 305) % 365 : (julian + 306) % 366) + 123;
  y += quad * 4;
  quad = Math.floor((julian * 2141) / 65536);
  return [y - 4800, ((quad + 10) % 12) + 1, julian - Math.floor((7834 * quad) / 256)];
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/** [date text without era, era suffix] for days since 2000-01-01. */
function ymd(days: number): [string, string] {
  const [y, m, d] = j2date(days + POSTGRES_EPOCH_JDATE);
  const year = y > 0 ? y : 1 - y;
  return [`${String(year).padStart(4, '0')}-${pad2(m)}-${pad2(d)}`, y > 0 ? '' : ' BC'];
}

function dateText(days: number): string {
  if (days === INT32_MAX) return 'infinity';
  if (days === -INT32_MAX - 1) return '-infinity';
  const [date, era] = ymd(days);
  return date + era;
}

/** HH:MM:SS[.ffffff] (trailing zeros of the fraction dropped) for microseconds into a day (24:00:00 included). */
function timeText(usecs: number): string {
  const secs = Math.floor(usecs / 1e6);
  const frac = usecs - secs * 1e6;
  let t = `${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  if (frac > 0) t += '.' + String(frac).padStart(6, '0').replace(/0+$/, '');
  return t;
}

/** +HH[:MM[:SS]] for seconds east of UTC. */
function zoneText(east: number): string {
  const a = Math.abs(east);
  let t = `${east < 0 ? '-' : '+'}${pad2(Math.floor(a / 3600))}`;
  if (a % 3600) t += `:${pad2(Math.floor(a / 60) % 60)}`;
  if (a % 60) t += `:${pad2(a % 60)}`;
  return t;
}

function timestampText(usecs: bigint, zone: string): string {
  if (usecs === 0x7fffffffffffffffn) return 'infinity';
  if (usecs === -0x8000000000000000n) return '-infinity';
  let days = usecs / USECS_PER_DAY;
  let rest = usecs - days * USECS_PER_DAY;
  if (rest < 0n) {
    days -= 1n;
    rest += USECS_PER_DAY;
  }
  const [date, era] = ymd(Number(days));
  return `${date} ${timeText(Number(rest))}${zone}${era}`;
}

