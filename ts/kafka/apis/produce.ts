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
import { batchSpans } from '../../storage/records.ts';
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError, kafkaErrorFor } from '../error-codes.ts';
import { hasIdempotentBatch } from '../producers/idempotence.ts';
import { Produce } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { isValidTopicName, type Topic } from '../topics.ts';
import { LeaderError } from './leader-errors.ts';

type PartitionResponse = Produce.PartitionProduceResponse;

function failed(index: number, errorCode: number, message: string | null = null): PartitionResponse {
  return { ...Produce.defaultPartitionProduceResponse(), index, errorCode, errorMessage: message };
}

/** Checks the stored format needs before the native append: whole magic-2 batches within the topic's max.message.bytes. */
function precheck(ctx: KafkaContext, records: Buffer, max = ctx.config.storage.batch_bytes_max): number {
  try {
    let n = 0;
    for (const [start, end] of batchSpans(records)) {
      if (end - start > max) return KafkaError.MESSAGE_TOO_LARGE;
      if (records[start + 16] !== 2) return KafkaError.CORRUPT_MESSAGE;
      n++;
    }
    return n === 0 ? KafkaError.CORRUPT_MESSAGE : KafkaError.NONE;
  } catch {
    return KafkaError.CORRUPT_MESSAGE;
  }
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
  const check = precheck(ctx, p.records, topic.settings.maxMessageBytes);
  if (check !== KafkaError.NONE) return failed(p.index, check);
  try {
    const shard = ctx.storage.shard(shardId);
    const records = p.records;
    const spans = [...batchSpans(records)];
    let baseOffset: number;
    if (hasIdempotentBatch(records, spans)) {
      const out = await ctx.producers.idempotence.append(shard, records, spans);
      if (!out.ok) return failed(p.index, out.errorCode, out.message);
      baseOffset = out.baseOffset;
    } else {
      baseOffset = (await shard.appendBatches(records)).baseOffset;
    }
    return {
      ...Produce.defaultPartitionProduceResponse(),
      index: p.index,
      baseOffset: BigInt(baseOffset),
      // CreateTime topics answer -1 (the producer's timestamps are kept).
      logAppendTimeMs: -1n,
      logStartOffset: BigInt(shard.offsets().earliest),
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
