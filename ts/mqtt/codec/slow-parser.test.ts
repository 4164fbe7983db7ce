import mqtt, { type IConnectPacket, type ISubscribePacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { parseFrame } from './slow-parser.ts';

const connect5 = mqtt.generate({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 5,
  clean: true,
  clientId: 'c5',
  keepalive: 30,
  properties: { sessionExpiryInterval: 60 },
});
const connect4 = mqtt.generate({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  clientId: 'c4',
  keepalive: 30,
});
const subscribe5 = mqtt.generate(
  {
    cmd: 'subscribe',
    messageId: 3,
    subscriptions: [{ topic: 'a/+', qos: 1 }],
    properties: { subscriptionIdentifier: 9 },
  },
  { protocolVersion: 5 },
);

describe('parseFrame (shared mqtt-packet parsers)', () => {
  it('parses CONNECT before the version is known, then packets of that version', () => {
    const c = parseFrame(connect5, 0) as IConnectPacket;
    expect(c.cmd).toBe('connect');
    expect(c.protocolVersion).toBe(5);
    expect(c.properties?.sessionExpiryInterval).toBe(60);
    const s = parseFrame(subscribe5, 5) as ISubscribePacket;
    expect(s.subscriptions).toEqual([{ topic: 'a/+', qos: 1, nl: false, rap: false, rh: 0 }]);
    expect(s.properties?.subscriptionIdentifier).toBe(9);
  });

  it('carries nothing from one CONNECT (another connection) to the next', () => {
    parseFrame(connect5, 0);
    const c = parseFrame(connect4, 0) as IConnectPacket;
    expect(c.protocolVersion).toBe(4);
    expect(c.clientId).toBe('c4');
  });

  it('a bad frame is an error and leaves the parser clean for the next frame', () => {
    const bad = Buffer.from(subscribe5);
    bad[0] = 0x80; // SUBSCRIBE with reserved flags 0000 [MQTT-3.8.1-1]
    expect(parseFrame(bad, 5)).toBeInstanceOf(Error);
    const truncated = Buffer.concat([subscribe5.subarray(0, 1), Buffer.from([3]), subscribe5.subarray(2, 5)]);
    expect(parseFrame(truncated, 5)).toBeInstanceOf(Error);
    expect((parseFrame(subscribe5, 5) as ISubscribePacket).messageId).toBe(3);
  });

  it('[MQTT-1.5.4-1] a client id that is not UTF-8 is refused (strict-utf8 stays in force)', () => {
    const c = Buffer.from(connect4);
    const at = c.indexOf(Buffer.from('c4'));
    c[at] = 0xff;
    expect(parseFrame(c, 0)).toBeInstanceOf(Error);
  });
});
