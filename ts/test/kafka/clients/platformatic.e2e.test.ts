/**
 * @platformatic/kafka 2.12.1 (pure JavaScript, its own codec and
 * compression: zlib for gzip and zstd, WebAssembly for snappy and lz4),
 * unchanged, against FerryMQ's Kafka listener: produces with every codec,
 * keys and headers, and reads back through its Consumer's fetch (topic ids
 * from Metadata v13 mapped to names for Fetch v12, as the library does).
 */
import { randomUUID } from 'node:crypto';
import {
  type CompressionAlgorithmValue,
  Consumer,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import { CODEC_ID, CODECS, expected, sampleMessages, storedCodecs } from '../../helpers/kafka-clients.ts';

describe('@platformatic/kafka 2.12.1: every codec, keys and headers', () => {
  let broker: BrokerProcess;
  let addr: string;

  beforeAll(async () => {
    broker = await spawnBroker();
    await broker.ready;
    addr = broker.listeners().kafka as string;
  });

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it.each(CODECS)('produces %s and fetches it back decoded', async (codec) => {
    const topic = `plt-${codec}-${randomUUID().slice(0, 8)}`;
    const messages = sampleMessages(`plt-${codec}`, 12);
    const producer = new Producer({
      clientId: 'ferrymq-matrix',
      bootstrapBrokers: [addr],
      serializers: stringSerializers,
      autocreateTopics: true,
      ...(codec === 'none' ? {} : { compression: codec as CompressionAlgorithmValue }),
    });
    try {
      const res = await producer.send({
        acks: -1,
        messages: messages.map((m) => ({
          topic,
          partition: 0,
          ...(m.key === null ? {} : { key: m.key }),
          ...(m.value === null ? {} : { value: m.value }),
          headers: new Map(Object.entries(m.headers ?? {})),
        })),
      });
      expect(res.offsets?.[0]?.partition).toBe(0);
    } finally {
      await producer.close();
    }
    expect(new Set(await storedCodecs(addr, topic))).toEqual(new Set([CODEC_ID[codec]]));

    const consumer = new Consumer({
      clientId: 'ferrymq-matrix',
      groupId: `plt-unused-${codec}`,
      bootstrapBrokers: [addr],
      deserializers: stringDeserializers,
    });
    try {
      // The consumer maps topic ids to names for Fetch v12 from the metadata of the topics it tracks.
      consumer.topics.track(topic);
      const md = await consumer.metadata({ topics: [topic] });
      const topicId = md.topics.get(topic)?.id;
      expect(topicId).toBeTruthy();
      const res = await consumer.fetch({
        node: md.topics.get(topic)?.partitions[0]?.leader ?? 1,
        maxWaitTime: 500,
        topics: [
          {
            topicId: topicId as string,
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 0n,
                lastFetchedEpoch: -1,
                partitionMaxBytes: 1 << 20,
              },
            ],
          },
        ],
      });
      const p = res.responses[0]?.partitions[0];
      expect(p?.errorCode).toBe(0);
      const got = (p?.records ?? []).flatMap((batch) =>
        batch.records.map((r) => ({
          offset: batch.firstOffset + BigInt(r.offsetDelta),
          key: r.key?.length ? r.key.toString() : null,
          value: r.value?.toString() ?? null,
          headers: r.headers.map(([k, v]) => [k?.toString(), v?.toString() ?? null]),
        })),
      );
      expect(got.map((r) => Number(r.offset))).toEqual(messages.map((_, i) => i));
      expect(got.map(({ key, value, headers }) => ({ key, value, headers }))).toEqual(expected(messages));
    } finally {
      await consumer.close();
    }
  });
});
