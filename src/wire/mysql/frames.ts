// Incremental framer for one direction of a MySQL/MariaDB connection (MySQL documentation, "MySQL Packets").
// A physical packet is a 3-byte little-endian payload length, a 1-byte sequence id and the payload. A payload
// of 0xFFFFFF bytes or more is sent as several physical packets: every one but the last has exactly 0xFFFFFF
// bytes (so a multiple of 0xFFFFFF ends with an empty packet). This framer works on logical packets.
//
// Unlike PostgreSQL, a MySQL packet has no type byte of its own: what its first payload byte means depends on
// the conversation (a row starting with 0xFE may be a row or the end of the rows). So the framer asks the
// consumer at each logical packet, once it knows the length, sequence id and first payload byte: hand it over
// whole, or let it stream through as byte ranges. Streaming packets are coalesced and forwarded before their
// end has arrived, without copying; whole ones are delivered as the raw bytes of all their physical packets,
// headers included, so forwarding one unchanged is a single write.
import { WireError } from '../bytes.js';
import { maxPacketPayload } from './packets.js';

export interface PacketHandler {
  /**
   * A logical packet begins. `first` is its first payload byte (-1 for an empty payload), `length` the
   * payload length of its first physical packet (0xFFFFFF: more physical packets follow), `seq` its sequence
   * id. Return true to receive it whole through `onPacket`, false to let it stream through `onPass`.
   * Must not write anything: bytes of earlier streamed packets may not have been passed on yet.
   */
  onHeader(first: number, length: number, seq: number): boolean;
  /**
   * A whole logical packet: `buf[start, end)` holds its `parts` physical packets, headers included.
   * Return false to stop the framer until `resume()`. The bytes stay valid after the call.
   */
  onPacket(buf: Buffer, start: number, end: number, parts: number): boolean;
  /** Bytes of streamed packets, headers included, in stream order. */
  onPass(buf: Buffer, start: number, end: number): void;
  /**
   * Rows of a masked result, in runs: while `active()` says so, the single-packet rows that lie whole in a
   * chunk (payloads that start neither with 0xFE, an EOF/OK, nor with 0xFF, an ERR) go to `onRows` in one
   * call, without onHeader/onPacket for each. Return false to stop the framer until `resume()`, after the run.
   */
  rows?: { active(): boolean; onRows(buf: Buffer, start: number, end: number, count: number): boolean };
}

export class MessageTooLarge extends WireError {
  override name = 'MessageTooLarge';
}

export class MyFramer {
  /** Sequence id of the last physical packet whose header was read. */
  lastSeq = -1;

  private readonly head = Buffer.alloc(5);
  private headFill = 0;
  /** Payload bytes of the current physical packet not yet seen. */
  private remaining = 0;
  /** The current physical packet is full-length: the logical packet continues in the next one. */
  private more = false;
  /** Inside a logical packet (its header was read, its end not yet). */
  private inPacket = false;
  /** The current logical packet is handed over whole; its bytes gather in `parts`. */
  private whole = false;
  private parts: Buffer[] = [];
  private gathered = 0;
  private physicalCount = 0;
  private logicalSize = 0;
  private stopped = false;
  private stash: Buffer[] = [];

  constructor(
    private readonly handler: PacketHandler,
    private readonly maxMessageBytes: number,
    /** Names the direction in errors: "from the client", "from the server". */
    private readonly what: string,
  ) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  /** True between logical packets: nothing of a next packet has been seen yet. */
  get atBoundary(): boolean {
    return this.headFill === 0 && !this.inPacket && this.stash.length === 0;
  }

  /** Bytes held back: a partial whole packet, or what arrived while stopped. */
  get buffered(): number {
    let n = this.headFill + this.gathered;
    for (const b of this.stash) n += b.length;
    return n;
  }

  push(chunk: Buffer): void {
    if (this.stopped) this.stash.push(chunk);
    else this.process(chunk);
  }

  /** Stops before the next packet; what arrives meanwhile is kept for `resume()`. */
  stop(): void {
    this.stopped = true;
  }

  /** Continues after a stop: processes what arrived meanwhile until the next stop or the end of it. */
  resume(): void {
    this.stopped = false;
    while (!this.stopped && this.stash.length > 0) this.process(this.stash.shift()!);
  }

  /** Takes the bytes not yet processed (after a stop), leaving the framer empty. Used when TLS starts. */
  takeRemainder(): Buffer {
    const rest = this.stash.length === 1 ? this.stash[0]! : Buffer.concat(this.stash);
    this.stash = [];
    return rest;
  }

  private process(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    let passStart = -1;
    const flushPass = (upto: number) => {
      if (passStart >= 0 && upto > passStart) this.handler.onPass(chunk, passStart, upto);
      passStart = -1;
    };

    while (pos < end) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, end - pos);
        if (this.whole) this.gather(chunk.subarray(pos, pos + n));
        else if (passStart < 0) passStart = pos;
        pos += n;
        this.remaining -= n;
        if (this.remaining > 0) break;
        if (!this.endOfPhysical()) return this.stopAt(chunk, pos);
        continue;
      }

      const cont = this.more;
      if (!cont && this.headFill === 0 && this.handler.rows?.active()) {
        const runEnd = this.rowRun(chunk, pos, end);
        if (runEnd > pos) {
          flushPass(pos);
          const start = pos;
          let count = 0;
          for (; pos < runEnd; count++) {
            this.lastSeq = chunk[pos + 3]!;
            pos += 4 + (chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16));
          }
          if (!this.handler.rows!.onRows(chunk, start, pos, count)) return this.stopAt(chunk, pos);
          continue;
        }
      }
      if (this.headFill === 0 && end - pos >= 4) {
        const len = chunk[pos]! | (chunk[pos + 1]! << 8) | (chunk[pos + 2]! << 16);
        const seq = chunk[pos + 3]!;
        if (cont || len === 0 || end - pos >= 5) {
          this.beginPhysical(len, seq, cont);
          if (!cont) this.whole = this.handler.onHeader(len > 0 ? chunk[pos + 4]! : -1, len, seq);
          if (this.whole && !this.more && !cont && end - pos >= 4 + len) {
            // The common case: a whole single-packet message inside this chunk, delivered without a copy.
            flushPass(pos);
            const start = pos;
            pos += 4 + len;
            this.remaining = 0;
            this.inPacket = false;
            if (!this.handler.onPacket(chunk, start, pos, 1)) return this.stopAt(chunk, pos);
            continue;
          }
          if (this.whole) {
            flushPass(pos);
            this.gather(chunk.subarray(pos, pos + 4));
          } else if (passStart < 0) passStart = pos;
          pos += 4;
          if (this.remaining === 0 && !this.endOfPhysical()) return this.stopAt(chunk, pos);
          continue;
        }
      }

      // The header (and first payload byte) is split across chunks: gather it in `head`.
      flushPass(pos);
      let need = 4;
      if (this.headFill >= 4 && !cont && this.headLength() > 0) need = 5;
      while (this.headFill < need && pos < end) {
        this.head[this.headFill++] = chunk[pos++]!;
        if (this.headFill === 4 && !cont && this.headLength() > 0) need = 5;
      }
      if (this.headFill < need) break;
      const len = this.headLength();
      const seq = this.head[3]!;
      const headBytes = Buffer.from(this.head.subarray(0, need));
      this.headFill = 0;
      this.beginPhysical(len, seq, cont);
      if (!cont) this.whole = this.handler.onHeader(need === 5 ? headBytes[4]! : -1, len, seq);
      this.remaining = len - (need - 4);
      if (this.whole) this.gather(headBytes);
      else this.handler.onPass(headBytes, 0, need);
      if (this.remaining === 0 && !this.endOfPhysical()) return this.stopAt(chunk, pos);
    }
    flushPass(end);
  }

  /** End of the run of whole single-packet rows from pos (see PacketHandler.rows); pos when there is none. */
  private rowRun(chunk: Buffer, pos: number, end: number): number {
    let q = pos;
    while (end - q >= 5) {
      const len = chunk[q]! | (chunk[q + 1]! << 8) | (chunk[q + 2]! << 16);
      if (len === 0 || len === maxPacketPayload || end - q < 4 + len || len > this.maxMessageBytes) break;
      const first = chunk[q + 4]!;
      if (first === 0xfe || first === 0xff) break;
      q += 4 + len;
    }
    return q;
  }

  private headLength(): number {
    return this.head[0]! | (this.head[1]! << 8) | (this.head[2]! << 16);
  }

  /** Checks a physical packet's header and sets up for its payload. */
  private beginPhysical(len: number, seq: number, cont: boolean): void {
    if (cont) {
      if (seq !== ((this.lastSeq + 1) & 0xff)) {
        throw new WireError(`packet out of order ${this.what}: sequence id ${seq} after ${this.lastSeq} inside one message`);
      }
      this.physicalCount++;
      this.logicalSize += len;
    } else {
      this.inPacket = true;
      this.physicalCount = 1;
      this.logicalSize = len;
    }
    this.lastSeq = seq;
    if (this.logicalSize > this.maxMessageBytes) {
      throw new MessageTooLarge(`packet ${this.what} of more than ${this.logicalSize} bytes exceeds maxMessageBytes (${this.maxMessageBytes})`);
    }
    this.more = len === maxPacketPayload;
    this.remaining = len;
  }

  /** A physical packet ended. Returns false when the consumer stopped the framer. */
  private endOfPhysical(): boolean {
    if (this.more) return true;
    this.inPacket = false;
    if (!this.whole) return true;
    const parts = this.parts;
    const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.gathered);
    this.parts = [];
    this.gathered = 0;
    return this.handler.onPacket(whole, 0, whole.length, this.physicalCount);
  }

  private gather(bytes: Buffer): void {
    this.parts.push(bytes);
    this.gathered += bytes.length;
  }

  private stopAt(chunk: Buffer, pos: number): void {
    this.stopped = true;
    if (pos < chunk.length) this.stash.unshift(chunk.subarray(pos));
  }
}

// ---- helpers over raw packet bytes ----

/** Payload length in the header at `at`. */
export function payloadLength(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16);
}

/** The payload of a whole logical packet: a view for one physical packet, a joined copy for several. */
export function payloadOf(buf: Buffer, start: number, end: number, parts: number): Buffer {
  if (parts === 1) return buf.subarray(start + 4, end);
  const out = Buffer.allocUnsafe(end - start - 4 * parts);
  let at = start;
  let o = 0;
  while (at < end) {
    const len = payloadLength(buf, at);
    buf.copy(out, o, at + 4, at + 4 + len);
    o += len;
    at += 4 + len;
  }
  return out;
}

/** Sequence id of the last physical packet in `buf[start, end)`. */
export function lastSequenceId(buf: Buffer, start: number, end: number): number {
  let at = start;
  let seq = 0;
  while (at + 4 <= end) {
    seq = buf[at + 3]!;
    at += 4 + payloadLength(buf, at);
  }
  return seq;
}

/** Renumbers the physical packets in `buf[start, end)` from `firstSeq`, in place; returns the last id used. */
export function setSequenceIds(buf: Buffer, start: number, end: number, firstSeq: number): number {
  let at = start;
  let seq = (firstSeq - 1) & 0xff;
  while (at + 4 <= end) {
    seq = (seq + 1) & 0xff;
    buf[at + 3] = seq;
    at += 4 + payloadLength(buf, at);
  }
  return seq;
}

/** Number of physical packets a payload of `n` bytes takes. */
export function physicalPackets(n: number): number {
  return Math.floor(n / maxPacketPayload) + 1;
}

/** Frames a payload as packets from `seq` on, split at 0xFFFFFF bytes; one allocation. */
export function framePayload(payload: Buffer, seq: number, pStart = 0, pEnd = payload.length): Buffer {
  const n = pEnd - pStart;
  const count = physicalPackets(n);
  const out = Buffer.allocUnsafe(n + 4 * count);
  let o = 0;
  let p = pStart;
  for (let i = 0; i < count; i++) {
    const len = Math.min(maxPacketPayload, pEnd - p);
    out[o] = len & 0xff;
    out[o + 1] = (len >>> 8) & 0xff;
    out[o + 2] = (len >>> 16) & 0xff;
    out[o + 3] = (seq + i) & 0xff;
    payload.copy(out, o + 4, p, p + len);
    o += 4 + len;
    p += len;
  }
  return out;
}
