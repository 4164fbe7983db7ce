import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey } from './partitioner.ts';

const require = createRequire(import.meta.url);
// kafkajs's Java-compatible default partitioner: the reference we must agree with.
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  k: Buffer,
) => number;

describe('murmur2 partitioner', () => {
  it('matches values from Kafka’s own Utils.murmur2 test vectors', () => {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ];
    for (const [s, want] of cases) expect(murmur2(Buffer.from(s))).toBe(want);
    expect(murmur2(Buffer.from([97, 98, 99]))).toBe(479470107);
  });

  it('agrees with kafkajs’s default partitioner on every tail length and on UTF-8 topics', () => {
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'sensors/room-1/temp',
      'usine/température/°C',
      'x'.repeat(1001),
    ];
    for (let i = 0; i < 200; i++) keys.push(`devices/${i}/state/${'z'.repeat(i % 7)}`);
    for (const k of keys) {
      const b = Buffer.from(k);
      expect(murmur2(b)).toBe(kafkajsMurmur2(b));
      for (const n of [1, 3, 7, 64]) {
        expect(partitionForKey(b, n)).toBe((kafkajsMurmur2(b) & 0x7fffffff) % n);
      }
    }
  });
});
