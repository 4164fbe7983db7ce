/**
 * Will messages (3.1.1 §3.1.2.5, 5.0 §3.1.2.5 and §3.1.3.2 Will Delay).
 */
import { describe, expect, it } from 'vitest';
import { paho } from '../helpers/cli-clients.ts';
import { type Inbox, MOSQUITTO, sleep, uid, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe('will', () => {
  const { target, clients } = useTarget();

  async function watcher(topic: string): Promise<Inbox> {
    const { client, inbox } = await clients.connectWithInbox({ protocolVersion: 5 });
    await client.subscribeAsync(topic, { qos: 1 });
    return inbox;
  }

  it('[MQTT-3.1.2-8] [MQTT-3.1.2-9] the will is published when the connection drops without DISCONNECT', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(4);
    await r.connect({ will: { topic: t, payload: Buffer.from('gone'), qos: 1, retain: false } });
    r.destroy();
    const [m] = await inbox.waitFor(1);
    expect([m?.payload, m?.packet.qos]).toEqual(['gone', 1]);
  });

  it('[MQTT-3.1.2-10] [MQTT-3.14.4-3] no will after a DISCONNECT', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(4);
    await r.connect({ will: { topic: t, payload: Buffer.from('never'), qos: 1, retain: false } });
    r.send({ cmd: 'disconnect' });
    await r.expectClose();
    await sleep(300);
    expect(inbox.messages).toEqual([]);
  });

  it('[MQTT-3.1.2-17] will with Will Retain=1 is published as a retained message', async () => {
    const t = utopic();
    const r = await clients.raw(4);
    await r.connect({ will: { topic: t, payload: Buffer.from('retained will'), qos: 1, retain: true } });
    r.destroy();
    await sleep(300);
    const late = await clients.raw(4);
    await late.connect();
    late.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 1 }] });
    const p = await late.expect('publish');
    expect([String(p.payload), p.retain]).toEqual(['retained will', true]);
  });

  it('[MQTT-3.1.2-8] [MQTT-3.1.2-24] the will is published when the keep alive expires', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(4);
    await r.connect({
      keepalive: 1,
      will: { topic: t, payload: Buffer.from('timeout'), qos: 0, retain: false },
    });
    await inbox.waitFor(1, 9_000);
  });

  it('[MQTT-3.1.2-8] [MQTT-4.8.0-1] the will is published when the server closes for a protocol violation', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(4);
    await r.connect({ will: { topic: t, payload: Buffer.from('violation'), qos: 0, retain: false } });
    r.write([0x32, 0x04, 0x00, 0x01, 0x23, 0x00]); // PUBLISH QoS 1 to topic "#": wildcard + truncated id
    await r.expectClose();
    await inbox.waitFor(1);
  });

  for (const protocol of ['MQTTv31', 'MQTTv311', 'MQTTv5'] as const) {
    it(`[MQTT-3.1.2-8] paho ${protocol}: will on a dropped socket`, async () => {
      const t = utopic();
      const inbox = await watcher(t);
      const r = await paho(target(), {
        protocol,
        client_id: uid('pw'),
        will: { topic: t, payload: `will-${protocol}`, qos: 1 },
        steps: [{ op: 'drop' }],
      });
      expect(r.error).toBeNull();
      expect((await inbox.waitFor(1))[0]?.payload).toBe(`will-${protocol}`);
    });
  }

  it('[MQTT-3.1.3-9] 5.0 Will Delay Interval: the will is sent only after the delay', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(5);
    await r.connect({
      properties: { sessionExpiryInterval: 10 },
      will: {
        topic: t,
        payload: Buffer.from('delayed'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 2 },
      },
    });
    const t0 = Date.now();
    r.destroy();
    await inbox.waitFor(1, 6_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
  });

  it('[MQTT-3.1.3-9] 5.0: a session that ends before the Will Delay Interval publishes the will when it ends', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(5);
    await r.connect({
      properties: { sessionExpiryInterval: 1 },
      will: {
        topic: t,
        payload: Buffer.from('at-session-end'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 30 },
      },
    });
    const t0 = Date.now();
    r.destroy();
    await inbox.waitFor(1, 6_000);
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(10_000);
    expect(inbox.payloads()).toEqual(['at-session-end']);
  });

  // Mosquitto 2.0.11 waits out the whole Will Delay here although its session is already gone.
  it.skipIf(MOSQUITTO)(
    '[MQTT-3.1.3-9] 5.0: session expiry 0 ends the session with the connection, so a delayed will goes at once',
    async () => {
      const t = utopic();
      const inbox = await watcher(t);
      const r = await clients.raw(5);
      await r.connect({
        will: {
          topic: t,
          payload: Buffer.from('now'),
          qos: 0,
          retain: false,
          properties: { willDelayInterval: 30 },
        },
      });
      r.destroy();
      await inbox.waitFor(1, 3_000);
      expect(inbox.payloads()).toEqual(['now']);
    },
  );

  it('[MQTT-3.1.3-9] 5.0: reconnecting within the Will Delay Interval cancels the will', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const clientId = uid('wd');
    const will = {
      topic: t,
      payload: Buffer.from('cancelled'),
      qos: 1,
      retain: false,
      properties: { willDelayInterval: 2 },
    };
    const r = await clients.raw(5);
    await r.connect({ clientId, clean: false, properties: { sessionExpiryInterval: 10 }, will });
    r.destroy();
    await sleep(300);
    const again = await clients.raw(5);
    await again.connect({ clientId, clean: false, properties: { sessionExpiryInterval: 10 } });
    await sleep(2_700);
    expect(inbox.messages).toEqual([]);
  });

  it('5.0 §3.14.2.1: DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will', async () => {
    const t = utopic();
    const inbox = await watcher(t);
    const r = await clients.raw(5);
    await r.connect({ will: { topic: t, payload: Buffer.from('asked'), qos: 1, retain: false } });
    r.send({ cmd: 'disconnect', reasonCode: 0x04 });
    expect((await inbox.waitFor(1))[0]?.payload).toBe('asked');
  });
});
