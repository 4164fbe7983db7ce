import { describe, expect, it } from 'vitest';
import { ByteQueue } from './byte-queue.ts';

describe('ByteQueue', () => {
  it('cuts the same bytes out whatever the chunking, and reads a size split across chunks', () => {
    const stream = Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff));
    for (const cut of [1, 2, 3, 5, 64, 200]) {
      const q = new ByteQueue();
      for (let at = 0; at < stream.length; at += cut) q.push(stream.subarray(at, at + cut));
      expect(q.length).toBe(200);
      expect(q.peekInt32()).toBe(stream.readInt32BE(0));
      const parts = [q.take(4), q.take(1), q.take(90), q.take(105)];
      expect(Buffer.concat(parts).equals(stream)).toBe(true);
      expect(q.length).toBe(0);
    }
  });

  it('reads a negative size as negative', () => {
    const q = new ByteQueue();
    q.push(Buffer.from([0xff, 0xff]));
    q.push(Buffer.from([0xff, 0xfe]));
    expect(q.peekInt32()).toBe(-2);
  });
});
