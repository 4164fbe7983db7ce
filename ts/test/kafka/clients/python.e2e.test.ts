/**
 * confluent-kafka 2.16.1 (its wheel's librdkafka 2.16.0) and kafka-python
 * 3.0.12 (with lz4 4.4.5, python-snappy 0.7.3 over cramjam 2.14.0,
 * zstandard 0.25.0), unchanged, against FerryMQ's Kafka listener: each
 * produces with every codec it supports, with keys and headers, reads its
 * own records back, and the broker stored the batches compressed as sent.
 * One driver process per client runs every step.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import {
  CODEC_ID,
  CODECS,
  type ConsumeResult,
  expected,
  type PyClient,
  pyKafka,
  received,
  sampleMessages,
  storedBatches,
} from '../../helpers/kafka-clients.ts';

describe('Python Kafka clients: every codec, keys and headers', () => {
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

  it('reports the pinned client versions', async () => {
    const [c] = await pyKafka('confluent', addr, [{ op: 'versions' }]);
    expect(c).toEqual({ confluent_kafka: '2.16.1', librdkafka: '2.16.0' });
    const [k] = await pyKafka('kafka-python', addr, [{ op: 'versions' }]);
    expect(k).toEqual({ kafka_python: '3.0.12' });
  });

  const clients: PyClient[] = ['confluent', 'kafka-python'];
  it.each(clients)('%s produces and consumes with none, gzip, snappy, lz4 and zstd', async (client) => {
    const run = randomUUID().slice(0, 8);
    const plan = CODECS.map((codec) => ({
      codec,
      topic: `py-${client}-${codec}-${run}`,
      messages: sampleMessages(`${client}-${codec}`, 12),
    }));
    const steps = [
      ...plan.map((p) => ({ op: 'produce', topic: p.topic, compression: p.codec, messages: p.messages })),
      ...plan.map((p) => ({ op: 'consume', topic: p.topic, count: p.messages.length })),
    ];
    const results = await pyKafka(client, addr, steps, 90_000);
    for (const [i, p] of plan.entries()) {
      const produced = results[i] as { delivered: Array<[number, number]> };
      expect(produced.delivered, `${p.codec} offsets`).toEqual(p.messages.map((_, j) => [0, j]));
      const consumed = results[plan.length + i] as ConsumeResult;
      expect(received(consumed.messages), `${client} reads back ${p.codec}`).toEqual(expected(p.messages));
      expect(consumed.messages.map((m) => m.offset)).toEqual(p.messages.map((_, j) => j));
      const batches = await storedBatches(addr, p.topic);
      expect(batches.length, `${p.codec} batches`).toBeGreaterThan(0);
      expect(new Set(batches.map((b) => b.codec)), `${p.codec} stored as sent`).toEqual(
        new Set([CODEC_ID[p.codec]]),
      );
      // Library defaults: kafka-python 3 produces idempotently (KIP-679), librdkafka does not.
      for (const b of batches) {
        if (client === 'kafka-python') expect(b.producerId).toBeGreaterThanOrEqual(0n);
        else expect(b.producerId).toBe(-1n);
      }
    }
  });
});
