/**
 * Sessions: clean session / clean start, 5.0 session expiry, redelivery of
 * unacknowledged messages with DUP, and persistence across a broker restart
 * and a kill -9. Statement ids are 3.1.1's unless marked "5.0".
 */
import { describe, expect, it } from 'vitest';
import { paho } from '../helpers/cli-clients.ts';
import { MOSQUITTO, sleep, uid, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe('session', () => {
  const { target, clients } = useTarget();

  async function subscribeOffline(clientId: string, topic: string, version: 4 | 5 = 4): Promise<void> {
    const r = await clients.raw(version);
    await r.connect({
      clientId,
      clean: false,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
    await r.expect('suback');
    r.send({ cmd: 'disconnect' });
    await r.expectClose();
  }

  it('[MQTT-3.1.2-4] [MQTT-3.1.2-5] QoS 1 and 2 messages published while offline are delivered on reconnect', async () => {
    const clientId = uid('off');
    const t = utopic();
    await subscribeOffline(clientId, t);
    const pub = await clients.connect();
    await pub.publishAsync(t, 'q1', { qos: 1 });
    await pub.publishAsync(t, 'q2', { qos: 2 });
    const { client, inbox } = await clients.connectWithInbox({ clientId, clean: false });
    expect(client.connected).toBe(true);
    await inbox.waitFor(2);
    expect(inbox.messages.map((m) => [m.payload, m.packet.qos])).toEqual([
      ['q1', 1],
      ['q2', 2],
    ]);
  });

  it('[MQTT-3.1.2-6] CleanSession=1 discards the stored session: no subscriptions, no queued messages', async () => {
    const clientId = uid('cln');
    const t = utopic();
    await subscribeOffline(clientId, t);
    const pub = await clients.connect();
    await pub.publishAsync(t, 'dropped', { qos: 1 });
    const r = await clients.raw(4);
    expect((await r.connect({ clientId, clean: true })).sessionPresent).toBe(false);
    await pub.publishAsync(t, 'after', { qos: 1 });
    await r.expectNothing(300, 'publish');
  });

  it('[MQTT-3.1.2-23] 5.0 Session Expiry 0: the session ends at disconnect', async () => {
    const clientId = uid('se0');
    const r = await clients.raw(5);
    await r.connect({ clientId, clean: false, properties: { sessionExpiryInterval: 0 } });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: utopic(), qos: 1 }] });
    await r.expect('suback');
    r.send({ cmd: 'disconnect' });
    await r.expectClose();
    const again = await clients.raw(5);
    expect((await again.connect({ clientId, clean: false })).sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.2-23] [MQTT-3.1.2-5] 5.0 Session Expiry 2 s: kept within, gone after', async () => {
    const clientId = uid('se2');
    const t = utopic();
    const props = { properties: { sessionExpiryInterval: 2 } };
    const a = await clients.raw(5);
    await a.connect({ clientId, clean: false, ...props });
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    await a.expect('suback');
    a.send({ cmd: 'disconnect' });
    await a.expectClose();
    const b = await clients.raw(5);
    expect((await b.connect({ clientId, clean: false, ...props })).sessionPresent).toBe(true);
    b.send({ cmd: 'disconnect' });
    await b.expectClose();
    await sleep(3_500);
    const c = await clients.raw(5);
    expect((await c.connect({ clientId, clean: false, ...props })).sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.2-4] 5.0 Clean Start=1 discards an unexpired session', async () => {
    const clientId = uid('cs1');
    await subscribeOffline(clientId, utopic(), 5);
    const r = await clients.raw(5);
    expect(
      (await r.connect({ clientId, clean: true, properties: { sessionExpiryInterval: 300 } })).sessionPresent,
    ).toBe(false);
  });

  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] an unacknowledged QoS 1 PUBLISH is re-sent on reconnect with DUP=1', async () => {
    const clientId = uid('dup1');
    const t = utopic();
    const a = await clients.raw(4);
    await a.connect({ clientId, clean: false });
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    await a.expect('suback');
    const pub = await clients.connect();
    await pub.publishAsync(t, 'unacked', { qos: 1 });
    const first = await a.expect('publish');
    expect(first.dup).toBe(false);
    a.destroy();
    await sleep(100);
    const b = await clients.raw(4);
    expect((await b.connect({ clientId, clean: false })).sessionPresent).toBe(true);
    const again = await b.expect('publish');
    expect([String(again.payload), again.dup, again.messageId]).toEqual(['unacked', true, first.messageId]);
    b.send({ cmd: 'puback', messageId: again.messageId });
    await b.expectNothing(300, 'publish');
  });

  it('[MQTT-4.4.0-1] QoS 2: after PUBREC, the PUBREL is re-sent on reconnect (not the PUBLISH)', async () => {
    const clientId = uid('dup2');
    const t = utopic();
    const a = await clients.raw(4);
    await a.connect({ clientId, clean: false });
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 2 }] });
    await a.expect('suback');
    const pub = await clients.connect();
    await pub.publishAsync(t, 'q2', { qos: 2 });
    const p = await a.expect('publish');
    a.send({ cmd: 'pubrec', messageId: p.messageId });
    await a.expect('pubrel');
    a.destroy();
    await sleep(100);
    const b = await clients.raw(4);
    await b.connect({ clientId, clean: false });
    expect((await b.expect('pubrel')).messageId).toBe(p.messageId);
    b.send({ cmd: 'pubcomp', messageId: p.messageId });
    await b.expectNothing(300, 'publish');
  });

  it('[MQTT-4.4.0-1] 5.0 Clean Start=0: unacknowledged QoS 1 re-sent with DUP=1', async () => {
    const clientId = uid('dup5');
    const t = utopic();
    const a = await clients.raw(5);
    await a.connect({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    await a.expect('suback');
    const pub = await clients.connect({ protocolVersion: 5 });
    await pub.publishAsync(t, 'v5', { qos: 1 });
    await a.expect('publish');
    a.destroy();
    await sleep(100);
    const b = await clients.raw(5);
    await b.connect({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    const again = await b.expect('publish');
    expect([String(again.payload), again.dup]).toEqual(['v5', true]);
  });

  it('[MQTT-3.1.2-4] paho MQTTv311 clean_session=False gets messages queued while it was away', async () => {
    const clientId = uid('ph');
    const t = utopic();
    const first = await paho(target(), {
      protocol: 'MQTTv311',
      client_id: clientId,
      clean: false,
      steps: [{ op: 'subscribe', topic: t, qos: 1 }, { op: 'disconnect' }],
    });
    expect(first.error).toBeNull();
    const pub = await clients.connect();
    await pub.publishAsync(t, 'while away', { qos: 1 });
    const second = await paho(target(), {
      protocol: 'MQTTv311',
      client_id: clientId,
      clean: false,
      steps: [{ op: 'wait', count: 1, timeout: 5 }],
    });
    expect(second.error).toBeNull();
    expect(second.connack?.session_present).toBe(true);
    expect(second.messages[0]?.payload).toBe('while away');
  });
});

describe('session persistence across broker restarts', () => {
  const { target, clients } = useTarget();

  async function prepare(): Promise<{ clientId: string; t: string; rt: string }> {
    const clientId = uid('pers');
    const t = utopic();
    const rt = utopic('retained');
    const r = await clients.raw(4);
    await r.connect({ clientId, clean: false });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    await r.expect('suback');
    r.send({ cmd: 'disconnect' });
    await r.expectClose();
    const pub = await clients.connect();
    await pub.publishAsync(t, 'queued', { qos: 1 });
    await pub.publishAsync(rt, 'retained', { qos: 1, retain: true });
    await clients.closeAll();
    return { clientId, t, rt };
  }

  async function check({ clientId, t, rt }: { clientId: string; t: string; rt: string }): Promise<void> {
    const r = await clients.raw(4);
    expect((await r.connect({ clientId, clean: false })).sessionPresent).toBe(true);
    const queued = await r.expect('publish', 5_000);
    expect([queued.topic, String(queued.payload)]).toEqual([t, 'queued']);
    r.send({ cmd: 'puback', messageId: queued.messageId });
    // The subscription survived too: a new message is delivered.
    const pub = await clients.connect();
    await pub.publishAsync(t, 'after restart', { qos: 1 });
    const live = await r.expect('publish');
    expect(String(live.payload)).toBe('after restart');
    const sub = await clients.raw(4);
    await sub.connect();
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: rt, qos: 1 }] });
    expect(String((await sub.expect('publish')).payload)).toBe('retained');
  }

  it('[MQTT-4.1.0-1] graceful restart keeps sessions, queued QoS 1 messages and retained messages', async () => {
    const state = await prepare();
    await target().restart();
    await check(state);
  });

  it('[MQTT-4.1.0-1] kill -9 and restart keeps acknowledged sessions, queued messages and retained messages', async () => {
    const state = await prepare();
    // Mosquitto persists on a timer (autosave_interval 1 with autosave_on_changes): give it that
    // second. FerryMQ must not need it: a PUBACK means the message is stored.
    if (MOSQUITTO) await sleep(1_500);
    await target().kill9();
    await check(state);
  });
});
