/**
 * Deadlines of every connection on one timer: the keep alive
 * ([MQTT-3.1.2-22]: no packet within 1.5 × Keep Alive closes the
 * connection) and, before that, the CONNECT timeout. A connection only
 * records the tick of its last packet (a plain field, once per chunk read);
 * it owns no Timeout and refreshes none per packet: the CPU profile showed
 * Timeout.refresh (libuv's clock) at ~5% of the broker under load, and each
 * Timeout cost memory per idle connection. The wheel visits a connection
 * when its deadline may have passed and, if a packet came since, files it
 * again under the new deadline.
 *
 * Time is counted in whole ticks since the wheel was made, not in epoch
 * milliseconds: tick numbers stay small integers (V8 Smis) for years, where
 * an epoch-ms field is a boxed double, 16 more bytes per connection. A
 * deadline is never early: the last packet's tick is rounded down, so the
 * deadline is one tick later than the exact one; the client is closed
 * between its deadline and three ticks after it (rounding, and the timer
 * running out of phase with the slots).
 */

export interface KeepaliveClient {
  /** The wheel's tick (KeepaliveWheel.now) of the last packet received, or of the start of the wait. */
  readonly lastPacketTick: number;
  /** The allowed silence in ticks, rounded up (KeepaliveWheel.ticks). */
  readonly keepaliveTicks: number;
  /** The wheel's bookkeeping: the slot the client is filed under, -1 for none. */
  keepaliveSlot: number;
  keepaliveExpired(): void;
}

export class KeepaliveWheel {
  readonly #tickMs: number;
  readonly #epochMs: number;
  readonly #slots = new Map<number, Set<KeepaliveClient>>();
  #timer: NodeJS.Timeout | undefined;
  /** The next slot to visit. */
  #next = 0;

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
    this.#epochMs = Date.now();
  }

  /** The current tick: whole ticks since the wheel was made. */
  now(): number {
    return Math.floor((Date.now() - this.#epochMs) / this.#tickMs);
  }

  /** A duration in ms as ticks, rounded up (a deadline is never early). */
  ticks(ms: number): number {
    return Math.ceil(ms / this.#tickMs);
  }

  /** Clients being watched (for tests). */
  get size(): number {
    let n = 0;
    for (const s of this.#slots.values()) n += s.size;
    return n;
  }

  add(c: KeepaliveClient): void {
    if (!this.#timer) {
      this.#next = this.now();
      this.#timer = setInterval(() => this.#tick(), this.#tickMs);
      this.#timer.unref();
    }
    this.#file(c, c.lastPacketTick + c.keepaliveTicks + 1);
  }

  remove(c: KeepaliveClient): void {
    const at = c.keepaliveSlot;
    c.keepaliveSlot = -1;
    const slot = this.#slots.get(at);
    if (!slot) return;
    slot.delete(c);
    if (slot.size === 0) this.#slots.delete(at);
  }

  #file(c: KeepaliveClient, deadline: number): void {
    const at = Math.max(deadline, this.#next);
    let slot = this.#slots.get(at);
    if (!slot) {
      slot = new Set();
      this.#slots.set(at, slot);
    }
    slot.add(c);
    c.keepaliveSlot = at;
  }

  #tick(): void {
    const now = this.now();
    for (; this.#next <= now; this.#next++) {
      const slot = this.#slots.get(this.#next);
      if (!slot) continue;
      this.#slots.delete(this.#next);
      for (const c of slot) {
        const deadline = c.lastPacketTick + c.keepaliveTicks + 1;
        if (deadline <= now) {
          c.keepaliveSlot = -1;
          c.keepaliveExpired();
        } else {
          // deadline > now, so this files it under a later slot than the one being visited.
          this.#file(c, deadline);
        }
      }
    }
    if (this.#slots.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
