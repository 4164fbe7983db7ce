/**
 * The hot-packet codec against mqtt-packet, the reference it replaces on the
 * message path: seeded random packets encoded by one and decoded by the
 * other, both ways, for 3.1, 3.1.1 and 5.0; then the bad inputs each get
 * the reaction the spec asks for.
 */
import mqtt, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Reason } from '../reason-codes.ts';
import { decodeHot, type HotPacket, MqttDecodeError } from './decode.ts';
import { type AckCmd, encodeAck, encodePublish, PINGRESP, type PublishProperties } from './encode.ts';

const VERSIONS = [3, 4, 5] as const;
const CASES = 300;

/** mulberry32: a small seeded PRNG, so a failure names a reproducible case. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gen(seed: number) {
  const r = prng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const bool = (): boolean => r() < 0.5;
  // ASCII, two-, three- and four-byte UTF-8 (no surrogates, no U+0000).
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0xa0, 0x7ff],
    [0x800, 0xd7ff],
    [0xe000, 0xfffd],
    [0x10000, 0x10ffff],
  ];
  const str = (max: number, min = 0): string => {
    let s = '';
    const n = min + int(max - min + 1);
    for (let i = 0; i < n; i++) {
      const [lo, hi] = r() < 0.7 ? (ranges[0] as [number, number]) : pick(ranges);
      s += String.fromCodePoint(lo + int(hi - lo + 1));
    }
    return s;
  };
  const bytes = (max: number): Buffer => Buffer.from(Array.from({ length: int(max + 1) }, () => int(256)));
  return { int, pick, bool, str, bytes };
}

type Gen = ReturnType<typeof gen>;

function randomProperties(g: Gen, fromServer: boolean): PublishProperties | undefined {
  if (g.int(4) === 0) return undefined;
  const p: PublishProperties = {};
  if (g.bool()) p.payloadFormatIndicator = g.bool();
  if (g.bool()) p.messageExpiryInterval = g.int(0xffffffff);
  if (g.bool()) p.contentType = g.str(20);
  if (g.bool()) p.responseTopic = `r/${g.str(10)}`;
  if (g.bool()) p.correlationData = g.bytes(20);
  if (g.bool()) p.topicAlias = 1 + g.int(0xfffe);
  if (fromServer && g.bool()) {
    const ids = Array.from({ length: 1 + g.int(3) }, () => 1 + g.int(268_435_455));
    p.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
  }
  if (g.bool()) {
    const u: { [key: string]: string | string[] } = {};
    const names = Array.from({ length: 1 + g.int(3) }, () => g.str(6));
    for (const name of names) {
      // Non-empty: mqtt-packet's parser folds a repeated name into an array only when the
      // value before is truthy (an empty value is overwritten), so it cannot be the reference there.
      const values = Array.from({ length: 1 + g.int(2) }, () => g.str(8, 1));
      u[name] = values.length === 1 ? (values[0] as string) : values;
    }
    p.userProperties = u;
  }
  return Object.keys(p).length > 0 ? p : undefined;
}

function randomPublish(g: Gen, version: number, fromServer: boolean): IPublishPacket {
  const qos = g.int(3) as 0 | 1 | 2;
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: g.str(30),
    payload: g.bytes(g.int(4) === 0 ? 3000 : 100),
    qos,
    retain: g.bool(),
    dup: qos > 0 && g.bool(),
  };
  if (qos > 0) packet.messageId = 1 + g.int(65535);
  if (version === 5) {
    const props = randomProperties(g, fromServer);
    if (props) packet.properties = props;
  }
  return packet;
}

/** Parse with mqtt-packet, as a peer of protocol level `version`. */
function referenceParse(buf: Buffer, version: number): Packet {
  const parser = mqtt.parser({ protocolVersion: version as 3 | 4 | 5 });
  const out: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', (e: Error) => errors.push(e));
  parser.parse(buf);
  expect(errors).toEqual([]);
  expect(out).toHaveLength(1);
  return out[0] as Packet;
}

function decodeFrame(buf: Buffer, version: number): HotPacket | MqttDecodeError {
  let i = 1;
  while ((buf[i] as number) & 0x80) i++;
  return decodeHot(buf[0] as number, buf, i + 1, buf.length, version);
}

/** The fields the handlers read, in mqtt-packet's representation. */
function essence(p: Packet): object {
  const x = p as IPublishPacket & { reasonCode?: number };
  if (p.cmd === 'publish') {
    return {
      cmd: x.cmd,
      topic: x.topic,
      payload: Buffer.from(x.payload as Buffer),
      qos: x.qos,
      retain: x.retain,
      dup: x.dup,
      messageId: x.qos > 0 ? x.messageId : undefined,
      properties: x.properties ? { ...x.properties } : undefined,
    };
  }
  return { cmd: x.cmd, messageId: x.messageId, reasonCode: x.reasonCode, properties: x.properties };
}

function toFields(p: IPublishPacket) {
  return {
    topic: p.topic,
    payload: p.payload as Buffer,
    qos: p.qos,
    retain: p.retain,
    dup: p.dup,
    packetId: p.messageId,
    properties: p.properties as PublishProperties | undefined,
  };
}

describe('PUBLISH round trips against mqtt-packet (seeded)', () => {
  for (const version of VERSIONS) {
    it(`v${version}: mqtt-packet encodes, decodeHot decodes the same packet`, () => {
      for (let seed = 1; seed <= CASES; seed++) {
        const packet = randomPublish(gen(seed * 31 + version), version, false);
        const bytes = mqtt.generate(packet, { protocolVersion: version as 3 | 4 | 5 });
        const ours = decodeFrame(bytes, version);
        expect(ours, `seed ${seed}`).not.toBeInstanceOf(Error);
        expect(essence(ours as Packet), `seed ${seed}`).toEqual(essence(referenceParse(bytes, version)));
        expect((ours as IPublishPacket).length).toBe(referenceParse(bytes, version).length);
      }
    });

    it(`v${version}: encodePublish encodes, mqtt-packet decodes the same packet`, () => {
      for (let seed = 1; seed <= CASES; seed++) {
        const packet = randomPublish(gen(seed * 17 + version), version, true);
        const bytes = encodePublish(toFields(packet), version);
        const parsed = referenceParse(bytes, version);
        expect(essence(parsed), `seed ${seed}`).toEqual(essence(packet));
        if (version !== 5 || !packet.properties?.subscriptionIdentifier) {
          // A PUBLISH without subscription ids also reads back through our decoder.
          expect(essence(decodeFrame(bytes, version) as Packet), `seed ${seed}`).toEqual(essence(packet));
        }
      }
    });
  }

  it('v5: a PUBLISH without properties has Property Length 0, and mqtt-packet writes the same bytes', () => {
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: 'a/b',
      payload: Buffer.from('hi'),
      qos: 1,
      retain: false,
      dup: false,
      messageId: 7,
    };
    for (const version of VERSIONS) {
      expect(encodePublish(toFields(packet), version)).toEqual(
        mqtt.generate(packet, { protocolVersion: version }),
      );
    }
  });
});

describe('acknowledgements against mqtt-packet', () => {
  const cmds: AckCmd[] = ['puback', 'pubrec', 'pubrel', 'pubcomp'];
  const codes: Record<AckCmd, number[]> = {
    puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
    pubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
    pubrel: [0x00, 0x92],
    pubcomp: [0x00, 0x92],
  };
  for (const version of VERSIONS) {
    it(`v${version}: both ways, every reason code`, () => {
      const g = gen(version);
      for (const cmd of cmds) {
        for (const reasonCode of codes[cmd]) {
          const messageId = 1 + g.int(65535);
          const packet = { cmd, messageId, reasonCode } as Packet;
          const ref = mqtt.generate(packet, { protocolVersion: version });
          const ours = encodeAck(cmd, messageId, reasonCode, version);
          if (version === 5 && reasonCode !== 0) {
            // mqtt-packet adds a Property Length 0; a Remaining Length of 3 leaves it out (§3.4.2.2).
            expect(ours).toEqual(Buffer.concat([ref.subarray(0, 1), Buffer.from([3]), ref.subarray(2, 5)]));
          } else {
            expect(ours).toEqual(ref);
          }
          expect(essence(referenceParse(ours, version))).toEqual(essence(referenceParse(ref, version)));
          const want = version === 5 ? { cmd, messageId, reasonCode } : { cmd, messageId };
          expect(essence(decodeFrame(ref, version) as Packet)).toEqual(essence(referenceParse(ref, version)));
          expect(essence(decodeFrame(ours, version) as Packet)).toEqual({ ...want, properties: undefined });
        }
      }
    });
  }

  it('v5: reason string and user properties are decoded', () => {
    const packet = {
      cmd: 'puback',
      messageId: 9,
      reasonCode: 0x80,
      properties: { reasonString: 'nope ✓', userProperties: { a: ['1', '2'], b: '3' } },
    } as Packet;
    const bytes = mqtt.generate(packet, { protocolVersion: 5 });
    expect(essence(decodeFrame(bytes, 5) as Packet)).toEqual(essence(referenceParse(bytes, 5)));
  });

  it('PINGREQ decodes; PINGRESP is what mqtt-packet writes', () => {
    expect(decodeFrame(Buffer.from([0xc0, 0x00]), 4)).toEqual({ cmd: 'pingreq' });
    expect(PINGRESP).toEqual(mqtt.generate({ cmd: 'pingresp' }));
  });
});

function expectError(bytes: number[] | Buffer, version: number, reasonCode: number = Reason.MalformedPacket) {
  const out = decodeFrame(Buffer.from(bytes), version);
  expect(out).toBeInstanceOf(MqttDecodeError);
  expect((out as MqttDecodeError).reasonCode).toBe(reasonCode);
}

describe('bad input', () => {
  it('[MQTT-3.3.1-4] PUBLISH with both QoS bits set', () => {
    expectError([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01], 4);
  });

  it('[MQTT-2.2.2-2] reserved flags of PUBACK, PUBREC, PUBCOMP (0000), PUBREL (0010), PINGREQ', () => {
    expectError([0x41, 0x02, 0x00, 0x01], 4);
    expectError([0x58, 0x02, 0x00, 0x01], 5);
    expectError([0x72, 0x02, 0x00, 0x01], 4);
    expectError([0x60, 0x02, 0x00, 0x01], 4);
    expectError([0xc1, 0x00], 4);
  });

  it('Remaining Length that does not fit the packet type', () => {
    expectError([0x40, 0x01, 0x00], 4); // packet id cut
    expectError([0x40, 0x03, 0x00, 0x01, 0x00], 4); // 3.1.1 PUBACK is 2 bytes
    expectError([0xc0, 0x01, 0x00], 4); // PINGREQ has no body
    expectError([0x30, 0x01, 0x00], 4); // topic length cut
    expectError([0x30, 0x04, 0x00, 0x05, 0x61, 0x62], 4); // topic longer than the packet
    expectError([0x32, 0x04, 0x00, 0x01, 0x61, 0x00], 4); // QoS 1 without a whole packet id
  });

  it('[MQTT-2.2.1-3] packet identifier 0 in an acknowledgement', () => {
    expectError([0x40, 0x02, 0x00, 0x00], 4);
    expectError([0x62, 0x02, 0x00, 0x00], 5);
  });

  it('[MQTT-1.5.4-1] a topic or property string that is not well-formed UTF-8', () => {
    expectError([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x78], 4);
    expectError([0x30, 0x05, 0x00, 0x02, 0xed, 0xa0, 0x80], 4); // UTF-16 surrogate
    // 5.0 content type 0xff.
    expectError([0x30, 0x09, 0x00, 0x01, 0x61, 0x04, 0x03, 0x00, 0x01, 0xff, 0x78], 5);
  });

  it('5.0: unknown property, property id 0, properties past the packet, truncated Property Length', () => {
    expectError([0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x7f, 0x00], 5);
    expectError([0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x00, 0x00], 5);
    expectError([0x30, 0x06, 0x00, 0x01, 0x61, 0x09, 0x01, 0x01], 5);
    expectError([0x30, 0x04, 0x00, 0x01, 0x61, 0x80], 5);
    // A property valid elsewhere (Session Expiry Interval) is not valid in PUBLISH.
    expectError([0x30, 0x0a, 0x00, 0x01, 0x61, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01], 5);
  });

  it('5.0: a property included twice is a Protocol Error; user properties may repeat, empty values kept', () => {
    expectError(
      [0x30, 0x0b, 0x00, 0x01, 0x61, 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02],
      5,
      Reason.ProtocolError,
    );
    expectError([0x30, 0x09, 0x00, 0x01, 0x61, 0x04, 0x01, 0x00, 0x01, 0x01], 5, Reason.ProtocolError);
    const twice = mqtt.generate(
      {
        cmd: 'publish',
        topic: 'a',
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
        properties: { userProperties: { k: ['', '2'] } },
      },
      { protocolVersion: 5 },
    );
    expect((decodeFrame(twice, 5) as IPublishPacket).properties?.userProperties).toEqual({ k: ['', '2'] });
  });

  it('[MQTT-3.3.4-6] 5.0: a Subscription Identifier in a PUBLISH from a client is a Protocol Error', () => {
    expectError([0x30, 0x07, 0x00, 0x01, 0x61, 0x02, 0x0b, 0x01, 0x78], 5, Reason.ProtocolError);
  });

  it('5.0: an acknowledgement reason code not allowed for its packet', () => {
    expectError([0x40, 0x03, 0x00, 0x01, 0x92], 5);
    expectError([0x70, 0x03, 0x00, 0x01, 0x10], 5);
    expectError([0x40, 0x05, 0x00, 0x01, 0x00, 0x01, 0x26], 5); // property length past the end
  });

  it('random bytes never throw: a packet or a MqttDecodeError', () => {
    const g = gen(4242);
    for (let i = 0; i < 5000; i++) {
      const type = g.pick([3, 4, 5, 6, 7, 12]);
      const body = g.bytes(40);
      const first = (type << 4) | g.int(16);
      const frame = Buffer.concat([Buffer.from([first, body.length]), body]);
      for (const version of VERSIONS) {
        const out = decodeHot(first, frame, 2, frame.length, version);
        if (out instanceof Error) expect(out).toBeInstanceOf(MqttDecodeError);
        else expect(out.cmd).toBeTypeOf('string');
      }
    }
  });
});

describe('topic cache', () => {
  it('reuses the topic string for the same bytes and decodes a different topic anew', () => {
    const cache = { bytes: undefined as Buffer | undefined, topic: '' };
    const frame = (topic: string): Buffer =>
      mqtt.generate({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    const decode = (b: Buffer) => decodeHot(b[0] as number, b, 2, b.length, 4, cache) as IPublishPacket;
    expect(decode(frame('a/b')).topic).toBe('a/b');
    expect(cache.topic).toBe('a/b');
    expect(decode(frame('a/b')).payload).toEqual(Buffer.from('x'));
    expect(decode(frame('a/c')).topic).toBe('a/c');
    expect(decode(frame('a/cd')).topic).toBe('a/cd');
    expect(decode(frame('ä/b')).topic).toBe('ä/b');
    // A cut topic is still malformed with a cache.
    const cut = Buffer.from([0x30, 0x02, 0x00, 0x04]);
    expect(decodeHot(0x30, cut, 2, cut.length, 4, cache)).toBeInstanceOf(MqttDecodeError);
  });
});
