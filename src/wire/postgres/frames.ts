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

export class PgFramer {
  /** Which message types are handed over whole; every other type streams through `onPass`. */
  readonly inspect = new Uint8Array(256);
  /** False while in the untyped startup phase. */
  typed: boolean;

  private readonly head = Buffer.alloc(5);
  private headFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private passRemaining = 0;
  private stopped = false;
  private stash: Buffer[] = [];

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

  /** Bytes held back (a partial message, or the rest after a stop). */
  get buffered(): number {
    let n = this.headFill + (this.body ? this.bodyFill : 0);
    for (const b of this.stash) n += b.length;
    return n;
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
        const n = Math.min(this.body.length - this.bodyFill, end - pos);
        chunk.copy(this.body, this.bodyFill, pos, pos + n);
        this.bodyFill += n;
        pos += n;
        if (this.bodyFill < this.body.length) break;
        const whole = this.body;
        this.body = null;
        if (!this.deliver(whole, 0, whole.length)) return this.stop(chunk, pos);
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
          this.body = Buffer.allocUnsafe(total);
          this.head.copy(this.body, 0, 0, headLen);
          this.bodyFill = headLen;
          if (total === headLen) {
            const whole = this.body;
            this.body = null;
            if (!this.deliver(whole, 0, total)) return this.stop(chunk, pos);
          }
        } else {
          this.handler.onPass(Buffer.from(this.head.subarray(0, headLen)), 0, headLen);
          this.passRemaining = total - headLen;
        }
        continue;
      }

      const type = this.typed ? chunk[pos]! : 0;
      const total = this.frameTotal(type, chunk, pos);
      if (!this.inspected(type)) {
        if (passStart < 0) passStart = pos;
        const n = Math.min(total, end - pos);
        pos += n;
        this.passRemaining = total - n;
        continue;
      }
      flushPass(pos);
      if (end - pos >= total) {
        const start = pos;
        pos += total;
        if (!this.deliver(chunk, start, pos)) return this.stop(chunk, pos);
      } else {
        this.body = Buffer.allocUnsafe(total);
        chunk.copy(this.body, 0, pos, end);
        this.bodyFill = end - pos;
        pos = end;
      }
    }
    flushPass(end);
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

  /** Startup-phase messages are always handed over: the session must see each one. */
  private inspected(type: number): boolean {
    return !this.typed || this.inspect[type] === 1;
  }

  private deliver(buf: Buffer, start: number, end: number): boolean {
    const type = this.typed ? buf[start]! : 0;
    return this.handler.onFrame(type, buf, start, end);
  }

  private stop(chunk: Buffer, pos: number): void {
    this.stopped = true;
    if (pos < chunk.length) this.stash.unshift(chunk.subarray(pos));
  }
}

export class MessageTooLarge extends WireError {
  override name = 'MessageTooLarge';
}

export function printable(type: number): string {
  return type >= 0x20 && type < 0x7f ? String.fromCharCode(type) : `0x${type.toString(16)}`;
}
