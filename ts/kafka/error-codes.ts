/**
 * Kafka's protocol error codes as data (org.apache.kafka.common.protocol.Errors,
 * Kafka 4.0): code, name and whether a client may retry. `KafkaError` names
 * the codes handlers use; `kafkaErrorFor` maps FerryMQ error codes to them.
 */

export interface KafkaErrorInfo {
  code: number;
  name: string;
  retriable: boolean;
}

export const KAFKA_ERRORS: readonly KafkaErrorInfo[] = [
  { code: -1, name: 'UNKNOWN_SERVER_ERROR', retriable: false },
  { code: 0, name: 'NONE', retriable: false },
  { code: 1, name: 'OFFSET_OUT_OF_RANGE', retriable: false },
  { code: 2, name: 'CORRUPT_MESSAGE', retriable: true },
  { code: 3, name: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true },
  { code: 4, name: 'INVALID_FETCH_SIZE', retriable: false },
  { code: 5, name: 'LEADER_NOT_AVAILABLE', retriable: true },
  { code: 6, name: 'NOT_LEADER_OR_FOLLOWER', retriable: true },
  { code: 7, name: 'REQUEST_TIMED_OUT', retriable: true },
  { code: 8, name: 'BROKER_NOT_AVAILABLE', retriable: false },
  { code: 9, name: 'REPLICA_NOT_AVAILABLE', retriable: true },
  { code: 10, name: 'MESSAGE_TOO_LARGE', retriable: false },
  { code: 11, name: 'STALE_CONTROLLER_EPOCH', retriable: false },
  { code: 12, name: 'OFFSET_METADATA_TOO_LARGE', retriable: false },
  { code: 13, name: 'NETWORK_EXCEPTION', retriable: true },
  { code: 14, name: 'COORDINATOR_LOAD_IN_PROGRESS', retriable: true },
  { code: 15, name: 'COORDINATOR_NOT_AVAILABLE', retriable: true },
  { code: 16, name: 'NOT_COORDINATOR', retriable: true },
  { code: 17, name: 'INVALID_TOPIC_EXCEPTION', retriable: false },
  { code: 18, name: 'RECORD_LIST_TOO_LARGE', retriable: false },
  { code: 19, name: 'NOT_ENOUGH_REPLICAS', retriable: true },
  { code: 20, name: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', retriable: true },
  { code: 21, name: 'INVALID_REQUIRED_ACKS', retriable: false },
  { code: 22, name: 'ILLEGAL_GENERATION', retriable: false },
  { code: 23, name: 'INCONSISTENT_GROUP_PROTOCOL', retriable: false },
  { code: 24, name: 'INVALID_GROUP_ID', retriable: false },
  { code: 25, name: 'UNKNOWN_MEMBER_ID', retriable: false },
  { code: 26, name: 'INVALID_SESSION_TIMEOUT', retriable: false },
  { code: 27, name: 'REBALANCE_IN_PROGRESS', retriable: false },
  { code: 28, name: 'INVALID_COMMIT_OFFSET_SIZE', retriable: false },
  { code: 29, name: 'TOPIC_AUTHORIZATION_FAILED', retriable: false },
  { code: 30, name: 'GROUP_AUTHORIZATION_FAILED', retriable: false },
  { code: 31, name: 'CLUSTER_AUTHORIZATION_FAILED', retriable: false },
  { code: 32, name: 'INVALID_TIMESTAMP', retriable: false },
  { code: 33, name: 'UNSUPPORTED_SASL_MECHANISM', retriable: false },
  { code: 34, name: 'ILLEGAL_SASL_STATE', retriable: false },
  { code: 35, name: 'UNSUPPORTED_VERSION', retriable: false },
  { code: 36, name: 'TOPIC_ALREADY_EXISTS', retriable: false },
  { code: 37, name: 'INVALID_PARTITIONS', retriable: false },
  { code: 38, name: 'INVALID_REPLICATION_FACTOR', retriable: false },
  { code: 39, name: 'INVALID_REPLICA_ASSIGNMENT', retriable: false },
  { code: 40, name: 'INVALID_CONFIG', retriable: false },
  { code: 41, name: 'NOT_CONTROLLER', retriable: true },
  { code: 42, name: 'INVALID_REQUEST', retriable: false },
  { code: 43, name: 'UNSUPPORTED_FOR_MESSAGE_FORMAT', retriable: false },
  { code: 44, name: 'POLICY_VIOLATION', retriable: false },
  { code: 45, name: 'OUT_OF_ORDER_SEQUENCE_NUMBER', retriable: false },
  { code: 46, name: 'DUPLICATE_SEQUENCE_NUMBER', retriable: false },
  { code: 47, name: 'INVALID_PRODUCER_EPOCH', retriable: false },
  { code: 48, name: 'INVALID_TXN_STATE', retriable: false },
  { code: 49, name: 'INVALID_PRODUCER_ID_MAPPING', retriable: false },
  { code: 50, name: 'INVALID_TRANSACTION_TIMEOUT', retriable: false },
  { code: 51, name: 'CONCURRENT_TRANSACTIONS', retriable: true },
  { code: 52, name: 'TRANSACTION_COORDINATOR_FENCED', retriable: false },
  { code: 53, name: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', retriable: false },
  { code: 54, name: 'SECURITY_DISABLED', retriable: false },
  { code: 55, name: 'OPERATION_NOT_ATTEMPTED', retriable: false },
  { code: 56, name: 'KAFKA_STORAGE_ERROR', retriable: true },
  { code: 57, name: 'LOG_DIR_NOT_FOUND', retriable: false },
  { code: 58, name: 'SASL_AUTHENTICATION_FAILED', retriable: false },
  { code: 59, name: 'UNKNOWN_PRODUCER_ID', retriable: false },
  { code: 60, name: 'REASSIGNMENT_IN_PROGRESS', retriable: false },
  { code: 61, name: 'DELEGATION_TOKEN_AUTH_DISABLED', retriable: false },
  { code: 62, name: 'DELEGATION_TOKEN_NOT_FOUND', retriable: false },
  { code: 63, name: 'DELEGATION_TOKEN_OWNER_MISMATCH', retriable: false },
  { code: 64, name: 'DELEGATION_TOKEN_REQUEST_NOT_ALLOWED', retriable: false },
  { code: 65, name: 'DELEGATION_TOKEN_AUTHORIZATION_FAILED', retriable: false },
  { code: 66, name: 'DELEGATION_TOKEN_EXPIRED', retriable: false },
  { code: 67, name: 'INVALID_PRINCIPAL_TYPE', retriable: false },
  { code: 68, name: 'NON_EMPTY_GROUP', retriable: false },
  { code: 69, name: 'GROUP_ID_NOT_FOUND', retriable: false },
  { code: 70, name: 'FETCH_SESSION_ID_NOT_FOUND', retriable: true },
  { code: 71, name: 'INVALID_FETCH_SESSION_EPOCH', retriable: true },
  { code: 72, name: 'LISTENER_NOT_FOUND', retriable: true },
  { code: 73, name: 'TOPIC_DELETION_DISABLED', retriable: false },
  { code: 74, name: 'FENCED_LEADER_EPOCH', retriable: true },
  { code: 75, name: 'UNKNOWN_LEADER_EPOCH', retriable: true },
  { code: 76, name: 'UNSUPPORTED_COMPRESSION_TYPE', retriable: false },
  { code: 77, name: 'STALE_BROKER_EPOCH', retriable: false },
  { code: 78, name: 'OFFSET_NOT_AVAILABLE', retriable: true },
  { code: 79, name: 'MEMBER_ID_REQUIRED', retriable: false },
  { code: 80, name: 'PREFERRED_LEADER_NOT_AVAILABLE', retriable: true },
  { code: 81, name: 'GROUP_MAX_SIZE_REACHED', retriable: false },
  { code: 82, name: 'FENCED_INSTANCE_ID', retriable: false },
  { code: 83, name: 'ELIGIBLE_LEADERS_NOT_AVAILABLE', retriable: true },
  { code: 84, name: 'ELECTION_NOT_NEEDED', retriable: true },
  { code: 85, name: 'NO_REASSIGNMENT_IN_PROGRESS', retriable: false },
  { code: 86, name: 'GROUP_SUBSCRIBED_TO_TOPIC', retriable: false },
  { code: 87, name: 'INVALID_RECORD', retriable: false },
  { code: 88, name: 'UNSTABLE_OFFSET_COMMIT', retriable: true },
  { code: 89, name: 'THROTTLING_QUOTA_EXCEEDED', retriable: true },
  { code: 90, name: 'PRODUCER_FENCED', retriable: false },
  { code: 91, name: 'RESOURCE_NOT_FOUND', retriable: false },
  { code: 92, name: 'DUPLICATE_RESOURCE', retriable: false },
  { code: 93, name: 'UNACCEPTABLE_CREDENTIAL', retriable: false },
  { code: 94, name: 'INCONSISTENT_VOTER_SET', retriable: false },
  { code: 95, name: 'INVALID_UPDATE_VERSION', retriable: false },
  { code: 96, name: 'FEATURE_UPDATE_FAILED', retriable: false },
  { code: 97, name: 'PRINCIPAL_DESERIALIZATION_FAILURE', retriable: false },
  { code: 98, name: 'SNAPSHOT_NOT_FOUND', retriable: false },
  { code: 99, name: 'POSITION_OUT_OF_RANGE', retriable: false },
  { code: 100, name: 'UNKNOWN_TOPIC_ID', retriable: true },
  { code: 101, name: 'DUPLICATE_BROKER_REGISTRATION', retriable: false },
  { code: 102, name: 'BROKER_ID_NOT_REGISTERED', retriable: false },
  { code: 103, name: 'INCONSISTENT_TOPIC_ID', retriable: true },
  { code: 104, name: 'INCONSISTENT_CLUSTER_ID', retriable: false },
  { code: 105, name: 'TRANSACTIONAL_ID_NOT_FOUND', retriable: false },
  { code: 106, name: 'FETCH_SESSION_TOPIC_ID_ERROR', retriable: true },
  { code: 107, name: 'INELIGIBLE_REPLICA', retriable: false },
  { code: 108, name: 'NEW_LEADER_ELECTED', retriable: false },
  { code: 109, name: 'OFFSET_MOVED_TO_TIERED_STORAGE', retriable: false },
  { code: 110, name: 'FENCED_MEMBER_EPOCH', retriable: false },
];

const BY_CODE = new Map(KAFKA_ERRORS.map((e) => [e.code, e]));

/** The table entry for a code, if Kafka defines it. */
export function kafkaErrorInfo(code: number): KafkaErrorInfo | undefined {
  return BY_CODE.get(code);
}

/** The codes the handlers answer with. */
export const KafkaError = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  MESSAGE_TOO_LARGE: 10,
  INVALID_TOPIC_EXCEPTION: 17,
  INVALID_REQUIRED_ACKS: 21,
  UNSUPPORTED_VERSION: 35,
  INVALID_REQUEST: 42,
  KAFKA_STORAGE_ERROR: 56,
  REQUEST_TIMED_OUT: 7,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: 43,
} as const;

/**
 * The Kafka error code for a FerryError code from storage (ts/errors.ts);
 * anything unexpected is UNKNOWN_SERVER_ERROR.
 */
export function kafkaErrorFor(ferryCode: string | undefined): number {
  switch (ferryCode) {
    case 'FERRY_ERR_INVALID_BATCH':
    case 'FERRY_ERR_FRAME_MALFORMED':
    case 'FERRY_ERR_FRAME_CRC':
      return KafkaError.CORRUPT_MESSAGE;
    case 'FERRY_ERR_RECORD_TOO_LARGE':
    case 'FERRY_ERR_FRAME_TOO_LARGE':
      return KafkaError.MESSAGE_TOO_LARGE;
    case 'FERRY_ERR_OFFSET_OUT_OF_RANGE':
      return KafkaError.OFFSET_OUT_OF_RANGE;
    case 'FERRY_ERR_OVERLOADED':
      return KafkaError.REQUEST_TIMED_OUT;
    case 'FERRY_ERR_STORAGE_IO':
    case 'FERRY_ERR_DISK_FULL':
    case 'FERRY_ERR_PERMISSION':
    case 'FERRY_ERR_CORRUPT':
    case 'FERRY_ERR_CLOSED':
    case 'FERRY_ERR_ROCKSDB':
      return KafkaError.KAFKA_STORAGE_ERROR;
    default:
      return KafkaError.UNKNOWN_SERVER_ERROR;
  }
}
