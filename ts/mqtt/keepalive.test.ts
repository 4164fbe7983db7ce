import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type KeepaliveClient, KeepaliveWheel } from './keepalive.ts';

function client(keepaliveMs: number): KeepaliveClient & { expired: number; lastPacketMs: number } {
  return {
    lastPacketMs: Date.now(),
    keepaliveMs,
    keepaliveSlot: -1,
    expired: 0,
    keepaliveExpired() {
      this.expired++;
    },
  };
}

describe('KeepaliveWheel [MQTT-3.1.2-22]', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires a silent client between its deadline and one tick after, not before', () => {
    const w = new KeepaliveWheel(250);
    const c = client(1500);
    w.add(c);
    vi.advanceTimersByTime(1499);
    expect(c.expired).toBe(0);
    vi.advanceTimersByTime(251);
    expect(c.expired).toBe(1);
    expect(c.keepaliveSlot).toBe(-1);
    expect(w.size).toBe(0);
  });

  it('a packet moves the deadline; the client is refiled, not expired', () => {
    const w = new KeepaliveWheel(250);
    const c = client(1500);
    w.add(c);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(1000);
      c.lastPacketMs = Date.now();
    }
    expect(c.expired).toBe(0);
    expect(w.size).toBe(1);
    vi.advanceTimersByTime(1750);
    expect(c.expired).toBe(1);
  });

  it('a removed client is never expired; clients of different periods are independent', () => {
    const w = new KeepaliveWheel(250);
    const a = client(1500);
    const b = client(3000);
    const gone = client(1500);
    w.add(a);
    w.add(b);
    w.add(gone);
    w.remove(gone);
    expect(gone.keepaliveSlot).toBe(-1);
    vi.advanceTimersByTime(1750);
    expect([a.expired, b.expired, gone.expired]).toEqual([1, 0, 0]);
    vi.advanceTimersByTime(1500);
    expect([a.expired, b.expired, gone.expired]).toEqual([1, 1, 0]);
    expect(w.size).toBe(0);
  });

  it('catches up after the event loop was blocked past several ticks', () => {
    const w = new KeepaliveWheel(250);
    const c = client(500);
    w.add(c);
    vi.setSystemTime(Date.now() + 10_000);
    vi.advanceTimersByTime(250);
    expect(c.expired).toBe(1);
  });
});
