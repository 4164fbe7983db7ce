/**
 * Decoder for the packets on the message path (PUBLISH, PUBACK, PUBREC,
 * PUBREL, PUBCOMP, PINGREQ) of 3.1, 3.1.1 and 5.0. The profile put
 * mqtt-packet's per-packet bookkeeping (buffer list, state machine, `debug`
 * calls) near the top of the broker's CPU; these packets are small and
 * fixed in shape, so they are read straight from the frame bytes. The rest
 * (CONNECT, SUBSCRIBE, AUTH, ...) still goes to mqtt-packet (slow-parser.ts).
 *
 * The objects produced have mqtt-packet's shapes, so the handlers see no
 * difference. Every bad input gives a `MqttDecodeError` with the reason
 * code the spec asks for; nothing here throws anything else.
 */
import { isUtf8 } from 'node:buffer';
import type {
  IPingreqPacket,
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
  IPubrelPacket,
  QoS,
} from 'mqtt-packet';
import { Reason } from '../reason-codes.ts';

export type HotPacket =
  | IPublishPacket
  | IPubackPacket
  | IPubrecPacket
  | IPubrelPacket
  | IPubcompPacket
  | IPingreqPacket;

/** A packet that cannot be accepted; `reasonCode` is 0x81 (malformed) or 0x82 (protocol error). */
export class MqttDecodeError extends Error {
  readonly reasonCode: number;
  constructor(message: string, reasonCode: number = Reason.MalformedPacket) {
    super(message);
    this.name = 'MqttDecodeError';
    this.reasonCode = reasonCode;
  }
}

export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const PINGREQ = 12;

/** Packet types this module decodes (by the high nibble of the first byte). */
export function isHotType(type: number): boolean {
  return (type >= PUBLISH && type <= PUBCOMP) || type === PINGREQ;
}

const ACK_CMD = ['', '', '', '', 'puback', 'pubrec', 'pubrel', 'pubcomp'] as const;

/** §2.4: reason codes a PUBACK / PUBREC may carry. */
const PUBACK_CODES = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
/** §3.6.2.1 / §3.7.2.1: reason codes a PUBREL / PUBCOMP may carry. */
const PUBREL_CODES = new Set([0x00, 0x92]);

// 5.0 property identifiers (§2.2.2.2) that these packets may carry.
const P_PAYLOAD_FORMAT = 0x01;
const P_MESSAGE_EXPIRY = 0x02;
const P_CONTENT_TYPE = 0x03;
const P_RESPONSE_TOPIC = 0x08;
const P_CORRELATION_DATA = 0x09;
const P_SUBSCRIPTION_ID = 0x0b;
const P_REASON_STRING = 0x1f;
const P_TOPIC_ALIAS = 0x23;
const P_USER_PROPERTY = 0x26;

type PublishProps = NonNullable<IPublishPacket['properties']>;
type AckProps = NonNullable<IPubackPacket['properties']>;
type UserProps = { [key: string]: string | string[] };

/** A Variable Byte Integer (§1.5.5) at `at`; writes its size to `varOut.size`. */
const varOut = { size: 0 };
function readVarInt(buf: Buffer, at: number, end: number): number {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 4; i++) {
    if (at + i >= end) throw new MqttDecodeError('truncated variable byte integer');
    const b = buf[at + i] as number;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      varOut.size = i + 1;
      return value;
    }
    mul *= 128;
  }
  throw new MqttDecodeError('variable byte integer longer than 4 bytes');
}

/** Reads UTF-8 Encoded Strings and Binary Data with bounds and UTF-8 checks ([MQTT-1.5.4-1]). */
class Cursor {
  buf: Buffer;
  at: number;
  end: number;
  constructor(buf: Buffer, at: number, end: number) {
    this.buf = buf;
    this.at = at;
    this.end = end;
  }
  u8(what: string): number {
    if (this.at >= this.end) throw new MqttDecodeError(`cannot parse ${what}`);
    return this.buf[this.at++] as number;
  }
  u16(what: string): number {
    if (this.at + 2 > this.end) throw new MqttDecodeError(`cannot parse ${what}`);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  u32(what: string): number {
    if (this.at + 4 > this.end) throw new MqttDecodeError(`cannot parse ${what}`);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(what: string): Buffer {
    const n = this.u16(what);
    if (this.at + n > this.end) throw new MqttDecodeError(`cannot parse ${what}`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  string(what: string): string {
    const n = this.u16(what);
    const start = this.at;
    if (start + n > this.end) throw new MqttDecodeError(`cannot parse ${what}`);
    this.at += n;
    return utf8String(this.buf, start, n, what);
  }
}

/** The `n` bytes at `start` as a string, checked as UTF-8 [MQTT-1.5.4-1]. */
function utf8String(b: Buffer, start: number, n: number, what: string): string {
  // Pure ASCII (the usual topic) needs no UTF-8 check.
  for (let i = start; i < start + n; i++) {
    if ((b[i] as number) >= 0x80) {
      if (!isUtf8(b.subarray(start, start + n))) throw new MqttDecodeError(`${what} is not valid UTF-8`);
      return b.toString('utf8', start, start + n);
    }
  }
  return b.toString('latin1', start, start + n);
}

function duplicate(name: string): MqttDecodeError {
  // 5.0 §3.3.2.3: including a (non-repeatable) property more than once is a Protocol Error.
  return new MqttDecodeError(`${name} included more than once`, Reason.ProtocolError);
}

function addUserProperty(into: UserProps, name: string, value: string): void {
  const prev = into[name];
  if (prev === undefined) into[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else into[name] = [prev, value];
}

/** The Properties of a 5.0 PUBLISH from a client (§3.3.2.3); leaves `c.at` at the payload. */
function readPublishProps(c: Cursor): PublishProps | undefined {
  const len = readVarInt(c.buf, c.at, c.end);
  c.at += varOut.size;
  if (len === 0) return undefined;
  const end = c.at + len;
  if (end > c.end) throw new MqttDecodeError('properties longer than the packet');
  const outer = c.end;
  c.end = end;
  const p: PublishProps = {};
  while (c.at < end) {
    const id = c.u8('property identifier');
    switch (id) {
      case P_PAYLOAD_FORMAT:
        if (p.payloadFormatIndicator !== undefined) throw duplicate('payload format indicator');
        p.payloadFormatIndicator = c.u8('payload format indicator') !== 0;
        break;
      case P_MESSAGE_EXPIRY:
        if (p.messageExpiryInterval !== undefined) throw duplicate('message expiry interval');
        p.messageExpiryInterval = c.u32('message expiry interval');
        break;
      case P_CONTENT_TYPE:
        if (p.contentType !== undefined) throw duplicate('content type');
        p.contentType = c.string('content type');
        break;
      case P_RESPONSE_TOPIC:
        if (p.responseTopic !== undefined) throw duplicate('response topic');
        p.responseTopic = c.string('response topic');
        break;
      case P_CORRELATION_DATA:
        if (p.correlationData !== undefined) throw duplicate('correlation data');
        p.correlationData = c.bytes('correlation data');
        break;
      case P_TOPIC_ALIAS:
        if (p.topicAlias !== undefined) throw duplicate('topic alias');
        p.topicAlias = c.u16('topic alias');
        break;
      case P_USER_PROPERTY: {
        const name = c.string('user property');
        const value = c.string('user property');
        p.userProperties ??= Object.create(null) as UserProps;
        addUserProperty(p.userProperties, name, value);
        break;
      }
      case P_SUBSCRIPTION_ID:
        // [MQTT-3.3.4-6]: a PUBLISH from a client must not carry a Subscription Identifier.
        throw new MqttDecodeError('subscription identifier in a PUBLISH from a client', Reason.ProtocolError);
      default:
        // §2.2.2.2: an identifier not valid for the packet type makes it malformed.
        throw new MqttDecodeError(id === 0 ? 'cannot parse property code type' : 'unknown property');
    }
  }
  c.end = outer;
  return p;
}

/** The Properties of a 5.0 PUBACK/PUBREC/PUBREL/PUBCOMP (§3.4.2.2): reason string, user properties. */
function readAckProps(c: Cursor): AckProps | undefined {
  const len = readVarInt(c.buf, c.at, c.end);
  c.at += varOut.size;
  if (c.at + len !== c.end) throw new MqttDecodeError('property length does not match the packet');
  if (len === 0) return undefined;
  const p: AckProps = {};
  while (c.at < c.end) {
    const id = c.u8('property identifier');
    if (id === P_REASON_STRING) {
      if (p.reasonString !== undefined) throw duplicate('reason string');
      p.reasonString = c.string('reason string');
    } else if (id === P_USER_PROPERTY) {
      const name = c.string('user property');
      const value = c.string('user property');
      p.userProperties ??= Object.create(null) as UserProps;
      addUserProperty(p.userProperties, name, value);
    } else {
      throw new MqttDecodeError(id === 0 ? 'cannot parse property code type' : 'unknown property');
    }
  }
  return p;
}

/**
 * The last PUBLISH topic of a connection: a publisher usually repeats its
 * topic, and the same string (its hash already computed) then serves the
 * topic tree's lookups instead of a new one per message.
 */
export interface TopicCache {
  bytes: Buffer | undefined;
  topic: string;
}

/** Where the topic read by readTopic ended: its second result, without an object per call. */
let topicEnd = 0;

/**
 * The topic (UTF-8 Encoded String) at `at`, from `cache` when the bytes are
 * the same; sets `topicEnd`. Read without a Cursor: a PUBLISH of 3.1.1 needs
 * none, and one per message was garbage.
 */
function readTopic(buf: Buffer, at: number, end: number, cache: TopicCache | undefined): string {
  const start = at + 2;
  if (start > end) throw new MqttDecodeError('cannot parse topic');
  const n = ((buf[at] as number) << 8) | (buf[at + 1] as number);
  if (start + n > end) throw new MqttDecodeError('cannot parse topic');
  topicEnd = start + n;
  if (!cache) return utf8String(buf, start, n, 'topic');
  const known = cache.bytes;
  if (known !== undefined && known.length === n) {
    let i = 0;
    while (i < n && known[i] === buf[start + i]) i++;
    if (i === n) return cache.topic;
  }
  const topic = utf8String(buf, start, n, 'topic');
  cache.bytes = Buffer.from(buf.subarray(start, start + n));
  cache.topic = topic;
  return topic;
}

/**
 * Decode one whole frame of a hot type: `first` is its first byte, the body
 * is `buf[bodyAt, end)`. `version` is the connection's protocol level.
 * Returns the packet, or the error to answer it with.
 */
export function decodeHot(
  first: number,
  buf: Buffer,
  bodyAt: number,
  end: number,
  version: number,
  topics?: TopicCache,
): HotPacket | MqttDecodeError {
  try {
    return decode(first, buf, bodyAt, end, version, topics);
  } catch (err) {
    if (err instanceof MqttDecodeError) return err;
    return new MqttDecodeError(`undecodable packet: ${(err as Error).message}`);
  }
}

function decode(
  first: number,
  buf: Buffer,
  bodyAt: number,
  end: number,
  version: number,
  topics: TopicCache | undefined,
): HotPacket {
  const type = first >> 4;
  const flags = first & 0x0f;
  const length = end - bodyAt;
  if (type === PUBLISH) {
    const qos = (flags >> 1) & 3;
    // [MQTT-3.3.1-4]
    if (qos === 3) throw new MqttDecodeError('Packet must not have both QoS bits set to 1');
    const topic = readTopic(buf, bodyAt, end, topics);
    let at = topicEnd;
    const packet: IPublishPacket = {
      cmd: 'publish',
      retain: (flags & 1) !== 0,
      qos: qos as QoS,
      dup: (flags & 8) !== 0,
      length,
      topic,
      payload: buf, // replaced below; keeps one object shape
    };
    if (qos > 0) {
      if (at + 2 > end) throw new MqttDecodeError('cannot parse messageId');
      packet.messageId = ((buf[at] as number) << 8) | (buf[at + 1] as number);
      at += 2;
    }
    if (version === 5) {
      const c = new Cursor(buf, at, end);
      const props = readPublishProps(c);
      if (props) packet.properties = props;
      at = c.at;
    }
    packet.payload = buf.subarray(at, end);
    return packet;
  }
  if (type === PINGREQ) {
    // §3.12.1: reserved flags 0, Remaining Length 0.
    if (flags !== 0) throw new MqttDecodeError('Invalid header flag bits, must be 0x0 for pingreq packet');
    if (length !== 0) throw new MqttDecodeError('PINGREQ with a payload');
    return { cmd: 'pingreq' };
  }
  // PUBACK, PUBREC, PUBCOMP: flags 0000; PUBREL: 0010 [MQTT-3.6.1-1].
  const cmd = ACK_CMD[type] as 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';
  const want = type === PUBREL ? 2 : 0;
  if (flags !== want)
    throw new MqttDecodeError(`Invalid header flag bits, must be 0x${want} for ${cmd} packet`);
  if (length < 2) throw new MqttDecodeError('Cannot parse messageId');
  const messageId = buf.readUInt16BE(bodyAt);
  // [MQTT-2.2.1-3]: a packet identifier is non-zero.
  if (messageId === 0) throw new MqttDecodeError(`${cmd} with packet identifier 0`);
  if (version !== 5) {
    if (length !== 2) throw new MqttDecodeError(`${cmd} Remaining Length must be 2`);
    return { cmd, messageId } as IPubackPacket;
  }
  const packet = { cmd, messageId, reasonCode: 0 } as IPubackPacket;
  if (length === 2) return packet;
  const reasonCode = buf[bodyAt + 2] as number;
  const valid = type === PUBACK || type === PUBREC ? PUBACK_CODES : PUBREL_CODES;
  if (!valid.has(reasonCode)) throw new MqttDecodeError(`Invalid ${cmd} reason code`);
  packet.reasonCode = reasonCode;
  if (length === 3) return packet;
  const props = readAckProps(new Cursor(buf, bodyAt + 3, end));
  if (props) packet.properties = props;
  return packet;
}
