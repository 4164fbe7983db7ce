import { connect, createServer, type Server, type Socket } from 'node:net';
import * as mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import {
  DISCONNECT,
  disconnect,
  FrameReader,
  PUBACK,
  PUBREL,
  PublishTemplate,
  writeAck,
} from './mqtt-codec.ts';

function parse(b: Buffer, version: 4 | 5): mqttPacket.Packet[] {
  const out: mqttPacket.Packet[] = [];
  const p = mqttPacket.parser({ protocolVersion: version });
  p.on('packet', (x: mqttPacket.Packet) => out.push(x));
  p.on('error', (e: Error) => {
    throw e;
  });
  p.parse(b);
  return out;
}

/** A reader that records each PUBLISH as [qos, packet id, stamp] and throws on a malformed frame. */
function publishReader(version: 4 | 5): { reader: FrameReader; seen: number[][] } {
  const seen: number[][] = [];
  const reader = new FrameReader(
    {
      publish: (q, id, s) => seen.push([q, id, s]),
      ack: () => {},
      other: () => {},
      malformed: (why) => {
        throw new Error(why);
      },
    },
    version,
  );
  return { reader, seen };
}

describe('load generator MQTT codec', () => {
  for (const version of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      it(`PUBLISH template decodes with mqtt-packet (v${version}, QoS ${qos}) and reads back with the stamp`, () => {
        const t = new PublishTemplate('bench/x/12', qos, 200, version);
        const b = Buffer.alloc(t.length);
        t.writeInto(b, 0, 1234.5, 777);
        const [got] = parse(b, version) as mqttPacket.IPublishPacket[];
        expect(got?.topic).toBe('bench/x/12');
        expect(got?.qos).toBe(qos);
        if (qos > 0) expect(got?.messageId).toBe(777);
        expect(got?.payload.length).toBe(200);
        // Split the generated packet in every place: the reader must reassemble it.
        const again = mqttPacket.generate(got as mqttPacket.Packet, { protocolVersion: version });
        for (let cut = 1; cut < again.length; cut += 37) {
          const { reader, seen } = publishReader(version);
          reader.push(again.subarray(0, cut));
          reader.push(again.subarray(cut));
          expect(seen).toEqual([[qos, qos ? 777 : 0, 1234.5]]);
        }
      });
    }
  }

  it('a payload too small for the stamp gives no latency', () => {
    const t = new PublishTemplate('t', 0, 4, 4);
    const b = Buffer.alloc(t.length);
    t.writeInto(b, 0, 99, 0);
    const { reader, seen } = publishReader(4);
    reader.push(b);
    expect(seen).toEqual([[0, 0, Number.NaN]]);
  });

  it('reads the stamp after v5 properties of one- and two-byte lengths', () => {
    const t = new PublishTemplate('t', 1, 64, 5);
    const b = Buffer.alloc(t.length);
    t.writeInto(b, 0, 4321.25, 9);
    const [plain] = parse(b, 5) as mqttPacket.IPublishPacket[];
    for (const value of ['x', 'y'.repeat(300)]) {
      const withProps = mqttPacket.generate(
        { ...(plain as mqttPacket.IPublishPacket), properties: { userProperties: { k: value } } },
        { protocolVersion: 5 },
      );
      const { reader, seen } = publishReader(5);
      reader.push(withProps);
      expect(seen).toEqual([[1, 9, 4321.25]]);
    }
  });

  it('a payload without the stamp gives no latency, whatever its size', () => {
    const b = mqttPacket.generate({
      cmd: 'publish',
      topic: 't',
      qos: 0,
      dup: false,
      retain: false,
      payload: Buffer.alloc(64, 0x61),
    });
    const { reader, seen } = publishReader(4);
    reader.push(b);
    expect(seen).toEqual([[0, 0, Number.NaN]]);
  });

  it('reports a remaining length over 4 bytes as malformed, and waits for one cut short', () => {
    const whys: string[] = [];
    const r = new FrameReader(
      { publish: () => {}, ack: () => {}, other: () => {}, malformed: (w) => whys.push(w) },
      4,
    );
    r.push(Buffer.from([0x30, 0xff, 0xff, 0xff]));
    expect(whys).toEqual([]);
    r.push(Buffer.from([0xff, 0x01]));
    expect(whys).toEqual(['remaining length over 4 bytes']);
  });

  it('acks match mqtt-packet', () => {
    const a = Buffer.alloc(8);
    writeAck(PUBACK, 513, a, 0);
    writeAck(PUBREL, 9, a, 4);
    expect(a.subarray(0, 4).equals(mqttPacket.generate({ cmd: 'puback', messageId: 513 }))).toBe(true);
    expect(a.subarray(4).equals(mqttPacket.generate({ cmd: 'pubrel', messageId: 9 }))).toBe(true);
  });

  it('reports an oversized remaining length as malformed instead of buffering it', () => {
    let why = '';
    new FrameReader(
      { publish: () => {}, ack: () => {}, other: () => {}, malformed: (w) => (why = w) },
      4,
      1024,
    ).push(Buffer.from([0x30, 0xff, 0xff, 0x7f]));
    expect(why).toContain('packet of');
  });

  describe('disconnect', () => {
    /** A server that records what each connection sent and closes it (or not) when the client ends. */
    async function server(closeOnEnd: boolean): Promise<{ srv: Server; port: number; got: Promise<Buffer> }> {
      let done: (b: Buffer) => void = () => {};
      const got = new Promise<Buffer>((r) => (done = r));
      // Half-open allowed: otherwise node answers the client's end with its own and closes at once.
      const srv = createServer({ allowHalfOpen: true }, (c) => {
        const parts: Buffer[] = [];
        c.on('data', (d: Buffer) => parts.push(d));
        c.on('end', () => {
          done(Buffer.concat(parts));
          if (closeOnEnd) c.end();
        });
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      return { srv, port: (srv.address() as { port: number }).port, got };
    }
    function open(port: number): Promise<Socket> {
      return new Promise((resolve, reject) => {
        const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
        s.once('error', reject);
      });
    }

    it('sends DISCONNECT and resolves when the peer closes', async () => {
      const { srv, port, got } = await server(true);
      const s = await open(port);
      await disconnect(s, 5_000);
      expect((await got).equals(DISCONNECT)).toBe(true);
      expect(s.destroyed).toBe(true);
      srv.close();
    });

    it('destroys a socket the peer keeps open after the grace period', async () => {
      const { srv, port, got } = await server(false);
      const s = await open(port);
      const t0 = performance.now();
      await disconnect(s, 100);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
      expect(s.destroyed).toBe(true);
      expect((await got).equals(DISCONNECT)).toBe(true);
      srv.close();
    });
  });
});
