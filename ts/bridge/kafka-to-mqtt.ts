/**
 * Kafka → MQTT: one tailing reader per partition of every bridged Kafka
 * topic publishes its records to the MQTT subscribers of the mapped topic
 * (mapping.ts), with headers mapped back to MQTT 5 properties (headers.ts).
 *
 * Reads long-poll at the log end and are woken by the shard's next append:
 * no timer polls the data. Partitions that exist when the bridge starts are
 * read from their log end (earlier records are history, not news);
 * partitions that appear later (new topics, added partitions) from their
 * earliest offset, so nothing produced between their creation and their
 * discovery is missed. Discovery looks at the topic registry every
 * `bridge.discovery_ms` (and at once when the bridge creates a topic).
 * Records that came from MQTT (origin header) are skipped: no loop.
 * Progress is in memory only; after a restart reading starts at the log
 * ends again (at-most-once across restarts, documented in docs/bridge.md).
 */
import { isUtf8 } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QoS } from 'mqtt-packet';
import type { Logger } from '../log.ts';
import type { Message } from '../mqtt/message.ts';
import { loadNative } from '../native/load.ts';
import { batchOffsetCount, batchSpans, decodeBatches, type StoredRecord } from '../storage/records.ts';
import type { Shard } from '../storage/shard.ts';
import type { Storage } from '../storage/storage.ts';
import type { BridgeTopics } from './bridge.ts';
import { fieldsFromHeaders, isFromMqtt } from './headers.ts';
import type { TopicMapping } from './mapping.ts';
import type { BridgeMetrics } from './metrics.ts';

export interface KafkaToMqttOptions {
  readBytesMax: number;
  defaultQos: QoS;
  discoveryMs: number;
}

export type PublishToMqtt = (message: Message, nowMs: number) => void;

/** A parked read ends after this long without an append and is simply issued again. */
const LONG_POLL_MS = 30_000;
/** Pause before retrying a failed read (I/O error, corruption report, overload). */
const RETRY_MS = 1000;
/** Bound on one decompressed batch (a hostile producer cannot make us inflate without limit). */
const DECOMPRESSED_BYTES_MAX = 64 * 1024 * 1024;

interface Tailer {
  topic: string;
  partition: number;
  shard: Shard;
  next: number;
}

export class KafkaToMqtt {
  readonly #mapping: TopicMapping;
  readonly #topics: BridgeTopics;
  readonly #storage: Storage;
  readonly #opts: KafkaToMqttOptions;
  readonly #metrics: BridgeMetrics;
  readonly #publish: PublishToMqtt;
  readonly #logger: Logger;
  readonly #tailers = new Map<number, Tailer>();
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    mapping: TopicMapping,
    topics: BridgeTopics,
    storage: Storage,
    opts: KafkaToMqttOptions,
    metrics: BridgeMetrics,
    publish: PublishToMqtt,
    logger: Logger,
  ) {
    this.#mapping = mapping;
    this.#topics = topics;
    this.#storage = storage;
    this.#opts = opts;
    this.#metrics = metrics;
    this.#publish = publish;
    this.#logger = logger;
    metrics.lag(() => this.lag());
  }

  /** Tail every bridged partition from its log end, and start discovery. */
  start(): void {
    this.#scan('end');
    this.#timer = setInterval(() => this.discover(), this.#opts.discoveryMs);
    this.#timer.unref();
  }

  /** Tail partitions not seen before, from their earliest offset. */
  discover(): void {
    if (!this.#abort.signal.aborted) this.#scan('earliest');
  }

  /** Records behind the log ends, summed over tailed partitions. */
  lag(): number {
    let n = 0;
    for (const t of this.#tailers.values()) {
      try {
        n += Math.max(0, t.shard.offsets().latest - t.next);
      } catch {
        // A shard deleted under us has no lag; its reader is ending.
      }
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#abort.abort();
    await Promise.allSettled([...this.#running]);
  }

  #scan(from: 'end' | 'earliest'): void {
    for (const topic of this.#topics.all()) {
      if (!this.#mapping.bridgesKafkaTopic(topic.name)) continue;
      topic.shards.forEach((shardId, partition) => {
        if (this.#tailers.has(shardId) || !this.#storage.has(shardId)) return;
        const shard = this.#storage.shard(shardId);
        let next: number;
        try {
          const o = shard.offsets();
          next = from === 'end' ? o.latest : o.earliest;
        } catch {
          return; // deleted since has(): nothing to read
        }
        const t: Tailer = { topic: topic.name, partition, shard, next };
        this.#tailers.set(shardId, t);
        const run = this.#run(t)
          .catch((err: unknown) =>
            this.#logger.error({ err, topic: t.topic, partition }, 'bridge reader stopped'),
          )
          .finally(() => {
            this.#running.delete(run);
            // A reader that stopped for any other reason keeps its entry: rediscovering it
            // would start at the earliest offset and publish its records again.
            if (!this.#storage.has(shardId)) this.#tailers.delete(shardId);
          });
        this.#running.add(run);
      });
    }
  }

  /** Read, publish, repeat; never throws: a failure is counted and retried after a pause. */
  async #run(t: Tailer): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        const r = await t.shard.read(t.next, {
          maxBytes: this.#opts.readBytesMax,
          maxWaitMs: LONG_POLL_MS,
          signal,
        });
        if (r.bytes.length > 0) {
          await this.#deliver(t, r.bytes);
          continue;
        }
        if (!this.#storage.has(t.shard.id)) return; // the topic was deleted
        if (t.next < r.earliestOffset) {
          t.next = r.earliestOffset; // retention or DeleteRecords passed us
          continue;
        }
        // Records exist past t.next yet none came back: never spin on it.
        if (t.next < r.nextOffset && !signal.aborted) await sleep(RETRY_MS, undefined, { signal });
      } catch (err) {
        if (signal.aborted || !this.#storage.has(t.shard.id)) return;
        const code = String((err as { code?: unknown }).code ?? 'error');
        this.#metrics.readErrors(code);
        if (code === 'FERRY_ERR_OFFSET_OUT_OF_RANGE') {
          try {
            const o = t.shard.offsets();
            t.next = Math.min(Math.max(t.next, o.earliest), o.latest);
            continue;
          } catch {
            // Fall through to the pause.
          }
        }
        this.#logger.warn({ err, topic: t.topic, partition: t.partition }, 'bridge read failed; retrying');
        await sleep(RETRY_MS, undefined, { signal }).catch(() => {});
      }
    }
  }

  /** Publish the records of whole batches at or after `t.next`; advances `t.next` past them. */
  async #deliver(t: Tailer, bytes: Buffer): Promise<void> {
    for (const [start, end] of batchSpans(bytes)) {
      const base = Number(bytes.readBigInt64BE(start));
      const after = base + batchOffsetCount(bytes, start);
      if (after <= t.next) continue;
      const batch = await this.#uncompressed(bytes.subarray(start, end));
      if (!batch) {
        this.#metrics.kafkaRecord('skipped-compression', after - Math.max(base, t.next));
      } else {
        let records: StoredRecord[];
        try {
          records = decodeBatches(batch, t.next);
        } catch (err) {
          // CRC-checked, yet its records do not parse: a producer's bug; skip the batch, not the partition.
          records = [];
          this.#metrics.kafkaRecord('skipped-malformed', after - Math.max(base, t.next));
          this.#logger.warn(
            { err, topic: t.topic, partition: t.partition, offset: base },
            'bridge skipped a batch',
          );
        }
        for (const r of records) this.#toMqtt(t, r);
      }
      t.next = after;
    }
  }

  /**
   * The batch with its records uncompressed, whatever Kafka codec the
   * producer chose (gzip, snappy, lz4, zstd): inflated natively, off the JS
   * thread and bounded; undefined when the body does not decode.
   */
  async #uncompressed(batch: Buffer): Promise<Buffer | undefined> {
    if ((batch.readInt16BE(21) & 0x07) === 0) return batch;
    try {
      return await loadNative().uncompressedBatch(batch, DECOMPRESSED_BYTES_MAX);
    } catch {
      return undefined;
    }
  }

  #toMqtt(t: Tailer, r: StoredRecord): void {
    if (isFromMqtt(r)) {
      this.#metrics.kafkaRecord('skipped-origin');
      return;
    }
    const topic = this.#mapping.mqttTopicFor(t.topic, t.partition, r.key);
    if (topic === undefined) {
      this.#metrics.kafkaRecord('skipped-unkeyed');
      return;
    }
    const f = fieldsFromHeaders(r, this.#opts.defaultQos);
    // A copy: the read buffer may be large, and a queued message must not pin it.
    const payload = r.value ? Buffer.from(r.value) : Buffer.alloc(0);
    if (f.properties.payloadFormatIndicator && !isUtf8(payload)) {
      // 5.0 §3.3.2.3.2: a payload declared UTF-8 must be; this one goes out as plain bytes.
      delete f.properties.payloadFormatIndicator;
      this.#metrics.kafkaRecord('invalid-payload-format');
    }
    const now = Date.now();
    const m: Message = { topic, payload, qos: f.qos, retain: f.retain, properties: f.properties };
    if (f.expiryS !== undefined) m.expiresAtMs = now + f.expiryS * 1000;
    this.#publish(m, now);
    this.#metrics.kafkaRecord('published');
  }
}
