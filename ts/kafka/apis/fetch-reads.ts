/**
 * How Fetch reads: the listener's pool of reusable read buffers
 * (storage/read-buffers.ts) with its metrics, and read-ahead.
 *
 * Read-ahead, per connection: once an answer for a partition is made,
 * the range after it is read (into a lent buffer, on a libuv worker) while
 * the client works through that answer, so the client's next Fetch of that
 * offset is answered without waiting for the disk read and its CRC pass.
 * The Java consumer keeps one fetch in flight per broker, so the time a read
 * takes is time it waits; read ahead, it overlaps with the client's own work.
 *
 * Kept exact: a read-ahead serves only a fetch of exactly its shard (the
 * Shard object: a recreated shard is another), offset and byte limit, and
 * only if the shard was not truncated since it started (bytes at an offset
 * never change otherwise; retention and DeleteRecords only move the start,
 * which the fetch checks first, as always). Anything else reads the log.
 *
 * Bounded: at most one read-ahead per partition per connection, only with
 * more than half of the pool's buffers free (a read-ahead never takes the
 * last buffers from a real read), and a buffer not used within
 * `kafka.fetch_read_ahead_ms` goes back. The connection's close gives back
 * everything (once reads in flight have settled).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config/schema.ts';
import { ReadBuffers } from '../../storage/read-buffers.ts';
import type { ReadResult, Shard } from '../../storage/shard.ts';

/** What the listener gives every connection's fetches. */
export interface FetchReads {
  buffers: ReadBuffers;
  /** kafka.fetch_read_ahead_ms; 0: no read-ahead. */
  aheadMs: number;
  aheadMetrics?: ReadAheadMetrics;
}

/** The listener's read buffers and read-ahead settings, with their metrics (gauges read when scraped: nothing per fetch). */
export function fetchReads(config: Config, registry?: Registry): FetchReads {
  const registers = registry ? [registry] : [];
  const misses = new Counter({
    name: 'ferrymq_kafka_fetch_read_buffer_misses_total',
    help: 'Fetch reads that allocated their own buffer: all kafka.fetch_read_buffers_max lent out, or a read larger than kafka.fetch_read_buffer_bytes',
    registers,
  });
  const buffers = new ReadBuffers(
    { bytes: config.kafka.fetch_read_buffer_bytes, max: config.kafka.fetch_read_buffers_max },
    { miss: () => misses.inc() },
  );
  new Gauge({
    name: 'ferrymq_kafka_fetch_read_buffers_lent',
    help: 'Fetch read buffers lent out: read into, held by a read-ahead, or in an answer the socket has not taken yet',
    registers,
    collect() {
      this.set(buffers.lent);
    },
  });
  new Gauge({
    name: 'ferrymq_kafka_fetch_read_buffers_made',
    help: 'Fetch read buffers allocated (kept for reuse; at most kafka.fetch_read_buffers_max)',
    registers,
    collect() {
      this.set(buffers.made);
    },
  });
  const hits = new Counter({
    name: 'ferrymq_kafka_fetch_read_ahead_hits_total',
    help: 'Fetches of a partition answered from its read-ahead (kafka.fetch_read_ahead_ms)',
    registers,
  });
  const unused = new Counter({
    name: 'ferrymq_kafka_fetch_read_ahead_unused_total',
    help: 'Read-aheads given back unused: not fetched within kafka.fetch_read_ahead_ms, another offset or size fetched, truncated, or the connection closed',
    registers,
  });
  return {
    buffers,
    aheadMs: config.kafka.fetch_read_ahead_ms,
    aheadMetrics: { hit: () => hits.inc(), unused: () => unused.inc() },
  };
}

export interface ReadAheadMetrics {
  /** A fetch answered from a read-ahead. */
  hit(): void;
  /** A read-ahead given back unused (expired, stale, not the offset asked, connection closed). */
  unused(): void;
}

interface Ahead {
  offset: number;
  maxBytes: number;
  truncations: number;
  buffer: Buffer;
  /** The read; undefined when it failed (the fetch then reads itself and reports the error). */
  read: Promise<ReadResult | undefined>;
  timer: NodeJS.Timeout | undefined;
}

/** What a read-ahead hands a fetch: the bytes, and the lent buffer they are a view of. */
export interface AheadBytes {
  bytes: Buffer;
  lease: Buffer;
}

export class ReadAhead {
  readonly #pool: ReadBuffers;
  readonly #idleMs: number;
  readonly #metrics: ReadAheadMetrics | undefined;
  readonly #byShard = new Map<Shard, Ahead>();
  #closed = false;

  constructor(pool: ReadBuffers, idleMs: number, metrics?: ReadAheadMetrics) {
    this.#pool = pool;
    this.#idleMs = idleMs;
    this.#metrics = metrics;
  }

  /** Start reading `offset` of `shard` for the next fetch, if buffers are to spare. */
  start(shard: Shard, offset: number, maxBytes: number): void {
    if (this.#closed || this.#byShard.has(shard)) return;
    const buffer = this.#pool.takeSpare(maxBytes);
    if (!buffer) return;
    const truncations = shard.truncations;
    const read = shard.read(offset, { maxBytes, into: buffer }).then(
      (r) => r,
      () => undefined,
    );
    const a: Ahead = { offset, maxBytes, truncations, buffer, read, timer: undefined };
    this.#byShard.set(shard, a);
    a.timer = setTimeout(() => {
      if (this.#byShard.get(shard) !== a) return;
      this.#byShard.delete(shard);
      this.#drop(a);
    }, this.#idleMs);
    a.timer.unref();
  }

  /**
   * The read-ahead of exactly this fetch, or undefined (read the log). The
   * lease passes to the caller, who gives it back to the pool.
   */
  async take(shard: Shard, offset: number, maxBytes: number): Promise<AheadBytes | undefined> {
    const a = this.#byShard.get(shard);
    if (!a) return undefined;
    this.#byShard.delete(shard);
    clearTimeout(a.timer);
    if (a.offset !== offset || a.maxBytes !== maxBytes) {
      this.#drop(a);
      return undefined;
    }
    const r = await a.read;
    const usable =
      r !== undefined &&
      r.bytes.length > 0 &&
      r.bytes.buffer === a.buffer.buffer &&
      shard.truncations === a.truncations;
    if (!usable) {
      this.#drop(a);
      return undefined;
    }
    this.#metrics?.hit();
    return { bytes: r.bytes, lease: a.buffer };
  }

  /** The connection closed: every buffer goes back once its read settled. */
  close(): void {
    this.#closed = true;
    for (const a of this.#byShard.values()) {
      clearTimeout(a.timer);
      this.#drop(a);
    }
    this.#byShard.clear();
  }

  #drop(a: Ahead): void {
    this.#metrics?.unused();
    // Never back while the native read may still write into it.
    void a.read.then(() => this.#pool.give(a.buffer));
  }
}

/** The offset after the last whole batch in `bytes` (stored batches, as a read returns them). */
export function offsetAfter(bytes: Buffer): number | undefined {
  let at = 0;
  let next: number | undefined;
  while (at + 61 <= bytes.length) {
    const len = bytes.readInt32BE(at + 8);
    if (at + 12 + len > bytes.length) break;
    next = Number(bytes.readBigInt64BE(at)) + bytes.readInt32BE(at + 23) + 1;
    at += 12 + len;
  }
  return next;
}
