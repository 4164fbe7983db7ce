import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { buildBatch } from '../kafka/producers/test-batches.ts';
import type { Topic } from '../kafka/topics.ts';
import { createLogger } from '../log.ts';
import type { Message } from '../mqtt/message.ts';
import { Storage } from '../storage/storage.ts';
import { tempDir } from '../test/helpers/broker.ts';
import type { BridgeTopics } from './bridge.ts';
import { H_ORIGIN, ORIGIN_MQTT } from './headers.ts';
import { KafkaToMqtt } from './kafka-to-mqtt.ts';
import { TopicMapping } from './mapping.ts';
import { bridgeMetrics } from './metrics.ts';

const defaults = resolveConfig(undefined, '(test)', {}).storage;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Just what the reader uses of the registry. */
function fakeTopics(): BridgeTopics & { add(t: Topic): void } {
  const m = new Map<string, Topic>();
  return {
    get: (name) => m.get(name),
    all: () => [...m.values()],
    create: () => Promise.reject(new Error('not used here')),
    add: (t) => m.set(t.name, t),
  };
}

function topic(name: string, shards: number[]): Topic {
  return { name, id: name, shards } as unknown as Topic;
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup() {
  const storage = await Storage.open(await tempDir('ferrymq-bridge-'), { ...defaults, engine: 'memory' });
  const topics = fakeTopics();
  const published: Message[] = [];
  const metrics = bridgeMetrics(undefined);
  const reader = new KafkaToMqtt(
    new TopicMapping({ mappings: [], defaultRule: true, unkeyed: 'partition_topic' }),
    topics,
    storage,
    { readBytesMax: 64 * 1024, defaultQos: 1, discoveryMs: 3_600_000 },
    metrics,
    (m) => published.push(m),
    createLogger({ level: 'silent', format: 'json' }),
  );
  cleanup.push(async () => {
    await reader.close();
    await storage.close();
  });
  return { storage, topics, published, reader };
}

describe('KafkaToMqtt', () => {
  it('starts at the log end, is woken by appends, and skips records that came from MQTT', async () => {
    const { storage, topics, published, reader } = await setup();
    const shard = await storage.createShard(1);
    topics.add(topic('pre', [1]));
    await shard.append([{ key: Buffer.from('pre/old'), value: Buffer.from('history') }]);
    reader.start();
    await shard.append([
      {
        key: Buffer.from('pre/a'),
        value: Buffer.from('from-mqtt'),
        headers: [{ key: H_ORIGIN, value: Buffer.from(ORIGIN_MQTT) }],
      },
    ]);
    await shard.append([{ key: Buffer.from('pre/a'), value: Buffer.from('new') }]);
    await until(() => published.length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(published.map((m) => `${m.topic}=${m.payload.toString()}`)).toEqual(['pre/a=new']);
    expect(published[0]?.qos).toBe(1);
    await until(() => reader.lag() === 0);
  });

  it('reads a partition found later from its first record, including zstd and gzip batches', async () => {
    const { storage, topics, published, reader } = await setup();
    reader.start();
    const shard = await storage.createShard(7);
    const batch = (values: string[], codec?: 'gzip' | 'zstd') =>
      buildBatch({
        producerId: -1n,
        producerEpoch: -1,
        baseSequence: -1,
        values,
        ...(codec ? { codec } : {}),
      });
    await shard.appendBatches(batch(['z1', 'z2'], 'zstd'));
    await shard.appendBatches(batch(['g1'], 'gzip'));
    await shard.appendBatches(batch(['p1']));
    topics.add(topic('later', [7]));
    reader.discover();
    await until(() => published.length >= 4);
    // Unkeyed records go to <kafka topic>/<partition>.
    expect(published.map((m) => `${m.topic}=${m.payload.toString()}`)).toEqual([
      'later/0=z1',
      'later/0=z2',
      'later/0=g1',
      'later/0=p1',
    ]);
  });

  it('close ends parked reads at once, also after a shard was deleted under one', async () => {
    const { storage, topics, reader } = await setup();
    await storage.createShard(3);
    topics.add(topic('gone', [3]));
    reader.start();
    await storage.deleteShard(3);
    const t0 = Date.now();
    await reader.close();
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
