import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { applyOps, InvalidRequest, replaceSet } from './apis/alter-configs.ts';
import {
  ConfigSource,
  describeBrokerConfigs,
  describeTopicConfigs,
  effectiveConfigs,
  LONG_MAX,
  shardOptions,
  TopicConfigError,
  topicSettings,
  validateAlteredConfigs,
  validateCreateConfigs,
} from './topic-config.ts';

const config = resolveConfig(undefined, 'test', {});

describe('topic configs', () => {
  it('defaults come from the broker config', () => {
    const e = effectiveConfigs({}, config);
    expect(e['retention.ms']).toBe(String(config.storage.retention_ms));
    expect(e['retention.bytes']).toBe('-1');
    expect(e['max.message.bytes']).toBe(String(config.storage.batch_bytes_max));
    expect(e['cleanup.policy']).toBe('delete');
    expect(e['ferrymq.storage.engine']).toBe(config.storage.engine);
    expect(e['flush.messages']).toBe(LONG_MAX);
    expect(e['flush.ms']).toBe(String(config.storage.durability_interval_ms));
  });

  it('validates and normalizes creation configs', () => {
    expect(
      validateCreateConfigs(
        [
          { name: 'retention.ms', value: ' 60000 ' },
          { name: 'segment.bytes', value: null },
          { name: 'compression.type', value: 'producer' },
        ],
        config,
      ),
    ).toEqual({ 'retention.ms': '60000' });
    const refused: [string, string, RegExp][] = [
      ['no.such.config', '1', /Unknown topic config name: no.such.config/],
      ['retention.ms', 'abc', /not a number/],
      ['retention.ms', '-2', /must be in/],
      ['cleanup.policy', 'compact', /no log compaction/],
      ['cleanup.policy', 'delete,compact', /no log compaction/],
      ['flush.messages', '10', /only 1/],
      ['flush.ms', '3600001', /must be in/],
      ['max.message.bytes', String(config.storage.batch_bytes_max + 1), /must be in/],
      ['ferrymq.storage.engine', 'disk', /must be one of/],
      ['compression.type', 'gzip', /read-only/],
    ];
    for (const [name, value, message] of refused) {
      expect(() => validateCreateConfigs([{ name, value }], config), `${name}=${value}`).toThrow(message);
    }
    expect(() =>
      validateCreateConfigs(
        [
          { name: 'retention.ms', value: '1' },
          { name: 'retention.ms', value: '2' },
        ],
        config,
      ),
    ).toThrow(TopicConfigError);
  });

  it('maps flush.* to durability and turns shard retention off', () => {
    expect(topicSettings({ 'flush.messages': '1' }, config).durability).toBe('always');
    const interval = topicSettings({ 'flush.ms': '250' }, config);
    expect([interval.durability, interval.durabilityIntervalMs]).toEqual(['interval', 250]);
    expect(topicSettings({ 'flush.ms': LONG_MAX }, config).durability).toBe('none');
    expect(topicSettings({}, config).durability).toBe(config.storage.durability);
    const s = topicSettings(
      { 'retention.ms': '-1', 'retention.bytes': '4096', 'segment.ms': LONG_MAX },
      config,
    );
    expect([s.retentionMs, s.retentionBytes, s.segmentMs]).toEqual([null, 4096, 0]);
    const o = shardOptions(s);
    expect([o.retentionMs, o.retentionBytesMax]).toEqual([0, 0]);
  });

  it('refuses changes to creation-only configs, allows dynamic ones', () => {
    const current = { 'segment.bytes': '1048576' };
    expect(
      validateAlteredConfigs(current, { 'segment.bytes': '1048576', 'retention.ms': '5' }, config),
    ).toEqual({
      'segment.bytes': '1048576',
      'retention.ms': '5',
    });
    expect(() => validateAlteredConfigs(current, { 'segment.bytes': '2097152' }, config)).toThrow(
      /cannot change after the topic is created/,
    );
    const other = config.storage.engine === 'memory' ? 'rocks' : 'memory';
    expect(() => validateAlteredConfigs({}, { 'ferrymq.storage.engine': other }, config)).toThrow(
      /cannot change after the topic is created/,
    );
  });

  it('AlterConfigs keeps creation-only overrides the new set leaves out', () => {
    expect(
      replaceSet({ 'segment.bytes': '8192', 'retention.ms': '1' }, [
        { name: 'retention.bytes', value: '10' },
      ]),
    ).toEqual({ 'retention.bytes': '10', 'segment.bytes': '8192' });
  });

  it('IncrementalAlterConfigs: SET, DELETE, APPEND/SUBTRACT on lists only', () => {
    const defaults = effectiveConfigs({}, config);
    expect(
      applyOps(
        { 'retention.ms': '1' },
        [
          { name: 'retention.ms', configOperation: 1, value: null },
          { name: 'retention.bytes', configOperation: 0, value: '100' },
        ],
        defaults,
      ),
    ).toEqual({ 'retention.bytes': '100' });
    expect(
      applyOps({}, [{ name: 'cleanup.policy', configOperation: 2, value: 'compact' }], defaults),
    ).toEqual({
      'cleanup.policy': 'delete,compact',
    });
    expect(() => applyOps({}, [{ name: 'retention.ms', configOperation: 2, value: '1' }], defaults)).toThrow(
      InvalidRequest,
    );
    expect(() => applyOps({}, [{ name: 'retention.ms', configOperation: 9, value: '1' }], defaults)).toThrow(
      InvalidRequest,
    );
  });

  it('describes sources, synonyms and read-only flags', () => {
    const d = describeTopicConfigs({ 'retention.ms': '1000' }, config);
    const r = d.find((c) => c.name === 'retention.ms');
    expect(r?.source).toBe(ConfigSource.DYNAMIC_TOPIC_CONFIG);
    expect(r?.synonyms.map((s) => s.name)).toEqual(['retention.ms', 'log.retention.ms']);
    const seg = d.find((c) => c.name === 'segment.bytes');
    expect([seg?.source, seg?.readOnly]).toEqual([ConfigSource.DEFAULT_CONFIG, true]);
    const b = describeBrokerConfigs({ ...config, kafka: { ...config.kafka, default_partition_count: 3 } });
    const np = b.find((c) => c.name === 'num.partitions');
    expect([np?.value, np?.source]).toEqual(['3', ConfigSource.STATIC_BROKER_CONFIG]);
    expect(b.find((c) => c.name === 'message.max.bytes')?.value).toBe(String(config.storage.batch_bytes_max));
    expect(b.find((c) => c.name === 'ferrymq.kafka.auto_create_topics')?.value).toBe('true');
  });
});
