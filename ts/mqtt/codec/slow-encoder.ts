/**
 * mqtt-packet's encoder for the packets outside the message path (CONNACK
 * of 5.0, SUBACK, DISCONNECT, AUTH..., and retained messages as stored).
 *
 * mqtt-packet's first encode builds a cache of all 65,536 two-byte
 * numbers as separate Buffers: 6.8 MB of JS heap for good, 65,536 objects
 * that every major GC marks again (a heap snapshot of a broker under load
 * had 65,769 Buffers, nearly all of them this cache). Its documented
 * switch `writeToStream.cacheNumbers = false` makes it write numbers
 * as they come; only these rare packets pay for it.
 */
import mqtt, { type Packet } from 'mqtt-packet';

mqtt.writeToStream.cacheNumbers = false;

export function encodeSlow(packet: Packet, protocolVersion: 3 | 4 | 5): Buffer {
  return mqtt.generate(packet, { protocolVersion });
}
