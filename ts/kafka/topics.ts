/**
 * Kafka topics on this node: topic name → one shard per partition. Kept in
 * memory and persisted in the KV store (namespace `kafka.topics`) so topics
 * survive a restart: `topic:<name>` holds {id, shards}; `meta:next_shard_id`
 * the shard-id counter; `meta:cluster_id` the cluster id clients see. A
 * stand-in until the meta service owns topic metadata.
 */
import { randomBytes } from 'node:crypto';
import type { Kv } from '../storage/kv.ts';
import type { Storage } from '../storage/storage.ts';

export const TOPICS_NS = 'kafka.topics';
const TOPIC_PREFIX = 'topic:';
const NEXT_SHARD_KEY = 'meta:next_shard_id';
const CLUSTER_ID_KEY = 'meta:cluster_id';
const PAGE = 1000;

export interface Topic {
  name: string;
  /** Kafka topic id (base64url UUID, as the codec carries it). */
  id: string;
  /** Shard id of each partition, by partition index. */
  shards: number[];
}

/** Kafka's legal topic names: 1–249 of [a-zA-Z0-9._-], not "." or "..". */
export function isValidTopicName(name: string): boolean {
  return (
    name.length > 0 && name.length <= 249 && /^[a-zA-Z0-9._-]+$/.test(name) && name !== '.' && name !== '..'
  );
}

export class TopicRegistry {
  readonly #kv: Kv;
  readonly #storage: Storage;
  readonly #topics = new Map<string, Topic>();
  readonly #creating = new Map<string, Promise<Topic>>();
  #nextShardId: number;
  /** Serializes counter updates and creations. */
  #chain: Promise<unknown> = Promise.resolve();
  readonly clusterId: string;

  private constructor(kv: Kv, storage: Storage, nextShardId: number, clusterId: string) {
    this.#kv = kv;
    this.#storage = storage;
    this.#nextShardId = nextShardId;
    this.clusterId = clusterId;
  }

  static async load(storage: Storage): Promise<TopicRegistry> {
    const kv = storage.kv;
    const next = await kv.get(TOPICS_NS, NEXT_SHARD_KEY);
    let clusterId = (await kv.get(TOPICS_NS, CLUSTER_ID_KEY))?.toString();
    if (!clusterId) {
      clusterId = randomBytes(16).toString('base64url');
      await kv.put(TOPICS_NS, CLUSTER_ID_KEY, clusterId, { sync: true });
    }
    const registry = new TopicRegistry(kv, storage, next ? Number(next.toString()) : 1, clusterId);
    let startAfter: Buffer | undefined;
    for (;;) {
      const page = await kv.scan(TOPICS_NS, TOPIC_PREFIX, {
        limit: PAGE,
        ...(startAfter ? { startAfter } : {}),
      });
      for (const { key, value } of page) {
        const t = JSON.parse(value.toString()) as { id: string; shards: number[] };
        const topic: Topic = {
          name: key.subarray(TOPIC_PREFIX.length).toString(),
          id: t.id,
          shards: t.shards,
        };
        // A crash between persisting a topic and creating its shards leaves them missing.
        for (const s of topic.shards) if (!storage.has(s)) await storage.createShard(s);
        registry.#topics.set(topic.name, topic);
      }
      if (page.length < PAGE) break;
      startAfter = page[page.length - 1]?.key;
    }
    return registry;
  }

  get(name: string): Topic | undefined {
    return this.#topics.get(name);
  }

  all(): Topic[] {
    return [...this.#topics.values()];
  }

  /** Create a topic (or return the existing one) with `partitions` partitions. */
  create(name: string, partitions = 1): Promise<Topic> {
    const existing = this.#topics.get(name);
    if (existing) return Promise.resolve(existing);
    let p = this.#creating.get(name);
    if (!p) {
      p = this.#chain.then(() => this.#create(name, partitions));
      this.#chain = p.catch(() => {});
      this.#creating.set(name, p);
      const forget = (): void => {
        this.#creating.delete(name);
      };
      p.then(forget, forget);
    }
    return p;
  }

  async #create(name: string, partitions: number): Promise<Topic> {
    const existing = this.#topics.get(name);
    if (existing) return existing;
    const shards = Array.from({ length: partitions }, (_, i) => this.#nextShardId + i);
    this.#nextShardId += partitions;
    // The counter first: a crash after it only wastes ids, never reuses one.
    await this.#kv.put(TOPICS_NS, NEXT_SHARD_KEY, String(this.#nextShardId), { sync: true });
    for (const s of shards) if (!this.#storage.has(s)) await this.#storage.createShard(s);
    const topic: Topic = { name, id: randomBytes(16).toString('base64url'), shards };
    await this.#kv.put(TOPICS_NS, TOPIC_PREFIX + name, JSON.stringify({ id: topic.id, shards }), {
      sync: true,
    });
    this.#topics.set(name, topic);
    return topic;
  }
}
