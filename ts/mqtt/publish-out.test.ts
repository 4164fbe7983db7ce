import * as mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import type { Message } from './message.ts';
import { encodeDelivery, OutboundAliases } from './publish-out.ts';
import type { Delivery } from './session.ts';

function message(topic: string, payload = 'hello'): Message {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, properties: {} };
}

function delivery(m: Message, qos: 0 | 1 | 2, subscriptionIds: number[] = []): Delivery {
  return { message: m, qos, retain: false, subscriptionIds, bytes: m.payload.length };
}

function decode(buf: Buffer, version: 3 | 4 | 5): mqttPacket.IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const got: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => got.push(p));
  parser.on('error', (e) => {
    throw e;
  });
  parser.parse(buf);
  expect(got).toHaveLength(1);
  return got[0] as mqttPacket.IPublishPacket;
}

describe('encodeDelivery', () => {
  it('[MQTT-2.2.1-2] encodes a message once per form: QoS 0 reuses the buffer, QoS 1 patches its own packet id into a copy', () => {
    const m = message('a/b');
    const q0 = encodeDelivery(delivery(m, 0), undefined, false, 4, undefined);
    expect(encodeDelivery(delivery(m, 0), undefined, false, 4, undefined)).toBe(q0);
    expect(decode(q0, 4)).toMatchObject({ topic: 'a/b', qos: 0 });
    const first = encodeDelivery(delivery(m, 1), 7, false, 4, undefined);
    const second = encodeDelivery(delivery(m, 1), 9, false, 4, undefined);
    expect(second).not.toBe(first);
    expect(decode(first, 4)).toMatchObject({ topic: 'a/b', qos: 1, messageId: 7 });
    expect(decode(second, 4)).toMatchObject({ topic: 'a/b', qos: 1, messageId: 9 });
    // The template (the first QoS 1 encoding) is never written to again.
    expect(decode(first, 4).messageId).toBe(7);
    expect(decode(encodeDelivery(delivery(m, 1), 11, true, 4, undefined), 4)).toMatchObject({
      dup: true,
      messageId: 11,
    });
  });

  it('[MQTT-3.3.4-3] 5.0 subscription identifiers are per delivery, not shared', () => {
    const m = message('s/t');
    const withIds = decode(encodeDelivery(delivery(m, 0, [3, 5]), undefined, false, 5, undefined), 5);
    expect(withIds.properties?.subscriptionIdentifier).toEqual([3, 5]);
    const plain = decode(encodeDelivery(delivery(m, 0), undefined, false, 5, undefined), 5);
    expect(plain.properties?.subscriptionIdentifier).toBeUndefined();
  });

  it('[MQTT-3.3.2-11] server topic aliases: the topic is sent once with its alias, then the alias alone; none beyond the maximum; DUP names the topic', () => {
    const aliases = new OutboundAliases(1);
    const m = message('long/topic/name');
    const first = decode(encodeDelivery(delivery(m, 0), undefined, false, 5, aliases), 5);
    expect(first).toMatchObject({ topic: 'long/topic/name', properties: { topicAlias: 1 } });
    const again = decode(encodeDelivery(delivery(m, 0), undefined, false, 5, aliases), 5);
    expect(again).toMatchObject({ topic: '', properties: { topicAlias: 1 } });
    const other = decode(encodeDelivery(delivery(message('other'), 0), undefined, false, 5, aliases), 5);
    expect(other.topic).toBe('other');
    expect(other.properties?.topicAlias).toBeUndefined();
    const dup = decode(encodeDelivery(delivery(m, 1), 4, true, 5, aliases), 5);
    expect(dup.topic).toBe('long/topic/name');
    expect(dup.properties?.topicAlias).toBeUndefined();
  });
});
