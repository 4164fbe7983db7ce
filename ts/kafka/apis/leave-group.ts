/**
 * LeaveGroup: v0-2 remove one member by id; v3+ remove a batch, each by
 * member id and/or group.instance.id (an empty member id with an instance
 * id removes that static member, as the admin client does), with an error
 * per member. v0-2 report that member's error at the top level.
 */
import type { KafkaContext } from '../dispatch.ts';
import { LeaveGroup } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleLeaveGroup(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = LeaveGroup.decodeLeaveGroupRequest(version, r);
  const identities =
    version >= 3
      ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
      : [{ memberId: req.memberId, groupInstanceId: null }];
  const result = ctx.groups.leave(req.groupId, identities);
  const res = LeaveGroup.defaultLeaveGroupResponse();
  if (version >= 3) {
    res.errorCode = result.errorCode;
    if (result.errorCode === 0) {
      res.members = identities.map((m, i) => ({
        ...LeaveGroup.defaultMemberResponse(),
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        errorCode: result.members[i] ?? 0,
      }));
    }
  } else {
    res.errorCode = result.errorCode !== 0 ? result.errorCode : (result.members[0] ?? 0);
  }
  return LeaveGroup.encodeLeaveGroupResponse(version, res);
}
