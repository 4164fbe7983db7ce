import { describe, expect, it } from 'vitest';
import { FerryError } from '../errors.ts';
import {
  expandAddresses,
  intOption,
  parseAddress,
  parseKafkaOptions,
  parseMqttOptions,
  spread,
  topicName,
} from './options.ts';

function refused(f: () => unknown, text: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FerryError);
    expect((e as FerryError).code).toBe('FERRY_ERR_CONFIG_INVALID');
    expect((e as Error).message).toContain(text);
    return;
  }
  throw new Error('expected a refusal');
}

describe('bench options', () => {
  it('MQTT defaults per scenario', () => {
    const pubsub = parseMqttOptions('pubsub', {});
    expect(pubsub).toMatchObject({
      host: '127.0.0.1',
      port: 1883,
      publishers: 1,
      subscribers: 1,
      connections: 0,
      qos: 0,
      mqttVersion: 4,
      rate: 0,
      durationS: 10,
    });
    expect(parseMqttOptions('pub', {})).toMatchObject({ publishers: 1, subscribers: 0 });
    expect(parseMqttOptions('sub', {})).toMatchObject({ publishers: 0, subscribers: 1 });
    expect(parseMqttOptions('conn', { connections: '50k' })).toMatchObject({
      connections: 50_000,
      publishers: 0,
      subscribers: 0,
    });
  });

  it('MQTT values: address, version, QoS, shared group, rates with suffixes', () => {
    const o = parseMqttOptions('pubsub', {
      host: 'broker.local:2883',
      mqttVersion: '5',
      qos: '2',
      shared: 'grp',
      rate: '1.5k',
      duration: '2.5',
      size: '1_024',
      localAddress: '127.0.0.1-3,127.0.1.1',
    });
    expect(o).toMatchObject({
      host: 'broker.local',
      port: 2883,
      mqttVersion: 5,
      qos: 2,
      shared: 'grp',
      rate: 1500,
      durationS: 2.5,
      payloadBytes: 1024,
    });
    expect(o.localAddresses).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.1.1']);
    expect(parseMqttOptions('sub', { shared: true }).shared).toBe('bench');
    expect(parseMqttOptions('pub', { port: '1999' }).port).toBe(1999);
  });

  it('refuses bad MQTT values with the option named', () => {
    refused(() => parseMqttOptions('flood', {}), '--scenario flood');
    refused(() => parseMqttOptions('pub', { qos: '3' }), '--qos 3');
    refused(() => parseMqttOptions('pub', { mqttVersion: '3' }), '--mqtt-version');
    refused(() => parseMqttOptions('pub', { topic: 'a/#' }), 'wildcards');
    refused(() => parseMqttOptions('sub', { shared: 'a/b' }), '--shared');
    refused(() => parseMqttOptions('pubsub', { publishers: '0' }), 'needs a publisher');
    refused(() => parseMqttOptions('pub', { workers: '0' }), '--workers 0');
    refused(() => parseMqttOptions('pub', { duration: 'long' }), 'not a number');
    refused(() => parseMqttOptions('pub', { rate: '-5' }), '--rate -5');
    refused(() => parseMqttOptions('pub', { host: 'h:99999' }), 'host:port');
    refused(() => parseMqttOptions('conn', { localAddress: 'host-a' }), '--local-address');
  });

  it('Kafka values', () => {
    const o = parseKafkaOptions('produce', {
      bootstrap: '10.1.2.3:19092',
      acks: 'all',
      size: '1k',
      producers: '4',
      linger: '0',
    });
    expect(o).toMatchObject({
      bootstrap: '10.1.2.3:19092',
      acks: -1,
      recordBytes: 1000,
      clients: 4,
      lingerMs: 0,
      group: undefined,
    });
    const c = parseKafkaOptions('consume', { group: true, consumers: '3', from: 'latest' });
    expect(c).toMatchObject({
      group: 'ferrymq-bench',
      clients: 3,
      from: 'latest',
      bootstrap: '127.0.0.1:9092',
    });
    refused(() => parseKafkaOptions('produce', { acks: '2' }), '--acks 2');
    refused(() => parseKafkaOptions('produce', { topic: 'a topic' }), 'not a legal Kafka topic name');
    refused(() => parseKafkaOptions('consume', { from: 'middle' }), '--from middle');
    refused(() => parseKafkaOptions('replay', {}), '--scenario replay');
  });

  it('helpers', () => {
    expect(intOption({ n: '2M' }, 'n', 0, 0, 1e9)).toBe(2_000_000);
    expect(parseAddress('7000', 'x', 1)).toEqual({ host: '127.0.0.1', port: 7000 });
    expect(parseAddress('[::1]:7000', 'x', 1)).toEqual({ host: '::1', port: 7000 });
    expect(parseAddress('h', 'x', 1883)).toEqual({ host: 'h', port: 1883 });
    expect(spread(5, 2)).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
    expect(spread(1, 3)).toEqual([[0], [], []]);
    expect(topicName('a/%i/b/%i', 7)).toBe('a/7/b/7');
    expect(expandAddresses('127.0.0.9-10')).toEqual(['127.0.0.9', '127.0.0.10']);
  });
});
