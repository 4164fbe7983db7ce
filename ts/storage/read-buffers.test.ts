import { describe, expect, it } from 'vitest';
import { ReadBuffers } from './read-buffers.ts';

describe('ReadBuffers', () => {
  it('lends at most max buffers, reuses given-back ones and counts misses', () => {
    let misses = 0;
    const pool = new ReadBuffers({ bytes: 1024, max: 2 }, { miss: () => misses++ });
    const a = pool.take(1024) as Buffer;
    const b = pool.take(10) as Buffer;
    expect(a.length).toBe(1024);
    expect(a.buffer).not.toBe(b.buffer);
    expect(pool.take(1)).toBeUndefined();
    expect([pool.lent, pool.made, misses]).toEqual([2, 2, 1]);
    pool.give(a);
    expect(pool.take(1)).toBe(a);
    expect([pool.lent, pool.made]).toEqual([2, 2]);
  });

  it('refuses reads larger than a buffer without lending one', () => {
    let misses = 0;
    const pool = new ReadBuffers({ bytes: 1024, max: 2 }, { miss: () => misses++ });
    expect(pool.take(1025)).toBeUndefined();
    expect([pool.lent, pool.made, misses]).toEqual([0, 0, 1]);
  });

  it('ignores a second give, so a buffer is never lent to two readers', () => {
    const pool = new ReadBuffers({ bytes: 64, max: 2 });
    const a = pool.take(64) as Buffer;
    pool.give(a);
    pool.give(a);
    expect(pool.lent).toBe(0);
    const x = pool.take(64);
    const y = pool.take(64);
    expect(x).toBe(a);
    expect(y).not.toBe(a);
  });

  it('with max 0 never lends', () => {
    const pool = new ReadBuffers({ bytes: 64, max: 0 });
    expect(pool.take(1)).toBeUndefined();
    expect(pool.made).toBe(0);
  });
});
