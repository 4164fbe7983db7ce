/**
 * What the sections of bench/storage.bench.ts share: the run settings, the
 * scratch directory, shard ids, incompressible record values, the adapter's
 * counted metrics, and the tables collected for the report.
 */
import { randomFillSync } from 'node:crypto';
import type { StorageConfig } from '../../ts/config/schema.ts';
import type { Record } from '../../ts/storage/records.ts';
import type { ShardMetrics } from '../../ts/storage/shard.ts';
import { renderText, type Table } from './stats.ts';

export const MIB = 1 << 20;
/** Appends in flight in the concurrent cells. */
export const CONCURRENCY = 256;

export const now = () => performance.now();
export const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;

export interface StorageBenchSettings {
  /** Runs per figure (the median is reported). */
  runs: number;
  /** Length of one append-matrix run. */
  cellMs: number;
  warmupMs: number;
  /** MiB written per durable-write measurement. */
  syncMib: number;
  /** Extra storage.append_calls_in_flight_max values for the durable-write section. */
  extraCallsInFlight: number[];
  /** MiB stored in each shard the read section reads. */
  readFillMib: number;
  /** Scratch directory. */
  dir: string;
  config: StorageConfig;
}

export class StorageBenchContext {
  readonly settings: StorageBenchSettings;
  /** Native calls and errors the adapter reported through its metrics. */
  readonly counts = { calls: 0, errors: [] as string[] };
  readonly metrics: ShardMetrics;
  /** Tables with their section number (1-5 as in storage.bench.ts's comment); the doc lists them in that order. */
  readonly tables: { section: number; table: Table }[] = [];
  #nextShardId = 1;

  constructor(settings: StorageBenchSettings) {
    this.settings = settings;
    this.metrics = {
      appendCalls: (_e, n) => {
        this.counts.calls += n;
      },
      appendedRecords: () => {},
      appendedBytes: () => {},
      appendErrors: (_e, code) => this.counts.errors.push(code),
      readErrors: (_e, code) => this.counts.errors.push(code),
    };
  }

  shardId(): number {
    return this.#nextShardId++;
  }

  emit(section: number, t: Table): void {
    this.tables.push({ section, table: t });
    console.log(renderText(t));
  }
}

/** Random bytes, so no layer can compress or deduplicate them. */
const valueCache = new Map<number, Buffer>();
export function value(size: number): Buffer {
  let v = valueCache.get(size);
  if (!v) {
    v = randomFillSync(Buffer.allocUnsafe(size));
    valueCache.set(size, v);
  }
  return v;
}

export function records(n: number, size: number): Record[] {
  return Array.from({ length: n }, () => ({ value: value(size) }));
}
