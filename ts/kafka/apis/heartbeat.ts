/** Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin. */
import type { KafkaContext } from '../dispatch.ts';
import { Heartbeat } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleHeartbeat(ctx: KafkaContext, version: number, r: KafkaReader): Promise<Buffer> {
  const req = Heartbeat.decodeHeartbeatRequest(version, r);
  const errorCode = ctx.groups.heartbeat(req.groupId, req.memberId, req.groupInstanceId, req.generationId);
  return Heartbeat.encodeHeartbeatResponse(version, { ...Heartbeat.defaultHeartbeatResponse(), errorCode });
}
