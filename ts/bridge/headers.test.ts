import { describe, expect, it } from 'vitest';
import type { Message } from '../mqtt/message.ts';
import type { StoredRecord } from '../storage/records.ts';
import { fieldsFromHeaders, headersFromMessage, isFromMqtt } from './headers.ts';

function stored(headers: { key: string | Buffer; value: Buffer | null }[]): StoredRecord {
  return {
    offset: 0,
    timestampMs: 0,
    key: null,
    value: null,
    headers: headers.map((h) => ({ key: Buffer.from(h.key), value: h.value })),
  };
}

describe('bridge headers', () => {
  const now = 1_000_000;
  const message: Message = {
    topic: 'a/b',
    payload: Buffer.from('x'),
    qos: 1,
    retain: true,
    properties: {
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'reply/here',
      correlationData: Buffer.from([0, 1, 2, 255]),
      userProperties: { unit: 'C', multi: ['1', '2'], 'mqtt.qos': 'mine' },
    },
    expiresAtMs: now + 60_000,
  };

  it('writes the MQTT metadata as headers, origin first', () => {
    const h = headersFromMessage(message, now).map((x) => [
      x.key,
      x.key === 'mqtt.correlation_data' ? x.value : x.value?.toString(),
    ]);
    expect(h).toEqual([
      ['ferrymq.origin', 'mqtt'],
      ['mqtt.qos', '1'],
      ['mqtt.retain', 'true'],
      ['mqtt.content_type', 'application/json'],
      ['mqtt.payload_format', '1'],
      ['mqtt.response_topic', 'reply/here'],
      ['mqtt.correlation_data', Buffer.from([0, 1, 2, 255])],
      ['mqtt.message_expiry_s', '60'],
      ['unit', 'C'],
      ['multi', '1'],
      ['multi', '2'],
      ['mqtt.user.mqtt.qos', 'mine'],
    ]);
  });

  it('reads them back into the same fields, and knows the record came from MQTT', () => {
    const r = stored(headersFromMessage(message, now));
    expect(isFromMqtt(r)).toBe(true);
    const f = fieldsFromHeaders(r, 0);
    expect(f).toEqual({
      qos: 1,
      retain: true,
      expiryS: 60,
      properties: {
        contentType: 'application/json',
        payloadFormatIndicator: true,
        responseTopic: 'reply/here',
        correlationData: Buffer.from([0, 1, 2, 255]),
        userProperties: { unit: 'C', multi: ['1', '2'], 'mqtt.qos': 'mine' },
      },
    });
  });

  it('gives a plain Kafka record the default QoS and its headers as user properties', () => {
    const r = stored([
      { key: 'trace-id', value: Buffer.from('abc') },
      { key: 'binary', value: Buffer.from([0xff]) },
      { key: 'empty', value: null },
    ]);
    expect(isFromMqtt(r)).toBe(false);
    expect(fieldsFromHeaders(r, 2)).toEqual({
      qos: 2,
      retain: false,
      properties: { userProperties: { 'trace-id': 'abc', empty: '' } },
    });
  });

  it('ignores unusable values and unknown reserved names', () => {
    const r = stored([
      { key: 'mqtt.qos', value: Buffer.from('3') },
      { key: 'mqtt.response_topic', value: Buffer.from('a/#') },
      { key: 'mqtt.message_expiry_s', value: Buffer.from('-1') },
      { key: 'mqtt.payload_format', value: Buffer.from('yes') },
      { key: 'mqtt.something', value: Buffer.from('x') },
      { key: 'ferrymq.origin', value: Buffer.from('kafka') },
    ]);
    expect(isFromMqtt(r)).toBe(false);
    expect(fieldsFromHeaders(r, 1)).toEqual({ qos: 1, retain: false, properties: {} });
  });
});
