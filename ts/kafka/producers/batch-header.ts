/**
 * The producer fields of a Kafka magic-2 record batch, read from its fixed
 * header (Kafka's DefaultRecordBatch layout): baseOffset i64 @0,
 * batchLength i32 @8, magic i8 @16, attributes i16 @21, lastOffsetDelta
 * i32 @23, producerId i64 @43, producerEpoch i16 @51, baseSequence i32 @53,
 * recordCount i32 @57. Callers have already checked the batch is whole
 * (records.ts batchSpans), so every read here is in bounds.
 */

/** No producer id: the batch is not idempotent. */
export const NO_PRODUCER_ID = -1;
const INT32_MAX = 0x7fffffff;
const ATTR_TRANSACTIONAL = 0x10;
const ATTR_CONTROL = 0x20;

export interface ProducerFields {
  producerId: number;
  producerEpoch: number;
  firstSeq: number;
  /** firstSeq + lastOffsetDelta, wrapping past INT32_MAX as Kafka's sequences do. */
  lastSeq: number;
  /** Offsets the batch takes (lastOffsetDelta + 1). */
  offsetCount: number;
  transactional: boolean;
  control: boolean;
}

/** The last sequence of a batch, wrapping as DefaultRecordBatch.incrementSequence does. */
export function addSequence(seq: number, delta: number): number {
  return seq > INT32_MAX - delta ? delta - (INT32_MAX - seq) - 1 : seq + delta;
}

/** The sequence that must follow `lastSeq` (0 after INT32_MAX). */
export function nextSequence(lastSeq: number): number {
  return lastSeq === INT32_MAX ? 0 : lastSeq + 1;
}

/**
 * Whether the batch starting at `at` carries a producer id (>= 0): the sign
 * of the id's high 32 bits says it without building a BigInt per batch.
 */
export function hasProducerId(buf: Buffer, at: number): boolean {
  return buf.readInt32BE(at + 43) >= 0;
}

/** Read the producer fields of the batch starting at `at`. */
export function readProducerFields(buf: Buffer, at: number): ProducerFields {
  const attributes = buf.readInt16BE(at + 21);
  const lastOffsetDelta = buf.readInt32BE(at + 23);
  // Producer ids are allocated from 0 upward and stay far below 2^53.
  const producerId = Number(buf.readBigInt64BE(at + 43));
  const firstSeq = buf.readInt32BE(at + 53);
  return {
    producerId,
    producerEpoch: buf.readInt16BE(at + 51),
    firstSeq,
    lastSeq: firstSeq < 0 ? firstSeq : addSequence(firstSeq, Math.max(0, lastOffsetDelta)),
    offsetCount: lastOffsetDelta + 1,
    transactional: (attributes & ATTR_TRANSACTIONAL) !== 0,
    control: (attributes & ATTR_CONTROL) !== 0,
  };
}

/** Base offset and last offset of a stored batch (what a read returns). */
export function storedOffsets(buf: Buffer, at: number): { baseOffset: number; lastOffset: number } {
  const baseOffset = Number(buf.readBigInt64BE(at));
  return { baseOffset, lastOffset: baseOffset + buf.readInt32BE(at + 23) };
}
