/**
 * Produce: each partition's magic-2 batches are appended as they came
 * (CRC-checked and offset-patched natively, never decompressed: the
 * attributes, codec bits included, are stored as sent) through the Shard
 * adapter. Batches with a producer id go through the idempotent producer's
 * checks first (producers/idempotence.ts): a retried batch is answered with
 * its original offset and appends nothing. On one node acks -1 means the
 * same as acks 1; acks 0 gets no response. In a cluster, a partition the
 * controller gave another node gets NOT_LEADER_OR_FOLLOWER. Versions 0-2
 * never reach here: dispatch.ts closes the connection, as Kafka 4 does.
 */
import { FerryError } from '../../errors.ts';
import { batchOffsetCount, batchSpans } from '../../storage/records.ts';
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError, kafkaErrorFor } from '../error-codes.ts';
import { hasProducerId } from '../producers/batch-header.ts';
import { Produce } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { isValidTopicName, type Topic } from '../topics.ts';
import { LeaderError } from './leader-errors.ts';

type PartitionResponse = Produce.PartitionProduceResponse;

function failed(index: number, errorCode: number, message: string | null = null): PartitionResponse {
  return { ...Produce.defaultPartitionProduceResponse(), index, errorCode, errorMessage: message };
}

/** What one walk over a partition's batches found (the append and the idempotence checks reuse it). */
interface Scanned {
  spans: [number, number][];
  /** Offsets the batches take (sum of lastOffsetDelta + 1). */
  count: number;
  /** Some batch carries a producer id. */
  idempotent: boolean;
}

/**
 * Checks the stored format needs before the native append (whole magic-2
 * batches within the topic's max.message.bytes) in the one walk over the
 * batch headers that also yields what the append needs from them.
 */
function scan(records: Buffer, max: number): Scanned | number {
  const spans: [number, number][] = [];
  let count = 0;
  let idempotent = false;
  try {
    for (const span of batchSpans(records)) {
      const start = span[0];
      if (span[1] - start > max) return KafkaError.MESSAGE_TOO_LARGE;
      if (records[start + 16] !== 2) return KafkaError.CORRUPT_MESSAGE;
      spans.push(span);
      count += batchOffsetCount(records, start);
      if (!idempotent && hasProducerId(records, start)) idempotent = true;
    }
  } catch {
    return KafkaError.CORRUPT_MESSAGE;
  }
  return spans.length === 0 ? KafkaError.CORRUPT_MESSAGE : { spans, count, idempotent };
}

async function resolveTopic(ctx: KafkaContext, name: string): Promise<Topic | number> {
  const known = ctx.topics.get(name);
  if (known) return known;
  if (!isValidTopicName(name)) return KafkaError.INVALID_TOPIC_EXCEPTION;
  if (!ctx.config.kafka.auto_create_topics) return KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
  try {
    // A stream registered with the controller is created here with its partition count.
    return await ctx.topics.create(name, ctx.partitions?.streamPartitions(name));
  } catch {
    return KafkaError.KAFKA_STORAGE_ERROR;
  }
}

async function append(
  ctx: KafkaContext,
  topic: Topic,
  p: Produce.PartitionProduceData,
): Promise<PartitionResponse> {
  if (ctx.partitions?.ledElsewhere(topic.name, p.index))
    return failed(p.index, LeaderError.NOT_LEADER_OR_FOLLOWER);
  const shardId = topic.shards[p.index];
  if (shardId === undefined || !ctx.storage.has(shardId))
    return failed(p.index, KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
  if (!p.records || p.records.length === 0)
    return failed(p.index, KafkaError.CORRUPT_MESSAGE, 'no record batches');
  const scanned = scan(p.records, topic.settings.maxMessageBytes);
  if (typeof scanned === 'number') return failed(p.index, scanned);
  try {
    const shard = ctx.storage.shard(shardId);
    let baseOffset: number;
    // The log start offset comes with the append's answer, as Kafka's does;
    // only a retried batch (nothing appended) asks the shard.
    let earliest: number;
    if (scanned.idempotent) {
      const out = await ctx.producers.idempotence.append(shard, p.records, scanned.spans);
      if (!out.ok) return failed(p.index, out.errorCode, out.message);
      baseOffset = out.baseOffset;
      earliest = out.earliestOffset ?? shard.offsets().earliest;
    } else {
      const appended = await shard.appendBatches(p.records, scanned.count);
      baseOffset = appended.baseOffset;
      earliest = appended.earliestOffset;
    }
    return {
      ...Produce.defaultPartitionProduceResponse(),
      index: p.index,
      baseOffset: BigInt(baseOffset),
      // CreateTime topics answer -1 (the producer's timestamps are kept).
      logAppendTimeMs: -1n,
      logStartOffset: BigInt(earliest),
    };
  } catch (err) {
    const code = err instanceof FerryError ? err.code : undefined;
    return failed(p.index, kafkaErrorFor(code), err instanceof Error ? err.message : null);
  }
}

export async function handleProduce(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer | null> {
  const req = Produce.decodeProduceRequest(version, r);
  const badAcks = req.acks !== 0 && req.acks !== 1 && req.acks !== -1;
  const responses = await Promise.all(
    req.topicData.map(async (t): Promise<Produce.TopicProduceResponse> => {
      const topic = badAcks ? KafkaError.INVALID_REQUIRED_ACKS : await resolveTopic(ctx, t.name);
      const partitionResponses =
        typeof topic === 'number'
          ? t.partitionData.map((p) => failed(p.index, topic))
          : await Promise.all(t.partitionData.map((p) => append(ctx, topic, p)));
      return { name: t.name, partitionResponses };
    }),
  );
  if (req.acks === 0) return null;
  return Produce.encodeProduceResponse(version, { ...Produce.defaultProduceResponse(), responses });
}
