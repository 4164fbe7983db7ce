/**
 * PUBLISH at QoS 0, 1 and 2 in both directions, the acknowledgement flows,
 * effective QoS, ordering, and the 5.0 flow-control limits (Receive Maximum,
 * Maximum Packet Size). Statement ids are 3.1.1's unless marked "5.0".
 */
import { describe, expect, it } from 'vitest';
import { mosquittoPub, paho } from '../helpers/cli-clients.ts';
import { MOSQUITTO, sleep, uid, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe('publish and QoS', () => {
  const { target, clients } = useTarget();

  it('[MQTT-3.3.4-1] [MQTT-4.3.2-2] QoS 1 PUBLISH from a client is answered with PUBACK carrying its packet id', async () => {
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'publish', topic: utopic(), payload: 'x', qos: 1, messageId: 4321 });
    expect((await r.expect('puback')).messageId).toBe(4321);
  });

  it('[MQTT-4.3.3-2] QoS 2 from a client: PUBLISH→PUBREC, PUBREL→PUBCOMP, same packet id', async () => {
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'publish', topic: utopic(), payload: 'x', qos: 2, messageId: 77 });
    expect((await r.expect('pubrec')).messageId).toBe(77);
    r.send({ cmd: 'pubrel', messageId: 77 });
    expect((await r.expect('pubcomp')).messageId).toBe(77);
  });

  it('[MQTT-4.3.3-2] QoS 2 exactly once: a re-sent PUBLISH (DUP) before PUBREL is delivered once', async () => {
    const topic = utopic();
    const { client: sub, inbox } = await clients.connectWithInbox({ protocolVersion: 4 });
    await sub.subscribeAsync(topic, { qos: 2 });
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 9 });
    await r.expect('pubrec');
    r.send({ cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 9, dup: true });
    await r.expect('pubrec');
    r.send({ cmd: 'pubrel', messageId: 9 });
    await r.expect('pubcomp');
    await inbox.waitFor(1);
    await sleep(300);
    expect(inbox.payloads()).toEqual(['once']);
  });

  for (const [pubQos, subQos] of [
    [0, 2],
    [1, 2],
    [2, 2],
    [2, 0],
    [2, 1],
    [1, 0],
  ] as const) {
    it(`[MQTT-3.8.4-6] [MQTT-4.3] published at QoS ${pubQos}, subscribed at QoS ${subQos}: delivered at QoS ${Math.min(pubQos, subQos)}`, async () => {
      const topic = utopic();
      const r = await clients.raw(4);
      await r.connect();
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: subQos }] });
      expect((await r.expect('suback')).granted).toEqual([subQos]);
      const pub = await clients.connect({ protocolVersion: 5 });
      await pub.publishAsync(topic, 'q', { qos: pubQos });
      const p = await r.expect('publish');
      const qos = Math.min(pubQos, subQos);
      expect(p.qos).toBe(qos);
      expect(p.dup).toBe(false); // [MQTT-3.3.1-2] for QoS 0; first delivery otherwise
      if (qos > 0) expect(p.messageId).toBeGreaterThan(0); // [MQTT-2.3.1-1]
      if (qos === 1) r.send({ cmd: 'puback', messageId: p.messageId });
      if (qos === 2) {
        r.send({ cmd: 'pubrec', messageId: p.messageId });
        expect((await r.expect('pubrel')).messageId).toBe(p.messageId); // [MQTT-4.3.3-?] server QoS 2 flow
        r.send({ cmd: 'pubcomp', messageId: p.messageId });
      }
      await r.expectNothing(200, 'publish');
    });
  }

  it('[MQTT-4.6.0-6] ordered topic: 200 QoS 1 messages from one publisher arrive in order at QoS 1 and QoS 2 subscribers', async () => {
    const topic = utopic();
    const a = await clients.connectWithInbox({ protocolVersion: 4 });
    const b = await clients.connectWithInbox({ protocolVersion: 5 });
    await a.client.subscribeAsync(topic, { qos: 1 });
    await b.client.subscribeAsync(topic, { qos: 2 });
    const pub = await clients.connect({ protocolVersion: 4 });
    const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((m) => pub.publishAsync(topic, m, { qos: 1 })));
    await a.inbox.waitFor(200);
    await b.inbox.waitFor(200);
    expect(a.inbox.payloads()).toEqual(sent);
    expect(b.inbox.payloads()).toEqual(sent);
  });

  it('[MQTT-4.6.0-6] mixed QoS 0/1/2 from one publisher: the order within each QoS is kept', async () => {
    const topic = utopic();
    const { client, inbox } = await clients.connectWithInbox({ protocolVersion: 4 });
    await client.subscribeAsync(topic, { qos: 2 });
    const pub = await clients.connect({ protocolVersion: 4 });
    const sent = Array.from({ length: 60 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((m, i) => pub.publishAsync(topic, m, { qos: (i % 3) as 0 | 1 | 2 })));
    await inbox.waitFor(60);
    // Within each QoS the order is kept; across QoS levels a QoS 2 message may be forwarded only at
    // PUBREL (as Mosquitto does), so it may overtake nothing but can fall behind later QoS 0/1 ones.
    const got = inbox.payloads();
    for (const q of [0, 1, 2]) {
      expect(got.filter((m) => Number(m.slice(1)) % 3 === q)).toEqual(sent.filter((_, i) => i % 3 === q));
    }
  });

  it('[MQTT-3.3.5-1] every matching subscription of different clients gets the message', async () => {
    const base = utopic();
    const filters = [`${base}/a/b`, `${base}/+/b`, `${base}/#`, `${base}/a/+`];
    const subs = await Promise.all(filters.map(() => clients.connectWithInbox({ protocolVersion: 4 })));
    await Promise.all(subs.map((s, i) => s.client.subscribeAsync(filters[i] as string, { qos: 1 })));
    const pub = await clients.connect();
    await pub.publishAsync(`${base}/a/b`, 'all', { qos: 1 });
    for (const s of subs) expect((await s.inbox.waitFor(1))[0]?.payload).toBe('all');
  });

  it('[MQTT-4.3] mosquitto_pub QoS 2 → paho MQTTv5 subscriber at QoS 2 gets QoS 2', async () => {
    const topic = utopic();
    const run = paho(target(), {
      protocol: 'MQTTv5',
      client_id: uid('p5'),
      steps: [
        { op: 'subscribe', topic, qos: 2 },
        { op: 'wait', count: 1, timeout: 8 },
      ],
    });
    let p: Awaited<ReturnType<typeof mosquittoPub>> | undefined;
    for (let i = 0; i < 20; i++) {
      await sleep(300);
      p = await mosquittoPub(target(), topic, 'exactly-once', { version: '5', qos: 2 });
      const partial = await Promise.race([run, sleep(50).then(() => undefined)]);
      if (partial) break;
    }
    expect(p?.code).toBe(0);
    const r = await run;
    expect(r.error).toBeNull();
    expect(r.messages[0]).toMatchObject({ topic, payload: 'exactly-once', qos: 2 });
  });

  it('[MQTT-4.3] paho MQTTv31 publishes QoS 1 and QoS 2; mqtt.js v3 receives both', async () => {
    const topic = utopic();
    const { client, inbox } = await clients.connectWithInbox({ protocolVersion: 3 });
    await client.subscribeAsync(topic, { qos: 2 });
    const r = await paho(target(), {
      protocol: 'MQTTv31',
      client_id: uid('p31'),
      steps: [
        { op: 'publish', topic, payload: 'one', qos: 1 },
        { op: 'publish', topic, payload: 'two', qos: 2 },
        { op: 'disconnect' },
      ],
    });
    expect(r.error).toBeNull();
    await inbox.waitFor(2);
    expect(inbox.messages.map((m) => [m.payload, m.packet.qos])).toEqual([
      ['one', 1],
      ['two', 2],
    ]);
  });

  async function receiveMaxSetup(): Promise<{ r: Awaited<ReturnType<typeof clients.raw>>; first: string[] }> {
    const topic = utopic();
    const r = await clients.raw(5);
    await r.connect({ properties: { receiveMaximum: 2 } });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await r.expect('suback');
    const pub = await clients.connect({ protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
    await sleep(400);
    return { r, first: r.received.filter((p) => p.cmd === 'publish').map((p) => String(p.payload)) };
  }

  it('[MQTT-3.3.4-9] 5.0 Receive Maximum 2: the server sends only 2 QoS 1 PUBLISHes before any PUBACK', async () => {
    const { first } = await receiveMaxSetup();
    expect(first).toEqual(['m0', 'm1']);
  });

  // 5.0 §3.3.4 [MQTT-3.3.4-9]: never more than Receive Maximum unacknowledged QoS 1/2 PUBLISHes.
  // Mosquitto 2.0.11 sends two more (m2 and m3) after a single PUBACK, so 3 are unacknowledged
  // (observed); this runs against FerryMQ only.
  it.skipIf(MOSQUITTO)(
    '[MQTT-3.3.4-9] 5.0 Receive Maximum 2: each PUBACK releases exactly one more PUBLISH',
    async () => {
      const { r } = await receiveMaxSetup();
      const first = [await r.expect('publish'), await r.expect('publish')];
      r.send({ cmd: 'puback', messageId: first[0]?.messageId, reasonCode: 0 });
      const third = await r.expect('publish');
      expect(String(third.payload)).toBe('m2');
      await r.expectNothing(300, 'publish');
      for (const p of [first[1], third]) r.send({ cmd: 'puback', messageId: p?.messageId, reasonCode: 0 });
      const rest = [await r.expect('publish'), await r.expect('publish')];
      expect(rest.map((p) => String(p.payload))).toEqual(['m3', 'm4']);
    },
  );

  it('[MQTT-3.1.2-25] 5.0 Maximum Packet Size: the server does not send a packet larger than the client allows', async () => {
    const topic = utopic();
    const r = await clients.raw(5);
    await r.connect({ properties: { maximumPacketSize: 128 } });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await r.expect('suback');
    const pub = await clients.connect({ protocolVersion: 5 });
    await pub.publishAsync(topic, 'x'.repeat(500), { qos: 1 });
    await pub.publishAsync(topic, 'small', { qos: 1 });
    const p = await r.expect('publish');
    expect(String(p.payload)).toBe('small'); // the big one was discarded [MQTT-3.1.2-25]
    await r.expectNothing(200, 'publish');
    expect(r.closed).toBe(false);
  });
});
