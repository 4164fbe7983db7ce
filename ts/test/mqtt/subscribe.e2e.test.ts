/**
 * SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK, wildcards, $-topics.
 * Statement ids are 3.1.1's unless marked "5.0".
 */
import { describe, expect, it } from 'vitest';
import { mosquittoPub, mosquittoSubStarted } from '../helpers/cli-clients.ts';
import { MOSQUITTO, sleep, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe('subscribe', () => {
  const { target, clients } = useTarget();

  it('[MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5] SUBACK has the SUBSCRIBE packet id and one code per filter', async () => {
    const r = await clients.raw(4);
    await r.connect();
    const t = utopic();
    r.send({
      cmd: 'subscribe',
      messageId: 513,
      subscriptions: [
        { topic: `${t}/0`, qos: 0 },
        { topic: `${t}/1`, qos: 1 },
        { topic: `${t}/2`, qos: 2 },
      ],
    });
    const ack = await r.expect('suback');
    expect(ack.messageId).toBe(513);
    expect(ack.granted).toEqual([0, 1, 2]);
  });

  it('5.0 SUBACK reason codes are the granted QoS', async () => {
    const r = await clients.raw(5);
    await r.connect();
    const t = utopic();
    r.send({
      cmd: 'subscribe',
      messageId: 2,
      subscriptions: [
        { topic: `${t}/a`, qos: 2 },
        { topic: `${t}/b`, qos: 0 },
      ],
    });
    expect((await r.expect('suback')).granted).toEqual([2, 0]);
  });

  const matches: Array<[string, string, boolean]> = [
    ['a/b/c', 'a/b/c', true],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/#', 'a/b/c', true],
    ['a/#', 'a', true], // 4.7.1.2: "sport/#" also matches "sport"
    ['+/+', 'a/b', true],
    ['+', 'a/b', false],
    ['a/+', 'a/', true], // empty level
    ['#', 'x/y/z', true],
    ['a/b', 'A/b', false], // case sensitive [MQTT-4.7.3-?]
  ];
  for (const [filter, topic, yes] of matches) {
    it(`[MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.1-3] filter "${filter}" ${yes ? 'matches' : 'does not match'} "${topic}"`, async () => {
      const base = utopic('w');
      const { client, inbox } = await clients.connectWithInbox({ protocolVersion: 4 });
      await client.subscribeAsync(`${base}/${filter}`, { qos: 1 });
      const pub = await clients.connect();
      await pub.publishAsync(`${base}/${topic}`, 'm', { qos: 1 });
      await pub.publishAsync(`${base}/sentinel-${filter.replace(/[#+/]/g, '_')}`, 'end', { qos: 1 });
      if (yes) {
        expect((await inbox.waitFor(1))[0]?.topic).toBe(`${base}/${topic}`);
      } else {
        await sleep(250);
        expect(inbox.messages.filter((m) => m.topic === `${base}/${topic}`)).toEqual([]);
      }
    });
  }

  it('[MQTT-4.7.2-1] $-topics are not matched by filters starting with # or +', async () => {
    const name = utopic().replace(/\//g, '_');
    const dollar = `$ferry_${name}/x`;
    const all = await clients.connectWithInbox({ protocolVersion: 4 });
    await all.client.subscribeAsync(['#', '+/x'], { qos: 0 });
    const exact = await clients.connectWithInbox({ protocolVersion: 4 });
    await exact.client.subscribeAsync(`$ferry_${name}/+`, { qos: 0 });
    const pub = await clients.connect();
    await pub.publishAsync(dollar, 'dollar', { qos: 1 });
    await exact.inbox.waitFor(1);
    await sleep(200);
    expect(all.inbox.messages.filter((m) => m.topic.startsWith('$'))).toEqual([]);
  });

  it('[MQTT-3.8.4-3] a SUBSCRIBE for an existing filter replaces it (new QoS, one copy per message)', async () => {
    const t = utopic();
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 0 }] });
    await r.expect('suback');
    r.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: t, qos: 1 }] });
    await r.expect('suback');
    const pub = await clients.connect();
    await pub.publishAsync(t, 'once', { qos: 1 });
    const p = await r.expect('publish');
    expect(p.qos).toBe(1);
    r.send({ cmd: 'puback', messageId: p.messageId });
    await r.expectNothing(250, 'publish');
  });

  // Mosquitto 2.0.11 sends a single copy at the QoS of the first filter it matched (QoS 0 here).
  it.skipIf(MOSQUITTO)(
    '[MQTT-3.3.5-1] 3.1.1 overlapping subscriptions: delivered at the highest QoS of the matching filters',
    async () => {
      const t = utopic();
      const r = await clients.raw(4);
      await r.connect();
      r.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [
          { topic: `${t}/+`, qos: 0 },
          { topic: `${t}/#`, qos: 1 },
        ],
      });
      await r.expect('suback');
      const pub = await clients.connect();
      await pub.publishAsync(`${t}/a`, 'max-qos', { qos: 1 });
      const first = await r.expect('publish');
      // Further copies are allowed, one per extra subscription at its own QoS (Mosquitto sends them).
      await new Promise((res) => setTimeout(res, 250));
      const copies = [first, ...r.received.filter((x) => x.cmd === 'publish')];
      expect(copies.map((c) => c.qos)).toContain(1);
      for (const c of copies) expect(c.qos).toBeLessThanOrEqual(1);
    },
  );

  it('[MQTT-3.10.4-1] [MQTT-3.10.4-4] UNSUBSCRIBE stops delivery; UNSUBACK has its packet id', async () => {
    const t = utopic();
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 0 }] });
    await r.expect('suback');
    r.send({ cmd: 'unsubscribe', messageId: 99, unsubscriptions: [t] });
    expect((await r.expect('unsuback')).messageId).toBe(99);
    const pub = await clients.connect();
    await pub.publishAsync(t, 'gone', { qos: 1 });
    await r.expectNothing(250, 'publish');
  });

  it('[MQTT-3.10.4-5] UNSUBSCRIBE of a filter never subscribed still gets UNSUBACK', async () => {
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'unsubscribe', messageId: 5, unsubscriptions: [utopic()] });
    expect((await r.expect('unsuback')).messageId).toBe(5);
  });

  it('5.0 UNSUBACK reason codes: 0x00 success, 0x11 no subscription existed', async () => {
    const t = utopic();
    const r = await clients.raw(5);
    await r.connect();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 0 }] });
    await r.expect('suback');
    r.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [t, `${t}/never`] });
    expect((await r.expect('unsuback')).granted).toEqual([0x00, 0x11]);
  });

  for (const filter of ['a/#/b', 'a/b#', 'a/+b']) {
    it(`[MQTT-4.7.1-2] [MQTT-4.7.1-3] an invalid filter "${filter}" is refused (SUBACK failure or close)`, async () => {
      const r = await clients.raw(4);
      await r.connect();
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${utopic()}/${filter}`, qos: 0 }] });
      const outcome = await Promise.race([
        r.expect('suback').then((a) => `suback:${JSON.stringify(a.granted)}`),
        r.whenClosed.then(() => 'closed'),
      ]);
      expect(['suback:[128]', 'closed']).toContain(outcome);
    });
  }

  it('mosquitto_sub with two -t filters receives from both (-V 311)', async () => {
    const t = utopic();
    const { done } = await mosquittoSubStarted(target(), [`${t}/a`, `${t}/b/+`], { count: 2, qos: 1 });
    await mosquittoPub(target(), `${t}/a`, 'one', { qos: 1 });
    await mosquittoPub(target(), `${t}/b/c`, 'two', { qos: 1 });
    const s = await done;
    expect(s.lines.sort()).toEqual([`${t}/a one`, `${t}/b/c two`]);
  });
});
