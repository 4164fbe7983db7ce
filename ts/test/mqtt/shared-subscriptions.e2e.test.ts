/**
 * Shared subscriptions: 5.0 §4.8.2 `$share/{group}/{filter}`, and the
 * `$queue/{filter}` form (not in the MQTT spec; FerryMQ treats it as one
 * shared group). Mosquitto also honours $share for 3.1.1 clients.
 */
import { describe, expect, it } from 'vitest';
import { type Inbox, MOSQUITTO, sleep, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe('shared subscriptions', () => {
  const { clients } = useTarget();

  async function members(filter: string, n: number, protocolVersion: 4 | 5 = 5): Promise<Inbox[]> {
    const out: Inbox[] = [];
    for (let i = 0; i < n; i++) {
      const { client, inbox } = await clients.connectWithInbox({ protocolVersion });
      await client.subscribeAsync(filter, { qos: 1 });
      out.push(inbox);
    }
    return out;
  }

  async function publishN(topic: string, n: number): Promise<string[]> {
    const pub = await clients.connect({ protocolVersion: 5 });
    const sent = Array.from({ length: n }, (_, i) => `m${i}`);
    for (const m of sent) await pub.publishAsync(topic, m, { qos: 1 });
    return sent;
  }

  function total(inboxes: Inbox[]): number {
    return inboxes.reduce((a, b) => a + b.messages.length, 0);
  }

  it('[MQTT-4.8.2-3] 5.0 §4.8.2: each message goes to exactly one member of a $share group, spread over members', async () => {
    const t = utopic();
    const group = await members(`$share/g1/${t}`, 2);
    const sent = await publishN(t, 20);
    for (let i = 0; i < 50 && total(group) < 20; i++) await sleep(50);
    await sleep(200);
    const got = group.flatMap((g) => g.payloads());
    expect(got.sort()).toEqual([...sent].sort());
    for (const g of group) expect(g.messages.length).toBeGreaterThan(0);
    // Topic seen by subscribers is the real topic, not the $share filter.
    expect(group.flatMap((g) => g.messages.map((m) => m.topic))).toEqual(Array(20).fill(t));
  });

  it.skipIf(MOSQUITTO)(
    '5.0 §4.8.2: a member that leaves with unacknowledged QoS 1 messages has them redelivered to another member',
    async () => {
      const t = utopic();
      const filter = `$share/redeliver/${t}`;
      // A member that takes messages but never acknowledges them.
      const silent = await clients.raw(5);
      await silent.connect({ clientId: `silent-${t.replaceAll('/', '-')}` });
      silent.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
      await silent.expect('suback');
      const [healthy] = await members(filter, 1);
      const sent = await publishN(t, 10);
      for (let i = 0; i < 50 && (healthy?.messages.length ?? 0) + silent.received.length < 10; i++)
        await sleep(50);
      const heldBySilent = silent.received.filter((p) => p.cmd === 'publish').length;
      expect(heldBySilent).toBeGreaterThan(0);
      // The silent member drops its connection (clean session: it leaves the group).
      silent.socket.destroy();
      for (let i = 0; i < 60 && (healthy?.messages.length ?? 0) < 10; i++) await sleep(50);
      expect(healthy?.payloads().sort()).toEqual([...sent].sort());
    },
  );

  it('5.0 §4.8.2: two groups on the same filter each get every message; a plain subscriber too', async () => {
    const t = utopic();
    const g1 = await members(`$share/a/${t}`, 2);
    const g2 = await members(`$share/b/${t}`, 2);
    const [plain] = await members(t, 1);
    await publishN(t, 10);
    for (let i = 0; i < 50 && (total(g1) < 10 || total(g2) < 10 || (plain?.messages.length ?? 0) < 10); i++) {
      await sleep(50);
    }
    await sleep(200);
    expect([total(g1), total(g2), plain?.messages.length]).toEqual([10, 10, 10]);
  });

  it('5.0 §4.8.2: wildcard filters work inside $share', async () => {
    const t = utopic();
    const group = await members(`$share/w/${t}/+/x`, 2);
    const pub = await clients.connect({ protocolVersion: 5 });
    await pub.publishAsync(`${t}/a/x`, 'one', { qos: 1 });
    await pub.publishAsync(`${t}/b/x`, 'two', { qos: 1 });
    for (let i = 0; i < 50 && total(group) < 2; i++) await sleep(50);
    expect(group.flatMap((g) => g.payloads()).sort()).toEqual(['one', 'two']);
  });

  it('3.1.1 clients can join a $share group (as Mosquitto and most brokers allow)', async () => {
    const t = utopic();
    const group = await members(`$share/g311/${t}`, 2, 4);
    await publishN(t, 6);
    for (let i = 0; i < 50 && total(group) < 6; i++) await sleep(50);
    await sleep(200);
    expect(total(group)).toBe(6);
  });

  // 5.0 §3.8.3.1 [MQTT-3.8.3-4]: "It is a Protocol Error to set the No Local bit to 1 on a Shared
  // Subscription". Mosquitto 2.0.11 grants it (SUBACK 0x01, observed): FerryMQ only.
  it.skipIf(MOSQUITTO)(
    '[MQTT-3.8.3-4] 5.0: No Local=1 on a shared subscription is a Protocol Error',
    async () => {
      const r = await clients.raw(5);
      await r.connect();
      r.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic: `$share/nl/${utopic()}`, qos: 1, nl: true }],
      });
      const outcome = await Promise.race([
        r.expect('suback').then((a) => `suback:${JSON.stringify(a.granted)}`),
        r.expect('disconnect').then((d) => `disconnect:${d.reasonCode}`),
        r.whenClosed.then(() => 'closed'),
      ]);
      // Either the whole connection (DISCONNECT 0x82 / close) or that subscription (SUBACK 0x82) is refused.
      expect(['disconnect:130', 'closed', 'suback:[130]']).toContain(outcome);
    },
  );

  // 5.0 §4.8.2 (Shared Subscriptions), §3.3.1.3: "Retained messages are not sent to the Session when
  // it is a Shared Subscription" — and §3.8.4 step for Retain Handling. Mosquitto 2.0.11 sends the
  // retained message to the new $share member (observed): FerryMQ only.
  it.skipIf(MOSQUITTO)(
    '[MQTT-3.3.1-9] 5.0 §4.8.2: retained messages are not sent to a new shared subscription',
    async () => {
      const t = utopic();
      const pub = await clients.connect({ protocolVersion: 5 });
      await pub.publishAsync(t, 'retained', { qos: 1, retain: true });
      const group = await members(`$share/r/${t}`, 1);
      await sleep(400);
      expect(total(group)).toBe(0);
    },
  );

  // 5.0 §4.8.2 [MQTT-4.8.2-1]: "$share/{ShareName}/{filter}" — the ShareName MUST be followed by "/"
  // and a Topic Filter. Mosquitto 2.0.11 grants "$share/onlygroup" (SUBACK 0x00, observed): FerryMQ only.
  it.skipIf(MOSQUITTO)(
    '[MQTT-4.8.2-1] 5.0 §4.8.2: an invalid share name ($share/g without filter) is refused',
    async () => {
      const r = await clients.raw(5);
      await r.connect();
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/onlygroup', qos: 0 }] });
      const outcome = await Promise.race([
        r.expect('suback').then((a) => `suback:${JSON.stringify(a.granted)}`),
        r.whenClosed.then(() => 'closed'),
      ]);
      expect(outcome).not.toBe('suback:[0]');
    },
  );

  // `$queue/{filter}` is not in the MQTT spec (EMQX/HiveMQ convention: one shared group for the
  // filter). Mosquitto 2.0 treats it as an ordinary topic filter, so this runs against FerryMQ only.
  it.skipIf(MOSQUITTO)('$queue/{filter}: each message goes to exactly one $queue subscriber', async () => {
    const t = utopic();
    const q = await members(`$queue/${t}`, 2);
    const sent = await publishN(t, 10);
    for (let i = 0; i < 50 && total(q) < 10; i++) await sleep(50);
    await sleep(200);
    expect(q.flatMap((g) => g.payloads()).sort()).toEqual([...sent].sort());
  });
});
