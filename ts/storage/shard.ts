/**
 * The Shard adapter: one partition's log as TypeScript sees it, and (with
 * storage.ts) the only code that calls native storage.
 *
 * Appends are **group-committed**: while one native append of a shard is in
 * flight, later appends queue; when it returns, everything queued (up to
 * `append_call_bytes_max`) goes down in one call: one write and, under the
 * `always` policy, one fdatasync. Records of consecutive callers share a
 * batch up to `batch_bytes_max`, then the next batch starts; Kafka batches
 * are concatenated. Under light load that is one call per append; under
 * heavy load calls grow on their own, with no timer. One call in flight per
 * shard keeps offsets in submission order (Kafka's per-partition order).
 * If a combined call is refused for bad input, each part is retried alone,
 * so one client's bad batch never fails another client's append.
 *
 * Reads long-poll without polling: a read at the log end parks a waiter
 * that the next append on this shard wakes (or its timeout / abort ends).
 */
import { FerryError } from '../errors.ts';
import { fromNative } from '../native/errors.ts';
import type { NativeStore } from '../native/load.ts';
import { batchOffsetCount, batchSpans, packedSize, packInto, type Record } from './records.ts';

export type Engine = 'memory' | 'segment' | 'rocks';

export interface AppendOffsets {
  baseOffset: number;
  lastOffset: number;
  appendTimeMs: number;
}

export interface ReadOptions {
  /** Upper bound on returned bytes; at least one whole batch is returned when any exists. */
  maxBytes: number;
  /** Long-poll: wait up to this long for data when `fromOffset` is the log end. */
  maxWaitMs?: number;
  signal?: AbortSignal;
}

export interface ReadResult {
  /** Whole magic-2 batches; the first may start before `fromOffset`. */
  bytes: Buffer;
  /**
   * The log end (high watermark on one node) when the read ran — not the
   * offset after the returned bytes: a reader continues from the last
   * returned batch's base offset + lastOffsetDelta + 1.
   */
  nextOffset: number;
  earliestOffset: number;
}

export interface ShardLimits {
  /** Largest single batch (native refuses above it; the adapter never merges records past it). */
  batchBytesMax: number;
  /** Bytes one native append call may carry (several batches). */
  callBytesMax: number;
  /** Bytes of appends queued behind the one in flight; above it appends fail with FERRY_ERR_OVERLOADED. */
  appendQueueBytesMax: number;
  /** Parked long-poll reads; above it reads fail with FERRY_ERR_OVERLOADED. */
  readWaitersMax: number;
}

export interface ShardMetrics {
  appendCalls(engine: Engine, n: number): void;
  appendedRecords(engine: Engine, n: number): void;
  appendedBytes(engine: Engine, n: number): void;
  appendErrors(engine: Engine, code: string): void;
  readErrors(engine: Engine, code: string): void;
}

interface Pending {
  kind: 'records' | 'batches';
  records?: readonly Record[];
  batches?: Buffer;
  bytes: number;
  /** Offsets this append consumes (record count). */
  count: number;
  resolve: (r: AppendOffsets) => void;
  reject: (e: unknown) => void;
}

interface Waiter {
  fromOffset: number;
  wake: () => void;
}

/**
 * Memory-engine calls at or below this size run synchronously (no disk; the
 * CRC and copy cost a few microseconds); larger ones take the async path so
 * CRC and copying of big batches never run on the JS thread.
 */
const MEMORY_SYNC_BYTES_MAX = 64 * 1024;

/** Bytes a record batch adds around packed records (its fixed header). */
const BATCH_OVERHEAD_BYTES = 61;
const INPUT_ERRORS = new Set([
  'FERRY_ERR_INVALID_BATCH',
  'FERRY_ERR_RECORD_TOO_LARGE',
  'FERRY_ERR_FRAME_MALFORMED',
]);

export class Shard {
  readonly id: number;
  readonly engine: Engine;
  readonly #native: NativeStore;
  readonly #limits: ShardLimits;
  readonly #metrics: ShardMetrics | undefined;
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #inFlight = false;
  #waiters = new Set<Waiter>();
  #deleted = false;

  constructor(native: NativeStore, id: number, engine: Engine, limits: ShardLimits, metrics?: ShardMetrics) {
    this.#native = native;
    this.id = id;
    this.engine = engine;
    this.#limits = limits;
    this.#metrics = metrics;
  }

  /** Append records (MQTT / internal path); resolves once durable under the shard's policy. */
  append(records: readonly Record[]): Promise<AppendOffsets> {
    if (records.length === 0)
      return Promise.reject(new FerryError('FERRY_ERR_INVALID_BATCH', 'no records to append'));
    return this.#enqueue({ kind: 'records', records, bytes: packedSize(records), count: records.length });
  }

  /**
   * Append Kafka magic-2 batches (one or more, back to back) as they came
   * from a producer. The buffer is patched in place with the assigned
   * offsets, so callers must not reuse it.
   */
  appendBatches(batches: Buffer): Promise<AppendOffsets> {
    let count = 0;
    try {
      for (const [start] of batchSpans(batches)) count += batchOffsetCount(batches, start);
    } catch (err) {
      return Promise.reject(err);
    }
    if (count <= 0)
      return Promise.reject(new FerryError('FERRY_ERR_INVALID_BATCH', 'no record batch to append'));
    return this.#enqueue({ kind: 'batches', batches, bytes: batches.length, count });
  }

  #enqueue(p: Omit<Pending, 'resolve' | 'reject'>): Promise<AppendOffsets> {
    const refused = this.#refusal(p);
    if (refused) {
      this.#metrics?.appendErrors(this.engine, refused.code);
      return Promise.reject(refused);
    }
    return new Promise<AppendOffsets>((resolve, reject) => {
      this.#queue.push({ ...p, resolve, reject });
      this.#queuedBytes += p.bytes;
      if (!this.#inFlight) this.#flush();
    });
  }

  #refusal(p: Omit<Pending, 'resolve' | 'reject'>): FerryError | undefined {
    if (this.#deleted) return new FerryError('FERRY_ERR_SHARD_NOT_FOUND', `shard ${this.id} was deleted`);
    if (p.bytes + (p.kind === 'records' ? BATCH_OVERHEAD_BYTES : 0) > this.#limits.batchBytesMax) {
      return new FerryError(
        'FERRY_ERR_RECORD_TOO_LARGE',
        `append of ${p.bytes} bytes exceeds batch_bytes_max ${this.#limits.batchBytesMax}`,
      );
    }
    if (this.#inFlight && this.#queuedBytes + p.bytes > this.#limits.appendQueueBytesMax) {
      return new FerryError(
        'FERRY_ERR_OVERLOADED',
        `shard ${this.id}: ${this.#queuedBytes} bytes already queued (append_queue_bytes_max ${this.#limits.appendQueueBytesMax})`,
      );
    }
    return undefined;
  }

  /** Take the longest run of same-kind appends that fits one call. */
  #takeGroup(): Pending[] {
    const first = this.#queue[0] as Pending;
    let bytes = 0;
    let n = 0;
    for (const p of this.#queue) {
      if (p.kind !== first.kind) break;
      if (n > 0 && bytes + p.bytes + BATCH_OVERHEAD_BYTES > this.#limits.callBytesMax) break;
      bytes += p.bytes + BATCH_OVERHEAD_BYTES;
      n++;
    }
    const group = this.#queue.splice(0, n);
    for (const p of group) this.#queuedBytes -= p.bytes;
    return group;
  }

  #flush(): void {
    if (this.#queue.length === 0) return;
    this.#inFlight = true;
    const group = this.#takeGroup();
    this.#appendGroup(group).finally(() => {
      this.#inFlight = false;
      this.#flush();
    });
  }

  async #appendGroup(group: Pending[]): Promise<void> {
    try {
      const r = await this.#appendNative(group);
      let offset = r.baseOffset;
      for (const p of group) {
        p.resolve({ baseOffset: offset, lastOffset: offset + p.count - 1, appendTimeMs: r.appendTimeMs });
        offset += p.count;
      }
      this.#wakeReaders();
    } catch (err) {
      const e = fromNative(err);
      if (group.length > 1 && INPUT_ERRORS.has(e.code)) {
        // Isolate the bad part: every append alone, in order.
        for (const p of group) await this.#appendGroup([p]);
        return;
      }
      this.#metrics?.appendErrors(this.engine, e.code);
      for (const p of group) p.reject(e);
    }
  }

  async #appendNative(group: Pending[]): Promise<{ baseOffset: number; appendTimeMs: number }> {
    const bytes = group.reduce((n, p) => n + p.bytes, 0);
    const records = group.reduce((n, p) => n + p.count, 0);
    this.#metrics?.appendCalls(this.engine, 1);
    let r: { baseOffset: number; appendTimeMs: number };
    if ((group[0] as Pending).kind === 'records') {
      const packed = Buffer.allocUnsafe(bytes);
      const now = Date.now();
      // Consecutive callers share a batch until it would pass batch_bytes_max.
      const groupBytes: number[] = [];
      let batchBytes = 0;
      let at = 0;
      for (const p of group) {
        if (batchBytes > 0 && batchBytes + p.bytes + BATCH_OVERHEAD_BYTES > this.#limits.batchBytesMax) {
          groupBytes.push(batchBytes);
          batchBytes = 0;
        }
        at = packInto(p.records as readonly Record[], packed, at, now);
        batchBytes += p.bytes;
      }
      groupBytes.push(batchBytes);
      const sync = this.engine === 'memory' && bytes <= MEMORY_SYNC_BYTES_MAX;
      if (groupBytes.length === 1) {
        r = sync
          ? this.#native.appendPackedSync(this.id, packed, -1)
          : await this.#native.appendPacked(this.id, packed, -1);
      } else {
        r = sync
          ? this.#native.appendPackedGroupsSync(this.id, packed, groupBytes, -1)
          : await this.#native.appendPackedGroups(this.id, packed, groupBytes, -1);
      }
    } else {
      const batches =
        group.length === 1
          ? (group[0]?.batches as Buffer)
          : Buffer.concat(group.map((p) => p.batches as Buffer));
      r = await this.#native.append(this.id, batches, -1);
      if (group.length > 1) {
        // Copy the patched offsets back so each caller's buffer holds what was stored.
        let at = 0;
        for (const p of group) {
          const b = p.batches as Buffer;
          batches.copy(b, 0, at, at + b.length);
          at += b.length;
        }
      }
    }
    this.#metrics?.appendedRecords(this.engine, records);
    this.#metrics?.appendedBytes(this.engine, bytes);
    return r;
  }

  #wakeReaders(): void {
    if (this.#waiters.size === 0) return;
    const next = this.#native.offsets(this.id).next;
    for (const w of this.#waiters) if (w.fromOffset < next) w.wake();
  }

  /** Read whole batches from the one containing `fromOffset`; long-polls at the log end. */
  async read(fromOffset: number, opts: ReadOptions): Promise<ReadResult> {
    const first = await this.#readNow(fromOffset, opts.maxBytes);
    const waitMs = opts.maxWaitMs ?? 0;
    if (first.bytes.length > 0 || waitMs <= 0 || opts.signal?.aborted) return first;
    if (this.#waiters.size >= this.#limits.readWaitersMax) {
      this.#metrics?.readErrors(this.engine, 'FERRY_ERR_OVERLOADED');
      throw new FerryError(
        'FERRY_ERR_OVERLOADED',
        `shard ${this.id}: ${this.#waiters.size} reads already waiting (read_waiters_max)`,
      );
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', done);
        this.#waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = { fromOffset, wake: done };
      const timer = setTimeout(done, waitMs);
      opts.signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(waiter);
    });
    if (this.#deleted)
      return { bytes: Buffer.alloc(0), nextOffset: first.nextOffset, earliestOffset: first.earliestOffset };
    return this.#readNow(fromOffset, opts.maxBytes);
  }

  async #readNow(fromOffset: number, maxBytes: number): Promise<ReadResult> {
    try {
      return this.engine === 'memory' && maxBytes <= MEMORY_SYNC_BYTES_MAX
        ? this.#native.readSync(this.id, fromOffset, maxBytes)
        : await this.#native.read(this.id, fromOffset, maxBytes);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** First offset whose timestamp is >= `timestampMs`, or null past the end. */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestampMs: number } | null> {
    return this.#native.offsetForTimestamp(this.id, timestampMs).catch((e: unknown) => {
      throw fromNative(e);
    });
  }

  /** Earliest, latest (log end) and high watermark (= log end on one node). */
  offsets(): { earliest: number; latest: number; highWatermark: number } {
    try {
      const o = this.#native.offsets(this.id);
      return { earliest: o.earliest, latest: o.next, highWatermark: o.next };
    } catch (err) {
      throw fromNative(err);
    }
  }

  async truncate(toOffset: number): Promise<number> {
    return this.#native.truncate(this.id, toOffset).catch((e: unknown) => {
      throw fromNative(e);
    });
  }

  async deleteBefore(offset: number): Promise<number> {
    return this.#native.deleteBefore(this.id, offset).catch((e: unknown) => {
      throw fromNative(e);
    });
  }

  async sync(): Promise<void> {
    return this.#native.sync(this.id).catch((e: unknown) => {
      throw fromNative(e);
    });
  }

  stats(): {
    bytes: number;
    batches: number;
    segments: number;
    earliestOffset: number;
    nextOffset: number;
    readWaiters: number;
  } {
    try {
      return { ...this.#native.stats(this.id), readWaiters: this.#waiters.size };
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Called by Storage when the shard is deleted: parked reads return empty. */
  markDeleted(): void {
    this.#deleted = true;
    for (const w of this.#waiters) w.wake();
  }
}
