/**
 * The Apache Kafka Java client and command-line tools 4.3.1 (Maven Central
 * jars from scripts/kafka-jars.sh, on the machine's JDK), with their
 * defaults (the idempotent producer included), against FerryMQ's Kafka
 * listener. The client driver (ts/test/clients/KafkaDriver.java) runs every
 * codec in one JVM; the console producer and consumer run as the tools they are.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import {
  CODEC_ID,
  CODECS,
  type ConsumeResult,
  expected,
  javaKafka,
  kafkaLibs,
  kafkaTool,
  ok,
  received,
  sampleMessages,
  storedBatches,
  storedCodecs,
} from '../../helpers/kafka-clients.ts';

const CONSOLE_PRODUCER = 'org.apache.kafka.tools.ConsoleProducer';
const CONSOLE_CONSUMER = 'org.apache.kafka.tools.consumer.ConsoleConsumer';

// JVM start-ups take seconds each on a loaded two-core machine.
describe('Java client and console tools 4.3.1: every codec, keys and headers', { timeout: 150_000 }, () => {
  let broker: BrokerProcess;
  let addr: string;

  beforeAll(async () => {
    kafkaLibs();
    broker = await spawnBroker();
    await broker.ready;
    addr = broker.listeners().kafka as string;
  });

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('the client produces and consumes with none, gzip, snappy, lz4 and zstd', async () => {
    const run = randomUUID().slice(0, 8);
    const plan = CODECS.map((codec) => ({
      codec,
      topic: `java-${codec}-${run}`,
      messages: sampleMessages(`java-${codec}`, 12),
    }));
    const results = await javaKafka(addr, [
      { op: 'versions' },
      ...plan.map((p) => ({ op: 'produce', topic: p.topic, compression: p.codec, messages: p.messages })),
      ...plan.map((p) => ({ op: 'consume', topic: p.topic, count: p.messages.length })),
    ]);
    expect(results[0]).toMatchObject({ kafka_clients: '4.3.1' });
    for (const [i, p] of plan.entries()) {
      const produced = results[1 + i] as { delivered: Array<[number, number]> };
      expect(produced.delivered, `${p.codec} offsets`).toEqual(p.messages.map((_, j) => [0, j]));
      const consumed = results[1 + plan.length + i] as ConsumeResult;
      expect(received(consumed.messages), `reads back ${p.codec}`).toEqual(expected(p.messages));
      const batches = await storedBatches(addr, p.topic);
      expect(batches.length).toBeGreaterThan(0);
      expect(new Set(batches.map((b) => b.codec)), `${p.codec} stored as sent`).toEqual(
        new Set([CODEC_ID[p.codec]]),
      );
      // The client's default is the idempotent producer: every batch carries a producer id.
      for (const b of batches) expect(b.producerId).toBeGreaterThanOrEqual(0n);
    }
  });

  it('the console producer (lz4, keys, headers) feeds the console consumer', async () => {
    const topic = `java-console-${randomUUID().slice(0, 8)}`;
    const lines = Array.from(
      { length: 10 },
      (_, i) => `src:console,seq:${i}\tkey-${i}\tvalue-${i}-${'z'.repeat(50)}`,
    );
    ok(
      await kafkaTool(
        CONSOLE_PRODUCER,
        [
          '--bootstrap-server',
          addr,
          '--topic',
          topic,
          '--compression-codec',
          'lz4',
          '--reader-property',
          'parse.key=true',
          '--reader-property',
          'parse.headers=true',
        ],
        { stdin: `${lines.join('\n')}\n` },
      ),
      'console producer',
    );
    expect(new Set(await storedCodecs(addr, topic))).toEqual(new Set([CODEC_ID.lz4]));
    const r = ok(
      await kafkaTool(CONSOLE_CONSUMER, [
        '--bootstrap-server',
        addr,
        '--topic',
        topic,
        '--partition',
        '0',
        '--offset',
        'earliest',
        '--max-messages',
        String(lines.length),
        '--timeout-ms',
        '20000',
        '--formatter-property',
        'print.key=true',
        '--formatter-property',
        'print.headers=true',
        '--formatter-property',
        'print.offset=true',
      ]),
      'console consumer',
    );
    const got = r.stdout.split('\n').filter((l) => l.startsWith('Offset:'));
    expect(got).toEqual(lines.map((l, i) => `Offset:${i}\t${l}`));
  });
});
