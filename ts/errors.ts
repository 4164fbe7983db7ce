/**
 * The catalogue of FerryMQ's own error codes. Every error FerryMQ raises on
 * purpose carries one of these codes; native errors arrive with the same
 * strings (crates/ferry-napi/src/error.rs) and are rewrapped by
 * ts/native/errors.ts. docs/errors.md lists them all, and
 * ts/errors.test.ts fails when the two drift apart. A retired code is never
 * reused.
 */
export const ErrorCodes = {
  FERRY_ERR_CONFIG_INVALID: 'A configuration value is missing, unknown or out of range.',
  FERRY_ERR_CONFIG_READ: 'The configuration file could not be read or is not valid TOML.',
  FERRY_ERR_DATA_DIR_LOCKED: 'Another process holds the lock on the data directory.',
  FERRY_ERR_DATA_DIR: 'The data directory could not be created or opened.',
  FERRY_ERR_NATIVE_MISSING: 'The native addon for this platform is not installed or could not be loaded.',
  FERRY_ERR_NATIVE_VERSION: 'The native addon was built for another FerryMQ version.',
  FERRY_ERR_LISTEN: 'A listener could not bind its address.',
  FERRY_ERR_FRAME_MALFORMED: 'A frame or record batch is malformed.',
  FERRY_ERR_FRAME_TOO_LARGE: 'A frame is larger than the configured maximum.',
  FERRY_ERR_FRAME_UNSUPPORTED: 'A record batch uses an unsupported format (magic other than 2).',
  FERRY_ERR_FRAME_CRC: 'A CRC-32C check failed.',
  FERRY_ERR_STORAGE_IO: 'A storage I/O call failed.',
  FERRY_ERR_DISK_FULL: 'The disk or quota is full; the write may be retried once space is freed.',
  FERRY_ERR_PERMISSION: 'Storage has no permission, or the file system is read-only.',
  FERRY_ERR_CORRUPT: 'Stored data failed its CRC or structure check; it is reported, never returned as data.',
  FERRY_ERR_RECORD_TOO_LARGE: 'A record batch is larger than the shard allows.',
  FERRY_ERR_OFFSET_OUT_OF_RANGE: 'An offset lies outside the shard’s [earliest, next] range.',
  FERRY_ERR_SHARD_NOT_FOUND: 'No shard has this id.',
  FERRY_ERR_SHARD_EXISTS: 'A shard with this id already exists.',
  FERRY_ERR_INVALID_BATCH: 'Bytes offered for append are not an acceptable record batch.',
  FERRY_ERR_SHARD_CONFIG_INVALID: 'A shard or KV setting is out of range.',
  FERRY_ERR_CLOSED: 'The store or shard is closed (or was poisoned by a failed fsync).',
  FERRY_ERR_ROCKSDB: 'RocksDB reported an error.',
  FERRY_ERR_OVERLOADED: 'A bounded queue is full (append queue, parked reads); retry later.',
  FERRY_ERR_INVALID_ARGUMENT:
    'A value passed to the native core is out of range (e.g. an offset above 2^53-1).',
  FERRY_ERR_NATIVE: 'The native core reported an error without a FerryMQ code.',
  FERRY_ERR_TOPIC_EXISTS: 'A Kafka topic with this name already exists.',
  FERRY_ERR_TOPIC_NOT_FOUND: 'No Kafka topic has this name or id.',
  FERRY_ERR_TOPIC_CONFIG_INVALID:
    'A Kafka topic config is unknown, has a bad value, or cannot change after the topic was created.',
  FERRY_ERR_TOPIC_LIMIT:
    'Creating the topic or partitions would pass kafka.topics_max or kafka.partitions_per_topic_max.',
  FERRY_ERR_NOT_LEADER:
    'This node does not lead the Raft group and could not forward the request (no leader known, or the leader did not answer).',
  FERRY_ERR_RAFT_TIMEOUT:
    'A Raft proposal or read was not committed or confirmed within meta.request_timeout_ms (no quorum, or leadership changed); a proposal may still take effect.',
  FERRY_ERR_RAFT_DROPPED:
    'A proposal’s log entry was replaced by another leader’s entry; it did not take effect.',
  FERRY_ERR_CLUSTER_CHANGE:
    'A membership change was refused: another change is still uncommitted, the leader is new, or the member is unknown or the last voter.',
  FERRY_ERR_REPLICATION_FACTOR:
    'A stream’s replication factor is above the number of live nodes, so its partitions cannot be placed on distinct nodes.',
  FERRY_ERR_BENCH_FAILED:
    'A `ferrymq bench` run could not go on: the target broker refused the connections, answered with an error or a protocol error, or a load worker failed.',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/** An operating error: expected, handled, reported with a stable code. */
export class FerryError extends Error {
  override readonly name = 'FerryError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
