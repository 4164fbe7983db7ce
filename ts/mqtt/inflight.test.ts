import { describe, expect, it } from 'vitest';
import { InflightWindow } from './inflight.ts';

/** Deterministic PRNG (mulberry32), so a failure repeats. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('InflightWindow', () => {
  it('agrees with a Map under random sends, acks out of order and growth', () => {
    const r = rng(7);
    const w = new InflightWindow<string>();
    const ref = new Map<number, string>();
    const live: number[] = [];
    for (let step = 0; step < 100_000; step++) {
      // Windows swing between empty and a few thousand entries, acks mostly oldest first.
      const target = step % 20_000 < 10_000 ? 3000 : 0;
      if (ref.size < target && r() < 0.7) {
        const id = w.nextId() as number;
        expect(id).toBeGreaterThanOrEqual(1);
        expect(id).toBeLessThanOrEqual(65_535);
        expect(ref.has(id)).toBe(false); // [MQTT-2.2.1-3]: never an id in flight
        w.set(id, `m${step}`);
        ref.set(id, `m${step}`);
        live.push(id);
      } else if (ref.size > 0) {
        const oldest = ref.keys().next().value as number;
        const id = r() < 0.8 ? oldest : (live[Math.floor(r() * live.length)] as number);
        const at = live.indexOf(id);
        live[at] = live[live.length - 1] as number;
        live.pop();
        expect(w.get(id)).toBe(ref.get(id));
        expect(w.delete(id)).toBe(true);
        ref.delete(id);
        expect(w.get(id)).toBeUndefined();
        expect(w.delete(id)).toBe(false);
      }
      expect(w.size).toBe(ref.size);
    }
    expect(w.entries()).toEqual([...ref.entries()]);
  });

  it('lists entries in the order they were added (redelivery order), ids wrapping past 65535', () => {
    const w = new InflightWindow<number>();
    w.set(65_534, 1); // as restored from the store: the next ids follow it
    const ids = [65_534];
    for (let i = 2; i <= 5; i++) {
      const id = w.nextId() as number;
      w.set(id, i);
      ids.push(id);
    }
    expect(ids).toEqual([65_534, 65_535, 1, 2, 3]);
    w.delete(1);
    expect(w.entries()).toEqual([
      [65_534, 1],
      [65_535, 2],
      [2, 4],
      [3, 5],
    ]);
  });

  it('takes restored ids that share a slot by growing, and lookups by an id not in flight miss', () => {
    const w = new InflightWindow<string>();
    w.set(5, 'a');
    w.set(5 + 16, 'b'); // same slot of the initial 16
    w.set(5 + 65_536 / 2, 'c');
    expect(w.get(5)).toBe('a');
    expect(w.get(21)).toBe('b');
    expect(w.get(5 + 32_768)).toBe('c');
    expect(w.get(37)).toBeUndefined();
    expect(w.size).toBe(3);
  });

  it('hands out all 65535 ids, then none until one is acknowledged', () => {
    const w = new InflightWindow<number>();
    const seen = new Set<number>();
    for (let i = 0; i < 65_535; i++) {
      const id = w.nextId() as number;
      w.set(id, i);
      seen.add(id);
    }
    expect(seen.size).toBe(65_535);
    expect(seen.has(0)).toBe(false);
    expect(w.nextId()).toBeUndefined();
    w.delete(777);
    expect(w.nextId()).toBe(777);
    w.clear();
    expect(w.size).toBe(0);
    expect(w.get(777)).toBeUndefined();
  });
});
