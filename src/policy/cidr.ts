// IP addresses and CIDR blocks for the `client` condition of policy rules.
//
// API:
//   parseIp(text)            -> 16 bytes, or undefined when `text` is not an IPv4/IPv6 address
//   parseCidr(text)          -> Cidr, or a string saying what is wrong ("10.0.0.0/8", "::1/128", "10.1.2.3")
//   cidrContains(cidr, ip)   -> whether the block holds the address
//   clientIp("host:port")    -> the address of a client as sessions report it ("1.2.3.4:5", "[::1]:5", "::1:5")
//
// Every address is held as 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so 10.0.0.0/8 also matches a
// client that a dual-stack socket reports as ::ffff:10.1.2.3.

export interface Cidr {
  readonly source: string;
  readonly bytes: Uint8Array;
  /** Prefix length over the 128-bit form (an IPv4 /8 is 104). */
  readonly bits: number;
}

function parseIpv4(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // No leading zeros: "010" is octal to some tools and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    out[at + i] = n;
  }
  return true;
}

/** Parses 1..8 colon-separated groups into out[at...]; the last may be dotted IPv4. Returns the bytes written, or -1. */
function parseGroups(text: string, out: Uint8Array, at: number, allowV4: boolean): number {
  if (text === '') return 0;
  const groups = text.split(':');
  let n = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (allowV4 && i === groups.length - 1 && g.includes('.')) {
      if (at + n + 4 > 16 || !parseIpv4(g, out, at + n)) return -1;
      n += 4;
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g) || at + n + 2 > 16) return -1;
    const v = parseInt(g, 16);
    out[at + n] = v >> 8;
    out[at + n + 1] = v & 0xff;
    n += 2;
  }
  return n;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const gap = text.indexOf('::');
  if (gap < 0) return parseGroups(text, out, 0, true) === 16 ? out : undefined;
  if (text.indexOf('::', gap + 1) >= 0) return undefined;
  const head = text.slice(0, gap);
  const tail = text.slice(gap + 2);
  const tmp = new Uint8Array(16);
  const h = parseGroups(head, out, 0, false);
  const t = parseGroups(tail, tmp, 0, true);
  // "::" stands for at least one zero group.
  if (h < 0 || t < 0 || h + t > 14) return undefined;
  out.set(tmp.subarray(0, t), 16 - t);
  return out;
}

export function parseIp(text: string): Uint8Array | undefined {
  if (text.includes(':')) return parseIpv6(text);
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  return parseIpv4(text, out, 12) ? out : undefined;
}

export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  if (!bytes) return `expected an IP address or CIDR block like 10.0.0.0/8 or ::1/128, got ${JSON.stringify(text)}`;
  const v4 = !addr.includes(':');
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return `expected a prefix length 0..${max} after "/", got ${JSON.stringify(text)}`;
    prefix = Number(p);
  }
  const bits = v4 ? 96 + prefix : prefix;
  for (let i = bits; i < 128; i++) {
    if (bytes[i >> 3]! & (0x80 >> (i & 7))) return `${JSON.stringify(text)} has bits set after the /${prefix} prefix`;
  }
  return { source: text, bytes, bits };
}

export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  const whole = cidr.bits >> 3;
  for (let i = 0; i < whole; i++) if (cidr.bytes[i] !== ip[i]) return false;
  const rest = cidr.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (cidr.bytes[whole]! & mask) === (ip[whole]! & mask);
}

/**
 * The address part of a client address: "host:port", "[v6]:port", or a bare v6 address followed by ":port"
 * (what `${socket.remoteAddress}:${socket.remotePort}` gives). A zone (`%eth0`) is dropped. Undefined when the
 * host is not an IP address.
 */
export function clientIp(client: string): Uint8Array | undefined {
  let host: string;
  if (client.startsWith('[')) {
    const close = client.indexOf(']');
    if (close < 0) return undefined;
    host = client.slice(1, close);
  } else {
    const colon = client.lastIndexOf(':');
    host = colon < 0 ? client : client.slice(0, colon);
    // A bare IPv6 address without a port ("::1") would lose its last group here; sessions always add one.
  }
  const zone = host.indexOf('%');
  return parseIp(zone < 0 ? host : host.slice(0, zone));
}
