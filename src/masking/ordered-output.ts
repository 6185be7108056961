// A session's bytes for its client while masking is on: kept in order behind the batches still with the
// workers, and rows masked inline gathered into one write per chunk.
import { joined } from '../wire/bytes.js';

export interface Slot {
  bytes: Buffer | null;
}

/** What a slot's place holds once its bytes went out. */
const sent: Slot = { bytes: Buffer.alloc(0) };
const EMPTY_SLAB = Buffer.alloc(0);

/** Size of the buffers rows are gathered in before they go to the sink. */
const slabBytes = 64 * 1024;

/**
 * The one way bytes reach a session's client while masking is on: in order, whether written now or filled
 * in later by a batch. Writes go straight to the sink while nothing is pending. A failure (a batch that
 * could not be masked) stops all output for good: nothing after it may reach the client unmasked or out
 * of order, so the session closes the connection (`onError`).
 *
 * Rows masked inline are gathered (`room`/`commit`) in a slab and reach the sink as one buffer per
 * `flush`: a socket write per row would cost more than masking it. The session flushes at the end of each
 * chunk it reads; anything else written, and the end of the tick, flush too, so gathered bytes never wait.
 */
export class OrderedOutput {
  /** Bytes waiting behind a pending slot. */
  queuedBytes = 0;
  private queue: Slot[] = [];
  private head = 0;
  private failed: Error | null = null;
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];
  /** Gathered bytes are slab[slabStart, slabPos); what precedes slabStart went out and is never rewritten. */
  private slab: Buffer = EMPTY_SLAB;
  private slabStart = 0;
  /** Where the next gathered bytes go (see `room`). */
  slabPos = 0;
  /** Bytes sent while nothing is pending, not yet given to the sink (see `send`). */
  private held: Buffer | null = null;
  private flushQueued = false;
  private readonly flushLater = () => {
    this.flushQueued = false;
    this.flush();
  };

  constructor(
    private readonly sink: (bytes: Buffer) => void,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** No slot is pending: writes, and flushed rows, go straight through. */
  get idle(): boolean {
    return this.head === this.queue.length;
  }

  get error(): Error | null {
    return this.failed;
  }

  write(bytes: Buffer): void {
    if (this.failed) return;
    this.flushSlab();
    this.send(bytes);
  }

  /**
   * A buffer with room for n bytes from `slabPos`: write them there, then `commit` the position after them.
   * Nothing else may be written in between.
   */
  room(n: number): Buffer {
    if (this.slab.length - this.slabPos < n) {
      this.flushSlab();
      this.slab = Buffer.allocUnsafe(Math.max(slabBytes, n));
      this.slabStart = 0;
      this.slabPos = 0;
    }
    return this.slab;
  }

  commit(pos: number): void {
    this.slabPos = pos;
    // Behind a pending slot the bytes wait in the queue anyway, where they count for back-pressure.
    if (!this.idle) return this.flush();
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushLater);
    }
  }

  /** Sends everything written and gathered on (to the sink, or behind a pending slot). */
  flush(): void {
    this.flushSlab();
    this.releaseHeld();
  }

  private flushSlab(): void {
    if (this.slabPos === this.slabStart) return;
    const bytes = this.slab.subarray(this.slabStart, this.slabPos);
    this.slabStart = this.slabPos;
    if (!this.failed) this.send(bytes);
  }

  /**
   * While nothing is pending, bytes are held until the next write or flush: a write that continues them in
   * memory (the next message of the same socket read, passed on as it came) joins them, so the messages of
   * one read go out as one buffer, one socket write, instead of one each.
   */
  private send(bytes: Buffer): void {
    if (this.head !== this.queue.length) {
      this.queue.push({ bytes });
      this.queuedBytes += bytes.length;
      return;
    }
    const held = this.held;
    if (held === null) {
      this.held = bytes;
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushLater);
      }
      return;
    }
    const both = joined(held, bytes);
    this.held = both ?? bytes;
    if (both === null) this.sink(held);
  }

  private releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.sink(held);
  }

  /** A place in the order for bytes that come later (`fill`). */
  reserve(): Slot {
    this.flush();
    const slot: Slot = { bytes: null };
    this.queue.push(slot);
    return slot;
  }

  fill(slot: Slot, bytes: Buffer): void {
    if (this.failed) return this.notify();
    slot.bytes = bytes;
    this.queuedBytes += bytes.length;
    while (this.head < this.queue.length && this.queue[this.head]!.bytes !== null) {
      const b = this.queue[this.head]!.bytes!;
      // The slot leaves the queue now: a long result keeps a pending slot at the tail for good, so sent
      // slots must not hold their bytes until the queue empties.
      this.queue[this.head++] = sent;
      this.queuedBytes -= b.length;
      this.sink(b);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.notify();
  }

  fail(err: Error): void {
    // What is held was sent before the failure, with nothing pending: it goes out as it would have.
    this.releaseHeld();
    if (!this.failed) {
      this.failed = err;
      this.queue = [];
      this.head = 0;
      this.queuedBytes = 0;
      this.slabStart = this.slabPos;
      this.onError(err);
    }
    this.notify();
  }

  /** Resolves once `ready()` holds, checked after every fill (or at once). */
  until(ready: () => boolean): Promise<void> {
    if (ready() || this.failed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ready, resolve }));
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.failed || w.ready()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}
