/**
 * Metadata: on one node (or for a topic not registered as a stream), this
 * node is the only broker and leads every partition. In a cluster, a
 * registered stream's partitions are reported as the controller assigned
 * them (leader, leader epoch, replicas; the ISR is the leader alone, as
 * stream data is not replicated yet), with every broker that recorded its
 * Kafka address; a leader with no recorded address is LEADER_NOT_AVAILABLE.
 * Unknown topics are created with kafka.default_partition_count when
 * `kafka.auto_create_topics` is on and the client allows it (v4+).
 */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import { Metadata } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { isValidTopicName, type Topic } from '../topics.ts';
import { LeaderError } from './leader-errors.ts';

function describe(
  ctx: KafkaContext,
  topic: Topic,
  brokers: ReadonlySet<number>,
): Metadata.MetadataResponseTopic {
  const node = ctx.config.node_id;
  return {
    ...Metadata.defaultMetadataResponseTopic(),
    name: topic.name,
    topicId: topic.id,
    partitions: topic.shards.map((_, i) => {
      const a = ctx.partitions?.assignment(topic.name, i);
      if (!a) {
        return {
          ...Metadata.defaultMetadataResponsePartition(),
          partitionIndex: i,
          leaderId: node,
          leaderEpoch: 0,
          replicaNodes: [node],
          isrNodes: [node],
        };
      }
      const reachable = brokers.has(a.leader);
      return {
        ...Metadata.defaultMetadataResponsePartition(),
        errorCode: reachable ? KafkaError.NONE : LeaderError.LEADER_NOT_AVAILABLE,
        partitionIndex: i,
        leaderId: reachable ? a.leader : -1,
        leaderEpoch: a.leader_epoch,
        replicaNodes: a.replicas,
        isrNodes: [a.leader],
      };
    }),
  };
}

/** This node as the client reached it, and (in a cluster) every other broker as it recorded itself. */
function brokerList(ctx: KafkaContext): Metadata.MetadataResponseBroker[] {
  const self = { nodeId: ctx.config.node_id, host: ctx.host, port: ctx.port, rack: null };
  if (!ctx.partitions?.clustered) return [self];
  const others = ctx.partitions
    .brokers()
    .filter((b) => b.nodeId !== self.nodeId)
    .map((b) => ({ ...b, rack: null }));
  return [self, ...others].sort((a, b) => a.nodeId - b.nodeId);
}

function failed(name: string, errorCode: number): Metadata.MetadataResponseTopic {
  return { ...Metadata.defaultMetadataResponseTopic(), name, errorCode };
}

export async function handleMetadata(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = Metadata.decodeMetadataRequest(version, r);
  // v0: an empty list means every topic; v1+: null does.
  const all = req.topics === null || (version === 0 && req.topics.length === 0);
  const allowCreate = ctx.config.kafka.auto_create_topics && (version < 4 || req.allowAutoTopicCreation);
  const brokers = brokerList(ctx);
  const ids = new Set(brokers.map((b) => b.nodeId));
  let topics: Metadata.MetadataResponseTopic[];
  if (all) {
    topics = ctx.topics.all().map((t) => describe(ctx, t, ids));
  } else {
    topics = await Promise.all(
      (req.topics ?? []).map(async (t): Promise<Metadata.MetadataResponseTopic> => {
        const name = t.name ?? '';
        const known = ctx.topics.get(name);
        if (known) return describe(ctx, known, ids);
        if (!isValidTopicName(name)) return failed(name, KafkaError.INVALID_TOPIC_EXCEPTION);
        if (!allowCreate) return failed(name, KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
        try {
          // A stream registered with the controller is created here with its partition count.
          return describe(ctx, await ctx.topics.create(name, ctx.partitions?.streamPartitions(name)), ids);
        } catch {
          return failed(name, KafkaError.KAFKA_STORAGE_ERROR);
        }
      }),
    );
  }
  const node = ctx.config.node_id;
  return Metadata.encodeMetadataResponse(version, {
    ...Metadata.defaultMetadataResponse(),
    brokers,
    clusterId: ctx.topics.clusterId,
    controllerId: node,
    topics,
  });
}
