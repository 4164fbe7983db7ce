/**
 * CONNECT / CONNACK for MQTT 3.1 (MQIsdp), 3.1.1 and 5.0; client ids,
 * takeover, keep alive. Normative statement ids are 3.1.1's unless marked
 * "5.0".
 */
import { describe, expect, it } from 'vitest';
import { paho } from '../helpers/cli-clients.ts';
import { MOSQUITTO, sleep, uid, useTarget } from '../helpers/mqtt-target.ts';

describe('connect', () => {
  const { target, clients } = useTarget();

  it('[MQTT-3.1.0-1] [MQTT-3.2.0-1] v3.1.1: CONNECT is answered with CONNACK 0x00, session present 0', async () => {
    const r = await clients.raw(4);
    const ack = await r.connect({ clean: true });
    expect(ack.returnCode).toBe(0);
    expect(ack.sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.0-1] v3.1 (MQIsdp, level 3): CONNECT is answered with CONNACK 0x00', async () => {
    const r = await clients.raw(3);
    const ack = await r.connect();
    expect(ack.returnCode).toBe(0);
  });

  it('[MQTT-3.1.0-1] v5: CONNECT is answered with CONNACK reason 0x00', async () => {
    const r = await clients.raw(5);
    const ack = await r.connect();
    expect(ack.reasonCode).toBe(0);
  });

  it('[MQTT-3.1.0-1] the first packet must be CONNECT: a PINGREQ first closes the connection', async () => {
    const r = await clients.raw(4);
    r.write([0xc0, 0x00]);
    await r.expectClose();
    expect(r.received.filter((p) => p.cmd === 'pingresp')).toEqual([]);
  });

  it('[MQTT-3.1.2-2] v3.1.1: an unsupported protocol level gets CONNACK 0x01 and the connection is closed', async () => {
    const r = await clients.raw(4);
    // CONNECT "MQTT" level 9, clean, keepalive 60, client id "x"
    r.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x09, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x78]);
    await r.expectClose();
    const ack = r.received.find((p) => p.cmd === 'connack');
    expect(ack?.returnCode).toBe(1);
  });

  it('[MQTT-3.1.2-1] a wrong protocol name closes the connection', async () => {
    const r = await clients.raw(4);
    r.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x78]);
    await r.expectClose();
    expect(r.received.filter((p) => p.cmd === 'connack' && p.returnCode === 0)).toEqual([]);
  });

  it('[MQTT-3.1.2-3] a CONNECT with the reserved flag set closes the connection', async () => {
    const r = await clients.raw(4);
    r.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x3c, 0x00, 0x01, 0x78]);
    await r.expectClose();
    expect(r.received.filter((p) => p.cmd === 'connack' && p.returnCode === 0)).toEqual([]);
  });

  it('[MQTT-3.1.3-5] client ids of 1 to 23 characters [0-9a-zA-Z] are accepted', async () => {
    const r = await clients.raw(4);
    const ack = await r.connect({ clientId: `A${uid().replace(/[^0-9a-zA-Z]/g, '')}`.slice(0, 23) });
    expect(ack.returnCode).toBe(0);
  });

  it('[MQTT-3.1.3-6] v3.1.1: a zero-length client id with CleanSession=1 is accepted', async () => {
    const r = await clients.raw(4);
    const ack = await r.connect({ clientId: '', clean: true });
    expect(ack.returnCode).toBe(0);
  });

  it('[MQTT-3.1.3-8] v3.1.1: a zero-length client id with CleanSession=0 gets CONNACK 0x02 and is closed', async () => {
    const r = await clients.raw(4);
    // mqtt-packet refuses to encode this, so the bytes: "MQTT" level 4, flags 0x00, keepalive 60, id "".
    r.write([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00]);
    await r.expectClose();
    expect(r.received.find((p) => p.cmd === 'connack')?.returnCode).toBe(2);
  });

  // MQTT 3.1 (MQIsdp) §3.1 CONNECT, Client Identifier: "If the Client ID contains more than 23
  // characters, the server responds to the CONNECT message with a CONNACK return code 2: Identifier
  // Rejected." Mosquitto 2.0.11 accepts it (CONNACK 0), so this runs against FerryMQ only.
  it.skipIf(MOSQUITTO)(
    'v3.1: a client id longer than 23 characters is rejected with CONNACK 0x02 (3.1 §3.1 Client Identifier)',
    async () => {
      const r = await clients.raw(3);
      r.send({
        cmd: 'connect',
        protocolId: 'MQIsdp',
        protocolVersion: 3,
        clean: true,
        clientId: 'x'.repeat(24),
        keepalive: 60,
      });
      await r.expectClose();
      expect(r.received.find((p) => p.cmd === 'connack')?.returnCode).toBe(2);
    },
  );

  it('[MQTT-3.2.2-16] 5.0: a zero-length client id gets an Assigned Client Identifier in CONNACK', async () => {
    const r = await clients.raw(5);
    const ack = await r.connect({ clientId: '' });
    expect(ack.reasonCode).toBe(0);
    const assigned = (ack.properties as { assignedClientIdentifier?: string } | undefined)
      ?.assignedClientIdentifier;
    expect(typeof assigned).toBe('string');
    expect(assigned?.length).toBeGreaterThan(0);
    // Unique: a second one gets a different id.
    const r2 = await clients.raw(5);
    const ack2 = await r2.connect({ clientId: '' });
    expect((ack2.properties as { assignedClientIdentifier?: string }).assignedClientIdentifier).not.toBe(
      assigned,
    );
  });

  it('[MQTT-3.2.2-16] 5.0 (paho): a zero-length client id gets an Assigned Client Identifier', async () => {
    const r = await paho(target(), { protocol: 'MQTTv5', client_id: '', steps: [{ op: 'disconnect' }] });
    expect(r.error).toBeNull();
    expect(r.connack?.reason_code).toBe(0);
    expect(String(r.connack?.props.AssignedClientIdentifier ?? '')).not.toBe('');
  });

  for (const protocol of ['MQTTv31', 'MQTTv311', 'MQTTv5'] as const) {
    it(`[MQTT-3.2.0-1] paho ${protocol} connects and gets CONNACK 0`, async () => {
      const r = await paho(target(), { protocol, client_id: uid('paho'), steps: [{ op: 'disconnect' }] });
      expect(r.error).toBeNull();
      expect(r.connack).toMatchObject({ reason_code: 0, session_present: false });
    });
  }

  it('[MQTT-3.1.2-4] [MQTT-3.2.2-2] [MQTT-3.2.2-1] session present reflects a stored session (mqtt.js v4)', async () => {
    const clientId = uid('sp');
    const a = await clients.connect({ clientId, clean: false });
    await a.subscribeAsync(`sp/${clientId}`, { qos: 1 });
    await a.endAsync();
    const b = await clients.raw(4);
    const ack = await b.connect({ clientId, clean: false });
    expect(ack.sessionPresent).toBe(true);
    b.send({ cmd: 'disconnect' });
    await b.expectClose();
    const c = await clients.raw(4);
    const ack2 = await c.connect({ clientId, clean: true });
    expect(ack2.sessionPresent).toBe(false);
  });

  it('[MQTT-3.1.4-2] v3.1.1: a second connection with the same client id closes the first', async () => {
    const clientId = uid('take');
    const first = await clients.raw(4);
    await first.connect({ clientId });
    const second = await clients.raw(4);
    expect((await second.connect({ clientId })).returnCode).toBe(0);
    await first.expectClose();
    // The new connection works.
    second.send({ cmd: 'pingreq' });
    await second.expect('pingresp');
  });

  it('[MQTT-3.1.4-3] 5.0: a second connection with the same client id closes the first', async () => {
    const clientId = uid('take5');
    const first = await clients.raw(5);
    await first.connect({ clientId });
    const second = await clients.raw(5);
    expect((await second.connect({ clientId })).reasonCode).toBe(0);
    await first.expectClose();
  });

  // 5.0 §3.1.4 [MQTT-3.1.4-3] and §4.13: the server sends DISCONNECT 0x8E (Session taken over) to the
  // existing client. Mosquitto 2.0.11 closes the old socket without flushing that DISCONNECT
  // (observed: only the CONNACK reaches the old client), so this runs against FerryMQ only.
  it.skipIf(MOSQUITTO)(
    '[MQTT-3.1.4-3] 5.0: the taken-over connection gets DISCONNECT 0x8E (Session taken over) then is closed',
    async () => {
      const clientId = uid('take5');
      const first = await clients.raw(5);
      await first.connect({ clientId });
      const second = await clients.raw(5);
      expect((await second.connect({ clientId })).reasonCode).toBe(0);
      const d = await first.expect('disconnect');
      expect(d.reasonCode).toBe(0x8e);
      await first.expectClose();
    },
  );

  it('[MQTT-3.12.4-1] PINGREQ is answered with PINGRESP', async () => {
    const r = await clients.raw(4);
    await r.connect();
    r.send({ cmd: 'pingreq' });
    await r.expect('pingresp');
  });

  it('[MQTT-3.1.2-24] keep alive: silence for 1.5 × Keep Alive closes the connection (not before 1 × Keep Alive)', async () => {
    const r = await clients.raw(4);
    await r.connect({ keepalive: 1 });
    const t0 = Date.now();
    await r.expectClose(9_000);
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(1_000);
    // The spec bounds only the earliest close. FerryMQ is held to 1.5 s + 1 s; Mosquitto 2.0 checks
    // keep alive on a coarse timer (closes observed from 2 s to 5.1 s after a 1 s keep alive).
    expect(ms).toBeLessThan(MOSQUITTO ? 8_000 : 2_500);
  });

  it('[MQTT-3.1.2-24] keep alive: PINGREQs within the period keep the connection open', async () => {
    const r = await clients.raw(4);
    await r.connect({ keepalive: 1 });
    for (let i = 0; i < 4; i++) {
      await sleep(700);
      r.send({ cmd: 'pingreq' });
      await r.expect('pingresp');
    }
    expect(r.closed).toBe(false);
  });

  it('[MQTT-3.1.2-22] 5.0 keep alive: silence for 1.5 × Keep Alive closes the connection', async () => {
    const r = await clients.raw(5);
    const ack = await r.connect({ keepalive: 1 });
    // The server may override keep alive with Server Keep Alive [MQTT-3.2.2-21]; then use that.
    const serverKa = (ack.properties as { serverKeepAlive?: number } | undefined)?.serverKeepAlive ?? 1;
    const t0 = Date.now();
    await r.expectClose(serverKa * 1_500 + (MOSQUITTO ? 6_500 : 1_000));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(serverKa * 1_000);
  });

  // Not normative in 3.1.1; 5.0 §4.x: "If the Server does not receive a CONNECT packet within a
  // reasonable amount of time after the Network Connection is established, the Server SHOULD close
  // the Network Connection." Mosquitto 2.0 waits far longer than this test (it applies no timeout
  // before CONNECT), so this runs against FerryMQ only.
  it.skipIf(MOSQUITTO)(
    'CONNECT timeout: a connection that sends nothing is closed within 15 s',
    { timeout: 20_000 },
    async () => {
      const r = await clients.raw(4);
      await r.expectClose(15_000);
    },
  );

  it('[MQTT-3.1.2-24] a half-sent CONNECT does not keep a connection open forever, and others are unaffected', async () => {
    const r = await clients.raw(4);
    r.write([0x10, 0x20, 0x00, 0x04]);
    const other = await clients.connect({ protocolVersion: 5 });
    expect(other.connected).toBe(true);
    // Only a smoke check on the other client here; the timeout itself is the test above.
    r.destroy();
  });
});
