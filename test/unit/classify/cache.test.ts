import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../../../src/classify/cache.js';

describe('LruCache', () => {
  it('returns what was stored and counts hits and misses', () => {
    const c = new LruCache<number>({ maxEntries: 10, maxBytes: 1000 });
    c.set('a', 1, 10);
    expect(c.get('a')).toBe(1);
    expect(c.get('b')).toBeUndefined();
    expect([c.hits, c.misses]).toEqual([1, 1]);
  });
  it('evicts the least recently used entry past maxEntries', () => {
    const c = new LruCache<number>({ maxEntries: 2, maxBytes: 1000 });
    c.set('a', 1, 1);
    c.set('b', 2, 1);
    c.get('a'); // b is now the oldest
    c.set('c', 3, 1);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
  });
  it('evicts oldest entries until the byte total fits maxBytes', () => {
    const c = new LruCache<string>({ maxEntries: 100, maxBytes: 100 });
    c.set('a', 'a', 40);
    c.set('b', 'b', 40);
    c.set('c', 'c', 40);
    expect(c.get('a')).toBeUndefined();
    expect(c.bytes).toBe(80);
    expect(c.size).toBe(2);
  });
  it('does not store an entry larger than maxBytes, and keeps the others', () => {
    const c = new LruCache<string>({ maxEntries: 100, maxBytes: 100 });
    c.set('a', 'a', 10);
    c.set('huge', 'x', 101);
    expect(c.get('huge')).toBeUndefined();
    expect(c.get('a')).toBe('a');
  });
  it('replacing a key adjusts the byte total', () => {
    const c = new LruCache<string>({ maxEntries: 100, maxBytes: 100 });
    c.set('a', 'x', 30);
    c.set('a', 'y', 50);
    expect(c.bytes).toBe(50);
    expect(c.get('a')).toBe('y');
    c.clear();
    expect([c.size, c.bytes]).toEqual([0, 0]);
  });
  it('refuses bounds that are not positive', () => {
    expect(() => new LruCache({ maxEntries: 0, maxBytes: 1 })).toThrow(RangeError);
  });

  it('evicts in least-recently-used order under any mix of gets, sets and clears (one iterator for every eviction)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('get', 'set', 'set', 'clear'), fc.integer({ min: 0, max: 12 })), { maxLength: 300 }), (ops) => {
        const cache = new LruCache<number>({ maxEntries: 5, maxBytes: 1000 });
        let model: string[] = []; // least recently used first
        for (const [op, k] of ops) {
          const key = `k${k}`;
          if (op === 'clear') {
            cache.clear();
            model = [];
          } else if (op === 'get') {
            expect(cache.get(key)).toBe(model.includes(key) ? k : undefined);
            if (model.includes(key)) model = [...model.filter((m) => m !== key), key];
          } else {
            cache.set(key, k, 1);
            model = [...model.filter((m) => m !== key), key].slice(-5);
          }
          expect(cache.size).toBe(model.length);
        }
        for (let k = 0; k <= 12; k++) expect(cache.get(`k${k}`)).toBe(model.includes(`k${k}`) ? k : undefined);
      }),
      { numRuns: 500 },
    );
  });
});
