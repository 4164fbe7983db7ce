import type { IPublishPacket, QoS } from 'mqtt-packet';

/** MQTT 5 properties that travel with an application message (§3.3.2.3). */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: { [key: string]: string | string[] };
}

/** An application message inside the broker, independent of any connection. */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties: MessageProperties;
  /** Wall-clock ms at which the message expires (Message Expiry Interval), if any. */
  expiresAtMs?: number;
  /** Client id of the publisher, for No Local. */
  from?: string;
  /**
   * Encoded PUBLISH packets by outgoing form (protocol, QoS, flags, expiry),
   * so a message fanned out to many subscribers is encoded once per form
   * (publish-out.ts). The first form sits inline (`encodedKey`,
   * `encodedBuf`: most messages go out in one form, and a Map per message
   * was measurable garbage); further forms go to `encoded`, a handful at
   * most. Dropped with the message.
   */
  encodedKey?: string | undefined;
  encodedBuf?: Buffer | undefined;
  encoded?: Map<string, Buffer> | undefined;
}

/**
 * The properties of every message published without any (most of them):
 * one shared object instead of one per message. Frozen, so a write to it
 * throws rather than reaching other messages; code that adds properties
 * copies first (connection.ts, retained-kv.ts).
 */
const NO_PROPERTIES: MessageProperties = Object.freeze({});

/**
 * `nowMs` is read from the clock only for a message with an expiry: Date.now()
 * cost ~70 ns here (kvm-clock), twice per QoS 1 delivery it was ~8% of the
 * broker's CPU in the fan-in profile, for messages that never expire.
 */
export function messageFromPublish(packet: IPublishPacket, from: string, nowMs?: number): Message {
  const p = packet.properties;
  if (p === undefined) {
    return {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      properties: NO_PROPERTIES,
      expiresAtMs: undefined,
      from,
      encodedKey: undefined,
      encodedBuf: undefined,
      encoded: undefined,
    };
  }
  const properties: MessageProperties = {};
  if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.contentType !== undefined) properties.contentType = p.contentType;
  if (p.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) properties.correlationData = p.correlationData;
  if (p.userProperties !== undefined) properties.userProperties = p.userProperties;
  // Every field set here (undefined included) so all messages share one shape.
  const m: Message = {
    topic: packet.topic,
    payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
    qos: packet.qos,
    retain: packet.retain,
    properties,
    expiresAtMs: undefined,
    from,
    encodedKey: undefined,
    encodedBuf: undefined,
    encoded: undefined,
  };
  if (p.messageExpiryInterval !== undefined)
    m.expiresAtMs = (nowMs ?? Date.now()) + p.messageExpiryInterval * 1000;
  return m;
}

/** Seconds left before expiry, for the outgoing Message Expiry Interval [MQTT-3.3.2-6]; undefined if none. */
export function remainingExpiryS(m: Message, nowMs: number): number | undefined {
  if (m.expiresAtMs === undefined) return undefined;
  return Math.max(0, Math.ceil((m.expiresAtMs - nowMs) / 1000));
}

/** `nowMs` if the caller has read the clock already; else it is read only for a message that can expire. */
export function isExpired(m: Message, nowMs?: number): boolean {
  return m.expiresAtMs !== undefined && m.expiresAtMs <= (nowMs ?? Date.now());
}
