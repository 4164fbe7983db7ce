/** ListOffsets: earliest (-2), latest (-1) and the first offset at or after a timestamp. */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError, kafkaErrorFor } from '../error-codes.ts';
import { ListOffsets } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

const LATEST = -1n;
const EARLIEST = -2n;

async function lookup(
  ctx: KafkaContext,
  topic: string,
  p: ListOffsets.ListOffsetsPartition,
): Promise<ListOffsets.ListOffsetsPartitionResponse> {
  const out = { ...ListOffsets.defaultListOffsetsPartitionResponse(), partitionIndex: p.partitionIndex };
  const shardId = ctx.topics.get(topic)?.shards[p.partitionIndex];
  if (shardId === undefined || !ctx.storage.has(shardId)) {
    return { ...out, errorCode: KafkaError.UNKNOWN_TOPIC_OR_PARTITION };
  }
  try {
    const shard = ctx.storage.shard(shardId);
    if (p.timestamp === EARLIEST || p.timestamp === LATEST) {
      const o = shard.offsets();
      return { ...out, timestamp: -1n, offset: BigInt(p.timestamp === EARLIEST ? o.earliest : o.latest) };
    }
    if (p.timestamp < 0n) return { ...out, errorCode: KafkaError.UNSUPPORTED_VERSION };
    const found = await shard.offsetForTimestamp(Number(p.timestamp));
    return found
      ? { ...out, timestamp: BigInt(found.timestampMs), offset: BigInt(found.offset) }
      : { ...out, timestamp: -1n, offset: -1n };
  } catch (err) {
    return { ...out, errorCode: kafkaErrorFor((err as { code?: string }).code) };
  }
}

export async function handleListOffsets(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = ListOffsets.decodeListOffsetsRequest(version, r);
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(t.partitions.map((p) => lookup(ctx, t.name, p))),
    })),
  );
  return ListOffsets.encodeListOffsetsResponse(version, {
    ...ListOffsets.defaultListOffsetsResponse(),
    topics,
  });
}
