/**
 * MQTT → Kafka: every message the broker routes whose topic the mapping
 * takes is appended to a partition of its Kafka topic through the Shard
 * adapter, as one record: key = MQTT topic, value = payload, timestamp =
 * now, MQTT metadata as headers (headers.ts). The partition is Kafka's
 * default partitioner on the key, so one MQTT topic stays in one partition
 * and keeps its order there.
 *
 * QoS 1 and 2 return the append's outcome for the acknowledgement to wait
 * on. QoS 0 appends are fire-and-forget: their bytes in flight are bounded
 * by `bridge.qos0_inflight_bytes_max`; past it a message is not bridged
 * (counted, reason `qos0-inflight`).
 */
import type { BridgeOutcome, BridgeTap } from '../mqtt/broker.ts';
import type { Message } from '../mqtt/message.ts';
import type { Record } from '../storage/records.ts';
import type { Storage } from '../storage/storage.ts';
import type { BridgeTopics } from './bridge.ts';
import { headersFromMessage } from './headers.ts';
import type { TopicMapping } from './mapping.ts';
import type { BridgeMetrics } from './metrics.ts';
import { partitionForKey } from './partitioner.ts';

export interface MqttToKafkaOptions {
  partitions: number;
  qos0InflightBytesMax: number;
  topicsMax: number;
}

/** Refusals that mean "a limit was reached", not "broken": MQTT 5 reason 0x97 (kafka.topics_max included). */
const QUOTA_CODES = new Set(['FERRY_ERR_OVERLOADED', 'FERRY_ERR_DISK_FULL', 'FERRY_ERR_TOPIC_LIMIT']);
/** How long a refused topic creation (bridge.topics_max reached) is remembered before counting again. */
const TOPICS_FULL_RECHECK_MS = 1000;

const OK: BridgeOutcome = { ok: true };

export class MqttToKafka implements BridgeTap {
  readonly #mapping: TopicMapping;
  readonly #topics: BridgeTopics;
  readonly #storage: Storage;
  readonly #opts: MqttToKafkaOptions;
  readonly #metrics: BridgeMetrics;
  /** Called with a Kafka topic the bridge just created, so the reverse path tails it at once. */
  readonly #onCreated: (topic: string) => void;
  #qos0Inflight = 0;
  #topicsFullUntil = 0;

  constructor(
    mapping: TopicMapping,
    topics: BridgeTopics,
    storage: Storage,
    opts: MqttToKafkaOptions,
    metrics: BridgeMetrics,
    onCreated: (topic: string) => void,
  ) {
    this.#mapping = mapping;
    this.#topics = topics;
    this.#storage = storage;
    this.#opts = opts;
    this.#metrics = metrics;
    this.#onCreated = onCreated;
    metrics.qos0Inflight(() => this.#qos0Inflight);
  }

  append(message: Message, nowMs: number): Promise<BridgeOutcome> | undefined {
    const kafkaTopic = this.#mapping.kafkaTopicFor(message.topic);
    if (kafkaTopic === undefined) return undefined;
    const key = Buffer.from(message.topic);
    const record: Record = {
      timestampMs: nowMs,
      key,
      value: message.payload,
      headers: headersFromMessage(message, nowMs),
    };
    if (message.qos > 0) return this.#append(kafkaTopic, record);
    const bytes = key.length + message.payload.length;
    if (this.#qos0Inflight + bytes > this.#opts.qos0InflightBytesMax) {
      this.#metrics.dropped('qos0-inflight');
      return undefined;
    }
    this.#qos0Inflight += bytes;
    void this.#append(kafkaTopic, record).then((outcome) => {
      this.#qos0Inflight -= bytes;
      if (!outcome.ok) this.#metrics.dropped(outcome.quota ? 'qos0-quota' : 'qos0-error');
    });
    return undefined;
  }

  /** Never rejects: the outcome says what happened. Appends to an existing topic start synchronously, keeping order. */
  #append(kafkaTopic: string, record: Record): Promise<BridgeOutcome> {
    const topic = this.#topics.get(kafkaTopic);
    if (topic) return this.#appendTo(topic.shards, record);
    return this.#create(kafkaTopic).then(
      (shards) => (Array.isArray(shards) ? this.#appendTo(shards, record) : shards),
      (err: unknown) => this.#failed(err),
    );
  }

  async #create(kafkaTopic: string): Promise<number[] | BridgeOutcome> {
    const now = Date.now();
    if (now < this.#topicsFullUntil || this.#topics.all().length >= this.#opts.topicsMax) {
      this.#topicsFullUntil = now + TOPICS_FULL_RECHECK_MS;
      this.#metrics.appendFailed('topics-max');
      return {
        ok: false,
        quota: true,
        reason: `bridge.topics_max (${this.#opts.topicsMax}) Kafka topics exist; ${kafkaTopic} is not created`,
      };
    }
    const created = await this.#topics.create(kafkaTopic, this.#opts.partitions);
    this.#onCreated(kafkaTopic);
    return created.shards;
  }

  #appendTo(shards: readonly number[], record: Record): Promise<BridgeOutcome> {
    const shardId = shards[partitionForKey(record.key as Buffer, shards.length)];
    if (shardId === undefined || !this.#storage.has(shardId)) {
      this.#metrics.appendFailed('FERRY_ERR_SHARD_NOT_FOUND');
      return Promise.resolve({ ok: false, quota: false, reason: 'partition has no shard' });
    }
    return this.#storage
      .shard(shardId)
      .append([record])
      .then(
        () => {
          this.#metrics.appended(1);
          return OK;
        },
        (err: unknown) => this.#failed(err),
      );
  }

  #failed(err: unknown): BridgeOutcome {
    const code = (err as { code?: unknown }).code;
    const c = typeof code === 'string' ? code : 'error';
    this.#metrics.appendFailed(c);
    return { ok: false, quota: QUOTA_CODES.has(c), reason: err instanceof Error ? err.message : String(err) };
  }
}
