/**
 * Topic retention: every `storage.retention_check_ms` (and right after a
 * topic's configs change) each partition's log start moves up through the
 * Shard adapter's deleteBefore, by the topic's retention.ms and
 * retention.bytes. Kafka topics' shards are created with storage retention
 * off, so the topic's current configs are the only rule and may change in
 * either direction.
 *
 * retention.ms: everything before the first record whose timestamp is within
 * the window goes. retention.bytes: the oldest whole batches go until the
 * partition stores at most that many bytes. Stored size comes from the
 * shard's stats, which count whole files for the segment engine, including
 * the bytes deleteBefore left before the log start in a file that has not
 * gone yet. Those dead bytes are measured once per shard (a walk over the
 * partition, which retention.bytes bounds) and then tracked across passes,
 * so they are never counted as data.
 */
import { Counter, type Registry } from 'prom-client';
import { batchSpans } from '../storage/records.ts';
import type { Shard } from '../storage/shard.ts';
import type { Storage } from '../storage/storage.ts';
import type { TopicSettings } from './topic-config.ts';

/** Bytes one read of the retention.bytes walk asks for. */
const WALK_READ_BYTES = 1 << 20;

interface TopicSource {
  all(): { shards: number[]; settings: TopicSettings }[];
}

export class TopicRetention {
  readonly #topics: TopicSource;
  readonly #storage: Storage;
  readonly #timer: NodeJS.Timeout;
  /** Per shard: bytes stats still count that are before the log start. */
  readonly #dead = new Map<number, number>();
  readonly #errors: Counter | undefined;
  readonly #deleted: Counter | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(topics: TopicSource, storage: Storage, intervalMs: number, registry?: Registry) {
    this.#topics = topics;
    this.#storage = storage;
    if (registry) {
      this.#errors = new Counter({
        name: 'ferrymq_kafka_retention_errors_total',
        help: 'Kafka partitions whose retention pass failed (retried next pass)',
        registers: [registry],
      });
      this.#deleted = new Counter({
        name: 'ferrymq_kafka_retention_deleted_offsets_total',
        help: 'Offsets removed from the start of Kafka partitions by retention.ms / retention.bytes',
        registers: [registry],
      });
    }
    this.#timer = setInterval(() => this.runSoon(), intervalMs);
    this.#timer.unref();
  }

  /** Start a pass now, or another one right after the pass in progress. */
  runSoon(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.runOnce().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.runSoon();
      }
    });
  }

  /** One pass over every partition; errors are counted and retried next pass, never thrown. */
  async runOnce(now = Date.now()): Promise<void> {
    for (const topic of this.#topics.all()) {
      for (const id of topic.shards) {
        if (this.#closed) return;
        if (!this.#storage.has(id)) continue;
        try {
          const shard = this.#storage.shard(id);
          const before = shard.offsets().earliest;
          await this.#enforce(shard, topic.settings, now);
          this.#deleted?.inc(shard.offsets().earliest - before);
        } catch {
          // A shard deleted under the pass, or an I/O error: the next pass retries.
          this.#errors?.inc();
        }
      }
    }
    for (const id of this.#dead.keys()) if (!this.#storage.has(id)) this.#dead.delete(id);
  }

  async #enforce(shard: Shard, s: TopicSettings, now: number): Promise<void> {
    const { earliest, latest } = shard.offsets();
    // Read together with the offsets (both synchronous), so they describe the same log.
    const physical = shard.stats().bytes;
    let target = earliest;
    if (s.retentionMs !== null) {
      const found = await shard.offsetForTimestamp(now - s.retentionMs);
      target = Math.max(target, found ? found.offset : latest);
    }
    if (s.retentionBytes === null) {
      // Untracked from here: the next retention.bytes pass measures again.
      this.#dead.delete(shard.id);
      if (target > earliest) await shard.deleteBefore(target);
      return;
    }
    let dead = this.#dead.get(shard.id);
    if (dead === undefined) {
      dead = Math.max(0, physical - (await this.#walk(shard, earliest, latest, () => true)).bytes);
      this.#dead.set(shard.id, dead);
    }
    const stored = physical - dead;
    const excess = stored - s.retentionBytes;
    // The batches that go: up to the time target, then on until the excess is freed.
    const gone = await this.#walk(shard, earliest, latest, (at, freed) => at < target || freed < excess);
    if (gone.end <= earliest) return;
    await shard.deleteBefore(gone.end);
    this.#dead.set(shard.id, Math.max(0, shard.stats().bytes - (stored - gone.bytes)));
  }

  /**
   * Walk whole batches from `from` while `more(at, bytesSoFar)` holds and the
   * log has batches before `until`; answers the offset after the last batch
   * taken and their total size.
   */
  async #walk(
    shard: Shard,
    from: number,
    until: number,
    more: (at: number, bytes: number) => boolean,
  ): Promise<{ end: number; bytes: number }> {
    let at = from;
    let bytes = 0;
    while (at < until && more(at, bytes)) {
      const r = await shard.read(at, { maxBytes: WALK_READ_BYTES });
      let moved = false;
      for (const [start, end] of batchSpans(r.bytes)) {
        const next = Number(r.bytes.readBigInt64BE(start)) + r.bytes.readInt32BE(start + 23) + 1;
        if (next <= at) continue;
        if (next > until || !more(at, bytes)) break;
        bytes += end - start;
        at = next;
        moved = true;
      }
      if (!moved) break;
    }
    return { end: at, bytes };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}
