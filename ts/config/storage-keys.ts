import { integer, type KeySpec, oneOf } from './value-parsers.ts';

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

export const STORAGE_KEYS: readonly KeySpec<unknown>[] = [
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
];
