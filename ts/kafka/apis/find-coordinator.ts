/**
 * FindCoordinator: this node coordinates every group. Transactions (key
 * type 1) and share groups (key type 2, v6) are not served, so those keys
 * get INVALID_REQUEST with a message: a client fails at once instead of
 * retrying a coordinator that will never appear.
 */
import type { KafkaContext } from '../dispatch.ts';
import { KafkaError } from '../error-codes.ts';
import { FindCoordinator } from '../protocol/generated/index.ts';
import type { KafkaReader } from '../protocol/reader.ts';

const KEY_TYPE_GROUP = 0;

function answer(
  ctx: KafkaContext,
  keyType: number,
): { errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number } {
  if (keyType === KEY_TYPE_GROUP) {
    return {
      errorCode: KafkaError.NONE,
      errorMessage: null,
      nodeId: ctx.config.node_id,
      host: ctx.host,
      port: ctx.port,
    };
  }
  const what =
    keyType === 1 ? 'transactions are' : keyType === 2 ? 'share groups are' : `key type ${keyType} is`;
  return {
    errorCode: KafkaError.INVALID_REQUEST,
    errorMessage: `${what} not served by this broker`,
    nodeId: -1,
    host: '',
    port: -1,
  };
}

export async function handleFindCoordinator(
  ctx: KafkaContext,
  version: number,
  r: KafkaReader,
): Promise<Buffer> {
  const req = FindCoordinator.decodeFindCoordinatorRequest(version, r);
  const res = FindCoordinator.defaultFindCoordinatorResponse();
  if (version >= 4) {
    res.coordinators = req.coordinatorKeys.map((key) => ({
      ...FindCoordinator.defaultCoordinator(),
      key,
      ...answer(ctx, req.keyType),
    }));
  } else {
    const a = answer(ctx, req.keyType);
    Object.assign(res, a, { errorMessage: version >= 1 ? a.errorMessage : null });
  }
  return FindCoordinator.encodeFindCoordinatorResponse(version, res);
}
