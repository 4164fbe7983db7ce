import { describe, expect, it } from 'vitest';
import { kafkaTopicForLevel, MappingError, parseMappings, TopicMapping } from './mapping.ts';

describe('kafkaTopicForLevel (default rule)', () => {
  it('keeps legal names and replaces every other code point with _', () => {
    expect(kafkaTopicForLevel('sensors')).toBe('sensors');
    expect(kafkaTopicForLevel('my.app-1_x')).toBe('my.app-1_x');
    expect(kafkaTopicForLevel('usine température')).toBe('usine_temp_rature');
    expect(kafkaTopicForLevel('😀a')).toBe('_a');
  });

  it('refuses what Kafka refuses or reserves', () => {
    for (const bad of ['', '.', '..', '__consumer_offsets', '_ ']) {
      expect(kafkaTopicForLevel(bad)).toBeUndefined();
    }
  });

  it('keeps long levels distinct within 249 characters', () => {
    const a = kafkaTopicForLevel(`${'a'.repeat(300)}1`) as string;
    const b = kafkaTopicForLevel(`${'a'.repeat(300)}2`) as string;
    expect(a.length).toBe(249);
    expect(a).not.toBe(b);
    expect(kafkaTopicForLevel('b'.repeat(249))).toBe('b'.repeat(249));
  });
});

describe('parseMappings', () => {
  it('accepts TOML tables and both env forms', () => {
    const want = [
      { filter: 'factory/+/temp', kafka_topic: 'temps' },
      { filter: 'a/#', kafka_topic: 'a' },
    ];
    expect(parseMappings(want, false)).toEqual(want);
    expect(parseMappings(JSON.stringify(want), true)).toEqual(want);
    expect(parseMappings('factory/+/temp=temps, a/#=a', true)).toEqual(want);
    expect(parseMappings('', true)).toEqual([]);
  });

  it.each([
    [[{ filter: 'a/#', kafka_topic: 'bad name' }], /not a legal Kafka topic name/],
    [[{ filter: 'a/#', kafka_topic: '__internal' }], /not a legal Kafka topic name/],
    [[{ filter: 'a/#x', kafka_topic: 'a' }], /filter "a\/#x" is invalid/],
    [[{ filter: '$share/g/a', kafka_topic: 'a' }], /shared subscription/],
    [[{ filter: 'a', kafka_topic: 'a', extra: 1 }], /unknown key extra/],
    [
      [
        { filter: 'a', kafka_topic: 'a' },
        { filter: 'a', kafka_topic: 'b' },
      ],
      /listed twice/,
    ],
    [['a=b'], /not a table/],
    [{ filter: 'a' }, /expected a list/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseMappings(raw, false)).toThrow(MappingError);
    expect(() => parseMappings(raw, false)).toThrow(message);
  });

  it('refuses a malformed env value', () => {
    expect(() => parseMappings('[{', true)).toThrow(/not valid JSON/);
    expect(() => parseMappings('noequals', true)).toThrow(/not filter=kafka_topic/);
  });
});

describe('TopicMapping', () => {
  const mapping = new TopicMapping({
    mappings: [
      { filter: 'factory/+/temp', kafka_topic: 'temps' },
      { filter: 'factory/#', kafka_topic: 'factory-all' },
    ],
    defaultRule: true,
    unkeyed: 'partition_topic',
  });

  it('tries mappings in order, then the first level', () => {
    expect(mapping.kafkaTopicFor('factory/1/temp')).toBe('temps');
    expect(mapping.kafkaTopicFor('factory/1/humidity')).toBe('factory-all');
    expect(mapping.kafkaTopicFor('home/kitchen/light')).toBe('home');
    expect(mapping.kafkaTopicFor('home')).toBe('home');
    expect(mapping.kafkaTopicFor('home/kitchen/light')).toBe('home'); // cached
  });

  it('leaves $ topics to the server [MQTT-4.7.2-1]', () => {
    expect(mapping.kafkaTopicFor('$SYS/broker/uptime')).toBeUndefined();
  });

  it('uses the key as MQTT topic only when it maps back to the same Kafka topic', () => {
    expect(mapping.mqttTopicFor('temps', 0, Buffer.from('factory/7/temp'))).toBe('factory/7/temp');
    // Valid topic, but it belongs to another Kafka topic: the fallback.
    expect(mapping.mqttTopicFor('temps', 2, Buffer.from('home/x'))).toBe('temps/2');
    expect(mapping.mqttTopicFor('home', 0, Buffer.from('a/+/b'))).toBe('home/0');
    expect(mapping.mqttTopicFor('home', 0, Buffer.from([0xff, 0xfe]))).toBe('home/0');
    expect(mapping.mqttTopicFor('home', 1, null)).toBe('home/1');
  });

  it('skips unkeyed records under rule skip, and bridges only mapped Kafka topics without the default rule', () => {
    const strict = new TopicMapping({
      mappings: [{ filter: 'factory/+/temp', kafka_topic: 'temps' }],
      defaultRule: false,
      unkeyed: 'skip',
    });
    expect(strict.mqttTopicFor('temps', 0, null)).toBeUndefined();
    expect(strict.kafkaTopicFor('home/x')).toBeUndefined();
    expect(strict.bridgesKafkaTopic('temps')).toBe(true);
    expect(strict.bridgesKafkaTopic('other')).toBe(false);
    expect(mapping.bridgesKafkaTopic('other')).toBe(true);
    expect(mapping.bridgesKafkaTopic('__consumer_offsets')).toBe(false);
  });
});
