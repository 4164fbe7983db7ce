/**
 * The topic tree's match cache (ts/mqtt/topic-tree.ts). Publishers repeat their topics, and the walk (split, one
 * Map lookup per level, hashing each fresh level string) was the largest
 * self time of the broker in the fan-in profile (21%). So the matched nodes
 * of a topic are kept (topic -> node list) and reused while the tree has not
 * changed shape: every add or remove that creates or empties a subscription
 * bumps a generation, and an entry from an older generation is walked again.
 * Values are read from the nodes at visit time, so replacing a subscription's
 * value needs no invalidation. The cache is bounded in bytes (an estimate:
 * topic characters plus a pointer per matched node plus a fixed overhead);
 * past the bound the oldest entries go (insertion order), a quarter at a
 * time. While fewer than a quarter of lookups hit, only one missed topic in
 * 16 is admitted, so a stream of topics that never repeat costs little more
 * than the walk. 0 disables it.
 */

/** The matched nodes of one topic, valid while the tree's generation is `generation`. */
type CacheEntry<N> = { generation: number; nodes: N[]; bytes: number };

/** Estimated bytes of a cache entry beyond its topic characters (Map slot, entry, array headers). */
const CACHE_ENTRY_OVERHEAD = 96;
/** Lookups per admission decision (see MatchCache.get). */
const CACHE_WINDOW = 4096;
/** While hits are rare, one topic missed in this many is admitted. */
const CACHE_SAMPLED_ADMISSION = 16;

/** Match cache counters, for metrics. */
export interface TopicCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  evictions: number;
}

/**
 * The match cache of a topic tree: topic -> the nodes it matched, valid
 * while the tree's generation (given by the tree on every call) is the one
 * they were collected at.
 */
export class MatchCache<N> {
  readonly #cache = new Map<string, CacheEntry<N>>();
  readonly bytesMax: number;
  readonly #stats: TopicCacheStats = { hits: 0, misses: 0, entries: 0, bytes: 0, evictions: 0 };
  #windowLookups = 0;
  #windowHits = 0;
  /** 1: every missed topic is cached; CACHE_SAMPLED_ADMISSION while the last window hit under 1/4. */
  #admitEvery = 1;
  #admitCountdown = 1;

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax;
  }

  /** Match cache counters (a live object: read it, do not keep it). */
  get stats(): Readonly<TopicCacheStats> {
    this.#stats.entries = this.#cache.size;
    return this.#stats;
  }

  /** The cached nodes matching `topic`, if the tree has not changed (`generation`) since they were collected. */
  get(topic: string, generation: number): N[] | undefined {
    if (this.bytesMax === 0) return undefined;
    if (++this.#windowLookups === CACHE_WINDOW) {
      // Topics that do not repeat within the cache (many devices, one topic
      // each) would make every match pay an insert and an eviction for no
      // hit: while hits are rare, cache only a sample of the missed topics
      // (a topic that does repeat still gets in after a few misses).
      this.#admitEvery = this.#windowHits * 4 < CACHE_WINDOW ? CACHE_SAMPLED_ADMISSION : 1;
      this.#windowLookups = 0;
      this.#windowHits = 0;
    }
    const cached = this.#cache.get(topic);
    if (cached === undefined || cached.generation !== generation) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    this.#windowHits++;
    return cached.nodes;
  }

  /**
   * Cache the nodes just collected for `topic` (the first `n` of `found`).
   * The cached array is a copy that is never modified afterwards (a stale
   * entry gets a new array, not a refill), so a nested match from inside a
   * visit cannot disturb the outer one.
   */
  admit(topic: string, found: readonly N[], n: number, generation: number): void {
    const stats = this.#stats;
    const stale = this.#cache.get(topic);
    if (stale === undefined) {
      if (--this.#admitCountdown > 0) return;
      this.#admitCountdown = this.#admitEvery;
    }
    const bytes = topic.length * 2 + n * 8 + CACHE_ENTRY_OVERHEAD;
    if (bytes > this.bytesMax) return;
    const nodes = found.slice(0, n);
    if (stale !== undefined) {
      // Same topic, older generation: keep the slot.
      stats.bytes += bytes - stale.bytes;
      stale.bytes = bytes;
      stale.generation = generation;
      stale.nodes = nodes;
    } else {
      this.#cache.set(topic, { generation, nodes, bytes });
      stats.bytes += bytes;
    }
    if (stats.bytes > this.bytesMax) this.#evict();
  }

  /**
   * Drop the oldest cache entries until the cache is at 3/4 of its bound.
   * In batches, not one entry per insert: a Map iterator walks over the
   * slots of deleted entries until the table is rehashed, so evicting one
   * by one under a stream of distinct topics cost a walk over every earlier
   * deletion per insert (10 µs per match measured); a batch pays that walk
   * once per quarter of the cache.
   */
  #evict(): void {
    const stats = this.#stats;
    const target = Math.floor(this.bytesMax * 0.75);
    for (const [topic, entry] of this.#cache) {
      if (stats.bytes <= target) return;
      this.#cache.delete(topic);
      stats.bytes -= entry.bytes;
      stats.evictions++;
    }
  }
}
