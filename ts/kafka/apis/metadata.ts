/**
 * Metadata: this node is the only broker and the controller; every
 * partition is led by it. Unknown topics are created with kafka.default_partition_count when
 * `kafka.auto_create_topics` is on and the client allows it (v4+).
 */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import { Metadata } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { isValidTopicName, type Topic } from '../topics.ts';

function describe(ctx: KafkaContext, topic: Topic): Metadata.MetadataResponseTopic {
  const node = ctx.config.node_id;
  return {
    ...Metadata.defaultMetadataResponseTopic(),
    name: topic.name,
    topicId: topic.id,
    partitions: topic.shards.map((_, i) => ({
      ...Metadata.defaultMetadataResponsePartition(),
      partitionIndex: i,
      leaderId: node,
      leaderEpoch: 0,
      replicaNodes: [node],
      isrNodes: [node],
    })),
  };
}

function failed(name: string, errorCode: number): Metadata.MetadataResponseTopic {
  return { ...Metadata.defaultMetadataResponseTopic(), name, errorCode };
}

export async function handleMetadata(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = Metadata.decodeMetadataRequest(version, r);
  // v0: an empty list means every topic; v1+: null does.
  const all = req.topics === null || (version === 0 && req.topics.length === 0);
  const allowCreate = ctx.config.kafka.auto_create_topics && (version < 4 || req.allowAutoTopicCreation);
  let topics: Metadata.MetadataResponseTopic[];
  if (all) {
    topics = ctx.topics.all().map((t) => describe(ctx, t));
  } else {
    topics = await Promise.all(
      (req.topics ?? []).map(async (t): Promise<Metadata.MetadataResponseTopic> => {
        const name = t.name ?? '';
        const known = ctx.topics.get(name);
        if (known) return describe(ctx, known);
        if (!isValidTopicName(name)) return failed(name, KafkaError.INVALID_TOPIC_EXCEPTION);
        if (!allowCreate) return failed(name, KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
        try {
          return describe(ctx, await ctx.topics.create(name));
        } catch {
          return failed(name, KafkaError.KAFKA_STORAGE_ERROR);
        }
      }),
    );
  }
  const node = ctx.config.node_id;
  return Metadata.encodeMetadataResponse(version, {
    ...Metadata.defaultMetadataResponse(),
    brokers: [{ nodeId: node, host: ctx.host, port: ctx.port, rack: null }],
    clusterId: ctx.topics.clusterId,
    controllerId: node,
    topics,
  });
}
