/**
 * What one client produces another reads, through FerryMQ, with keys,
 * headers and compression chosen by the producer: kcat (librdkafka 2.0.2)
 * lz4 → confluent-kafka 2.16.1; @platformatic/kafka 2.12.1 lz4 →
 * confluent-kafka; the Java client 4.3.1 zstd → kafka-python 3.0.12;
 * confluent-kafka snappy → Java; kafka-python gzip → kcat; kafka-python
 * zstd → @platformatic/kafka is covered by its own file's decoder. Each
 * reader runs once over all of its topics.
 */
import { randomUUID } from 'node:crypto';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import {
  type ConsumeResult,
  expected,
  javaKafka,
  kafkaLibs,
  kcatConsume,
  kcatProduce,
  type Message,
  pyKafka,
  received,
  sampleMessages,
} from '../../helpers/kafka-clients.ts';

// JVM start-ups take seconds each on a loaded two-core machine.
describe('cross-client: one produces, another consumes', { timeout: 150_000 }, () => {
  let broker: BrokerProcess;
  let addr: string;
  const run = randomUUID().slice(0, 8);
  const kcatHeaders = { origin: 'kcat', codec: 'lz4' };
  const kcatMessages: Message[] = Array.from({ length: 15 }, (_, i) => ({
    key: `kcat-${i}`,
    value: `from kcat ${i} ${'lz4 '.repeat(40)}`,
    headers: kcatHeaders,
  }));
  const topics = {
    kcatLz4: `x-kcat-lz4-${run}`,
    platformaticLz4: `x-plt-lz4-${run}`,
    javaZstd: `x-java-zstd-${run}`,
    confluentSnappy: `x-cf-snappy-${run}`,
    kafkaPythonGzip: `x-kp-gzip-${run}`,
  };
  const sent = {
    platformaticLz4: sampleMessages('plt-lz4', 10),
    javaZstd: sampleMessages('java-zstd', 10),
    confluentSnappy: sampleMessages('cf-snappy', 10),
    kafkaPythonGzip: sampleMessages('kp-gzip', 10),
  };

  beforeAll(async () => {
    kafkaLibs();
    broker = await spawnBroker();
    await broker.ready;
    addr = broker.listeners().kafka as string;
    const producer = new Producer({
      clientId: 'ferrymq-cross',
      bootstrapBrokers: [addr],
      serializers: stringSerializers,
      autocreateTopics: true,
      compression: 'lz4',
    });
    try {
      await producer.send({
        acks: -1,
        messages: sent.platformaticLz4.map((m) => ({
          topic: topics.platformaticLz4,
          partition: 0,
          ...(m.key === null ? {} : { key: m.key }),
          ...(m.value === null ? {} : { value: m.value }),
          headers: new Map(Object.entries(m.headers ?? {})),
        })),
      });
    } finally {
      await producer.close();
    }
    await Promise.all([
      kcatProduce(
        addr,
        topics.kcatLz4,
        'lz4',
        kcatMessages.map((m) => ({ key: m.key as string, value: m.value as string })),
        kcatHeaders,
      ),
      javaKafka(addr, [
        { op: 'produce', topic: topics.javaZstd, compression: 'zstd', messages: sent.javaZstd },
      ]),
      pyKafka('confluent', addr, [
        {
          op: 'produce',
          topic: topics.confluentSnappy,
          compression: 'snappy',
          messages: sent.confluentSnappy,
        },
      ]),
      pyKafka('kafka-python', addr, [
        { op: 'produce', topic: topics.kafkaPythonGzip, compression: 'gzip', messages: sent.kafkaPythonGzip },
      ]),
    ]);
  });

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('confluent-kafka reads kcat lz4 and @platformatic/kafka lz4', async () => {
    const [fromKcat, fromPlatformatic] = (await pyKafka('confluent', addr, [
      { op: 'consume', topic: topics.kcatLz4, count: kcatMessages.length },
      { op: 'consume', topic: topics.platformaticLz4, count: sent.platformaticLz4.length },
    ])) as ConsumeResult[];
    expect(received(fromKcat?.messages ?? [])).toEqual(expected(kcatMessages));
    expect(received(fromPlatformatic?.messages ?? [])).toEqual(expected(sent.platformaticLz4));
  });

  it('kafka-python reads the Java client zstd', async () => {
    const [got] = (await pyKafka('kafka-python', addr, [
      { op: 'consume', topic: topics.javaZstd, count: sent.javaZstd.length },
    ])) as ConsumeResult[];
    expect(received(got?.messages ?? [])).toEqual(expected(sent.javaZstd));
  });

  it('the Java client reads confluent-kafka snappy', async () => {
    const [got] = (await javaKafka(addr, [
      { op: 'consume', topic: topics.confluentSnappy, count: sent.confluentSnappy.length },
    ])) as ConsumeResult[];
    expect(received(got?.messages ?? [])).toEqual(expected(sent.confluentSnappy));
  });

  it('kcat reads kafka-python gzip', async () => {
    const got = await kcatConsume(addr, topics.kafkaPythonGzip, sent.kafkaPythonGzip.length);
    // kcat -J prints a null key as null and an empty header list as absent.
    expect(received(got)).toEqual(expected(sent.kafkaPythonGzip));
  });
});
