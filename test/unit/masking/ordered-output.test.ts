import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OrderedOutput } from '../../../src/masking/ordered-output.js';

function sinkOf() {
  const written: Buffer[] = [];
  const out = new OrderedOutput((b) => written.push(Buffer.from(b)));
  return { out, written };
}

describe('OrderedOutput joins what one socket read passes on', () => {
  it('sends consecutive messages of one chunk as one buffer, at the flush', () => {
    const chunk = Buffer.from('T....D....C....Z....');
    const { out, written } = sinkOf();
    for (let i = 0; i < chunk.length; i += 5) out.write(chunk.subarray(i, i + 5));
    expect(written).toHaveLength(0);
    out.flush();
    expect(written.map(String)).toEqual(['T....D....C....Z....']);
  });

  it('keeps bytes of different buffers, or not adjacent, as separate writes in their order', () => {
    const a = Buffer.from('aaaa');
    const b = Buffer.from('bbbbcccc');
    const { out, written } = sinkOf();
    out.write(a);
    out.write(b.subarray(0, 2));
    out.write(b.subarray(4, 8)); // a gap: bytes 2..4 were not written
    out.write(b.subarray(2, 4)); // before its place: not joined backwards
    out.flush();
    expect(written.map(String)).toEqual(['aaaa', 'bb', 'cccc', 'bb']);
  });

  it('sends what it holds at the end of the tick when nobody flushes', async () => {
    const { out, written } = sinkOf();
    out.write(Buffer.from('late'));
    await Promise.resolve();
    expect(written.map(String)).toEqual(['late']);
  });

  it('sends what it holds before a place reserved for later bytes, and those after it', () => {
    const chunk = Buffer.from('headtail');
    const { out, written } = sinkOf();
    out.write(chunk.subarray(0, 4));
    const slot = out.reserve();
    out.write(chunk.subarray(4, 8));
    expect(written.map(String)).toEqual(['head']);
    out.fill(slot, Buffer.from('-rows-'));
    out.flush();
    expect(written.map(String)).toEqual(['head', '-rows-', 'tail']);
  });

  it('sends what it holds when a batch fails, and nothing after', () => {
    const { out, written } = sinkOf();
    out.write(Buffer.from('before'));
    out.fail(new Error('worker died'));
    out.write(Buffer.from('after'));
    out.flush();
    expect(written.map(String)).toEqual(['before']);
  });

  it('delivers exactly the bytes written, in order, however writes and flushes interleave', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 30 }),
        fc.boolean(),
        (chunks, cuts, flushes) => {
          const buffers = chunks.map((c) => Buffer.from(c));
          const { out, written } = sinkOf();
          const expected: Buffer[] = [];
          for (const buf of buffers) {
            let at = 0;
            for (const [size, flush] of cuts) {
              if (at >= buf.length) break;
              const end = Math.min(buf.length, at + 1 + (size % 8));
              out.write(buf.subarray(at, end));
              expected.push(buf.subarray(at, end));
              at = end;
              if (flush && flushes) out.flush();
            }
            if (at < buf.length) {
              out.write(buf.subarray(at));
              expected.push(buf.subarray(at));
            }
          }
          out.flush();
          expect(Buffer.concat(written)).toEqual(Buffer.concat(expected));
          // One chunk written whole, flushed only at the end: one write per chunk.
          if (!flushes) expect(written.length).toBeLessThanOrEqual(buffers.length);
        },
      ),
    );
  });
});
