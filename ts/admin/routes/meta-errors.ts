import type { FastifyReply } from 'fastify';
import { FerryError } from '../../errors.ts';

/** HTTP status per FerryError code for the meta service's routes (cluster.ts and the controller's assignments.ts). */
const STATUS: Partial<Record<FerryError['code'], number>> = {
  FERRY_ERR_NOT_LEADER: 503,
  FERRY_ERR_CLOSED: 503,
  FERRY_ERR_RAFT_TIMEOUT: 504,
  FERRY_ERR_RAFT_DROPPED: 409,
  FERRY_ERR_CLUSTER_CHANGE: 409,
  FERRY_ERR_TOPIC_EXISTS: 409,
  FERRY_ERR_OVERLOADED: 429,
  FERRY_ERR_INVALID_ARGUMENT: 400,
  FERRY_ERR_REPLICATION_FACTOR: 400,
};

/** Answers a FerryError with its status and code (and the leader, when known); rethrows anything else. */
export function failMeta(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof FerryError) {
    const leader = (err as { leader?: unknown }).leader;
    return reply.code(STATUS[err.code] ?? 500).send({
      error: err.code,
      message: err.message,
      ...(typeof leader === 'number' && leader > 0 ? { leader } : {}),
    });
  }
  throw err;
}
