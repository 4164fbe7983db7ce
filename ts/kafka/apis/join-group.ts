/**
 * JoinGroup (classic protocol): the request may wait for the rebalance to
 * complete (up to the group's rebalance timeout); the rules are in
 * groups/rebalance.ts. v4+ asks a new member to come back with the id it is
 * given (MEMBER_ID_REQUIRED, KIP-394); v5+ carries group.instance.id
 * (KIP-345); v9 tells a restarted static leader to skip the assignment.
 */
import type { KafkaContext } from '../dispatch.ts';
import type { RequestHeader } from '../protocol/generated/headers.ts';
import { JoinGroup } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleJoinGroup(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
  header: RequestHeader,
): Promise<Buffer> {
  const req = JoinGroup.decodeJoinGroupRequest(version, r);
  const result = await ctx.groups.join(req.groupId, {
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
    sessionTimeoutMs: req.sessionTimeoutMs,
    // "If RebalanceTimeoutMs is not present, SessionTimeoutMs should be used instead" (the spec).
    rebalanceTimeoutMs: req.rebalanceTimeoutMs < 0 ? req.sessionTimeoutMs : req.rebalanceTimeoutMs,
    protocolType: req.protocolType,
    protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
    clientId: header.clientId ?? '',
    clientHost: ctx.clientHost,
    requireKnownMemberId: version >= 4,
  });
  return JoinGroup.encodeJoinGroupResponse(version, {
    ...JoinGroup.defaultJoinGroupResponse(),
    errorCode: result.errorCode,
    generationId: result.generationId,
    protocolType: result.protocolType,
    // Non-nullable before v7.
    protocolName: version >= 7 ? result.protocolName : (result.protocolName ?? ''),
    leader: result.leader,
    skipAssignment: version >= 9 && result.skipAssignment,
    memberId: result.memberId,
    members: result.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      metadata: m.metadata,
    })),
  });
}
