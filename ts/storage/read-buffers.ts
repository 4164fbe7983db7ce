/**
 * Reusable read buffers for Kafka Fetch (kafka.fetch_read_buffers_max of
 * kafka.fetch_read_buffer_bytes each).
 *
 * Why: a fetch used to get a fresh 1 MiB Buffer from the native read. V8
 * counts each as external memory and starts a major GC every ~64 MiB of it,
 * and the allocation itself zeroes and page-faults 1 MiB: while a consumer
 * read from the page cache, ~40% of the broker's CPU went to marking and
 * sweeping. A lent buffer is filled in place on a libuv worker
 * (`Shard.read`'s `into`) and comes back once the socket has taken the
 * answer that points into it; nothing is allocated per fetch.
 *
 * Bounded: at most `max` buffers exist; they are made on first use and kept
 * (so up to max × bytes stay resident after a busy moment). When all are
 * lent out, or a read would need more than one buffer holds, the read
 * allocates its own Buffer as before (counted as a miss): slower, never
 * refused.
 */
export interface ReadBufferMetrics {
  /** A read that could not use a pooled buffer (all lent, or too small for the read). */
  miss(): void;
}

export class ReadBuffers {
  /** Bytes of each buffer: the most one pooled read returns. */
  readonly bytes: number;
  readonly #max: number;
  readonly #free: Buffer[] = [];
  readonly #metrics: ReadBufferMetrics | undefined;
  /**
   * Lent out now: a buffer given back twice would otherwise be lent to two
   * readers at once. An array (at most `max`, a short scan), not a Set: the
   * pool lives as long as its listener, in the old generation, where a Set's
   * add and delete on every fetch reallocated its hash table as garbage.
   */
  readonly #out: Buffer[] = [];
  #made = 0;

  constructor(limits: { bytes: number; max: number }, metrics?: ReadBufferMetrics) {
    this.bytes = limits.bytes;
    this.#max = limits.max;
    this.#metrics = metrics;
  }

  /** A buffer for a read of up to `maxBytes`, or undefined (the read allocates its own). */
  take(maxBytes: number): Buffer | undefined {
    if (maxBytes > this.bytes) {
      this.#metrics?.miss();
      return undefined;
    }
    let b = this.#free.pop();
    if (!b && this.#made < this.#max) {
      // allocUnsafeSlow: its own ArrayBuffer, not a slice of Node's shared pool.
      b = Buffer.allocUnsafeSlow(this.bytes);
      this.#made++;
    }
    if (!b) {
      this.#metrics?.miss();
      return undefined;
    }
    this.#out.push(b);
    return b;
  }

  /**
   * A buffer for work that may wait (Fetch read-ahead), only while more
   * than half the pool is free, so it never takes the last buffers from a
   * read that a client waits for; not counted as a miss when refused.
   */
  takeSpare(maxBytes: number): Buffer | undefined {
    if (maxBytes > this.bytes || this.#out.length >= this.#max / 2) return undefined;
    return this.take(maxBytes);
  }

  /** Return a buffer from `take`; nothing may read or write it afterwards. A second return is ignored. */
  give(b: Buffer): void {
    const i = this.#out.indexOf(b);
    if (i < 0) return;
    // Order does not matter: the last one fills the hole.
    const last = this.#out.pop() as Buffer;
    if (i < this.#out.length) this.#out[i] = last;
    this.#free.push(b);
  }

  /** Buffers lent out now. */
  get lent(): number {
    return this.#out.length;
  }

  /** Buffers made so far (at most `max`). */
  get made(): number {
    return this.#made;
  }
}
