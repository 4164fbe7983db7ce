/**
 * Retained messages in the KV store, namespace `mqtt.retained`, key = topic.
 * Value: `expiresAtMs f64 BE (NaN = none) | an MQTT 5 PUBLISH packet` — the
 * protocol's own encoding carries topic, payload, QoS and properties.
 * Writes are asynchronous (RocksDB WAL, not fsynced): a retained message
 * survives a broker restart or kill; a PUBACK does not wait for it.
 */
import mqtt, { type IPublishPacket, type Packet } from 'mqtt-packet';
import type { Logger } from '../log.ts';
import type { Kv } from '../storage/kv.ts';
import { encodeSlow } from './codec/slow-encoder.ts';
import type { Message } from './message.ts';
import type { RetainedPersistence, RetainedStore } from './retained.ts';

const NS = 'mqtt.retained';
const PAGE = 1000;

export function encodeRetained(m: Message): Buffer {
  const packet: IPublishPacket = {
    cmd: 'publish',
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: true,
    dup: false,
    properties: { ...m.properties },
  };
  // The encoding needs a packet id for QoS > 0; it carries no meaning here.
  if (m.qos > 0) packet.messageId = 1;
  const body = encodeSlow(packet, 5);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeDoubleBE(m.expiresAtMs ?? Number.NaN, 0);
  body.copy(out, 8);
  return out;
}

export function decodeRetained(value: Buffer): Message | undefined {
  if (value.length < 9) return undefined;
  const expiresAtMs = value.readDoubleBE(0);
  let packet: IPublishPacket | undefined;
  const parser = mqtt.parser({ protocolVersion: 5 });
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'publish') packet = p;
  });
  parser.on('error', () => {});
  parser.parse(value.subarray(8));
  if (!packet) return undefined;
  const m: Message = {
    topic: packet.topic,
    payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
    qos: packet.qos,
    retain: true,
    properties: { ...(packet.properties ?? {}) },
  };
  if (!Number.isNaN(expiresAtMs)) m.expiresAtMs = expiresAtMs;
  return m;
}

export function retainedPersistence(kv: Kv, logger: Logger): RetainedPersistence {
  const report = (err: unknown): void => logger.error({ err }, 'retained message not persisted');
  return {
    save: (m) => void kv.put(NS, m.topic, encodeRetained(m)).catch(report),
    remove: (topic) => void kv.delete(NS, topic).catch(report),
  };
}

export async function loadRetained(kv: Kv, store: RetainedStore): Promise<void> {
  let after: Buffer | undefined;
  for (;;) {
    const page = await kv.scan(
      NS,
      '',
      after === undefined ? { limit: PAGE } : { limit: PAGE, startAfter: after },
    );
    for (const e of page) {
      const m = decodeRetained(e.value);
      if (m) store.load(m);
    }
    if (page.length < PAGE) return;
    after = page.at(-1)?.key;
  }
}
