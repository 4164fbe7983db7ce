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
 * Match cache (match-cache.ts): the matched nodes of a topic are kept and
 * reused while the tree has not changed shape: every add or remove that
 * creates or empties a subscription bumps `#generation`.
 *
 * Rules implemented: [MQTT-4.7.1-1] `#` matches the parent level and any
 * number of child levels (`sport/#` matches `sport`); [MQTT-4.7.1-2] `+`
 * matches exactly one level, including an empty one (`+/+` matches
 * `/finance`); [MQTT-4.7.2-1] filters starting with `+` or `#` do not match
 * topics starting with `$`.
 */
import { MatchCache, type TopicCacheStats } from './match-cache.ts';
import { Group, type SharedGroup } from './shared-group.ts';
import { validateTopicFilter } from './topic.ts';
import { type MatchVisitor, TopicNode } from './topic-node.ts';

export type { TopicCacheStats } from './match-cache.ts';
export type { MemberAvailable, SharedGroup } from './shared-group.ts';
export type { MatchVisitor } from './topic-node.ts';

export type TopicMatch<S> = { readonly filter: string; readonly key: string; readonly value: S };

/** Reusable walk buffers; a nested match (from inside a visit) gets its own. */
type WalkBuffers<S> = {
  nodes: (TopicNode<S> | undefined)[];
  depths: number[];
  found: (TopicNode<S> | undefined)[];
};

function newBuffers<S>(): WalkBuffers<S> {
  return { nodes: [], depths: [], found: [] };
}

export interface TopicTreeOptions {
  /** Bound of the match cache in (estimated) bytes; 0 disables it. */
  cacheBytesMax?: number;
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
  readonly #cache: MatchCache<TopicNode<S>>;

  constructor(options: TopicTreeOptions = {}) {
    this.#cache = new MatchCache(options.cacheBytesMax ?? 1024 * 1024);
  }

  /** Match cache counters (a live object: read it, do not keep it). */
  get cacheStats(): Readonly<TopicCacheStats> {
    return this.#cache.stats;
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
    let nodes = this.#cache.get(topic, this.#generation);
    let n: number;
    let walked: WalkBuffers<S> | undefined;
    if (nodes !== undefined) {
      n = nodes.length;
    } else {
      walked = this.#visiting === 0 ? this.#buffers : newBuffers<S>();
      n = this.#collect(topic, walked);
      nodes = walked.found as TopicNode<S>[];
      if (this.#cache.bytesMax > 0) this.#cache.admit(topic, nodes, n, this.#generation);
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
