/** SyncGroup: the leader hands out assignments; every member waits for its own (groups/rebalance.ts). */
import type { KafkaContext } from '../dispatch.ts';
import { SyncGroup } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleSyncGroup(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = SyncGroup.decodeSyncGroupRequest(version, r);
  const result = await ctx.groups.sync(req.groupId, {
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
    generationId: req.generationId,
    protocolType: req.protocolType,
    protocolName: req.protocolName,
    assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
  });
  return SyncGroup.encodeSyncGroupResponse(version, {
    ...SyncGroup.defaultSyncGroupResponse(),
    errorCode: result.errorCode,
    protocolType: result.protocolType,
    protocolName: result.protocolName,
    assignment: result.assignment,
  });
}
