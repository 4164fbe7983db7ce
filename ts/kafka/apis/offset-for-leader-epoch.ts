/**
 * OffsetForLeaderEpoch (v2–4). One node, whose leader epoch is always 0:
 * epoch 0 ends at the log end offset. A current leader epoch ahead of ours
 * is UNKNOWN_LEADER_EPOCH and one behind it FENCED_LEADER_EPOCH, as Kafka
 * answers; a requested epoch other than 0 has no end offset (-1, -1), as
 * Kafka answers for epochs it has not seen.
 */
import type { KafkaContext } from '../dispatch.ts';
import { kafkaErrorFor } from '../error-codes.ts';
import { OffsetForLeaderEpoch } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { AdminError } from './admin-errors.ts';

/** This node's leader epoch for every partition. */
export const LEADER_EPOCH = 0;

type Result = OffsetForLeaderEpoch.EpochEndOffset;

export function epochEndOffset(
  ctx: KafkaContext,
  topic: string,
  p: OffsetForLeaderEpoch.OffsetForLeaderPartition,
): Result {
  const out: Result = {
    ...OffsetForLeaderEpoch.defaultEpochEndOffset(),
    partition: p.partition,
    leaderEpoch: -1,
    endOffset: -1n,
  };
  const shardId = ctx.topics.get(topic)?.shards[p.partition];
  if (shardId === undefined || !ctx.storage.has(shardId))
    return { ...out, errorCode: AdminError.UNKNOWN_TOPIC_OR_PARTITION };
  if (p.currentLeaderEpoch > LEADER_EPOCH) return { ...out, errorCode: AdminError.UNKNOWN_LEADER_EPOCH };
  if (p.currentLeaderEpoch !== -1 && p.currentLeaderEpoch < LEADER_EPOCH)
    return { ...out, errorCode: AdminError.FENCED_LEADER_EPOCH };
  if (p.leaderEpoch !== LEADER_EPOCH) return out;
  try {
    return {
      ...out,
      leaderEpoch: LEADER_EPOCH,
      endOffset: BigInt(ctx.storage.shard(shardId).offsets().latest),
    };
  } catch (err) {
    return { ...out, errorCode: kafkaErrorFor((err as { code?: string }).code) };
  }
}

export async function handleOffsetForLeaderEpoch(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = OffsetForLeaderEpoch.decodeOffsetForLeaderEpochRequest(version, r);
  const topics = req.topics.map((t) => ({
    ...OffsetForLeaderEpoch.defaultOffsetForLeaderTopicResult(),
    topic: t.topic,
    partitions: t.partitions.map((p) => epochEndOffset(ctx, t.topic, p)),
  }));
  return OffsetForLeaderEpoch.encodeOffsetForLeaderEpochResponse(version, {
    ...OffsetForLeaderEpoch.defaultOffsetForLeaderEpochResponse(),
    topics,
  });
}
