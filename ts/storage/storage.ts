/**
 * The node's storage: one native store in `<data_dir>/storage`, its shards
 * (Shard adapters, created on demand and reopened on start), the KV API for
 * broker state, and the retention schedule. With shard.ts, the only code
 * that calls native storage.
 */
import { join } from 'node:path';
import type { StorageConfig } from '../config/schema.ts';
import { FerryError } from '../errors.ts';
import { fromNative } from '../native/errors.ts';
import { loadNative, type NativeStore } from '../native/load.ts';
import { Kv } from './kv.ts';
import { type Engine, Shard, type ShardMetrics } from './shard.ts';

export type Durability = 'none' | 'interval' | 'always';

/** Per-shard settings; anything omitted comes from `[storage]` in the config. */
export interface ShardOptions {
  engine?: Engine;
  durability?: Durability;
  durabilityIntervalMs?: number;
  batchBytesMax?: number;
  retentionBytesMax?: number;
  retentionMs?: number;
  segmentBytesMax?: number;
  segmentMsMax?: number;
  memoryBytesMax?: number;
  memoryBatchesMax?: number;
}

export class Storage {
  readonly #native: NativeStore;
  readonly #config: StorageConfig;
  readonly #shards = new Map<number, Shard>();
  readonly #metrics: ShardMetrics | undefined;
  readonly #retentionTimer: NodeJS.Timeout;
  readonly kv: Kv;
  #closing: Promise<void> | undefined;

  private constructor(native: NativeStore, config: StorageConfig, metrics: ShardMetrics | undefined) {
    this.#native = native;
    this.#config = config;
    this.#metrics = metrics;
    this.kv = new Kv(native);
    for (const s of native.shards()) this.#adopt(s.id, s.engine as Engine);
    this.#retentionTimer = setInterval(() => {
      native.applyRetention(Date.now()).catch(() => {
        // Reported per shard on its next append or read; retention retries next round.
      });
    }, config.retention_check_ms);
    this.#retentionTimer.unref();
  }

  /** Open the store under `dataDir` (created if missing); segment shards recover their tails here. */
  static async open(dataDir: string, config: StorageConfig, metrics?: ShardMetrics): Promise<Storage> {
    const { NativeStore } = loadNative();
    try {
      const native = await NativeStore.open(join(dataDir, 'storage'));
      return new Storage(native, config, metrics);
    } catch (err) {
      throw fromNative(err);
    }
  }

  #adopt(id: number, engine: Engine): Shard {
    const shard = new Shard(
      this.#native,
      id,
      engine,
      {
        batchBytesMax: this.#config.batch_bytes_max,
        callBytesMax: Math.max(this.#config.append_call_bytes_max, this.#config.batch_bytes_max),
        callsInFlightMax: this.#config.append_calls_in_flight_max,
        appendQueueBytesMax: this.#config.append_queue_bytes_max,
        readWaitersMax: this.#config.read_waiters_max,
      },
      this.#metrics,
    );
    this.#shards.set(id, shard);
    return shard;
  }

  async createShard(id: number, options: ShardOptions = {}): Promise<Shard> {
    if (this.#shards.has(id)) throw new FerryError('FERRY_ERR_SHARD_EXISTS', `shard ${id} already exists`);
    const c = this.#config;
    const engine = options.engine ?? c.engine;
    try {
      await this.#native.createShard(id, {
        engine,
        durability: options.durability ?? c.durability,
        durabilityIntervalMs: options.durabilityIntervalMs ?? c.durability_interval_ms,
        batchBytesMax: options.batchBytesMax ?? c.batch_bytes_max,
        retentionBytesMax: options.retentionBytesMax ?? c.retention_bytes_max,
        retentionMs: options.retentionMs ?? c.retention_ms,
        segmentBytesMax: options.segmentBytesMax ?? c.segment_bytes_max,
        segmentMsMax: options.segmentMsMax ?? c.segment_ms_max,
        ringBytesMax: options.memoryBytesMax ?? c.memory_bytes_max,
        ringBatchesMax: options.memoryBatchesMax ?? c.memory_batches_max,
      });
    } catch (err) {
      throw fromNative(err);
    }
    return this.#adopt(id, engine);
  }

  shard(id: number): Shard {
    const s = this.#shards.get(id);
    if (!s) throw new FerryError('FERRY_ERR_SHARD_NOT_FOUND', `no shard ${id}`);
    return s;
  }

  has(id: number): boolean {
    return this.#shards.has(id);
  }

  shards(): Shard[] {
    return [...this.#shards.values()];
  }

  async deleteShard(id: number): Promise<void> {
    const s = this.shard(id);
    this.#shards.delete(id);
    s.markDeleted();
    try {
      await this.#native.deleteShard(id);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Sync everything and close; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#retentionTimer);
      for (const s of this.#shards.values()) s.markDeleted();
      try {
        await this.#native.close();
      } catch (err) {
        throw fromNative(err);
      }
    })();
    return this.#closing;
  }
}
