/**
 * DeleteTopics (v1–6): by name, and from v6 by topic id. The topic leaves
 * the registry before its shards are deleted, so Metadata and Produce stop
 * seeing it at once.
 */
import type { KafkaContext } from '../dispatch.ts';
import { DeleteTopics } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';
import type { Topic } from '../topics.ts';
import { AdminError, adminErrorFor } from './admin-errors.ts';

type Result = DeleteTopics.DeletableTopicResult;

const ZERO_ID = DeleteTopics.defaultDeletableTopicResult().topicId;

async function deleteOne(ctx: KafkaContext, name: string | null, id: string): Promise<Result> {
  const out: Result = {
    ...DeleteTopics.defaultDeletableTopicResult(),
    name,
    topicId: id,
    errorMessage: null,
  };
  let topic: Topic | undefined;
  if (name !== null) {
    topic = ctx.topics.get(name);
    if (!topic)
      return {
        ...out,
        errorCode: AdminError.UNKNOWN_TOPIC_OR_PARTITION,
        errorMessage: `Topic '${name}' does not exist.`,
      };
  } else {
    topic = ctx.topics.byId(id);
    if (!topic)
      return { ...out, errorCode: AdminError.UNKNOWN_TOPIC_ID, errorMessage: `No topic has the id ${id}.` };
  }
  try {
    const deleted = await ctx.topics.delete(topic.name);
    return { ...out, name: deleted.name, topicId: deleted.id };
  } catch (err) {
    return { ...out, ...adminErrorFor(err) };
  }
}

export async function handleDeleteTopics(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = DeleteTopics.decodeDeleteTopicsRequest(version, r);
  const wanted: { name: string | null; id: string }[] =
    version >= 6
      ? req.topics.map((t) => ({ name: t.name, id: t.topicId }))
      : req.topicNames.map((name) => ({ name, id: ZERO_ID }));
  const responses: Result[] = [];
  for (const w of wanted) {
    if (w.name === null && w.id === ZERO_ID) {
      responses.push({
        ...DeleteTopics.defaultDeletableTopicResult(),
        name: null,
        errorCode: AdminError.INVALID_REQUEST,
        errorMessage: 'A topic needs a name or an id.',
      });
      continue;
    }
    responses.push(await deleteOne(ctx, w.name, w.id));
  }
  return DeleteTopics.encodeDeleteTopicsResponse(version, {
    ...DeleteTopics.defaultDeleteTopicsResponse(),
    responses,
  });
}
