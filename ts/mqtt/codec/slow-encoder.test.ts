import mqtt from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { encodeSlow } from './slow-encoder.ts';

describe('encodeSlow', () => {
  it('encodes with mqtt-packet and never builds its 65,536-Buffer number cache', () => {
    const suback = encodeSlow({ cmd: 'suback', messageId: 0x1234, granted: [1, 0x80] }, 4);
    expect([...suback]).toEqual([0x90, 4, 0x12, 0x34, 1, 0x80]);
    const unsuback = encodeSlow({ cmd: 'unsuback', messageId: 65535, reasonCode: 0, granted: [0] }, 5);
    expect(mqtt.parser({ protocolVersion: 5 }).parse(unsuback)).toBe(0);
    // The switch is off, so writeToStream wrote the packet ids without the cache.
    expect(mqtt.writeToStream.cacheNumbers).toBe(false);
  });
});
