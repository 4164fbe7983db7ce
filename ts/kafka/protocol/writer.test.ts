import { describe, expect, it } from 'vitest';
import { isSameValue, KafkaWriter } from './writer.ts';

describe('KafkaWriter.finishParts', () => {
  it('keeps big byte fields as the caller’s Buffers, in order, and the parts join to finish()', () => {
    const big = Buffer.alloc(20_000, 7);
    const other = Buffer.alloc(17_000, 9);
    const write = (w: KafkaWriter): void => {
      w.int32(1);
      w.bytes(big, false);
      w.int16(2);
      w.bytes(other, true);
      w.int8(3);
    };
    const joined = new KafkaWriter();
    write(joined);
    const whole = joined.finish();
    const w = new KafkaWriter();
    write(w);
    const parts = w.finishParts();
    expect(parts.some((p) => p === big)).toBe(true);
    expect(parts.some((p) => p === other)).toBe(true);
    expect(Buffer.concat(parts).equals(whole)).toBe(true);
    expect(whole.length).toBe(4 + 4 + big.length + 2 + 3 + other.length + 1);
  });

  it('returns one part when nothing was kept by reference', () => {
    const w = new KafkaWriter(4);
    w.int64(5n);
    w.string('hello', true);
    const parts = w.finishParts();
    expect(parts).toHaveLength(1);
    expect(parts[0]?.length).toBe(8 + 1 + 5);
  });
});

describe('isSameValue', () => {
  it('compares decoded values deeply, ignoring fields that are undefined', () => {
    expect(isSameValue({ leaderId: -1, leaderEpoch: -1 }, { leaderId: -1, leaderEpoch: -1 })).toBe(true);
    expect(isSameValue({ leaderId: -1, leaderEpoch: -1 }, { leaderId: 2, leaderEpoch: -1 })).toBe(false);
    expect(isSameValue({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(isSameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(isSameValue({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(
      isSameValue({ e: -1n, xs: [1, { y: Buffer.from('z') }] }, { e: -1n, xs: [1, { y: Buffer.from('z') }] }),
    ).toBe(true);
    expect(isSameValue({ xs: [1, 2] }, { xs: [1] })).toBe(false);
    expect(isSameValue({ xs: [1, 2] }, { xs: [1, 3] })).toBe(false);
    expect(isSameValue([1], { 0: 1 })).toBe(false);
    expect(isSameValue(null, {})).toBe(false);
    expect(isSameValue(Buffer.from('a'), Buffer.from('b'))).toBe(false);
  });
});
