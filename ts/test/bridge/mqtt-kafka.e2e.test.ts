/**
 * MQTT ↔ Kafka on one log, end to end against the real broker with real
 * clients: mqtt.js (MQTT 5 and 3.1.1) publishes and kafka reads the records
 * (raw Fetch per partition, built with the generated codec: consumer groups
 * may not be served yet); kafkajs produces and mqtt.js subscribers receive.
 * Also: PUBACK only after the append (SIGKILL right after it, record there
 * after restart under durability `always`), no loop, refusals, bad config.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiKey, Fetch, Metadata } from '../../kafka/protocol/generated/index.ts';
import { decodeBatches, type StoredRecord } from '../../storage/records.ts';
import { type BrokerProcess, spawnBroker, tempDir } from '../helpers/broker.ts';
import { CODEC_ID, javaKafka, kcatProduce, storedCodecs } from '../helpers/kafka-clients.ts';
import { RawKafka } from '../helpers/raw-kafka.ts';

const require = createRequire(import.meta.url);
// kafkajs's Java-compatible murmur2: the partition a keyed Kafka producer would pick.
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  k: Buffer,
) => number;
const PARTITIONS = 3;

function partitionOf(key: string, n = PARTITIONS): number {
  return (kafkajsMurmur2(Buffer.from(key)) & 0x7fffffff) % n;
}

const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => {})));
});

async function connectMqtt(b: BrokerProcess, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://${b.listeners().mqtt}`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    clientId: `e2e-${randomUUID().slice(0, 8)}`,
    ...opts,
  });
  clients.push(c);
  return c;
}

async function partitionCount(raw: RawKafka, topic: string): Promise<number> {
  const v = 12;
  const req: Metadata.MetadataRequest = {
    ...Metadata.defaultMetadataRequest(),
    topics: [{ ...Metadata.defaultMetadataRequestTopic(), name: topic }],
    allowAutoTopicCreation: false,
  };
  const r = await raw.request(ApiKey.Metadata, v, Metadata.encodeMetadataRequest(v, req));
  const t = Metadata.decodeMetadataResponse(v, r).topics[0];
  return t?.errorCode === 0 ? t.partitions.length : 0;
}

async function fetchPartition(
  raw: RawKafka,
  topic: string,
  partition: number,
  offset: number,
  maxWaitMs = 200,
) {
  const v = 11;
  const req: Fetch.FetchRequest = {
    ...Fetch.defaultFetchRequest(),
    maxWaitMs,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [
      {
        ...Fetch.defaultFetchTopic(),
        topic,
        partitions: [
          {
            ...Fetch.defaultFetchPartition(),
            partition,
            fetchOffset: BigInt(offset),
            partitionMaxBytes: 1 << 20,
          },
        ],
      },
    ],
  };
  const r = await raw.request(ApiKey.Fetch, v, Fetch.encodeFetchRequest(v, req));
  return Fetch.decodeFetchResponse(v, r).responses[0]?.partitions[0];
}

/** Every record of every partition of `topic` until `count` are there (or the deadline). */
async function readTopic(
  raw: RawKafka,
  topic: string,
  count: number,
  timeoutMs = 10_000,
): Promise<(StoredRecord & { partition: number })[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out: (StoredRecord & { partition: number })[] = [];
    const n = await partitionCount(raw, topic);
    for (let p = 0; p < n; p++) {
      let next = 0;
      for (;;) {
        const d = await fetchPartition(raw, topic, p, next);
        const recs = decodeBatches(d?.records ?? Buffer.alloc(0), next);
        if (recs.length === 0) break;
        for (const r of recs) out.push({ ...r, partition: p });
        next = (recs.at(-1) as StoredRecord).offset + 1;
      }
    }
    if (out.length >= count || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function headers(r: StoredRecord): Record<string, string[]> {
  const h: Record<string, string[]> = {};
  for (const { key, value } of r.headers) {
    const k = key.toString();
    h[k] = [...(h[k] ?? []), value?.toString() ?? ''];
  }
  return h;
}

function received(c: MqttClient, n: number, timeoutMs = 10_000): Promise<IPublishPacket[]> {
  const got: IPublishPacket[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n} messages`)), timeoutMs);
    c.on('message', (_t, _p, packet) => {
      got.push(packet);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

async function metric(b: BrokerProcess, line: string): Promise<number> {
  const text = await (await fetch(`${b.adminUrl()}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.slice(found.lastIndexOf(' ') + 1)) : 0;
}

const BRIDGE_ENV = {
  FERRYMQ_BRIDGE__ENABLED: 'true',
  FERRYMQ_BRIDGE__PARTITION_COUNT: String(PARTITIONS),
  FERRYMQ_BRIDGE__MAPPINGS: JSON.stringify([{ filter: 'factory/+/temp', kafka_topic: 'temps' }]),
  FERRYMQ_BRIDGE__DISCOVERY_MS: '100',
};

describe('MQTT ↔ Kafka bridge', () => {
  let broker: BrokerProcess;
  let raw: RawKafka;
  let kafka: Kafka;

  beforeAll(async () => {
    broker = await spawnBroker({ env: BRIDGE_ENV });
    await broker.ready;
    raw = await RawKafka.open(broker.listeners().kafka as string);
    kafka = new Kafka({
      brokers: [broker.listeners().kafka as string],
      clientId: 'bridge-e2e',
      logLevel: logLevel.NOTHING,
      retry: { retries: 2 },
    });
  });

  afterAll(async () => {
    raw?.close();
    broker?.signal('SIGTERM');
    await broker?.exited;
  });

  it('MQTT 5 QoS 0, 1 and 2 publishes become records: key = topic, value = payload, metadata as headers, murmur2 partition', async () => {
    const level = `dev${randomUUID().slice(0, 8)}`;
    const pub = await connectMqtt(broker);
    const topics = Array.from({ length: 8 }, (_, i) => `${level}/room-${i}/state`);
    for (const [i, topic] of topics.entries()) {
      await pub.publishAsync(topic, `payload-${i}`, {
        qos: (i % 3) as 0 | 1 | 2,
        retain: i === 1,
        properties: {
          contentType: 'text/plain',
          payloadFormatIndicator: true,
          responseTopic: `${level}/reply`,
          correlationData: Buffer.from([i, 0xff]),
          messageExpiryInterval: 3600,
          userProperties: { unit: 'C', seq: String(i) },
        },
      });
    }
    const records = await readTopic(raw, level, topics.length);
    expect(records).toHaveLength(topics.length);
    for (const [i, topic] of topics.entries()) {
      const r = records.find((x) => x.key?.toString() === topic);
      expect(r, topic).toBeDefined();
      if (!r) continue;
      expect(r.value?.toString()).toBe(`payload-${i}`);
      expect(r.partition).toBe(partitionOf(topic));
      expect(Math.abs(r.timestampMs - Date.now())).toBeLessThan(30_000);
      const h = headers(r);
      expect(h['ferrymq.origin']).toEqual(['mqtt']);
      expect(h['mqtt.qos']).toEqual([String(i % 3)]);
      expect(h['mqtt.retain']).toEqual([i === 1 ? 'true' : 'false']);
      expect(h['mqtt.content_type']).toEqual(['text/plain']);
      expect(h['mqtt.payload_format']).toEqual(['1']);
      expect(h['mqtt.response_topic']).toEqual([`${level}/reply`]);
      expect(Number(h['mqtt.message_expiry_s']?.[0])).toBeGreaterThan(3500);
      expect(h.unit).toEqual(['C']);
      expect(h.seq).toEqual([String(i)]);
      const corr = r.headers.find((x) => x.key.toString() === 'mqtt.correlation_data');
      expect(corr?.value).toEqual(Buffer.from([i, 0xff]));
    }
    expect(new Set(records.map((r) => r.partition)).size).toBeGreaterThan(1);
  });

  it('a keyed kafkajs producer lands in the same partition as the MQTT topic it keys by', async () => {
    const level = `mix${randomUUID().slice(0, 8)}`;
    const pub = await connectMqtt(broker);
    const producer = kafka.producer();
    await producer.connect();
    try {
      for (let i = 0; i < 6; i++) {
        const topic = `${level}/sensor-${i}`;
        await pub.publishAsync(topic, 'from-mqtt', { qos: 1 });
        const [res] = await producer.send({ topic: level, messages: [{ key: topic, value: 'from-kafka' }] });
        expect(res?.errorCode).toBe(0);
        expect(res?.partition).toBe(partitionOf(topic));
      }
    } finally {
      await producer.disconnect();
    }
    const records = await readTopic(raw, level, 12);
    for (let i = 0; i < 6; i++) {
      const mine = records.filter((r) => r.key?.toString() === `${level}/sensor-${i}`);
      expect(mine.map((r) => r.value?.toString()).sort()).toEqual(['from-kafka', 'from-mqtt']);
      expect(new Set(mine.map((r) => r.partition)).size).toBe(1);
    }
  });

  it('MQTT 3.1.1 QoS 0 and 1 publishes, and an explicit mapping, reach their Kafka topics in order', async () => {
    const pub = await connectMqtt(broker, { protocolVersion: 4 });
    const line = `line${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 20; i++)
      await pub.publishAsync(`factory/${line}/temp`, String(i), { qos: (i % 2) as 0 | 1 });
    await pub.publishAsync(`${line}/other`, 'v311', { qos: 1 });
    const temps = (await readTopic(raw, 'temps', 20)).filter(
      (r) => r.key?.toString() === `factory/${line}/temp`,
    );
    // One MQTT topic, one partition: the order of the PUBLISHes.
    expect(temps.map((r) => r.value?.toString())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(temps.map((r) => headers(r)['mqtt.qos']?.[0])).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i % 2)),
    );
    const other = await readTopic(raw, line, 1);
    expect(other.map((r) => r.value?.toString())).toEqual(['v311']);
  });

  it('records kafkajs produces reach MQTT 5 and 3.1.1 subscribers with their properties', async () => {
    const level = `kin${randomUUID().slice(0, 8)}`;
    const sub5 = await connectMqtt(broker);
    const sub3 = await connectMqtt(broker, { protocolVersion: 4 });
    await sub5.subscribeAsync(`${level}/#`, { qos: 2 });
    await sub3.subscribeAsync(`${level}/#`, { qos: 1 });
    const got5 = received(sub5, 3);
    const got3 = received(sub3, 3);
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: level,
        messages: [
          {
            key: `${level}/kitchen/light`,
            value: 'on',
            headers: {
              'mqtt.content_type': 'text/plain',
              'mqtt.qos': '2',
              'mqtt.correlation_data': Buffer.from([1, 2, 3]),
              'mqtt.response_topic': `${level}/replies`,
              'trace-id': 'abc123',
            },
          },
          // A key that is not a topic of this Kafka topic: published on <topic>/<partition>.
          { key: 'not/this/one', value: 'fallback' },
          { value: 'no key' },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const p5 = await got5;
    const byPayload = new Map(p5.map((p) => [p.payload.toString(), p]));
    const light = byPayload.get('on');
    expect(light?.topic).toBe(`${level}/kitchen/light`);
    expect(light?.qos).toBe(2);
    expect(light?.properties?.contentType).toBe('text/plain');
    expect(light?.properties?.correlationData).toEqual(Buffer.from([1, 2, 3]));
    expect(light?.properties?.responseTopic).toBe(`${level}/replies`);
    expect(light?.properties?.userProperties).toEqual({ 'trace-id': 'abc123' });
    expect(byPayload.get('fallback')?.topic).toBe(`${level}/0`);
    expect(byPayload.get('no key')?.topic).toBe(`${level}/0`);
    // bridge.kafka_qos (1) for records without mqtt.qos.
    expect(byPayload.get('no key')?.qos).toBe(1);
    const p3 = await got3;
    expect(p3.map((p) => p.topic).sort()).toEqual([`${level}/0`, `${level}/0`, `${level}/kitchen/light`]);
    expect(p3.every((p) => p.qos === 1)).toBe(true);
  });

  it('records in gzip-compressed batches reach MQTT subscribers too', async () => {
    const level = `gz${randomUUID().slice(0, 8)}`;
    const sub = await connectMqtt(broker);
    await sub.subscribeAsync(`${level}/#`, { qos: 1 });
    const got = received(sub, 20);
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: level,
        compression: CompressionTypes.GZIP,
        messages: Array.from({ length: 20 }, (_, i) => ({ key: `${level}/s/${i}`, value: `gz-${i}` })),
      });
    } finally {
      await producer.disconnect();
    }
    const packets = await got;
    expect(packets.map((p) => `${p.topic}=${p.payload.toString()}`)).toEqual(
      Array.from({ length: 20 }, (_, i) => `${level}/s/${i}=gz-${i}`),
    );
  });

  // kcat (librdkafka) writes raw snappy; the Java client writes xerial-framed snappy.
  for (const [client, codec] of [
    ['kcat', 'snappy'],
    ['kcat', 'lz4'],
    ['kcat', 'zstd'],
    ['java', 'snappy'],
    ['java', 'lz4'],
  ] as const) {
    it(`records in ${codec} batches from ${client} reach MQTT subscribers`, async () => {
      const level = `${codec}${client}${randomUUID().slice(0, 6)}`;
      const bootstrap = broker.listeners().kafka as string;
      const sub = await connectMqtt(broker);
      await sub.subscribeAsync(`${level}/#`, { qos: 1 });
      const got = received(sub, 10);
      const messages = Array.from({ length: 10 }, (_, i) => ({
        key: `${level}/s/${i}`,
        value: `${codec}-${i}`,
      }));
      if (client === 'kcat') await kcatProduce(bootstrap, level, codec, messages);
      else
        await javaKafka(bootstrap, [
          {
            op: 'produce',
            topic: level,
            compression: codec,
            messages: messages.map((m) => ({ ...m, partition: 0 })),
          },
        ]);
      expect(await storedCodecs(bootstrap, level)).toContain(CODEC_ID[codec]);
      const packets = await got;
      expect(packets.map((p) => `${p.topic}=${p.payload.toString()}`)).toEqual(
        messages.map((m) => `${m.key}=${m.value}`),
      );
    });
  }

  it('an MQTT publish reaches an MQTT subscriber exactly once, not again through Kafka', async () => {
    const level = `loop${randomUUID().slice(0, 8)}`;
    const sub = await connectMqtt(broker);
    const pub = await connectMqtt(broker);
    const got: string[] = [];
    sub.on('message', (_t, payload) => got.push(payload.toString()));
    await sub.subscribeAsync(`${level}/#`, { qos: 1 });
    // A Kafka record first, so the topic is tailed before the MQTT publishes.
    const seeded = received(sub, 1);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: level, messages: [{ key: `${level}/seed`, value: 'seed' }] });
    await producer.disconnect();
    await seeded;
    const skippedBefore = await metric(broker, 'ferrymq_bridge_kafka_records_total{outcome="skipped-origin"');
    for (let i = 0; i < 5; i++) await pub.publishAsync(`${level}/x`, `m${i}`, { qos: 1 });
    await readTopic(raw, level, 6);
    // Longer than discovery and a read round trip: a looped copy would have arrived.
    await new Promise((r) => setTimeout(r, 1500));
    expect(got).toEqual(['seed', 'm0', 'm1', 'm2', 'm3', 'm4']);
    const skipped = await metric(broker, 'ferrymq_bridge_kafka_records_total{outcome="skipped-origin"');
    expect(skipped - skippedBefore).toBe(5);
  });

  it('reports the bridge in /metrics', async () => {
    expect(await metric(broker, 'ferrymq_bridge_mqtt_appended_total')).toBeGreaterThan(0);
    expect(await metric(broker, 'ferrymq_bridge_kafka_records_total{outcome="published"')).toBeGreaterThan(0);
    const text = await (await fetch(`${broker.adminUrl()}/metrics`)).text();
    expect(text).toMatch(/^ferrymq_bridge_kafka_lag_records\{[^}]*\} 0$/m);
    expect(text).toMatch(/^ferrymq_bridge_qos0_inflight_bytes\{[^}]*\} 0$/m);
  });
});

describe('MQTT ↔ Kafka bridge: acknowledgements and refusals', () => {
  it('a QoS 1 PUBACK comes after the append: SIGKILL right after it, the record is there after restart', async () => {
    const env = { ...BRIDGE_ENV, FERRYMQ_STORAGE__DURABILITY: 'always' };
    const first = await spawnBroker({ env });
    await first.ready;
    const pub = await connectMqtt(first);
    const level = `acked${randomUUID().slice(0, 8)}`;
    const live = await RawKafka.open(first.listeners().kafka as string);
    for (let i = 0; i < 5; i++) {
      await pub.publishAsync(`${level}/a`, `early-${i}`, { qos: 1 });
      // Acknowledged means appended: a fetch that does not wait already sees it.
      const d = await fetchPartition(live, level, partitionOf(`${level}/a`), i, 0);
      expect(decodeBatches(d?.records ?? Buffer.alloc(0), i).map((r) => r.value?.toString())).toEqual([
        `early-${i}`,
      ]);
    }
    await pub.publishAsync(`${level}/a`, 'last', { qos: 1 });
    first.signal('SIGKILL');
    live.close();
    await first.exited;
    const second = await spawnBroker({ env, dataDir: first.dataDir });
    await second.ready;
    const raw = await RawKafka.open(second.listeners().kafka as string);
    try {
      const records = await readTopic(raw, level, 6, 3000);
      expect(records.map((r) => r.value?.toString())).toEqual([
        'early-0',
        'early-1',
        'early-2',
        'early-3',
        'early-4',
        'last',
      ]);
    } finally {
      raw.close();
      second.signal('SIGTERM');
      await second.exited;
    }
  });

  it('a failed append: MQTT 5 gets PUBACK 0x97, a 3.1.1 client is disconnected, QoS 0 is counted', async () => {
    const b = await spawnBroker({ env: { ...BRIDGE_ENV, FERRYMQ_BRIDGE__TOPICS_MAX: '1' } });
    await b.ready;
    try {
      const v5 = await connectMqtt(b);
      await v5.publishAsync('first/topic', 'creates the one topic allowed', { qos: 1 });
      const refused = await v5.publishAsync('second/topic', 'no room', { qos: 1 }).then(
        () => undefined,
        (err: { code?: number }) => err,
      );
      expect(refused?.code).toBe(0x97);
      // QoS 2: PUBREC 0x97 ends the exchange (5.0 §4.3.3).
      const refused2 = await v5.publishAsync('second/topic', 'no room', { qos: 2 }).then(
        () => undefined,
        (err: { code?: number }) => err,
      );
      expect(refused2?.code).toBe(0x97);
      // The connection stays up after a refused message.
      await v5.publishAsync('first/topic', 'still fine', { qos: 1 });
      await v5.publishAsync('third/topic', 'qos 0', { qos: 0 });
      const v3 = await connectMqtt(b, { protocolVersion: 4 });
      const closed = new Promise<void>((resolve) => v3.once('close', () => resolve()));
      v3.publish('fourth/topic', 'no room either', { qos: 1 });
      await closed;
      expect(
        await metric(b, 'ferrymq_bridge_mqtt_append_errors_total{code="topics-max"'),
      ).toBeGreaterThanOrEqual(4);
      expect(await metric(b, 'ferrymq_bridge_mqtt_dropped_total{reason="qos0-quota"')).toBe(1);
    } finally {
      b.signal('SIGTERM');
      await b.exited;
    }
  });

  it('refuses a bad mapping at start with one line and exit 2 (env and TOML)', async () => {
    const env = await spawnBroker({
      env: { FERRYMQ_BRIDGE__ENABLED: 'true', FERRYMQ_BRIDGE__MAPPINGS: 'sensors/#=bad topic' },
    });
    expect((await env.exited).code).toBe(2);
    expect(env.stderr()).toBe(
      'ferrymq: invalid config: bridge.mappings = "sensors/#=bad topic" (from FERRYMQ_BRIDGE__MAPPINGS): mapping 1: kafka_topic "bad topic" is not a legal Kafka topic name (1-249 of [a-zA-Z0-9._-], not "." or "..", not starting with "__")\n',
    );
    const dir = await tempDir();
    const file = join(dir, 'bridge.toml');
    await writeFile(
      file,
      '[bridge]\nenabled = true\n\n[[bridge.mappings]]\nfilter = "a/#"\nkafka_topic = "a"\n\n[[bridge.mappings]]\nfilter = "b/#/c"\nkafka_topic = "b"\n',
    );
    const toml = await spawnBroker({ args: ['--config', file] });
    expect((await toml.exited).code).toBe(2);
    expect(toml.stderr()).toMatch(
      /^ferrymq: invalid config: bridge\.mappings = .* \(in .*bridge\.toml\): mapping 2: filter "b\/#\/c" is invalid \(multi-level-wildcard-not-last\)\n$/,
    );
    const roles = await spawnBroker({
      env: { FERRYMQ_BRIDGE__ENABLED: 'true', FERRYMQ_ROLES: 'broker,meta' },
    });
    expect((await roles.exited).code).toBe(2);
    expect(roles.stderr()).toBe(
      'ferrymq: invalid config: bridge.enabled = true needs the broker and engine roles\n',
    );
  });
});
