import { describe, expect, it } from 'vitest';
import { FrameGuard } from './frame-guard.ts';
import { topicMatches } from './topic-match.ts';

describe('FrameGuard', () => {
  it('follows frames split anywhere across chunks', () => {
    const g = new FrameGuard(1024);
    // PINGREQ, then a PUBLISH with remaining length 130 (two-byte varint), then PINGREQ.
    const publish = Buffer.concat([Buffer.from([0x30, 0x82, 0x01]), Buffer.alloc(130, 0x61)]);
    const stream = Buffer.concat([Buffer.from([0xc0, 0x00]), publish, Buffer.from([0xc0, 0x00])]);
    for (let i = 0; i < stream.length; i++) {
      // Feed it one byte at a time: every boundary lands mid-header or mid-body at some point.
      expect(g.check(stream.subarray(i, i + 1))).toEqual({ ok: true });
    }
  });

  it('[MQTT-3.2.2-15] refuses a frame over the maximum from its fixed header alone', () => {
    const g = new FrameGuard(100);
    // Remaining length 16,384 announced; no body sent yet.
    expect(g.check(Buffer.from([0x30, 0x80, 0x80, 0x01]))).toEqual({
      ok: false,
      reason: 'too-large',
      size: 16_388,
    });
  });

  it('§2.2.3: a remaining length longer than four bytes is malformed', () => {
    const g = new FrameGuard(Number.MAX_SAFE_INTEGER);
    expect(g.check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('accepts the largest four-byte remaining length when allowed', () => {
    const g = new FrameGuard(Number.MAX_SAFE_INTEGER);
    expect(g.check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))).toEqual({ ok: true });
  });
});

describe('topicMatches (§4.7)', () => {
  it.each([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/#', 'sport', true],
    ['#', 'a/b/c', true],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['a/b', 'a/b/c', false],
    ['#', '$SYS/uptime', false],
    ['+/uptime', '$SYS/uptime', false],
    ['$SYS/#', '$SYS/uptime', true],
  ])('%s vs %s → %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});
