/**
 * Kafka topics on this node: topic name → one shard per partition, plus the
 * topic's config overrides. Kept in memory and persisted in the KV store
 * (namespace `kafka.topics`) so topics survive a restart: `topic:<name>`
 * holds {id, shards, configs} (entries written before configs existed have
 * none and load with every default); `deleting:<id>` the shards of a topic
 * whose deletion has not finished; `meta:next_shard_id` the shard-id
 * counter; `meta:cluster_id` the cluster id clients see. A stand-in until
 * the meta service owns topic metadata.
 *
 * Every change (create, delete, add partitions, set configs) runs one at a
 * time, and the in-memory map changes before the call resolves, so Metadata
 * and Produce see a created topic, and stop seeing a deleted one, at once.
 */
import { randomBytes } from 'node:crypto';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import type { Kv } from '../storage/kv.ts';
import type { Storage } from '../storage/storage.ts';
import { shardOptions, type TopicOverrides, type TopicSettings, topicSettings } from './topic-config.ts';
import { TopicRetention } from './topic-retention.ts';

export const TOPICS_NS = 'kafka.topics';
const TOPIC_PREFIX = 'topic:';
const DELETING_PREFIX = 'deleting:';
const NEXT_SHARD_KEY = 'meta:next_shard_id';
const CLUSTER_ID_KEY = 'meta:cluster_id';
const PAGE = 1000;

export interface Topic {
  name: string;
  /** Kafka topic id (base64url UUID, as the codec carries it). */
  id: string;
  /** Shard id of each partition, by partition index. */
  shards: number[];
  /** Configs set on this topic (normalized); the rest are defaults. */
  configs: TopicOverrides;
  /** The effective settings derived from `configs` and the broker config. */
  settings: TopicSettings;
}

interface StoredTopic {
  id: string;
  shards: number[];
  configs?: Record<string, string>;
}

/** Kafka's legal topic names: 1–249 of [a-zA-Z0-9._-], not "." or "..". */
export function isValidTopicName(name: string): boolean {
  return (
    name.length > 0 && name.length <= 249 && /^[a-zA-Z0-9._-]+$/.test(name) && name !== '.' && name !== '..'
  );
}

export class TopicExistsError extends FerryError {
  constructor(name: string) {
    super('FERRY_ERR_TOPIC_EXISTS', `Topic '${name}' already exists.`);
  }
}

export class TopicNotFoundError extends FerryError {
  constructor(name: string) {
    super('FERRY_ERR_TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
  }
}

/** A topic-count or partition-count bound was hit; `kind` picks the Kafka error. */
export class TopicLimitError extends FerryError {
  readonly kind: 'topics' | 'partitions';
  constructor(kind: 'topics' | 'partitions', message: string) {
    super('FERRY_ERR_TOPIC_LIMIT', message);
    this.kind = kind;
  }
}

export class TopicRegistry {
  readonly #kv: Kv;
  readonly #storage: Storage;
  readonly #config: Config;
  readonly #topics = new Map<string, Topic>();
  readonly #creating = new Map<string, Promise<Topic>>();
  #nextShardId: number;
  /** Serializes counter updates and every change. */
  #chain: Promise<unknown> = Promise.resolve();
  #retention: TopicRetention | undefined;
  readonly clusterId: string;

  private constructor(kv: Kv, storage: Storage, config: Config, nextShardId: number, clusterId: string) {
    this.#kv = kv;
    this.#storage = storage;
    this.#config = config;
    this.#nextShardId = nextShardId;
    this.clusterId = clusterId;
  }

  static async load(storage: Storage, config: Config, registry?: Registry): Promise<TopicRegistry> {
    const kv = storage.kv;
    const next = await kv.get(TOPICS_NS, NEXT_SHARD_KEY);
    let clusterId = (await kv.get(TOPICS_NS, CLUSTER_ID_KEY))?.toString();
    if (!clusterId) {
      clusterId = randomBytes(16).toString('base64url');
      await kv.put(TOPICS_NS, CLUSTER_ID_KEY, clusterId, { sync: true });
    }
    const topics = new TopicRegistry(kv, storage, config, next ? Number(next.toString()) : 1, clusterId);
    // Deletions a crash interrupted: the topic entry is gone, its shards may not be.
    for await (const { key, value } of topics.#scan(DELETING_PREFIX)) {
      for (const s of JSON.parse(value.toString()) as number[])
        if (storage.has(s)) await storage.deleteShard(s);
      await kv.delete(TOPICS_NS, key, { sync: true });
    }
    for await (const { key, value } of topics.#scan(TOPIC_PREFIX)) {
      const t = JSON.parse(value.toString()) as StoredTopic;
      const configs = t.configs ?? {};
      const topic: Topic = {
        name: key.subarray(TOPIC_PREFIX.length).toString(),
        id: t.id,
        shards: t.shards,
        configs,
        settings: topicSettings(configs, config),
      };
      // A crash between persisting a topic and creating its shards leaves them missing.
      for (const s of topic.shards)
        if (!storage.has(s)) await storage.createShard(s, shardOptions(topic.settings));
      topics.#topics.set(topic.name, topic);
    }
    if (registry) topics.#registerMetrics(registry);
    topics.#retention = new TopicRetention(topics, storage, config.storage.retention_check_ms, registry);
    return topics;
  }

  async *#scan(prefix: string): AsyncGenerator<{ key: Buffer; value: Buffer }> {
    let startAfter: Buffer | undefined;
    for (;;) {
      const page = await this.#kv.scan(TOPICS_NS, prefix, {
        limit: PAGE,
        ...(startAfter ? { startAfter } : {}),
      });
      yield* page;
      if (page.length < PAGE) return;
      startAfter = page[page.length - 1]?.key;
    }
  }

  #registerMetrics(registry: Registry): void {
    const self = this;
    new Gauge({
      name: 'ferrymq_kafka_topics',
      help: 'Kafka topics on this node (bounded by kafka.topics_max)',
      registers: [registry],
      collect() {
        this.set(self.#topics.size);
      },
    });
    new Gauge({
      name: 'ferrymq_kafka_partitions',
      help: 'Kafka partitions on this node, over all topics (each bounded by kafka.partitions_per_topic_max)',
      registers: [registry],
      collect() {
        let n = 0;
        for (const t of self.#topics.values()) n += t.shards.length;
        this.set(n);
      },
    });
  }

  get(name: string): Topic | undefined {
    return this.#topics.get(name);
  }

  byId(id: string): Topic | undefined {
    for (const t of this.#topics.values()) if (t.id === id) return t;
    return undefined;
  }

  all(): Topic[] {
    return [...this.#topics.values()];
  }

  /** Throws TopicLimitError when a topic of `partitions` partitions may not be created now. */
  checkCreate(partitions: number): void {
    const k = this.#config.kafka;
    if (this.#topics.size + this.#creating.size >= k.topics_max)
      throw new TopicLimitError(
        'topics',
        `This node already holds kafka.topics_max (${k.topics_max}) topics.`,
      );
    this.checkPartitions(partitions);
  }

  /** Throws TopicLimitError when a topic may not have `partitions` partitions. */
  checkPartitions(partitions: number): void {
    const max = this.#config.kafka.partitions_per_topic_max;
    if (partitions > max)
      throw new TopicLimitError(
        'partitions',
        `${partitions} partitions is more than kafka.partitions_per_topic_max (${max}).`,
      );
  }

  /**
   * Create a topic, or return the existing one (automatic creation):
   * `partitions` defaults to `kafka.default_partition_count`.
   */
  create(name: string, partitions = this.#config.kafka.default_partition_count): Promise<Topic> {
    const existing = this.#topics.get(name);
    if (existing) return Promise.resolve(existing);
    const pending = this.#creating.get(name);
    if (pending) return pending;
    return this.#startCreate(name, partitions, {}, false);
  }

  /** Create a new topic with these (validated) overrides; TopicExistsError if it exists. */
  createNew(name: string, partitions: number, configs: TopicOverrides): Promise<Topic> {
    if (this.#topics.has(name) || this.#creating.has(name)) return Promise.reject(new TopicExistsError(name));
    return this.#startCreate(name, partitions, configs, true);
  }

  #startCreate(
    name: string,
    partitions: number,
    configs: TopicOverrides,
    exclusive: boolean,
  ): Promise<Topic> {
    try {
      this.checkCreate(partitions);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = this.#serial(() => this.#create(name, partitions, configs, exclusive));
    this.#creating.set(name, p);
    const forget = (): void => {
      this.#creating.delete(name);
    };
    p.then(forget, forget);
    return p;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn);
    this.#chain = p.catch(() => {});
    return p;
  }

  async #allocate(n: number): Promise<number[]> {
    const ids = Array.from({ length: n }, (_, i) => this.#nextShardId + i);
    this.#nextShardId += n;
    // The counter first: a crash after it only wastes ids, never reuses one.
    await this.#kv.put(TOPICS_NS, NEXT_SHARD_KEY, String(this.#nextShardId), { sync: true });
    return ids;
  }

  async #persist(topic: Topic): Promise<void> {
    const stored: StoredTopic = { id: topic.id, shards: topic.shards, configs: { ...topic.configs } };
    await this.#kv.put(TOPICS_NS, TOPIC_PREFIX + topic.name, JSON.stringify(stored), { sync: true });
  }

  async #create(
    name: string,
    partitions: number,
    configs: TopicOverrides,
    exclusive: boolean,
  ): Promise<Topic> {
    const existing = this.#topics.get(name);
    if (existing) {
      if (exclusive) throw new TopicExistsError(name);
      return existing;
    }
    const settings = topicSettings(configs, this.#config);
    const shards = await this.#allocate(partitions);
    for (const s of shards)
      if (!this.#storage.has(s)) await this.#storage.createShard(s, shardOptions(settings));
    const topic: Topic = { name, id: randomBytes(16).toString('base64url'), shards, configs, settings };
    await this.#persist(topic);
    this.#topics.set(name, topic);
    return topic;
  }

  /**
   * Delete a topic and its shards. The topic leaves the map first, and its
   * KV entry is swapped for a `deleting:` record in one atomic write, so a
   * crash before the shards are gone finishes the deletion on the next load.
   */
  delete(name: string): Promise<Topic> {
    return this.#serial(async () => {
      const topic = this.#topics.get(name);
      if (!topic) throw new TopicNotFoundError(name);
      this.#topics.delete(name);
      const deleting = DELETING_PREFIX + topic.id;
      await this.#kv.write(
        [
          { ns: TOPICS_NS, key: TOPIC_PREFIX + name, delete: true },
          { ns: TOPICS_NS, key: deleting, value: JSON.stringify(topic.shards) },
        ],
        { sync: true },
      );
      for (const s of topic.shards) if (this.#storage.has(s)) await this.#storage.deleteShard(s);
      await this.#kv.delete(TOPICS_NS, deleting, { sync: true });
      return topic;
    });
  }

  /** Grow a topic to `count` partitions (the caller checked it is an increase). */
  addPartitions(name: string, count: number): Promise<Topic> {
    return this.#serial(async () => {
      const topic = this.#topics.get(name);
      if (!topic) throw new TopicNotFoundError(name);
      this.checkPartitions(count);
      if (count <= topic.shards.length) return topic;
      const added = await this.#allocate(count - topic.shards.length);
      for (const s of added)
        if (!this.#storage.has(s)) await this.#storage.createShard(s, shardOptions(topic.settings));
      const next: Topic = { ...topic, shards: [...topic.shards, ...added] };
      await this.#persist(next);
      this.#topics.set(name, next);
      return next;
    });
  }

  /** Replace a topic's overrides (validated by the caller); retention runs at once. */
  setConfigs(name: string, configs: TopicOverrides): Promise<Topic> {
    return this.#serial(async () => {
      const topic = this.#topics.get(name);
      if (!topic) throw new TopicNotFoundError(name);
      const next: Topic = { ...topic, configs, settings: topicSettings(configs, this.#config) };
      await this.#persist(next);
      this.#topics.set(name, next);
      this.#retention?.runSoon();
      return next;
    });
  }

  /** Stop the retention schedule; idempotent. */
  close(): void {
    this.#retention?.close();
  }
}
