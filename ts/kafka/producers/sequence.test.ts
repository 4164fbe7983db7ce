import { describe, expect, it } from 'vitest';
import { addSequence, nextSequence, type ProducerFields, readProducerFields } from './batch-header.ts';
import { ProducerErrorCode } from './codes.ts';
import { applyBatch, BATCHES_RETAINED, type BatchMeta, checkBatch, type ProducerView } from './sequence.ts';
import { buildBatch } from './test-batches.ts';

const INT32_MAX = 0x7fffffff;

function fields(epoch: number, firstSeq: number, count = 1): ProducerFields {
  return {
    producerId: 7,
    producerEpoch: epoch,
    firstSeq,
    lastSeq: addSequence(firstSeq, count - 1),
    offsetCount: count,
    transactional: false,
    control: false,
  };
}

function accept(view: ProducerView, f: ProducerFields, baseOffset = 0): BatchMeta {
  const meta: BatchMeta = {
    epoch: f.producerEpoch,
    firstSeq: f.firstSeq,
    lastSeq: f.lastSeq,
    baseOffset,
    settled: Promise.resolve(0),
  };
  applyBatch(view, f, meta);
  return meta;
}

const empty = (): ProducerView => ({ epoch: -1, lastSeq: -1, batches: [] });

describe('batch header', () => {
  it('reads producer id, epoch, sequences and flags from the magic-2 header', () => {
    const b = buildBatch({ producerId: 12345n, producerEpoch: 3, baseSequence: 40, values: ['a', 'b', 'c'] });
    expect(readProducerFields(b, 0)).toEqual({
      producerId: 12345,
      producerEpoch: 3,
      firstSeq: 40,
      lastSeq: 42,
      offsetCount: 3,
      transactional: false,
      control: false,
    });
    const t = buildBatch({
      producerId: 1n,
      producerEpoch: 0,
      baseSequence: 0,
      values: ['x'],
      attributes: 0x30,
    });
    expect(readProducerFields(t, 0)).toMatchObject({ transactional: true, control: true });
  });

  it('wraps sequences past INT32_MAX as Kafka does', () => {
    expect(addSequence(INT32_MAX - 1, 3)).toBe(1);
    expect(addSequence(INT32_MAX, 1)).toBe(0);
    expect(addSequence(5, 0)).toBe(5);
    expect(nextSequence(INT32_MAX)).toBe(0);
    expect(nextSequence(9)).toBe(10);
  });
});

describe('sequence and epoch checks', () => {
  it('accepts a producer the partition does not know at any sequence (Kafka 4, KIP-360)', () => {
    expect(checkBatch(empty(), fields(0, 0))).toEqual({ kind: 'append' });
    expect(checkBatch(empty(), fields(2, 77))).toEqual({ kind: 'append' });
  });

  it('accepts the next sequence and refuses a gap or a step back with OUT_OF_ORDER_SEQUENCE_NUMBER', () => {
    const v = empty();
    accept(v, fields(0, 0, 5));
    expect(checkBatch(v, fields(0, 5, 2))).toEqual({ kind: 'append' });
    const gap = checkBatch(v, fields(0, 6));
    expect(gap).toMatchObject({ kind: 'error', code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    const back = checkBatch(v, fields(0, 3));
    expect(back).toMatchObject({ kind: 'error', code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
  });

  it('finds a duplicate among the last five batches only, by exact first and last sequence', () => {
    const v = empty();
    const metas = Array.from({ length: 7 }, (_, i) => accept(v, fields(0, i * 2, 2), i * 2));
    expect(v.batches).toHaveLength(BATCHES_RETAINED);
    expect(checkBatch(v, fields(0, 12, 2))).toEqual({ kind: 'duplicate', of: metas[6] });
    expect(checkBatch(v, fields(0, 4, 2))).toEqual({ kind: 'duplicate', of: metas[2] });
    // Older than the five kept: Kafka cannot tell, and answers out of order.
    expect(checkBatch(v, fields(0, 2, 2))).toMatchObject({
      code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    // Same first sequence, different length: not the same batch.
    expect(checkBatch(v, fields(0, 12, 1))).toMatchObject({ kind: 'error' });
  });

  it('refuses an older epoch with INVALID_PRODUCER_EPOCH and starts a newer one at sequence 0 only', () => {
    const v = empty();
    accept(v, fields(3, 0, 4));
    expect(checkBatch(v, fields(2, 4))).toMatchObject({ code: ProducerErrorCode.INVALID_PRODUCER_EPOCH });
    expect(checkBatch(v, fields(4, 4))).toMatchObject({
      code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(checkBatch(v, fields(4, 0))).toEqual({ kind: 'append' });
    accept(v, fields(4, 0));
    // The new epoch forgets the old epoch's batches.
    expect(v.batches).toHaveLength(1);
    expect(checkBatch(v, fields(3, 0, 4))).toMatchObject({ code: ProducerErrorCode.INVALID_PRODUCER_EPOCH });
  });

  it('continues across the INT32_MAX wrap', () => {
    const v = empty();
    accept(v, fields(0, INT32_MAX - 1, 2));
    expect(v.lastSeq).toBe(INT32_MAX);
    expect(checkBatch(v, fields(0, 0, 3))).toEqual({ kind: 'append' });
    expect(checkBatch(v, fields(0, 1))).toMatchObject({
      code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
  });

  it('refuses an idempotent batch without a sequence', () => {
    expect(checkBatch(empty(), fields(0, -1))).toMatchObject({ code: ProducerErrorCode.INVALID_RECORD });
  });
});
