/**
 * Helpers for the tests of committed offsets and MQTT session records in
 * the meta service's Raft groups: raw OffsetCommit / OffsetFetch, topic
 * creation, and the per-group key counts the node exports.
 */
import { ApiKey, CreateTopics, OffsetCommit, OffsetFetch } from '../../kafka/protocol/generated/index.ts';
import type { BrokerProcess } from './broker.ts';
import { RawKafka } from './raw-kafka.ts';

export async function createTopic(addr: string, topic: string, partitions: number): Promise<void> {
  const raw = await RawKafka.open(addr);
  try {
    const res = CreateTopics.decodeCreateTopicsResponse(
      5,
      await raw.request(
        ApiKey.CreateTopics,
        5,
        CreateTopics.encodeCreateTopicsRequest(5, {
          ...CreateTopics.defaultCreateTopicsRequest(),
          topics: [
            {
              ...CreateTopics.defaultCreatableTopic(),
              name: topic,
              numPartitions: partitions,
              replicationFactor: 1,
            },
          ],
          timeoutMs: 5000,
        }),
      ),
    );
    const code = res.topics[0]?.errorCode;
    if (code !== 0) throw new Error(`CreateTopics ${topic}: error ${code}`);
  } finally {
    raw.close();
  }
}

/**
 * OffsetCommit v8 of `offsets` (partition i gets offsets[i]) on an open
 * connection, as a member (`member`) or without membership (generation -1);
 * the per-partition error codes.
 */
export async function commitOffsetsOn(
  raw: RawKafka,
  groupId: string,
  topic: string,
  offsets: readonly bigint[],
  member?: { generationId: number; memberId: string },
): Promise<number[]> {
  const res = OffsetCommit.decodeOffsetCommitResponse(
    8,
    await raw.request(
      ApiKey.OffsetCommit,
      8,
      OffsetCommit.encodeOffsetCommitRequest(8, {
        ...OffsetCommit.defaultOffsetCommitRequest(),
        groupId,
        ...(member ? { generationIdOrMemberEpoch: member.generationId, memberId: member.memberId } : {}),
        topics: [
          {
            ...OffsetCommit.defaultOffsetCommitRequestTopic(),
            name: topic,
            partitions: offsets.map((committedOffset, partitionIndex) => ({
              ...OffsetCommit.defaultOffsetCommitRequestPartition(),
              partitionIndex,
              committedOffset,
            })),
          },
        ],
      }),
    ),
  );
  return res.topics[0]?.partitions.map((p) => p.errorCode) ?? [];
}

/** commitOffsetsOn over a connection of its own, for a group without membership. */
export async function commitOffsets(
  addr: string,
  groupId: string,
  topic: string,
  offsets: readonly bigint[],
): Promise<number[]> {
  const raw = await RawKafka.open(addr);
  try {
    return await commitOffsetsOn(raw, groupId, topic, offsets);
  } finally {
    raw.close();
  }
}

/** OffsetFetch v7 of partitions 0..n-1 on an open connection; -1n where nothing is committed. */
export async function fetchOffsetsOn(
  raw: RawKafka,
  groupId: string,
  topic: string,
  n: number,
): Promise<bigint[]> {
  const res = OffsetFetch.decodeOffsetFetchResponse(
    7,
    await raw.request(
      ApiKey.OffsetFetch,
      7,
      OffsetFetch.encodeOffsetFetchRequest(7, {
        ...OffsetFetch.defaultOffsetFetchRequest(),
        groupId,
        topics: [
          {
            ...OffsetFetch.defaultOffsetFetchRequestTopic(),
            name: topic,
            partitionIndexes: Array.from({ length: n }, (_, i) => i),
          },
        ],
      }),
    ),
  );
  if (res.errorCode !== 0) throw new Error(`OffsetFetch: error ${res.errorCode}`);
  return res.topics[0]?.partitions.map((p) => p.committedOffset) ?? [];
}

/** fetchOffsetsOn over a connection of its own. */
export async function fetchOffsets(
  addr: string,
  groupId: string,
  topic: string,
  n: number,
): Promise<bigint[]> {
  const raw = await RawKafka.open(addr);
  try {
    return await fetchOffsetsOn(raw, groupId, topic, n);
  } finally {
    raw.close();
  }
}

/** A per-group gauge of the node's /metrics (default `ferrymq_meta_kv_keys`) by Raft group name. */
export async function groupKeyCounts(
  broker: BrokerProcess,
  metric = 'ferrymq_meta_kv_keys',
): Promise<Map<string, number>> {
  const text = await (
    await fetch(`${broker.adminUrl()}/metrics`, { signal: AbortSignal.timeout(5000) })
  ).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${metric}\\{[^}]*group="([^"]+)"[^}]*\\} (\\d+)$`, 'gm'))) {
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

export async function stopBroker(broker: BrokerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  broker.signal(signal);
  await broker.exited;
}
