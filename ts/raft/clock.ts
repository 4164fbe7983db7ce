/**
 * Time and randomness, injected (STYLE principle 8). A Raft node never reads
 * a clock: it advances only when its driver calls `tick()`. The driver turns
 * wall time into ticks with a `Ticker` over a `Clock`; the simulator drives
 * ticks directly from virtual time. Election timeouts are drawn from an
 * injected `Random`, so a seed reproduces a whole run.
 */

export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => performance.now() };

/** A clock moved by hand, for tests and the simulator. */
export class ManualClock implements Clock {
  #nowMs: number;
  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }
  nowMs(): number {
    return this.#nowMs;
  }
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('ManualClock cannot go backwards');
    this.#nowMs += ms;
  }
}

/**
 * Converts elapsed clock time into whole ticks. A driver calls `due()` from
 * its own timer and calls `node.tick()` that many times, so a stalled event
 * loop catches up instead of losing time. `dueMax` bounds the catch-up.
 */
export class Ticker {
  readonly #clock: Clock;
  readonly #tickMs: number;
  readonly #dueMax: number;
  #lastMs: number;
  constructor(clock: Clock, tickMs: number, dueMax = 10) {
    if (!(tickMs > 0)) throw new RangeError('tickMs must be > 0');
    this.#clock = clock;
    this.#tickMs = tickMs;
    this.#dueMax = dueMax;
    this.#lastMs = clock.nowMs();
  }
  due(): number {
    const now = this.#clock.nowMs();
    const n = Math.floor((now - this.#lastMs) / this.#tickMs);
    if (n <= 0) return 0;
    this.#lastMs += n * this.#tickMs;
    return Math.min(n, this.#dueMax);
  }
}

export interface Random {
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform float in [0, 1). */
  next(): number;
}

/** mulberry32: small, fast, good enough for scheduling; deterministic by seed. */
export class SeededRandom implements Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }
}
