/**
 * The producer state table: per (partition, producer id), what duplicate
 * detection needs (epoch, last sequence, the last five batches). Bounded two
 * ways, as Kafka bounds it with producer.id.expiration.ms and more: an entry
 * not used for `expirationMs` is dropped, and past `max` entries the least
 * recently used goes. A dropped producer is unknown again, so its next batch
 * is accepted at any sequence (Kafka's rule), which is why the bounds are
 * documented (docs/kafka.md) rather than silent.
 *
 * A Map iterates in insertion order; touching an entry re-inserts it, so the
 * first entries are always the least recently used and expiry only ever
 * looks at the head.
 */
import type { ProducerView } from './sequence.ts';

export interface ProducerEntry extends ProducerView {
  shardId: number;
  producerId: number;
  usedMs: number;
}

export interface StateTableMetrics {
  size(n: number): void;
  evicted(reason: 'expired' | 'limit', n: number): void;
}

export interface StateTableLimits {
  max: number;
  expirationMs: number;
}

const keyOf = (shardId: number, producerId: number): string => `${shardId}/${producerId}`;

export class ProducerStateTable {
  readonly #entries = new Map<string, ProducerEntry>();
  readonly #limits: StateTableLimits;
  readonly #metrics: StateTableMetrics | undefined;
  readonly #now: () => number;

  constructor(limits: StateTableLimits, metrics?: StateTableMetrics, now: () => number = Date.now) {
    this.#limits = limits;
    this.#metrics = metrics;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry, marked used now; created empty when missing or expired. */
  use(shardId: number, producerId: number): ProducerEntry {
    const now = this.#now();
    this.#expire(now);
    const key = keyOf(shardId, producerId);
    let e = this.#entries.get(key);
    if (e) {
      this.#entries.delete(key);
    } else {
      e = { shardId, producerId, epoch: -1, lastSeq: -1, batches: [], usedMs: now };
      this.#evictOverLimit();
    }
    e.usedMs = now;
    this.#entries.set(key, e);
    this.#metrics?.size(this.#entries.size);
    return e;
  }

  /** The entry if present and not expired, without marking it used. */
  peek(shardId: number, producerId: number): ProducerEntry | undefined {
    const e = this.#entries.get(keyOf(shardId, producerId));
    if (!e || this.#now() - e.usedMs >= this.#limits.expirationMs) return undefined;
    return e;
  }

  #expire(now: number): void {
    let n = 0;
    for (const [key, e] of this.#entries) {
      if (now - e.usedMs < this.#limits.expirationMs) break;
      this.#entries.delete(key);
      n++;
    }
    if (n > 0) this.#metrics?.evicted('expired', n);
  }

  /** Make room for one more entry. */
  #evictOverLimit(): void {
    let n = 0;
    while (this.#entries.size >= this.#limits.max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
      n++;
    }
    if (n > 0) this.#metrics?.evicted('limit', n);
  }
}

/**
 * The newest epoch known per producer id across the node (handed out by
 * InitProducerId or seen in a batch), so a batch from a fenced epoch is
 * refused on a partition that has not yet seen the newer one. Bounded LRU
 * like the table; an id that falls out is simply unknown again.
 */
export class ProducerEpochs {
  readonly #epochs = new Map<number, number>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(producerId: number): number | undefined {
    return this.#epochs.get(producerId);
  }

  /** Record `epoch` for `producerId` if it is newer than what is known. */
  raise(producerId: number, epoch: number): void {
    const known = this.#epochs.get(producerId);
    if (known !== undefined) {
      this.#epochs.delete(producerId);
      this.#epochs.set(producerId, Math.max(known, epoch));
      return;
    }
    while (this.#epochs.size >= this.#max) {
      const oldest = this.#epochs.keys().next();
      if (oldest.done) break;
      this.#epochs.delete(oldest.value);
    }
    this.#epochs.set(producerId, epoch);
  }
}
