/**
 * Retained messages (3.1.1 §3.3.1.3, 5.0 §3.3.1.3 and the 5.0 subscription
 * options Retain As Published and Retain Handling).
 */
import { describe, expect, it } from 'vitest';
import { mosquittoPub, mosquittoSub } from '../helpers/cli-clients.ts';
import { sleep, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe('retain', () => {
  const { target, clients } = useTarget();

  async function retain(topic: string, payload: string, qos: 0 | 1 | 2 = 1): Promise<void> {
    const pub = await clients.connect({ protocolVersion: 4 });
    await pub.publishAsync(topic, payload, { qos, retain: true });
    await pub.endAsync();
  }

  it('[MQTT-3.3.1-5] [MQTT-3.3.1-8] a retained message is stored and sent with RETAIN=1 to a new subscriber', async () => {
    const t = utopic();
    await retain(t, 'kept');
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    const p = await r.expect('publish');
    expect([String(p.payload), p.retain]).toEqual(['kept', true]);
  });

  it('[MQTT-3.3.1-9] a message forwarded to an existing subscription has RETAIN=0 (3.1.1)', async () => {
    const t = utopic();
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 0 }] });
    await r.expect('suback');
    await retain(t, 'live');
    const p = await r.expect('publish');
    expect([String(p.payload), p.retain]).toEqual(['live', false]);
  });

  it('[MQTT-3.3.1-7] a new retained message replaces the old one', async () => {
    const t = utopic();
    await retain(t, 'old');
    await retain(t, 'new');
    const { client, inbox } = await clients.connectWithInbox();
    await client.subscribeAsync(t, { qos: 1 });
    await inbox.waitFor(1);
    await sleep(200);
    expect(inbox.payloads()).toEqual(['new']);
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] a zero-byte retained PUBLISH clears the retained message and is not stored', async () => {
    const t = utopic();
    await retain(t, 'soon gone');
    await retain(t, '');
    const { client, inbox } = await clients.connectWithInbox();
    await client.subscribeAsync(t, { qos: 1 });
    await sleep(300);
    expect(inbox.messages).toEqual([]);
  });

  it('[MQTT-3.3.1-12] a PUBLISH with RETAIN=0 leaves the retained message alone', async () => {
    const t = utopic();
    await retain(t, 'stays');
    const pub = await clients.connect();
    await pub.publishAsync(t, 'not retained', { qos: 1 });
    const { client, inbox } = await clients.connectWithInbox();
    await client.subscribeAsync(t, { qos: 1 });
    await inbox.waitFor(1);
    await sleep(200);
    expect(inbox.payloads()).toEqual(['stays']);
  });

  it('[MQTT-3.3.1-8] a wildcard subscription gets every matching retained message', async () => {
    const t = utopic();
    await retain(`${t}/a`, 'A');
    await retain(`${t}/b/c`, 'C');
    await retain(`${t}-other`, 'no');
    const { client, inbox } = await clients.connectWithInbox();
    await client.subscribeAsync(`${t}/#`, { qos: 1 });
    await inbox.waitFor(2);
    await sleep(200);
    expect(inbox.payloads().sort()).toEqual(['A', 'C']);
  });

  it('[MQTT-3.8.4-3] re-subscribing to the same filter re-sends the retained messages', async () => {
    const t = utopic();
    await retain(t, 'again');
    const { client, inbox } = await clients.connectWithInbox();
    await client.subscribeAsync(t, { qos: 1 });
    await inbox.waitFor(1);
    await client.subscribeAsync(t, { qos: 1 });
    await inbox.waitFor(2);
  });

  it('retained QoS is capped by the subscription QoS [MQTT-3.8.4-6]', async () => {
    const t = utopic();
    await retain(t, 'q2', 2);
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    expect((await r.expect('publish')).qos).toBe(1);
  });

  it('mosquitto_pub -r then mosquitto_sub -V 5 receives the retained message', async () => {
    const t = utopic();
    expect(
      (await mosquittoPub(target(), t, 'cli-retained', { version: '5', retain: true, qos: 1 })).code,
    ).toBe(0);
    const s = await mosquittoSub(target(), t, { version: '5', count: 1, waitSeconds: 3 });
    expect(s.lines).toEqual([`${t} cli-retained`]);
  });

  for (const rap of [false, true]) {
    it(`[MQTT-3.3.1-12] [MQTT-3.3.1-13] 5.0 Retain As Published=${rap ? 1 : 0}: live RETAIN flag is ${rap ? 'kept' : 'cleared'}`, async () => {
      const t = utopic();
      const r = await clients.raw(5);
      await r.connect();
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1, rap }] });
      await r.expect('suback');
      await retain(t, 'rap');
      expect((await r.expect('publish')).retain).toBe(rap);
    });
  }

  it('[MQTT-3.3.1-9] 5.0 Retain Handling 0: retained messages sent on every subscribe', async () => {
    const t = utopic();
    await retain(t, 'rh0');
    const r = await clients.raw(5);
    await r.connect();
    for (const id of [1, 2]) {
      r.send({ cmd: 'subscribe', messageId: id, subscriptions: [{ topic: t, qos: 1, rh: 0 }] });
      const p = await r.expect('publish');
      r.send({ cmd: 'puback', messageId: p.messageId, reasonCode: 0 });
    }
  });

  it('[MQTT-3.3.1-10] 5.0 Retain Handling 1: retained messages sent only if the subscription did not exist', async () => {
    const t = utopic();
    await retain(t, 'rh1');
    const r = await clients.raw(5);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1, rh: 1 }] });
    const p = await r.expect('publish');
    r.send({ cmd: 'puback', messageId: p.messageId, reasonCode: 0 });
    r.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: t, qos: 1, rh: 1 }] });
    await r.expect('suback');
    await r.expectNothing(300, 'publish');
  });

  it('[MQTT-3.3.1-11] 5.0 Retain Handling 2: retained messages are not sent', async () => {
    const t = utopic();
    await retain(t, 'rh2');
    const r = await clients.raw(5);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1, rh: 2 }] });
    await r.expect('suback');
    await r.expectNothing(300, 'publish');
  });
});
