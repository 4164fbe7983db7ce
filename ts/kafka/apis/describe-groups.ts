/**
 * DescribeGroups: state, protocol and members of each group. Member
 * metadata and assignments, and the selected protocol, are filled in only
 * while the group is Stable (as Kafka does). An unknown group is reported
 * as Dead; v6+ adds GROUP_ID_NOT_FOUND (KIP-1043). No authorizer runs, so
 * the authorized operations (v3+, when asked) are all the group allows.
 */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import { GROUP_AUTHORIZED_OPERATIONS } from '../groups/coordinator.ts';
import { DescribeGroups } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

const GROUP_ID_NOT_FOUND = 69;
const INVALID_GROUP_ID = 24;
const NOT_REQUESTED = -2147483648;

export async function handleDescribeGroups(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = DescribeGroups.decodeDescribeGroupsRequest(version, r);
  const operations =
    version >= 3 && req.includeAuthorizedOperations ? GROUP_AUTHORIZED_OPERATIONS : NOT_REQUESTED;
  const groups = req.groups.map((groupId): DescribeGroups.DescribedGroup => {
    const base = { ...DescribeGroups.defaultDescribedGroup(), groupId, authorizedOperations: operations };
    if (groupId === '') {
      return {
        ...base,
        errorCode: INVALID_GROUP_ID,
        errorMessage: version >= 6 ? 'the group id is empty' : null,
      };
    }
    const g = ctx.groups.describe(groupId);
    if (!g) {
      return version >= 6
        ? {
            ...base,
            groupState: 'Dead',
            errorCode: GROUP_ID_NOT_FOUND,
            errorMessage: `group ${groupId} not found`,
          }
        : { ...base, groupState: 'Dead' };
    }
    return {
      ...base,
      errorCode: KafkaError.NONE,
      groupState: g.state,
      protocolType: g.protocolType,
      protocolData: g.protocolData,
      members: g.members.map((m) => ({
        ...DescribeGroups.defaultDescribedGroupMember(),
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.metadata,
        memberAssignment: m.assignment,
      })),
    };
  });
  return DescribeGroups.encodeDescribeGroupsResponse(version, {
    ...DescribeGroups.defaultDescribeGroupsResponse(),
    groups,
  });
}
