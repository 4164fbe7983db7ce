/**
 * The Kafka error codes the admin APIs answer with, and the mapping from
 * the topic registry's and storage's typed errors to them (with the
 * message clients print).
 */
import { FerryError } from '../../errors.ts';
import { kafkaErrorFor } from '../error-codes.ts';
import { TopicConfigError } from '../topic-config.ts';
import { TopicExistsError, TopicLimitError, TopicNotFoundError } from '../topics.ts';

export const AdminError = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  INVALID_TOPIC_EXCEPTION: 17,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REPLICA_ASSIGNMENT: 39,
  INVALID_CONFIG: 40,
  INVALID_REQUEST: 42,
  POLICY_VIOLATION: 44,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  UNKNOWN_TOPIC_ID: 100,
} as const;

export interface ErrorAnswer {
  errorCode: number;
  errorMessage: string | null;
}

/** The Kafka error code and message for an error thrown by the registry or storage. */
export function adminErrorFor(err: unknown): ErrorAnswer {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TopicConfigError) return { errorCode: AdminError.INVALID_CONFIG, errorMessage: message };
  if (err instanceof TopicExistsError)
    return { errorCode: AdminError.TOPIC_ALREADY_EXISTS, errorMessage: message };
  if (err instanceof TopicNotFoundError)
    return { errorCode: AdminError.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: message };
  if (err instanceof TopicLimitError)
    return {
      errorCode: err.kind === 'topics' ? AdminError.POLICY_VIOLATION : AdminError.INVALID_PARTITIONS,
      errorMessage: message,
    };
  return {
    errorCode: kafkaErrorFor(err instanceof FerryError ? err.code : undefined),
    errorMessage: message,
  };
}

/** Kafka's replica-assignment rule on one node: every replica list is exactly [this node]. */
export function assignmentOk(brokerIds: readonly number[], nodeId: number): boolean {
  return brokerIds.length === 1 && brokerIds[0] === nodeId;
}
