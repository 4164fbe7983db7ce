/**
 * The load generator's MQTT 3.1.1 wire code. CONNECT / SUBSCRIBE /
 * DISCONNECT are encoded by mqtt-packet (rare, so its cost does not matter);
 * the hot path (PUBLISH out, PUBLISH / PUBACK in, PUBACK out) is hand-rolled
 * on preallocated templates so the generator spends its CPU on little but
 * syscalls. `selfTest()` checks the hand-made bytes against mqtt-packet.
 *
 * Payload layout (PAYLOAD_BYTES = 64): bytes 0..8 the send time as a float64
 * (µs on the process-wide monotonic clock, so any thread of the generator
 * can compute the latency), the rest filler.
 */
import * as mqttPacket from 'mqtt-packet';

export const PAYLOAD_BYTES = 64;

export { nowUs } from '../../ts/loadgen/mqtt-codec.ts';

function remainingLengthBytes(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A PUBLISH for one topic and QoS, rewritten in place for each message. */
export class PublishTemplate {
  readonly bytes: Buffer;
  /** Offset of the packet id (QoS 1), -1 for QoS 0. */
  readonly idOffset: number;
  readonly payloadOffset: number;

  constructor(topic: string, qos: 0 | 1) {
    const t = Buffer.from(topic);
    const body = 2 + t.length + (qos > 0 ? 2 : 0) + PAYLOAD_BYTES;
    const header = [0x30 | (qos << 1), ...remainingLengthBytes(body)];
    this.bytes = Buffer.alloc(header.length + body, 0x61);
    let o = 0;
    for (const b of header) this.bytes[o++] = b;
    this.bytes.writeUInt16BE(t.length, o);
    o += 2;
    t.copy(this.bytes, o);
    o += t.length;
    this.idOffset = qos > 0 ? o : -1;
    if (qos > 0) o += 2;
    this.payloadOffset = o;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Copy the packet into `into` at `at` with the given send time and packet id. */
  writeInto(into: Buffer, at: number, sentUs: number, packetId: number): void {
    this.bytes.copy(into, at);
    if (this.idOffset >= 0) into.writeUInt16BE(packetId, at + this.idOffset);
    into.writeDoubleLE(sentUs, at + this.payloadOffset);
  }
}

export function puback(packetId: number, into: Buffer, at: number): void {
  into[at] = 0x40;
  into[at + 1] = 2;
  into.writeUInt16BE(packetId, at + 2);
}

export interface Handlers {
  /** A PUBLISH: its QoS, packet id (0 for QoS 0) and the send time from the payload. */
  publish(qos: number, packetId: number, sentUs: number): void;
  /** Any other packet: type (high nibble of byte 0) and the body. */
  other(type: number, body: Buffer): void;
}

/**
 * Incremental MQTT frame reader: whole packets out of arbitrary chunks.
 * Copies only when a packet straddles two chunks.
 */
export class FrameReader {
  #rest: Buffer | undefined;
  readonly #h: Handlers;

  constructor(h: Handlers) {
    this.#h = h;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#rest) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    const n = buf.length;
    let i = 0;
    while (i < n) {
      const start = i;
      if (n - i < 2) break;
      const b0 = buf[i] as number;
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      while (j < n && j < i + 5) {
        const b = buf[j++] as number;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || j + len > n) {
        i = start;
        break;
      }
      const type = b0 >> 4;
      if (type === 3) {
        const qos = (b0 >> 1) & 3;
        const topicLen = buf.readUInt16BE(j);
        let p = j + 2 + topicLen;
        let id = 0;
        if (qos > 0) {
          id = buf.readUInt16BE(p);
          p += 2;
        }
        const sent = j + len - p >= 8 ? buf.readDoubleLE(p) : Number.NaN;
        this.#h.publish(qos, id, sent);
      } else {
        this.#h.other(type, buf.subarray(j, j + len));
      }
      i = j + len;
    }
    if (i < n) this.#rest = Buffer.from(buf.subarray(i));
  }
}

export function connectPacket(clientId: string, keepalive = 60): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive,
  });
}

export function subscribePacket(topic: string, qos: 0 | 1, messageId = 1): Buffer {
  return mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] });
}

export const DISCONNECT = Buffer.from([0xe0, 0]);

/** The hand-made PUBLISH and PUBACK must decode with mqtt-packet to what was meant. */
export function selfTest(): void {
  for (const qos of [0, 1] as const) {
    const t = new PublishTemplate('bench/x/12', qos);
    const b = Buffer.alloc(t.length);
    t.writeInto(b, 0, 1234.5, 777);
    const p = mqttPacket.parser({ protocolVersion: 4 });
    let got: mqttPacket.IPublishPacket | undefined;
    p.on('packet', (pk: mqttPacket.Packet) => {
      got = pk as mqttPacket.IPublishPacket;
    });
    p.parse(b);
    const payload = got?.payload as Buffer | undefined;
    if (!got) throw new Error(`codec self-test: no packet for QoS ${qos}`);
    if (
      got.topic !== 'bench/x/12' ||
      got.qos !== qos ||
      (qos === 1 && got.messageId !== 777) ||
      payload?.length !== PAYLOAD_BYTES ||
      payload.readDoubleLE(0) !== 1234.5
    ) {
      throw new Error(`codec self-test failed for QoS ${qos}: ${JSON.stringify(got)}`);
    }
    let seen: [number, number, number] | undefined;
    new FrameReader({
      publish: (q, id, s) => {
        seen = [q, id, s];
      },
      other: () => {},
    }).push(mqttPacket.generate(got));
    if (!seen || seen[0] !== qos || seen[1] !== (qos ? 777 : 0) || seen[2] !== 1234.5) {
      throw new Error(`frame reader self-test failed for QoS ${qos}: ${seen}`);
    }
  }
  const a = Buffer.alloc(4);
  puback(513, a, 0);
  if (!a.equals(mqttPacket.generate({ cmd: 'puback', messageId: 513 }))) throw new Error('puback self-test');
}
