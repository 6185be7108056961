// Where an upstream socket's reads land. By default Node allocates a 64 KiB buffer for every socket read, hands it
// over as a new ArrayBuffer (shrunk to what was read) and frees it at a later GC: per read an allocation, a
// backing store and a finalizer, and external memory that brings the next GC closer. A socket made with `onread`
// reads into a buffer it is given instead: here the rest of a slab of its own, each read's bytes just after
// the last one's. A region is never read into twice, so whatever the session keeps of a chunk (a framer stopped
// on a held statement, rows queued behind a masking batch, a write still in the kernel's way) stays as it was;
// the slab is freed once nothing points into it. The read callback skips the stream's push machinery too.
// npm run bench:ab -- --masking none on a 2-core VM: 565 -> 520 ms of CPU a 1,000,000-row read (prepared point
// selects: within the noise). Idle, a connection touches only the pages its reads wrote (40: +0.8 MB RSS).

/** Bytes of a slab. Address space per connection: the untouched rest of its slab costs no memory. */
const slabBytes = 256 * 1024;
/** A read is offered at least this much room (Node's own reads are 64 KiB); less left: a new slab. */
const minRoom = 64 * 1024;

export class ReadSlab {
  private slab = Buffer.allocUnsafeSlow(slabBytes);
  private pos = 0;

  /** The room for the next read: net.connect's `onread.buffer`, called once at connect and after every read. */
  readonly room = (): Buffer => {
    if (this.slab.length - this.pos < minRoom) {
      this.slab = Buffer.allocUnsafeSlow(slabBytes);
      this.pos = 0;
    }
    return this.slab.subarray(this.pos);
  };

  /** `n` bytes were read into the room last offered: they are the chunk; the next room starts after them. */
  took(n: number): Buffer {
    const chunk = this.slab.subarray(this.pos, this.pos + n);
    this.pos += n;
    return chunk;
  }
}
