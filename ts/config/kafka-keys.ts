import { bool, integer, type KeySpec } from './value-parsers.ts';

/** `[kafka]`: the Kafka-protocol listener's limits and behaviour. */
export interface KafkaConfig {
  frame_bytes_max: number;
  connections_max: number;
  auto_create_topics: boolean;
  groups_max: number;
  group_members_max: number;
  group_member_metadata_bytes_max: number;
  group_min_session_timeout_ms: number;
  group_max_session_timeout_ms: number;
  group_initial_rebalance_delay_ms: number;
  offset_metadata_bytes_max: number;
  offsets_retention_ms: number;
  offsets_retention_check_ms: number;
  producer_states_max: number;
  producer_id_expiration_ms: number;
  producer_recovery_bytes_max: number;
  fetch_read_buffer_bytes: number;
  fetch_read_buffers_max: number;
  fetch_read_ahead_ms: number;
  default_partition_count: number;
  topics_max: number;
  partitions_per_topic_max: number;
}

export const KAFKA_KEYS: readonly KeySpec<unknown>[] = [
  {
    key: 'kafka.frame_bytes_max',
    default: 100 * 1024 * 1024,
    doc: 'Largest Kafka request frame (after its 4-byte size prefix); a larger one closes the connection',
    parse: integer(1024, 1 << 30),
  },
  {
    key: 'kafka.connections_max',
    default: 10_000,
    doc: 'Kafka connections accepted at once; more are closed on accept (counted in ferrymq_kafka_refused_connections_total)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'kafka.auto_create_topics',
    default: true,
    doc: 'Create an unknown topic (1 partition) when a client asks for it in Metadata or Produce',
    parse: bool,
  },
  {
    key: 'kafka.groups_max',
    default: 10_000,
    doc: 'Consumer groups (with members or committed offsets) the coordinator holds; a JoinGroup or simple OffsetCommit creating one more gets POLICY_VIOLATION (gauge ferrymq_kafka_groups)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'kafka.group_members_max',
    default: 1_000,
    doc: 'Members (with pending two-step joins) of one consumer group; one more gets GROUP_MAX_SIZE_REACHED (Kafka group.max.size; gauge ferrymq_kafka_group_members)',
    parse: integer(1, 1_000_000),
  },
  {
    key: 'kafka.group_member_metadata_bytes_max',
    default: 1_048_576,
    doc: 'Protocol metadata one member may send with JoinGroup, and one assignment a leader may hand out in SyncGroup; larger gets INVALID_REQUEST (an assignment: for every waiting member, then a rebalance)',
    parse: integer(1024, 1 << 30),
  },
  {
    key: 'kafka.group_min_session_timeout_ms',
    default: 6_000,
    doc: 'Smallest session timeout a JoinGroup may ask for, else INVALID_SESSION_TIMEOUT (Kafka group.min.session.timeout.ms)',
    parse: integer(1, 86_400_000),
  },
  {
    key: 'kafka.group_max_session_timeout_ms',
    default: 1_800_000,
    doc: 'Largest session timeout a JoinGroup may ask for, else INVALID_SESSION_TIMEOUT (Kafka group.max.session.timeout.ms)',
    parse: integer(1, 86_400_000),
  },
  {
    key: 'kafka.group_initial_rebalance_delay_ms',
    default: 3_000,
    doc: 'How long the first rebalance of an empty group waits for more members (extended while they keep arriving, up to the rebalance timeout); Kafka group.initial.rebalance.delay.ms',
    parse: integer(0, 300_000),
  },
  {
    key: 'kafka.offset_metadata_bytes_max',
    default: 4_096,
    doc: 'Largest metadata string (UTF-8 bytes) an OffsetCommit may attach to an offset, else OFFSET_METADATA_TOO_LARGE (Kafka offset.metadata.max.bytes)',
    parse: integer(0, 1_048_576),
  },
  {
    key: 'kafka.offsets_retention_ms',
    default: 7 * 24 * 3600 * 1000,
    doc: 'Committed offsets of a group with no members are deleted once older than this, counted from the later of the commit and the moment the group became empty (Kafka offsets.retention.minutes, KIP-211); 0 keeps them (ferrymq_kafka_expired_offsets_total)',
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'kafka.offsets_retention_check_ms',
    default: 600_000,
    doc: 'How often offset retention runs (Kafka offsets.retention.check.interval.ms)',
    parse: integer(1000, 86_400_000),
  },
  {
    key: 'kafka.producer_states_max',
    default: 100_000,
    doc: 'Idempotent-producer states kept, one per (partition, producer id); past it the least recently used is dropped and that producer is unknown again (gauge ferrymq_kafka_producer_states, ferrymq_kafka_producer_states_evicted_total)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'kafka.producer_id_expiration_ms',
    default: 86_400_000,
    doc: 'A producer state is dropped after this long without a produce to its partition (Kafka producer.id.expiration.ms)',
    parse: integer(1_000, 2_147_483_647),
  },
  {
    key: 'kafka.producer_recovery_bytes_max',
    default: 16 * 1024 * 1024,
    doc: 'Log bytes read back per partition, on its first idempotent produce after a start, to rebuild producer state (0: none; ferrymq_kafka_producer_recovery_bytes_total)',
    parse: integer(0, 1 << 30),
  },
  {
    key: 'kafka.fetch_read_buffer_bytes',
    default: 1024 * 1024,
    doc: "Size of each reusable Fetch read buffer: the most one partition read through it returns (a partition asking for more, or whose first batch is larger, reads into a Buffer of its own). 1 MiB = the Java consumer's max.partition.fetch.bytes",
    parse: integer(64 * 1024, 64 * 1024 * 1024),
  },
  {
    key: 'kafka.fetch_read_buffers_max',
    default: 32,
    doc: 'Reusable Fetch read buffers, made on first use and kept (up to this × fetch_read_buffer_bytes resident); lent per partition read until the socket takes the answer. With all lent, reads allocate their own (ferrymq_kafka_fetch_read_buffer_misses_total). 0: none',
    parse: integer(0, 4096),
  },
  {
    key: 'kafka.fetch_read_ahead_ms',
    default: 1000,
    doc: "Once a Fetch answer for a partition is made, read the next range into a spare read buffer (only while more than half of fetch_read_buffers_max are free) for the same connection's next fetch of it; unused for this long, it goes back (ferrymq_kafka_fetch_read_ahead_hits_total / _unused_total). 0: no read-ahead",
    parse: integer(0, 60_000),
  },
  {
    key: 'kafka.default_partition_count',
    default: 1,
    doc: 'Partitions of an auto-created topic, and of CreateTopics without a count (Kafka num.partitions)',
    parse: integer(1, 1_000_000),
  },
  {
    key: 'kafka.topics_max',
    default: 10_000,
    doc: 'Kafka topics this node holds; creating one more is refused with POLICY_VIOLATION (gauge ferrymq_kafka_topics)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'kafka.partitions_per_topic_max',
    default: 1_000,
    doc: 'Partitions one Kafka topic may have; CreateTopics / CreatePartitions above it get INVALID_PARTITIONS (gauge ferrymq_kafka_partitions)',
    parse: integer(1, 1_000_000),
  },
];
