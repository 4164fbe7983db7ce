/**
 * Authentication through the `mqtt.auth_module` hook: user name and
 * password (3.1.1 §3.1.3.4–5, CONNACK 0x04 / 5.0 0x86) and MQTT 5 enhanced
 * authentication (§4.12: AUTH 0x18 exchange, re-authentication 0x19).
 * FerryMQ only: the hook is FerryMQ's plug-in interface.
 */
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { MOSQUITTO, uid, useTarget } from '../helpers/mqtt-target.ts';

const hookPath = fileURLToPath(new URL('../fixtures/auth-hook.mjs', import.meta.url));
const hmac = (nonce: Buffer) => createHmac('sha256', 'test-secret').update(nonce).digest();

describe.skipIf(MOSQUITTO)('authentication hook', () => {
  const { target, clients } = useTarget({ ferrymqEnv: { FERRYMQ_MQTT__AUTH_MODULE: hookPath } });

  it('[MQTT-3.1.3-?] 3.1.1: the right user name and password connect; a wrong one gets CONNACK 0x04', async () => {
    const ok = await clients.connect({ protocolVersion: 4, username: 'alice', password: 'wonderland' });
    expect(ok.connected).toBe(true);
    const raw = await clients.raw(4);
    const connack = await raw.connect({ username: 'alice', password: Buffer.from('wrong') });
    expect(connack).toMatchObject({ cmd: 'connack', returnCode: 4 });
    await raw.whenClosed;
  });

  it('5.0: a wrong password gets CONNACK 0x86 and the connection is closed', async () => {
    const raw = await clients.raw(5);
    const connack = await raw.connect({ username: 'mallory', password: Buffer.from('x') });
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0x86 });
    await raw.whenClosed;
  });

  it('packets pipelined behind CONNECT wait for a slow hook and are then processed in order', async () => {
    const raw = await clients.raw(4);
    const topic = `auth/pipelined/${uid()}`;
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: uid(),
      keepalive: 60,
      username: 'slow',
    });
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    raw.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('after-auth'),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: false,
    });
    expect(await raw.expect('connack')).toMatchObject({ returnCode: 0 });
    expect(await raw.expect('suback')).toMatchObject({ messageId: 1 });
    expect(await raw.expect('puback')).toMatchObject({ messageId: 2 });
    const pub = await raw.expect('publish');
    expect(String(pub.payload)).toBe('after-auth');
  });

  it('a hook that throws refuses with 0x80, and the broker keeps serving', async () => {
    const raw = await clients.raw(5);
    expect(await raw.connect({ username: 'broken' })).toMatchObject({ reasonCode: 0x80 });
    const ok = await clients.connect({ protocolVersion: 5 });
    expect(ok.connected).toBe(true);
  });

  it('[MQTT-4.12.0-?] 5.0 enhanced auth: challenge/response over AUTH 0x18, CONNACK carries the method and data', async () => {
    const t = target();
    const client = mqtt.connect(`mqtt://${t.tcp.host}:${t.tcp.port}`, {
      protocolVersion: 5,
      clientId: uid(),
      reconnectPeriod: 0,
      properties: { authenticationMethod: 'FERRY-HMAC' },
    });
    client.handleAuth = (packet, callback) => {
      const nonce = packet.properties?.authenticationData as Buffer;
      callback(undefined, {
        cmd: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: 'FERRY-HMAC', authenticationData: hmac(nonce) },
      });
    };
    const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    expect(connack.properties?.authenticationMethod).toBe('FERRY-HMAC');
    expect(String(connack.properties?.authenticationData)).toBe('welcome');
    await client.endAsync();
  });

  it('5.0 enhanced auth: a wrong response gets CONNACK 0x87', async () => {
    const raw = await clients.raw(5);
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      clientId: uid(),
      keepalive: 60,
      properties: { authenticationMethod: 'FERRY-HMAC' },
    });
    const challenge = await raw.expect('auth');
    expect(challenge).toMatchObject({ reasonCode: 0x18 });
    raw.send({
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'FERRY-HMAC', authenticationData: Buffer.from('not the hmac') },
    });
    expect(await raw.expect('connack')).toMatchObject({ reasonCode: 0x87 });
  });

  it('5.0: an unknown authentication method gets CONNACK 0x8C', async () => {
    const raw = await clients.raw(5);
    expect(await raw.connect({ properties: { authenticationMethod: 'SCRAM-SHA-1' } })).toMatchObject({
      reasonCode: 0x8c,
    });
  });

  it('[MQTT-4.12.1-?] 5.0 re-authentication (AUTH 0x19) runs the exchange again and ends with AUTH 0x00', async () => {
    const raw = await clients.raw(5);
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      clientId: uid(),
      keepalive: 60,
      properties: { authenticationMethod: 'FERRY-HMAC' },
    });
    const answer = async (): Promise<void> => {
      const c = await raw.expect('auth');
      raw.send({
        cmd: 'auth',
        reasonCode: 0x18,
        properties: {
          authenticationMethod: 'FERRY-HMAC',
          authenticationData: hmac((c as IAuthPacket).properties?.authenticationData as Buffer),
        },
      });
    };
    await answer();
    expect(await raw.expect('connack')).toMatchObject({ reasonCode: 0 });
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'FERRY-HMAC' } });
    await answer();
    expect(await raw.expect('auth')).toMatchObject({ reasonCode: 0 });
    // An AUTH with another method is a protocol error: DISCONNECT 0x82.
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'OTHER' } });
    expect(await raw.expect('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });
});
