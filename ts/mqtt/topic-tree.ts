/**
 * The MQTT subscription index: a trie keyed by topic level.
 *
 * Layout. Each node stands for one filter prefix. Literal levels live in
 * `children` (a Map, created on first use); the `+` and `#` levels have their
 * own pointers so a match never looks them up by string. A node whose filter
 * has subscribers holds them inline while there is one (`soloKey`,
 * `soloValue`: most device filters have a single subscriber, and a one-entry
 * Map costs ~150 bytes more), else in `subs` (key -> value, one entry per key,
 * e.g. per client id); its shared groups live in `shared` (group -> members).
 * A `#` node never has children: validated filters end at `#`.
 *
 * Matching walks only the branches a topic can reach: at each level the
 * literal child, the `+` child, and (for every remaining suffix) the `#`
 * child. Its cost depends on the topic depth and the number of matching
 * branches, never on the total number of subscriptions. The walk is iterative
 * with an explicit stack, so a 32k-level topic cannot overflow the JS stack,
 * and it reuses per-tree buffers: one match allocates the `split('/')` array
 * and nothing per level.
 *
 * Invariants:
 * - every node except the root has subscribers, shared groups or a child;
 *   remove() prunes bottom-up, so after churn `nodeCount` returns to what the
 *   live filters need (0 when empty).
 * - `size` / `sharedSize` count (filter, key) and (group, filter, key) entries.
 * - the tree is not modified while a match is visiting (asserted: add/remove
 *   throw). Collect matches first if a visit must change subscriptions.
 *
 * Match cache. Publishers repeat their topics, and the walk (split, one
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
 *
 * Rules implemented: [MQTT-4.7.1-1] `#` matches the parent level and any
 * number of child levels (`sport/#` matches `sport`); [MQTT-4.7.1-2] `+`
 * matches exactly one level, including an empty one (`+/+` matches
 * `/finance`); [MQTT-4.7.2-1] filters starting with `+` or `#` do not match
 * topics starting with `$`.
 */
import { validateTopicFilter } from './topic.ts';

/** Called once per matching (filter, key) subscription. */
export type MatchVisitor<S> = (value: S, filter: string, key: string) => void;

export type TopicMatch<S> = { readonly filter: string; readonly key: string; readonly value: S };

/** Says whether a shared-group member can take a message now (connected, window not full, ...). */
export type MemberAvailable<S> = (value: S, key: string) => boolean;

/**
 * The members of one shared subscription, keyed by (group, filter) [MQTT-4.8.2].
 * The index hands out groups; the caller picks one member per group.
 */
export interface SharedGroup<S> {
  readonly group: string;
  readonly filter: string;
  readonly size: number;
  get(key: string): S | undefined;
  keyAt(index: number): string;
  valueAt(index: number): S;
  entries(): IterableIterator<[string, S]>;
  /**
   * The distribution strategy: round-robin per group. Starting after the
   * member chosen last time, return the first member for which `available`
   * holds (all are available when it is omitted), and remember it. Returns
   * undefined when no member is available; the caller then queues or drops
   * the message per its policy. Cost: O(1) when the next member is available,
   * O(size) at worst. Membership changes may shift the order by one turn
   * (removal moves the last member into the freed slot).
   */
  pickRoundRobin(available?: MemberAvailable<S>): S | undefined;
}

class Group<S> implements SharedGroup<S> {
  readonly group: string;
  readonly filter: string;
  #keys: string[] = [];
  #values: S[] = [];
  #index = new Map<string, number>();
  #next = 0;

  constructor(group: string, filter: string) {
    this.group = group;
    this.filter = filter;
  }

  get size(): number {
    return this.#keys.length;
  }

  get(key: string): S | undefined {
    const i = this.#index.get(key);
    return i === undefined ? undefined : this.#values[i];
  }

  keyAt(index: number): string {
    const k = this.#keys[index];
    if (k === undefined) throw new RangeError(`shared group member ${index} out of range`);
    return k;
  }

  valueAt(index: number): S {
    if (index < 0 || index >= this.#values.length) {
      throw new RangeError(`shared group member ${index} out of range`);
    }
    return this.#values[index] as S;
  }

  *entries(): IterableIterator<[string, S]> {
    for (let i = 0; i < this.#keys.length; i++) yield [this.#keys[i] as string, this.#values[i] as S];
  }

  /** Returns whether the key is new to the group. */
  set(key: string, value: S): boolean {
    const i = this.#index.get(key);
    if (i !== undefined) {
      this.#values[i] = value;
      return false;
    }
    this.#index.set(key, this.#keys.length);
    this.#keys.push(key);
    this.#values.push(value);
    return true;
  }

  delete(key: string): boolean {
    const i = this.#index.get(key);
    if (i === undefined) return false;
    const last = this.#keys.length - 1;
    const lastKey = this.#keys.pop() as string;
    const lastValue = this.#values.pop() as S;
    this.#index.delete(key);
    if (i !== last) {
      this.#keys[i] = lastKey;
      this.#values[i] = lastValue;
      this.#index.set(lastKey, i);
    }
    if (this.#next >= last) this.#next = 0;
    return true;
  }

  pickRoundRobin(available?: MemberAvailable<S>): S | undefined {
    const n = this.#keys.length;
    for (let tried = 0, i = this.#next; tried < n; tried++, i = i + 1 === n ? 0 : i + 1) {
      const value = this.#values[i] as S;
      if (available === undefined || available(value, this.#keys[i] as string)) {
        this.#next = i + 1 === n ? 0 : i + 1;
        return value;
      }
    }
    return undefined;
  }
}

class TopicNode<S> {
  children: Map<string, TopicNode<S>> | undefined = undefined;
  plus: TopicNode<S> | undefined = undefined;
  hash: TopicNode<S> | undefined = undefined;
  /** The only subscriber, while there is exactly one and `subs` is undefined. */
  soloKey: string | undefined = undefined;
  soloValue: S | undefined = undefined;
  /** Two or more subscribers (it stays a Map until emptied, even with one left). */
  subs: Map<string, S> | undefined = undefined;
  shared: Map<string, Group<S>> | undefined = undefined;
  /** The full filter this node stands for; set while it has subscribers or groups. */
  filter: string | undefined = undefined;

  hasSubs(): boolean {
    return this.soloKey !== undefined || this.subs !== undefined;
  }

  getSub(key: string): S | undefined {
    return this.subs !== undefined ? this.subs.get(key) : this.soloKey === key ? this.soloValue : undefined;
  }

  /** Returns whether the key is new here. */
  setSub(key: string, value: S): boolean {
    if (this.subs !== undefined) {
      const isNew = !this.subs.has(key);
      this.subs.set(key, value);
      return isNew;
    }
    if (this.soloKey === undefined || this.soloKey === key) {
      const isNew = this.soloKey === undefined;
      this.soloKey = key;
      this.soloValue = value;
      return isNew;
    }
    this.subs = new Map([
      [this.soloKey, this.soloValue as S],
      [key, value],
    ]);
    this.soloKey = undefined;
    this.soloValue = undefined;
    return true;
  }

  deleteSub(key: string): boolean {
    if (this.subs !== undefined) {
      if (!this.subs.delete(key)) return false;
      if (this.subs.size === 0) this.subs = undefined;
      return true;
    }
    if (this.soloKey === undefined || this.soloKey !== key) return false;
    this.soloKey = undefined;
    this.soloValue = undefined;
    return true;
  }

  visitSubs(visit: MatchVisitor<S>): void {
    const filter = this.filter as string;
    if (this.subs !== undefined) {
      for (const [key, value] of this.subs) visit(value, filter, key);
    } else if (this.soloKey !== undefined) {
      visit(this.soloValue as S, filter, this.soloKey);
    }
  }

  isEmpty(): boolean {
    return (
      !this.hasSubs() &&
      this.shared === undefined &&
      this.plus === undefined &&
      this.hash === undefined &&
      (this.children === undefined || this.children.size === 0)
    );
  }
}

/** Reusable walk buffers; a nested match (from inside a visit) gets its own. */
type WalkBuffers<S> = {
  nodes: (TopicNode<S> | undefined)[];
  depths: number[];
  found: (TopicNode<S> | undefined)[];
};

function newBuffers<S>(): WalkBuffers<S> {
  return { nodes: [], depths: [], found: [] };
}

/** The matched nodes of one topic, valid while the tree's generation is `generation`. */
type CacheEntry<S> = { generation: number; nodes: TopicNode<S>[]; bytes: number };

/** Estimated bytes of a cache entry beyond its topic characters (Map slot, entry, array headers). */
const CACHE_ENTRY_OVERHEAD = 96;
/** Lookups per admission decision (see #matchedNodes). */
const CACHE_WINDOW = 4096;
/** While hits are rare, one topic missed in this many is admitted. */
const CACHE_SAMPLED_ADMISSION = 16;

export interface TopicTreeOptions {
  /** Bound of the match cache in (estimated) bytes; 0 disables it. */
  cacheBytesMax?: number;
}

/** Match cache counters, for metrics. */
export interface TopicCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  evictions: number;
}

export class TopicTree<S> {
  #root = new TopicNode<S>();
  #size = 0;
  #sharedSize = 0;
  #nodeCount = 0;
  #visiting = 0;
  #buffers: WalkBuffers<S> = newBuffers();
  /** Bumped whenever the set of nodes with subscribers or groups may change. */
  #generation = 0;
  readonly #cache = new Map<string, CacheEntry<S>>();
  readonly #cacheBytesMax: number;
  readonly #cacheStats: TopicCacheStats = { hits: 0, misses: 0, entries: 0, bytes: 0, evictions: 0 };
  #windowLookups = 0;
  #windowHits = 0;
  /** 1: every missed topic is cached; CACHE_SAMPLED_ADMISSION while the last window hit under 1/4. */
  #admitEvery = 1;
  #admitCountdown = 1;

  constructor(options: TopicTreeOptions = {}) {
    this.#cacheBytesMax = options.cacheBytesMax ?? 1024 * 1024;
  }

  /** Match cache counters (a live object: read it, do not keep it). */
  get cacheStats(): Readonly<TopicCacheStats> {
    this.#cacheStats.entries = this.#cache.size;
    return this.#cacheStats;
  }

  /** Number of (filter, key) subscriptions, shared memberships excluded. */
  get size(): number {
    return this.#size;
  }

  /** Number of (group, filter, key) shared-subscription memberships. */
  get sharedSize(): number {
    return this.#sharedSize;
  }

  /** Number of trie nodes, root excluded (0 for an empty tree). For metrics and leak tests. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * Subscribe `key` to `filter`, or replace its value if it already is.
   * Returns true when the (filter, key) pair is new. The filter must be valid
   * (validateTopicFilter); an invalid one is a caller bug and throws.
   */
  add(filter: string, key: string, value: S): boolean {
    const node = this.#ensure(filter);
    node.filter = filter;
    const isNew = node.setSub(key, value);
    if (isNew) {
      this.#size++;
      this.#generation++;
    }
    return isNew;
  }

  /** Unsubscribe `key` from `filter`. Returns whether it was subscribed. Prunes emptied nodes. */
  remove(filter: string, key: string): boolean {
    this.#assertNotVisiting();
    const path = this.#path(filter);
    if (path === undefined) return false;
    const node = path[path.length - 1] as TopicNode<S>;
    if (!node.deleteSub(key)) return false;
    this.#size--;
    this.#generation++;
    this.#prune(path, filter);
    return true;
  }

  /** The value for (filter, key), if subscribed. */
  get(filter: string, key: string): S | undefined {
    const path = this.#path(filter);
    return path === undefined ? undefined : path[path.length - 1]?.getSub(key);
  }

  /** Add `key` to the shared subscription (group, filter). Returns true when the member is new. */
  addShared(group: string, filter: string, key: string, value: S): boolean {
    const node = this.#ensure(filter);
    node.filter = filter;
    node.shared ??= new Map();
    let g = node.shared.get(group);
    if (g === undefined) {
      g = new Group<S>(group, filter);
      node.shared.set(group, g);
    }
    const isNew = g.set(key, value);
    if (isNew) {
      this.#sharedSize++;
      this.#generation++;
    }
    return isNew;
  }

  /** Remove `key` from the shared subscription (group, filter). Drops empty groups and prunes nodes. */
  removeShared(group: string, filter: string, key: string): boolean {
    this.#assertNotVisiting();
    const path = this.#path(filter);
    if (path === undefined) return false;
    const node = path[path.length - 1] as TopicNode<S>;
    const g = node.shared?.get(group);
    if (g === undefined || !g.delete(key)) return false;
    this.#sharedSize--;
    this.#generation++;
    if (g.size === 0) {
      node.shared?.delete(group);
      if (node.shared?.size === 0) node.shared = undefined;
    }
    this.#prune(path, filter);
    return true;
  }

  /** The shared subscription (group, filter), if it has members. */
  getShared(group: string, filter: string): SharedGroup<S> | undefined {
    const path = this.#path(filter);
    return path === undefined ? undefined : path[path.length - 1]?.shared?.get(group);
  }

  /**
   * Visit every non-shared subscription whose filter matches `topic` (a valid
   * Topic Name). A key subscribed through several matching filters is visited
   * once per filter: MQTT 5 may deliver per subscription (with its
   * Subscription Identifier) or merge them [MQTT-3.3.4-2]; that is the caller's call.
   */
  match(topic: string, visit: MatchVisitor<S>): void {
    this.matchWith(topic, visit, undefined);
  }

  /** Visit every shared subscription (group, filter) whose filter matches `topic`. */
  matchShared(topic: string, visit: (group: SharedGroup<S>) => void): void {
    this.matchWith(topic, undefined, visit);
  }

  /** One walk for both kinds (what a PUBLISH needs). Either visitor may be omitted. */
  matchWith(
    topic: string,
    visit: MatchVisitor<S> | undefined,
    visitShared: ((group: SharedGroup<S>) => void) | undefined,
  ): void {
    let nodes = this.#cached(topic);
    let n: number;
    let walked: WalkBuffers<S> | undefined;
    if (nodes !== undefined) {
      n = nodes.length;
    } else {
      walked = this.#visiting === 0 ? this.#buffers : newBuffers<S>();
      n = this.#collect(topic, walked);
      nodes = walked.found as TopicNode<S>[];
      if (this.#cacheBytesMax > 0) this.#admit(topic, nodes, n);
    }
    this.#visiting++;
    try {
      for (let i = 0; i < n; i++) {
        const node = nodes[i] as TopicNode<S>;
        if (visit !== undefined) node.visitSubs(visit);
        if (visitShared !== undefined && node.shared !== undefined) {
          for (const g of node.shared.values()) visitShared(g);
        }
      }
    } finally {
      this.#visiting--;
      if (walked !== undefined) for (let i = 0; i < n; i++) walked.found[i] = undefined;
    }
  }

  /** The cached nodes matching `topic`, if the tree has not changed since they were collected. */
  #cached(topic: string): TopicNode<S>[] | undefined {
    if (this.#cacheBytesMax === 0) return undefined;
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
    if (cached === undefined || cached.generation !== this.#generation) {
      this.#cacheStats.misses++;
      return undefined;
    }
    this.#cacheStats.hits++;
    this.#windowHits++;
    return cached.nodes;
  }

  /**
   * Cache the nodes just collected for `topic` (the first `n` of `found`).
   * The cached array is a copy that is never modified afterwards (a stale
   * entry gets a new array, not a refill), so a nested match from inside a
   * visit cannot disturb the outer one.
   */
  #admit(topic: string, found: readonly TopicNode<S>[], n: number): void {
    const stats = this.#cacheStats;
    const stale = this.#cache.get(topic);
    if (stale === undefined) {
      if (--this.#admitCountdown > 0) return;
      this.#admitCountdown = this.#admitEvery;
    }
    const bytes = topic.length * 2 + n * 8 + CACHE_ENTRY_OVERHEAD;
    if (bytes > this.#cacheBytesMax) return;
    const nodes = found.slice(0, n);
    if (stale !== undefined) {
      // Same topic, older generation: keep the slot.
      stats.bytes += bytes - stale.bytes;
      stale.bytes = bytes;
      stale.generation = this.#generation;
      stale.nodes = nodes;
    } else {
      this.#cache.set(topic, { generation: this.#generation, nodes, bytes });
      stats.bytes += bytes;
    }
    if (stats.bytes > this.#cacheBytesMax) this.#evict();
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
    const stats = this.#cacheStats;
    const target = Math.floor(this.#cacheBytesMax * 0.75);
    for (const [topic, entry] of this.#cache) {
      if (stats.bytes <= target) return;
      this.#cache.delete(topic);
      stats.bytes -= entry.bytes;
      stats.evictions++;
    }
  }

  /** All matching non-shared subscriptions as an array (allocates; for cold paths and tests). */
  matchAll(topic: string): TopicMatch<S>[] {
    const out: TopicMatch<S>[] = [];
    this.match(topic, (value, filter, key) => {
      out.push({ filter, key, value });
    });
    return out;
  }

  /** Every subscription, depth-first (allocates; for listings, snapshots and tests). */
  *entries(): IterableIterator<TopicMatch<S>> {
    const stack: TopicNode<S>[] = [this.#root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.subs !== undefined) {
        for (const [key, value] of node.subs) yield { filter: node.filter as string, key, value };
      } else if (node.soloKey !== undefined) {
        yield { filter: node.filter as string, key: node.soloKey, value: node.soloValue as S };
      }
      if (node.children !== undefined) for (const c of node.children.values()) stack.push(c);
      if (node.plus !== undefined) stack.push(node.plus);
      if (node.hash !== undefined) stack.push(node.hash);
    }
  }

  /**
   * Fill `buffers.found` with the nodes whose filter matches `topic`; return how many.
   * Depth-first with an explicit stack: (node, index of the next topic level).
   */
  #collect(topic: string, buffers: WalkBuffers<S>): number {
    const levels = topic.split('/');
    const n = levels.length;
    // [MQTT-4.7.2-1]: no `+` or `#` at the first level for `$` topics.
    const dollar = topic.charCodeAt(0) === 0x24;
    const { nodes, depths, found } = buffers;
    let foundCount = 0;
    let sp = 0;
    nodes[sp] = this.#root;
    depths[sp] = 0;
    sp++;
    while (sp > 0) {
      sp--;
      const node = nodes[sp] as TopicNode<S>;
      const i = depths[sp] as number;
      nodes[sp] = undefined;
      const wild = i > 0 || !dollar;
      // [MQTT-4.7.1-1]: `#` matches the remaining levels, zero included (parent level).
      if (node.hash !== undefined && wild) found[foundCount++] = node.hash;
      if (i === n) {
        if (node.hasSubs() || node.shared !== undefined) found[foundCount++] = node;
        continue;
      }
      const child = node.children?.get(levels[i] as string);
      if (child !== undefined) {
        nodes[sp] = child;
        depths[sp] = i + 1;
        sp++;
      }
      // [MQTT-4.7.1-2]: `+` matches exactly one level, an empty one included.
      if (node.plus !== undefined && wild) {
        nodes[sp] = node.plus;
        depths[sp] = i + 1;
        sp++;
      }
    }
    return foundCount;
  }

  /** Walk to the node for `filter`, creating nodes as needed. */
  #ensure(filter: string): TopicNode<S> {
    this.#assertNotVisiting();
    const check = validateTopicFilter(filter);
    if (!check.ok) throw new TypeError(`invalid topic filter ${JSON.stringify(filter)}: ${check.reason}`);
    let node = this.#root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const level = slash === -1 ? filter.slice(start) : filter.slice(start, slash);
      let next: TopicNode<S> | undefined;
      if (level === '+') {
        next = node.plus;
        if (next === undefined) next = node.plus = this.#newNode();
      } else if (level === '#') {
        next = node.hash;
        if (next === undefined) next = node.hash = this.#newNode();
      } else {
        node.children ??= new Map();
        next = node.children.get(level);
        if (next === undefined) {
          next = this.#newNode();
          node.children.set(level, next);
        }
      }
      node = next;
      if (slash === -1) return node;
      start = slash + 1;
    }
  }

  #newNode(): TopicNode<S> {
    this.#nodeCount++;
    return new TopicNode<S>();
  }

  /** The nodes from the root (index 0) to the node for `filter`, or undefined if absent. */
  #path(filter: string): TopicNode<S>[] | undefined {
    const path: TopicNode<S>[] = [this.#root];
    let node: TopicNode<S> | undefined = this.#root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf('/', start);
      const level = slash === -1 ? filter.slice(start) : filter.slice(start, slash);
      node = level === '+' ? node.plus : level === '#' ? node.hash : node.children?.get(level);
      if (node === undefined) return undefined;
      path.push(node);
      if (slash === -1) return path;
      start = slash + 1;
    }
  }

  /** Unlink emptied nodes bottom-up along `path` (the nodes for `filter`'s levels). */
  #prune(path: TopicNode<S>[], filter: string): void {
    const last = path[path.length - 1] as TopicNode<S>;
    if (!last.hasSubs() && last.shared === undefined) last.filter = undefined;
    let end = filter.length;
    for (let d = path.length - 1; d > 0; d--) {
      const node = path[d] as TopicNode<S>;
      if (!node.isEmpty()) return;
      const parent = path[d - 1] as TopicNode<S>;
      const slash = d === 1 ? -1 : filter.lastIndexOf('/', end - 1);
      const level = filter.slice(slash + 1, end);
      if (level === '+') parent.plus = undefined;
      else if (level === '#') parent.hash = undefined;
      else {
        parent.children?.delete(level);
        if (parent.children?.size === 0) parent.children = undefined;
      }
      this.#nodeCount--;
      end = slash;
    }
  }

  #assertNotVisiting(): void {
    if (this.#visiting > 0) throw new Error('TopicTree modified during a match visit');
  }
}
