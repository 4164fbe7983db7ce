/**
 * A subscriber that stops reading: `mqtt.outbound_bytes_max` bounds what
 * the broker holds for it, QoS 0 messages past it are dropped and counted
 * (`ferrymq_mqtt_dropped_messages_total{reason="outbound-full"}`), the
 * broker stops reading that client until its socket drains, and every
 * other client is served meanwhile. Runs with plain TCP sockets written
 * straight to their handles (`mqtt.tcp_direct_writes`, the default) and
 * through Node's stream.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import * as mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, spawnBroker } from '../helpers/broker.ts';

const MESSAGES = 2_000;
const PAYLOAD_BYTES = 16 * 1024;

/** A raw MQTT 3.1.1 client: every packet it received, in order. */
class Raw {
  readonly packets: mqttPacket.Packet[] = [];
  readonly socket: Socket;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      this.packets.push(p);
      this.#wake?.();
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => {});
  }

  static async open(port: number, clientId: string): Promise<Raw> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const raw = new Raw(socket);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });
    await raw.next('connack');
    return raw;
  }

  send(p: Record<string, unknown>): void {
    this.socket.write(mqttPacket.generate(p as unknown as mqttPacket.Packet));
  }

  /** The first received packet of kind `cmd` not yet taken (waits up to 10 s). */
  async next(cmd: string): Promise<mqttPacket.Packet> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.packets.splice(i, 1)[0] as mqttPacket.Packet;
      if (Date.now() > deadline) throw new Error(`no ${cmd} within 10 s`);
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 50);
      });
    }
  }
}

async function droppedOutboundFull(b: BrokerProcess): Promise<number> {
  const text = await (await fetch(`${b.adminUrl()}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) => l.startsWith('ferrymq_mqtt_dropped_messages_total{') && l.includes('reason="outbound-full"'),
    );
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

for (const direct of [true, false]) {
  describe(`a subscriber that stops reading (mqtt.tcp_direct_writes = ${direct})`, () => {
    let broker: BrokerProcess;
    let port: number;

    beforeAll(async () => {
      broker = await spawnBroker({
        env: {
          FERRYMQ_MQTT__OUTBOUND_BYTES_MAX: String(256 * 1024),
          FERRYMQ_MQTT__TCP_DIRECT_WRITES: String(direct),
        },
      });
      await broker.ready;
      const a = broker.listeners().mqtt as string;
      port = Number(a.slice(a.lastIndexOf(':') + 1));
    });

    afterAll(async () => {
      broker.signal('SIGKILL');
      await broker.exited;
    });

    it('is sent what fits (QoS 0 is at most once, §4.3.1), loses QoS 0 messages past outbound_bytes_max, and is read again once drained', async () => {
      const slow = await Raw.open(port, `slow-${direct}`);
      slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/t', qos: 0 }] });
      await slow.next('suback');
      slow.socket.pause();

      const pub = await Raw.open(port, `pub-${direct}`);
      for (let i = 0; i < MESSAGES; i++) {
        const payload = Buffer.alloc(PAYLOAD_BYTES, i & 0xff);
        payload.writeUInt32BE(i, 0);
        pub.send({ cmd: 'publish', topic: 'slow/t', payload, qos: 0, retain: false, dup: false });
      }
      // A PUBACK after the last QoS 0 PUBLISH: the broker has routed all of them.
      pub.send({
        cmd: 'publish',
        topic: 'done',
        payload: Buffer.from('x'),
        qos: 1,
        messageId: 7,
        retain: false,
        dup: false,
      });
      await pub.next('puback');
      expect(await droppedOutboundFull(broker)).toBeGreaterThan(0);

      // Everyone else is served while the slow one is stuck.
      const other = await Raw.open(port, `other-${direct}`);
      other.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fast/t', qos: 1 }] });
      await other.next('suback');
      pub.send({
        cmd: 'publish',
        topic: 'fast/t',
        payload: Buffer.from('hi'),
        qos: 1,
        messageId: 8,
        retain: false,
        dup: false,
      });
      expect(((await other.next('publish')) as mqttPacket.IPublishPacket).payload.toString()).toBe('hi');

      // Read again: what arrives is whole and in order, and some of it was lost.
      slow.socket.resume();
      let quiet = 0;
      let seen = slow.packets.length;
      while (quiet < 10) {
        await new Promise((r) => setTimeout(r, 50));
        quiet = slow.packets.length === seen ? quiet + 1 : 0;
        seen = slow.packets.length;
      }
      const got = slow.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(MESSAGES);
      let last = -1;
      for (const p of got) {
        const payload = p.payload as Buffer;
        const i = payload.readUInt32BE(0);
        expect(i).toBeGreaterThan(last);
        last = i;
        expect(payload.length).toBe(PAYLOAD_BYTES);
        expect(payload.subarray(4).every((b) => b === (i & 0xff))).toBe(true);
      }
      slow.packets.length = 0;

      // The broker reads this client again (a PINGREQ is answered) and still delivers to it.
      slow.send({ cmd: 'pingreq' });
      await slow.next('pingresp');
      pub.send({
        cmd: 'publish',
        topic: 'slow/t',
        payload: Buffer.from('after'),
        qos: 0,
        retain: false,
        dup: false,
      });
      expect(((await slow.next('publish')) as mqttPacket.IPublishPacket).payload.toString()).toBe('after');
      for (const c of [slow, pub, other]) c.socket.destroy();
    });

    it('did not fall back to stream writes', () => {
      expect(broker.stderr() + JSON.stringify(broker.logs)).not.toContain('cannot write sockets directly');
    });
  });
}
