import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { Storage } from '../storage/storage.ts';
import { tempDir } from '../test/helpers/broker.ts';
import { TOPICS_NS, TopicExistsError, TopicLimitError, TopicRegistry } from './topics.ts';

const open: { storage: Storage; topics?: TopicRegistry }[] = [];

async function start(
  dir: string,
  env: Record<string, string> = {},
): Promise<{ storage: Storage; topics: TopicRegistry; config: Config }> {
  const config = resolveConfig(undefined, 'test', { FERRYMQ_STORAGE__ENGINE: 'memory', ...env });
  const storage = await Storage.open(dir, config.storage);
  const topics = await TopicRegistry.load(storage, config);
  open.push({ storage, topics });
  return { storage, topics, config };
}

afterEach(async () => {
  for (const o of open.splice(0)) {
    o.topics?.close();
    await o.storage.close();
  }
});

async function stop(): Promise<void> {
  const o = open.pop();
  o?.topics?.close();
  await o?.storage.close();
}

describe('TopicRegistry', () => {
  it('loads entries written before configs existed with every default', async () => {
    const dir = await tempDir('ferrymq-topics-');
    const config = resolveConfig(undefined, 'test', {});
    const storage = await Storage.open(dir, config.storage);
    await storage.kv.put(
      TOPICS_NS,
      'topic:old',
      JSON.stringify({ id: 'AAAAAAAAAAAAAAAAAAAAAQ', shards: [7, 8] }),
      { sync: true },
    );
    await storage.kv.put(TOPICS_NS, 'meta:next_shard_id', '9', { sync: true });
    await storage.close();

    const { topics, storage: s2 } = await start(dir);
    const old = topics.get('old');
    expect(old?.configs).toEqual({});
    expect(old?.settings.retentionMs).toBe(config.storage.retention_ms);
    // Its shards were missing (a crash before they were created): created on load.
    expect(s2.has(7) && s2.has(8)).toBe(true);
    const next = await topics.create('fresh', 1);
    expect(next.shards).toEqual([9]);
  });

  it('persists configs and partitions across a reload; delete removes topic and shards', async () => {
    const dir = await tempDir('ferrymq-topics-');
    let { topics, storage } = await start(dir, { FERRYMQ_STORAGE__ENGINE: 'segment' });
    await topics.createNew('t', 2, { 'retention.ms': '1000', 'segment.bytes': '8192' });
    await expect(topics.createNew('t', 1, {})).rejects.toBeInstanceOf(TopicExistsError);
    // ferrymq.storage.engine picks the engine of the topic's shards.
    const rocks = await topics.createNew('r', 2, { 'ferrymq.storage.engine': 'rocks' });
    expect(rocks.shards.map((id) => storage.shard(id).engine)).toEqual(['rocks', 'rocks']);
    expect(storage.shard(topics.get('t')?.shards[0] ?? -1).engine).toBe('segment');
    await topics.addPartitions('t', 3);
    await topics.setConfigs('t', { 'retention.ms': '2000', 'segment.bytes': '8192' });
    await stop();

    ({ topics, storage } = await start(dir, { FERRYMQ_STORAGE__ENGINE: 'segment' }));
    const t = topics.get('t');
    expect(t?.configs).toEqual({ 'retention.ms': '2000', 'segment.bytes': '8192' });
    expect(t?.shards).toHaveLength(3);
    expect(t?.settings.segmentBytes).toBe(8192);
    const shards = t?.shards ?? [];
    await topics.delete('t');
    expect(topics.get('t')).toBeUndefined();
    for (const s of shards) expect(storage.has(s)).toBe(false);
    await stop();
    ({ topics } = await start(dir, { FERRYMQ_STORAGE__ENGINE: 'segment' }));
    expect(topics.get('t')).toBeUndefined();
  });

  it('finishes a deletion a crash interrupted', async () => {
    const dir = await tempDir('ferrymq-topics-');
    const config = resolveConfig(undefined, 'test', {});
    const storage = await Storage.open(dir, config.storage);
    await storage.createShard(3);
    await storage.kv.put(TOPICS_NS, 'deleting:AAAAAAAAAAAAAAAAAAAAAg', JSON.stringify([3, 4]), {
      sync: true,
    });
    await storage.close();
    const { storage: s2 } = await start(dir);
    expect(s2.has(3)).toBe(false);
    expect(await s2.kv.get(TOPICS_NS, 'deleting:AAAAAAAAAAAAAAAAAAAAAg')).toBeNull();
  });

  it('enforces kafka.topics_max and kafka.partitions_per_topic_max, for automatic creation too', async () => {
    const { topics } = await start(await tempDir('ferrymq-topics-'), {
      FERRYMQ_KAFKA__TOPICS_MAX: '2',
      FERRYMQ_KAFKA__PARTITIONS_PER_TOPIC_MAX: '4',
      FERRYMQ_KAFKA__DEFAULT_PARTITION_COUNT: '3',
    });
    expect((await topics.create('a')).shards).toHaveLength(3);
    await expect(topics.create('b', 5)).rejects.toMatchObject({ kind: 'partitions' });
    await topics.create('b');
    await expect(topics.create('c')).rejects.toBeInstanceOf(TopicLimitError);
    await expect(topics.addPartitions('a', 5)).rejects.toMatchObject({ kind: 'partitions' });
    expect(topics.get('a')?.shards).toHaveLength(3);
  });
});
