// Reader helpers shared by the codecs: offsets in, values out; no allocation beyond the value itself.

/** Index of the NUL that ends the C string starting at `start`, or -1 when there is none before `end`. */
export function cstringEnd(buf: Buffer, start: number, end: number): number {
  const i = buf.indexOf(0, start);
  return i >= 0 && i < end ? i : -1;
}

/**
 * `a` and `b` as one buffer when `b` starts in memory where `a` ends (consecutive messages of one socket
 * read), else null: such messages go on in one socket write instead of one each (a writev).
 */
export function joined(a: Buffer, b: Buffer): Buffer | null {
  return a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset ? Buffer.from(a.buffer, a.byteOffset, a.length + b.length) : null;
}

/** A cursor over one message body; every read checks the bounds and throws a WireError past them. */
export class BodyReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw new WireError(`${this.what}: truncated`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  i16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  cstring(): string {
    const nul = cstringEnd(this.buf, this.pos, this.end);
    if (nul < 0) throw new WireError(`${this.what}: unterminated string`);
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }
  bytes(n: number): Buffer {
    if (n < 0) throw new WireError(`${this.what}: negative length`);
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }
  done(): void {
    if (this.pos !== this.end) throw new WireError(`${this.what}: ${this.end - this.pos} unexpected trailing bytes`);
  }
}

/** Malformed bytes from a peer. Sessions turn it into a protocol-violation error for that session only. */
export class WireError extends Error {
  override name = 'WireError';
}
