import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type KeepaliveClient, KeepaliveWheel } from './keepalive.ts';

type TestClient = KeepaliveClient & { expired: number; lastPacketTick: number };

/** A client whose last packet is now and whose allowed silence is `ms`. */
function client(w: KeepaliveWheel, ms: number): TestClient {
  return {
    lastPacketTick: w.now(),
    keepaliveTicks: w.ticks(ms),
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

  it('expires a silent client between its deadline and three ticks after, never before', () => {
    const w = new KeepaliveWheel(250);
    const c = client(w, 1500);
    w.add(c);
    vi.advanceTimersByTime(1500);
    expect(c.expired).toBe(0);
    vi.advanceTimersByTime(750);
    expect(c.expired).toBe(1);
    expect(c.keepaliveSlot).toBe(-1);
    expect(w.size).toBe(0);
  });

  it('is not early when the last packet came late in a tick and the period is not a whole number of ticks', () => {
    const w = new KeepaliveWheel(250);
    vi.advanceTimersByTime(249); // 1 ms before the next tick
    const c = client(w, 1400); // 5.6 ticks, filed as 6
    w.add(c);
    vi.advanceTimersByTime(1400);
    expect(c.expired).toBe(0);
    vi.advanceTimersByTime(750);
    expect(c.expired).toBe(1);
  });

  it('a packet moves the deadline; the client is refiled, not expired', () => {
    const w = new KeepaliveWheel(250);
    const c = client(w, 1500);
    w.add(c);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(1000);
      c.lastPacketTick = w.now();
    }
    expect(c.expired).toBe(0);
    expect(w.size).toBe(1);
    vi.advanceTimersByTime(1500);
    expect(c.expired).toBe(0);
    vi.advanceTimersByTime(750);
    expect(c.expired).toBe(1);
  });

  it('a removed client is never expired; clients of different periods are independent', () => {
    const w = new KeepaliveWheel(250);
    const a = client(w, 1500);
    const b = client(w, 3000);
    const gone = client(w, 1500);
    w.add(a);
    w.add(b);
    w.add(gone);
    w.remove(gone);
    expect(gone.keepaliveSlot).toBe(-1);
    vi.advanceTimersByTime(2250);
    expect([a.expired, b.expired, gone.expired]).toEqual([1, 0, 0]);
    vi.advanceTimersByTime(1500);
    expect([a.expired, b.expired, gone.expired]).toEqual([1, 1, 0]);
    expect(w.size).toBe(0);
  });

  it('catches up after the event loop was blocked past several ticks', () => {
    const w = new KeepaliveWheel(250);
    const c = client(w, 500);
    w.add(c);
    vi.setSystemTime(Date.now() + 10_000);
    vi.advanceTimersByTime(250);
    expect(c.expired).toBe(1);
  });

  it('counts in small integers (V8 Smis), not epoch milliseconds', () => {
    const w = new KeepaliveWheel(100);
    vi.advanceTimersByTime(12_345);
    expect(w.now()).toBe(123);
    expect(w.ticks(90_000)).toBe(900);
    expect(w.ticks(1)).toBe(1);
  });
});
