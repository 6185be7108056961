// Incremental framer for one direction of a PostgreSQL connection. It cuts socket chunks into messages
// without copying: a message the consumer does not inspect streams through as byte ranges (coalesced, and
// forwarded before its end has even arrived), one it inspects is handed over whole. The consumer may stop
// the framer after any inspected message (a held statement) and resume it later.
//
// Startup phase (PostgreSQL documentation, "Message Flow: Start-up"): untyped messages, an int32 length that
// counts itself, then an int32 code. Afterwards every message is a type byte, then an int32 length that counts
// itself but not the type byte.
import { WireError } from '../bytes.js';
import { maxStartupPacket } from './messages.js';

export interface FrameHandler {
  /**
   * A whole message the consumer inspects: `buf[start, end)` holds the type byte (absent in the startup phase,
   * where `type` is 0), the length and the body. Return false to stop the framer until `resume()`.
   * The bytes stay valid after the call (the framer never writes into a buffer it has handed out).
   */
  onFrame(type: number, buf: Buffer, start: number, end: number): boolean;
  /** Bytes of messages the consumer lets pass uninspected, in stream order. */
  onPass(buf: Buffer, start: number, end: number): void;
}

/**
 * Takes buf[start, end): one or more whole messages of the express type, back to back (the run of them that
 * lay whole in one chunk); false stops the framer until `resume()`, after the run.
 */
export type ExpressHandler = (buf: Buffer, start: number, end: number) => boolean;

export class PgFramer {
  /** Which message types are handed over whole; every other type streams through `onPass`. */
  readonly inspect = new Uint8Array(256);
  /** False while in the untyped startup phase. */
  typed: boolean;

  private readonly head = Buffer.alloc(5);
  private headFill = 0;
  /** An inspected message still arriving: `bodyFill` of its `bodyTotal` bytes are in `body`. */
  private body: Buffer | null = null;
  private bodyFill = 0;
  private bodyTotal = 0;
  private passRemaining = 0;
  private stopped = false;
  private stash: Buffer[] = [];
  private expressType = -1;
  private expressTo: ExpressHandler | null = null;

  constructor(
    private readonly handler: FrameHandler,
    opts: { typed: boolean; maxMessageBytes: number; inspect?: Iterable<number> },
  ) {
    this.typed = opts.typed;
    this.maxMessageBytes = opts.maxMessageBytes;
    for (const t of opts.inspect ?? []) this.inspect[t] = 1;
  }
  private readonly maxMessageBytes: number;

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Inspected messages of `type` go to `to` instead of onFrame, until `express(type, null)`: the rows of a
   * masked result, up to millions a second, skip the session's dispatch by message type, and come in runs
   * (every whole one of a chunk's consecutive rows in one call).
   */
  express(type: number, to: ExpressHandler | null): void {
    this.expressType = to ? type : -1;
    this.expressTo = to;
  }

  /** Bytes held back (a partial message, or the rest after a stop). */
  get buffered(): number {
    let n = this.headFill + (this.body ? this.bodyFill : 0);
    for (const b of this.stash) n += b.length;
    return n;
  }

  /**
   * Part of a passed message went on through onPass and the rest has not: whoever receives the passed bytes
   * is inside a message now. (An inspected message is only ever handed over whole.)
   */
  get insidePassedMessage(): boolean {
    return this.passRemaining > 0;
  }

  /** True between messages: nothing of a next message has been seen yet. */
  get atBoundary(): boolean {
    return this.headFill === 0 && this.body === null && this.passRemaining === 0 && this.stash.length === 0;
  }

  push(chunk: Buffer): void {
    if (this.stopped) {
      this.stash.push(chunk);
      return;
    }
    this.process(chunk);
  }

  /** Continues after a stop: processes what arrived meanwhile until the next stop or the end of it. */
  resume(): void {
    this.stopped = false;
    while (!this.stopped && this.stash.length > 0) this.process(this.stash.shift()!);
  }

  /** Takes the bytes not yet processed (after a stop), leaving the framer empty. Used when TLS starts. */
  takeRemainder(): Buffer {
    const rest = Buffer.concat(this.stash);
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
      if (this.passRemaining > 0) {
        if (passStart < 0) passStart = pos;
        const n = Math.min(this.passRemaining, end - pos);
        pos += n;
        this.passRemaining -= n;
        continue;
      }

      if (this.body) {
        const n = Math.min(this.bodyTotal - this.bodyFill, end - pos);
        this.reserve(this.bodyFill + n);
        chunk.copy(this.body, this.bodyFill, pos, pos + n);
        this.bodyFill += n;
        pos += n;
        if (this.bodyFill < this.bodyTotal) break;
        const whole = this.body;
        this.body = null;
        if (!this.deliver(whole, 0, this.bodyTotal)) return this.stop(chunk, pos);
        continue;
      }

      const headLen = this.typed ? 5 : 4;
      if (this.headFill > 0 || end - pos < headLen) {
        // The header is split across chunks: gather it in `head`.
        const n = Math.min(headLen - this.headFill, end - pos);
        flushPass(pos);
        chunk.copy(this.head, this.headFill, pos, pos + n);
        this.headFill += n;
        pos += n;
        if (this.headFill < headLen) break;
        this.headFill = 0;
        const type = this.typed ? this.head[0]! : 0;
        const total = this.frameTotal(type, this.head, 0);
        if (this.inspected(type)) {
          const body = this.startBody(total, headLen);
          this.head.copy(body, 0, 0, headLen);
          this.bodyFill = headLen;
          if (total === headLen) {
            this.body = null;
            if (!this.deliver(body, 0, total)) return this.stop(chunk, pos);
          }
        } else {
          this.handler.onPass(Buffer.from(this.head.subarray(0, headLen)), 0, headLen);
          this.passRemaining = total - headLen;
        }
        continue;
      }

      const type = this.typed ? chunk[pos]! : 0;
      if (!this.inspected(type)) {
        if (passStart < 0) passStart = pos;
        pos = this.skipPassed(chunk, pos, end);
        continue;
      }
      const total = this.frameTotal(type, chunk, pos);
      flushPass(pos);
      if (end - pos >= total) {
        const start = pos;
        pos += total;
        if (type === this.expressType) {
          // The rest of the run: the next messages of the same type that lie whole in this chunk.
          while (end - pos >= 5 && chunk[pos] === type) {
            const next = this.frameTotal(type, chunk, pos);
            if (end - pos < next) break;
            pos += next;
          }
        }
        if (!this.deliver(chunk, start, pos)) return this.stop(chunk, pos);
      } else {
        chunk.copy(this.startBody(total, end - pos), 0, pos, end);
        this.bodyFill = end - pos;
        pos = end;
      }
    }
    flushPass(end);
  }

  /**
   * Skips the uninspected messages from `pos` (its header lies whole in the chunk) while the next one's header
   * does too: a result's DataRows, passed raw, are a header read and a jump each, in one loop. Returns where it
   * stopped: the end of the chunk (`passRemaining` holds what the last message still lacks) or the next
   * message that is inspected or whose header is split.
   */
  private skipPassed(chunk: Buffer, pos: number, end: number): number {
    const inspect = this.inspect;
    const limit = this.maxMessageBytes;
    for (;;) {
      const len = ((chunk[pos + 1]! << 24) | (chunk[pos + 2]! << 16) | (chunk[pos + 3]! << 8) | chunk[pos + 4]!) >>> 0;
      // Out of range (negative as an int32 too): frameTotal says why.
      if (len < 4 || len + 1 > limit) this.frameTotal(chunk[pos]!, chunk, pos);
      const next = pos + 1 + len;
      if (next >= end) {
        this.passRemaining = next - end;
        return end;
      }
      pos = next;
      if (end - pos < 5 || inspect[chunk[pos]!] === 1) return pos;
    }
  }

  /** Validates the length field at `at` and returns the message's whole size in bytes. */
  private frameTotal(type: number, buf: Buffer, at: number): number {
    if (!this.typed) {
      const len = buf.readInt32BE(at);
      if (len < 8 || len > maxStartupPacket) throw new WireError(`invalid startup packet length ${len}`);
      return len;
    }
    const len = buf.readInt32BE(at + 1);
    if (len < 4) throw new WireError(`invalid length ${len} in message '${printable(type)}'`);
    if (len + 1 > this.maxMessageBytes) {
      throw new MessageTooLarge(`message '${printable(type)}' of ${len + 1} bytes exceeds maxMessageBytes (${this.maxMessageBytes})`);
    }
    return len + 1;
  }

  // Memory for a partial message follows the bytes that arrived, not the length the peer claims: otherwise
  // five bytes ('Q' and a length just under maxMessageBytes) would make the proxy reserve all of it, per
  // connection. Growth doubles, so a message that does arrive costs at most one extra copy of itself.
  private startBody(total: number, have: number): Buffer {
    this.body = Buffer.allocUnsafe(Math.min(total, Math.max(have, firstAllocation)));
    this.bodyTotal = total;
    return this.body;
  }

  private reserve(need: number): void {
    const body = this.body!;
    if (body.length >= need) return;
    const grown = Buffer.allocUnsafe(Math.min(this.bodyTotal, Math.max(need, body.length * 2)));
    body.copy(grown, 0, 0, this.bodyFill);
    this.body = grown;
  }

  /** Startup-phase messages are always handed over: the session must see each one. */
  private inspected(type: number): boolean {
    return !this.typed || this.inspect[type] === 1;
  }

  private deliver(buf: Buffer, start: number, end: number): boolean {
    const type = this.typed ? buf[start]! : 0;
    if (type === this.expressType) return this.expressTo!(buf, start, end);
    return this.handler.onFrame(type, buf, start, end);
  }

  private stop(chunk: Buffer, pos: number): void {
    this.stopped = true;
    if (pos < chunk.length) this.stash.unshift(chunk.subarray(pos));
  }
}

/** What a partial inspected message gets before more of it arrives. */
const firstAllocation = 64 * 1024;

export class MessageTooLarge extends WireError {
  override name = 'MessageTooLarge';
}

export function printable(type: number): string {
  return type >= 0x20 && type < 0x7f ? String.fromCharCode(type) : `0x${type.toString(16)}`;
}
