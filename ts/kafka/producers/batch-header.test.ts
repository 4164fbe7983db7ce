import { describe, expect, it } from 'vitest';
import { hasProducerId, NO_PRODUCER_ID, readProducerFields } from './batch-header.ts';
import { buildBatch } from './test-batches.ts';

describe('hasProducerId', () => {
  it('agrees with the full 64-bit producer id read, on both sides of every 32-bit boundary', () => {
    const ids = [
      -1n,
      -2n,
      -(2n ** 32n),
      -(2n ** 63n),
      0n,
      1n,
      2n ** 31n - 1n,
      2n ** 31n,
      2n ** 32n,
      2n ** 32n - 1n,
    ];
    for (const producerId of ids) {
      const batch = buildBatch({ producerId, producerEpoch: 0, baseSequence: 0, values: ['v'] });
      expect(hasProducerId(batch, 0), String(producerId)).toBe(
        batch.readBigInt64BE(43) > BigInt(NO_PRODUCER_ID),
      );
    }
  });

  it('reads the batch at its own offset in back-to-back batches', () => {
    const plain = buildBatch({ producerId: -1n, producerEpoch: -1, baseSequence: -1, values: ['a', 'b'] });
    const idem = buildBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 0, values: ['c'] });
    const both = Buffer.concat([plain, idem]);
    expect(hasProducerId(both, 0)).toBe(false);
    expect(hasProducerId(both, plain.length)).toBe(true);
    expect(readProducerFields(both, plain.length).producerId).toBe(7);
  });
});
