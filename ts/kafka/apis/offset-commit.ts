/**
 * OffsetCommit: partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION;
 * the rest go to the coordinator, which checks the member and generation
 * (generation -1 with no member is a "simple" commit into an empty group)
 * and answers once the offsets are durable. Served from v2 (Kafka 4.0
 * dropped v0-1, KIP-896); v2-4's retention time is ignored, as Kafka 4 does.
 */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import type { CommitRequest } from '../groups/coordinator.ts';
import { OffsetCommit } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleOffsetCommit(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = OffsetCommit.decodeOffsetCommitRequest(version, r);
  // Per partition, in request order: an error known before the coordinator, or the index of its offset.
  const known: CommitRequest['offsets'] = [];
  type Slot = { kind: 'error'; error: number } | { kind: 'known'; index: number };
  const slots = req.topics.map((t): Slot[] => {
    const topic = ctx.topics.get(t.name);
    const partitions = topic?.shards.length ?? 0;
    return t.partitions.map((p) => {
      if (p.partitionIndex < 0 || p.partitionIndex >= partitions)
        return { kind: 'error', error: KafkaError.UNKNOWN_TOPIC_OR_PARTITION };
      known.push({
        topic: t.name,
        partition: p.partitionIndex,
        offset: p.committedOffset,
        leaderEpoch: p.committedLeaderEpoch,
        topicId: topic?.id ?? '',
        metadata: p.committedMetadata,
      });
      return { kind: 'known', index: known.length - 1 };
    });
  });
  const result =
    known.length === 0
      ? { errors: [] as number[] }
      : await ctx.groups.commit(
          {
            groupId: req.groupId,
            generationId: req.generationIdOrMemberEpoch,
            memberId: req.memberId,
            groupInstanceId: req.groupInstanceId,
            offsets: known,
          },
          version,
        );
  return OffsetCommit.encodeOffsetCommitResponse(version, {
    ...OffsetCommit.defaultOffsetCommitResponse(),
    topics: req.topics.map((t, ti) => ({
      ...OffsetCommit.defaultOffsetCommitResponseTopic(),
      name: t.name,
      partitions: t.partitions.map((p, pi) => {
        const slot = slots[ti]?.[pi];
        let errorCode: number = KafkaError.UNKNOWN_SERVER_ERROR;
        if (slot?.kind === 'error') errorCode = slot.error;
        else if (slot && 'errorCode' in result) errorCode = result.errorCode;
        else if (slot && 'errors' in result) errorCode = result.errors[slot.index] ?? errorCode;
        return {
          ...OffsetCommit.defaultOffsetCommitResponsePartition(),
          partitionIndex: p.partitionIndex,
          errorCode,
        };
      }),
    })),
  });
}
