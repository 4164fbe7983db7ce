/**
 * ListGroups: every group the coordinator holds, all of the classic type.
 * v4+ filters by state (KIP-518), v5+ by type (KIP-848); both compare
 * without case, as Kafka does.
 */
import type { KafkaContext } from '../dispatch.ts';
import { ListGroups } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

const GROUP_TYPE = 'classic';

export async function handleListGroups(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = ListGroups.decodeListGroupsRequest(version, r);
  const states = new Set(req.statesFilter.map((s) => s.toLowerCase()));
  const types = new Set(req.typesFilter.map((s) => s.toLowerCase()));
  const groups = ctx.groups
    .list()
    .filter((g) => states.size === 0 || states.has(g.state.toLowerCase()))
    .filter(() => types.size === 0 || types.has(GROUP_TYPE))
    .map((g) => ({
      ...ListGroups.defaultListedGroup(),
      groupId: g.groupId,
      protocolType: g.protocolType,
      groupState: g.state,
      groupType: GROUP_TYPE,
    }));
  return ListGroups.encodeListGroupsResponse(version, { ...ListGroups.defaultListGroupsResponse(), groups });
}
