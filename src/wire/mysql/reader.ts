// Little-endian cursor over one MySQL payload (MySQL documentation, "Basic Data Types"). Every read checks
// the bounds and throws a WireError naming the packet, so a malformed packet ends only its own session.
import { WireError } from '../bytes.js';

export class PayloadReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new WireError(`${this.what}: truncated`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** int<8> as a number: exact up to 2^53, which row counts and ids never pass in practice. */
  u64(): number {
    this.need(8);
    const v = this.buf.readUInt32LE(this.pos) + this.buf.readUInt32LE(this.pos + 4) * 2 ** 32;
    this.pos += 8;
    return v;
  }
  /** int<lenenc>; null for 0xFB (NULL in a text row). */
  lenencOrNull(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    switch (first) {
      case 0xfb:
        return null;
      case 0xfc:
        return this.u16();
      case 0xfd:
        return this.u24();
      case 0xfe:
        return this.u64();
      default:
        throw new WireError(`${this.what}: invalid length-encoded integer prefix 0xff`);
    }
  }
  lenenc(): number {
    const v = this.lenencOrNull();
    if (v === null) throw new WireError(`${this.what}: unexpected NULL length`);
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }
  lenencString(): string {
    const n = this.lenenc();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  /** string<NUL> */
  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new WireError(`${this.what}: unterminated string`);
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }
  /** string<NUL> as bytes (a view). */
  cstringBytes(): Buffer {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new WireError(`${this.what}: unterminated string`);
    const b = this.buf.subarray(this.pos, nul);
    this.pos = nul + 1;
    return b;
  }
  /** string<NUL> that may also run to the end of the packet (older servers omit the NUL of the last field). */
  cstringOrRest(): string {
    const nul = this.buf.indexOf(0, this.pos);
    const stop = nul < 0 || nul >= this.end ? this.end : nul;
    const s = this.buf.toString('utf8', this.pos, stop);
    this.pos = Math.min(stop + 1, this.end);
    return s;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }
  restString(): string {
    const s = this.buf.toString('utf8', this.pos, this.end);
    this.pos = this.end;
    return s;
  }
  done(): void {
    if (this.pos !== this.end) throw new WireError(`${this.what}: ${this.end - this.pos} unexpected trailing bytes`);
  }
}

/** Byte length of the int<lenenc> that starts with byte `first` (1, 3, 4 or 9); 1 for the NULL marker 0xFB. */
export function lenencSize(first: number): number {
  if (first < 0xfc) return 1;
  if (first === 0xfc) return 3;
  if (first === 0xfd) return 4;
  return 9;
}

/** Reads int<lenenc> at `at` without allocating; -1 for 0xFB (NULL), -2 when it runs past `end` or is invalid. */
export function readLenenc(buf: Buffer, at: number, end: number): number {
  if (at >= end) return -2;
  const first = buf[at]!;
  if (first < 0xfb) return first;
  if (first === 0xfb) return -1;
  if (first === 0xff) return -2;
  const size = lenencSize(first);
  if (at + size > end) return -2;
  if (first === 0xfc) return buf[at + 1]! | (buf[at + 2]! << 8);
  if (first === 0xfd) return buf[at + 1]! | (buf[at + 2]! << 8) | (buf[at + 3]! << 16);
  return buf.readUInt32LE(at + 1) + buf.readUInt32LE(at + 5) * 2 ** 32;
}
