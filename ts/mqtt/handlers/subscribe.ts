/**
 * SUBSCRIBE → SUBACK and UNSUBSCRIBE → UNSUBACK (§3.8–3.11): a reason code
 * per filter, shared subscriptions, subscription options, and retained
 * messages sent after the SUBACK as Retain Handling says.
 */
import type { ISubackPacket, ISubscribePacket, IUnsubackPacket, IUnsubscribePacket, QoS } from 'mqtt-packet';
import type { Connection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import type { Delivery, Session, Subscription } from '../session.ts';
import { parseSharedSubscription, validateTopicFilter } from '../topic.ts';

const V3_FAILURE = 0x80;

export function handleSubscribe(conn: Connection, session: Session, packet: ISubscribePacket): void {
  const { broker, config } = conn.deps;
  const id = packet.messageId as number;
  if (!id) {
    conn.protocolError(Reason.MalformedPacket, 'packet identifier 0');
    return;
  }
  const subscriptionId = packet.properties?.subscriptionIdentifier;
  const granted: number[] = [];
  const retainedToSend: { sub: Subscription; existed: boolean }[] = [];
  for (const s of packet.subscriptions) {
    const fail = (reason: number): void => {
      granted.push(conn.isV5 ? reason : V3_FAILURE);
    };
    const shared = parseSharedSubscription(s.topic);
    if (shared && !shared.ok) {
      fail(Reason.TopicFilterInvalid);
      continue;
    }
    const topicFilter = shared ? shared.filter : s.topic;
    const check = validateTopicFilter(topicFilter);
    if (!check.ok) {
      fail(Reason.TopicFilterInvalid);
      continue;
    }
    if (shared && s.nl) {
      // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
      conn.protocolError(Reason.ProtocolError, 'no local on a shared subscription');
      return;
    }
    if (config.forbidden_filters.includes(s.topic) || config.forbidden_filters.includes(topicFilter)) {
      fail(Reason.NotAuthorized);
      continue;
    }
    if (
      !session.subscriptions.has(s.topic) &&
      session.subscriptions.size >= config.subscriptions_per_client_max
    ) {
      fail(Reason.QuotaExceeded);
      continue;
    }
    const sub: Subscription = {
      filter: s.topic,
      topicFilter,
      qos: Math.min(s.qos, 2) as QoS,
      noLocal: conn.isV5 ? (s.nl ?? false) : false,
      retainAsPublished: conn.isV5 ? (s.rap ?? false) : false,
      retainHandling: (conn.isV5 ? (s.rh ?? 0) : 0) as 0 | 1 | 2,
    };
    if (shared) sub.group = shared.group;
    if (subscriptionId !== undefined) sub.subscriptionId = subscriptionId;
    const { existed } = broker.subscribe(session, sub);
    granted.push(sub.qos);
    retainedToSend.push({ sub, existed });
  }
  const suback: ISubackPacket = { cmd: 'suback', messageId: id, granted };
  conn.writePacket(suback);
  const now = Date.now();
  for (const { sub, existed } of retainedToSend) {
    // [MQTT-3.3.1-9..11]: Retain Handling 0 sends, 1 only for a new subscription, 2 never.
    if (sub.retainHandling === 2 || (sub.retainHandling === 1 && existed)) continue;
    for (const message of broker.retainedFor(sub, now)) {
      const d: Delivery = {
        message,
        qos: Math.min(sub.qos, message.qos) as QoS,
        retain: true, // [MQTT-3.3.1-8]: retained messages sent on subscribe keep RETAIN=1
        subscriptionIds: sub.subscriptionId ? [sub.subscriptionId] : [],
        bytes: message.payload.length + message.topic.length,
      };
      session.deliver(d, now);
    }
  }
}

export function handleUnsubscribe(conn: Connection, session: Session, packet: IUnsubscribePacket): void {
  const { broker } = conn.deps;
  const id = packet.messageId as number;
  if (!id) {
    conn.protocolError(Reason.MalformedPacket, 'packet identifier 0');
    return;
  }
  const granted = packet.unsubscriptions.map((f) =>
    broker.unsubscribe(session, f) ? Reason.Success : Reason.NoSubscriptionExisted,
  );
  const unsuback: IUnsubackPacket = { cmd: 'unsuback', messageId: id, granted: conn.isV5 ? granted : [] };
  conn.writePacket(unsuback);
}
