/**
 * Per-topic configuration under Kafka's standard names: what each config
 * means here, its default (from the broker's `[storage]` / `[kafka]`
 * settings), how a value is validated, and how the effective set maps onto
 * the Storage API. A topic stores only its overrides (the configs set on it,
 * normalized); everything else is the default. Three mutabilities:
 * `dynamic` configs change at any time; `creation` configs map to settings
 * a shard fixes when it is created, so they may be set by CreateTopics only;
 * `fixed` configs describe what FerryMQ always does and accept only that value.
 */
import type { Config } from '../config/schema.ts';
import { ENGINES, SCHEMA } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { Engine } from '../storage/shard.ts';
import type { Durability, ShardOptions } from '../storage/storage.ts';

/** Kafka's Long.MAX_VALUE: "never" / "no limit" for flush and roll settings. */
export const LONG_MAX = '9223372036854775807';

/** DescribeConfigs configType (KIP-569). */
export const ConfigType = { BOOLEAN: 1, STRING: 2, INT: 3, SHORT: 4, LONG: 5, LIST: 7 } as const;

/** DescribeConfigs configSource. */
export const ConfigSource = {
  DYNAMIC_TOPIC_CONFIG: 1,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
} as const;

export class TopicConfigError extends FerryError {
  constructor(message: string) {
    super('FERRY_ERR_TOPIC_CONFIG_INVALID', message);
  }
}

export type Mutability = 'dynamic' | 'creation' | 'fixed';

export interface TopicConfigDef {
  name: string;
  type: number;
  doc: string;
  mutability: Mutability;
  /** The broker config whose value is this config's default (DescribeConfigs synonyms). */
  brokerSynonym: string;
  default: (c: Config) => string;
  /** Normalized value; throws TopicConfigError for a bad one. */
  parse: (value: string, c: Config) => string;
}

function bad(name: string, value: string, why: string): TopicConfigError {
  return new TopicConfigError(`Invalid value ${value} for configuration ${name}: ${why}`);
}

function long(name: string, value: string, min: bigint, max: bigint = BigInt(LONG_MAX)): bigint {
  const v = value.trim();
  if (!/^-?\d{1,19}$/.test(v)) throw bad(name, value, 'not a number');
  const n = BigInt(v);
  if (n < min || n > max) throw bad(name, value, `must be in [${min}, ${max}]`);
  return n;
}

/** -1 (or anything past 2^53) means unlimited: null. */
function limit(value: string): number | null {
  const n = BigInt(value);
  return n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(n);
}

function fixed(
  name: string,
  type: number,
  value: string,
  brokerSynonym: string,
  doc: string,
): TopicConfigDef {
  return {
    name,
    type,
    doc,
    mutability: 'fixed',
    brokerSynonym,
    default: () => value,
    parse: (v) => {
      if (v.trim() !== value) throw bad(name, v, `FerryMQ always uses ${value}; the config is read-only`);
      return value;
    },
  };
}

export const TOPIC_CONFIGS: readonly TopicConfigDef[] = [
  {
    name: 'retention.ms',
    type: ConfigType.LONG,
    doc: 'Delete records older than this (by record timestamp); -1 keeps them forever.',
    mutability: 'dynamic',
    brokerSynonym: 'log.retention.ms',
    default: (c) => (c.storage.retention_ms === 0 ? '-1' : String(c.storage.retention_ms)),
    parse: (v) => String(long('retention.ms', v, -1n)),
  },
  {
    name: 'retention.bytes',
    type: ConfigType.LONG,
    doc: 'Delete the oldest record batches of a partition while it stores more than this; -1 means no limit.',
    mutability: 'dynamic',
    brokerSynonym: 'log.retention.bytes',
    default: (c) => (c.storage.retention_bytes_max === 0 ? '-1' : String(c.storage.retention_bytes_max)),
    parse: (v) => String(long('retention.bytes', v, -1n)),
  },
  {
    name: 'max.message.bytes',
    type: ConfigType.INT,
    doc: 'Largest record batch Produce accepts for this topic (larger ones get MESSAGE_TOO_LARGE); at most storage.batch_bytes_max.',
    mutability: 'dynamic',
    brokerSynonym: 'message.max.bytes',
    default: (c) => String(c.storage.batch_bytes_max),
    parse: (v, c) => String(long('max.message.bytes', v, 1n, BigInt(c.storage.batch_bytes_max))),
  },
  {
    name: 'cleanup.policy',
    type: ConfigType.LIST,
    doc: 'delete only: old data goes by retention.ms / retention.bytes. compact is refused until FerryMQ has log compaction.',
    mutability: 'dynamic',
    brokerSynonym: 'log.cleanup.policy',
    default: () => 'delete',
    parse: (v) => {
      const items = v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      if (items.includes('compact'))
        throw bad('cleanup.policy', v, 'compact is not supported: FerryMQ has no log compaction yet');
      if (items.length === 0 || items.some((s) => s !== 'delete'))
        throw bad('cleanup.policy', v, 'the only supported policy is delete');
      return 'delete';
    },
  },
  {
    name: 'segment.bytes',
    type: ConfigType.INT,
    doc: 'Segment engine: roll to a new file past this size. Fixed when the topic is created.',
    mutability: 'creation',
    brokerSynonym: 'log.segment.bytes',
    default: (c) => String(c.storage.segment_bytes_max),
    parse: (v) => String(long('segment.bytes', v, 4096n, 2n ** 31n - 1n)),
  },
  {
    name: 'segment.ms',
    type: ConfigType.LONG,
    doc: 'Segment engine: roll the active file after this age. Fixed when the topic is created.',
    mutability: 'creation',
    brokerSynonym: 'log.roll.ms',
    default: (c) => (c.storage.segment_ms_max === 0 ? LONG_MAX : String(c.storage.segment_ms_max)),
    parse: (v) => String(long('segment.ms', v, 1n)),
  },
  {
    name: 'flush.messages',
    type: ConfigType.LONG,
    doc: `1: fsync before every append is acknowledged (the always durability policy); ${LONG_MAX}: no per-message fsync. Fixed when the topic is created.`,
    mutability: 'creation',
    brokerSynonym: 'log.flush.interval.messages',
    default: (c) => (c.storage.durability === 'always' ? '1' : LONG_MAX),
    parse: (v) => {
      const n = long('flush.messages', v, 1n);
      if (n !== 1n && n !== BigInt(LONG_MAX))
        throw bad('flush.messages', v, `only 1 (fsync every append) or ${LONG_MAX} (none) are supported`);
      return String(n);
    },
  },
  {
    name: 'flush.ms',
    type: ConfigType.LONG,
    doc: `fsync at most this many ms after a write (the interval durability policy), 1 to 3600000; ${LONG_MAX}: no timed fsync. Fixed when the topic is created.`,
    mutability: 'creation',
    brokerSynonym: 'log.flush.interval.ms',
    default: (c) =>
      c.storage.durability === 'interval' ? String(c.storage.durability_interval_ms) : LONG_MAX,
    parse: (v) => {
      const n = long('flush.ms', v, 1n);
      if (n > 3_600_000n && n !== BigInt(LONG_MAX))
        throw bad('flush.ms', v, `must be in [1, 3600000], or ${LONG_MAX} for no timed fsync`);
      return String(n);
    },
  },
  {
    name: 'ferrymq.storage.engine',
    type: ConfigType.STRING,
    doc: 'Storage engine of the partitions: memory (bounded ring, lost on restart), segment (own log files) or rocks (RocksDB rows). Fixed when the topic is created.',
    mutability: 'creation',
    brokerSynonym: 'ferrymq.storage.engine',
    default: (c) => c.storage.engine,
    parse: (v) => {
      const e = v.trim();
      if (!(ENGINES as readonly string[]).includes(e))
        throw bad('ferrymq.storage.engine', v, `must be one of ${ENGINES.join(', ')}`);
      return e;
    },
  },
  fixed(
    'message.timestamp.type',
    ConfigType.STRING,
    'CreateTime',
    'log.message.timestamp.type',
    'Record timestamps are the producer’s (CreateTime); read-only.',
  ),
  fixed(
    'compression.type',
    ConfigType.STRING,
    'producer',
    'compression.type',
    'Batches are stored as the producer compressed them; read-only.',
  ),
  fixed(
    'min.insync.replicas',
    ConfigType.INT,
    '1',
    'min.insync.replicas',
    'One node: the leader is the only replica; read-only.',
  ),
];

const BY_NAME = new Map(TOPIC_CONFIGS.map((d) => [d.name, d]));

export function topicConfigDef(name: string): TopicConfigDef | undefined {
  return BY_NAME.get(name);
}

/** A topic's overrides: config name → normalized value. */
export type TopicOverrides = Readonly<Record<string, string>>;

function defOrThrow(name: string): TopicConfigDef {
  const def = BY_NAME.get(name);
  if (!def) throw new TopicConfigError(`Unknown topic config name: ${name}`);
  return def;
}

/** Every config's effective value. */
export function effectiveConfigs(overrides: TopicOverrides, c: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of TOPIC_CONFIGS) out[d.name] = overrides[d.name] ?? d.default(c);
  return out;
}

/**
 * Validate the configs of a CreateTopics request (null values mean "the
 * default") and return the normalized overrides. Fixed configs are checked
 * but not stored.
 */
export function validateCreateConfigs(
  entries: readonly { name: string; value: string | null }[],
  c: Config,
): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const { name, value } of entries) {
    const def = defOrThrow(name);
    if (seen.has(name)) throw new TopicConfigError(`Config ${name} is given twice`);
    seen.add(name);
    if (value === null) continue;
    const v = def.parse(value, c);
    if (def.mutability !== 'fixed') out[name] = v;
  }
  return out;
}

/**
 * Validate a topic's next override set against its current one: every
 * value must parse, and creation-only configs must keep their effective
 * value. Returns the normalized next overrides.
 */
export function validateAlteredConfigs(
  current: TopicOverrides,
  next: Readonly<Record<string, string>>,
  c: Config,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(next)) {
    const def = defOrThrow(name);
    const v = def.parse(value, c);
    if (def.mutability !== 'fixed') out[name] = v;
  }
  const before = effectiveConfigs(current, c);
  const after = effectiveConfigs(out, c);
  for (const d of TOPIC_CONFIGS) {
    if (d.mutability === 'creation' && before[d.name] !== after[d.name]) {
      throw new TopicConfigError(
        `Config ${d.name} cannot change after the topic is created (it is ${before[d.name]}); create a new topic instead`,
      );
    }
  }
  return out;
}

/** Whether a config is list-valued (IncrementalAlterConfigs APPEND / SUBTRACT apply only to those). */
export function isListConfig(name: string): boolean {
  return defOrThrow(name).type === ConfigType.LIST;
}

/** What the rest of the broker needs from a topic's configs, typed. */
export interface TopicSettings {
  /** null: keep forever. */
  retentionMs: number | null;
  /** null: no size limit. */
  retentionBytes: number | null;
  maxMessageBytes: number;
  engine: Engine;
  durability: Durability;
  durabilityIntervalMs: number;
  segmentBytes: number;
  /** 0: never roll by age. */
  segmentMs: number;
}

export function topicSettings(overrides: TopicOverrides, c: Config): TopicSettings {
  const e = effectiveConfigs(overrides, c);
  const get = (name: string): string => e[name] as string;
  let durability: Durability = c.storage.durability;
  let durabilityIntervalMs = c.storage.durability_interval_ms;
  if (overrides['flush.messages'] !== undefined || overrides['flush.ms'] !== undefined) {
    const flushMs = limit(get('flush.ms'));
    if (get('flush.messages') === '1') durability = 'always';
    else if (flushMs !== null) {
      durability = 'interval';
      durabilityIntervalMs = flushMs;
    } else durability = 'none';
  }
  return {
    retentionMs: limit(get('retention.ms')),
    retentionBytes: limit(get('retention.bytes')),
    maxMessageBytes: Number(get('max.message.bytes')),
    engine: get('ferrymq.storage.engine') as Engine,
    durability,
    durabilityIntervalMs,
    segmentBytes: Number(get('segment.bytes')),
    segmentMs: limit(get('segment.ms')) ?? 0,
  };
}

/**
 * Shard options for a topic's partitions. Retention is off in the shard:
 * the topic's retention (ts/kafka/topic-retention.ts) applies it through
 * deleteBefore, so retention.ms / retention.bytes can change at any time
 * in both directions. The batch limit stays the storage maximum: Produce
 * enforces max.message.bytes, which may change too.
 */
export function shardOptions(s: TopicSettings): ShardOptions {
  return {
    engine: s.engine,
    durability: s.durability,
    durabilityIntervalMs: s.durabilityIntervalMs,
    retentionMs: 0,
    retentionBytesMax: 0,
    segmentBytesMax: s.segmentBytes,
    segmentMsMax: s.segmentMs,
  };
}

/** One config as DescribeConfigs and CreateTopics (v5+) report it. */
export interface DescribedConfig {
  name: string;
  value: string;
  readOnly: boolean;
  source: number;
  type: number;
  doc: string;
  synonyms: { name: string; value: string; source: number }[];
}

export function describeTopicConfigs(overrides: TopicOverrides, c: Config): DescribedConfig[] {
  const broker = new Map(describeBrokerConfigs(c).map((b) => [b.name, b]));
  return TOPIC_CONFIGS.map((d) => {
    const own = overrides[d.name];
    const b = broker.get(d.brokerSynonym);
    const fallback = d.default(c);
    const synonyms = [{ name: d.brokerSynonym, value: b?.value ?? fallback, source: b?.source ?? 5 }];
    if (own !== undefined)
      synonyms.unshift({ name: d.name, value: own, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
    return {
      name: d.name,
      value: own ?? fallback,
      readOnly: d.mutability !== 'dynamic',
      source: own !== undefined ? ConfigSource.DYNAMIC_TOPIC_CONFIG : ConfigSource.DEFAULT_CONFIG,
      type: d.type,
      doc: d.doc,
      synonyms,
    };
  });
}

// --- broker configs ----------------------------------------------------------

function atPath(c: Config, key: string): unknown {
  let v: unknown = c;
  for (const part of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

function render(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(render).join(',');
  if (v && typeof v === 'object' && 'host' in v && 'port' in v) {
    const a = v as { id?: number; host: string; port: number };
    return `${a.id !== undefined ? `${a.id}@` : ''}${a.host}:${a.port}`;
  }
  return JSON.stringify(v);
}

const SCHEMA_DEFAULTS = new Map(SCHEMA.map((s) => [s.key, render(s.default)]));
const SCHEMA_DOCS = new Map(SCHEMA.map((s) => [s.key, s.doc]));

function typeOf(v: unknown): number {
  if (typeof v === 'boolean') return ConfigType.BOOLEAN;
  if (typeof v === 'number')
    return Number.isInteger(v) && Math.abs(v) < 2 ** 31 ? ConfigType.INT : ConfigType.LONG;
  if (Array.isArray(v)) return ConfigType.LIST;
  return ConfigType.STRING;
}

/** Kafka-named broker configs and the FerryMQ keys they come from. */
const KAFKA_BROKER_CONFIGS: readonly {
  name: string;
  from: readonly string[];
  type: number;
  value: (c: Config) => string;
  doc: string;
}[] = [
  {
    name: 'node.id',
    from: ['node_id'],
    type: ConfigType.INT,
    value: (c) => String(c.node_id),
    doc: 'This node’s id.',
  },
  {
    name: 'broker.id',
    from: ['node_id'],
    type: ConfigType.INT,
    value: (c) => String(c.node_id),
    doc: 'This node’s id.',
  },
  {
    name: 'message.max.bytes',
    from: ['storage.batch_bytes_max'],
    type: ConfigType.INT,
    value: (c) => String(c.storage.batch_bytes_max),
    doc: 'Largest record batch (storage.batch_bytes_max); default of max.message.bytes.',
  },
  {
    name: 'num.partitions',
    from: ['kafka.default_partition_count'],
    type: ConfigType.INT,
    value: (c) => String(c.kafka.default_partition_count),
    doc: 'Partitions of auto-created topics and of CreateTopics without a count (kafka.default_partition_count).',
  },
  {
    name: 'auto.create.topics.enable',
    from: ['kafka.auto_create_topics'],
    type: ConfigType.BOOLEAN,
    value: (c) => String(c.kafka.auto_create_topics),
    doc: 'Create unknown topics on Metadata and Produce (kafka.auto_create_topics).',
  },
  {
    name: 'default.replication.factor',
    from: [],
    type: ConfigType.INT,
    value: () => '1',
    doc: 'One node: every partition has one replica.',
  },
  {
    name: 'log.retention.ms',
    from: ['storage.retention_ms'],
    type: ConfigType.LONG,
    value: (c) => (c.storage.retention_ms === 0 ? '-1' : String(c.storage.retention_ms)),
    doc: 'Default retention.ms (storage.retention_ms; -1 keeps forever).',
  },
  {
    name: 'log.retention.bytes',
    from: ['storage.retention_bytes_max'],
    type: ConfigType.LONG,
    value: (c) => (c.storage.retention_bytes_max === 0 ? '-1' : String(c.storage.retention_bytes_max)),
    doc: 'Default retention.bytes (storage.retention_bytes_max; -1 means no limit).',
  },
  {
    name: 'log.retention.check.interval.ms',
    from: ['storage.retention_check_ms'],
    type: ConfigType.LONG,
    value: (c) => String(c.storage.retention_check_ms),
    doc: 'How often retention runs (storage.retention_check_ms).',
  },
  {
    name: 'log.segment.bytes',
    from: ['storage.segment_bytes_max'],
    type: ConfigType.INT,
    value: (c) => String(c.storage.segment_bytes_max),
    doc: 'Default segment.bytes (storage.segment_bytes_max).',
  },
  {
    name: 'log.roll.ms',
    from: ['storage.segment_ms_max'],
    type: ConfigType.LONG,
    value: (c) => (c.storage.segment_ms_max === 0 ? LONG_MAX : String(c.storage.segment_ms_max)),
    doc: 'Default segment.ms (storage.segment_ms_max).',
  },
  {
    name: 'log.cleanup.policy',
    from: [],
    type: ConfigType.LIST,
    value: () => 'delete',
    doc: 'delete: FerryMQ has no log compaction yet.',
  },
  {
    name: 'log.flush.interval.messages',
    from: ['storage.durability'],
    type: ConfigType.LONG,
    value: (c) => (c.storage.durability === 'always' ? '1' : LONG_MAX),
    doc: 'Default flush.messages (1 when storage.durability is always).',
  },
  {
    name: 'log.flush.interval.ms',
    from: ['storage.durability', 'storage.durability_interval_ms'],
    type: ConfigType.LONG,
    value: (c) => (c.storage.durability === 'interval' ? String(c.storage.durability_interval_ms) : LONG_MAX),
    doc: 'Default flush.ms (storage.durability_interval_ms under the interval policy).',
  },
  {
    name: 'log.message.timestamp.type',
    from: [],
    type: ConfigType.STRING,
    value: () => 'CreateTime',
    doc: 'Record timestamps are the producer’s.',
  },
  {
    name: 'compression.type',
    from: [],
    type: ConfigType.STRING,
    value: () => 'producer',
    doc: 'Batches are stored as the producer compressed them.',
  },
  {
    name: 'min.insync.replicas',
    from: [],
    type: ConfigType.INT,
    value: () => '1',
    doc: 'One node: the leader is the only replica.',
  },
];

function keySource(c: Config, keys: readonly string[]): number {
  return keys.some((k) => render(atPath(c, k)) !== SCHEMA_DEFAULTS.get(k))
    ? ConfigSource.STATIC_BROKER_CONFIG
    : ConfigSource.DEFAULT_CONFIG;
}

/**
 * The broker's effective settings: Kafka's names where one exists, then
 * every FerryMQ key as `ferrymq.<key>`. All are read-only (set in the TOML
 * file or the environment); the source is STATIC_BROKER_CONFIG when the
 * value differs from the built-in default.
 */
export function describeBrokerConfigs(c: Config): DescribedConfig[] {
  const out: DescribedConfig[] = KAFKA_BROKER_CONFIGS.map((k) => {
    const source = keySource(c, k.from);
    const value = k.value(c);
    return {
      name: k.name,
      value,
      readOnly: true,
      source,
      type: k.type,
      doc: k.doc,
      synonyms: [{ name: k.name, value, source }],
    };
  });
  for (const s of SCHEMA) {
    const raw = atPath(c, s.key);
    const name = `ferrymq.${s.key}`;
    const value = render(raw);
    const source = keySource(c, [s.key]);
    out.push({
      name,
      value,
      readOnly: true,
      source,
      type: typeOf(raw),
      doc: SCHEMA_DOCS.get(s.key) ?? '',
      synonyms: [{ name, value, source }],
    });
  }
  return out;
}
