/**
 * PUBLISH from a client and the acknowledgement flows in both directions
 * (§3.3–3.7, §4.3): QoS 0, QoS 1 (PUBACK), QoS 2 (PUBREC / PUBREL /
 * PUBCOMP, delivered once: a repeated packet id awaiting PUBREL is not
 * routed again [MQTT-4.3.3-10]).
 */
import { isUtf8 } from 'node:buffer';
import type {
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
  IPubrelPacket,
} from 'mqtt-packet';
import type { BridgeOutcome } from '../broker.ts';
import type { Connection } from '../connection.ts';
import { messageFromPublish } from '../message.ts';
import { Reason } from '../reason-codes.ts';
import type { Session } from '../session.ts';
import { validateTopicName } from '../topic.ts';

/** Resolve the topic of an incoming PUBLISH, applying 5.0 Topic Aliases (§3.3.2.3.4). */
function resolveTopic(conn: Connection, packet: IPublishPacket): string | undefined {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) {
    if (packet.topic === '') {
      conn.protocolError(Reason.ProtocolError, 'empty topic without a topic alias');
      return undefined;
    }
    return packet.topic;
  }
  // [MQTT-3.3.2-8/9]: 0 or above our Topic Alias Maximum is invalid.
  if (alias === 0 || alias > conn.deps.config.topic_alias_max) {
    conn.protocolError(Reason.TopicAliasInvalid, `topic alias ${alias} out of range`);
    return undefined;
  }
  if (packet.topic !== '') {
    conn.inboundAliases.set(alias, packet.topic);
    return packet.topic;
  }
  const known = conn.inboundAliases.get(alias);
  if (known === undefined) {
    conn.protocolError(Reason.ProtocolError, `unknown topic alias ${alias}`);
    return undefined;
  }
  return known;
}

/**
 * The last topic name that passed validateTopicName: a publisher usually
 * repeats its topic (the decoder then hands over the same string), and the
 * check is not run again for it (~1.5% of the fan-in profile).
 */
let lastValidTopic: string | undefined;

export function handlePublish(conn: Connection, session: Session, packet: IPublishPacket): void {
  const { broker, config } = conn.deps;
  if (packet.qos > 0 && !packet.messageId) {
    // [MQTT-2.2.1-3]: QoS > 0 needs a non-zero packet identifier.
    conn.protocolError(Reason.MalformedPacket, 'packet identifier 0');
    return;
  }
  const topic = resolveTopic(conn, packet);
  if (topic === undefined) return;
  if (topic !== lastValidTopic) {
    const check = validateTopicName(topic);
    if (!check.ok) {
      // [MQTT-3.3.2-2] wildcards, [MQTT-4.7.3-1/2] empty or U+0000.
      conn.protocolError(Reason.TopicNameInvalid, check.reason);
      return;
    }
    lastValidTopic = topic;
  }
  const id = packet.messageId as number;
  if (packet.qos === 2 && session.incomingQoS2.has(id)) {
    // Retransmission of a message we already own: acknowledge, do not route again.
    conn.writePacket({ cmd: 'pubrec', messageId: id });
    return;
  }
  if (packet.qos === 2 && session.incomingQoS2.size >= config.receive_max) {
    // [MQTT-3.3.4-8]: more unacknowledged QoS 2 PUBLISHes than our Receive Maximum.
    conn.protocolError(Reason.ReceiveMaximumExceeded, 'receive maximum exceeded');
    return;
  }
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  if (conn.isV5 && packet.properties?.payloadFormatIndicator && !isUtf8(payload)) {
    // [MQTT-3.3.2-4 / 5.0 §3.3.2.3.2]: a payload declared UTF-8 must be; 0x99 Payload format invalid.
    if (packet.qos === 0) {
      conn.protocolError(Reason.PayloadFormatInvalid, 'payload is not UTF-8');
    } else {
      conn.writePacket({
        cmd: packet.qos === 1 ? 'puback' : 'pubrec',
        messageId: id,
        reasonCode: Reason.PayloadFormatInvalid,
      });
    }
    return;
  }
  // The decoded packet is ours alone: give it the resolved topic rather than copying it per message.
  packet.topic = topic;
  packet.payload = payload;
  // No clock read here: only a message that can expire (or the bridge) needs one (message.ts).
  const message = messageFromPublish(packet, session.clientId);
  const { delivered, saved, appended } = broker.publish(message);
  if (packet.qos === 0) return;
  const reasonCode = conn.isV5 && delivered === 0 ? Reason.NoMatchingSubscribers : Reason.Success;
  if (packet.qos === 2) session.incomingQoS2.add(id);
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  if (saved === undefined && appended === undefined) {
    // Nothing to wait for (clean sessions, no bridge): no packet object per acknowledgement.
    conn.acknowledgeNow(cmd, id, reasonCode);
    return;
  }
  const ack: IPubackPacket | IPubrecPacket = { cmd, messageId: id, reasonCode };
  // The acknowledgement waits until persistent subscribers have stored the
  // message (and the bridge has appended it to Kafka), and acknowledgements
  // leave in the order PUBLISHes came [MQTT-4.6.0-2].
  conn.acknowledge(appended ? afterAppend(conn, session, ack, saved, appended) : saved, ack);
}

/**
 * Wait for the bridge's Kafka append too. If it failed, an MQTT 5 client
 * gets the acknowledgement with 0x97 (quota) or 0x80 instead [MQTT-3.4.2-1];
 * a 3.1.1 client, which has no negative acknowledgement, is disconnected
 * without one: with a session it sends the message again on reconnect
 * [MQTT-4.4.0-1].
 */
function afterAppend(
  conn: Connection,
  session: Session,
  ack: IPubackPacket | IPubrecPacket,
  saved: Promise<void> | undefined,
  appended: Promise<BridgeOutcome>,
): Promise<void> {
  return Promise.all([saved, appended]).then(([, outcome]) => {
    if (outcome.ok) return;
    // A refused PUBREC ends the QoS 2 exchange: the packet id is free again.
    if (ack.cmd === 'pubrec') session.incomingQoS2.delete(ack.messageId as number);
    if (conn.isV5) ack.reasonCode = outcome.quota ? Reason.QuotaExceeded : Reason.UnspecifiedError;
    else conn.disconnect(Reason.UnspecifiedError, `kafka append failed: ${outcome.reason}`);
  });
}

export function handlePubrel(conn: Connection, session: Session, packet: IPubrelPacket): void {
  const id = packet.messageId as number;
  const known = session.incomingQoS2.delete(id);
  // [MQTT-4.3.3-11]: PUBCOMP even for an unknown id (0x92 in 5.0).
  const pubcomp: IPubcompPacket = { cmd: 'pubcomp', messageId: id };
  if (!known && conn.isV5) pubcomp.reasonCode = Reason.PacketIdentifierNotFound;
  conn.writePacket(pubcomp);
}

export function handlePuback(_conn: Connection, session: Session, packet: IPubackPacket): void {
  session.complete(packet.messageId as number);
}

export function handlePubrec(conn: Connection, session: Session, packet: IPubrecPacket): void {
  const id = packet.messageId as number;
  if ((packet.reasonCode ?? 0) >= 0x80) {
    // The client refused the message: the exchange ends here [MQTT-4.3.3-?] (5.0 §4.3.3).
    session.complete(id);
    return;
  }
  const known = session.released(id);
  const pubrel: IPubrelPacket = { cmd: 'pubrel', messageId: id };
  if (!known && conn.isV5) pubrel.reasonCode = Reason.PacketIdentifierNotFound;
  conn.writePacket(pubrel);
}

export function handlePubcomp(_conn: Connection, session: Session, packet: IPubcompPacket): void {
  session.complete(packet.messageId as number);
}
