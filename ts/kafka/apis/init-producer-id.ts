/**
 * InitProducerId: a producer id and epoch for an idempotent producer
 * (producers/producers.ts). A transactional id is refused: transactions are
 * not served.
 */
import type { KafkaContext } from '../dispatch.ts';
import { InitProducerId } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

export async function handleInitProducerId(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = InitProducerId.decodeInitProducerIdRequest(version, r);
  const res = await ctx.producers.init(req, version);
  return InitProducerId.encodeInitProducerIdResponse(version, {
    ...InitProducerId.defaultInitProducerIdResponse(),
    ...res,
  });
}
