/**
 * MQTT message metadata as Kafka record headers, and back. Header values
 * are UTF-8 text except `mqtt.correlation_data` (the raw bytes). User
 * properties become headers under their own names; one whose name starts
 * with a reserved prefix (`mqtt.` or `ferrymq.`) is written as
 * `mqtt.user.<name>` so it can never be mistaken for ours, and reads back
 * under its own name. docs/bridge.md has the table.
 */
import { isUtf8 } from 'node:buffer';
import type { QoS } from 'mqtt-packet';
import { type Message, type MessageProperties, remainingExpiryS } from '../mqtt/message.ts';
import { validateTopicName } from '../mqtt/topic.ts';
import type { RecordHeader, StoredRecord } from '../storage/records.ts';

export const H_ORIGIN = 'ferrymq.origin';
export const ORIGIN_MQTT = 'mqtt';
export const H_QOS = 'mqtt.qos';
export const H_RETAIN = 'mqtt.retain';
export const H_CONTENT_TYPE = 'mqtt.content_type';
export const H_PAYLOAD_FORMAT = 'mqtt.payload_format';
export const H_RESPONSE_TOPIC = 'mqtt.response_topic';
export const H_CORRELATION_DATA = 'mqtt.correlation_data';
export const H_MESSAGE_EXPIRY = 'mqtt.message_expiry_s';
export const H_USER_PREFIX = 'mqtt.user.';

const ORIGIN_VALUE = Buffer.from(ORIGIN_MQTT);
const QOS_VALUES = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')] as const;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

function reserved(name: string): boolean {
  return name.startsWith('mqtt.') || name.startsWith('ferrymq.');
}

/** The headers of a record bridged from `m` (the origin header first, so the reverse path skips it). */
export function headersFromMessage(m: Message, nowMs: number): RecordHeader[] {
  const h: RecordHeader[] = [
    { key: H_ORIGIN, value: ORIGIN_VALUE },
    { key: H_QOS, value: QOS_VALUES[m.qos] },
    { key: H_RETAIN, value: m.retain ? TRUE : FALSE },
  ];
  const p = m.properties;
  if (p.contentType !== undefined) h.push({ key: H_CONTENT_TYPE, value: Buffer.from(p.contentType) });
  if (p.payloadFormatIndicator !== undefined) {
    h.push({ key: H_PAYLOAD_FORMAT, value: QOS_VALUES[p.payloadFormatIndicator ? 1 : 0] });
  }
  if (p.responseTopic !== undefined) h.push({ key: H_RESPONSE_TOPIC, value: Buffer.from(p.responseTopic) });
  if (p.correlationData !== undefined) h.push({ key: H_CORRELATION_DATA, value: p.correlationData });
  const expiry = remainingExpiryS(m, nowMs);
  if (expiry !== undefined) h.push({ key: H_MESSAGE_EXPIRY, value: Buffer.from(String(expiry)) });
  for (const [name, v] of Object.entries(p.userProperties ?? {})) {
    const key = reserved(name) ? H_USER_PREFIX + name : name;
    for (const value of Array.isArray(v) ? v : [v]) h.push({ key, value: Buffer.from(value) });
  }
  return h;
}

/** What an MQTT PUBLISH made from a Kafka record carries besides topic and payload. */
export interface MqttFields {
  qos: QoS;
  retain: boolean;
  properties: MessageProperties;
  /** Message Expiry Interval in seconds, if the record had one. */
  expiryS?: number;
}

export function isFromMqtt(r: StoredRecord): boolean {
  // The forward path writes the origin first; a scan keeps records from other writers honest too.
  for (const h of r.headers) {
    if (h.key.length === H_ORIGIN.length && h.key.toString('latin1') === H_ORIGIN) {
      return h.value?.equals(ORIGIN_VALUE) === true;
    }
  }
  return false;
}

function text(v: Buffer | null): string | undefined {
  if (v === null) return '';
  return isUtf8(v) ? v.toString('utf8') : undefined;
}

/**
 * MQTT fields from a record's headers. A header whose value is unusable (a
 * QoS other than 0-2, a response topic that is not a topic name, text that
 * is not UTF-8) is ignored, as are unknown `mqtt.` / `ferrymq.` headers.
 */
export function fieldsFromHeaders(r: StoredRecord, defaultQos: QoS): MqttFields {
  const out: MqttFields = { qos: defaultQos, retain: false, properties: {} };
  const props = out.properties;
  let user: { [key: string]: string | string[] } | undefined;
  const addUser = (name: string, value: string): void => {
    user ??= {};
    const prev = user[name];
    if (prev === undefined) user[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else user[name] = [prev, value];
  };
  for (const { key, value } of r.headers) {
    if (!isUtf8(key)) continue;
    const name = key.toString('utf8');
    if (name === H_CORRELATION_DATA) {
      if (value !== null) props.correlationData = Buffer.from(value);
      continue;
    }
    const v = text(value);
    if (v === undefined) continue;
    switch (name) {
      case H_QOS:
        if (v === '0' || v === '1' || v === '2') out.qos = Number(v) as QoS;
        break;
      case H_RETAIN:
        out.retain = v === 'true';
        break;
      case H_CONTENT_TYPE:
        props.contentType = v;
        break;
      case H_PAYLOAD_FORMAT:
        if (v === '0' || v === '1') props.payloadFormatIndicator = v === '1';
        break;
      case H_RESPONSE_TOPIC:
        // [MQTT-3.3.2-13/14]: a Response Topic is a UTF-8 topic name without wildcards.
        if (validateTopicName(v).ok) props.responseTopic = v;
        break;
      case H_MESSAGE_EXPIRY:
        if (/^\d{1,10}$/.test(v) && Number(v) <= 0xffff_ffff) out.expiryS = Number(v);
        break;
      default:
        if (name.startsWith(H_USER_PREFIX)) addUser(name.slice(H_USER_PREFIX.length), v);
        else if (!reserved(name)) addUser(name, v);
    }
  }
  if (user) props.userProperties = user;
  return out;
}
