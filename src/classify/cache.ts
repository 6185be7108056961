// LRU by exact key, bounded in entries and in bytes, so that repeated statements (ORMs send the same
// few hundred texts all day) cost one Map lookup. A Map keeps insertion order: re-inserting on a hit
// makes the first key the least recently used.

export interface LruOptions {
  /** Most entries kept. */
  maxEntries: number;
  /** Most bytes kept, as the caller sizes its entries. */
  maxBytes: number;
}

export class LruCache<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private total = 0;
  private evictions: MapIterator<string> = this.map.keys();
  hits = 0;
  misses = 0;

  constructor(private readonly opts: LruOptions) {
    if (!(opts.maxEntries > 0) || !(opts.maxBytes > 0)) throw new RangeError('LruCache: maxEntries and maxBytes must be positive');
  }

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.total;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** Stores `value`; an entry larger than maxBytes is not stored (it would evict everything else). */
  set(key: string, value: V, bytes: number): void {
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.total -= old.bytes;
    }
    if (bytes > this.opts.maxBytes) return;
    this.map.set(key, { value, bytes });
    this.total += bytes;
    while (this.map.size > this.opts.maxEntries || this.total > this.opts.maxBytes) {
      const oldest = this.oldest();
      this.total -= this.map.get(oldest)!.bytes;
      this.map.delete(oldest);
    }
  }

  /**
   * The least recently used key. One iterator serves every eviction: everything it has passed was evicted,
   * so the next key it gives is the oldest, and it never runs out (evictions happen while entries remain).
   * A new iterator per eviction would walk over all the entries deleted since the table was last rebuilt,
   * thousands of them once the cache is full: ~4 us a statement of unique text (pgbench's point selects).
   */
  private oldest(): string {
    return this.evictions.next().value as string;
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
    this.evictions = this.map.keys();
  }
}
