/**
 * Cluster questions the Kafka load generator asks outside the hot path:
 * the topic's partitions and their leaders (Metadata, creating the topic
 * first when asked), and start offsets (ListOffsets).
 */
import { ApiKey, CreateTopics, ListOffsets, Metadata } from '../kafka/protocol/generated/index.ts';
import { type KafkaConn, KafkaError } from './kafka-conn.ts';

export interface PartitionLeader {
  partition: number;
  /** host:port of the leader. */
  leader: string;
}

const TOPIC_ALREADY_EXISTS = 36;
const LEADER_WAIT_MS = 30_000;
/** Retriable while a topic is being created: UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE. */
const RETRIABLE = new Set([3, 5]);

export async function partitionLeaders(
  c: KafkaConn,
  topic: string,
  autoCreate: boolean,
): Promise<PartitionLeader[]> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    const v = c.version(ApiKey.Metadata);
    const req = Metadata.defaultMetadataRequest();
    req.topics = [{ ...Metadata.defaultMetadataRequestTopic(), name: topic }];
    req.allowAutoTopicCreation = autoCreate;
    const res = Metadata.decodeMetadataResponse(
      v,
      await c.request(ApiKey.Metadata, v, Metadata.encodeMetadataRequest(v, req)),
    );
    const t = res.topics.find((x) => x.name === topic);
    const brokers = new Map(
      res.brokers.map((b) => [b.nodeId, `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`]),
    );
    const code = t?.errorCode ?? 3;
    if (
      t &&
      code === 0 &&
      t.partitions.length > 0 &&
      t.partitions.every((p) => p.errorCode === 0 && brokers.has(p.leaderId))
    ) {
      return t.partitions
        .map((p) => ({ partition: p.partitionIndex, leader: brokers.get(p.leaderId) as string }))
        .sort((a, b) => a.partition - b.partition);
    }
    if (!RETRIABLE.has(code) && code !== 0) throw new KafkaError(code, `Metadata for ${topic}`);
    if (Date.now() > deadline)
      throw new Error(`topic ${topic}: no leader for every partition within ${LEADER_WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Create the topic with `partitions` partitions unless it exists (then it is used as it is). */
export async function createTopic(
  c: KafkaConn,
  topic: string,
  partitions: number,
): Promise<'created' | 'exists'> {
  const v = c.version(ApiKey.CreateTopics);
  const req = CreateTopics.defaultCreateTopicsRequest();
  req.topics = [
    {
      ...CreateTopics.defaultCreatableTopic(),
      name: topic,
      numPartitions: partitions,
      replicationFactor: v >= 4 ? -1 : 1,
    },
  ];
  req.timeoutMs = 30_000;
  const res = CreateTopics.decodeCreateTopicsResponse(
    v,
    await c.request(ApiKey.CreateTopics, v, CreateTopics.encodeCreateTopicsRequest(v, req)),
  );
  const code = res.topics[0]?.errorCode ?? -1;
  if (code === TOPIC_ALREADY_EXISTS) return 'exists';
  if (code !== 0) throw new KafkaError(code, `CreateTopics ${topic}`);
  return 'created';
}

/** Offsets to start from: earliest (-2) or latest (-1), by partition. */
export async function startOffsets(
  c: KafkaConn,
  topic: string,
  partitions: number[],
  from: 'earliest' | 'latest',
): Promise<Map<number, number>> {
  const v = c.version(ApiKey.ListOffsets);
  const req = ListOffsets.defaultListOffsetsRequest();
  req.replicaId = -1;
  req.topics = [
    {
      ...ListOffsets.defaultListOffsetsTopic(),
      name: topic,
      partitions: partitions.map((p) => ({
        ...ListOffsets.defaultListOffsetsPartition(),
        partitionIndex: p,
        currentLeaderEpoch: -1,
        timestamp: from === 'earliest' ? -2n : -1n,
      })),
    },
  ];
  const res = ListOffsets.decodeListOffsetsResponse(
    v,
    await c.request(ApiKey.ListOffsets, v, ListOffsets.encodeListOffsetsRequest(v, req)),
  );
  const out = new Map<number, number>();
  for (const p of res.topics[0]?.partitions ?? []) {
    if (p.errorCode !== 0) throw new KafkaError(p.errorCode, `ListOffsets ${topic}-${p.partitionIndex}`);
    out.set(p.partitionIndex, Number(p.offset));
  }
  return out;
}
