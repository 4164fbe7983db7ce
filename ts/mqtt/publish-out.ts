/**
 * The bytes of an outgoing PUBLISH for one delivery.
 *
 * A message going to many subscribers is encoded once per form (protocol,
 * QoS, retain, dup, remaining expiry) and the encoding kept on the
 * message: a QoS 0 delivery writes that very buffer, a QoS > 0 one a copy
 * with its own packet identifier patched in. Only what is per connection
 * (5.0 subscription identifiers and server-to-client topic aliases) is
 * encoded per delivery.
 */
import { encodePublish, type PublishProperties } from './codec/encode.ts';
import { remainingExpiryS } from './message.ts';
import type { Delivery } from './session.ts';

/** Keys of the shared encodings of a message (protocol, QoS, retain, dup), without building a string per delivery. */
const FORM_KEYS: string[] = Array.from(
  { length: 32 },
  (_, f) => `${f & 16 ? 5 : 4}${(f >> 2) & 3}${(f >> 1) & 1}${f & 1}`,
);

/** Shared encodings a message keeps beyond its first (a few forms at most in practice). */
const MORE_FORMS_MAX = 8;

/** A copy of an encoded QoS > 0 PUBLISH with another packet identifier (§3.3.2.2). */
function withPacketId(template: Buffer, packetId: number): Buffer {
  let at = 1;
  while ((template[at] as number) & 0x80) at++; // remaining length, 1–4 bytes
  const topicAt = at + 1;
  const idAt = topicAt + 2 + template.readUInt16BE(topicAt);
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out.writeUInt16BE(packetId, idAt);
  return out;
}

/**
 * Server-to-client Topic Aliases of one 5.0 connection (§3.3.2.3.4): the
 * first `max` topics sent get aliases 1, 2, ... (the client's Topic Alias
 * Maximum); a later PUBLISH of one of them carries the alias and an empty
 * topic.
 */
export class OutboundAliases {
  readonly #max: number;
  readonly #byTopic = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * `topic`'s alias if it has one (positive: send the alias without the
   * topic), else a new one (negative: send both), or 0 when all are taken.
   */
  assign(topic: string): number {
    const alias = this.#byTopic.get(topic);
    if (alias !== undefined) return alias;
    if (this.#byTopic.size >= this.#max) return 0;
    const next = this.#byTopic.size + 1;
    this.#byTopic.set(topic, next);
    return -next;
  }
}

/**
 * The PUBLISH for `d` to a connection speaking `version`; `aliases` only
 * for a 5.0 connection whose client accepts topic aliases.
 */
export function encodeDelivery(
  d: Delivery,
  packetId: number | undefined,
  dup: boolean,
  version: 3 | 4 | 5,
  aliases: OutboundAliases | undefined,
): Buffer {
  const m = d.message;
  const expiry = version === 5 ? remainingExpiryS(m, Date.now()) : undefined;
  const shared = version !== 5 || (d.subscriptionIds.length === 0 && aliases === undefined);
  if (!shared) return encodeOne(d, packetId, dup, version, expiry, aliases);
  const form = (version === 5 ? 16 : 0) | (d.qos << 2) | (d.retain ? 2 : 0) | (dup ? 1 : 0);
  const key = expiry === undefined ? (FORM_KEYS[form] as string) : `${FORM_KEYS[form]}${expiry}`;
  const template = m.encodedKey === key ? m.encodedBuf : m.encoded?.get(key);
  if (template !== undefined) return packetId === undefined ? template : withPacketId(template, packetId);
  // The first delivery in this form is encoded with its own packet id and
  // becomes the template: later ones copy it and patch the id, the
  // template itself is never written to again.
  const buf = encodeOne(d, packetId, dup, version, expiry, undefined);
  if (m.encodedKey === undefined) {
    m.encodedKey = key;
    m.encodedBuf = buf;
  } else {
    m.encoded ??= new Map();
    if (m.encoded.size < MORE_FORMS_MAX) m.encoded.set(key, buf);
  }
  return buf;
}

function encodeOne(
  d: Delivery,
  packetId: number | undefined,
  dup: boolean,
  version: 3 | 4 | 5,
  expiry: number | undefined,
  aliases: OutboundAliases | undefined,
): Buffer {
  const m = d.message;
  let topic = m.topic;
  let properties: PublishProperties | undefined;
  if (version === 5) {
    properties = { ...m.properties };
    if (expiry !== undefined) properties.messageExpiryInterval = expiry;
    if (d.subscriptionIds.length > 0) {
      properties.subscriptionIdentifier =
        d.subscriptionIds.length === 1 ? d.subscriptionIds[0] : d.subscriptionIds;
    }
    // Retransmissions (DUP) carry the full topic: a client never has to resolve an alias for a packet it may see twice.
    const a = aliases !== undefined && !dup ? aliases.assign(m.topic) : 0;
    if (a !== 0) {
      properties.topicAlias = Math.abs(a);
      if (a > 0) topic = '';
    }
  }
  return encodePublish(
    { topic, payload: m.payload, qos: d.qos, retain: d.retain, dup, packetId, properties },
    version,
  );
}
