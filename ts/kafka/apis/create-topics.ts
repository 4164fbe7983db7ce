/**
 * CreateTopics (v2–7): one node, so the replication factor is -1 or 1 and a
 * manual assignment must put every partition on this node. Configs are
 * validated before anything is created; validate_only answers as if the
 * topic were created (v5+ with its configs) and changes nothing.
 */
import type { KafkaContext } from '../dispatch.ts';
import { CreateTopics } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { describeTopicConfigs, validateCreateConfigs } from '../topic-config.ts';
import { isValidTopicName } from '../topics.ts';
import { AdminError, adminErrorFor, assignmentOk } from './admin-errors.ts';

type Result = CreateTopics.CreatableTopicResult;

function failed(name: string, errorCode: number, errorMessage: string): Result {
  return { ...CreateTopics.defaultCreatableTopicResult(), name, errorCode, errorMessage };
}

/** The partition count a request asks for, or an error answer. */
function partitionCount(ctx: KafkaContext, t: CreateTopics.CreatableTopic): number | Result {
  if (t.assignments.length > 0) {
    if (t.numPartitions !== -1 || t.replicationFactor !== -1)
      return failed(
        t.name,
        AdminError.INVALID_REQUEST,
        'Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.',
      );
    const indexes = t.assignments.map((a) => a.partitionIndex).sort((a, b) => a - b);
    if (indexes.some((p, i) => p !== i))
      return failed(
        t.name,
        AdminError.INVALID_REPLICA_ASSIGNMENT,
        'Partitions must be numbered 0..n-1 without gaps.',
      );
    const node = ctx.config.node_id;
    if (t.assignments.some((a) => !assignmentOk(a.brokerIds, node)))
      return failed(
        t.name,
        AdminError.INVALID_REPLICA_ASSIGNMENT,
        `This cluster has one broker (${node}); every partition must have exactly the replica [${node}].`,
      );
    return t.assignments.length;
  }
  if (t.replicationFactor !== -1 && t.replicationFactor !== 1)
    return failed(
      t.name,
      AdminError.INVALID_REPLICATION_FACTOR,
      `Unable to replicate the partition ${t.replicationFactor} time(s): The target replication factor of ${t.replicationFactor} cannot be reached because only 1 broker(s) are registered.`,
    );
  if (t.numPartitions === -1) return ctx.config.kafka.default_partition_count;
  if (t.numPartitions < 1)
    return failed(t.name, AdminError.INVALID_PARTITIONS, 'Number of partitions must be larger than 0.');
  return t.numPartitions;
}

async function createOne(
  ctx: KafkaContext,
  version: number,
  t: CreateTopics.CreatableTopic,
  validateOnly: boolean,
): Promise<Result> {
  if (!isValidTopicName(t.name))
    return failed(
      t.name,
      AdminError.INVALID_TOPIC_EXCEPTION,
      `Topic name '${t.name}' is illegal: use 1-249 of [a-zA-Z0-9._-].`,
    );
  if (ctx.topics.get(t.name))
    return failed(t.name, AdminError.TOPIC_ALREADY_EXISTS, `Topic '${t.name}' already exists.`);
  // As Kafka: '.' and '_' collide in metric names, so names differing only there are refused.
  const folded = t.name.replaceAll('.', '_');
  const collides = ctx.topics.all().find((o) => o.name.replaceAll('.', '_') === folded);
  if (collides)
    return failed(
      t.name,
      AdminError.INVALID_TOPIC_EXCEPTION,
      `Topic '${t.name}' collides with existing topic: ${collides.name}`,
    );
  const partitions = partitionCount(ctx, t);
  if (typeof partitions !== 'number') return partitions;
  try {
    const configs = validateCreateConfigs(t.configs, ctx.config);
    let topicId = '';
    if (validateOnly) ctx.topics.checkCreate(partitions);
    else topicId = (await ctx.topics.createNew(t.name, partitions, configs)).id;
    const out: Result = {
      ...CreateTopics.defaultCreatableTopicResult(),
      name: t.name,
      errorMessage: null,
      topicId: topicId || CreateTopics.defaultCreatableTopicResult().topicId,
      numPartitions: partitions,
      replicationFactor: 1,
    };
    if (version >= 5)
      out.configs = describeTopicConfigs(configs, ctx.config).map((c) => ({
        ...CreateTopics.defaultCreatableTopicConfigs(),
        name: c.name,
        value: c.value,
        readOnly: c.readOnly,
        configSource: c.source,
        isSensitive: false,
      }));
    return out;
  } catch (err) {
    const e = adminErrorFor(err);
    return failed(t.name, e.errorCode, e.errorMessage ?? '');
  }
}

export async function handleCreateTopics(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = CreateTopics.decodeCreateTopicsRequest(version, r);
  const counts = new Map<string, number>();
  for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  const topics: Result[] = [];
  // One at a time, in request order: the topic-count bound then applies in that order.
  for (const t of req.topics) {
    if ((counts.get(t.name) ?? 0) > 1) {
      topics.push(failed(t.name, AdminError.INVALID_REQUEST, `Topic '${t.name}' is listed more than once.`));
      continue;
    }
    topics.push(await createOne(ctx, version, t, req.validateOnly));
  }
  return CreateTopics.encodeCreateTopicsResponse(version, {
    ...CreateTopics.defaultCreateTopicsResponse(),
    topics,
  });
}
