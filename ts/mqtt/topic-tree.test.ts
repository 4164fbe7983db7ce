import { describe, expect, it } from 'vitest';
import { type SharedGroup, TopicTree } from './topic-tree.ts';

type Sub = { clientId: string; qos: 0 | 1 | 2 };

/** Sorted "filter key" strings of a topic's non-shared matches. */
function matches<S>(tree: TopicTree<S>, topic: string): string[] {
  return tree
    .matchAll(topic)
    .map((m) => `${m.filter} ${m.key}`)
    .sort();
}

/** Does `filter` match `topic`? One subscription per filter, keyed by the filter itself. */
function treeMatches(filters: string[], topic: string): string[] {
  const tree = new TopicTree<true>();
  for (const f of filters) tree.add(f, f, true);
  return tree
    .matchAll(topic)
    .map((m) => m.filter)
    .sort();
}

/** A reference matcher written straight from §4.7, level by level, with no trie. */
function naiveMatch(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1]
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** mulberry32: a small seeded PRNG, so the randomized test is deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('TopicTree matching: spec examples', () => {
  it('[MQTT-4.7.1-1] §4.7.1.2: sport/tennis/player1/# matches the parent and all children', () => {
    const f = ['sport/tennis/player1/#'];
    expect(treeMatches(f, 'sport/tennis/player1')).toEqual(f);
    expect(treeMatches(f, 'sport/tennis/player1/ranking')).toEqual(f);
    expect(treeMatches(f, 'sport/tennis/player1/score/wimbledon')).toEqual(f);
    expect(treeMatches(f, 'sport/tennis/player2')).toEqual([]);
    expect(treeMatches(f, 'sport/tennis')).toEqual([]);
  });

  it('[MQTT-4.7.1-1] §4.7.1.2: sport/# matches sport, since # includes the parent level', () => {
    expect(treeMatches(['sport/#'], 'sport')).toEqual(['sport/#']);
    expect(treeMatches(['sport/#'], 'sport/')).toEqual(['sport/#']);
    expect(treeMatches(['sport/#'], 'sports')).toEqual([]);
  });

  it('[MQTT-4.7.1-1] # alone matches every non-$ topic', () => {
    for (const topic of ['a', '/', '/a', 'a/b/c', 'a//']) expect(treeMatches(['#'], topic)).toEqual(['#']);
  });

  it('[MQTT-4.7.1-2] §4.7.1.3: sport/tennis/+ matches one level only', () => {
    const f = ['sport/tennis/+'];
    expect(treeMatches(f, 'sport/tennis/player1')).toEqual(f);
    expect(treeMatches(f, 'sport/tennis/player2')).toEqual(f);
    expect(treeMatches(f, 'sport/tennis/player1/ranking')).toEqual([]);
    expect(treeMatches(f, 'sport/tennis')).toEqual([]);
  });

  it('[MQTT-4.7.1-2] §4.7.1.3: sport/+ does not match sport but matches sport/', () => {
    expect(treeMatches(['sport/+'], 'sport')).toEqual([]);
    expect(treeMatches(['sport/+'], 'sport/')).toEqual(['sport/+']);
  });

  it('[MQTT-4.7.1-2] §4.7.1.3: + matches empty levels (/finance)', () => {
    const filters = ['+/+', '/+', '+', '+/finance', '/finance'];
    expect(treeMatches(filters, '/finance')).toEqual(['+/+', '+/finance', '/+', '/finance']);
    expect(treeMatches(['+'], '/finance')).toEqual([]);
    expect(treeMatches(['+'], 'finance')).toEqual(['+']);
  });

  it('[MQTT-4.7.1-2] §4.7.1.3: +/tennis/# and sport/+/player1 are valid and match', () => {
    expect(treeMatches(['+/tennis/#'], 'sport/tennis')).toEqual(['+/tennis/#']);
    expect(treeMatches(['+/tennis/#'], 'sport/tennis/player1/x')).toEqual(['+/tennis/#']);
    expect(treeMatches(['sport/+/player1'], 'sport/tennis/player1')).toEqual(['sport/+/player1']);
    expect(treeMatches(['sport/+/player1'], 'sport/tennis/player2')).toEqual([]);
  });

  it('§4.7.3: matching is case-sensitive and exact per level (ACCOUNTS vs Accounts, spaces)', () => {
    expect(treeMatches(['ACCOUNTS'], 'Accounts')).toEqual([]);
    expect(treeMatches(['Accounts payable'], 'Accounts payable')).toEqual(['Accounts payable']);
    expect(treeMatches(['a/b'], 'a/b/')).toEqual([]);
    expect(treeMatches(['/'], '/')).toEqual(['/']);
  });
});

describe('TopicTree matching: $ topics', () => {
  const filters = ['#', '+/monitor/Clients', '+/#', '$SYS/#', '$SYS/monitor/+', '$SYS/monitor/Clients', '+'];

  it('[MQTT-4.7.2-1] # does not match $SYS topics', () => {
    expect(treeMatches(['#'], '$SYS/monitor/Clients')).toEqual([]);
    expect(treeMatches(['#'], '$SYS')).toEqual([]);
  });

  it('[MQTT-4.7.2-1] +/monitor/Clients does not match $SYS/monitor/Clients', () => {
    expect(treeMatches(['+/monitor/Clients'], '$SYS/monitor/Clients')).toEqual([]);
    expect(treeMatches(['+'], '$SYS')).toEqual([]);
  });

  it('[MQTT-4.7.2-1] $SYS/# and $SYS/monitor/+ match $SYS/monitor/Clients', () => {
    expect(treeMatches(filters, '$SYS/monitor/Clients')).toEqual([
      '$SYS/#',
      '$SYS/monitor/+',
      '$SYS/monitor/Clients',
    ]);
    expect(treeMatches(filters, '$SYS')).toEqual(['$SYS/#']);
  });

  it('[MQTT-4.7.2-1] applies to the first level only', () => {
    expect(treeMatches(filters, 'x/monitor/Clients')).toEqual(['#', '+/#', '+/monitor/Clients']);
    expect(treeMatches(['a/+', 'a/#'], 'a/$x')).toEqual(['a/#', 'a/+']);
    expect(treeMatches(['#', '+'], 'x$')).toEqual(['#', '+']);
  });
});

describe('TopicTree subscriptions', () => {
  it('add replaces the value for the same (filter, key) and reports whether it was new', () => {
    const tree = new TopicTree<Sub>();
    expect(tree.add('a/+', 'c1', { clientId: 'c1', qos: 0 })).toBe(true);
    expect(tree.add('a/+', 'c1', { clientId: 'c1', qos: 2 })).toBe(false);
    expect(tree.add('a/+', 'c2', { clientId: 'c2', qos: 1 })).toBe(true);
    expect(tree.size).toBe(2);
    expect(tree.get('a/+', 'c1')).toEqual({ clientId: 'c1', qos: 2 });
    expect(tree.matchAll('a/b').map((m) => m.value.qos)).toEqual([2, 1]);
  });

  it('visits every overlapping subscription of one client, with its filter (MQTT 5 subscription ids)', () => {
    const tree = new TopicTree<Sub>();
    for (const f of ['sport/#', 'sport/tennis/+', 'sport/tennis/player1', '+/+/player1', '#', 'other']) {
      tree.add(f, 'c1', { clientId: 'c1', qos: 1 });
    }
    tree.add('sport/#', 'c2', { clientId: 'c2', qos: 0 });
    expect(matches(tree, 'sport/tennis/player1')).toEqual([
      '# c1',
      '+/+/player1 c1',
      'sport/# c1',
      'sport/# c2',
      'sport/tennis/+ c1',
      'sport/tennis/player1 c1',
    ]);
    const seen: [string, string][] = [];
    tree.match('sport', (value, filter) => seen.push([filter, value.clientId]));
    expect(seen.sort()).toEqual([
      ['#', 'c1'],
      ['sport/#', 'c1'],
      ['sport/#', 'c2'],
    ]);
  });

  it('remove returns whether the subscription existed and only removes that key', () => {
    const tree = new TopicTree<number>();
    tree.add('a/b', 'k1', 1);
    tree.add('a/b', 'k2', 2);
    expect(tree.remove('a/b', 'k3')).toBe(false);
    expect(tree.remove('a/c', 'k1')).toBe(false);
    expect(tree.remove('a/#', 'k1')).toBe(false);
    expect(tree.remove('a/b', 'k1')).toBe(true);
    expect(tree.remove('a/b', 'k1')).toBe(false);
    expect(matches(tree, 'a/b')).toEqual(['a/b k2']);
    expect(tree.size).toBe(1);
  });

  it('prunes emptied nodes: node count returns to zero after removing everything', () => {
    const tree = new TopicTree<number>();
    const filters = [
      'a/b/c',
      'a/b',
      'a/+/c',
      'a/#',
      '#',
      '+',
      '/',
      '//',
      '+/+',
      'a//#',
      'x/y/z/w/#',
      'a/b/c/d',
    ];
    for (const f of filters) tree.add(f, 'k', 1);
    tree.addShared('g', 'a/b/c', 'k', 1);
    tree.addShared('g', 'q/+', 'k', 1);
    expect(tree.nodeCount).toBeGreaterThan(0);
    // Remove deepest-last and in insertion order alike; both must end at zero.
    for (const f of filters) expect(tree.remove(f, 'k'), f).toBe(true);
    expect(tree.nodeCount).toBeGreaterThan(0);
    expect(tree.removeShared('g', 'a/b/c', 'k')).toBe(true);
    expect(tree.removeShared('g', 'q/+', 'k')).toBe(true);
    expect(tree.nodeCount).toBe(0);
    expect(tree.size).toBe(0);
    expect(tree.sharedSize).toBe(0);
    expect(tree.matchAll('a/b/c')).toEqual([]);
  });

  it('keeps the nodes still needed by other filters while pruning', () => {
    const tree = new TopicTree<number>();
    tree.add('a/b/c/d', 'k', 1); // a, b, c, d
    tree.add('a/b', 'k', 1);
    expect(tree.nodeCount).toBe(4);
    tree.remove('a/b/c/d', 'k');
    expect(tree.nodeCount).toBe(2);
    expect(matches(tree, 'a/b')).toEqual(['a/b k']);
    tree.add('a/b/+', 'k', 1);
    tree.remove('a/b', 'k');
    expect(tree.nodeCount).toBe(3);
    expect(matches(tree, 'a/b/x')).toEqual(['a/b/+ k']);
    expect(matches(tree, 'a/b')).toEqual([]);
  });

  it('does not grow under subscribe/unsubscribe churn', () => {
    const tree = new TopicTree<number>();
    tree.add('base/#', 'keep', 0);
    const base = tree.nodeCount;
    for (let i = 0; i < 10_000; i++) {
      const f = `dev/${i}/${i % 7 === 0 ? '+' : 'cmd'}/${i % 3 === 0 ? '#' : 'x'}`;
      tree.add(f, `c${i}`, i);
      tree.addShared(`g${i % 5}`, f, `c${i}`, i);
      if (i >= 100) {
        const j = i - 100;
        const g = `dev/${j}/${j % 7 === 0 ? '+' : 'cmd'}/${j % 3 === 0 ? '#' : 'x'}`;
        expect(tree.remove(g, `c${j}`)).toBe(true);
        expect(tree.removeShared(`g${j % 5}`, g, `c${j}`)).toBe(true);
      }
    }
    expect(tree.size).toBe(101);
    expect(tree.nodeCount).toBe(base + 1 + 100 * 3);
  });

  it('refuses an invalid filter as a caller bug', () => {
    const tree = new TopicTree<number>();
    expect(() => tree.add('a/#/b', 'k', 1)).toThrow(/multi-level-wildcard-not-last/);
    expect(() => tree.add('', 'k', 1)).toThrow(/empty/);
    expect(() => tree.addShared('g', 'a+', 'k', 1)).toThrow(/single-level-wildcard-not-alone/);
    expect(tree.nodeCount).toBe(0);
  });

  it('asserts that a visit does not modify the tree, but allows nested matches', () => {
    const tree = new TopicTree<number>();
    tree.add('a/#', 'k1', 1);
    tree.add('a/b', 'k2', 2);
    expect(() => tree.match('a/b', () => tree.add('x', 'k', 0))).toThrow(/modified during a match/);
    expect(() => tree.match('a/b', () => tree.remove('a/b', 'k2'))).toThrow(/modified during a match/);
    const nested: string[] = [];
    tree.match('a/b', (_v, filter) => {
      tree.match('a/c', (_w, inner) => nested.push(`${filter}>${inner}`));
    });
    expect(nested.sort()).toEqual(['a/#>a/#', 'a/b>a/#']);
    // The tree is usable after a visit threw.
    tree.add('x', 'k', 0);
    expect(matches(tree, 'a/b')).toEqual(['a/# k1', 'a/b k2']);
  });

  it('handles a 30k-level topic and filter without overflowing the stack', () => {
    const tree = new TopicTree<number>();
    const depth = 30_000;
    tree.add(Array(depth).fill('+').join('/'), 'deep', 1);
    tree.add('a/#', 'hash', 1);
    const topic = Array(depth).fill('a').join('/');
    expect(matches(tree, topic)).toEqual(['a/# hash', `${Array(depth).fill('+').join('/')} deep`].sort());
    expect(tree.remove(Array(depth).fill('+').join('/'), 'deep')).toBe(true);
    expect(tree.nodeCount).toBe(2);
  });

  it('lists every subscription with entries()', () => {
    const tree = new TopicTree<number>();
    tree.add('a', 'k1', 1);
    tree.add('a/+', 'k2', 2);
    tree.add('#', 'k3', 3);
    tree.addShared('g', 'a', 'k4', 4);
    expect([...tree.entries()].map((e) => `${e.filter} ${e.key} ${e.value}`).sort()).toEqual([
      '# k3 3',
      'a k1 1',
      'a/+ k2 2',
    ]);
  });
});

describe('TopicTree shared subscriptions', () => {
  function groups(tree: TopicTree<Sub>, topic: string): string[] {
    const out: string[] = [];
    tree.matchShared(topic, (g) => out.push(`${g.group} ${g.filter} [${[...g.entries()].map(([k]) => k)}]`));
    return out.sort();
  }

  it('[MQTT-4.8.2-1] keys groups by (ShareName, filter) and returns their members', () => {
    const tree = new TopicTree<Sub>();
    tree.addShared('g1', 'sport/+', 'c1', { clientId: 'c1', qos: 1 });
    tree.addShared('g1', 'sport/+', 'c2', { clientId: 'c2', qos: 1 });
    tree.addShared('g1', 'sport/#', 'c3', { clientId: 'c3', qos: 1 });
    tree.addShared('g2', 'sport/+', 'c1', { clientId: 'c1', qos: 0 });
    tree.add('sport/+', 'c9', { clientId: 'c9', qos: 0 });
    expect(groups(tree, 'sport/tennis')).toEqual([
      'g1 sport/# [c3]',
      'g1 sport/+ [c1,c2]',
      'g2 sport/+ [c1]',
    ]);
    expect(groups(tree, 'sport')).toEqual(['g1 sport/# [c3]']);
    // Shared members are not plain subscribers, and the reverse.
    expect(matches(tree, 'sport/tennis')).toEqual(['sport/+ c9']);
    expect(tree.size).toBe(1);
    expect(tree.sharedSize).toBe(4);
  });

  it('addShared replaces a member value; removeShared drops empty groups', () => {
    const tree = new TopicTree<Sub>();
    expect(tree.addShared('g', 'a', 'c1', { clientId: 'c1', qos: 0 })).toBe(true);
    expect(tree.addShared('g', 'a', 'c1', { clientId: 'c1', qos: 2 })).toBe(false);
    expect(tree.getShared('g', 'a')?.get('c1')?.qos).toBe(2);
    expect(tree.removeShared('g', 'a', 'c2')).toBe(false);
    expect(tree.removeShared('h', 'a', 'c1')).toBe(false);
    expect(tree.removeShared('g', 'a', 'c1')).toBe(true);
    expect(tree.getShared('g', 'a')).toBeUndefined();
    expect(groups(tree, 'a')).toEqual([]);
    expect(tree.nodeCount).toBe(0);
  });

  it('[MQTT-4.7.2-1] shared filters starting with a wildcard do not match $ topics', () => {
    const tree = new TopicTree<Sub>();
    tree.addShared('g', '#', 'c1', { clientId: 'c1', qos: 0 });
    tree.addShared('g', '$SYS/#', 'c1', { clientId: 'c1', qos: 0 });
    expect(groups(tree, '$SYS/x')).toEqual(['g $SYS/# [c1]']);
    expect(groups(tree, 'x')).toEqual(['g # [c1]']);
  });

  it('matchWith visits plain and shared subscriptions in one walk', () => {
    const tree = new TopicTree<Sub>();
    tree.add('a/#', 'c1', { clientId: 'c1', qos: 0 });
    tree.addShared('g', 'a/+', 'c2', { clientId: 'c2', qos: 0 });
    const seen: string[] = [];
    tree.matchWith(
      'a/b',
      (v, f) => seen.push(`plain ${f} ${v.clientId}`),
      (g) => seen.push(`shared ${g.group} ${g.filter}`),
    );
    expect(seen.sort()).toEqual(['plain a/# c1', 'shared g a/+']);
  });

  describe('pickRoundRobin (the distribution strategy)', () => {
    function group(keys: string[]): { tree: TopicTree<Sub>; g: SharedGroup<Sub> } {
      const tree = new TopicTree<Sub>();
      for (const k of keys) tree.addShared('g', 't', k, { clientId: k, qos: 1 });
      const g = tree.getShared('g', 't');
      if (g === undefined) throw new Error('group missing');
      return { tree, g };
    }
    const pick = (g: SharedGroup<Sub>, n: number, available?: (v: Sub) => boolean) =>
      Array.from({ length: n }, () => g.pickRoundRobin(available)?.clientId ?? '-');

    it('cycles through the members in turn', () => {
      const { g } = group(['a', 'b', 'c']);
      expect(pick(g, 7)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    });

    it('skips members that are not available, without losing its place', () => {
      const { g } = group(['a', 'b', 'c', 'd']);
      const down = new Set(['b']);
      const up = (v: Sub) => !down.has(v.clientId);
      expect(pick(g, 5, up)).toEqual(['a', 'c', 'd', 'a', 'c']);
      down.clear();
      expect(pick(g, 4, up)).toEqual(['d', 'a', 'b', 'c']);
    });

    it('returns undefined when no member is available', () => {
      const { g } = group(['a', 'b']);
      expect(g.pickRoundRobin(() => false)).toBeUndefined();
      expect(g.pickRoundRobin()?.clientId).toBe('a');
    });

    it('stays fair and in range across member removal', () => {
      const { tree, g } = group(['a', 'b', 'c', 'd']);
      expect(pick(g, 3)).toEqual(['a', 'b', 'c']);
      tree.removeShared('g', 't', 'd'); // the next one to pick is gone
      expect(pick(g, 3)).toEqual(['a', 'b', 'c']);
      tree.removeShared('g', 't', 'a'); // the last member moves into a's slot
      expect(g.size).toBe(2);
      const counts = new Map<string, number>();
      for (const k of pick(g, 100)) counts.set(k, (counts.get(k) ?? 0) + 1);
      expect(Object.fromEntries(counts)).toEqual({ b: 50, c: 50 });
      expect(g.keyAt(0)).toBe('c');
      expect(() => g.keyAt(2)).toThrow(RangeError);
      expect(() => g.valueAt(-1)).toThrow(RangeError);
    });

    it('returns undefined for a group that became empty', () => {
      const { tree, g } = group(['a']);
      tree.removeShared('g', 't', 'a');
      expect(g.pickRoundRobin()).toBeUndefined();
    });
  });
});

describe('TopicTree vs a naive reference matcher (seeded, randomized)', () => {
  const words = ['a', 'b', 'c', '', '$SYS', '$x', 'sport', 'é'];

  function randomTopic(rand: () => number): string {
    const depth = 1 + Math.floor(rand() * 5);
    const levels: string[] = [];
    for (let i = 0; i < depth; i++) {
      let w = words[Math.floor(rand() * words.length)] as string;
      if (i > 0 && w.startsWith('$') && rand() < 0.5) w = 'a';
      levels.push(w);
    }
    return levels.join('/') || '/'; // [MQTT-4.7.3-1]: never empty
  }

  function randomFilter(rand: () => number): string {
    const depth = 1 + Math.floor(rand() * 5);
    const levels: string[] = [];
    for (let i = 0; i < depth; i++) {
      const r = rand();
      if (i === depth - 1 && r < 0.2) levels.push('#');
      else if (r < 0.45) levels.push('+');
      else levels.push(words[Math.floor(rand() * words.length)] as string);
    }
    return levels.join('/') || '/'; // [MQTT-4.7.3-1]: never empty
  }

  for (const seed of [1, 2, 3, 42, 2024]) {
    it(`[MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.2-1] agrees on every match (seed ${seed})`, () => {
      const rand = prng(seed);
      const tree = new TopicTree<number>();
      const live = new Map<string, number>(); // "filter\u0000key" -> value
      let matched = 0;
      for (let step = 0; step < 3000; step++) {
        const filter = randomFilter(rand);
        const key = `c${Math.floor(rand() * 20)}`;
        const id = `${filter}\u0000${key}`;
        if (rand() < 0.3) {
          expect(tree.remove(filter, key)).toBe(live.delete(id));
        } else {
          expect(tree.add(filter, key, step)).toBe(!live.has(id));
          live.set(id, step);
        }
        if (step % 10 === 0) {
          const topic = randomTopic(rand);
          const expected = [...live]
            .filter(([id]) => naiveMatch(id.split('\u0000')[0] as string, topic))
            .map(([id, v]) => `${id.replace('\u0000', ' ')} ${v}`)
            .sort();
          const got = tree
            .matchAll(topic)
            .map((m) => `${m.filter} ${m.key} ${m.value}`)
            .sort();
          expect(got, topic).toEqual(expected);
          matched += got.length;
        }
      }
      expect(matched).toBeGreaterThan(300); // the generator does exercise matching
      expect(tree.size).toBe(live.size);
      for (const id of live.keys()) {
        const [filter, key] = id.split('\u0000') as [string, string];
        expect(tree.remove(filter, key)).toBe(true);
      }
      expect(tree.size).toBe(0);
      expect(tree.nodeCount).toBe(0);
    });
  }
});

describe('match cache', () => {
  const topics = ['a/b/c', 'a/b', 'a', '$SYS/x', 'a//c', 'b/b/b', '/a', 'a/b/c/d'];
  const filters = ['a/#', '#', '+/b/+', 'a/b/c', '$SYS/#', '+', '/+', 'a/+/c', '+/+', 'b/#', 'a/b/c/d'];

  for (const cacheBytesMax of [0, 300, 1024 * 1024]) {
    it(`[MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.2-1] repeated topics stay correct across subscription changes (cache ${cacheBytesMax} B)`, () => {
      const rand = prng(7);
      const tree = new TopicTree<number>({ cacheBytesMax });
      const live = new Map<string, number>();
      for (let step = 0; step < 4000; step++) {
        const filter = filters[Math.floor(rand() * filters.length)] as string;
        const key = `c${Math.floor(rand() * 3)}`;
        const id = `${filter}\u0000${key}`;
        const r = rand();
        if (r < 0.05) {
          expect(tree.remove(filter, key)).toBe(live.delete(id));
        } else if (r < 0.1) {
          tree.add(filter, key, step);
          live.set(id, step); // a replaced value must show without invalidation
        }
        const topic = topics[Math.floor(rand() * topics.length)] as string;
        const expected = [...live]
          .filter(([id]) => naiveMatch(id.split('\u0000')[0] as string, topic))
          .map(([id, v]) => `${id.replace('\u0000', ' ')} ${v}`)
          .sort();
        const got = tree
          .matchAll(topic)
          .map((m) => `${m.filter} ${m.key} ${m.value}`)
          .sort();
        expect(got, topic).toEqual(expected);
      }
      const stats = tree.cacheStats;
      if (cacheBytesMax === 0) {
        expect(stats.entries).toBe(0);
        expect(stats.hits).toBe(0);
      } else {
        expect(stats.hits).toBeGreaterThan(cacheBytesMax === 300 ? 100 : 1000); // the cache is used
        expect(stats.bytes).toBeLessThanOrEqual(cacheBytesMax);
      }
      if (cacheBytesMax === 300) expect(stats.evictions).toBeGreaterThan(0);
    });
  }

  it('[MQTT-4.8.2-1] shared groups joined or left after a topic was cached are seen', () => {
    const tree = new TopicTree<string>();
    const groups = (topic: string): string[] => {
      const out: string[] = [];
      tree.matchShared(topic, (g) => out.push(`${g.group} ${g.filter} ${g.size}`));
      return out.sort();
    };
    expect(groups('s/1')).toEqual([]);
    tree.addShared('g', 's/+', 'c1', 'v1');
    expect(groups('s/1')).toEqual(['g s/+ 1']);
    tree.addShared('g', 's/+', 'c2', 'v2');
    tree.addShared('h', 's/#', 'c3', 'v3');
    expect(groups('s/1')).toEqual(['g s/+ 2', 'h s/# 1']);
    tree.removeShared('g', 's/+', 'c1');
    tree.removeShared('g', 's/+', 'c2');
    expect(groups('s/1')).toEqual(['h s/# 1']);
    expect(tree.nodeCount).toBe(2); // s and s/#: emptied nodes are pruned as before
  });

  it('stays within its byte bound with many distinct topics', () => {
    const tree = new TopicTree<number>({ cacheBytesMax: 10_000 });
    tree.add('t/#', 'c', 1);
    for (let i = 0; i < 5000; i++) expect(tree.matchAll(`t/${i}`)).toHaveLength(1);
    const stats = tree.cacheStats;
    expect(stats.bytes).toBeLessThanOrEqual(10_000);
    expect(stats.entries).toBeGreaterThan(10);
    expect(stats.entries).toBeLessThan(5000);
    expect(stats.evictions).toBeGreaterThan(0);
    // After a stream of topics that never repeat, admission is sampled; a topic that repeats still gets in.
    const hits = stats.hits;
    for (let i = 0; i < 100; i++) expect(tree.matchAll('t/hot')).toHaveLength(1);
    expect(tree.cacheStats.hits).toBeGreaterThan(hits + 50);
    // A topic larger than the whole bound is matched, never cached.
    const long = `t/${'x'.repeat(20_000)}`;
    expect(tree.matchAll(long)).toHaveLength(1);
    expect(tree.matchAll(long)).toHaveLength(1);
    expect(tree.cacheStats.bytes).toBeLessThanOrEqual(10_000);
  });
});
