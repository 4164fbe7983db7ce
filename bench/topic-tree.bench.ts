/**
 * Micro benchmark of the MQTT subscription index (ts/mqtt/topic-tree.ts).
 *
 * Run: node bench/topic-tree.bench.ts   (Node 24 strips the types)
 *
 * For 1k / 100k / 1M subscriptions it builds a tree with an IoT-like mix of
 * filters, then matches random telemetry topics and prints, per size: build
 * rate, heap growth (heapUsed after a forced GC), match throughput and µs per
 * match (median of RUNS runs), the average number of subscriptions each topic
 * matched, and the cost of removing everything (node count must return to 0).
 * For the two smaller sizes it also times a naive linear scan over all
 * filters, to show that the trie's cost does not follow the subscription count.
 *
 * Filter mix, for `site/{s}/dev/{d}/...` with 1000 devices per site:
 *   70% exact   site/{s}/dev/{d}/telemetry
 *   15% `+`     site/{s}/dev/{d}/+
 *    5% `+`     site/{s}/+/{d}/telemetry
 *    5% `#`     site/{s}/dev/{d}/#
 *    5% `#`     site/{s}/#            (dashboards: one per site, many clients)
 * No assertions: this prints figures.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TopicTree } from '../ts/mqtt/topic-tree.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SIZES = [1_000, 100_000, 1_000_000];
const RUNS = 7;
const MATCHES_PER_RUN = 200_000;
const TOPICS = 65_536;
const DEVICES_PER_SITE = 1_000;

type Sub = { clientId: string; qos: 0 | 1 | 2 };

/** mulberry32, so every run builds the same tree and topics. */
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

function filters(n: number, rand: () => number): string[] {
  const sites = Math.max(1, Math.ceil(n / DEVICES_PER_SITE));
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.floor(rand() * sites);
    const d = Math.floor(rand() * DEVICES_PER_SITE);
    const r = rand();
    out[i] =
      r < 0.7
        ? `site/${s}/dev/${d}/telemetry`
        : r < 0.85
          ? `site/${s}/dev/${d}/+`
          : r < 0.9
            ? `site/${s}/+/${d}/telemetry`
            : r < 0.95
              ? `site/${s}/dev/${d}/#`
              : `site/${s}/#`;
  }
  return out;
}

function topics(n: number, rand: () => number): string[] {
  const sites = Math.max(1, Math.ceil(n / DEVICES_PER_SITE));
  return Array.from(
    { length: TOPICS },
    () => `site/${Math.floor(rand() * sites)}/dev/${Math.floor(rand() * DEVICES_PER_SITE)}/telemetry`,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function naiveMatch(filter: string[], topic: string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    if (filter[i] === '#') return true;
    if (i >= topic.length) return false;
    if (filter[i] !== '+' && filter[i] !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

type Row = Record<string, string>;
const rows: Row[] = [];
const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits });

for (const n of SIZES) {
  const rand = prng(n);
  const fs = filters(n, rand);
  const ts = topics(n, rand);

  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const tree = new TopicTree<Sub>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tree.add(fs[i] as string, `c${i}`, { clientId: `c${i}`, qos: 1 });
  const buildMs = performance.now() - t0;
  gc();
  const heapBytes = process.memoryUsage().heapUsed - heapBefore;

  let hits = 0;
  const visit = () => {
    hits++;
  };
  for (let i = 0; i < 20_000; i++) tree.match(ts[i & (TOPICS - 1)] as string, visit); // warm-up
  const rates: number[] = [];
  let matched = 0;
  for (let run = 0; run < RUNS; run++) {
    hits = 0;
    const start = performance.now();
    for (let i = 0; i < MATCHES_PER_RUN; i++) tree.match(ts[i & (TOPICS - 1)] as string, visit);
    const ms = performance.now() - start;
    rates.push(MATCHES_PER_RUN / (ms / 1000));
    matched = hits;
  }
  const rate = median(rates);

  let scan = '-';
  if (n <= 100_000) {
    const split = fs.map((f) => f.split('/'));
    const count = n <= 1_000 ? 20_000 : 200;
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      let found = 0;
      const start = performance.now();
      for (let i = 0; i < count; i++) {
        const t = (ts[i & (TOPICS - 1)] as string).split('/');
        for (const f of split) if (naiveMatch(f, t)) found++;
      }
      times.push(((performance.now() - start) * 1000) / count);
      if (found < 0) console.log(found);
    }
    scan = fmt(median(times), 2);
  }

  const nodes = tree.nodeCount;
  const r0 = performance.now();
  for (let i = 0; i < n; i++) tree.remove(fs[i] as string, `c${i}`);
  const removeMs = performance.now() - r0;

  rows.push({
    subscriptions: fmt(n),
    nodes: fmt(nodes),
    'build (adds/s)': fmt(n / (buildMs / 1000)),
    'heap (MB)': fmt(heapBytes / 2 ** 20, 1),
    'B/sub': fmt(heapBytes / n),
    'matches/s': fmt(rate),
    'µs/match': fmt(1e6 / rate, 3),
    'subs hit/match': fmt(matched / MATCHES_PER_RUN, 2),
    'scan µs/match': scan,
    'remove (µs/op)': fmt((removeMs * 1000) / n, 3),
    'nodes after remove': fmt(tree.nodeCount),
  });
}

function printTable(data: Row[]): void {
  const cols = Object.keys(data[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...data.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(width[i] as number)).join(' | ');
  console.log(line(cols));
  console.log(width.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of data) console.log(line(cols.map((c) => r[c] ?? '')));
}

console.log(
  `topic-tree bench: node ${process.version}, median of ${RUNS} runs x ${fmt(MATCHES_PER_RUN)} matches`,
);
printTable(rows);
