/**
 * FerryMQ's own limits and announcements (5.0 CONNACK properties) and the
 * reaction when a client exceeds them, plus server-to-client topic aliases
 * and $SYS. FerryMQ only: the values come from FerryMQ's [mqtt] config.
 */
import { describe, expect, it } from 'vitest';
import { MOSQUITTO, sleep, uid, useTarget, utopic } from '../helpers/mqtt-target.ts';

describe.skipIf(MOSQUITTO)('server limits', () => {
  const { clients } = useTarget({
    ferrymqEnv: {
      FERRYMQ_MQTT__PACKET_BYTES_MAX: '2048',
      FERRYMQ_MQTT__RECEIVE_MAX: '2',
      FERRYMQ_MQTT__TOPIC_ALIAS_MAX: '4',
      FERRYMQ_MQTT__SUBSCRIPTIONS_PER_CLIENT_MAX: '3',
      FERRYMQ_MQTT__FORBIDDEN_FILTERS: '#,secret/#',
      FERRYMQ_MQTT__SYS_INTERVAL_MS: '200',
      FERRYMQ_MQTT__CONNECTIONS_MAX: '40',
      FERRYMQ_MQTT__CONNECT_TIMEOUT_MS: '2000',
    },
  });

  it('[MQTT-3.2.2-?] 5.0 CONNACK announces Receive Maximum, Maximum Packet Size and Topic Alias Maximum', async () => {
    const raw = await clients.raw(5);
    const connack = await raw.connect();
    expect(connack.properties).toMatchObject({
      receiveMaximum: 2,
      maximumPacketSize: 2048,
      topicAliasMaximum: 4,
    });
  });

  it('[MQTT-3.2.2-15] a packet larger than the Maximum Packet Size gets DISCONNECT 0x95; 3.1.1 is closed', async () => {
    const v5 = await clients.raw(5);
    await v5.connect();
    v5.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(4096), qos: 0, retain: false, dup: false });
    expect(await v5.expect('disconnect')).toMatchObject({ reasonCode: 0x95 });
    await v5.whenClosed;
    const v4 = await clients.raw(4);
    await v4.connect();
    v4.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(4096), qos: 0, retain: false, dup: false });
    await v4.whenClosed;
  });

  it('[MQTT-3.3.4-8] more unacknowledged QoS 2 PUBLISHes than Receive Maximum get DISCONNECT 0x93', async () => {
    const raw = await clients.raw(5);
    await raw.connect();
    for (let id = 1; id <= 3; id++) {
      raw.send({
        cmd: 'publish',
        topic: 'rm',
        payload: Buffer.from('x'),
        qos: 2,
        messageId: id,
        retain: false,
        dup: false,
      });
    }
    expect(await raw.expect('disconnect')).toMatchObject({ reasonCode: 0x93 });
  });

  it('[MQTT-3.3.2-9] a topic alias above the server Topic Alias Maximum gets DISCONNECT 0x94', async () => {
    const raw = await clients.raw(5);
    await raw.connect();
    raw.send({
      cmd: 'publish',
      topic: 'a',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 5 },
    });
    expect(await raw.expect('disconnect')).toMatchObject({ reasonCode: 0x94 });
  });

  it('incoming topic aliases: a later PUBLISH with an empty topic uses the alias', async () => {
    const t = utopic();
    const subscriber = await clients.connectWithInbox({ protocolVersion: 5 });
    await subscriber.client.subscribeAsync(t, { qos: 0 });
    const raw = await clients.raw(5);
    await raw.connect();
    raw.send({
      cmd: 'publish',
      topic: t,
      payload: Buffer.from('first'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    });
    raw.send({
      cmd: 'publish',
      topic: '',
      payload: Buffer.from('second'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 1 },
    });
    const got = await subscriber.inbox.waitFor(2);
    expect(got.map((m) => [m.topic, m.payload])).toEqual([
      [t, 'first'],
      [t, 'second'],
    ]);
  });

  it('[MQTT-3.3.2-?] server-to-client topic aliases: the topic is sent once, then only the alias', async () => {
    const t = utopic();
    const raw = await clients.raw(5);
    await raw.connect({ properties: { topicAliasMaximum: 10 } });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: t, qos: 0 }] });
    await raw.expect('suback');
    const pub = await clients.connect({ protocolVersion: 5 });
    await pub.publishAsync(t, 'one');
    await pub.publishAsync(t, 'two');
    const first = await raw.expect('publish');
    const second = await raw.expect('publish');
    expect(first).toMatchObject({ topic: t, properties: { topicAlias: 1 } });
    expect(second).toMatchObject({ topic: '', properties: { topicAlias: 1 } });
    expect(String(second.payload)).toBe('two');
  });

  it('[MQTT-3.9.3-?] subscriptions past the per-client limit get 0x97, forbidden filters 0x87 (3.1.1: 0x80)', async () => {
    const v5 = await clients.raw(5);
    await v5.connect();
    v5.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: ['a', 'b', 'c', 'd', '#', 'secret/#'].map((topic) => ({ topic, qos: 1 })),
    });
    expect((await v5.expect('suback')).granted).toEqual([1, 1, 1, 0x97, 0x87, 0x87]);
    const v4 = await clients.raw(4);
    await v4.connect();
    v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] });
    expect((await v4.expect('suback')).granted).toEqual([0x80]);
  });

  it('$SYS topics report the broker, and a leading # does not match them [MQTT-4.7.2-1]', async () => {
    const sys = await clients.connectWithInbox({ protocolVersion: 4 });
    await sys.client.subscribeAsync('$SYS/broker/#', { qos: 0 });
    const got = await sys.inbox.waitFor(6, 5_000);
    const topics = new Set(got.map((m) => m.topic));
    for (const t of ['version', 'uptime', 'clients/connected', 'messages/received', 'messages/sent']) {
      expect(topics.has(`$SYS/broker/${t}`)).toBe(true);
    }
    expect(got.find((m) => m.topic === '$SYS/broker/version')?.payload).toMatch(/^ferrymq /);
    const wild = await clients.connectWithInbox({ protocolVersion: 4, clientId: uid() });
    await wild.client.subscribeAsync('+/broker/#', { qos: 0 });
    await sleep(500);
    expect(wild.inbox.messages.filter((m) => m.topic.startsWith('$SYS'))).toEqual([]);
  });

  // Before the connections_max test: its refused sockets may still count against the cap for a moment.
  it('mqtt.connect_timeout_ms: no CONNECT (or half of one) is closed after the timeout, not before; a CONNECT in time ends it', async () => {
    // Before the accepts, so that "not before the timeout" cannot pass by measuring from later.
    const t0 = Date.now();
    const silent = await clients.raw(4);
    const half = await clients.raw(4);
    const done = await clients.raw(4);
    half.write([0x10, 0x20, 0x00, 0x04]);
    await done.connect({ keepalive: 60 });
    const closedAt = async (r: typeof silent): Promise<number> => {
      await r.expectClose(5_000);
      return Date.now() - t0;
    };
    const [a, b] = await Promise.all([closedAt(silent), closedAt(half)]);
    // The deadline is on the 100 ms keep-alive wheel: never early, ~300 ms late at most on an idle
    // machine; the upper bound leaves room for a loaded test machine.
    for (const ms of [a, b]) {
      expect(ms).toBeGreaterThanOrEqual(2_000);
      expect(ms).toBeLessThan(4_500);
    }
    done.send({ cmd: 'pingreq' });
    await done.expect('pingresp');
    expect(done.closed).toBe(false);
  });

  it('connections past mqtt.connections_max are closed on accept; the others are unaffected', async () => {
    const raws = [];
    for (let i = 0; i < 45; i++) raws.push(await clients.raw(4));
    await sleep(300);
    const closed = raws.filter((r) => r.closed).length;
    expect(closed).toBeGreaterThanOrEqual(5);
    const alive = raws.find((r) => !r.closed);
    expect(await alive?.connect()).toMatchObject({ cmd: 'connack', returnCode: 0 });
    for (const r of raws) r.socket.destroy();
  });
});
