// LRU by exact key, bounded in entries and in bytes, so that repeated statements (ORMs send the same
// few hundred texts all day; a prepared statement's text comes back every execution) cost one lookup.
//
// lru-cache keeps its recency list in typed arrays: a hit moves two indices, the Map is not touched. The
// hand-written version this replaces moved a hit to the end of a Map (delete, set) and evicted through one
// long-lived iterator; once the Map was full, that made every hit ~30 us (a rehash each time, the old tables
// kept alive for the iterator), and a proxy that had seen 10,000 distinct texts ran prepared point selects
// at half the speed.
import { LRUCache } from 'lru-cache';

export interface LruOptions {
  /** Most entries kept. */
  maxEntries: number;
  /** Most bytes kept, as the caller sizes its entries. */
  maxBytes: number;
}

export class LruCache<V extends {} | null> {
  private readonly lru: LRUCache<string, { value: V }>;
  hits = 0;
  misses = 0;

  constructor(opts: LruOptions) {
    if (!(opts.maxEntries > 0) || !(opts.maxBytes > 0)) throw new RangeError('LruCache: maxEntries and maxBytes must be positive');
    this.lru = new LRUCache({ max: opts.maxEntries, maxSize: opts.maxBytes });
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get(key: string): V | undefined {
    const e = this.lru.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return e.value;
  }

  /** Stores `value`; an entry larger than maxBytes is not stored (it would evict everything else). */
  set(key: string, value: V, bytes: number): void {
    // Sizes must be positive integers to lru-cache; a zero-byte entry still takes a slot.
    this.lru.set(key, { value }, { size: Math.max(1, Math.ceil(bytes)) });
  }

  clear(): void {
    this.lru.clear();
  }
}
