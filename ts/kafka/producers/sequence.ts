/**
 * Kafka's sequence and epoch rules for one idempotent batch against what a
 * partition knows of its producer (ProducerAppendInfo in Kafka 4):
 *
 * - an epoch below the known one is INVALID_PRODUCER_EPOCH (Kafka answers
 *   this, not PRODUCER_FENCED, to Produce since 2.7, at every version);
 * - the same epoch and the same first and last sequence as one of the last
 *   five batches is a duplicate: answered with that batch's offsets;
 * - a new epoch must start at sequence 0, unless the partition knows
 *   nothing of the producer;
 * - within an epoch the first sequence must follow the last one
 *   (OUT_OF_ORDER_SEQUENCE_NUMBER otherwise);
 * - a producer the partition does not know (never seen, expired, evicted,
 *   or older than what recovery read back) is accepted at any sequence, as
 *   Kafka 4 does since KIP-360 replaced UNKNOWN_PRODUCER_ID.
 */
import { nextSequence, type ProducerFields } from './batch-header.ts';
import { ProducerErrorCode } from './codes.ts';

/** Batches remembered per producer and partition (Kafka's NUM_BATCHES_TO_RETAIN). */
export const BATCHES_RETAINED = 5;

export interface BatchMeta {
  epoch: number;
  firstSeq: number;
  lastSeq: number;
  /** -1 until the append resolves. */
  baseOffset: number;
  /** Resolves when the append settles: with 0, or with the Kafka error code it failed with. */
  settled: Promise<number>;
}

/** What a partition knows of one producer: `epoch` -1 when nothing. */
export interface ProducerView {
  epoch: number;
  lastSeq: number;
  batches: BatchMeta[];
}

export type Verdict =
  | { kind: 'append' }
  | { kind: 'duplicate'; of: BatchMeta }
  | { kind: 'error'; code: number; message: string };

export function checkBatch(view: ProducerView, b: ProducerFields): Verdict {
  if (view.epoch >= 0 && b.producerEpoch < view.epoch) {
    return {
      kind: 'error',
      code: ProducerErrorCode.INVALID_PRODUCER_EPOCH,
      message: `producer ${b.producerId} epoch ${b.producerEpoch} is older than ${view.epoch}`,
    };
  }
  if (b.producerEpoch === view.epoch) {
    const dup = view.batches.find((m) => m.firstSeq === b.firstSeq && m.lastSeq === b.lastSeq);
    if (dup) return { kind: 'duplicate', of: dup };
  }
  if (b.firstSeq < 0) {
    return {
      kind: 'error',
      code: ProducerErrorCode.INVALID_RECORD,
      message: `idempotent batch of producer ${b.producerId} has no sequence`,
    };
  }
  if (view.epoch < 0) return { kind: 'append' };
  if (b.producerEpoch !== view.epoch) {
    if (b.firstSeq === 0) return { kind: 'append' };
    return {
      kind: 'error',
      code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
      message: `producer ${b.producerId} new epoch ${b.producerEpoch} starts at sequence ${b.firstSeq}, not 0`,
    };
  }
  if (b.firstSeq === nextSequence(view.lastSeq)) return { kind: 'append' };
  return {
    kind: 'error',
    code: ProducerErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    message: `producer ${b.producerId} sequence ${b.firstSeq}, expected ${nextSequence(view.lastSeq)}`,
  };
}

/** Record an accepted batch in `view` (epoch change clears the remembered batches, as in Kafka). */
export function applyBatch(view: ProducerView, b: ProducerFields, meta: BatchMeta): void {
  if (b.producerEpoch !== view.epoch) view.batches = [];
  view.epoch = b.producerEpoch;
  view.lastSeq = b.lastSeq;
  view.batches.push(meta);
  if (view.batches.length > BATCHES_RETAINED) view.batches.shift();
}
