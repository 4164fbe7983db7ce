/**
 * OffsetFetch: committed offsets of a group (v8+: of several groups at
 * once). A partition with no committed offset, or of a group that does not
 * exist, answers offset -1 with no error, as Kafka does; a null topic list
 * asks for every committed offset of the group. An offset committed to a
 * topic that has since been deleted (or deleted and created again: the
 * topic id differs) is not answered, as Kafka deletes such offsets with the
 * topic. Served from v1 (Kafka 4.0
 * dropped v0, KIP-896). RequireStable (v7+) needs no wait: no transactions
 * are served, so no offset is ever pending.
 */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import type { GroupCoordinator } from '../groups/coordinator.ts';
import type { CommittedOffset } from '../groups/offset-store.ts';
import { OffsetFetch } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

interface TopicAnswer {
  name: string;
  partitions: {
    partitionIndex: number;
    committedOffset: bigint;
    committedLeaderEpoch: number;
    metadata: string;
    errorCode: number;
  }[];
}

function lookup(
  ctx: KafkaContext,
  groupId: string,
  topics: readonly { name: string; partitionIndexes: number[] }[] | null,
): TopicAnswer[] {
  const groups: GroupCoordinator = ctx.groups;
  const live = (topic: string, c: CommittedOffset | undefined): CommittedOffset | undefined =>
    c !== undefined && ctx.topics.get(topic)?.id === c.topicId ? c : undefined;
  if (topics === null) {
    return groups
      .allCommitted(groupId)
      .map((t) => ({ ...t, partitions: t.partitions.filter((p) => live(t.topic, p.value)) }))
      .filter((t) => t.partitions.length > 0)
      .map((t) => ({
        name: t.topic,
        partitions: t.partitions.map(({ partition, value }) => ({
          partitionIndex: partition,
          committedOffset: value.offset,
          committedLeaderEpoch: value.leaderEpoch,
          metadata: value.metadata,
          errorCode: KafkaError.NONE,
        })),
      }));
  }
  return topics.map((t) => ({
    name: t.name,
    partitions: t.partitionIndexes.map((partitionIndex) => {
      const c = live(t.name, groups.committed(groupId, t.name, partitionIndex));
      return {
        partitionIndex,
        committedOffset: c?.offset ?? -1n,
        committedLeaderEpoch: c?.leaderEpoch ?? -1,
        metadata: c?.metadata ?? '',
        errorCode: KafkaError.NONE,
      };
    }),
  }));
}

/** INVALID_GROUP_ID for an empty id; otherwise none (an unknown group simply has no offsets). */
function groupError(groupId: string): number {
  return groupId === '' ? 24 : KafkaError.NONE;
}

export async function handleOffsetFetch(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = OffsetFetch.decodeOffsetFetchRequest(version, r);
  const res = OffsetFetch.defaultOffsetFetchResponse();
  if (version >= 8) {
    res.groups = req.groups.map((g) => {
      const errorCode = groupError(g.groupId);
      return {
        ...OffsetFetch.defaultOffsetFetchResponseGroup(),
        groupId: g.groupId,
        errorCode,
        topics:
          errorCode !== KafkaError.NONE
            ? []
            : lookup(ctx, g.groupId, g.topics).map((t) => ({
                ...OffsetFetch.defaultOffsetFetchResponseTopics(),
                name: t.name,
                partitions: t.partitions.map((p) => ({
                  ...OffsetFetch.defaultOffsetFetchResponsePartitions(),
                  ...p,
                })),
              })),
      };
    });
  } else {
    const errorCode = groupError(req.groupId);
    // v1 has no top-level error: a group error goes on every partition.
    const topics = errorCode !== KafkaError.NONE && version >= 2 ? [] : lookup(ctx, req.groupId, req.topics);
    res.errorCode = errorCode;
    res.topics = topics.map((t) => ({
      ...OffsetFetch.defaultOffsetFetchResponseTopic(),
      name: t.name,
      partitions: t.partitions.map((p) => ({
        ...OffsetFetch.defaultOffsetFetchResponsePartition(),
        ...p,
        errorCode: errorCode !== KafkaError.NONE ? errorCode : p.errorCode,
      })),
    }));
  }
  return OffsetFetch.encodeOffsetFetchResponse(version, res);
}
