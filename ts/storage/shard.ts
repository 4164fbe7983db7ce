/**
 * The Shard adapter: one partition's log as TypeScript sees it, and (with
 * storage.ts) the only code that calls native storage.
 *
 * Appends are **group-committed and pipelined**: appends queue; a native
 * call takes everything queued (up to `append_call_bytes_max`) as one write
 * and, under the `always` policy, one fdatasync. Up to
 * `append_calls_in_flight_max` record-append calls per shard are in flight
 * at once: the binding gives each call a ticket when it is made, the engine
 * assigns offsets and writes in ticket order and lets the next call write
 * while this one's fdatasync runs (crates/ferry-storage/src/order.rs). So
 * offsets follow submission order (Kafka's per-partition order) and the disk
 * never idles while JavaScript prepares the next call. Callers are resolved
 * strictly in call order, each once its own call is durable. Records of
 * consecutive callers share a batch up to `batch_bytes_max` (by a worst-case
 * encoded size, so a combined call is never refused for size), then the
 * next batch starts. Under light load that is one call per append; under
 * heavy load calls grow on their own, with no timer.
 *
 * Kafka batches (`appendBatches`) made in the same turn (the Produce
 * requests of one socket read) go down together, in one `appendMany` call
 * (joined and copied back off the JS thread), and keep one call in flight,
 * alone: producer
 * bytes can be bad, and if a combined call is refused for bad input each
 * part is retried alone, in order, before anything else goes down, so one
 * client's bad batch never fails another client's append nor reorders it.
 * The memory engine keeps one call in flight too (its calls are short, and
 * small ones, records or Kafka batches, run synchronously).
 *
 * Native append calls run on libuv's pool; the job puts its thread under
 * SCHED_BATCH (crates/ferry-storage/src/sched.rs), so queueing an append
 * never hands this thread's core to the woken worker in the middle of a
 * turn. The offsets read by every Produce answer are atomics: they never
 * wait for a worker's write.
 *
 * Reads long-poll without polling: a read at the log end parks a waiter
 * that the next append on this shard wakes (or its timeout / abort ends).
 */
import { FerryError } from '../errors.ts';
import { fromNative } from '../native/errors.ts';
import type { NativeStore } from '../native/load.ts';
import {
  batchOffsetCount,
  batchSpans,
  packedInlineSize,
  packedSize,
  packInto,
  type Record,
} from './records.ts';

export type Engine = 'memory' | 'segment' | 'rocks';

export interface AppendOffsets {
  baseOffset: number;
  lastOffset: number;
  appendTimeMs: number;
  /** The log start offset as the native call that appended these left it (Kafka's logStartOffset answer). */
  earliestOffset: number;
}

export interface ReadOptions {
  /** Upper bound on returned bytes; at least one whole batch is returned when any exists. */
  maxBytes: number;
  /** Long-poll: wait up to this long for data when `fromOffset` is the log end. */
  maxWaitMs?: number;
  signal?: AbortSignal;
  /**
   * Read into this buffer (at most its length; see read-buffers.ts) instead
   * of a fresh one: the result's bytes are then a view of it, unless the
   * batch at `fromOffset` alone is longer (read into a fresh Buffer as
   * without it) or a small memory-engine read answered synchronously. The
   * caller must not touch it until the read settles.
   */
  into?: Buffer;
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
  /** Record-append calls in flight per shard (segment and rocks engines; memory and Kafka batches use 1). */
  callsInFlightMax: number;
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
  /** Native append calls in flight went up (+1) or down (-1). */
  appendCallsInFlight?(engine: Engine, delta: number): void;
}

interface Pending {
  kind: 'records' | 'batches';
  records?: readonly Record[];
  batches?: Buffer;
  bytes: number;
  /** Records: the most bytes their encoded form can take (batches: = bytes). */
  bound: number;
  /** Offsets this append consumes (record count). */
  count: number;
  /** Goes down in a call of its own (a retry after a refused combined call, or one near batch_bytes_max). */
  alone?: boolean;
  resolve: (r: AppendOffsets) => void;
  reject: (e: unknown) => void;
}

/** What a native append call answers that the callers' offsets are made from. */
interface NativeAppended {
  baseOffset: number;
  appendTimeMs: number;
  earliestOffset: number;
}

/** One native call in flight; settled calls wait for the ones before them. */
interface Call {
  group: Pending[];
  outcome?: ({ ok: true } & NativeAppended) | { ok: false; error: FerryError };
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
/**
 * Most bytes a record's encoded form can exceed its packed form by: packed
 * spends 20 bytes on timestamp and lengths, the encoded record up to 36
 * (length, attributes, timestamp delta, offset delta, key and value lengths,
 * header count as varints); per header packed 8, encoded up to 10.
 */
const RECORD_SLACK_BYTES = 16;
const HEADER_SLACK_BYTES = 2;

function encodedBound(records: readonly Record[], packed: number): number {
  let headers = 0;
  for (const r of records) headers += r.headers?.length ?? 0;
  return packed + RECORD_SLACK_BYTES * records.length + HEADER_SLACK_BYTES * headers;
}
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
  /** Native calls in flight, in call (= ticket = offset) order. */
  #calls: Call[] = [];
  #flushScheduled = false;
  #batchesFlushScheduled = false;
  /**
   * Parked long-polls. An array, not a Set: a shard lives long (old
   * generation) and a Set's add and delete per poll reallocated its hash
   * table there, garbage only a mark-compact collects. Bounded by
   * storage.read_waiters_max, so the scan in #unpark is short.
   */
  #waiters: Waiter[] = [];
  #deleted = false;
  #truncations = 0;

  constructor(native: NativeStore, id: number, engine: Engine, limits: ShardLimits, metrics?: ShardMetrics) {
    this.#native = native;
    this.id = id;
    this.engine = engine;
    this.#limits = limits;
    this.#metrics = metrics;
  }

  /**
   * Append records (MQTT / internal path); resolves once durable under the
   * shard's policy. Large values are read from the callers' Buffers while
   * the append is in flight, so they must not be modified until it settles.
   */
  append(records: readonly Record[]): Promise<AppendOffsets> {
    if (records.length === 0)
      return Promise.reject(new FerryError('FERRY_ERR_INVALID_BATCH', 'no records to append'));
    const bytes = packedSize(records);
    return this.#enqueue({
      kind: 'records',
      records,
      bytes,
      bound: encodedBound(records, bytes),
      count: records.length,
    });
  }

  /**
   * Append Kafka magic-2 batches (one or more, back to back) as they came
   * from a producer. The buffer is patched in place with the assigned
   * offsets, so callers must not reuse it. A caller that has already
   * walked the batches (whole, back to back) passes their offset count, so
   * they are not walked twice.
   */
  appendBatches(batches: Buffer, offsetCount?: number): Promise<AppendOffsets> {
    let count = offsetCount ?? 0;
    if (offsetCount === undefined) {
      try {
        for (const [start] of batchSpans(batches)) count += batchOffsetCount(batches, start);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (count <= 0)
      return Promise.reject(new FerryError('FERRY_ERR_INVALID_BATCH', 'no record batch to append'));
    return this.#enqueue({ kind: 'batches', batches, bytes: batches.length, bound: batches.length, count });
  }

  #enqueue(p: Omit<Pending, 'resolve' | 'reject'>): Promise<AppendOffsets> {
    const refused = this.#refusal(p);
    if (refused) {
      this.#metrics?.appendErrors(this.engine, refused.code);
      return Promise.reject(refused);
    }
    return new Promise<AppendOffsets>((resolve, reject) => {
      const alone = p.kind === 'records' && p.bound + BATCH_OVERHEAD_BYTES > this.#limits.batchBytesMax;
      this.#queue.push({ ...p, alone, resolve, reject });
      this.#queuedBytes += p.bytes;
      if (p.kind === 'batches') this.#scheduleBatchesFlush();
      else if (this.#calls.length === 0) this.#flush();
      else this.#scheduleFlush();
    });
  }

  /**
   * Kafka batches go down once the current turn's microtasks have run
   * (process.nextTick queued from them runs after the queue drains): the
   * Produce requests of one socket read reach here in the same turn, so
   * they share one native call (one ticket, one thread-pool hop, one write)
   * instead of one call each. Queue order, and so offset order, is kept.
   */
  #scheduleBatchesFlush(): void {
    if (this.#batchesFlushScheduled) return;
    this.#batchesFlushScheduled = true;
    process.nextTick(() => {
      this.#batchesFlushScheduled = false;
      this.#flush();
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
    if (this.#calls.length > 0 && this.#queuedBytes + p.bytes > this.#limits.appendQueueBytesMax) {
      return new FerryError(
        'FERRY_ERR_OVERLOADED',
        `shard ${this.id}: ${this.#queuedBytes} bytes already queued (append_queue_bytes_max ${this.#limits.appendQueueBytesMax})`,
      );
    }
    return undefined;
  }

  /**
   * With calls in flight, wait for the end of the current tick before the
   * next call, so appends made together go down together.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Whether a call starting with `p` may go down now. */
  #mayCall(p: Pending): boolean {
    if (this.#calls.length === 0) return true;
    if (p.kind === 'batches' || this.engine === 'memory') return false;
    const inFlight = this.#calls[0]?.group[0]?.kind;
    return inFlight === 'records' && this.#calls.length < this.#limits.callsInFlightMax;
  }

  /** Take the longest run of same-kind appends that fits one call. */
  #takeGroup(): Pending[] {
    const first = this.#queue[0] as Pending;
    let bytes = 0;
    let n = 0;
    if (first.alone) n = 1;
    else {
      for (const p of this.#queue) {
        if (p.kind !== first.kind || p.alone) break;
        if (n > 0 && bytes + p.bound + BATCH_OVERHEAD_BYTES > this.#limits.callBytesMax) break;
        bytes += p.bound + BATCH_OVERHEAD_BYTES;
        n++;
      }
    }
    const group = this.#queue.splice(0, n);
    for (const p of group) this.#queuedBytes -= p.bytes;
    return group;
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.#mayCall(this.#queue[0] as Pending)) {
      const call: Call = { group: this.#takeGroup() };
      this.#calls.push(call);
      this.#metrics?.appendCallsInFlight?.(this.engine, 1);
      // #appendNative makes its native call (and so takes its ticket) before
      // its first await: call order is ticket order.
      this.#appendNative(call.group).then(
        (r) => {
          call.outcome = { ok: true, ...r };
          this.#settle();
        },
        (err: unknown) => {
          call.outcome = { ok: false, error: fromNative(err) };
          this.#settle();
        },
      );
    }
  }

  /** Answer settled calls from the oldest on, stopping at the first still in flight. */
  #settle(): void {
    let wrote = false;
    while (this.#calls[0]?.outcome) {
      const { group, outcome } = this.#calls.shift() as Required<Call>;
      this.#metrics?.appendCallsInFlight?.(this.engine, -1);
      if (outcome.ok) {
        let offset = outcome.baseOffset;
        for (const p of group) {
          p.resolve({
            baseOffset: offset,
            lastOffset: offset + p.count - 1,
            appendTimeMs: outcome.appendTimeMs,
            earliestOffset: outcome.earliestOffset,
          });
          offset += p.count;
        }
        wrote = true;
      } else if (group.length > 1 && INPUT_ERRORS.has(outcome.error.code)) {
        // Isolate the bad part: every append alone, in order, first in line.
        // For Kafka batches nothing else was in flight, so order holds; a
        // combined record call is never refused for size (bound above), so
        // only a packing bug could land here, and then calls already in
        // flight keep the offsets they got before these retries.
        for (const p of group) {
          p.alone = true;
          this.#queuedBytes += p.bytes;
        }
        this.#queue.unshift(...group);
      } else {
        this.#metrics?.appendErrors(this.engine, outcome.error.code);
        for (const p of group) p.reject(outcome.error);
      }
    }
    if (wrote) this.#wakeReaders();
    this.#flush();
  }

  async #appendNative(group: Pending[]): Promise<NativeAppended> {
    const bytes = group.reduce((n, p) => n + p.bytes, 0);
    const records = group.reduce((n, p) => n + p.count, 0);
    this.#metrics?.appendCalls(this.engine, 1);
    let r: NativeAppended;
    if ((group[0] as Pending).kind === 'records') {
      // Synchronous only with nothing else in flight: the native call waits
      // for earlier tickets, and must never do that on the JS thread.
      const sync = this.engine === 'memory' && bytes <= MEMORY_SYNC_BYTES_MAX && this.#calls.length <= 1;
      // Async calls leave large values in the callers' Buffers (read by
      // the native encoder until the call settles): one copy less.
      const values: Buffer[] | undefined = sync ? undefined : [];
      const inline = group.map((p) => (sync ? p.bytes : packedInlineSize(p.records as readonly Record[])));
      const packed = Buffer.allocUnsafe(inline.reduce((n, b) => n + b, 0));
      const now = Date.now();
      // Consecutive callers share a batch until it would pass batch_bytes_max.
      const groupBytes: number[] = [];
      let batchBytes = 0;
      let at = 0;
      let batchBound = 0;
      group.forEach((p, i) => {
        if (batchBytes > 0 && batchBound + p.bound + BATCH_OVERHEAD_BYTES > this.#limits.batchBytesMax) {
          groupBytes.push(batchBytes);
          batchBytes = 0;
          batchBound = 0;
        }
        at = packInto(p.records as readonly Record[], packed, at, now, values);
        batchBytes += inline[i] as number;
        batchBound += p.bound;
      });
      groupBytes.push(batchBytes);
      if (values !== undefined && values.length > 0) {
        r = await this.#native.appendPackedValues(this.id, packed, values, groupBytes, -1);
      } else if (groupBytes.length === 1) {
        r = sync
          ? this.#native.appendPackedSync(this.id, packed, -1)
          : await this.#native.appendPacked(this.id, packed, -1);
      } else {
        r = sync
          ? this.#native.appendPackedGroupsSync(this.id, packed, groupBytes, -1)
          : await this.#native.appendPackedGroups(this.id, packed, groupBytes, -1);
      }
    } else {
      // Several callers' batches: joined, patched and copied back natively
      // (appendMany), never concatenated here. On the memory engine up to
      // 64 KiB go synchronously, like small record appends (no disk, and
      // nothing else is in flight: batches keep one call at a time).
      const parts = group.map((p) => p.batches as Buffer);
      if (this.engine === 'memory' && bytes <= MEMORY_SYNC_BYTES_MAX && this.#calls.length <= 1) {
        r = this.#native.appendManySync(this.id, parts, -1);
      } else {
        r =
          parts.length === 1
            ? await this.#native.append(this.id, parts[0] as Buffer, -1)
            : await this.#native.appendMany(this.id, parts, -1);
      }
    }
    this.#metrics?.appendedRecords(this.engine, records);
    this.#metrics?.appendedBytes(this.engine, bytes);
    return r;
  }

  #wakeReaders(): void {
    if (this.#waiters.length === 0) return;
    let next = Number.POSITIVE_INFINITY;
    try {
      next = this.#native.offsets(this.id).next;
    } catch {
      // Shard or store gone: wake everyone; their re-read reports it.
    }
    // Backwards: a woken waiter leaves the array, moving only those already seen.
    const ws = this.#waiters;
    for (let i = ws.length - 1; i >= 0; i--) {
      const w = ws[i] as Waiter;
      if (w.fromOffset < next) w.wake();
    }
  }

  /** Read whole batches from the one containing `fromOffset`; long-polls at the log end. */
  async read(fromOffset: number, opts: ReadOptions): Promise<ReadResult> {
    const first = await this.#readNow(fromOffset, opts.maxBytes, opts.into);
    const waitMs = opts.maxWaitMs ?? 0;
    if (first.bytes.length > 0 || waitMs <= 0 || opts.signal?.aborted) return first;
    await this.#park(fromOffset, waitMs, opts.signal);
    if (this.#deleted)
      return { bytes: Buffer.alloc(0), nextOffset: first.nextOffset, earliestOffset: first.earliestOffset };
    return this.#readNow(fromOffset, opts.maxBytes, opts.into);
  }

  /**
   * Wait, without reading, until the log holds `fromOffset` (at once if it
   * does), `waitMs` passes, `signal` aborts or the shard is deleted. For a
   * Fetch that only needs to know when to read again: a read here would
   * fetch (and CRC-check) a batch only to drop it.
   */
  async waitFor(fromOffset: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    if (waitMs <= 0 || signal?.aborted || this.#deleted) return;
    try {
      if (fromOffset < this.#native.offsets(this.id).next) return;
    } catch (err) {
      throw fromNative(err);
    }
    await this.#park(fromOffset, waitMs, signal);
  }

  #park(fromOffset: number, waitMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#waiters.length >= this.#limits.readWaitersMax) {
      this.#metrics?.readErrors(this.engine, 'FERRY_ERR_OVERLOADED');
      throw new FerryError(
        'FERRY_ERR_OVERLOADED',
        `shard ${this.id}: ${this.#waiters.length} reads already waiting (read_waiters_max)`,
      );
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const ws = this.#waiters;
        const i = ws.indexOf(waiter);
        if (i >= 0) ws.splice(i, 1);
        resolve();
      };
      const waiter: Waiter = { fromOffset, wake: done };
      const timer = setTimeout(done, waitMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.push(waiter);
    });
  }

  async #readNow(fromOffset: number, maxBytes: number, into?: Buffer): Promise<ReadResult> {
    try {
      if (this.engine === 'memory' && maxBytes <= MEMORY_SYNC_BYTES_MAX)
        return this.#native.readSync(this.id, fromOffset, maxBytes);
      if (into) {
        const r = await this.#native.readInto(this.id, fromOffset, Math.min(maxBytes, into.length), into);
        if (r.needed === 0)
          return {
            bytes: into.subarray(0, r.length),
            nextOffset: r.nextOffset,
            earliestOffset: r.earliestOffset,
          };
      }
      return await this.#native.read(this.id, fromOffset, maxBytes);
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

  /**
   * Goes up when a truncation starts and again when it ends: bytes read
   * while it stayed the same are still the log's at their offsets (nothing
   * else rewrites an offset), which read-ahead relies on.
   */
  get truncations(): number {
    return this.#truncations;
  }

  async truncate(toOffset: number): Promise<number> {
    this.#truncations++;
    try {
      return await this.#native.truncate(this.id, toOffset);
    } catch (e) {
      throw fromNative(e);
    } finally {
      this.#truncations++;
    }
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
      return { ...this.#native.stats(this.id), readWaiters: this.#waiters.length };
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Called by Storage when the shard is deleted: parked reads return empty. */
  markDeleted(): void {
    this.#deleted = true;
    // A copy: each wake takes its waiter out of the array.
    for (const w of [...this.#waiters]) w.wake();
  }
}
