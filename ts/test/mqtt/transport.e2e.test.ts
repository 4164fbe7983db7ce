/**
 * Transports (MQTT 5.0 §4.2, §6; 3.1.1 §4.2, §6): TCP, TLS, WebSocket
 * (path /mqtt, subprotocol "mqtt") and secure WebSocket, with mqtt.js,
 * paho and mosquitto_pub/sub. mosquitto-clients 2.0.11 cannot speak
 * WebSocket, so WS/WSS use mqtt.js and paho.
 */
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mosquittoPub, mosquittoSubStarted, paho } from '../helpers/cli-clients.ts';
import { Inbox, type Transport, uid, useTarget, utopic } from '../helpers/mqtt-target.ts';

const transports: Transport[] = ['tcp', 'tls', 'ws', 'wss'];

describe('transport', () => {
  const { target, clients } = useTarget();

  for (const transport of transports) {
    for (const protocolVersion of [3, 4, 5] as const) {
      it(`[MQTT-4.2-1] mqtt.js v${protocolVersion} over ${transport}: publish and receive QoS 1 in order`, async () => {
        const topic = utopic(transport);
        const sub = await clients.connect({ transport, protocolVersion });
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(topic, { qos: 1 });
        const pub = await clients.connect({ transport, protocolVersion });
        for (let i = 0; i < 5; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
        await inbox.waitFor(5);
        expect(inbox.payloads()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      });
    }
  }

  for (const transport of ['tcp', 'tls', 'ws', 'wss'] as const) {
    it(`[MQTT-4.2-1] paho 3.1.1 over ${transport} subscribes; mqtt.js publishes`, async () => {
      const topic = utopic('paho');
      const pub = await clients.connect({ protocolVersion: 5 });
      const run = paho(target(), {
        protocol: 'MQTTv311',
        client_id: uid('paho'),
        transport,
        steps: [
          { op: 'subscribe', topic, qos: 1 },
          { op: 'wait', count: 1, timeout: 5 },
        ],
      });
      // paho prints nothing until done: publish until it reports the message.
      const timer = setInterval(() => void pub.publishAsync(topic, 'hello', { qos: 1 }).catch(() => {}), 200);
      const r = await run.finally(() => clearInterval(timer));
      expect(r.error).toBeNull();
      expect(r.connack?.reason_code).toBe(0);
      expect(r.messages[0]).toMatchObject({ topic, payload: 'hello', qos: 1 });
    });
  }

  for (const version of ['31', '311', '5'] as const) {
    for (const transport of ['tcp', 'tls'] as const) {
      it(`[MQTT-4.2-1] mosquitto_pub -V ${version} over ${transport} reaches mosquitto_sub -V ${version}`, async () => {
        const topic = utopic('cli');
        const { done } = await mosquittoSubStarted(target(), topic, { version, transport, count: 1, qos: 1 });
        const p = await mosquittoPub(target(), topic, `via-${version}`, { version, transport, qos: 1 });
        expect(p.code, p.stderr).toBe(0);
        const s = await done;
        expect(s.code, s.stderr).toBe(0);
        expect(s.lines).toEqual([`${topic} via-${version}`]);
      });
    }
  }

  it('TLS with a client certificate signed by the CA is accepted (mosquitto_pub --cert/--key)', async () => {
    const topic = utopic('cert');
    const sub = await clients.connect({ protocolVersion: 4 });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic);
    const p = await mosquittoPub(target(), topic, 'with-cert', { transport: 'tls', cert: true });
    expect(p.code, p.stderr).toBe(0);
    await inbox.waitFor(1);
  });

  it('TLS: the server presents a certificate for 127.0.0.1 that verifies against the test CA', async () => {
    const t = target();
    const ca = (await import('node:fs')).readFileSync(t.ca);
    const cert = await new Promise<{ authorized: boolean; san: string | undefined }>((resolve, reject) => {
      const s = tlsConnect({ host: t.tls.host, port: t.tls.port, ca }, () => {
        resolve({ authorized: s.authorized, san: s.getPeerCertificate().subjectaltname });
        s.destroy();
      });
      s.on('error', reject);
    });
    expect(cert.authorized).toBe(true);
    expect(cert.san).toContain('IP Address:127.0.0.1');
  });

  it('[MQTT-6.0.0-3] WebSocket: the server selects the "mqtt" subprotocol on /mqtt', async () => {
    const ws = new WebSocket(target().ws, ['mqtt']);
    const protocol = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => resolve(ws.protocol));
      ws.on('error', reject);
    });
    ws.close();
    expect(protocol).toBe('mqtt');
  });

  it('[MQTT-6.0.0-2] WebSocket: an MQTT packet split over several WebSocket frames is reassembled', async () => {
    // CONNECT (v4, clean, keepalive 60, client id "wsfrag") sent in 3 binary frames.
    const id = Buffer.from('wsfrag');
    const body = Buffer.concat([
      Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, id.length]),
      id,
    ]);
    const connect = Buffer.concat([Buffer.from([0x10, body.length]), body]);
    const ws = new WebSocket(target().ws, ['mqtt']);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    const got = new Promise<Buffer>((resolve) => ws.once('message', (d: Buffer) => resolve(d)));
    ws.send(connect.subarray(0, 3));
    ws.send(connect.subarray(3, 9));
    ws.send(connect.subarray(9));
    const connack = await got;
    ws.close();
    expect([...connack]).toEqual([0x20, 0x02, 0x00, 0x00]);
  });
});
