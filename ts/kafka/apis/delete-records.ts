/**
 * DeleteRecords (v0–2): moves a partition's log start up through the Shard
 * adapter's deleteBefore and answers the new low watermark. Offset -1 means
 * the high watermark; beyond it is OFFSET_OUT_OF_RANGE.
 */
import type { KafkaContext } from '../dispatch.ts';
import { kafkaErrorFor } from '../error-codes.ts';
import { DeleteRecords } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { AdminError } from './admin-errors.ts';

type Result = DeleteRecords.DeleteRecordsPartitionResult;

async function deleteOne(
  ctx: KafkaContext,
  topic: string,
  p: DeleteRecords.DeleteRecordsPartition,
): Promise<Result> {
  const out: Result = {
    ...DeleteRecords.defaultDeleteRecordsPartitionResult(),
    partitionIndex: p.partitionIndex,
  };
  const shardId = ctx.topics.get(topic)?.shards[p.partitionIndex];
  if (shardId === undefined || !ctx.storage.has(shardId))
    return { ...out, errorCode: AdminError.UNKNOWN_TOPIC_OR_PARTITION };
  try {
    const shard = ctx.storage.shard(shardId);
    const { highWatermark } = shard.offsets();
    const offset = p.offset === -1n ? highWatermark : Number(p.offset);
    if (p.offset < -1n || offset > highWatermark)
      return { ...out, errorCode: AdminError.OFFSET_OUT_OF_RANGE };
    const low = await shard.deleteBefore(offset);
    return { ...out, lowWatermark: BigInt(low) };
  } catch (err) {
    return { ...out, errorCode: kafkaErrorFor((err as { code?: string }).code) };
  }
}

export async function handleDeleteRecords(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = DeleteRecords.decodeDeleteRecordsRequest(version, r);
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      ...DeleteRecords.defaultDeleteRecordsTopicResult(),
      name: t.name,
      partitions: await Promise.all(t.partitions.map((p) => deleteOne(ctx, t.name, p))),
    })),
  );
  return DeleteRecords.encodeDeleteRecordsResponse(version, {
    ...DeleteRecords.defaultDeleteRecordsResponse(),
    topics,
  });
}
