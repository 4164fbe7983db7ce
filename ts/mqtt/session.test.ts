import type { QoS } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import type { Message } from './message.ts';
import { type Delivery, Session, type SessionLink } from './session.ts';

function delivery(payload: string, qos: QoS, expiresAtMs?: number): Delivery {
  const message: Message = { topic: 't', payload: Buffer.from(payload), qos, retain: false, properties: {} };
  if (expiresAtMs !== undefined) message.expiresAtMs = expiresAtMs;
  return { message, qos, retain: false, subscriptionIds: [], bytes: payload.length + 1 };
}

function fakeLink(receiveMaximum: number) {
  const sent: { payload: string; id: number | undefined; dup: boolean }[] = [];
  const link: SessionLink = {
    receiveMaximum,
    sendPublish: (d, id, dup) => {
      sent.push({ payload: d.message.payload.toString(), id, dup });
      return true;
    },
    sendPubrel: () => {},
  };
  return { link, sent };
}

describe('Session', () => {
  it('keeps offline QoS 1 messages in a bounded queue, dropping QoS 0 first, then the oldest', () => {
    const dropped: string[] = [];
    const s = new Session('c', 5, 3600, { queueMessagesMax: 3, queueBytesMax: 1 << 20 }, (d, reason) =>
      dropped.push(`${d.message.payload}:${reason}`),
    );
    s.deliver(delivery('q0-offline', 0), 0); // QoS 0 is not kept offline
    s.deliver(delivery('a', 1), 0);
    s.deliver(delivery('b', 1), 0);
    s.deliver(delivery('c', 1), 0);
    s.deliver(delivery('d', 1), 0); // over the limit: the oldest goes
    expect(dropped).toEqual(['q0-offline:offline-qos0', 'a:queue-full']);
    expect(s.queuedDeliveries().map((d) => d.message.payload.toString())).toEqual(['b', 'c', 'd']);
  });

  it('bounds the queue by bytes too', () => {
    const dropped: string[] = [];
    const s = new Session('c', 5, 3600, { queueMessagesMax: 100, queueBytesMax: 10 }, (d) =>
      dropped.push(d.message.payload.toString()),
    );
    for (const p of ['aaaa', 'bbbb', 'cccc']) s.deliver(delivery(p, 1), 0);
    expect(dropped).toEqual(['aaaa']);
  });

  it('[MQTT-3.3.4-9] sends no more than the client Receive Maximum; each ack releases one more', () => {
    const s = new Session('c', 5, 0, { queueMessagesMax: 100, queueBytesMax: 1 << 20 }, () => {});
    const { link, sent } = fakeLink(2);
    s.link = link;
    for (const p of ['1', '2', '3', '4']) s.deliver(delivery(p, 1), 0);
    expect(sent.map((x) => x.payload)).toEqual(['1', '2']);
    s.complete(sent[0]?.id as number, 0);
    expect(sent.map((x) => x.payload)).toEqual(['1', '2', '3']);
  });

  it('[MQTT-4.4.0-1] resends unacknowledged messages with DUP and the same packet id on resume', () => {
    const s = new Session('c', 5, 3600, { queueMessagesMax: 100, queueBytesMax: 1 << 20 }, () => {});
    const first = fakeLink(10);
    s.link = first.link;
    s.deliver(delivery('x', 1), 0);
    s.link = undefined;
    const second = fakeLink(10);
    s.link = second.link;
    s.resume(0);
    expect(second.sent).toEqual([{ payload: 'x', id: first.sent[0]?.id, dup: true }]);
  });

  it('[MQTT-3.3.2-5] drops a queued message whose expiry passed before it could be sent', () => {
    const dropped: string[] = [];
    const s = new Session('c', 5, 3600, { queueMessagesMax: 100, queueBytesMax: 1 << 20 }, (_d, r) =>
      dropped.push(r),
    );
    s.deliver(delivery('old', 1, 1_000), 0);
    const { link, sent } = fakeLink(10);
    s.link = link;
    s.drain(2_000);
    expect(sent).toEqual([]);
    expect(dropped).toEqual(['expired']);
  });

  it('hands back only deliveries that came through a shared subscription', () => {
    const s = new Session('c', 5, 0, { queueMessagesMax: 100, queueBytesMax: 1 << 20 }, () => {});
    const shared = delivery('shared', 1);
    shared.shared = { group: 'g', filter: 't' };
    s.deliver(shared, 0);
    s.deliver(delivery('own', 1), 0);
    expect(s.takeShared().map((d) => d.message.payload.toString())).toEqual(['shared']);
    expect(s.queuedDeliveries().map((d) => d.message.payload.toString())).toEqual(['own']);
  });
});
