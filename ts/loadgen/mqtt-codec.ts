/**
 * The load generator's MQTT wire code (3.1.1 and 5.0). CONNECT, SUBSCRIBE
 * and CONNACK / SUBACK are done by mqtt-packet (rare, so their cost does not
 * matter); the hot path (PUBLISH out, PUBLISH / PUBACK / PUBREC / PUBREL /
 * PUBCOMP in and out) is hand-rolled on a preallocated template per topic so
 * the generator spends its CPU on little but syscalls. The tests check the
 * hand-made bytes against mqtt-packet.
 *
 * Payload: when it has room (12 bytes or more) it starts with MAGIC and the
 * send time as a float64 (µs on CLOCK_MONOTONIC, which every
 * thread and process of one machine shares, so a subscriber in another
 * `ferrymq bench` process can still compute the latency); the rest is filler.
 */
import type { Socket } from 'node:net';
import * as mqttPacket from 'mqtt-packet';

export const STAMP_BYTES = 12;
/** The stamp's first 4 bytes as a little-endian uint32 (on the wire: "FQMB"). */
const MAGIC = 0x424d5146;
const M0 = MAGIC & 0xff;
const M1 = (MAGIC >>> 8) & 0xff;
const M2 = (MAGIC >>> 16) & 0xff;
const M3 = MAGIC >>> 24;

/** µs on CLOCK_MONOTONIC, shared by every thread and process of the machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A PUBLISH for one topic, QoS and payload size, rewritten in place for each message. */
export class PublishTemplate {
  readonly bytes: Buffer;
  /** Offset of the packet id (QoS > 0), -1 for QoS 0. */
  readonly idOffset: number;
  readonly payloadOffset: number;
  readonly stamped: boolean;

  constructor(topic: string, qos: 0 | 1 | 2, payloadBytes: number, version: 4 | 5) {
    const t = Buffer.from(topic);
    const body = 2 + t.length + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + payloadBytes;
    const header = [0x30 | (qos << 1), ...remainingLength(body)];
    this.bytes = Buffer.alloc(header.length + body, 0x61);
    let o = 0;
    for (const b of header) this.bytes[o++] = b;
    this.bytes.writeUInt16BE(t.length, o);
    o += 2;
    t.copy(this.bytes, o);
    o += t.length;
    this.idOffset = qos > 0 ? o : -1;
    if (qos > 0) o += 2;
    if (version === 5) this.bytes[o++] = 0; // no properties
    this.payloadOffset = o;
    this.stamped = payloadBytes >= STAMP_BYTES;
    if (this.stamped) this.bytes.writeUInt32LE(MAGIC, o);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Copy the packet into `into` at `at` with the given send time and packet id. */
  writeInto(into: Buffer, at: number, sentUs: number, packetId: number): void {
    this.bytes.copy(into, at);
    if (this.idOffset >= 0) into.writeUInt16BE(packetId, at + this.idOffset);
    if (this.stamped) into.writeDoubleLE(sentUs, at + this.payloadOffset + 4);
  }
}

/** A 4-byte acknowledgement (PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70); valid in 3.1.1 and 5.0. */
export function writeAck(first: number, packetId: number, into: Buffer, at: number): void {
  into[at] = first;
  into[at + 1] = 2;
  into.writeUInt16BE(packetId, at + 2);
}

export const PUBACK = 0x40;
export const PUBREC = 0x50;
export const PUBREL = 0x62;
export const PUBCOMP = 0x70;

export interface FrameHandlers {
  /** A PUBLISH: QoS, packet id (0 for QoS 0), send time from the payload (NaN if not stamped). */
  publish(qos: number, packetId: number, sentUs: number): void;
  /** PUBACK / PUBREC / PUBREL / PUBCOMP: type, packet id, reason code (0 when absent). */
  ack(type: number, packetId: number, reason: number): void;
  /** Any other packet: the whole packet. */
  other(type: number, packet: Buffer): void;
  /** A malformed frame: the connection should be dropped. */
  malformed(why: string): void;
}

/** MAGIC at `at`, compared byte by byte: a third of readUInt32LE's cost per packet. */
function isStamp(buf: Buffer, at: number): boolean {
  return buf[at] === M0 && buf[at + 1] === M1 && buf[at + 2] === M2 && buf[at + 3] === M3;
}

/**
 * The variable byte integer at `at` (a remaining or property length),
 * packed as `value * 4 + (its bytes - 1)` so the per-packet path allocates
 * nothing; -1 when `end` comes first, -2 when it runs past 4 bytes.
 */
function varint(buf: Buffer, at: number, end: number): number {
  let v = 0;
  let mul = 1;
  for (let i = at; i < at + 4; i++) {
    if (i >= end) return -1;
    const b = buf[i] as number;
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return v * 4 + (i - at);
    mul *= 128;
  }
  return -2;
}

/**
 * Incremental MQTT frame reader: whole packets out of arbitrary chunks;
 * copies only when a packet straddles two chunks. Bounded: a packet longer
 * than `maxPacketBytes` is reported malformed instead of buffered.
 */
export class FrameReader {
  #rest: Buffer | undefined;
  readonly #h: FrameHandlers;
  readonly #v5: boolean;
  readonly #max: number;

  constructor(h: FrameHandlers, version: 4 | 5, maxPacketBytes = 268_435_460) {
    this.#h = h;
    this.#v5 = version === 5;
    this.#max = maxPacketBytes;
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
      if (n - i < 2) break;
      const b0 = buf[i] as number;
      const v = varint(buf, i + 1, n);
      if (v < 0) {
        if (v === -2) {
          this.#h.malformed('remaining length over 4 bytes');
          return;
        }
        break;
      }
      const len = v >> 2;
      const j = i + 2 + (v & 3);
      if (len + (j - i) > this.#max) {
        this.#h.malformed(`packet of ${len} bytes`);
        return;
      }
      if (j + len > n) break;
      const type = b0 >> 4;
      if (type === 3) this.#publish(buf, b0, j, j + len);
      else if (type >= 4 && type <= 7 && len >= 2) {
        this.#h.ack(type, buf.readUInt16BE(j), len >= 3 ? (buf[j + 2] as number) : 0);
      } else this.#h.other(type, buf.subarray(i, j + len));
      i = j + len;
    }
    if (i < n) this.#rest = Buffer.from(buf.subarray(i));
  }

  #publish(buf: Buffer, b0: number, start: number, end: number): void {
    const qos = (b0 >> 1) & 3;
    if (end - start < 2) {
      this.#h.malformed('PUBLISH too short');
      return;
    }
    let p = start + 2 + buf.readUInt16BE(start);
    let id = 0;
    if (qos > 0) {
      if (p + 2 > end) {
        this.#h.malformed('PUBLISH without packet id');
        return;
      }
      id = buf.readUInt16BE(p);
      p += 2;
    }
    if (this.#v5) {
      const v = varint(buf, p, end);
      if (v < 0) {
        this.#h.malformed('bad property length');
        return;
      }
      p += 1 + (v & 3) + (v >> 2);
    }
    const sent = end - p >= STAMP_BYTES && isStamp(buf, p) ? buf.readDoubleLE(p + 4) : Number.NaN;
    this.#h.publish(qos, id, sent);
  }
}

export interface ConnectOptions {
  clientId: string;
  version: 4 | 5;
  keepaliveS: number;
  username?: string | undefined;
  password?: string | undefined;
}

export function connectPacket(o: ConnectOptions): Buffer {
  const p: mqttPacket.IConnectPacket = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: o.version,
    clean: true,
    clientId: o.clientId,
    keepalive: o.keepaliveS,
  };
  if (o.username !== undefined) p.username = o.username;
  if (o.password !== undefined) p.password = Buffer.from(o.password);
  return mqttPacket.generate(p);
}

export function subscribePacket(filter: string, qos: 0 | 1 | 2, version: 4 | 5, messageId = 1): Buffer {
  const p: mqttPacket.ISubscribePacket = {
    cmd: 'subscribe',
    messageId,
    subscriptions: [{ topic: filter, qos }],
  };
  if (version === 5) p.properties = {};
  return mqttPacket.generate(p, { protocolVersion: version });
}

export interface Connack {
  /** 0 = accepted (3.1.1 return code / 5.0 reason code). */
  code: number;
  /** The broker's Receive Maximum (5.0), else undefined. */
  receiveMaximum?: number | undefined;
}

/** Decode a whole CONNACK or SUBACK packet with mqtt-packet (rare packets). */
export function decodeControl(packet: Buffer, version: 4 | 5): mqttPacket.Packet | undefined {
  let got: mqttPacket.Packet | undefined;
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', (p: mqttPacket.Packet) => {
    got = p;
  });
  parser.on('error', () => {});
  parser.parse(packet);
  return got;
}

export function readConnack(packet: Buffer, version: 4 | 5): Connack | undefined {
  const p = decodeControl(packet, version);
  if (p?.cmd !== 'connack') return undefined;
  const code = version === 5 ? (p.reasonCode ?? 0) : (p.returnCode ?? 0);
  return { code, receiveMaximum: p.properties?.receiveMaximum };
}

/** The granted QoS of a one-filter SUBACK, or a failure code (>= 0x80). */
export function readSuback(packet: Buffer, version: 4 | 5): number {
  const p = decodeControl(packet, version);
  if (p?.cmd !== 'suback') return 0x80;
  const g = p.granted[0];
  return typeof g === 'number' ? g : 0x80;
}

export const PINGREQ = Buffer.from([0xc0, 0]);
export const DISCONNECT = Buffer.from([0xe0, 0]);

/** Ends the connection with a DISCONNECT and waits for the close; a socket not closed within `graceMs` is destroyed. */
export function disconnect(s: Socket, graceMs = 2_000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (s.destroyed) return resolve();
    const t = setTimeout(() => {
      s.destroy();
      resolve();
    }, graceMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.end(DISCONNECT);
  });
}
