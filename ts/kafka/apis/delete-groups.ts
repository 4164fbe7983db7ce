/**
 * DeleteGroups: only a group with no members (Empty) can go
 * (NON_EMPTY_GROUP otherwise); its committed offsets are deleted durably
 * before the answer. An unknown group is GROUP_ID_NOT_FOUND.
 */
import type { KafkaContext } from '../dispatch.ts';
import { DeleteGroups } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleDeleteGroups(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = DeleteGroups.decodeDeleteGroupsRequest(version, r);
  // One at a time, so a name listed twice gets GROUP_ID_NOT_FOUND the second time, as in Kafka.
  const results: DeleteGroups.DeletableGroupResult[] = [];
  for (const groupId of req.groupsNames) {
    results.push({
      ...DeleteGroups.defaultDeletableGroupResult(),
      groupId,
      errorCode: await ctx.groups.delete(groupId),
    });
  }
  return DeleteGroups.encodeDeleteGroupsResponse(version, {
    ...DeleteGroups.defaultDeleteGroupsResponse(),
    results,
  });
}
