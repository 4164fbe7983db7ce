/**
 * Every configuration key FerryMQ reads: its type, default, bounds (units
 * in the name, e.g. `shutdown_timeout_ms`) and the environment variable
 * that overrides it. The README's config reference is checked against this
 * table by ts/config/schema.test.ts, so a key cannot exist undocumented.
 *
 * Environment mapping: `FERRYMQ_` + the key path in upper case, with `__`
 * between a section and its key: `listeners.mqtt` -> `FERRYMQ_LISTENERS__MQTT`,
 * `node_id` -> `FERRYMQ_NODE_ID`. Lists are comma-separated.
 */

import {
  type MappingEntry,
  MappingError,
  parseMappings,
  UNKEYED_RULES,
  type UnkeyedRule,
} from '../bridge/mapping.ts';

export const ROLES = ['meta', 'broker', 'engine'] as const;
export type Role = (typeof ROLES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ClusterMember {
  id: number;
  host: string;
  port: number;
}

export const ENGINES = ['memory', 'segment', 'rocks'] as const;
export const DURABILITIES = ['none', 'interval', 'always'] as const;

/** `[storage]`: defaults for every shard, and the adapter's own bounds. */
export interface StorageConfig {
  engine: (typeof ENGINES)[number];
  durability: (typeof DURABILITIES)[number];
  durability_interval_ms: number;
  batch_bytes_max: number;
  segment_bytes_max: number;
  segment_ms_max: number;
  retention_ms: number;
  retention_bytes_max: number;
  retention_check_ms: number;
  memory_bytes_max: number;
  memory_batches_max: number;
  append_queue_bytes_max: number;
  append_call_bytes_max: number;
  append_calls_in_flight_max: number;
  read_waiters_max: number;
}

export const CLIENT_CERT_MODES = ['none', 'request', 'require'] as const;

/** `[mqtt]`: protocol limits; each is enforced with the spec's reaction and counted. */
export interface MqttConfig {
  connect_timeout_ms: number;
  packet_bytes_max: number;
  receive_max: number;
  topic_alias_max: number;
  keepalive_s_max: number;
  session_expiry_s_max: number;
  session_queue_max: number;
  session_queue_bytes_max: number;
  outbound_bytes_max: number;
  connections_max: number;
  subscriptions_per_client_max: number;
  retained_max: number;
  topic_cache_bytes_max: number;
  forbidden_filters: string[];
  sys_interval_ms: number;
  auth_module: string;
}

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

/** `[tls]`: certificate for the mqtt_tls and mqtt_wss listeners (both stay off without one). */
export interface TlsConfig {
  cert_file: string;
  key_file: string;
  ca_file: string;
  client_cert: (typeof CLIENT_CERT_MODES)[number];
}

/** `bridge.kafka_qos` values, by QoS level. */
export const BRIDGE_QOS_NAMES = ['at_most_once', 'at_least_once', 'exactly_once'] as const;

/** `[bridge]`: MQTT ↔ Kafka on one log (ts/bridge/, docs/bridge.md). */
export interface BridgeConfig {
  enabled: boolean;
  mappings: MappingEntry[];
  default_rule: boolean;
  mqtt_to_kafka: boolean;
  kafka_to_mqtt: boolean;
  partition_count: number;
  topics_max: number;
  qos0_inflight_bytes_max: number;
  read_bytes_max: number;
  kafka_qos: (typeof BRIDGE_QOS_NAMES)[number];
  unkeyed: UnkeyedRule;
  discovery_ms: number;
}

/** `[meta]`: the Raft meta service (ts/meta/, docs/raft.md). */
export interface MetaConfig {
  join: boolean;
  tick_ms: number;
  election_tick_count: number;
  heartbeat_tick_count: number;
  shard_group_count: number;
  snapshot_entry_count: number;
  request_timeout_ms: number;
  pending_max: number;
  peer_queue_max: number;
  peer_calls_in_flight_max: number;
  rpc_bytes_max: number;
  watch_queue_max: number;
  kv_keys_max: number;
  kv_value_bytes_max: number;
  snapshot_chunk_bytes: number;
  snapshot_bytes_max: number;
  snapshot_transfer_timeout_ms: number;
  tls_cert_file: string;
  tls_key_file: string;
  tls_ca_file: string;
  node_timeout_ms: number;
  stream_partitions_max: number;
}

export interface Config {
  node_id: number;
  roles: Role[];
  data_dir: string;
  shutdown_timeout_ms: number;
  listeners: {
    mqtt: ListenAddress;
    mqtt_tls: ListenAddress;
    mqtt_ws: ListenAddress;
    mqtt_wss: ListenAddress;
    kafka: ListenAddress;
    admin: ListenAddress;
    cluster: ListenAddress;
  };
  cluster: { members: ClusterMember[] };
  log: { level: (typeof LOG_LEVELS)[number]; format: (typeof LOG_FORMATS)[number] };
  storage: StorageConfig;
  mqtt: MqttConfig;
  kafka: KafkaConfig;
  tls: TlsConfig;
  meta: MetaConfig;
  bridge: BridgeConfig;
}

/** Raised by a parser for a bad value; the loader adds the key and source. */
export class ValueError extends Error {}

export interface KeySpec<T> {
  /** Dotted path, e.g. `listeners.mqtt`. */
  key: string;
  default: T;
  /** One line for the README reference. */
  doc: string;
  /** Accepts a TOML value (or an env string) and returns the typed value, or throws ValueError. */
  parse: (raw: unknown, fromEnv: boolean) => T;
}

const DEFAULT_HOST = '127.0.0.1';

function integer(min: number, max: number) {
  return (raw: unknown, fromEnv: boolean): number => {
    const n = fromEnv && typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n === 'bigint' || typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new ValueError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function oneOf<const T extends readonly string[]>(values: T) {
  return (raw: unknown): T[number] => {
    if (typeof raw !== 'string' || !values.includes(raw)) {
      throw new ValueError(`expected one of ${values.join(', ')}`);
    }
    return raw as T[number];
  };
}

function nonEmptyString(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new ValueError('expected a non-empty string');
  return raw;
}

function bool(raw: unknown, fromEnv: boolean): boolean {
  if (fromEnv && typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
  }
  if (typeof raw !== 'boolean') throw new ValueError('expected true or false');
  return raw;
}

function list(raw: unknown, fromEnv: boolean): unknown[] {
  if (fromEnv && typeof raw === 'string') {
    return raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim());
  }
  if (!Array.isArray(raw)) throw new ValueError('expected a list');
  return raw;
}

/** `host:port`, `[v6]:port`, or a bare port (host 127.0.0.1). Port 0 asks the OS for a free port. */
export function parseAddress(raw: unknown, fromEnv: boolean): ListenAddress {
  const asPort = (p: unknown): number => integer(0, 65535)(p, true);
  if (typeof raw === 'number') return { host: DEFAULT_HOST, port: asPort(raw) };
  if (typeof raw !== 'string') throw new ValueError('expected a port or "host:port"');
  if (/^\d+$/.test(raw)) return { host: DEFAULT_HOST, port: asPort(raw) };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d+)$/.exec(raw);
  if (!m) {
    throw new ValueError(`expected a port or "host:port"${fromEnv ? '' : ' (a string)'}`);
  }
  const port = asPort(m[3]);
  return { host: m[1] ?? m[2] ?? DEFAULT_HOST, port };
}

function parseMember(raw: unknown): ClusterMember {
  if (typeof raw !== 'string') throw new ValueError('expected "id@host:port" entries');
  const at = raw.indexOf('@');
  if (at <= 0) throw new ValueError(`member "${raw}" is not "id@host:port"`);
  const id = integer(1, 2 ** 31 - 1)(raw.slice(0, at), true);
  const { host, port } = parseAddress(raw.slice(at + 1), true);
  if (port === 0) throw new ValueError(`member "${raw}" needs a real port`);
  return { id, host, port };
}

function listener(name: string, port: number, what: string): KeySpec<ListenAddress> {
  return {
    key: `listeners.${name}`,
    default: { host: DEFAULT_HOST, port },
    doc: `${what}; a port or "host:port" (default ${DEFAULT_HOST}:${port}; 0 picks a free port)`,
    parse: parseAddress,
  };
}

export const SCHEMA: readonly KeySpec<unknown>[] = [
  {
    key: 'node_id',
    default: 1,
    doc: 'This node’s id in the cluster (1 to 2^31-1)',
    parse: integer(1, 2 ** 31 - 1),
  },
  {
    key: 'roles',
    default: [...ROLES],
    doc: 'Layers this node runs: any of "meta", "broker", "engine" (default all three)',
    parse: (raw, fromEnv) => {
      const roles = list(raw, fromEnv).map((r) => oneOf(ROLES)(r));
      if (roles.length === 0) throw new ValueError('expected at least one role');
      if (new Set(roles).size !== roles.length) throw new ValueError('a role is listed twice');
      return roles;
    },
  },
  {
    key: 'data_dir',
    default: './data',
    doc: 'Directory for all persistent state; locked by one process at a time',
    parse: nonEmptyString,
  },
  {
    key: 'shutdown_timeout_ms',
    default: 10_000,
    doc: 'Bound on a graceful shutdown (drain, flush) before the process exits anyway',
    parse: integer(0, 600_000),
  },
  listener('mqtt', 1883, 'MQTT over TCP'),
  listener('mqtt_tls', 8883, 'MQTT over TLS'),
  listener('mqtt_ws', 8083, 'MQTT over WebSocket'),
  listener('mqtt_wss', 8084, 'MQTT over secure WebSocket'),
  listener('kafka', 9092, 'Kafka protocol'),
  listener('admin', 8088, 'Admin HTTP API, /health and /metrics'),
  listener('cluster', 9500, 'Inter-node RPC (Raft, forwarding)'),
  {
    key: 'cluster.members',
    default: [],
    doc: 'Initial members as "id@host:port"; empty means a cluster of one',
    parse: (raw, fromEnv) => {
      const members = list(raw, fromEnv).map(parseMember);
      const ids = new Set<number>();
      const addrs = new Set<string>();
      for (const m of members) {
        if (ids.has(m.id)) throw new ValueError(`node id ${m.id} is listed twice`);
        const addr = `${m.host}:${m.port}`;
        if (addrs.has(addr)) throw new ValueError(`address ${addr} is listed twice`);
        ids.add(m.id);
        addrs.add(addr);
      }
      return members;
    },
  },
  {
    key: 'storage.engine',
    default: 'segment',
    doc: 'Default engine for new shards: memory (bounded ring, lost on restart), segment (own log files), rocks (RocksDB rows, for very many small shards)',
    parse: oneOf(ENGINES),
  },
  {
    key: 'storage.durability',
    default: 'interval',
    doc: 'Default durability: none (page cache), interval (fsync every durability_interval_ms), always (fsync before the append is acknowledged)',
    parse: oneOf(DURABILITIES),
  },
  {
    key: 'storage.durability_interval_ms',
    default: 100,
    doc: 'fsync period of the interval policy',
    parse: integer(1, 3_600_000),
  },
  {
    key: 'storage.batch_bytes_max',
    default: 1_048_588,
    doc: 'Largest record batch a shard accepts (Kafka max.message.bytes); larger appends fail with FERRY_ERR_RECORD_TOO_LARGE',
    parse: integer(1024, 1 << 30),
  },
  {
    key: 'storage.segment_bytes_max',
    default: 1 << 30,
    doc: 'Segment engine: roll to a new file past this size',
    parse: integer(4096, 2 ** 31 - 1),
  },
  {
    key: 'storage.segment_ms_max',
    default: 7 * 24 * 3600 * 1000,
    doc: 'Segment engine: roll the active file after this age (0 = never)',
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'storage.retention_ms',
    default: 7 * 24 * 3600 * 1000,
    doc: 'Delete data older than this (0 = keep forever)',
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'storage.retention_bytes_max',
    default: 0,
    doc: 'Delete the oldest data of a shard above this size (0 = no limit)',
    parse: integer(0, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'storage.retention_check_ms',
    default: 300_000,
    doc: 'How often retention runs',
    parse: integer(1000, 86_400_000),
  },
  {
    key: 'storage.memory_bytes_max',
    default: 64 * 1024 * 1024,
    doc: 'Memory engine: ring capacity per shard in bytes; the oldest batches are evicted',
    parse: integer(4096, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'storage.memory_batches_max',
    default: 100_000,
    doc: 'Memory engine: ring capacity per shard in batches',
    parse: integer(1, 2 ** 32 - 1),
  },
  {
    key: 'storage.append_queue_bytes_max',
    default: 64 * 1024 * 1024,
    doc: 'Per shard: bytes of appends queued behind the calls in flight; beyond it appends fail with FERRY_ERR_OVERLOADED',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'storage.append_call_bytes_max',
    // Measured (bench:storage): calls of ~2 MiB group-commit best on this
    // class of disk; 7 MiB calls were 3x slower per byte than 1–2 MiB ones.
    default: 2 * 1024 * 1024,
    doc: 'Per shard: bytes of queued appends one native call (one write, one fsync) may carry; at least batch_bytes_max',
    parse: integer(1024, 1 << 30),
  },
  {
    key: 'storage.append_calls_in_flight_max',
    // Measured (bench:storage): see docs/benchmarks.md, Storage notes.
    default: 3,
    doc: 'Per shard: record-append native calls in flight at once (offsets stay in call order; call N+1 writes while N fsyncs); gauge ferrymq_storage_append_calls_in_flight',
    parse: integer(1, 64),
  },
  {
    key: 'storage.read_waiters_max',
    default: 10_000,
    doc: 'Per shard: long-poll reads parked at the log end; beyond it reads fail with FERRY_ERR_OVERLOADED',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.connect_timeout_ms',
    default: 10_000,
    doc: 'A connection that has not completed CONNECT by then is closed',
    parse: integer(100, 600_000),
  },
  {
    key: 'mqtt.packet_bytes_max',
    default: 1_048_576,
    doc: 'Maximum Packet Size the server accepts; larger packets get DISCONNECT 0x95 (3.1.1: the connection is closed)',
    parse: integer(64, 268_435_460),
  },
  {
    key: 'mqtt.receive_max',
    default: 1024,
    doc: 'Server Receive Maximum: incoming QoS 2 messages awaiting PUBREL per client; more gets DISCONNECT 0x93',
    parse: integer(1, 65_535),
  },
  {
    key: 'mqtt.topic_alias_max',
    default: 1024,
    doc: 'Topic Alias Maximum the server accepts from a client (0 disables incoming aliases)',
    parse: integer(0, 65_535),
  },
  {
    key: 'mqtt.keepalive_s_max',
    default: 65_535,
    doc: 'Largest keep alive granted; an MQTT 5 client asking for more (or 0) is told this via Server Keep Alive',
    parse: integer(1, 65_535),
  },
  {
    key: 'mqtt.session_expiry_s_max',
    default: 604_800,
    doc: 'Cap on session expiry; 3.1.1 persistent sessions (clean session 0) expire after this',
    parse: integer(0, 4_294_967_295),
  },
  {
    key: 'mqtt.session_queue_max',
    default: 1000,
    doc: 'Messages queued per session (offline, or behind the client’s Receive Maximum); oldest dropped beyond it, QoS 0 first',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.session_queue_bytes_max',
    default: 16 * 1024 * 1024,
    doc: 'Payload bytes queued per session; oldest dropped beyond it, QoS 0 first',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'mqtt.outbound_bytes_max',
    default: 1024 * 1024,
    doc: 'Bytes buffered towards one client socket; beyond it QoS 0 messages to that client are dropped and reading from it pauses',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'mqtt.connections_max',
    default: 100_000,
    doc: 'Connections per MQTT listener; more are closed on accept',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.subscriptions_per_client_max',
    default: 10_000,
    doc: 'Subscriptions per session; more get reason 0x97 (Quota exceeded)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'mqtt.retained_max',
    default: 1_000_000,
    doc: 'Retained topics kept; a retained PUBLISH to a new topic beyond it is delivered but not retained',
    parse: integer(0, 100_000_000),
  },
  {
    key: 'mqtt.topic_cache_bytes_max',
    default: 4 * 1024 * 1024,
    doc: 'Estimated bytes of the topic → matching subscriptions cache (oldest topics dropped beyond it; any subscription change invalidates it); 0 disables it',
    parse: integer(0, 1024 * 1024 * 1024),
  },
  {
    key: 'mqtt.forbidden_filters',
    default: [],
    doc: 'Topic filters no client may subscribe to (exact match, e.g. "#"); refused with 0x87 (3.1.1: 0x80)',
    parse: (raw, fromEnv) => list(raw, fromEnv).map((f) => nonEmptyString(f)),
  },
  {
    key: 'mqtt.sys_interval_ms',
    default: 10_000,
    doc: 'Period of the retained $SYS/broker/... statistics topics (0 disables them)',
    parse: integer(0, 86_400_000),
  },
  {
    key: 'mqtt.auth_module',
    default: '',
    doc: 'Path of an ES module exporting authenticate() and/or MQTT 5 enhanced-auth methods + exchange(); empty accepts every client',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
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
  {
    key: 'tls.cert_file',
    default: '',
    doc: 'PEM certificate (chain) for mqtt_tls and mqtt_wss; empty leaves both listeners off',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'tls.key_file',
    default: '',
    doc: 'PEM private key for tls.cert_file',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'tls.ca_file',
    default: '',
    doc: 'PEM CA bundle that client certificates must chain to',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'tls.client_cert',
    default: 'none',
    doc: 'Client certificates: none, request (verified if sent) or require',
    parse: oneOf(CLIENT_CERT_MODES),
  },
  {
    key: 'bridge.enabled',
    default: false,
    doc: 'Run the MQTT ↔ Kafka bridge (needs the broker and engine roles); see docs/bridge.md',
    parse: bool,
  },
  {
    key: 'bridge.mappings',
    default: [],
    doc: 'MQTT topic filter → Kafka topic, as [[bridge.mappings]] tables { filter, kafka_topic }, first match wins; env: JSON or "filter=topic,..."',
    parse: (raw, fromEnv) => {
      try {
        return parseMappings(raw, fromEnv);
      } catch (err) {
        if (err instanceof MappingError) throw new ValueError(err.message);
        throw err;
      }
    },
  },
  {
    key: 'bridge.default_rule',
    default: true,
    doc: 'After the mappings: the first topic level names the Kafka topic (characters Kafka refuses become _)',
    parse: bool,
  },
  {
    key: 'bridge.mqtt_to_kafka',
    default: true,
    doc: 'Append mapped MQTT publishes to Kafka topics (QoS 1/2 acknowledged after the append)',
    parse: bool,
  },
  {
    key: 'bridge.kafka_to_mqtt',
    default: true,
    doc: 'Publish records Kafka clients produce to bridged topics to MQTT subscribers',
    parse: bool,
  },
  {
    key: 'bridge.partition_count',
    default: 1,
    doc: 'Partitions of a Kafka topic the bridge creates; messages are spread by murmur2 of the MQTT topic',
    parse: integer(1, 10_000),
  },
  {
    key: 'bridge.topics_max',
    default: 1000,
    doc: 'The bridge creates no Kafka topic once this many exist; such publishes get 0x97 (3.1.1: disconnect; QoS 0: dropped)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'bridge.qos0_inflight_bytes_max',
    default: 16 * 1024 * 1024,
    doc: 'Bytes of QoS 0 appends not yet settled; beyond it QoS 0 messages are not bridged (ferrymq_bridge_mqtt_dropped_total)',
    parse: integer(1024, Number.MAX_SAFE_INTEGER),
  },
  {
    key: 'bridge.read_bytes_max',
    default: 1024 * 1024,
    doc: 'Kafka → MQTT: bytes one partition read may return (at least one whole batch)',
    parse: integer(1024, 1 << 30),
  },
  {
    key: 'bridge.kafka_qos',
    default: 'at_least_once',
    doc: `Kafka → MQTT: QoS of records without an mqtt.qos header (subscriptions cap it): ${BRIDGE_QOS_NAMES.join(', ')} (QoS 0, 1, 2)`,
    parse: oneOf(BRIDGE_QOS_NAMES),
  },
  {
    key: 'bridge.unkeyed',
    default: 'partition_topic',
    doc: `Kafka → MQTT: a record whose key is not an MQTT topic of that Kafka topic is published on "<kafka topic>/<partition>" (partition_topic) or skipped (skip); one of ${UNKEYED_RULES.join(', ')}`,
    parse: oneOf(UNKEYED_RULES),
  },
  {
    key: 'bridge.discovery_ms',
    default: 1000,
    doc: 'Kafka → MQTT: how often new Kafka topics and partitions are looked for (read from their first record)',
    parse: integer(10, 3_600_000),
  },
  {
    key: 'meta.join',
    default: false,
    doc: 'Start as a new member of an existing cluster: no voters until a member adds this node (POST /api/v1/cluster/members); off means cluster.members are the first voters',
    parse: bool,
  },
  {
    key: 'meta.tick_ms',
    default: 50,
    doc: 'Raft tick length; election and heartbeat intervals are counted in ticks',
    parse: integer(1, 10_000),
  },
  {
    key: 'meta.election_tick_count',
    default: 10,
    doc: 'Minimum election timeout in ticks (the actual one is random in [n, 2n)); also the check-quorum period',
    parse: integer(2, 10_000),
  },
  {
    key: 'meta.heartbeat_tick_count',
    default: 2,
    doc: 'Leader heartbeat interval in ticks (less than meta.election_tick_count)',
    parse: integer(1, 10_000),
  },
  {
    key: 'meta.shard_group_count',
    default: 2,
    doc: 'Raft groups each for "sessions" and "offsets" data, sharded by key hash; with "metadata" the node runs 1 + 2n groups',
    parse: integer(1, 1000),
  },
  {
    key: 'meta.snapshot_entry_count',
    default: 10_000,
    doc: 'A group snapshots its state machine and drops its log after this many applied entries',
    parse: integer(10, 100_000_000),
  },
  {
    key: 'meta.request_timeout_ms',
    default: 5000,
    doc: 'Bound on a proposal, read or forwarded call (FERRY_ERR_RAFT_TIMEOUT), and on one inter-node RPC',
    parse: integer(100, 600_000),
  },
  {
    key: 'meta.pending_max',
    default: 10_000,
    doc: 'Per group: proposals and reads waiting at once; more get FERRY_ERR_OVERLOADED (gauge ferrymq_meta_pending_requests)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'meta.peer_queue_max',
    default: 4096,
    doc: 'Raft messages queued per peer while a call is in flight; beyond it new ones are dropped (ferrymq_meta_peer_dropped_messages_total)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'meta.peer_calls_in_flight_max',
    default: 4,
    doc: 'Raft Step calls in flight per peer at once; more keep an append from waiting behind an earlier call, fewer make bigger batches (messages wait in meta.peer_queue_max)',
    parse: integer(1, 64),
  },
  {
    key: 'meta.rpc_bytes_max',
    default: 64 * 1024 * 1024,
    doc: 'Largest inter-node gRPC message sent or received (a batch of Raft messages, or a snapshot chunk)',
    parse: integer(64 * 1024, 1 << 30),
  },
  {
    key: 'meta.watch_queue_max',
    default: 1000,
    doc: 'Changes queued per watcher; a watcher that falls this far behind is ended with FERRY_ERR_OVERLOADED and must re-read (ferrymq_meta_watch_overflows)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'meta.kv_keys_max',
    default: 100_000,
    doc: 'Keys the cluster KV (PUT /api/v1/cluster/kv/...) may hold; a put of a new key beyond it gets 429 (gauge ferrymq_meta_kv_keys)',
    parse: integer(1, 100_000_000),
  },
  {
    key: 'meta.kv_value_bytes_max',
    default: 64 * 1024,
    doc: 'Largest key plus value in the cluster KV, in UTF-8 bytes (413 beyond it)',
    parse: integer(64, 16 * 1024 * 1024),
  },
  {
    key: 'meta.snapshot_chunk_bytes',
    default: 1024 * 1024,
    doc: 'A snapshot goes to a lagging follower in chunks of this many bytes, one chunk in flight (at most meta.rpc_bytes_max - 4096)',
    parse: integer(1024, 256 * 1024 * 1024),
  },
  {
    key: 'meta.snapshot_bytes_max',
    default: 1024 * 1024 * 1024,
    doc: 'Largest snapshot a follower accepts; a transfer announcing more is refused (the whole snapshot is held in memory once complete)',
    parse: integer(64 * 1024, 2 ** 32 - 1),
  },
  {
    key: 'meta.snapshot_transfer_timeout_ms',
    default: 30_000,
    doc: 'A follower drops a partly received snapshot (its staged chunks) after this long without a chunk; the leader starts over',
    parse: integer(100, 3_600_000),
  },
  {
    key: 'meta.tls_cert_file',
    default: '',
    doc: 'PEM certificate (chain) this node presents on listeners.cluster and to its peers (mutual TLS); set all three meta.tls_* keys or none',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'meta.tls_key_file',
    default: '',
    doc: 'PEM private key for meta.tls_cert_file',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'meta.tls_ca_file',
    default: '',
    doc: 'PEM CA bundle that every peer certificate (client and server side) must chain to',
    parse: (raw) => (typeof raw === 'string' ? raw : nonEmptyString(raw)),
  },
  {
    key: 'meta.node_timeout_ms',
    default: 6000,
    doc: 'The controller (on the metadata leader) marks a node dead after this long without Raft contact and moves the partitions it leads to live replicas (gauge ferrymq_meta_nodes_alive); at least twice the election timeout',
    parse: integer(100, 3_600_000),
  },
  {
    key: 'meta.stream_partitions_max',
    default: 10_000,
    doc: 'Partitions one stream registered with the controller (POST /api/v1/cluster/streams) may have; more get 400 (gauge ferrymq_meta_assigned_partitions)',
    parse: integer(1, 1_000_000),
  },
  {
    key: 'log.level',
    default: 'info',
    doc: `Log level: ${LOG_LEVELS.join(', ')}`,
    parse: oneOf(LOG_LEVELS),
  },
  {
    key: 'log.format',
    default: 'auto',
    doc: 'auto (pretty on a terminal, JSON otherwise), json or pretty',
    parse: oneOf(LOG_FORMATS),
  },
];

export function envName(key: string): string {
  return `FERRYMQ_${key.toUpperCase().replaceAll('.', '__')}`;
}
