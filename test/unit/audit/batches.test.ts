// The batch queue against the chain's format computed here from strings: any mix of line sizes (multi-byte
// text, lines larger than a batch buffer), batch sizes, takes and buffer reuse gives the same bytes.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchQueue, type Batch } from '../../../src/audit/batches.js';

const zeros = '0'.repeat(64);

/** The lines as the format defines them (chain.ts): body = pre + seq + post + prev member; hash over prev + body + '}'. */
function expected(lines: { pre: string; post: string }[], seq: number, prev: string): string {
  let out = '';
  for (const { pre, post } of lines) {
    const body = `${pre}${++seq}${post},"prev":"${prev}"`;
    prev = createHash('sha256').update(prev + body + '}').digest('hex');
    out += `${body},"hash":"${prev}"}\n`;
  }
  return out;
}

/** A small deterministic generator, so a failure names its seed. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const pieces = ['a', 'é', '€', '😀', '"\\\\"', 'SELECT 1', 'x'.repeat(40)];

describe('BatchQueue', () => {
  it('writes the lines the chain format defines, whatever the line and batch sizes, takes and reuse', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const next = random(seed);
      const batchLines = 1 + Math.floor(next() * 20);
      const startSeq = Math.floor(next() * 1e6);
      const q = new BatchQueue(batchLines, startSeq, zeros);
      const lines: { pre: string; post: string }[] = [];
      let written = '';
      let inflight: Batch | null = null;
      for (let i = 0; i < 300; i++) {
        const r = next();
        if (r < 0.7) {
          // Mostly short lines; now and then one far larger than a batch's first buffer (16 KiB).
          let post = ',"type":"statement","sql":"';
          const n = next() < 0.02 ? 8000 : Math.floor(next() * 30);
          for (let j = 0; j < n; j++) post += pieces[Math.floor(next() * pieces.length)];
          const pre = `{"ts":"2026-12-04T05:00:00.${String(i % 1000).padStart(3, '0')}Z","seq":`;
          lines.push({ pre, post: post + '"' });
          q.push(pre, post + '"', 1);
        } else if (r < 0.9 && !inflight) {
          inflight = q.take();
        } else if (inflight) {
          // Written: its bytes are final now, and its buffer may hold a later batch.
          written += inflight.buf.toString('utf8');
          q.release(inflight);
          inflight = null;
        }
      }
      if (inflight) {
        written += inflight.buf.toString('utf8');
        q.release(inflight);
      }
      for (let b = q.take(); b; b = q.take()) written += b.buf.toString('utf8');
      expect(written, `seed ${seed}`).toBe(expected(lines, startSeq, zeros));
      expect(q.seq).toBe(startSeq + lines.length);
      expect(q.lines).toBe(0);
    }
  });

  it('says where each batch starts in the chain, and keeps at most batchLines lines in one', () => {
    const q = new BatchQueue(3, 10, zeros);
    for (let i = 0; i < 7; i++) q.push('{"seq":', `,"n":${i}`, 1);
    expect(q.full).toBe(2);
    const first = q.take()!;
    const second = q.take()!;
    const third = q.take()!;
    expect([first.count, second.count, third.count]).toEqual([3, 3, 1]);
    expect(first).toMatchObject({ afterSeq: 10, afterHash: zeros });
    const lastOfFirst = first.buf.toString('utf8').trim().split('\n').at(-1)!;
    expect(second.afterSeq).toBe(13);
    expect(lastOfFirst.endsWith(`"hash":"${second.afterHash}"}`)).toBe(true);
    expect(q.take()).toBeNull();
  });
});
