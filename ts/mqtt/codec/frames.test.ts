import { describe, expect, it } from 'vitest';
import { FrameReader, type FrameSink } from './frames.ts';

type Recorder = FrameSink & { frames: [number, Buffer][]; errors: string[]; stopAfter: number | undefined };

/** Records frames as [first byte, body]; copies, since views point into the chunks. */
function collect(): Recorder {
  const s: Recorder = {
    frames: [],
    errors: [],
    stopAfter: undefined,
    frame(buf, at, bodyAt, end) {
      s.frames.push([buf[at] as number, Buffer.from(buf.subarray(bodyAt, end))]);
      return s.stopAfter === undefined || s.frames.length < s.stopAfter;
    },
    frameError(reason) {
      s.errors.push(reason);
    },
  };
  return s;
}

// PINGREQ, a PUBLISH with Remaining Length 130 (two-byte varint), PINGREQ.
const publishBody = Buffer.alloc(130, 0x61);
const stream = Buffer.concat([
  Buffer.from([0xc0, 0x00]),
  Buffer.from([0x30, 0x82, 0x01]),
  publishBody,
  Buffer.from([0xc0, 0x00]),
]);
const expected: [number, Buffer][] = [
  [0xc0, Buffer.alloc(0)],
  [0x30, publishBody],
  [0xc0, Buffer.alloc(0)],
];

describe('FrameReader', () => {
  it('hands over every frame of one chunk', () => {
    const s = collect();
    new FrameReader(1024).push(stream, s);
    expect(s.frames).toEqual(expected);
    expect(s.errors).toEqual([]);
  });

  it('reassembles frames split anywhere across chunks', () => {
    // Every split point lands mid-header or mid-body at some point; one byte at a time too.
    for (let cut = 1; cut < stream.length; cut++) {
      const s = collect();
      const r = new FrameReader(1024);
      r.push(stream.subarray(0, cut), s);
      r.push(stream.subarray(cut), s);
      expect(s.frames).toEqual(expected);
      expect(r.pendingBytes).toBe(0);
    }
    const s = collect();
    const r = new FrameReader(1024);
    for (let i = 0; i < stream.length; i++) r.push(stream.subarray(i, i + 1), s);
    expect(s.frames).toEqual(expected);
  });

  it('reassembles a large frame from many chunks, holding only what arrived', () => {
    const body = Buffer.alloc(200_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const frame = Buffer.concat([Buffer.from([0x30, 0xc0, 0x9a, 0x0c]), body, Buffer.from([0xc0, 0x00])]);
    const s = collect();
    const r = new FrameReader(1_048_576);
    r.push(frame.subarray(0, 10_000), s);
    expect(r.pendingBytes).toBe(10_000);
    for (let at = 10_000; at < frame.length; at += 65_536) r.push(frame.subarray(at, at + 65_536), s);
    expect(s.frames).toEqual([
      [0x30, body],
      [0xc0, Buffer.alloc(0)],
    ]);
    expect(r.pendingBytes).toBe(0);
  });

  it('holds only the bytes of an unfinished frame', () => {
    const s = collect();
    const r = new FrameReader(1024);
    r.push(stream.subarray(0, 10), s);
    expect(s.frames).toHaveLength(1);
    expect(r.pendingBytes).toBe(8);
    r.reset();
    expect(r.pendingBytes).toBe(0);
  });

  it('stops when the sink says the connection closed', () => {
    const s = collect();
    s.stopAfter = 1;
    new FrameReader(1024).push(stream, s);
    expect(s.frames).toHaveLength(1);
  });

  it('[MQTT-3.2.2-15] refuses a frame over the maximum from its fixed header alone', () => {
    const s = collect();
    // Remaining Length 16,384 announced; no body sent yet.
    new FrameReader(100).push(Buffer.from([0x30, 0x80, 0x80, 0x01]), s);
    expect(s.errors).toEqual(['too-large']);
    expect(s.frames).toEqual([]);
  });

  it('counts the fixed header in the maximum', () => {
    const ok = collect();
    new FrameReader(4).push(Buffer.from([0xc0, 0x02, 0x00, 0x00]), ok);
    expect(ok.errors).toEqual([]);
    const over = collect();
    new FrameReader(3).push(Buffer.from([0xc0, 0x02, 0x00, 0x00]), over);
    expect(over.errors).toEqual(['too-large']);
  });

  it('§2.2.3: a Remaining Length longer than four bytes is malformed, whole or split', () => {
    const s = collect();
    new FrameReader(Number.MAX_SAFE_INTEGER).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), s);
    expect(s.errors).toEqual(['malformed']);
    const split = collect();
    const r = new FrameReader(Number.MAX_SAFE_INTEGER);
    r.push(Buffer.from([0x30, 0xff, 0xff]), split);
    expect(split.errors).toEqual([]);
    r.push(Buffer.from([0xff, 0xff, 0x01]), split);
    expect(split.errors).toEqual(['malformed']);
  });

  it('accepts a four-byte Remaining Length within the maximum (and waits for its body)', () => {
    const s = collect();
    const r = new FrameReader(3_000_000);
    r.push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x01, 0x61]), s); // 2,097,152 bytes announced
    expect(s.errors).toEqual([]);
    expect(r.pendingBytes).toBe(6);
  });
});
