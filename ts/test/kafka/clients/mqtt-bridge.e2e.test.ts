/**
 * Devices on MQTT, applications on Kafka, no client written here: what
 * mosquitto_pub (mosquitto-clients 2.0.11) publishes through FerryMQ's
 * bridge, confluent-kafka 2.16.1 and the Java client 4.3.1 read as Kafka
 * records (key = MQTT topic, headers = QoS, retain, user properties); what
 * kcat (librdkafka 2.0.2) produces, zstd-compressed, mosquitto_sub receives.
 * The rules are docs/bridge.md's; this file only checks that unmodified
 * clients on both sides see them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../../helpers/broker.ts';
import {
  type ConsumeResult,
  javaKafka,
  kafkaLibs,
  kcatProduce,
  ok,
  pyKafka,
  run,
} from '../../helpers/kafka-clients.ts';

function hostPort(addr: string): [string, string] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), addr.slice(i + 1)];
}

// JVM start-ups take seconds each on a loaded two-core machine.
describe('MQTT ↔ Kafka with other people’s clients on both sides', { timeout: 150_000 }, () => {
  let broker: BrokerProcess;
  let kafka: string;
  let mqtt: [string, string];
  const run8 = randomUUID().slice(0, 8);

  beforeAll(async () => {
    kafkaLibs();
    broker = await spawnBroker({ env: { FERRYMQ_BRIDGE__ENABLED: 'true' } });
    await broker.ready;
    kafka = broker.listeners().kafka as string;
    mqtt = hostPort(broker.listeners().mqtt as string);
  });

  /** mosquitto_pub / mosquitto_sub against the broker's MQTT listener; throws unless it exits 0. */
  const mosquitto = async (bin: string, ...args: string[]) =>
    ok(await run(bin, ['-h', mqtt[0], '-p', mqtt[1], ...args], { timeoutMs: 30_000 }), bin);

  afterAll(async () => {
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('mosquitto_pub publishes; confluent-kafka and the Java client read the records', async () => {
    const kafkaTopic = `plant${run8}`;
    const mqttTopics = [`${kafkaTopic}/line1/temp`, `${kafkaTopic}/line2/temp`];
    for (const [i, topic] of mqttTopics.entries()) {
      // -D: an MQTT 5 user property, which travels as a record header.
      const opts = '-V 5 -q 1 -D publish user-property site north'.split(' ');
      await mosquitto('mosquitto_pub', ...opts, '-t', topic, '-m', `reading ${i}`);
    }
    await mosquitto(
      'mosquitto_pub',
      ...'-V 311 -q 0 -r'.split(' '),
      '-t',
      mqttTopics[0] as string,
      '-m',
      'retained',
    );
    const expected = [
      {
        key: mqttTopics[0],
        value: 'reading 0',
        headers: [
          ['ferrymq.origin', 'mqtt'],
          ['mqtt.qos', '1'],
          ['mqtt.retain', 'false'],
          ['site', 'north'],
        ],
      },
      {
        key: mqttTopics[1],
        value: 'reading 1',
        headers: [
          ['ferrymq.origin', 'mqtt'],
          ['mqtt.qos', '1'],
          ['mqtt.retain', 'false'],
          ['site', 'north'],
        ],
      },
      {
        key: mqttTopics[0],
        value: 'retained',
        headers: [
          ['ferrymq.origin', 'mqtt'],
          ['mqtt.qos', '0'],
          ['mqtt.retain', 'true'],
        ],
      },
    ];
    const comparable = (r: ConsumeResult) =>
      r.messages.map((m) => ({ key: m.key, value: m.value, headers: [...m.headers].sort() }));
    const [viaConfluent] = (await pyKafka('confluent', kafka, [
      { op: 'consume', topic: kafkaTopic, count: expected.length },
    ])) as [ConsumeResult];
    expect(comparable(viaConfluent)).toEqual(expected);
    const [viaJava] = (await javaKafka(kafka, [
      { op: 'consume', topic: kafkaTopic, count: expected.length },
    ])) as [ConsumeResult];
    expect(comparable(viaJava)).toEqual(expected);
  });

  it('kcat produces zstd records keyed by MQTT topics; mosquitto_sub receives them', async () => {
    const kafkaTopic = `cmd${run8}`;
    // kcat's produce creates the topic; the bridge reads a topic created after start from its first record.
    const sub = mosquitto('mosquitto_sub', ...'-V 5 -q 1 -v -C 3 -W 20'.split(' '), '-t', `${kafkaTopic}/#`);
    sub.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    // mosquitto_sub prints nothing when subscribed; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const messages = [0, 1, 2].map((i) => ({ key: `${kafkaTopic}/valve${i}/set`, value: `open ${i}` }));
    // zstd: the bridge decodes gzip and zstd batches only (docs/bridge.md: snappy and lz4 are skipped).
    await kcatProduce(kafka, kafkaTopic, 'zstd', messages, { 'mqtt.qos': '1' });
    const r = await sub;
    expect(r.stdout.split('\n').filter((l) => l.length > 0)).toEqual(
      messages.map((m) => `${m.key} ${m.value}`),
    );
  });
});
