import { describe, expect, it } from 'vitest';
import { groupPrefix, offsetKey, parseOffsetKey } from './offset-store.ts';

describe('offset store keys', () => {
  it('round-trip any group and topic, including separators and non-ASCII', () => {
    for (const [group, topic, partition] of [
      ['g', 't', 0],
      ['with\u0000nul', 'a.b-c_d', 2_147_483_647],
      ['größe', 'x', 7],
      ['', 't', 1],
    ] as const) {
      const key = offsetKey(group, topic, partition);
      expect(parseOffsetKey(key)).toEqual({ group, topic, partition });
      expect(key.subarray(0, groupPrefix(group).length).equals(groupPrefix(group))).toBe(true);
    }
  });

  it('one group prefix never covers another group ("a" vs "ab")', () => {
    const other = offsetKey('ab', 't', 0);
    const p = groupPrefix('a');
    expect(other.subarray(0, p.length).equals(p)).toBe(false);
  });

  it('refuses keys it did not write', () => {
    expect(parseOffsetKey(Buffer.alloc(3))).toBeNull();
    const k = offsetKey('g', 't', 1);
    expect(parseOffsetKey(k.subarray(0, k.length - 1))).toBeNull();
    expect(parseOffsetKey(Buffer.concat([k, Buffer.from([0])]))).toBeNull();
    const huge = Buffer.from(k);
    huge.writeUInt32BE(0xffffffff, 0);
    expect(parseOffsetKey(huge)).toBeNull();
  });
});
