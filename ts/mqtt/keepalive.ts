/**
 * Keep-alive deadlines of every connection on one timer ([MQTT-3.1.2-22]:
 * no packet within 1.5 × Keep Alive closes the connection). A connection
 * only records when its last packet came (a plain field, once per chunk
 * read); it owns no Timeout and refreshes none per packet: the CPU profile
 * showed Timeout.refresh (libuv's clock) at ~5% of the broker under load,
 * and each Timeout cost memory per idle connection. The wheel visits a
 * connection when its deadline may have passed and, if a packet came
 * since, files it again under the new deadline. A connection is closed
 * between its deadline and two ticks after it (the timer runs out of phase
 * with the slots).
 */

export interface KeepaliveClient {
  /** Date.now() of the last packet received. */
  readonly lastPacketMs: number;
  /** The allowed silence (1.5 × Keep Alive), ms. */
  readonly keepaliveMs: number;
  /** The wheel's bookkeeping: the slot the client is filed under, -1 for none. */
  keepaliveSlot: number;
  keepaliveExpired(): void;
}

export class KeepaliveWheel {
  readonly #tickMs: number;
  readonly #slots = new Map<number, Set<KeepaliveClient>>();
  #timer: NodeJS.Timeout | undefined;
  /** The next slot to visit. */
  #next = 0;

  constructor(tickMs: number) {
    this.#tickMs = tickMs;
  }

  /** Clients being watched (for tests). */
  get size(): number {
    let n = 0;
    for (const s of this.#slots.values()) n += s.size;
    return n;
  }

  add(c: KeepaliveClient): void {
    if (!this.#timer) {
      this.#next = Math.floor(Date.now() / this.#tickMs);
      this.#timer = setInterval(() => this.#tick(), this.#tickMs);
      this.#timer.unref();
    }
    this.#file(c, c.lastPacketMs + c.keepaliveMs);
  }

  remove(c: KeepaliveClient): void {
    const at = c.keepaliveSlot;
    c.keepaliveSlot = -1;
    const slot = this.#slots.get(at);
    if (!slot) return;
    slot.delete(c);
    if (slot.size === 0) this.#slots.delete(at);
  }

  #file(c: KeepaliveClient, deadlineMs: number): void {
    const at = Math.max(Math.ceil(deadlineMs / this.#tickMs), this.#next);
    let slot = this.#slots.get(at);
    if (!slot) {
      slot = new Set();
      this.#slots.set(at, slot);
    }
    slot.add(c);
    c.keepaliveSlot = at;
  }

  #tick(): void {
    const now = Date.now();
    const last = Math.floor(now / this.#tickMs);
    for (; this.#next <= last; this.#next++) {
      const slot = this.#slots.get(this.#next);
      if (!slot) continue;
      this.#slots.delete(this.#next);
      for (const c of slot) {
        const deadline = c.lastPacketMs + c.keepaliveMs;
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
