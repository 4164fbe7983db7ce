/**
 * CreatePartitions (v0–3): only an increase; every new partition's replica
 * list, when given, must be this node. validate_only checks and changes
 * nothing.
 */
import type { KafkaContext } from '../dispatch.ts';
import { CreatePartitions } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import { AdminError, adminErrorFor, assignmentOk } from './admin-errors.ts';

type Result = CreatePartitions.CreatePartitionsTopicResult;

function answer(name: string, errorCode = 0, errorMessage: string | null = null): Result {
  return { ...CreatePartitions.defaultCreatePartitionsTopicResult(), name, errorCode, errorMessage };
}

async function growOne(
  ctx: KafkaContext,
  t: CreatePartitions.CreatePartitionsTopic,
  validateOnly: boolean,
): Promise<Result> {
  const topic = ctx.topics.get(t.name);
  if (!topic)
    return answer(t.name, AdminError.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${t.name}' does not exist.`);
  const current = topic.shards.length;
  if (t.count === current)
    return answer(t.name, AdminError.INVALID_PARTITIONS, `Topic already has ${current} partitions.`);
  if (t.count < current)
    return answer(
      t.name,
      AdminError.INVALID_PARTITIONS,
      `Topic currently has ${current} partitions, which is higher than the requested ${t.count}.`,
    );
  if (t.assignments !== null) {
    if (t.assignments.length !== t.count - current)
      return answer(
        t.name,
        AdminError.INVALID_REPLICA_ASSIGNMENT,
        `Increasing the number of partitions by ${t.count - current} but ${t.assignments.length} assignments provided.`,
      );
    const node = ctx.config.node_id;
    if (t.assignments.some((a) => !assignmentOk(a.brokerIds, node)))
      return answer(
        t.name,
        AdminError.INVALID_REPLICA_ASSIGNMENT,
        `This cluster has one broker (${node}); every partition must have exactly the replica [${node}].`,
      );
  }
  try {
    if (validateOnly) ctx.topics.checkPartitions(t.count);
    else await ctx.topics.addPartitions(t.name, t.count);
    return answer(t.name);
  } catch (err) {
    const e = adminErrorFor(err);
    return answer(t.name, e.errorCode, e.errorMessage);
  }
}

export async function handleCreatePartitions(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = CreatePartitions.decodeCreatePartitionsRequest(version, r);
  const counts = new Map<string, number>();
  for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
  const results: Result[] = [];
  for (const t of req.topics) {
    if ((counts.get(t.name) ?? 0) > 1)
      results.push(answer(t.name, AdminError.INVALID_REQUEST, `Topic '${t.name}' is listed more than once.`));
    else results.push(await growOne(ctx, t, req.validateOnly));
  }
  return CreatePartitions.encodeCreatePartitionsResponse(version, {
    ...CreatePartitions.defaultCreatePartitionsResponse(),
    results,
  });
}
