// Addresses and CIDR blocks for `when.client`: IPv4, IPv6, IPv4-mapped, and client addresses as sessions give them.
import { describe, expect, it } from 'vitest';
import { cidrContains, clientIp, parseCidr, parseIp, type Cidr } from '../../../src/policy/cidr.js';

function block(text: string): Cidr {
  const c = parseCidr(text);
  if (typeof c === 'string') throw new Error(c);
  return c;
}
const contains = (cidr: string, client: string) => cidrContains(block(cidr), clientIp(client) ?? new Uint8Array(16).fill(0xee));

describe('parseIp', () => {
  it('reads IPv4 as IPv4-mapped IPv6', () => {
    expect(Array.from(parseIp('10.1.2.3')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
    expect(parseIp('::ffff:10.1.2.3')).toEqual(parseIp('10.1.2.3'));
  });
  it('reads IPv6 with and without ::', () => {
    expect(Array.from(parseIp('::1')!)).toEqual([...new Array(15).fill(0), 1]);
    expect(parseIp('2001:db8::8:800:200c:417a')).toEqual(parseIp('2001:0db8:0:0:8:800:200C:417A'));
    expect(Array.from(parseIp('fe80::')!.subarray(0, 2))).toEqual([0xfe, 0x80]);
    expect(parseIp('::')).toEqual(new Uint8Array(16));
  });
  it.each(['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.-4', 'a.b.c.d', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', 'g::1', 'localhost', '', ':::'])(
    'refuses %j',
    (text) => {
      expect(parseIp(text)).toBeUndefined();
    },
  );
});

describe('parseCidr', () => {
  it('takes a bare address as a single host', () => {
    expect(block('192.168.1.7').bits).toBe(128);
    expect(block('::1').bits).toBe(128);
  });
  it('counts an IPv4 prefix over the mapped form', () => {
    expect(block('10.0.0.0/8').bits).toBe(104);
    expect(block('0.0.0.0/0').bits).toBe(96);
  });
  it('says what is wrong', () => {
    expect(parseCidr('10.0.0.0/33')).toMatch(/prefix length 0\.\.32/);
    expect(parseCidr('::/129')).toMatch(/prefix length 0\.\.128/);
    expect(parseCidr('10.1.0.0/8')).toMatch(/bits set after the \/8 prefix/);
    expect(parseCidr('10.0.0.0/x')).toMatch(/prefix length/);
    expect(parseCidr('intranet')).toMatch(/expected an IP address or CIDR block/);
  });
});

describe('cidrContains with client addresses', () => {
  it('matches IPv4 blocks', () => {
    expect(contains('10.0.0.0/8', '10.200.3.4:5432')).toBe(true);
    expect(contains('10.0.0.0/8', '11.0.0.1:5432')).toBe(false);
    expect(contains('192.168.1.0/25', '192.168.1.127:1')).toBe(true);
    expect(contains('192.168.1.0/25', '192.168.1.128:1')).toBe(false);
    expect(contains('127.0.0.1', '127.0.0.1:40000')).toBe(true);
    expect(contains('127.0.0.1/32', '127.0.0.2:40000')).toBe(false);
  });
  it('matches an IPv4 block against a dual-stack socket address ::ffff:a.b.c.d', () => {
    expect(contains('10.0.0.0/8', '::ffff:10.9.9.9:6000')).toBe(true);
    expect(contains('10.0.0.0/8', '[::ffff:11.9.9.9]:6000')).toBe(false);
  });
  it('matches IPv6 blocks, bracketed or not, with a zone', () => {
    expect(contains('::1/128', '[::1]:5432')).toBe(true);
    expect(contains('::1/128', '::1:5432')).toBe(true);
    expect(contains('::1/128', '[::2]:5432')).toBe(false);
    expect(contains('2001:db8::/32', '[2001:db8:ffff::1]:1')).toBe(true);
    expect(contains('2001:db8::/32', '[2001:db9::1]:1')).toBe(false);
    expect(contains('fe80::/10', '[fe80::1%eth0]:1')).toBe(true);
    expect(contains('fe80::/10', '[fec0::1]:1')).toBe(false);
  });
  it('never matches an IPv4 block to a plain IPv6 client', () => {
    expect(contains('0.0.0.0/0', '[::1]:1')).toBe(false);
    expect(contains('0.0.0.0/0', '8.8.8.8:1')).toBe(true);
  });
  it('reads no address from a host name', () => {
    expect(clientIp('localhost:5432')).toBeUndefined();
    expect(clientIp('[::1')).toBeUndefined();
  });
});
