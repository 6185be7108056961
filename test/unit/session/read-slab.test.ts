// Upstream reads land in slabs (read-slab.ts): a chunk the session keeps is never written over by a later read.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ReadSlab } from '../../../src/session/read-slab.js';
import { connectTcp } from '../../../src/session/upstream.js';

describe('ReadSlab', () => {
  it('offers each read the room after the last one, and a new slab when less than 64 KiB is left', () => {
    const slab = new ReadSlab();
    const first = slab.room();
    expect(first.length).toBe(256 * 1024);
    first.fill(1, 0, 100);
    const a = slab.took(100);
    const second = slab.room();
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset + 100);
    second.fill(2, 0, 200 * 1024);
    const b = slab.took(200 * 1024);
    expect(a.every((x) => x === 1)).toBe(true);
    expect(b.every((x) => x === 2)).toBe(true);
    // 256 KiB - 100 B - 200 KiB is less than 64 KiB: the next read gets a slab of its own.
    const third = slab.room();
    expect(third.buffer).not.toBe(first.buffer);
    expect(third.length).toBe(256 * 1024);
  });
});

describe('connectTcp reads', () => {
  it('keeps every chunk as it came while later reads arrive: 8 MiB in many writes, chunks held, none copied', async () => {
    const total = 8 * 1024 * 1024;
    const sent = Buffer.alloc(total);
    for (let i = 0; i < total; i++) sent[i] = (i * 7 + (i >> 11)) & 0xff;
    const server = net.createServer((s) => {
      // Writes of odd sizes, so that reads end anywhere.
      for (let at = 0; at < total; at += 12_345) s.write(sent.subarray(at, Math.min(total, at + 12_345)));
      s.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as net.AddressInfo;
      const socket = await connectTcp({ host: '127.0.0.1', port });
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((r) => socket.on('end', r));
      socket.destroy();
      expect(Buffer.concat(chunks).equals(sent)).toBe(true);
      // Several reads share a slab (no buffer of its own per read).
      expect(new Set(chunks.map((c) => c.buffer)).size).toBeLessThan(chunks.length);
    } finally {
      server.close();
    }
  });

  it('pauses and resumes: nothing is read while paused, nothing lost after', async () => {
    const server = net.createServer((s) => {
      s.write('one');
      setTimeout(() => s.end('two'), 50);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as net.AddressInfo;
      const socket = await connectTcp({ host: '127.0.0.1', port });
      const chunks: string[] = [];
      socket.on('data', (c: Buffer) => {
        chunks.push(c.toString());
        if (chunks.length === 1) socket.pause();
      });
      await new Promise((r) => setTimeout(r, 150));
      expect(chunks).toEqual(['one']);
      socket.resume();
      await new Promise((r) => socket.on('end', r));
      expect(chunks.join('')).toBe('onetwo');
      socket.destroy();
    } finally {
      server.close();
    }
  });
});
