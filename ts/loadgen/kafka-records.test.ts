import { describe, expect, it } from 'vitest';
import { KafkaReader } from '../kafka/protocol/reader.ts';
import { loadNative } from '../native/load.ts';
import { assignRoundRobin, decodeAssignment, encodeAssignment, encodeSubscription } from './kafka-group.ts';
import { BATCH_HEADER_BYTES, BatchBuilder, crc32c, readBatches } from './kafka-records.ts';

describe('load generator Kafka records', () => {
  it('CRC-32C matches the known vector and the native one on any length', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    for (const n of [0, 1, 7, 8, 9, 63, 1000]) {
      const b = Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));
      expect(crc32c(b)).toBe(loadNative().crc32c(b) >>> 0);
    }
  });

  it('a built batch is a valid magic-2 batch whose records read back with their stamps', () => {
    const b = new BatchBuilder(100, 1000);
    let n = 0;
    while (!b.full) b.add(1000 + n++);
    expect(n).toBeGreaterThan(5);
    const batch = b.take();
    expect(batch.readInt32BE(8)).toBe(batch.length - 12);
    expect(batch[16]).toBe(2);
    expect(batch.readUInt32BE(17)).toBe(crc32c(batch, 21));
    expect(batch.readInt32BE(57)).toBe(n);
    expect(batch.length).toBeLessThanOrEqual(1000);
    // As a broker stores it: base offset patched to 40.
    batch.writeBigInt64BE(40n, 0);
    const stamps: number[] = [];
    const two = Buffer.concat([batch, batch.subarray(0, BATCH_HEADER_BYTES + 3)]); // and a cut batch after it
    const r = readBatches(two, 42, (s) => stamps.push(s));
    expect(r.records).toBe(n - 2);
    expect(r.next).toBe(40 + n);
    expect(stamps).toEqual(Array.from({ length: n - 2 }, (_, i) => 1002 + i));
    // The builder starts over after take().
    b.add(5);
    expect(b.take().readInt32BE(57)).toBe(1);
  });

  it('never throws on damaged batches (any byte flipped, any length cut, random bytes)', () => {
    const b = new BatchBuilder(40, 600);
    while (!b.full) b.add(1);
    const good = b.take();
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      const bad = Buffer.from(good);
      bad[rand() % bad.length] = rand() % 256;
      const cut = bad.subarray(0, rand() % (bad.length + 1));
      expect(() => readBatches(cut, 0, () => {})).not.toThrow();
      const noise = Buffer.from(Array.from({ length: rand() % 300 }, () => rand() % 256));
      expect(() => readBatches(noise, 0, () => {})).not.toThrow();
    }
  });

  it('values under 12 bytes carry no stamp', () => {
    const b = new BatchBuilder(4, 100);
    b.add(7);
    const stamps: number[] = [];
    expect(readBatches(b.take(), 0, (s) => stamps.push(s)).records).toBe(1);
    expect(stamps).toEqual([]);
  });

  it('consumer protocol: subscription, assignment round trip, round-robin plan', () => {
    const sub = new KafkaReader(encodeSubscription(['t1']));
    expect(sub.int16()).toBe(0);
    expect(sub.int32()).toBe(1);
    expect(sub.string(false)).toBe('t1');
    expect(decodeAssignment(encodeAssignment('t1', [0, 3, 5]), 't1')).toEqual([0, 3, 5]);
    expect(decodeAssignment(encodeAssignment('t1', [1]), 'other')).toEqual([]);
    const plan = assignRoundRobin(['m-b', 'm-a'], [0, 1, 2, 3, 4]);
    expect(plan.get('m-a')).toEqual([0, 2, 4]);
    expect(plan.get('m-b')).toEqual([1, 3]);
  });
});
